// One model call of the browser engine: tensors in the card's layout and value range, the
// constant extra inputs, and the output checked against the card (engine.py / runtimes/ort.py).

import type * as ortWasm from "onnxruntime-web/wasm";
import type { EngineCard } from "./types";

/** onnxruntime-web's plain WASM build, or its WebGPU build (asyncify; also runs the wasm EP). */
export type Ort = typeof ortWasm;
export type Session = ortWasm.InferenceSession;

function toTensor(rt: Ort, patch: Float32Array, pw: number, ph: number, card: EngineCard): ortWasm.Tensor {
  const k = card.value_range;
  if (card.layout === "NHWC") {
    const data = k === 1 ? patch : patch.map((v) => v * k);
    return new rt.Tensor("float32", data, [1, ph, pw, 3]);
  }
  const plane = pw * ph;
  const data = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    data[i] = (patch[i * 3] ?? 0) * k;
    data[plane + i] = (patch[i * 3 + 1] ?? 0) * k;
    data[2 * plane + i] = (patch[i * 3 + 2] ?? 0) * k;
  }
  return new rt.Tensor("float32", data, [1, 3, ph, pw]);
}

/** Model output as HxWx3 float (0..1 scale), whatever its layout and channel count. */
function fromTensor(t: ortWasm.Tensor, card: EngineCard): { y: Float32Array; w: number; h: number } {
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

/** What one pass runs with: the build, its session, the model's card and constant inputs. */
export interface PassRun {
  job: number;
  rt: Ort;
  sess: Session;
  card: EngineCard;
  outName: string;
  extras: Record<string, ortWasm.Tensor>;
  tta: boolean;
}

/** engine.py `extra_feeds`: each non-image input is a constant float32 tensor. */
export function extraFeeds(rt: Ort, card: EngineCard): Record<string, ortWasm.Tensor> {
  const feeds: Record<string, ortWasm.Tensor> = {};
  for (const e of card.extra) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    feeds[e.name] = new rt.Tensor("float32", new Float32Array(n).fill(e.value), e.shape);
  }
  return feeds;
}

/** One model call on an HxWx3 patch; the output (HxWx3, scaled) is checked against the card. */
export async function infer(r: PassRun, patch: Float32Array, pw: number, ph: number): Promise<Float32Array> {
  const { card } = r;
  const res = await r.sess.run({ [card.input_name]: toTensor(r.rt, patch, pw, ph, card), ...r.extras });
  const tensor = res[r.outName];
  if (!tensor) throw new Error(`model ${card.id} has no output ${r.outName}`);
  const { y, w, h } = fromTensor(tensor, card);
  tensor.dispose();
  const s = card.scale;
  if (w !== pw * s || h !== ph * s) {
    throw new Error(`model ${card.id} returned ${w}x${h} for a ${pw}x${ph} input; its card says scale x${s}`);
  }
  return y;
}

/** One call of a colorize ("global-lab") model: L / 100 (`ph` x `pw`) in, a/128 and b/128 planes out. */
export async function inferLab(r: PassRun, x: Float32Array, pw: number, ph: number): Promise<Float32Array> {
  const { card } = r;
  const res = await r.sess.run({
    [card.input_name]: new r.rt.Tensor("float32", x, [1, 1, ph, pw]),
    ...r.extras,
  });
  const tensor = res[r.outName];
  if (!tensor) throw new Error(`model ${card.id} has no output ${r.outName}`);
  const d = tensor.dims.map(Number);
  if (d.length !== 4 || d[0] !== 1 || d[1] !== 2 || d[2] !== ph || d[3] !== pw) {
    tensor.dispose();
    throw new Error(`model ${card.id} returned shape [${d.join(", ")}], expected [1, 2, ${ph}, ${pw}]`);
  }
  const y = Float32Array.from(tensor.data as Float32Array);
  tensor.dispose();
  return y;
}
