// The browser engine on the page's main thread: receives the plan from Python, asks Python once
// per page for what it lacks (onnxruntime-web's WASM build, or its WebGPU build where the page
// has a hardware adapter; model bytes), collects the pieces they come in and transfers them to a module
// Web Worker started from the bundled worker code, which keeps them, checks each model's sha256
// and runs the plan; tiles go to the view and the encoded result back to Python. The main thread
// only paints: nothing here copies, hashes or loops over the assets' bytes.

import type { EngineAssetsMsg } from "../protocol";
import { probeGpu, wantsGpu } from "./gpu";
import { fetchSiteAsset } from "./site";
import type { EngineCard, FromWorker, ImageKind, PlanSpec, ProviderChoice, ToWorker } from "./types";

/**
 * What the page has delivered (shared by every widget view). The bytes themselves are not kept
 * here: each asset goes to the worker once, transferred (never copied), and the worker keeps the
 * ORT binaries and the models (checking each model's sha256 before its first use).
 */
const delivered = { wasm: false, wasm_webgpu: false, models: new Set<string>() };
let worker: Worker | null = null;
const listeners = new Set<(msg: FromWorker) => void>();

function engineWorker(code: ArrayBuffer[]): Worker {
  if (worker) return worker;
  const url = URL.createObjectURL(new Blob(code, { type: "text/javascript" }));
  worker = new Worker(url, { type: "module", name: "enhance-widget-engine" });
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    for (const fn of listeners) fn(e.data);
  };
  return worker;
}

/** The bytes of a DataView: its own ArrayBuffer where it spans all of it (as JupyterLab's
 * deserializing gives each buffer), so nothing is copied; else a copy of just those bytes. */
function bufferOf(view: DataView | ArrayBuffer): ArrayBuffer {
  if (view instanceof ArrayBuffer) return view;
  const whole = view.buffer;
  if (whole instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === whole.byteLength)
    return whole;
  return whole.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}

/** One asset arriving in pieces (see `engine-assets` in protocol.py): the pieces' own buffers,
 * kept as they came (the worker joins them: the main thread neither copies nor allocates them). */
interface Incoming {
  pieces: ArrayBuffer[];
  got: number;
  size: number;
}

