// The controls, task first: the four tasks with one line each; per task only what matters (scale
// for upscale, strength sliders from the manifest for restore and colorize, quality where its
// choices differ); model, tile size and overlap folded into Advanced. Open, Run, Cancel, Save
// and Download. Every control has a label and is reachable by keyboard.

import type { AnyModel } from "@anywidget/types";
import { h, setText, uid } from "./dom";
import type { Control, ControlSpec, ModelInfo, QualityInfo, State, TaskInfo } from "./protocol";

const TILE_CHOICES = ["auto", "whole", "64", "96", "128", "192", "256", "384", "512"];
const QUALITY_NAMES: Record<string, string> = { fast: "Fast", balanced: "Balanced", best: "Best" };
export const DOWNLOAD_FORMATS = [
  ["png", "PNG"],
  ["jpeg", "JPEG"],
  ["webp", "WebP"],
] as const;
export type DownloadFormat = (typeof DOWNLOAD_FORMATS)[number][0];

export interface Actions {
  open(): void;
  run(): void;
  cancel(): void;
  save(): void;
  download(format: DownloadFormat, quality: number): void;
  /** a control was committed: its plan is on the way */
  changed(): void;
}

export class Controls {
  readonly element: HTMLElement;
  readonly advanced: HTMLDetailsElement;
  readonly open: HTMLButtonElement;
  readonly run: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
  readonly save: HTMLButtonElement;
  readonly download: HTMLButtonElement;
  private readonly prefix = uid("ew");
  private readonly taskGroup: HTMLElement;
  private readonly taskInputs = new Map<string, HTMLInputElement>();
  private readonly taskKey = { value: "" };
  private readonly taskOptions: HTMLElement;
  private readonly scaleField: HTMLElement;
  private readonly scale: HTMLSelectElement;
  private readonly sliders: HTMLElement;
  private readonly qualityField: HTMLElement;
  private readonly quality: HTMLSelectElement;
  private readonly modelSel: HTMLSelectElement;
  private readonly modelInfo = h("p", { class: "ew-model-info" });
  private readonly termsNote = h("p", { class: "ew-terms", role: "note", hidden: true });
  private readonly tile: HTMLSelectElement;
  private readonly overlap: HTMLInputElement;
  private readonly format: HTMLSelectElement;
  private readonly jpegQuality: HTMLInputElement;
  private readonly jpegField: HTMLElement;
  private readonly colourWarning = h("p", {
    class: "ew-warning ew-colour-warning",
    role: "note",
    hidden: true,
  });
  private slidersKey = "";

