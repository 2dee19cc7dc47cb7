// Pixel math of the browser engine, as the kernel engine does it (src/enhance_widget/images.py,
// colorize.py, runtimes/tta.py): float32 byte rounding, Rec. 601 luma, Pillow's resampling
// filters ported, the output planes in the input's kind, and the flips/rotations of TTA.

const f32 = Math.fround;

/** numpy's `rint(clip(v, 0, 1) * 255)` on float32: round half to even. */
export function toByte(v: number): number {
  const c = f32(Math.min(1, Math.max(0, v)) * 255);
  const r = Math.round(c);
  return c - Math.floor(c) === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/** images.py `luma`: Rec. 601 in float32, as numpy computes it. */
export function luma(rgb: Float32Array): Float32Array {
  const n = rgb.length / 3;
  const y = new Float32Array(n);
  const kr = f32(0.299);
  const kg = f32(0.587);
  const kb = f32(0.114);
  for (let i = 0; i < n; i++) {
    const r = f32((rgb[i * 3] ?? 0) * kr);
    const g = f32((rgb[i * 3 + 1] ?? 0) * kg);
    const b = f32((rgb[i * 3 + 2] ?? 0) * kb);
    y[i] = f32(f32(r + g) + b);
  }
  return y;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const t = x * Math.PI;
  return Math.sin(t) / t;
}

/** Pillow's resampling filters (Resample.c): the kernel and its support in input pixels. */
export type Filter = "bilinear" | "bicubic" | "lanczos";

const FILTERS: Record<Filter, { support: number; fn: (x: number) => number }> = {
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    // Keys' cubic convolution with a = -0.5, as Resample.c `bicubic_filter`
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Pillow's `precompute_coeffs` (Resample.c): per output pixel, its first input pixel, count and weights. */
function coeffs(
  inSize: number,
  outSize: number,
  filter: Filter,
): { bounds: Int32Array; kk: Float64Array; ksize: number } {
  const { support: base, fn } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = fn((x + xmin - center + 0.5) * ss);
      kk[xx * ksize + x] = v;
      ww += v;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) kk[xx * ksize + x] = (kk[xx * ksize + x] ?? 0) / ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

/**
 * Pillow's resize of a mode "F" (float32) plane with `filter`: the separable two-pass
 * convolution of Resample.c (horizontal pass, then vertical; double sums, float32 between and
 * after the passes). No clipping: bicubic and Lanczos overshoot.
 */
export function resample(
  plane: Float32Array,
  w: number,
  h: number,
  ow: number,
  oh: number,
  filter: Filter,
): Float32Array {
  if (w === ow && h === oh) return plane.slice();
  let cur = plane;
  let cw = w;
  if (ow !== w) {
    const { bounds, kk, ksize } = coeffs(w, ow, filter);
    const out = new Float32Array(ow * h);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < ow; xx++) {
        const xmin = bounds[xx * 2] ?? 0;
        const xmax = bounds[xx * 2 + 1] ?? 0;
        let ss = 0;
        for (let x = 0; x < xmax; x++) ss += (cur[y * cw + x + xmin] ?? 0) * (kk[xx * ksize + x] ?? 0);
        out[y * ow + xx] = ss;
      }
    }
    cur = out;
    cw = ow;
  }
  if (oh !== h) {
    const { bounds, kk, ksize } = coeffs(h, oh, filter);
    const out = new Float32Array(cw * oh);
    for (let yy = 0; yy < oh; yy++) {
      const ymin = bounds[yy * 2] ?? 0;
      const ymax = bounds[yy * 2 + 1] ?? 0;
      for (let x = 0; x < cw; x++) {
        let ss = 0;
        for (let y = 0; y < ymax; y++) ss += (cur[(y + ymin) * cw + x] ?? 0) * (kk[yy * ksize + y] ?? 0);
        out[yy * cw + x] = ss;
      }
    }
    cur = out;
  }
  return cur;
}

/** images.py `resize_plane`: Pillow's Lanczos resize of a mode "F" plane, clipped to 0..1. */
export function resizePlane(plane: Float32Array, w: number, h: number, ow: number, oh: number): Float32Array {
  if (w === ow && h === oh) return plane;
  return resample(plane, w, h, ow, oh, "lanczos").map((v) => Math.min(1, Math.max(0, v)));
}

/** The result in the input's kind (images.py `to_array`): grey -> luma, alpha appended. */
export function outputPlanes(
  rgb: Float32Array,
  alpha: Float32Array | null,
  gray: boolean,
): { planes: Uint8Array; channels: number; mode: string } {
  const n = rgb.length / 3;
  const colour = gray ? 1 : 3;
  const channels = colour + (alpha ? 1 : 0);
  const planes = new Uint8Array(n * channels);
  const y = gray ? luma(rgb) : null;
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    if (y) planes[o] = toByte(y[i] ?? 0);
    else {
      planes[o] = toByte(rgb[i * 3] ?? 0);
      planes[o + 1] = toByte(rgb[i * 3 + 1] ?? 0);
      planes[o + 2] = toByte(rgb[i * 3 + 2] ?? 0);
    }
    if (alpha) planes[o + colour] = toByte(alpha[i] ?? 0);
  }
  const mode = (gray ? "L" : "RGB") + (alpha ? "A" : "");
  return { planes, channels, mode };
}

/**
 * np.rot90(a, 1) on the two spatial axes of an HxWxC image (C = `channels`, interleaved;
 * counter-clockwise); new size h x w.
 */
export function rot90(a: Float32Array, w: number, h: number, channels = 3): Float32Array {
  // out has w rows and h columns: out[i][j] = a[j][w - 1 - i]
  const out = new Float32Array(a.length);
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) {
      const s = (j * w + (w - 1 - i)) * channels;
      const d = (i * h + j) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = a[s + c] ?? 0;
    }
  }
  return out;
}

/** np.flip along the width of an HxWxC image. */
export function flipW(a: Float32Array, w: number, h: number, channels = 3): Float32Array {
  const out = new Float32Array(a.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + (w - 1 - x)) * channels;
      const d = (y * w + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = a[s + c] ?? 0;
    }
  }
  return out;
}

/** rot90 `k` times (k in 0..3), returning the image and its new width and height. */
export function rotate(
  a: Float32Array,
  w: number,
  h: number,
  k: number,
  channels = 3,
): { a: Float32Array; w: number; h: number } {
  let cur = { a, w, h };
  for (let i = 0; i < ((k % 4) + 4) % 4; i++) {
    cur = { a: rot90(cur.a, cur.w, cur.h, channels), w: cur.h, h: cur.w };
  }
  return cur;
}
