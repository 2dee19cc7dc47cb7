// The browser engine's worker: decode, tile, run onnxruntime-web, blend, encode, all off the
// main thread. Bundled separately by build.mjs and started from a Blob URL (see runner.ts).

import * as ort from "onnxruntime-web/wasm";
import { axisWeights, cutPadded } from "./blend";
import type { EngineCard, FromWorker, PassSpec, ToWorker } from "./types";

const scope = self as unknown as {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};
const sessions = new Map<string, ort.InferenceSession>();
const cancelled = new Set<number>();
let wasmSet = false;

class Cancelled extends Error {}

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(msg, transfer);
}

async function session(card: EngineCard, models: Record<string, ArrayBuffer>): Promise<ort.InferenceSession> {
  const known = sessions.get(card.sha256);
  if (known) return known;
  const bytes = models[card.sha256];
  if (!bytes) throw new Error(`model ${card.id} was not delivered to the page`);
  const s = await ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  sessions.set(card.sha256, s);
  return s;
}

async function decode(source: ArrayBuffer): Promise<{ rgb: Float32Array; w: number; h: number }> {
  const bmp = await createImageBitmap(new Blob([source]), {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const w = bmp.width;
  const h = bmp.height;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("no 2d context in the worker");
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const px = ctx.getImageData(0, 0, w, h).data;
  const rgb = new Float32Array(w * h * 3);
  for (let i = 0, j = 0; i < px.length; i += 4, j += 3) {
    rgb[j] = (px[i] ?? 0) / 255;
    rgb[j + 1] = (px[i + 1] ?? 0) / 255;
    rgb[j + 2] = (px[i + 2] ?? 0) / 255;
  }
  return { rgb, w, h };
}

function toTensor(patch: Float32Array, pw: number, ph: number, card: EngineCard): ort.Tensor {
  const k = card.value_range;
  if (card.layout === "NHWC") {
    const data = k === 1 ? patch : patch.map((v) => v * k);
    return new ort.Tensor("float32", data, [1, ph, pw, 3]);
  }
  const plane = pw * ph;
  const data = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    data[i] = (patch[i * 3] ?? 0) * k;
    data[plane + i] = (patch[i * 3 + 1] ?? 0) * k;
    data[2 * plane + i] = (patch[i * 3 + 2] ?? 0) * k;
  }
  return new ort.Tensor("float32", data, [1, 3, ph, pw]);
}

/** Model output as HxWx3 float (0..1 scale), whatever its layout and channel count. */
function fromTensor(t: ort.Tensor, card: EngineCard): { y: Float32Array; w: number; h: number } {
  const d = t.dims;
  if (d.length !== 4 || d[0] !== 1) throw new Error(`model ${card.id} returned shape [${d.join(", ")}]`);
  const nchw = card.layout === "NCHW";
  const h = Number(nchw ? d[2] : d[1]);
  const w = Number(nchw ? d[3] : d[2]);
  const c = Number(nchw ? d[1] : d[3]);
  const src = t.data as Float32Array;
  const k = card.value_range;
  const y = new Float32Array(w * h * 3);
  const plane = w * h;
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const cc = c === 1 ? 0 : ch;
      const v = nchw ? src[cc * plane + i] : src[i * c + cc];
      y[i * 3 + ch] = k === 1 ? (v ?? 0) : (v ?? 0) / k;
    }
  }
  return { y, w, h };
}

function toByte(v: number): number {
  const c = Math.min(1, Math.max(0, v)) * 255;
  // numpy.rint: round half to even
  const r = Math.round(c);
  return Math.abs(c - Math.trunc(c) - 0.5) < 1e-9 && r % 2 === 1 ? r - 1 : r;
}

