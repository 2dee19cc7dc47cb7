// Honest figures before Run: output size, memory the plan needs against what is available,
// time estimate, runtime and provider; a warning with a suggested tile when it will not fit;
// after a run, the provider that actually ran it.

import { formatBytes, formatSeconds, h, setText } from "./dom";
import type { LastRun, PlanFigures } from "./protocol";

export class FiguresView {
  readonly element: HTMLElement;
  private readonly output = h("dd", { class: "ew-fig-output" });
  private readonly memory = h("dd", { class: "ew-fig-memory" });
  private readonly meterFill = h("div", { class: "ew-meter-fill" });
  private readonly meter: HTMLElement;
  private readonly time = h("dd", { class: "ew-fig-time" });
  private readonly tiles = h("dd", { class: "ew-fig-tiles" });
  private readonly provider = h("dd", { class: "ew-fig-provider" });
  private readonly warning: HTMLElement;
  private readonly warningText = h("span");
  private readonly useTile: HTMLButtonElement;
  private readonly planError = h("p", { class: "ew-plan-error", role: "status" });
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
    const row = (label: string, value: HTMLElement, extra?: HTMLElement): HTMLElement =>
      h("div", { class: "ew-fig" }, [h("dt", { text: label }), value, ...(extra ? [extra] : [])]);
    this.element = h("section", { class: "ew-figures", "aria-label": "Plan" }, [
      h("dl", {}, [
        row("Output", this.output),
        row("Memory", this.memory, this.meter),
        row("Time", this.time),
        row("Tiles", this.tiles),
        row("Runs on", this.provider),
      ]),
      this.warning,
      this.planError,
    ]);
  }

  update(plan: PlanFigures, lastRun: LastRun, running: boolean): void {
    const err = plan.error;
    this.element.classList.toggle("ew-no-plan", Boolean(err));
    setText(this.planError, err ? `No plan: ${err.type}: ${err.message}` : "");
    this.planError.hidden = !err;
    if (err) {
      for (const dd of [this.output, this.memory, this.time, this.tiles, this.provider]) setText(dd, "–");
      this.warning.hidden = true;
      return;
    }
    const [iw, ih] = plan.in_size ?? [0, 0];
    const [ow, oh] = plan.out_size ?? [0, 0];
    const passes = plan.passes ?? [];
    const scale = plan.scale && plan.task === "upscale" ? ` (×${plan.scale}` : " (";
    setText(this.output, `${ow} × ${oh} px${scale} from ${iw} × ${ih}, ${plan.model ?? "?"})`);
    const need = plan.memory_bytes ?? 0;
    const budget = plan.budget_bytes ?? 0;
    const avail = plan.available_bytes;
    setText(
      this.memory,
      `needs ~${formatBytes(need)} of a ${formatBytes(budget)} budget` +
        (avail ? `; ${formatBytes(avail)} available` : "; available memory unknown"),
    );
    this.meterFill.style.width = `${Math.min(100, budget ? (need / budget) * 100 : 0).toFixed(1)}%`;
    this.meter.classList.toggle("ew-meter-over", !plan.fits);
    const secs = formatSeconds(plan.seconds);
    const tta = plan.tta ? " (best quality: every tile runs 8 times, flipped and rotated)" : "";
    setText(this.time, `${secs.startsWith("<") ? secs : `~${secs}`} estimated on this machine${tta}`);
    const first = passes[0];
    const tileText = first
      ? `${plan.total_tiles} in ${passes.length} pass${passes.length > 1 ? "es" : ""} ` +
        `(${plan.strategy} → ${first.tile[0]} × ${first.tile[1]} px, overlap ${plan.overlap} px)`
      : "–";
    setText(this.tiles, tileText);
    const planned = `${plan.runtime ?? "onnxruntime"}, ${plan.provider ?? "?"}`;
    const used =
      lastRun.provider && !running
        ? ` · last run: ${lastRun.provider}, ${formatSeconds((lastRun.total_ms ?? 0) / 1000)} with ${lastRun.model}` +
          // loading a model is lazy (first use of its task); say what it cost when it was noticeable
          ((lastRun.load_ms ?? 0) >= 50
            ? ` (model load ${formatSeconds((lastRun.load_ms ?? 0) / 1000)})`
            : "")
        : "";
    setText(this.provider, `${planned}${used}`);
    this.suggested = plan.suggested_tile ?? null;
    this.warning.hidden = plan.fits !== false;
    if (plan.fits === false) {
      const base = `This plan needs ~${formatBytes(need)}, more than the ${formatBytes(budget)} memory budget.`;
      setText(
        this.warningText,
        this.suggested !== null
          ? `${base} Tiles of ${this.suggested} px fit. `
          : `${base} Even the smallest tiles do not fit; the output goes to a disk-backed buffer. `,
      );
      setText(this.useTile, this.suggested !== null ? `Use tile ${this.suggested}` : "");
      this.useTile.hidden = this.suggested === null;
    }
  }
}
