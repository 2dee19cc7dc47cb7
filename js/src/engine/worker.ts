// The browser engine's worker: decode, tile, run onnxruntime-web, blend, encode, all off the
// main thread. Bundled separately by build.mjs and started from a Blob URL (see runner.ts).

import * as ortWasm from "onnxruntime-web/wasm";
import * as ortGpu from "onnxruntime-web/webgpu";
import { axisWeights, cutPadded } from "./blend";
import { probeGpu, wantsGpu } from "./gpu";
import { extraFeeds, infer, inferLab, type Ort, type PassRun, type Session } from "./infer";
import { colorize } from "./lab";
import { outputPlanes, resizePlane, toByte } from "./pixels";
import { decode, encodePng } from "./png";
import { augmentedMean, undoInterleaved, undoPlanar } from "./tta";
import type { Box, EngineCard, FromWorker, PassSpec, ProviderChoice, ToWorker } from "./types";

type Build = "wasm" | "webgpu";

const scope = self as unknown as {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};
const sessions = new Map<string, Session>();
/** Model bytes by sha256, each checked once (a promise, so concurrent runs share the check). */
const models = new Map<string, Promise<ArrayBuffer>>();
const cancelled = new Set<number>();
const builds: Record<Build, { ort: Ort; binary: boolean }> = {
  wasm: { ort: ortWasm, binary: false },
  webgpu: { ort: ortGpu as unknown as Ort, binary: false },
};

class Cancelled extends Error {}

function checkCancel(job: number): void {
  if (cancelled.has(job)) throw new Cancelled();
}

class ModelIntegrityError extends Error {
  override name = "ModelIntegrityError";
}

async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Keep a model the page delivered (the first delivery of each wins); its sha256 is checked here,
 * off the page's main thread, before any session is made from it. */
function keepModel(sha256: string, bytes: ArrayBuffer): void {
  if (models.has(sha256)) return;
  const checked = sha256Hex(bytes).then((digest) => {
    if (digest !== sha256) {
      models.delete(sha256);
      throw new ModelIntegrityError(
        `model bytes have sha256 ${digest.slice(0, 16)}…, expected ${sha256.slice(0, 16)}…; refusing to run them`,
      );
    }
    return bytes;
  });
  checked.catch(() => {}); // reported by the run that awaits it
  models.set(sha256, checked);
}

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(msg, transfer);
}

/** An asset's bytes from the pieces the page passed on as they came from Python. */
function join(pieces: ArrayBuffer[]): ArrayBuffer {
  if (pieces.length === 1) return pieces[0] as ArrayBuffer;
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  return out.buffer;
}

/** The first time a build is used its binary must be there: nothing is ever fetched. */
function setBinary(build: Build, pieces: ArrayBuffer[] | null): void {
  const b = builds[build];
  if (b.binary || !pieces) return;
  b.ort.env.wasm.wasmBinary = join(pieces);
  b.ort.env.wasm.numThreads = 1;
  b.ort.env.wasm.proxy = false;
  b.binary = true;
}

interface Engine {
  build: Build;
  provider: "webgpu" | "wasm";
}

/** Which build and provider run this job, and why that is not what was asked for (or ""). */
async function choose(requested: ProviderChoice): Promise<{ engine: Engine; note: string }> {
  const cpu: Engine = { build: builds.wasm.binary ? "wasm" : "webgpu", provider: "wasm" };
  if (requested === "wasm") return { engine: { build: "wasm", provider: "wasm" }, note: "" };
  const gpu = await probeGpu();
  if (!wantsGpu(requested, gpu)) return { engine: cpu, note: `${gpu.why}; ran on wasm` };
  if (!builds.webgpu.binary) return { engine: cpu, note: "the WebGPU build was not delivered; ran on wasm" };
  return { engine: { build: "webgpu", provider: "webgpu" }, note: "" };
}

async function session(card: EngineCard, engine: Engine): Promise<Session> {
  const key = `${engine.build}/${engine.provider}/${card.sha256}`;
  const known = sessions.get(key);
  if (known) return known;
  const pending = models.get(card.sha256);
  if (!pending) throw new Error(`model ${card.id} was not delivered to the page`);
  const bytes = await pending;
  const b = builds[engine.build];
  if (!b.binary) throw new Error(`onnxruntime-web's ${engine.build} binary was not delivered`);
  const s = await b.ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: engine.provider === "webgpu" ? ["webgpu", "wasm"] : ["wasm"],
    graphOptimizationLevel: "all",
  });
  sessions.set(key, s);
  return s;
}

/** Where a finished tile is reported: its pass, the plan's totals and the run's per-tile times. */
interface TileReport {
  pp: PassSpec;
  total: number;
  passes: number;
  tileMs: number[];
}

/**
 * Post one finished tile to the page: the ``box`` (output pixels) cut from an interleaved RGB
 * ``plane`` of width ``planeW`` whose first pixel is output pixel (``px0``, ``py0``), as RGBA bytes.
 */