async function runPass(
  job: number,
  src: Float32Array,
  pp: PassSpec,
  card: EngineCard,
  sess: ort.InferenceSession,
  total: number,
  passes: number,
  tileMs: number[],
): Promise<Float32Array> {
  const [ow, oh] = pp.out_size;
  const srcW = pp.in_size[0];
  const out = new Float32Array(ow * oh * 3);
  const s = card.scale;
  const outName =
    card.output_name && sess.outputNames.includes(card.output_name) ? card.output_name : sess.outputNames[0];
  for (const tile of pp.tiles) {
    // a cancel request is a message: let it in between tiles
    await new Promise((r) => setTimeout(r, 0));
    if (cancelled.has(job)) throw new Cancelled();
    const [x0, y0, x1, y1] = tile.in_box;
    const [pw, ph] = tile.padded;
    const patch = cutPadded(src, srcW, tile.in_box, pw, ph, card.pad_mode);
    const t0 = performance.now();
    const res = await sess.run({ [card.input_name]: toTensor(patch, pw, ph, card) });
    const ms = performance.now() - t0;
    const tensor = res[outName ?? ""];
    if (!tensor) throw new Error(`model ${card.id} has no output ${outName}`);
    const { y, w: yw, h: yh } = fromTensor(tensor, card);
    tensor.dispose();
    if (yw !== pw * s || yh !== ph * s) {
      throw new Error(
        `model ${card.id} returned ${yw}x${yh} for a ${pw}x${ph} input; its card says scale x${s}`,
      );
    }
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
    const [cx0, cy0, cx1, cy1] = tile.core_box;
    const kw = cx1 - cx0;
    const kh = cy1 - cy0;
    const rgba = new Uint8ClampedArray(kw * kh * 4);
    for (let j = 0; j < kh; j++) {
      for (let i = 0; i < kw; i++) {
        const a = ((cy0 - oy0 + j) * yw + (cx0 - ox0 + i)) * 3;
        const d = (j * kw + i) * 4;
        rgba[d] = toByte(y[a] ?? 0);
        rgba[d + 1] = toByte(y[a + 1] ?? 0);
        rgba[d + 2] = toByte(y[a + 2] ?? 0);
        rgba[d + 3] = 255;
      }
    }
    tileMs.push(ms);
    post(
      {
        type: "tile",
        job,
        index: tile.index,
        total,
        pass: pp.pass_index,
        passes,
        region: [cx0, cy0, cx1, cy1],
        out_size: [ow, oh],
        ms,
        rgba: rgba.buffer,
      },
      [rgba.buffer],
    );
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i] ?? 0));
  return out;
}

async function encode(rgb: Float32Array, w: number, h: number): Promise<ArrayBuffer> {
  const px = new Uint8ClampedArray(w * h * 4);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    px[i] = toByte(rgb[j] ?? 0);
    px[i + 1] = toByte(rgb[j + 1] ?? 0);
    px[i + 2] = toByte(rgb[j + 2] ?? 0);
    px[i + 3] = 255;
  }
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d context in the worker");
  ctx.putImageData(new ImageData(px, w, h), 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  return blob.arrayBuffer();
}

async function run(msg: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const { job, plan, cards } = msg;
  if (!wasmSet) {
    if (!msg.wasm) throw new Error("onnxruntime-web's wasm binary was not delivered");
    ort.env.wasm.wasmBinary = msg.wasm;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    wasmSet = true;
  }
  const t0 = performance.now();
  const sess: ort.InferenceSession[] = [];
  for (const card of cards) sess.push(await session(card, msg.models));
  const loadMs = performance.now() - t0;
  let { rgb, w, h } = await decode(msg.source);
  if (w !== plan.in_size[0] || h !== plan.in_size[1]) {
    throw new Error(`image is ${w}x${h} but the plan is for ${plan.in_size[0]}x${plan.in_size[1]}`);
  }
  const tileMs: number[] = [];
  const passMs: number[] = [];
  if (cards.length !== plan.passes.length)
    throw new Error(`${cards.length} model cards for ${plan.passes.length} passes`);
  for (let i = 0; i < plan.passes.length; i++) {
    const pp = plan.passes[i] as PassSpec;
    const p0 = performance.now();
    rgb = await runPass(
      job,
      rgb,
      pp,
      cards[i] as EngineCard,
      sess[i] as ort.InferenceSession,
      plan.total_tiles,
      plan.passes.length,
      tileMs,
    );
    passMs.push(performance.now() - p0);
    [w, h] = pp.out_size;
  }
  const png = await encode(rgb, w, h);
  post(
    {
      type: "done",
      job,
      png,
      provider: "wasm",
      version: ort.env.versions.web ?? "",
      tile_ms: tileMs,
      pass_ms: passMs,
      load_ms: loadMs,
      out_size: [w, h],
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
