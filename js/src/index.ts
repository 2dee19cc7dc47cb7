// enhance-widget front end (anywidget ESM). Traits hold the state that survives a re-render;
// tiles, opened files and run/cancel/save requests travel as custom messages with binary buffers.

import type { AnyModel, RenderProps } from "@anywidget/types";
import "./styles.css";
import { CompareView, layerOf } from "./compare";
import { Controls, type DownloadFormat } from "./controls";
import { bytesOf, h, LatestDecode, setText, uid } from "./dom";
import { downloadName, resultBlob, saveBlob } from "./download";
import type { BrowserRunner } from "./engine/runner";
import { FiguresView } from "./figures";
import { bindFileDrop, filePicker, OPEN_MAX, openedName, sendFile } from "./opening";
import type { State } from "./protocol";
import * as P from "./protocol";
import { hostRunner, toRunner } from "./runner_host";
import {
  abilities,
  errorText,
  type Pending,
  type Phase,
  phaseOf,
  resultName,
  savedText,
  statusLine,
} from "./status";
import { ProgressView, TileLayer } from "./tiles";

// biome-ignore lint/suspicious/noExplicitAny: anywidget's own handler type
type Handler = (...args: any[]) => void;

class App {
  private readonly root: HTMLElement;
  private readonly title = h("span", { class: "ew-title" });
  private readonly meta = h("span", { class: "ew-meta" });
  private readonly statusLine = h("p", { class: "ew-status", role: "status", "aria-live": "polite" });
  private readonly errorBox = h("p", { class: "ew-error", role: "alert", hidden: true });
  private readonly picker: HTMLInputElement;
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
  /** a message about the last event, shown while the phase it was said in lasts */
  private notice: { text: string; phase: Phase } | null = null;
  private readonly pending: Pending = { run: false, open: null, plan: false };
  private planTimer = 0;
  private cancelledAfter: number | null = null;
  private phase: Phase = "empty";
  private readonly beforeDecode = new LatestDecode();
  private readonly resultDecode = new LatestDecode();
  private resultLoad: Promise<void> = Promise.resolve();
  private readonly runner: BrowserRunner;

