// The plan in plain words before Run ("640 × 480 px, about 40 s on this computer, memory: fine"),
// a warning with a tile size that fits when it will not; the technical figures (memory in bytes,
// tile grid, runtime and provider, the last run against its estimate) on demand, in Advanced.

import { formatBytes, h, setText } from "./dom";
import type { LastRun, PlanFigures } from "./protocol";
import { about, plural, took } from "./status";

const PROVIDERS: Record<string, string> = {
  CPUExecutionProvider: "the processor (CPU)",
  CUDAExecutionProvider: "the NVIDIA graphics card (CUDA)",
  TensorrtExecutionProvider: "the NVIDIA graphics card (TensorRT)",
  CoreMLExecutionProvider: "Apple's Core ML",
  DmlExecutionProvider: "the graphics card (DirectML)",
  webgpu: "the graphics card, in the browser (WebGPU)",
  wasm: "the processor, in the browser (WebAssembly)",
};

export function providerWords(p: string | undefined): string {
  if (!p) return "unknown";
  return PROVIDERS[p] ?? p;
}

export class FiguresView {
  /** One line above the image: size, time, memory. */
  readonly summary: HTMLElement;
  /** The figures behind it, inside Advanced. */
  readonly details: HTMLElement;
  private readonly line = h("span", { class: "ew-plan-line" });
  private readonly output = h("dd", { class: "ew-fig-output" });
  private readonly memory = h("dd", { class: "ew-fig-memory" });
  private readonly meterFill = h("div", { class: "ew-meter-fill" });
  private readonly meter: HTMLElement;
  private readonly time = h("dd", { class: "ew-fig-time" });
  private readonly tiles = h("dd", { class: "ew-fig-tiles" });
  private readonly provider = h("dd", { class: "ew-fig-provider" });
  private readonly lastRun = h("dd", { class: "ew-fig-last" });
  private readonly lastRow: HTMLElement;
  private readonly warning: HTMLElement;
  private readonly warningText = h("span");
  private readonly useTile: HTMLButtonElement;
  private suggested: number | null = null;

  constructor(onUseTile: (tile: number) => void) {
    this.meter = h("div", { class: "ew-meter", "aria-hidden": "true" }, [this.meterFill]);
    this.useTile = h("button", { type: "button", class: "ew-btn ew-btn-small" });
    this.useTile.addEventListener("click", () => {
      if (this.suggested !== null) onUseTile(this.suggested);
    });
    this.warning = h("div", { class: "ew-warning", role: "alert", hidden: true }, [
      this.warningText,
      this.useTile,
    ]);
    this.summary = h("section", { class: "ew-figures", "aria-label": "Plan" }, [this.line, this.warning]);
    const row = (label: string, value: HTMLElement, extra?: HTMLElement): HTMLElement =>
      h("div", { class: "ew-fig" }, [h("dt", { text: label }), value, ...(extra ? [extra] : [])]);
    this.lastRow = row("Last run", this.lastRun);
    this.details = h("dl", { class: "ew-details", "aria-label": "Plan details" }, [
      row("Output", this.output),
      row("Memory", this.memory, this.meter),
      row("Time", this.time),
      row("Tiles", this.tiles),
      row("Runs on", this.provider),
      this.lastRow,
    ]);
  }

  update(plan: PlanFigures, lastRun: LastRun, running: boolean): void {
    const err = plan.error;
    this.summary.classList.toggle("ew-no-plan", Boolean(err));
    this.meter.hidden = Boolean(err);
    if (err || !plan.out_size) {
      setText(this.line, "");
      for (const dd of [this.output, this.memory, this.time, this.tiles, this.provider]) setText(dd, "–");
      this.warning.hidden = true;
      this.updateLast(lastRun, running);
      return;
    }
    const [iw, ih] = plan.in_size ?? [0, 0];
    const [ow, oh] = plan.out_size;
    const memWords = plan.memory_level ?? (plan.fits === false ? "too much" : "fine");
    setText(
      this.line,
      `Result: ${ow} × ${oh} px · ${about(plan.seconds)} on this computer · memory: ${memWords}`,
    );
    setText(this.output, `${ow} × ${oh} px from ${iw} × ${ih} px, with ${plan.model ?? "?"}`);
    const need = plan.memory_bytes ?? 0;
    const budget = plan.budget_bytes ?? 0;
    const avail = plan.available_bytes;
    setText(
      this.memory,
      `needs about ${formatBytes(need)}; the limit is ${formatBytes(budget)}` +
        (avail ? `, ${formatBytes(avail)} free` : ", free memory unknown"),
    );
    this.meterFill.style.width = `${Math.min(100, budget ? (need / budget) * 100 : 0).toFixed(1)}%`;
    this.meter.classList.toggle("ew-meter-over", plan.fits === false);
    const how = plan.calibrated
      ? "corrected from the last run of this model here"
      : "from the model's measured speed; corrected after the first run";
    const tta = plan.tta ? "; best quality runs every tile 8 times (flipped and rotated)" : "";
    setText(this.time, `${about(plan.seconds)} (${how}${tta})`);
    const passes = plan.passes ?? [];
    const first = passes[0];
    const n = plan.total_tiles ?? 0;
    setText(
      this.tiles,
      plan.strategy === "global"
        ? "the whole photo at once (at the model's working size)"
        : first
          ? `${plural(n, "tile")}${passes.length > 1 ? ` in ${passes.length} passes` : ""}, ` +
            `${first.tile[0]} × ${first.tile[1]} px each, overlapping by ${plan.overlap ?? 0} px`
          : "–",
    );
    setText(this.provider, `${providerWords(plan.provider)} · ${plan.runtime ?? "onnxruntime"}`);
    this.updateLast(lastRun, running);
    this.suggested = plan.suggested_tile ?? null;
    this.warning.hidden = plan.fits !== false;
    if (plan.fits === false) {
      const base = `This needs about ${formatBytes(need)}, more than the ${formatBytes(budget)} memory limit.`;
      setText(
        this.warningText,
        this.suggested !== null
          ? `${base} Tiles of ${this.suggested} px fit. `
          : `${base} Even the smallest tiles do not fit; the result is built on disk (slower). `,
      );
      setText(this.useTile, this.suggested !== null ? `Use tile ${this.suggested}` : "");
      this.useTile.hidden = this.suggested === null;
    }
  }

  private updateLast(lastRun: LastRun, running: boolean): void {
    const show = Boolean(lastRun.provider) && !running;
    this.lastRow.hidden = !show;
    if (!show) return;
    const secs = lastRun.measured_s ?? (lastRun.total_ms ?? 0) / 1000;
    const est = lastRun.estimate_s;
    const load =
      (lastRun.load_ms ?? 0) >= 50
        ? `, of which loading the model ${took((lastRun.load_ms ?? 0) / 1000)}`
        : "";
    setText(
      this.lastRun,
      `${took(secs)}${load}` +
        (est !== null && est !== undefined ? ` (estimated ${about(est)})` : "") +
        ` with ${lastRun.model ?? "?"} on ${providerWords(lastRun.provider)}`,
    );
  }
}
