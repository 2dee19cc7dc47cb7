// The browser engine on the page's main thread: receives the plan from Python, asks Python once
// per page for what it lacks (onnxruntime-web's WASM build, or its WebGPU build where the page
// has a hardware adapter; model bytes, checked by sha256 here), runs
// the plan in a module Web Worker started from the bundled worker code, and hands tiles to the
// view and the encoded result back to Python. The main thread only paints.

import { probeGpu, wantsGpu } from "./gpu";
import type { EngineCard, FromWorker, ImageKind, PlanSpec, ProviderChoice, ToWorker } from "./types";

/** Delivered once per page (shared by every widget view): the ORT binaries and verified models. */
const assets: {
  worker: ArrayBuffer | null;
  wasm: ArrayBuffer | null;
  wasm_webgpu: ArrayBuffer | null;
  models: Map<string, ArrayBuffer>;
} = {
  worker: null,
  wasm: null,
  wasm_webgpu: null,
  models: new Map(),
};
let worker: Worker | null = null;
const sent = { wasm: false, wasm_webgpu: false };
const listeners = new Set<(msg: FromWorker) => void>();

function engineWorker(code: ArrayBuffer): Worker {
  if (worker) return worker;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  worker = new Worker(url, { type: "module", name: "enhance-widget-engine" });
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    for (const fn of listeners) fn(e.data);
  };
  return worker;
}

export async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function bufferOf(view: DataView | ArrayBuffer): ArrayBuffer {
  if (view instanceof ArrayBuffer) return view;
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}

export interface EngineRunMsg {
  kind: string;
  job: number;
  plan: PlanSpec;
  cards: EngineCard[];
  image: ImageKind;
  tta: boolean;
  provider: ProviderChoice;
}

export interface RunnerHost {
  /** Send a custom message (with buffers) to Python. */
  send(content: Record<string, unknown>, buffers?: ArrayBuffer[]): void;
  /** The source's encoded bytes (the trait the view shows). */
  source(): ArrayBuffer | null;
  /** Paint one tile as the kernel engine's tile messages are painted. */
  tile(msg: Extract<FromWorker, { type: "tile" }>): void;
}

export class BrowserRunner {
  private job: number | null = null;
  private pending: (EngineRunMsg & { build: "wasm" | "wasm_webgpu" }) | null = null;
  private readonly onWorker = (msg: FromWorker) => this.fromWorker(msg);

  constructor(
    private readonly host: RunnerHost,
    readonly view: string,
  ) {
    listeners.add(this.onWorker);
  }

  /** The view goes away: stop its run and tell Python, which would otherwise wait for it. */
  destroy(): void {
    listeners.delete(this.onWorker);
    const job = this.job;
    this.pending = null;
    if (job === null) return;
    worker?.postMessage({ type: "cancel", job } satisfies ToWorker);
    this.host.send({ kind: "engine-cancelled", job, after_tiles: this.tiles });
  }

  /**
   * Python started a browser-engine job: claim it and ask for the assets the page lacks (the
   * WebGPU build of onnxruntime-web only where the page has an adapter and WASM is not forced).
   */
  async onRun(msg: EngineRunMsg): Promise<void> {
    const claim: EngineRunMsg & { build: "wasm" | "wasm_webgpu" } = { ...msg, build: "wasm" };
    this.pending = claim; // claimed before the probe, so a cancel meanwhile finds it
    const gpu = msg.provider !== "wasm" && wantsGpu(msg.provider, await probeGpu());
    if (this.pending !== claim) return;
    const build = gpu ? "wasm_webgpu" : "wasm";
    claim.build = build;
    const missing = msg.cards.map((c) => c.sha256).filter((s) => !assets.models.has(s));
    this.host.send({
      kind: "engine-need",
      job: msg.job,
      view: this.view,
      worker: !assets.worker,
      wasm: build === "wasm" && !assets.wasm,
      wasm_webgpu: build === "wasm_webgpu" && !assets.wasm_webgpu,
      models: [...new Set(missing)],
    });
  }

  /** Python's answer to engine-need: store (after checking sha256) and start the worker. */
  async onAssets(
    msg: { job: number; view: string; names: string[] },
    buffers: (DataView | ArrayBuffer)[],
  ): Promise<void> {
    const run = this.pending;
    if (msg.view !== this.view || !run || run.job !== msg.job) return;
    this.pending = null;
    try {
      for (let i = 0; i < msg.names.length; i++) {
        const name = msg.names[i] as string;
        const buf = buffers[i];
        if (!buf) throw new Error(`asset ${name} arrived without its bytes`);
        const data = bufferOf(buf);
        if (name === "worker") {
          assets.worker = data;
          continue;
        }
        if (name === "wasm" || name === "wasm-webgpu") {
          assets[name === "wasm" ? "wasm" : "wasm_webgpu"] = data;
          continue;
        }
        const digest = await sha256Hex(data);
        if (digest !== name) {
          throw new Error(
            `model bytes have sha256 ${digest.slice(0, 16)}…, expected ${name.slice(0, 16)}…; refusing to run them`,
          );
        }
        assets.models.set(name, data);
      }
      const source = this.host.source();
      if (!source) throw new Error("no source image in the page");
      const models: Record<string, ArrayBuffer> = {};
      for (const c of run.cards) {
        const m = assets.models.get(c.sha256);
        if (!m) throw new Error(`model ${c.id} is missing in the page`);
        models[c.sha256] = m;
      }
      if (!assets.worker) throw new Error("the engine's worker code was not delivered");
      const w = engineWorker(assets.worker);
      const msgOut: ToWorker = {
        type: "run",
        job: run.job,
        plan: run.plan,
        cards: run.cards,
        source: source.slice(0),
        image: run.image,
        tta: run.tta,
        provider: run.provider,
        // each binary crosses to the worker once; the worker keeps it
        wasm: sent.wasm ? null : assets.wasm,
        wasm_webgpu: sent.wasm_webgpu ? null : assets.wasm_webgpu,
        models,
      };
      sent.wasm ||= assets.wasm !== null;
      sent.wasm_webgpu ||= assets.wasm_webgpu !== null;
      this.job = run.job;
      this.tiles = 0;
      w.postMessage(msgOut);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.host.send({ kind: "engine-error", job: run.job, type: "ModelIntegrityError", message: e.message });
    }
  }

  cancel(job: number): void {
    if (this.pending && this.pending.job === job) {
      this.pending = null;
      this.host.send({ kind: "engine-cancelled", job, after_tiles: 0 });
      return;
    }
    if (this.job === job) worker?.postMessage({ type: "cancel", job } satisfies ToWorker);
  }

  private tiles = 0;

  private fromWorker(msg: FromWorker): void {
    if (msg.job !== this.job) return;
    switch (msg.type) {
      case "tile":
        this.tiles = msg.index + 1;
        this.host.tile(msg);
        this.host.send({ kind: "engine-tile", job: msg.job, index: msg.index, total: msg.total, ms: msg.ms });
        break;
      case "done": {
        const { png, type: _t, ...rest } = msg;
        this.job = null;
        this.host.send({ kind: "engine-done", ...rest }, [png]);
        break;
      }
      case "cancelled":
        this.job = null;
        this.host.send({ kind: "engine-cancelled", job: msg.job, after_tiles: this.tiles });
        break;
      case "error":
        this.job = null;
        this.host.send({ kind: "engine-error", job: msg.job, type: msg.error, message: msg.message });
        break;
    }
  }
}