  constructor(
    private readonly model: AnyModel<State>,
    private readonly actions: Actions,
    detailsContent: HTMLElement,
  ) {
    const field = (name: string, label: string, input: HTMLElement): HTMLElement => {
      input.id = `${this.prefix}-${name}`;
      return h("div", { class: "ew-field" }, [h("label", { for: input.id, text: label }), input]);
    };
    this.taskGroup = h("div", { class: "ew-tasks", role: "radiogroup", "aria-label": "Task" });
    this.taskOptions = h("div", { class: "ew-task-options" });
    this.scale = h("select", { name: "scale" });
    for (const s of [2, 4]) this.scale.append(h("option", { value: s, text: `×${s}` }));
    this.scaleField = field("scale", "Scale", this.scale);
    this.sliders = h("div", { class: "ew-sliders" });
    this.quality = h("select", { name: "quality" });
    this.qualityField = field("quality", "Quality", this.quality);
    this.modelSel = h("select", { name: "model" });
    this.tile = h("select", { name: "tile" });
    this.overlap = h("input", {
      type: "number",
      name: "overlap",
      min: 0,
      max: 128,
      step: 4,
      inputmode: "numeric",
    });

    const button = (text: string, cls = "ew-btn", title?: string): HTMLButtonElement =>
      h("button", { type: "button", class: cls, text, title });
    this.open = button("Open…", "ew-btn", "Open a photo (or drop one on the image, or paste one)");
    this.run = button("Run", "ew-btn ew-btn-primary");
    this.cancel = button("Cancel");
    this.save = button("Save", "ew-btn", "Save the result next to the photo");
    this.download = button("Download", "ew-btn", "Download the result in the chosen format");
    this.format = h("select", { name: "format", "aria-label": "Download format" });
    for (const [v, label] of DOWNLOAD_FORMATS) this.format.append(h("option", { value: v, text: label }));
    this.jpegQuality = h("input", {
      type: "number",
      name: "download-quality",
      min: 1,
      max: 100,
      step: 1,
      value: 90,
      inputmode: "numeric",
    });
    this.jpegField = h("div", { class: "ew-inline-field", hidden: true }, [
      h("label", { for: `${this.prefix}-dlq`, text: "Quality" }),
      this.jpegQuality,
    ]);
    this.jpegQuality.id = `${this.prefix}-dlq`;
    this.format.addEventListener("change", () => this.updateFormat());
    this.open.addEventListener("click", () => actions.open());
    this.run.addEventListener("click", () => actions.run());
    this.cancel.addEventListener("click", () => actions.cancel());
    this.save.addEventListener("click", () => actions.save());
    this.download.addEventListener("click", () => {
      const q = Math.min(100, Math.max(1, Math.round(Number(this.jpegQuality.value) || 90)));
      actions.download(this.format.value as DownloadFormat, q);
    });

    this.bind("model", this.modelSel, (v) => v);
    this.bind("scale", this.scale, (v) => Number(v));
    this.bind("tile", this.tile, (v) => v);
    this.bind("quality", this.quality, (v) => v);
    this.overlap.addEventListener("change", () => {
      const v = Math.round(Number(this.overlap.value));
      if (Number.isFinite(v) && v >= 0 && v <= 128) this.commit("overlap", v);
      else this.overlap.value = String(this.model.get("overlap"));
    });

    this.advanced = h("details", { class: "ew-advanced" }, [
      h("summary", { text: "Advanced: model, tiles, figures" }),
      h("div", { class: "ew-fields" }, [
        field("model", "Model", this.modelSel),
        field("tile", "Tile size", this.tile),
        field("overlap", "Overlap (px)", this.overlap),
      ]),
      this.modelInfo,
      detailsContent,
    ]);
    this.element = h("div", { class: "ew-controls" }, [
      this.taskGroup,
      h("div", { class: "ew-task-row" }, [this.taskOptions, this.colourWarning, this.termsNote]),
      h("div", { class: "ew-actions" }, [
        h("div", { class: "ew-group" }, [this.open, this.run, this.cancel]),
        h("div", { class: "ew-group ew-keep", role: "group", "aria-label": "Keep the result" }, [
          this.save,
          this.download,
          this.format,
          this.jpegField,
        ]),
      ]),
    ]);
    this.taskOptions.append(this.scaleField, this.sliders, this.qualityField);
  }

  private updateFormat(): void {
    this.jpegField.hidden = this.format.value === "png";
  }

  private bind(name: Control, select: HTMLSelectElement, parse: (v: string) => string | number): void {
    select.addEventListener("change", () => this.commit(name, parse(select.value)));
  }

  private commit<K extends keyof State>(name: K, value: State[K]): void {
    if (JSON.stringify(this.model.get(name)) === JSON.stringify(value)) return;
    this.model.set(name, value);
    this.model.save_changes();
    this.actions.changed();
  }

