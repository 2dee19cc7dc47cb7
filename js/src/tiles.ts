// Live tiles: every finished tile is painted where it belongs as it arrives, over a faint tile
// grid with the tile being computed outlined; a progress bar and the time left from measured times.

import type { Layer, Overlay } from "./compare";
import { h, setText } from "./dom";
import type { Box, PassGrid, Progress, RunStartedMsg, TileMsg } from "./protocol";

export class TileLayer {
  readonly canvas = document.createElement("canvas");
  job: number | null = null;
  received = 0;
  painted = 0;
  private passes: PassGrid[] = [];
  private pass = 0;
  private nextIndex = 0;
  private seen = new Set<number>();
  private outW = 1;
  private outH = 1;
  private firstOfPass: number[] = [];
  readonly tileMs: number[] = [];

  /** A run started: size the canvas for its first pass and remember every pass's grid. */
  start(msg: RunStartedMsg): void {
    if (this.job === msg.job) return;
    this.job = msg.job;
    this.passes = msg.passes;
    this.outW = msg.out_size[0];
    this.outH = msg.out_size[1];
    this.received = 0;
    this.painted = 0;
    this.seen = new Set();
    this.tileMs.length = 0;
    this.nextIndex = 0;
    this.firstOfPass = [];
    let first = 0;
    for (const p of msg.passes) {
      this.firstOfPass.push(first);
      first += p.cores.length;
    }
    this.setPass(0, false);
  }

  get layer(): Layer {
    return { source: this.canvas, width: this.canvas.width, height: this.canvas.height };
  }

  /** Paint one tile; false when it belongs to another job or was painted already. */
  paint(msg: TileMsg, buffer: DataView | undefined): boolean {
    if (msg.job !== this.job || this.seen.has(msg.index) || !buffer) return false;
    this.received += 1;
    const [x0, y0, x1, y1] = msg.region;
    const w = x1 - x0;
    const hgt = y1 - y0;
    if (w <= 0 || hgt <= 0 || buffer.byteLength !== w * hgt * 4) return false;
    if (msg.pass !== this.pass) this.setPass(msg.pass, true);
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return false;
    const pixels = new Uint8ClampedArray(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    ctx.putImageData(new ImageData(pixels.slice(), w, hgt), x0, y0);
    this.seen.add(msg.index);
    this.painted += 1;
    this.tileMs.push(msg.ms);
    this.nextIndex = Math.max(this.nextIndex, msg.index + 1);
    return true;
  }

  /** The grid overlay for the compare view (null when no run is shown). */
  overlay(showCurrent: boolean): Overlay {
    return (ctx, zoom, frameW) => {
      const grid = this.passes[this.pass];
      if (!grid) return;
      const f = frameW / grid.out_size[0];
      // faint grid, legible on light and dark photos: a dark line under a dashed light one
      ctx.lineWidth = 1 / zoom;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.3)";
      for (const box of grid.cores) strokeBox(ctx, box, f);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.5)";
      ctx.setLineDash([4 / zoom, 4 / zoom]);
      for (const box of grid.cores) strokeBox(ctx, box, f);
      ctx.setLineDash([]);
      const local = this.nextIndex - (this.firstOfPass[this.pass] ?? 0);
      const current = grid.cores[local];
      if (showCurrent && current) {
        ctx.lineWidth = 5 / zoom;
        ctx.strokeStyle = "rgba(0, 0, 0, 0.5)";
        strokeBox(ctx, current, f);
        ctx.lineWidth = 3 / zoom;
        ctx.strokeStyle = "rgb(255, 176, 0)";
        strokeBox(ctx, current, f);
      }
    };
  }

  private setPass(index: number, keep: boolean): void {
    const grid = this.passes[index];
    const [w, hgt] = grid ? grid.out_size : [this.outW, this.outH];
    let previous: HTMLCanvasElement | null = null;
    if (keep && this.canvas.width > 1) {
      previous = document.createElement("canvas");
      previous.width = this.canvas.width;
      previous.height = this.canvas.height;
      previous.getContext("2d")?.drawImage(this.canvas, 0, 0);
    }
    this.canvas.width = w;
    this.canvas.height = hgt;
    const ctx = this.canvas.getContext("2d");
    if (ctx && previous) {
      // the previous pass stays visible as a preview under the new pass's tiles
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(previous, 0, 0, w, hgt);
    }
    this.pass = index;
    const first = this.firstOfPass[index];
    if (first !== undefined) this.nextIndex = Math.max(this.nextIndex, first);
  }
}

function strokeBox(ctx: CanvasRenderingContext2D, box: Box, f: number): void {
  const [x0, y0, x1, y1] = box;
  ctx.strokeRect(x0 * f, y0 * f, (x1 - x0) * f, (y1 - y0) * f);
}

/** Progress bar and the line under it: tiles done, measured time per tile, time left. */
export class ProgressView {
  readonly element: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly fill: HTMLElement;
  private readonly text: HTMLElement;

  constructor() {
    this.fill = h("div", { class: "ew-progress-fill" });
    this.bar = h(
      "div",
      {
        class: "ew-progress-bar",
        role: "progressbar",
        "aria-label": "Parts done",
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": 0,
      },
      [this.fill],
    );
    this.text = h("div", { class: "ew-progress-text" });
    this.element = h("div", { class: "ew-progress" }, [this.bar, this.text]);
  }

  update(progress: Progress, status: string, tileMs: number[]): void {
    const total = progress.total ?? 0;
    const done = progress.done ?? 0;
    const active = status === "running" || status === "cancelling";
    const frac = total > 0 ? done / total : status === "done" ? 1 : 0;
    this.fill.style.width = `${(frac * 100).toFixed(1)}%`;
    this.bar.setAttribute("aria-valuenow", String(Math.round(frac * 100)));
    this.bar.setAttribute("aria-valuetext", `${done} of ${total} parts`);
    this.element.classList.toggle("ew-active", active);
    if (!active) {
      setText(this.text, "");
      return;
    }
    // the status line says where the run is in words; the measured speed is here, on demand
    const recent = tileMs.slice(-8);
    const modelMs = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : null;
    const parts = total ? [`${done} of ${total} done`] : [];
    if (modelMs !== null) this.bar.title = `the model takes about ${Math.round(modelMs)} ms for each part`;
    setText(this.text, parts.join(" · "));
  }
}
