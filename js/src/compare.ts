// Before/after compare: slider split, side by side and difference, with zoom and pan kept in
// sync on both images. The view works in output pixels; `zoom` is device pixels per output
// pixel, so 1:1 shows one image pixel on one screen pixel on any devicePixelRatio.

import { differenceLegend, stretchDifference } from "./difference";
import { h, setText } from "./dom";
import { bindGestures, type Zoomable } from "./gestures";
import { buildViewbar, type Mode, splitHandle } from "./viewbar";
import { MAX_ZOOM, MIN_ZOOM, nextZoom } from "./zoom";

export type { Mode };

/** Something drawable with a size (an ImageBitmap, or the live tile canvas). */
export interface Layer {
  source: CanvasImageSource;
  width: number;
  height: number;
}

/** A bitmap as a layer. */
export function layerOf(bitmap: ImageBitmap): Layer {
  return { source: bitmap, width: bitmap.width, height: bitmap.height };
}

/** Extra drawing over the "after" image (tile grid, current tile), in output coordinates. */
export type Overlay = (ctx: CanvasRenderingContext2D, zoom: number, frameW: number, frameH: number) => void;

export class CompareView implements Zoomable {
  readonly element: HTMLElement;
  readonly toolbar: HTMLElement;
  readonly stage: HTMLElement;
  private readonly main: HTMLCanvasElement;
  private readonly second: HTMLCanvasElement;
  private readonly handle: HTMLElement;
  private readonly zoomLabel: HTMLElement;
  private readonly hint: HTMLElement;
  private readonly labelBefore = h("span", { class: "ew-label ew-label-before", text: "Original" });
  private readonly labelAfter = h("span", { class: "ew-label ew-label-after", text: "Enhanced" });
  private readonly legend = h("span", { class: "ew-label ew-diff-legend", hidden: true });
  private nearest = false;
  private afterName = "Enhanced";
  private empty = true;
  /** The difference view's gain and the change it maps to white (set on each draw). */
  diffGain = 1;
  private readonly modeButtons: Map<Mode, HTMLButtonElement>;
  private readonly scratch = document.createElement("canvas");
  private before: Layer | null = null;
  private after: Layer | null = null;
  private live = false;
  private overlay: Overlay | null = null;
  private frameW = 1;
  private frameH = 1;
  private zoom = 1;
  private cx = 0.5;
  private cy = 0.5;
  private fitted = true;
  private split = 0.5;
  private mode: Mode = "slider";
  private dpr = 1;
  private frame = 0;
  private readonly resize: ResizeObserver;

  constructor() {
    this.main = h("canvas", { class: "ew-canvas ew-canvas-main", "aria-hidden": "true" });
    this.second = h("canvas", { class: "ew-canvas ew-canvas-second", "aria-hidden": "true" });
    this.handle = splitHandle();
    this.hint = h("div", { class: "ew-stage-hint", text: "" });
    this.stage = h(
      "div",
      {
        class: "ew-stage",
        tabindex: 0,
        role: "group",
        "aria-label":
          "Before and after images. Drag to pan, wheel to zoom; arrows pan, + and - zoom, 0 fits, 1 is 1:1.",
      },
      [this.main, this.second, this.handle, this.labelBefore, this.labelAfter, this.legend, this.hint],
    );
    const viewbar = buildViewbar(this, (on) => {
      this.nearest = on;
      this.applyZoom(this.zoom);
    });
    this.toolbar = viewbar.element;
    this.zoomLabel = viewbar.zoomLabel;
    this.modeButtons = viewbar.modeButtons;
    this.element = h("div", { class: "ew-compare" }, [this.stage, this.toolbar]);
    bindGestures(this, this.stage, this.handle, this.main);
    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(this.stage);
    this.setMode("slider");
  }

  get zoomLevel(): number {
    return this.zoom;
  }

  get splitFraction(): number {
    return this.split;
  }

  get pixelRatio(): number {
    return this.dpr;
  }

  destroy(): void {
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
  }

  /** The split handle shows only when there is an after image to compare (not while tiles arrive). */
  private updateHandle(): void {
    this.handle.hidden = this.mode !== "slider" || this.after === null || this.live;
    this.updateLabels();
  }

  /** "Original" and "Enhanced" on the image, where each one shows. */
  private updateLabels(): void {
    const has = this.after !== null;
    const diff = this.mode === "diff";
    setText(this.labelAfter, this.live ? "Enhanced (in progress)" : this.afterName);
    this.labelBefore.hidden =
      this.before === null || diff || (this.mode === "slider" && has && !this.live && this.split < 0.12);
    this.labelAfter.hidden = !has || diff || (this.mode === "slider" && !this.live && this.split > 0.88);
    if (this.mode === "slider" && this.live) this.labelBefore.hidden = true;
    this.legend.hidden = !diff || !has;
    this.stage.dataset.labels = [this.labelBefore, this.labelAfter, this.legend]
      .filter((l) => !l.hidden)
      .map((l) => l.textContent)
      .join("|");
  }