  /** The four tasks as radio buttons, each with one line on what it does. */
  private updateTasks(tasks: TaskInfo[], task: string, disabled: boolean): void {
    const key = JSON.stringify(tasks);
    if (this.taskKey.value !== key) {
      this.taskKey.value = key;
      this.taskInputs.clear();
      const name = `${this.prefix}-task`;
      const items = tasks.map((t) => {
        const input = h("input", { type: "radio", name, value: t.id, class: "ew-task-input" });
        input.id = `${name}-${t.id}`;
        input.addEventListener("change", () => {
          if (input.checked) this.commit("task", t.id);
        });
        this.taskInputs.set(t.id, input);
        const title = h("span", { class: "ew-task-title", text: t.title });
        const badge = t.available ? [] : [h("span", { class: "ew-badge", text: "not installed" })];
        const summary = h("span", { class: "ew-task-summary", text: t.summary ?? "" });
        return h("label", { class: "ew-task", for: input.id, "data-task": t.id }, [
          input,
          h("span", { class: "ew-task-text" }, [
            h("span", { class: "ew-task-head" }, [title, ...badge]),
            summary,
          ]),
        ]);
      });
      this.taskGroup.replaceChildren(...items);
    }
    for (const [id, input] of this.taskInputs) {
      input.checked = id === task;
      input.disabled = disabled;
      input.closest(".ew-task")?.classList.toggle("ew-task-chosen", id === task);
    }
  }

  /** One slider per control of the chosen model (range, step, default from the manifest). */
  private updateSliders(specs: ControlSpec[], values: Record<string, number>, disabled: boolean): void {
    const key = JSON.stringify(specs);
    if (key !== this.slidersKey) {
      this.slidersKey = key;
      this.sliders.replaceChildren(
        ...specs.map((s) => {
          const id = `${this.prefix}-ctl-${s.name}`;
          const input = h("input", {
            type: "range",
            name: `control-${s.name}`,
            min: s.min,
            max: s.max,
            step: s.step,
            class: "ew-range",
          });
          input.id = id;
          const out = h("output", { for: id, class: "ew-range-value" });
          input.addEventListener("input", () => setText(out, formatValue(Number(input.value), s)));
          input.addEventListener("change", () => {
            const v = Number(input.value);
            const next = { ...this.model.get("controls"), [s.name]: v };
            this.commit("controls", next);
          });
          const reset = h("button", {
            type: "button",
            class: "ew-btn ew-btn-small",
            text: "Default",
            title: `Back to the default (${formatValue(s.default, s)})`,
          });
          reset.addEventListener("click", () => {
            const next = { ...this.model.get("controls") };
            delete next[s.name];
            this.commit("controls", next);
          });
          return h("div", { class: "ew-field ew-slider", "data-control": s.name }, [
            h("label", { for: id, text: s.label }),
            h("div", { class: "ew-slider-row" }, [input, out, reset]),
          ]);
        }),
      );
    }
    for (const s of specs) {
      const row = this.sliders.querySelector<HTMLElement>(`[data-control="${CSS.escape(s.name)}"]`);
      const input = row?.querySelector<HTMLInputElement>("input[type=range]");
      const out = row?.querySelector("output");
      if (!input || !out) continue;
      const v = values[s.name] ?? s.default;
      if (document.activeElement !== input) input.value = String(v);
      setText(out, formatValue(Number(input.value), s));
      input.disabled = disabled;
      const reset = row?.querySelector<HTMLButtonElement>("button");
      if (reset) reset.disabled = disabled || values[s.name] === undefined;
    }
    this.sliders.hidden = specs.length === 0;
  }

