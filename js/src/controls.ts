// The controls: task, model (only the task's), scale, tile size, overlap, quality mode, and the
// Run / Cancel / Save buttons. Every control has a label and is reachable by keyboard.

import type { AnyModel } from "@anywidget/types";
import { h, uid } from "./dom";
import type { Control, ModelInfo, QualityInfo, State, TaskInfo } from "./protocol";

const TILE_CHOICES = ["auto", "whole", "64", "96", "128", "192", "256", "384", "512"];
const QUALITY_NAMES: Record<string, string> = { fast: "Fast", balanced: "Balanced", best: "Best" };

export interface Actions {
  run(): void;
  cancel(): void;
  save(): void;
}

export class Controls {
  readonly element: HTMLElement;
  readonly run: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
  readonly save: HTMLButtonElement;
  private readonly task: HTMLSelectElement;
  private readonly modelSel: HTMLSelectElement;
  private readonly scale: HTMLSelectElement;
  private readonly tile: HTMLSelectElement;
  private readonly overlap: HTMLInputElement;
  private readonly quality: HTMLSelectElement;

  constructor(
    private readonly model: AnyModel<State>,
    actions: Actions,
  ) {
    const prefix = uid("ew");
    const field = (name: string, label: string, input: HTMLElement): HTMLElement => {
      input.id = `${prefix}-${name}`;
      return h("div", { class: "ew-field" }, [h("label", { for: input.id, text: label }), input]);
    };
    this.task = h("select", { name: "task" });
    this.modelSel = h("select", { name: "model" });
    this.scale = h("select", { name: "scale" });
    for (const s of [2, 4]) this.scale.append(h("option", { value: s, text: `×${s}` }));
    this.tile = h("select", { name: "tile" });
    this.overlap = h("input", {
      type: "number",
      name: "overlap",
      min: 0,
      max: 128,
      step: 4,
      inputmode: "numeric",
    });
    this.quality = h("select", { name: "quality" });
    this.run = h("button", { type: "button", class: "ew-btn ew-btn-primary", text: "Run" });
    this.cancel = h("button", { type: "button", class: "ew-btn", text: "Cancel" });
    this.save = h("button", { type: "button", class: "ew-btn", text: "Save" });
    this.run.addEventListener("click", () => actions.run());
    this.cancel.addEventListener("click", () => actions.cancel());
    this.save.addEventListener("click", () => actions.save());

    this.bind("task", this.task, (v) => v);
    this.bind("model", this.modelSel, (v) => v);
    this.bind("scale", this.scale, (v) => Number(v));
    this.bind("tile", this.tile, (v) => v);
    this.bind("quality", this.quality, (v) => v);
    this.overlap.addEventListener("change", () => {
      const v = Math.round(Number(this.overlap.value));
      if (Number.isFinite(v) && v >= 0 && v <= 128) this.commit("overlap", v);
      else this.overlap.value = String(this.model.get("overlap"));
    });

    this.element = h("div", { class: "ew-controls" }, [
      h("div", { class: "ew-fields" }, [
        field("task", "Task", this.task),
        field("model", "Model", this.modelSel),
        field("scale", "Scale", this.scale),
        field("tile", "Tile size", this.tile),
        field("overlap", "Overlap (px)", this.overlap),
        field("quality", "Quality", this.quality),
      ]),
      h("div", { class: "ew-actions" }, [this.run, this.cancel, this.save]),
    ]);
  }

  private bind(name: Control, select: HTMLSelectElement, parse: (v: string) => string | number): void {
    select.addEventListener("change", () => this.commit(name, parse(select.value)));
  }

  private commit<K extends Control>(name: K, value: State[K]): void {
    this.model.set(name, value);
    this.model.save_changes();
  }

  /** Refresh options and values from the traits. */
  update(): void {
    const m = this.model;
    const task = m.get("task");
    fillOptions(
      this.task,
      m.get("tasks").map((t: TaskInfo) => taskOption(t)),
    );
    this.task.value = task;
    const models = m.get("models").filter((x: ModelInfo) => x.task === task);
    fillOptions(this.modelSel, [
      { value: "", label: "Auto (by quality mode)" },
      ...models.map((x: ModelInfo) => modelOption(x)),
    ]);
    this.modelSel.value = m.get("model");
    this.scale.value = String(m.get("scale"));
    const tile = m.get("tile");
    const tiles = TILE_CHOICES.includes(tile) ? TILE_CHOICES : [...TILE_CHOICES, tile];
    fillOptions(
      this.tile,
      tiles.map((t) => ({
        value: t,
        label: t === "auto" ? "Auto (fits memory)" : t === "whole" ? "Whole image" : `${t} px`,
      })),
    );
    this.tile.value = tile;
    if (document.activeElement !== this.overlap) this.overlap.value = String(m.get("overlap"));
    const qualities = m.get("qualities");
    fillOptions(
      this.quality,
      (qualities.length ? qualities : [{ id: m.get("quality"), model: null, tta: false, vs_parent: {} }]).map(
        (q) =>
          // with a model chosen, the mode only decides test-time augmentation
          qualityOption(m.get("model") ? { ...q, model: null, vs_parent: {} } : q),
      ),
    );
    this.quality.value = m.get("quality");

    const status = m.get("status");
    const running = status === "running" || status === "cancelling";
    const plan = m.get("plan");
    for (const c of [this.task, this.modelSel, this.tile, this.overlap, this.quality]) c.disabled = running;
    this.scale.disabled = running || task !== "upscale";
    this.run.disabled = running || Boolean(plan.error);
    this.cancel.disabled = status !== "running";
    const hasResult = (m.get("result_png")?.byteLength ?? 0) > 0;
    this.save.disabled = running || !hasResult;
  }
}

interface Option {
  value: string;
  label: string;
  disabled?: boolean;
}

function taskOption(t: TaskInfo): Option {
  return {
    value: t.id,
    label: t.available ? t.title : `${t.title} (no model yet)`,
    disabled: !t.available,
  };
}

/** "id (×2) · 10.5 MB · ~26 s/Mpx · Apache-2.0", or why it cannot be chosen and how to install it. */
function modelOption(x: ModelInfo): Option {
  const name = `${x.id}${x.task === "upscale" ? ` (×${x.scale})` : ""}${x.user ? " — your model" : ""}`;
  if (!x.installed)
    return { value: x.id, label: `${name} · not installed: ${x.install_hint ?? ""}`, disabled: true };
  const facts = [x.size_mb ? `${x.size_mb} MB` : "", x.s_per_mpx ? `~${x.s_per_mpx} s/Mpx` : "", x.license];
  return { value: x.id, label: [name, ...facts.filter(Boolean)].join(" · ") };
}

function qualityOption(q: QualityInfo): Option {
  const parts = [QUALITY_NAMES[q.id] ?? q.id];
  if (q.model || q.tta)
    parts.push(`${q.model ?? "chosen model"}${q.tta ? " + flips/rotations (8× time)" : ""}`);
  const measured = Object.entries(q.vs_parent).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`);
  if (measured.length) parts.push(measured.join(", "));
  return { value: q.id, label: parts.join(" · ") };
}

/** Replace a select's options only when they changed (keeps keyboard focus and scroll). */
function fillOptions(select: HTMLSelectElement, options: Option[]): void {
  const key = JSON.stringify(options);
  if (select.dataset.options === key) return;
  select.dataset.options = key;
  select.replaceChildren(
    ...options.map((o) => h("option", { value: o.value, text: o.label, disabled: o.disabled ?? false })),
  );
}
