// enhance-widget front end (anywidget ESM). Traits hold the state that survives a re-render;
// tiles and run/cancel/save requests travel as custom messages with binary buffers.

import type { AnyModel, RenderProps } from "@anywidget/types";
import "./styles.css";
import { CompareView, type Layer } from "./compare";
import { Controls } from "./controls";
import { bytesOf, decodeImage, h, setText, uid } from "./dom";
import { BrowserRunner } from "./engine/runner";
import { FiguresView } from "./figures";
import type { State } from "./protocol";
import * as P from "./protocol";
import { ProgressView, TileLayer } from "./tiles";

// biome-ignore lint/suspicious/noExplicitAny: anywidget's own handler type
type Handler = (...args: any[]) => void;

class App {
  private readonly root: HTMLElement;
  private readonly title = h("span", { class: "ew-title" });
  private readonly meta = h("span", { class: "ew-meta" });
  private readonly statusLine = h("p", { class: "ew-status", role: "status", "aria-live": "polite" });
  private readonly errorBox = h("p", { class: "ew-error", role: "alert", hidden: true });
  private readonly controls: Controls;
  private readonly figures: FiguresView;
  private readonly progress = new ProgressView();
  private readonly compare = new CompareView();
  private readonly tiles = new TileLayer();
  private readonly prefix = uid("req");
  private readonly handlers: [string, Handler][] = [];
  private requests = 0;
  private before: ImageBitmap | null = null;
  private result: ImageBitmap | null = null;
  private liveJob: number | null = null;
  private notice = "";
  private decodeSeq = 0;
  private beforeSeq = 0;
  private resultLoad: Promise<void> = Promise.resolve();
  private readonly runner: BrowserRunner;