  /** Refresh options and values from the traits; `busy`: a run or a request is under way. */
  update(busy: boolean): void {
    const m = this.model;
    const task = m.get("task");
    this.updateTasks(m.get("tasks"), task, busy);
    this.scaleField.hidden = task !== "upscale";
    this.scale.value = String(m.get("scale"));
    this.scale.disabled = busy;
    this.updateSliders(m.get("control_specs") ?? [], m.get("controls") ?? {}, busy);

    const chosen = m.get("model");
    const qualities = distinctQualities(m.get("qualities"), Boolean(chosen), m.get("quality"));
    fillOptions(this.quality, qualities.map(qualityOption));
    this.quality.value = m.get("quality");
    this.qualityField.hidden = qualities.length < 2;
    this.quality.disabled = busy;

    const models = m.get("models").filter((x: ModelInfo) => x.task === task);
    fillOptions(this.modelSel, [
      { value: "", label: "Automatic (the quality choice picks it)" },
      ...models.map((x: ModelInfo) => modelOption(x)),
    ]);
    this.modelSel.value = chosen;
    const shown = m.get("plan").model ?? chosen;
    const info = m.get("models").find((x: ModelInfo) => x.id === shown);
    setText(
      this.modelInfo,
      info
        ? `Model: ${info.title} (${info.id}) · ${info.size_mb} MB · licence: ${info.license_full ?? info.license}`
        : "",
    );
    // a model for research / non-commercial use only says so where the task is chosen, not only in Advanced
    this.termsNote.hidden = !info?.research_only;
    setText(
      this.termsNote,
      info?.research_only
        ? `${info.title}: for research / non-commercial use only (its training photos' terms; licence in Advanced).`
        : "",
    );
    const tile = m.get("tile");
    const tiles = TILE_CHOICES.includes(tile) ? TILE_CHOICES : [...TILE_CHOICES, tile];
    fillOptions(
      this.tile,
      tiles.map((t) => ({
        value: t,
        label: t === "auto" ? "Auto (fits memory)" : t === "whole" ? "Whole photo" : `${t} px`,
      })),
    );
    this.tile.value = tile;
    if (document.activeElement !== this.overlap) this.overlap.value = String(m.get("overlap"));
    for (const c of [this.modelSel, this.tile, this.overlap]) c.disabled = busy;

    // colorize on a colour photo replaces its colours: say so before Run
    const warn = task === "colorize" && m.get("source_colour");
    this.colourWarning.hidden = !warn;
    setText(
      this.colourWarning,
      warn
        ? "This photo already has colours: colorize keeps only its lightness and paints new, guessed colours over it."
        : "",
    );
    this.updateFormat();
  }

  /** Enable the buttons the state machine allows. */
  setAbilities(a: { run: boolean; cancel: boolean; keep: boolean; open: boolean }): void {
    this.run.disabled = !a.run;
    this.cancel.disabled = !a.cancel;
    this.save.disabled = !a.keep;
    this.download.disabled = !a.keep;
    this.format.disabled = !a.keep;
    this.jpegQuality.disabled = !a.keep;
    this.open.disabled = !a.open;
  }
}

function formatValue(v: number, s: ControlSpec): string {
  return s.step < 1 ? v.toFixed(2) : String(Math.round(v));
}

interface Option {
  value: string;
  label: string;
  disabled?: boolean;
}

/**
 * Quality modes that differ (colorize's three name one model: none is shown then). Of modes that
 * are the same, the chosen one stands for them, else "balanced".
 */
function distinctQualities(qualities: QualityInfo[], modelChosen: boolean, chosen: string): QualityInfo[] {
  const groups = new Map<string, QualityInfo[]>();
  for (const q of qualities) {
    const key = `${modelChosen ? "" : (q.model ?? "")}|${q.tta}`;
    groups.set(key, [...(groups.get(key) ?? []), q]);
  }
  return [...groups.values()].map(
    (g) => g.find((q) => q.id === chosen) ?? g.find((q) => q.id === "balanced") ?? (g[0] as QualityInfo),
  );
}

function qualityOption(q: QualityInfo): Option {
  const name = QUALITY_NAMES[q.id] ?? q.id;
  const speed = q.vs_parent.speed_ratio;
  if (q.tta) return { value: q.id, label: `${name} (about 8× slower)` };
  if (speed && speed > 1) return { value: q.id, label: `${name} (about ${speed}× faster)` };
  return { value: q.id, label: name };
}

/** "title · 10.5 MB · Apache-2.0", or that it is not installed. */
function modelOption(x: ModelInfo): Option {
  const title = x.title === x.id ? x.id : `${x.title} (${x.id})`;
  const name = `${title}${x.task === "upscale" ? ` ×${x.scale}` : ""}${x.user ? ", your model" : ""}`;
  if (!x.installed) return { value: x.id, label: `${name} · not installed`, disabled: true };
  return { value: x.id, label: [name, x.size_mb ? `${x.size_mb} MB` : ""].filter(Boolean).join(" · ") };
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