  constructor(
    private readonly model: AnyModel<State>,
    el: HTMLElement,
  ) {
    this.figures = new FiguresView((tile) => this.request(P.USE_TILE, { tile: String(tile) }));
    this.controls = new Controls(
      model,
      {
        open: () => this.picker.click(),
        run: () => this.run(),
        cancel: () => this.request(P.CANCEL),
        save: () => this.request(P.SAVE),
        download: (format, quality) => void this.download(format, quality),
        changed: () => this.planning(),
      },
      this.figures.details,
    );
    this.picker = filePicker((file) => void this.openFile(file));
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
        this.statusLine,
        this.progress.element,
        this.errorBox,
        this.figures.summary,
        this.compare.element,
        this.controls.advanced,
        this.picker,
      ],
    );
    el.replaceChildren(this.root);
    bindFileDrop(this.compare.stage, this.root, (file) => void this.openFile(file));
    this.runner = hostRunner(this.model, (msg, buffers) => this.onMessage(msg, buffers));
    this.listen("msg:custom", (content: P.KernelMsg, buffers: DataView[]) =>
      this.onMessage(content, buffers),
    );
    for (const name of [
      ...P.CONTROLS,
      "models",
      "tasks",
      "qualities",
      "progress",
      "last_run",
      "saved_path",
      "controls",
      "control_specs",
      "source_colour",
    ]) {
      this.listen(`change:${name}`, () => this.refresh());
    }
    this.listen("change:plan", () => {
      this.pending.plan = false;
      this.refresh();
    });
    this.listen("change:error", () => {
      if (this.model.get("error").during === "open") this.pending.open = null;
      this.refresh();
    });
    this.listen("change:status", () => this.onStatus());
    this.listen("change:source_bytes", () => {
      this.pending.open = null;
      void this.loadBefore();
      this.refresh();
    });
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
    clearTimeout(this.planTimer);
    this.runner.destroy();
    this.compare.destroy();
  }

  private listen(name: string, fn: Handler): void {
    this.model.on(name, fn);
    this.handlers.push([name, fn]);
  }

  private request(kind: string, extra: Record<string, unknown> = {}, buffers?: ArrayBuffer[]): string {
    this.requests += 1;
    this.notice = null;
    const id = `${this.prefix}-${this.requests}`;
    this.model.send({ kind, id, ...extra }, undefined, buffers);
    return id;
  }

  private run(): void {
    if (this.pending.run) return; // a second click before the kernel answered
    this.pending.run = true;
    this.cancelledAfter = null;
    this.request(P.RUN);
    this.refresh();
  }

  /** A control changed: its plan is on the way (the line says so; Run waits for it). */
  private planning(): void {
    this.pending.plan = true;
    clearTimeout(this.planTimer);
    // a change the kernel did not take (same value, refused) sends no plan: do not wait forever
    this.planTimer = window.setTimeout(() => {
      this.pending.plan = false;
      this.refresh();
    }, 3000);
    this.refresh();
  }

  private say(text: string): void {
    this.notice = { text, phase: this.phase };
    this.refresh();
  }

  // --- opening a photo: picker, drop on the stage, paste --------------------------------

  private async openFile(file: File): Promise<void> {
    if (this.phase === "running" || this.phase === "cancelling" || this.phase === "starting") {
      this.say("A run is under way: cancel it or let it finish before opening another photo.");
      return;
    }
    const name = openedName(file);
    if (file.size > OPEN_MAX) {
      this.say(`${name} is too large to open here (${Math.round(file.size / 2 ** 20)} MB).`);
      return;
    }
    this.pending.open = name;
    this.refresh();
    this.requests += 1;
    const id = `${this.prefix}-${this.requests}`;
    await sendFile((content, buffers) => this.model.send(content, undefined, buffers), id, name, file);
  }

  // --- keeping the result -----------------------------------------------------------------

  private async download(format: DownloadFormat, quality: number): Promise<void> {
    const png = bytesOf(this.model.get("result_png"));
    if (!png || !this.result) return;
    const blob = await resultBlob(png, this.result, format, quality);
    if (blob === undefined) return;
    if (blob === null) {
      this.say(`This browser cannot write ${format.toUpperCase()}; choose PNG.`);
      return;
    }
    const name = downloadName(this.model.get("source_name"), this.model.get("last_run"), format);
    saveBlob(this.root, blob, name);
    this.say(`Downloaded ${name} (${Math.max(1, Math.round(blob.size / 1024))} KB).`);
  }

  // --- messages from the kernel ----------------------------------------------------------

  private onMessage(msg: P.KernelMsg, buffers: DataView[]): void {
    if (toRunner(this.runner, msg, buffers)) return;
    const ds = this.root.dataset;
    switch (msg.kind) {
      case P.RUN_STARTED:
        this.pending.run = false;
        if (this.tiles.job !== msg.job) {
          // (a replay for a second view repeats this message: the counts go on)
          ds.tilesReceived = "0";
          ds.tilesPainted = "0";
        }
        this.tiles.start(msg);
        this.liveJob = msg.job;
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
          this.refresh();
        });
        break;
      case P.RUN_CANCELLED:
        this.cancelledAfter = msg.after_tiles;
        this.endLive();
        break;
      case P.RUN_ERROR:
        this.pending.run = false;
        this.endLive();
        break;
      case P.REJECTED:
        if (msg.request === P.RUN) {
          this.pending.run = false;
          // a second Run while one runs (double click, a cell): the running job answers for it
          if (/is running/.test(msg.reason)) break;
        }
        if (msg.request === P.OPEN) this.pending.open = null;
        if (msg.request === "set") this.pending.plan = false;
        if (msg.request === P.CANCEL && msg.reason === "idle") break;
        if (msg.request !== P.OPEN) this.say(`Not done: ${msg.reason}`);
        break;
      case P.SAVED:
        this.say(savedText(msg, this.phase, this.model.get("last_run"), this.model.get("tasks")));
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
    if (status === "running" || status === "error") this.pending.run = false;
    this.refresh();
  }

  private async loadBefore(): Promise<void> {
    const bitmap = await this.beforeDecode.decode(bytesOf(this.model.get("source_bytes")));
    if (bitmap === undefined) return; // a newer photo is on its way
    // the old bitmap is closed only once nothing paints it (a repaint while decoding drew a
    // detached bitmap: "The image source is detached")
    const old = this.before;
    this.before = bitmap;
    this.compare.setBefore(this.before ? layerOf(this.before) : null);
    old?.close();
    this.compare.setHint(this.before ? "" : "Drop a photo here, paste one, or use Open…");
    this.compare.setEmpty(!this.before);
    this.updateFrame();
    this.root.dataset.beforeReady = this.before ? "1" : "0";
  }

  private async loadResult(): Promise<void> {
    const bitmap = await this.resultDecode.decode(bytesOf(this.model.get("result_png")));
    if (bitmap === undefined) return; // a newer result is on its way
    this.result?.close();
    this.result = bitmap;
    if (bitmap && this.model.get("status") === "done") this.liveJob = null;
    this.showResult();
    this.refresh();
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
    const size = m.get("source_size");
    const hasImage = size.length === 2;
    const hasResult = (bytesOf(m.get("result_png"))?.byteLength ?? 0) > 0;
    const plan = m.get("plan");
    const phase = phaseOf({ status, hasImage, hasResult, plan, pending: this.pending });
    if (phase !== this.phase && this.notice && this.notice.phase !== phase) this.notice = null;
    this.phase = phase;
    this.root.dataset.phase = phase;
    const running = phase === "running" || phase === "cancelling" || phase === "starting";
    setText(this.title, m.get("source_name") || "No photo yet");
    setText(this.meta, hasImage ? `${size[0]} × ${size[1]} px` : "");
    this.controls.update(running || this.pending.open !== null);
    const can = abilities(phase, hasResult, Boolean(plan.error));
    this.controls.setAbilities(can);
    this.figures.update(plan, m.get("last_run"), running);
    this.figures.summary.hidden = !hasImage || Boolean(plan.error);
    this.progress.update(m.get("progress"), status, this.tiles.tileMs);
    const err = m.get("error");
    const errorLine = errorText(err, phase, hasImage);
    this.errorBox.hidden = errorLine === "";
    setText(this.errorBox, errorLine);
    const line = statusLine({
      phase,
      plan,
      progress: m.get("progress"),
      lastRun: m.get("last_run"),
      tasks: m.get("tasks"),
      task: m.get("task"),
      scale: m.get("scale"),
      hasResult,
      openName: this.pending.open,
      cancelledAfter: this.cancelledAfter,
      error: err.during === "open" ? {} : err,
    });
    const openFailed =
      err.during === "open" && phase !== "planning" ? `Could not open ${err.name ?? "the file"}. ` : "";
    setText(this.statusLine, this.notice ? this.notice.text : `${openFailed}${line}`);
    this.statusLine.classList.toggle("ew-status-bad", phase === "failed" || phase === "no-model");
    // the result on screen says what made it once the settings no longer do (no disagreement)
    this.compare.setAfterName(resultName(m.get("last_run"), m.get("task"), m.get("scale"), m.get("tasks")));
    if (!running) this.updateFrame();
  }
}

function render({ model, el }: RenderProps<State>): () => void {
  const app = new App(model, el);
  return () => app.destroy();
}

export default { render };