  /** What the after image is called: "Enhanced", or what made it when the settings changed since. */
  setAfterName(name: string): void {
    if (name === this.afterName) return;
    this.afterName = name;
    this.updateLabels();
  }

  /** No photo: the stage invites a drop; the zoom reads "–". */
  setEmpty(empty: boolean): void {
    this.empty = empty;
    this.applyZoom(this.zoom);
  }

  setBefore(layer: Layer | null): void {
    this.before = layer;
    this.updateLabels();
    this.requestDraw();
  }

  /** `live`: the after layer is being painted (the before image shows faintly under it). */
  setAfter(layer: Layer | null, live = false): void {
    this.after = layer;
    this.live = live;
    this.updateHandle();
    this.requestDraw();
  }

  setOverlay(overlay: Overlay | null): void {
    this.overlay = overlay;
    this.requestDraw();
  }

  setHint(text: string): void {
    setText(this.hint, text);
    this.hint.hidden = text === "";
  }

  /** The output size everything is drawn in (before images are stretched onto it). */
  setFrame(w: number, h: number): void {
    if (w < 1 || h < 1 || (w === this.frameW && h === this.frameH)) return;
    const rx = this.cx / this.frameW;
    const ry = this.cy / this.frameH;
    const ratio = w / this.frameW;
    this.frameW = w;
    this.frameH = h;
    this.cx = rx * w;
    this.cy = ry * h;
    if (this.fitted) this.fit();
    else this.setZoom(this.zoom / ratio);
  }

  setMode(mode: Mode): void {
    this.mode = mode;
    for (const [m, b] of this.modeButtons) b.setAttribute("aria-pressed", String(m === mode));
    this.stage.dataset.mode = mode;
    this.second.hidden = mode !== "side";
    this.element.dataset.mode = mode;
    this.updateHandle();
    this.layout();
  }

  setSplit(fraction: number): void {
    this.split = Math.min(1, Math.max(0, fraction));
    const pct = Math.round(this.split * 100);
    this.handle.setAttribute("aria-valuenow", String(pct));
    this.handle.setAttribute("aria-valuetext", `${pct}% before, ${100 - pct}% after`);
    this.handle.style.left = `${this.split * 100}%`;
    this.stage.dataset.split = this.split.toFixed(3);
    this.updateLabels();
    this.requestDraw();
  }

  fit(): void {
    const [cw, ch] = this.viewSize();
    this.cx = this.frameW / 2;
    this.cy = this.frameH / 2;
    this.applyZoom(Math.min(cw / this.frameW, ch / this.frameH) || 1);
    this.fitted = true;
  }

