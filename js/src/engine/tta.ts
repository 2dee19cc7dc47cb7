// runtimes/tta.py in the browser engine: the mean over the 8 flips/rotations of an input,
// summed in float32 in the same order as the kernel engine.

import { flipW, rotate } from "./pixels";

/** One model call on an image of `w` x `h`. */
type Call = (x: Float32Array, w: number, h: number) => Promise<Float32Array>;
/** Undo view `k` (rotations) and `flip` on one output of a `w` x `h` input. */
type Undo = (y: Float32Array, w: number, h: number, k: number, flip: boolean) => Float32Array;

export async function augmentedMean(
  x: Float32Array,
  w: number,
  h: number,
  channels: number,
  call: Call,
  undo: Undo,
  checkCancel: () => void,
): Promise<Float32Array> {
  let total: Float32Array | null = null;
  for (const flip of [false, true]) {
    const xf = flip ? flipW(x, w, h, channels) : x;
    for (let k = 0; k < 4; k++) {
      const xt = rotate(xf, w, h, k, channels);
      const yb = undo(await call(xt.a, xt.w, xt.h), xt.w, xt.h, k, flip);
      if (total === null) total = yb;
      else for (let i = 0; i < total.length; i++) total[i] = (total[i] ?? 0) + (yb[i] ?? 0);
      // a cancel request is a message to this worker, and a model call lets no message in: yield
      // between views, so Cancel waits for the call in flight, not for all 8 of the tile
      await new Promise((res) => setTimeout(res, 0));
      checkCancel();
    }
  }
  if (!total) throw new Error("no augmentation ran");
  for (let i = 0; i < total.length; i++) total[i] = (total[i] ?? 0) / 8;
  return total;
}

/** Undo for an HxWx3 output scaled by `s` (a tiled model). */
export function undoInterleaved(s: number): Undo {
  return (y, w, h, k, flip) => {
    const back = rotate(y, w * s, h * s, -k);
    return flip ? flipW(back.a, back.w, back.h) : back.a;
  };
}

/** Undo for `planes` planar outputs at the input size (the colorize model's a and b). */
export function undoPlanar(planes: number): Undo {
  return (y, w, h, k, flip) => {
    const plane = w * h;
    const out = new Float32Array(planes * plane);
    for (let c = 0; c < planes; c++) {
      const back = rotate(y.subarray(c * plane, (c + 1) * plane), w, h, -k, 1);
      out.set(flip ? flipW(back.a, back.w, back.h, 1) : back.a, c * plane);
    }
    return out;
  };
}