function reportTile(
  job: number,
  index: number,
  box: Box,
  at: TileReport,
  ms: number,
  plane: Float32Array,
  planeW: number,
  px0: number,
  py0: number,
): void {
  const [cx0, cy0, cx1, cy1] = box;
  const kw = cx1 - cx0;
  const kh = cy1 - cy0;
  const rgba = new Uint8ClampedArray(kw * kh * 4);
  for (let j = 0; j < kh; j++) {
    for (let i = 0; i < kw; i++) {
      const a = ((cy0 - py0 + j) * planeW + (cx0 - px0 + i)) * 3;
      const d = (j * kw + i) * 4;
      rgba[d] = toByte(plane[a] ?? 0);
      rgba[d + 1] = toByte(plane[a + 1] ?? 0);
      rgba[d + 2] = toByte(plane[a + 2] ?? 0);
      rgba[d + 3] = 255;
    }
  }
  at.tileMs.push(ms);
  post(
    {
      type: "tile",
      job,
      index,
      total: at.total,
      pass: at.pp.pass_index,
      passes: at.passes,
      region: [cx0, cy0, cx1, cy1],
      out_size: at.pp.out_size,
      ms,
      rgba: rgba.buffer,
    },
    [rgba.buffer],
  );
}

async function runPass(
  r: PassRun,
  src: Float32Array,
  pp: PassSpec,
  total: number,
  passes: number,
  tileMs: number[],
): Promise<Float32Array> {
  const { job, card } = r;
  const [ow, oh] = pp.out_size;
  const srcW = pp.in_size[0];
  const out = new Float32Array(ow * oh * 3);
  const s = card.scale;
  for (const tile of pp.tiles) {
    // a cancel request is a message: let it in between tiles
    await new Promise((res) => setTimeout(res, 0));
    checkCancel(job);
    const [x0, y0, x1, y1] = tile.in_box;
    const [pw, ph] = tile.padded;
    const patch = cutPadded(src, srcW, tile.in_box, pw, ph, card.pad_mode);
    const t0 = performance.now();
    const y = r.tta
      ? await augmentedMean(
          patch,
          pw,
          ph,
          3,
          (a, w, h) => infer(r, a, w, h),
          undoInterleaved(card.scale),
          () => checkCancel(job),
        )
      : await infer(r, patch, pw, ph);
    const ms = performance.now() - t0;
    const yw = pw * s;
    const cw = (x1 - x0) * s;
    const ch = (y1 - y0) * s;
    const [left, top, right, bottom] = tile.bands;
    const wx = axisWeights(cw, left, right);
    const wy = axisWeights(ch, top, bottom);
    const [ox0, oy0] = tile.out_box;
    for (let j = 0; j < ch; j++) {
      const fy = wy[j] ?? 1;
      for (let i = 0; i < cw; i++) {
        const f = Math.fround(fy * (wx[i] ?? 1));
        const a = (j * yw + i) * 3;
        const b = ((oy0 + j) * ow + ox0 + i) * 3;
        out[b] = (out[b] ?? 0) + Math.fround((y[a] ?? 0) * f);
        out[b + 1] = (out[b + 1] ?? 0) + Math.fround((y[a + 1] ?? 0) * f);
        out[b + 2] = (out[b + 2] ?? 0) + Math.fround((y[a + 2] ?? 0) * f);
      }
    }
    // the plane y holds the tile's output from (ox0, oy0) on
    reportTile(job, tile.index, tile.core_box, { pp, total, passes, tileMs }, ms, y, yw, ox0, oy0);
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i] ?? 0));
  return out;
}

/**
 * engine.py `run_global_lab`: one whole-image model call at the plan's working size (colorize.py
 * `colorize_array`, ported in lab.ts), reported and painted as one tile covering the output.
 */
async function runGlobalLab(
  r: PassRun,
  src: Float32Array,
  pp: PassSpec,
  total: number,
  passes: number,
  tileMs: number[],
): Promise<Float32Array> {
  const { job, card } = r;
  const tile = pp.tiles[0];
  if (!tile || pp.tiles.length !== 1)
    throw new Error(`a global-lab pass has one tile, not ${pp.tiles.length}`);
  await new Promise((res) => setTimeout(res, 0));
  checkCancel(job);
  const [w, h] = pp.in_size;
  const [ww, wh] = tile.padded;
  let ms = 0;
  const out = await colorize(src, w, h, ww, wh, card.strength, async (x, pw, ph) => {
    const t0 = performance.now();
    const y = r.tta
      ? await augmentedMean(
          x,
          pw,
          ph,
          1,
          (a, w, h) => inferLab(r, a, w, h),
          undoPlanar(2),
          () => checkCancel(job),
        )
      : await inferLab(r, x, pw, ph);
    ms += performance.now() - t0;
    return y;
  });
  checkCancel(job);
  reportTile(job, tile.index, tile.core_box, { pp, total, passes, tileMs }, ms, out, w, 0, 0);
  return out;
}