  constructor(
    private readonly model: AnyModel<State>,
    el: HTMLElement,
  ) {
    this.controls = new Controls(model, {
      run: () => this.request(P.RUN),
      cancel: () => this.request(P.CANCEL),
      save: () => this.request(P.SAVE),
    });
    this.figures = new FiguresView((tile) => this.request(P.USE_TILE, { tile: String(tile) }));
    this.root = h(
      "div",
      {
        class: "ew-root",
        "data-lm-suppress-shortcuts": "true",
        "data-tiles-received": 0,
        "data-tiles-painted": 0,
      },
      [
        h("header", { class: "ew-header" }, [this.title, this.meta]),
        this.controls.element,
        this.figures.element,
        this.progress.element,
        this.errorBox,
        this.compare.element,
        this.statusLine,
      ],
    );
    el.replaceChildren(this.root);
    this.runner = new BrowserRunner(
      {
        send: (content, buffers) => this.model.send(content, undefined, buffers),
        source: () => {
          const bytes = bytesOf(this.model.get("source_bytes"));
          return bytes
            ? (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
            : null;
        },
        tile: (t) =>
          this.onMessage(
            {
              kind: P.TILE,
              job: t.job,
              index: t.index,
              total: t.total,
              pass: t.pass,
              passes: t.passes,
              region: t.region,
              out_size: t.out_size,
              ms: t.ms,
            },
            [new DataView(t.rgba)],
          ),
      },
      uid("view"),
    );
    this.listen("msg:custom", (content: P.KernelMsg, buffers: DataView[]) =>
      this.onMessage(content, buffers),
    );
    for (const name of [
      ...P.CONTROLS,
      "models",
      "tasks",
      "plan",
      "progress",
      "last_run",
      "error",
      "saved_path",
    ]) {
      this.listen(`change:${name}`, () => this.refresh());
    }
    this.listen("change:status", () => this.onStatus());
    this.listen("change:source_bytes", () => void this.loadBefore());
    this.listen("change:result_png", () => {
      this.resultLoad = this.loadResult();
    });
    void this.loadBefore();
    this.resultLoad = this.loadResult();
    this.refresh();
    // a view that appears mid-run (re-render, second view) gets the running job's tiles again
    this.model.send({ kind: P.HELLO });
  }

  destroy(): void {
    for (const [name, fn] of this.handlers) this.model.off(name, fn);
    this.runner.destroy();
    this.compare.destroy();
  }

  private listen(name: string, fn: Handler): void {
    this.model.on(name, fn);
    this.handlers.push([name, fn]);
  }

  private request(kind: string, extra: Record<string, unknown> = {}): void {
    this.requests += 1;
    this.notice = "";
    this.model.send({ kind, id: `${this.prefix}-${this.requests}`, ...extra });
  }

  private onMessage(msg: P.KernelMsg, buffers: DataView[]): void {
    const ds = this.root.dataset;
    switch (msg.kind) {
      case P.ENGINE_RUN:
        void this.runner.onRun(msg);
        return;
      case P.ENGINE_ASSETS:
        this.runner.onAssets(msg, buffers);
        return;
      case P.ENGINE_CANCEL:
        this.runner.cancel(msg.job);
        return;
      case P.RUN_STARTED:
        this.tiles.start(msg);
        this.liveJob = msg.job;
        ds.tilesReceived = "0";
        ds.tilesPainted = "0";
        ds.job = String(msg.job);
        this.compare.setFrame(msg.out_size[0], msg.out_size[1]);
        this.compare.setAfter(this.tiles.layer, true);
        this.compare.setOverlay(this.tiles.overlay(true));
        break;
      case P.TILE:
        if (this.tiles.paint(msg, buffers[0])) {
          ds.tilesReceived = String(this.tiles.received);
          ds.tilesPainted = String(this.tiles.painted);
          if (msg.job === this.liveJob) this.compare.setAfter(this.tiles.layer, true);
        }
        break;
      case P.RUN_DONE:
        ds.tilesAtDone = String(this.tiles.painted);
        // the result PNG (sent just before, unless identical to the last one) replaces the tiles
        void this.resultLoad.then(() => {
          if (this.liveJob === msg.job) this.endLive();
          ds.resultJob = String(msg.job);
        });
        break;
      case P.RUN_CANCELLED:
        this.notice = `Cancelled after ${msg.after_tiles} tile${msg.after_tiles === 1 ? "" : "s"}; nothing was kept.`;
        this.endLive();
        break;
      case P.RUN_ERROR:
        this.endLive();
        break;
      case P.REJECTED:
        this.notice = `${msg.request} not done: ${msg.reason}`;
        break;
      case P.SAVED:
        this.notice = `Saved to ${msg.path}`;
        break;
    }
    this.refresh();
  }

  private endLive(): void {
    this.liveJob = null;
    this.compare.setOverlay(null);
    this.showResult();
  }

  private onStatus(): void {
    const status = this.model.get("status");
    this.root.dataset.status = status;
    if (status === "running") this.notice = "";
    this.refresh();
  }

  private async loadBefore(): Promise<void> {
    const seq = ++this.beforeSeq;
    const bytes = bytesOf(this.model.get("source_bytes"));
    const bitmap = bytes ? await decodeImage(bytes).catch(() => null) : null;
    if (seq !== this.beforeSeq) {
      bitmap?.close();
      return;
    }
    // the old bitmap is closed only once nothing paints it (a repaint while decoding drew a
    // detached bitmap: "The image source is detached")
    const old = this.before;
    this.before = bitmap;
    this.compare.setBefore(this.before ? layerOf(this.before) : null);
    old?.close();
    this.compare.setHint(this.before ? "" : "No image to show");
    this.updateFrame();
    this.root.dataset.beforeReady = this.before ? "1" : "0";
  }

  private async loadResult(): Promise<void> {
    const seq = ++this.decodeSeq;
    const bytes = bytesOf(this.model.get("result_png"));
    const bitmap = bytes ? await decodeImage(bytes).catch(() => null) : null;
    if (seq !== this.decodeSeq) {
      bitmap?.close();
      return;
    }
    this.result?.close();
    this.result = bitmap;
    if (bitmap && this.model.get("status") === "done") this.liveJob = null;
    this.showResult();
  }

  private showResult(): void {
    if (this.liveJob !== null) return;
    this.root.dataset.resultShown = this.result ? `${this.result.width}x${this.result.height}` : "";
    this.compare.setOverlay(null);
    this.compare.setAfter(this.result ? layerOf(this.result) : null);
    this.updateFrame();
  }

  private updateFrame(): void {
    if (this.liveJob !== null) return;
    const plan = this.model.get("plan");
    const size = this.model.get("source_size");
    if (this.result) this.compare.setFrame(this.result.width, this.result.height);
    else if (plan.out_size) this.compare.setFrame(plan.out_size[0], plan.out_size[1]);
    else if (size.length === 2) this.compare.setFrame(size[0] ?? 1, size[1] ?? 1);
  }

  private refresh(): void {
    const m = this.model;
    const status = m.get("status");
    const running = status === "running" || status === "cancelling";
    const size = m.get("source_size");
    setText(this.title, m.get("source_name") || "No image");
    setText(this.meta, size.length === 2 ? `${size[0]} × ${size[1]} px` : "");
    this.controls.update();
    this.figures.update(m.get("plan"), m.get("last_run"), running);
    this.progress.update(m.get("progress"), status, this.tiles.tileMs);
    const err = m.get("error");
    const hasError = Boolean(err.type);
    this.errorBox.hidden = !hasError;
    setText(this.errorBox, hasError ? `${err.type}: ${err.message ?? ""}` : "");
    setText(this.statusLine, this.statusText(status));
    if (!running) this.updateFrame();
  }

  private statusText(status: string): string {
    const saved = this.model.get("saved_path");
    if (this.notice) return this.notice;
    if (saved && status === "done") return `Saved to ${saved}`;
    const last = this.model.get("last_run");
    switch (status) {
      case "running":
        return "Running…";
      case "cancelling":
        return "Cancelling…";
      case "done":
        return last.out_size
          ? `Done: ${last.out_size[0]} × ${last.out_size[1]} px in ${((last.total_ms ?? 0) / 1000).toFixed(1)} s ` +
              `on ${last.engine === "browser" ? "the browser engine, " : ""}${last.provider} (${last.tiles} tiles). Save writes it next to the source.`
          : "Done.";
      case "cancelled":
        return "Cancelled; press Run to start again.";
      case "error":
        return "The run failed (see above); change a setting or press Run to try again.";
      default:
        return this.model.get("source_name") ? "Ready: press Run." : "Open an image: EnhanceWidget(path).";
    }
  }
}

function layerOf(bitmap: ImageBitmap): Layer {
  return { source: bitmap, width: bitmap.width, height: bitmap.height };
}

function render({ model, el }: RenderProps<State>): () => void {
  const app = new App(model, el);
  return () => app.destroy();
}

export default { render };