  /** Zoom to `z` device pixels per output pixel, keeping the point under (ax, ay) still. */
  setZoom(z: number, ax?: number, ay?: number): void {
    const [cw, ch] = this.viewSize();
    const x = ax ?? cw / 2;
    const y = ay ?? ch / 2;
    const nz = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));
    const px = this.cx + (x - cw / 2) / this.zoom;
    const py = this.cy + (y - ch / 2) / this.zoom;
    this.cx = px - (x - cw / 2) / nz;
    this.cy = py - (y - ch / 2) / nz;
    this.fitted = false;
    this.applyZoom(nz);
  }

  zoomStep(direction: 1 | -1): void {
    this.setZoom(nextZoom(this.zoom, direction));
  }

  private applyZoom(z: number): void {
    this.zoom = z;
    this.clampCenter();
    setText(this.zoomLabel, this.empty ? "–" : `${Math.round(z * 100)}%`);
    this.stage.classList.toggle("ew-pixelated", this.crisp());
    this.requestDraw();
  }

  private crisp(): boolean {
    return this.nearest || this.zoom >= 2;
  }

  private clampCenter(): void {
    this.cx = Math.min(this.frameW, Math.max(0, this.cx));
    this.cy = Math.min(this.frameH, Math.max(0, this.cy));
  }

  private viewSize(): [number, number] {
    return [this.main.width || 1, this.main.height || 1];
  }

  private layout(): void {
    this.dpr = window.devicePixelRatio || 1;
    const rect = this.stage.getBoundingClientRect();
    const cssW = this.mode === "side" ? rect.width / 2 : rect.width;
    const w = Math.max(1, Math.round(cssW * this.dpr));
    const hgt = Math.max(1, Math.round(rect.height * this.dpr));
    for (const c of [this.main, this.second]) {
      if (c.width !== w || c.height !== hgt) {
        c.width = w;
        c.height = hgt;
      }
      c.style.width = `${cssW}px`;
      c.style.height = `${rect.height}px`;
    }
    this.stage.dataset.dpr = String(this.dpr);
    if (this.fitted) this.fit();
    else this.requestDraw();
  }

  requestDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draw now (also used by tests through requestDraw + a frame). */
  draw(): void {
    const ds = this.stage.dataset;
    ds.zoom = String(this.zoom);
    ds.cx = String(this.cx);
    ds.cy = String(this.cy);
    ds.frame = `${this.frameW}x${this.frameH}`;
    const after = this.after ?? this.before;
    ds.live = String(this.live);
    const ctx = this.main.getContext("2d");
    if (!ctx) return;
    const [cw, ch] = this.viewSize();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    if (this.mode === "side") {
      this.paintLayer(ctx, this.before, false);
      const c2 = this.second.getContext("2d");
      if (c2) {
        c2.setTransform(1, 0, 0, 1, 0, 0);
        c2.clearRect(0, 0, cw, ch);
        this.paintAfter(c2, after);
      }
    } else if (this.mode === "diff") {
      this.paintDifference(ctx, cw, ch);
    } else {
      // while tiles arrive (or before any result) the after side fills the view
      const x = this.after === null || this.live ? 0 : Math.round(this.split * cw);
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, 0, x, ch);
      ctx.clip();
      this.paintLayer(ctx, this.before, false);
      ctx.restore();
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, 0, cw - x, ch);
      ctx.clip();
      this.paintAfter(ctx, after);
      ctx.restore();
    }
  }

  private transform(ctx: CanvasRenderingContext2D): void {
    const [cw, ch] = this.viewSize();
    const z = this.zoom;
    ctx.setTransform(z, 0, 0, z, cw / 2 - this.cx * z, ch / 2 - this.cy * z);
  }

  private paintLayer(ctx: CanvasRenderingContext2D, layer: Layer | null, faint: boolean): void {
    if (!layer) return;
    ctx.save();
    this.transform(ctx);
    // smooth by default (the original is not shown blocky next to a smooth result); square
    // pixels on demand, and always from 2x zoom on
    ctx.imageSmoothingEnabled = !this.crisp();
    ctx.imageSmoothingQuality = "high";
    if (faint) ctx.globalAlpha = 0.3;
    ctx.drawImage(layer.source, 0, 0, this.frameW, this.frameH);
    ctx.restore();
  }

  private paintAfter(ctx: CanvasRenderingContext2D, after: Layer | null): void {
    if (this.live) this.paintLayer(ctx, this.before, true);
    this.paintLayer(ctx, after, false);
    if (this.overlay) {
      ctx.save();
      this.transform(ctx);
      this.overlay(ctx, this.zoom, this.frameW, this.frameH);
      ctx.restore();
    }
  }

  private paintDifference(ctx: CanvasRenderingContext2D, cw: number, ch: number): void {
    const s = this.scratch;
    if (s.width !== cw || s.height !== ch) {
      s.width = cw;
      s.height = ch;
    }
    const sc = s.getContext("2d");
    if (!sc) return;
    sc.setTransform(1, 0, 0, 1, 0, 0);
    sc.globalCompositeOperation = "source-over";
    sc.fillStyle = "#000";
    sc.fillRect(0, 0, cw, ch);
    this.paintLayer(sc, this.before, false);
    sc.globalCompositeOperation = "difference";
    this.paintLayer(sc, this.after ?? this.before, false);
    sc.globalCompositeOperation = "source-over";
    this.autoContrast(sc, cw, ch);
    ctx.drawImage(s, 0, 0);
  }

  /**
   * Stretch the difference so its brightest change (the 99.5th percentile over the photo, so a few
   * outliers do not decide) reaches white; the gain is shown on the image.
   */
  private autoContrast(sc: CanvasRenderingContext2D, cw: number, ch: number): void {
    const z = this.zoom;
    const x0 = Math.max(0, Math.floor(cw / 2 - this.cx * z));
    const y0 = Math.max(0, Math.floor(ch / 2 - this.cy * z));
    const x1 = Math.min(cw, Math.ceil(cw / 2 + (this.frameW - this.cx) * z));
    const y1 = Math.min(ch, Math.ceil(ch / 2 + (this.frameH - this.cy) * z));
    if (x1 <= x0 || y1 <= y0) return;
    const img = sc.getImageData(x0, y0, x1 - x0, y1 - y0);
    const stretch = stretchDifference(img.data);
    const gain = stretch.gain;
    this.diffGain = gain;
    if (gain > 1) sc.putImageData(img, x0, y0);
    setText(this.legend, differenceLegend(stretch));
    this.stage.dataset.diffGain = gain.toFixed(2);
    this.updateLabels();
  }

  panBy(dx: number, dy: number): void {
    this.cx += dx;
    this.cy += dy;
    this.fitted = false;
    this.clampCenter();
    this.requestDraw();
  }
}