type RunMsg = Extract<ToWorker, { type: "run" }>;

interface PlanOut {
  rgb: Float32Array;
  w: number;
  h: number;
  tileMs: number[];
  passMs: number[];
  loadMs: number;
}

/** Every pass of the plan on one build and provider. */
async function runPlan(msg: RunMsg, engine: Engine, rgb0: Float32Array): Promise<PlanOut> {
  const { job, plan, cards } = msg;
  const rt = builds[engine.build].ort;
  const t0 = performance.now();
  const sess: Session[] = [];
  for (const card of cards) sess.push(await session(card, engine));
  const loadMs = performance.now() - t0;
  const tileMs: number[] = [];
  const passMs: number[] = [];
  let rgb = rgb0;
  let [w, h] = plan.in_size;
  for (let i = 0; i < plan.passes.length; i++) {
    const pp = plan.passes[i] as PassSpec;
    const card = cards[i] as EngineCard;
    const s = sess[i] as Session;
    const outName =
      card.output_name && s.outputNames.includes(card.output_name) ? card.output_name : s.outputNames[0];
    const r: PassRun = {
      job,
      rt,
      sess: s,
      card,
      outName: outName ?? "",
      extras: extraFeeds(rt, card),
      tta: msg.tta,
    };
    const p0 = performance.now();
    rgb =
      card.pipeline === "global-lab"
        ? await runGlobalLab(r, rgb, pp, plan.total_tiles, plan.passes.length, tileMs)
        : await runPass(r, rgb, pp, plan.total_tiles, plan.passes.length, tileMs);
    passMs.push(performance.now() - p0);
    [w, h] = pp.out_size;
  }
  return { rgb, w, h, tileMs, passMs, loadMs };
}

/** Hex sha256 of an array's bytes (little-endian, as numpy's `tobytes()` on this machine). */
function pixelsSha256(data: Float32Array | Uint8Array): Promise<string> {
  return sha256Hex(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer);
}

async function run(msg: RunMsg): Promise<void> {
  const { job, plan, cards } = msg;
  setBinary("wasm", msg.wasm);
  setBinary("webgpu", msg.wasm_webgpu);
  for (const [sha256, pieces] of Object.entries(msg.models)) keepModel(sha256, join(pieces));
  if (cards.length !== plan.passes.length)
    throw new Error(`${cards.length} model cards for ${plan.passes.length} passes`);
  const src = await decode(msg.source);
  const inputSha = await pixelsSha256(src.rgb);
  if (src.w !== plan.in_size[0] || src.h !== plan.in_size[1]) {
    throw new Error(`image is ${src.w}x${src.h} but the plan is for ${plan.in_size[0]}x${plan.in_size[1]}`);
  }
  let { engine, note } = await choose(msg.provider);
  let out: PlanOut;
  try {
    out = await runPlan(msg, engine, src.rgb);
  } catch (err) {
    if (err instanceof Cancelled || engine.provider !== "webgpu") throw err;
    // WebGPU could not create the session or run a tile: the whole plan again on wasm
    note = `WebGPU failed (${err instanceof Error ? err.message : String(err)}); ran on wasm`;
    engine = { build: builds.wasm.binary ? "wasm" : "webgpu", provider: "wasm" };
    out = await runPlan(msg, engine, src.rgb);
  }
  const alpha = msg.image.alpha ? resizePlane(src.alpha, src.w, src.h, out.w, out.h) : null;
  // colorize turns grey into colour (images.py `with_colour_output`): RGB(A) out whatever came in
  const gray = msg.image.gray && !cards.some((c) => c.pipeline === "global-lab");
  const { planes, channels, mode } = outputPlanes(out.rgb, alpha, gray);
  const png = await encodePng(planes, out.w, out.h, channels);
  const outputSha = await pixelsSha256(planes);
  post(
    {
      type: "done",
      job,
      png,
      mode,
      provider: engine.provider,
      provider_note: note,
      version: builds[engine.build].ort.env.versions.web ?? "",
      tile_ms: out.tileMs,
      pass_ms: out.passMs,
      load_ms: out.loadMs,
      out_size: [out.w, out.h],
      input_sha256: inputSha,
      output_sha256: outputSha,
    },
    [png],
  );
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "cancel") {
    cancelled.add(msg.job);
    return;
  }
  run(msg).catch((err: unknown) => {
    if (err instanceof Cancelled) {
      post({ type: "cancelled", job: msg.job, after_tiles: -1 });
    } else {
      const e = err instanceof Error ? err : new Error(String(err));
      post({ type: "error", job: msg.job, error: e.name || "Error", message: e.message });
    }
  });
};