/** An `engine-assets` message as the runner reads it (its `kind` already dispatched on). */
export type EngineAssetsPiece = Omit<EngineAssetsMsg, "kind">;

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
  private incoming = new Map<string, Incoming>();
  private incomingJob: number | null = null;
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
    const missing = msg.cards.map((c) => c.sha256).filter((s) => !delivered.models.has(s));
    this.host.send({
      kind: "engine-need",
      job: msg.job,
      view: this.view,
      worker: !worker,
      wasm: build === "wasm" && !delivered.wasm,
      wasm_webgpu: build === "wasm_webgpu" && !delivered.wasm_webgpu,
      models: [...new Set(missing)],
    });
  }

  /**
   * One piece of Python's answer to engine-need (each asset arrives in pieces of at most 1 MiB,
   * so that no one kernel message holds the main thread long): collect the pieces and, once
   * every asset is complete, start the run in the worker.
   */
  onAssets(msg: EngineAssetsPiece, buffers: (DataView | ArrayBuffer)[]): void {
    const run = this.pending;
    if (msg.view !== this.view || !run || run.job !== msg.job) return;
    try {
      if (msg.names.length === 0) {
        this.pending = null; // the page lacks nothing
        this.start(run, new Map());
        return;
      }
      const { name = "", offset = 0, size = 0 } = msg;
      if (this.incomingJob !== run.job) {
        this.incoming = new Map();
        this.incomingJob = run.job;
      }
      if (msg.url) {
        // a model the JupyterLite site serves: fetched now, when a task first runs with it
        const part: Incoming = { pieces: [], got: 0, size: Number.POSITIVE_INFINITY };
        this.incoming.set(name, part);
        fetchSiteAsset(msg.url)
          .then((bytes) => {
            if (this.pending !== run) return;
            part.pieces.push(bytes);
            part.got = part.size = bytes.byteLength;
            this.maybeStart(run, msg.names);
          })
          .catch((err: unknown) => this.fail(run, err));
        return;
      }
      const buf = buffers[0];
      if (!buf) throw new Error(`asset ${name} arrived without its bytes`);
      let part = this.incoming.get(name);
      if (!part) {
        part = { pieces: [], got: 0, size };
        this.incoming.set(name, part);
      }
      if (offset !== part.got || part.got + buf.byteLength > size) {
        throw new Error(`asset ${name} arrived out of order`);
      }
      part.pieces.push(bufferOf(buf));
      part.got += buf.byteLength;
      this.maybeStart(run, msg.names);
    } catch (err) {
      this.fail(run, err);
    }
  }

  /** Start the run once every asset of the answer is complete. */
  private maybeStart(run: EngineRunMsg & { build: string }, names: string[]): void {
    const complete = names.every((n) => {
      const p = this.incoming.get(n);
      return p !== undefined && p.got >= p.size;
    });
    if (!complete) return;
    this.pending = null;
    const assets = new Map<string, ArrayBuffer[]>();
    for (const n of names) assets.set(n, this.incoming.get(n)?.pieces ?? []);
    this.incoming = new Map();
    this.incomingJob = null;
    try {
      this.start(run, assets);
    } catch (err) {
      this.fail(run, err);
    }
  }

  private fail(run: EngineRunMsg, err: unknown): void {
    this.pending = null;
    this.incoming = new Map();
    this.incomingJob = null;
    const e = err instanceof Error ? err : new Error(String(err));
    this.host.send({ kind: "engine-error", job: run.job, type: "Error", message: e.message });
  }

  /** Every asset is here: hand them to the worker (transferred, so nothing is copied on the main
   * thread; the worker checks each model's sha256 before it uses it) and start the run. */
  private start(run: EngineRunMsg, assets: Map<string, ArrayBuffer[]>): void {
    const source = this.host.source();
    if (!source) throw new Error("no source image in the page");
    const code = assets.get("worker");
    if (!worker && !code) throw new Error("the engine's worker code was not delivered");
    const w = worker ?? engineWorker(code as ArrayBuffer[]);
    const wasm = assets.get("wasm") ?? null;
    const wasmGpu = assets.get("wasm-webgpu") ?? null;
    const models: Record<string, ArrayBuffer[]> = {};
    for (const c of run.cards) {
      const m = assets.get(c.sha256);
      if (m) models[c.sha256] = m;
      else if (!delivered.models.has(c.sha256)) throw new Error(`model ${c.id} is missing in the page`);
    }
    const src = source.slice(0);
    const msgOut: ToWorker = {
      type: "run",
      job: run.job,
      plan: run.plan,
      cards: run.cards,
      source: src,
      image: run.image,
      tta: run.tta,
      provider: run.provider,
      // each binary and model crosses to the worker once, which keeps it
      wasm,
      wasm_webgpu: wasmGpu,
      models,
    };
    const transfer: ArrayBuffer[] = [
      src,
      ...Object.values(models).flat(),
      ...(wasm ?? []),
      ...(wasmGpu ?? []),
    ];
    delivered.wasm ||= wasm !== null;
    delivered.wasm_webgpu ||= wasmGpu !== null;
    for (const sha of Object.keys(models)) delivered.models.add(sha);
    this.job = run.job;
    this.tiles = 0;
    w.postMessage(msgOut, transfer);
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
        // the worker refused a model's bytes (and dropped them): ask for them again next time
        if (msg.error === "ModelIntegrityError") delivered.models.clear();
        this.host.send({ kind: "engine-error", job: msg.job, type: msg.error, message: msg.message });
        break;
    }
  }
}
