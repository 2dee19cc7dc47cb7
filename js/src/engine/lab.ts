// The colorize pass ("global-lab" pipeline) of the browser engine, ported from
// src/enhance_widget/colorize.py `colorize_array` formula for formula: the photo's CIELab L (D65,
// float64 arithmetic, float32 result) at full resolution, resized to the model's working size
// with Pillow's bicubic filter, the model's a/b (units of 128) scaled by the strength, upsampled
// with Pillow's bilinear filter, recombined with the full-resolution L and converted back to sRGB,
// clipped to 0..1. Independent of the model's bytes: only its input/output contract matters.

import { type Filter, resample } from "./pixels";

const f32 = Math.fround;

/** colorize.py `AB_SCALE`: the model returns a / 128 and b / 128. */
export const AB_SCALE = 128;
/** colorize.py `_resize_plane` filters: L down to the working size, a/b back up. */
export const L_FILTER: Filter = "bicubic";
export const AB_FILTER: Filter = "bilinear";

// sRGB (linear) -> XYZ, D65 (colorize.py `_RGB_TO_XYZ`), its numpy inverse (`_XYZ_TO_RGB`, the
// exact float64 values numpy's `linalg.inv` gives) and the white (row sums, `_WHITE`).
const M = [0.4124564, 0.3575761, 0.1804375, 0.2126729, 0.7151522, 0.072175, 0.0193339, 0.119192, 0.9503041];
const INV = [
  3.2404548360214087, -1.5371388501025751, -0.498531546868481, -0.9692663898756538, 1.876010928842491,
  0.041556082346673545, 0.05564341960421367, -0.20402585426769818, 1.057225162457929,
];
const WHITE = [0.95047, 1.0000001, 1.08883];
const DELTA = 6 / 29;
const DELTA3 = 0.008856451679035631; // _DELTA ** 3
const K = 0.12841854934601665; // 3 * _DELTA ** 2
const F0 = 4 / 29;

function toLinear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function toSrgb(c0: number): number {
  const c = Math.max(c0, 0);
  return c <= 0.0031308 ? c * 12.92 : 1.055 * c ** (1 / 2.4) - 0.055;
}

function m(i: number): number {
  return M[i] ?? 0;
}

function inv(i: number): number {
  return INV[i] ?? 0;
}

/** colorize.py `rgb_to_lab(...)[..., 0]`: CIELab L (0..100, float32) of HxWx3 sRGB (clipped to 0..1). */
export function lightness(rgb: Float32Array): Float32Array {
  const n = rgb.length / 3;
  const out = new Float32Array(n);
  const wy = WHITE[1] ?? 1;
  for (let i = 0; i < n; i++) {
    const r = toLinear(Math.min(1, Math.max(0, rgb[i * 3] ?? 0)));
    const g = toLinear(Math.min(1, Math.max(0, rgb[i * 3 + 1] ?? 0)));
    const b = toLinear(Math.min(1, Math.max(0, rgb[i * 3 + 2] ?? 0)));
    const y = (r * m(3) + g * m(4) + b * m(5)) / wy;
    const fy = y > DELTA3 ? Math.cbrt(y) : y / K + F0;
    out[i] = 116 * fy - 16;
  }
  return out;
}

function finv(f: number): number {
  return f > DELTA ? f ** 3 : K * (f - F0);
}

/** colorize.py `lab_to_rgb(..., clip=True)` of planes L, a, b: HxWx3 float32 sRGB in 0..1. */
export function labToRgb(L: Float32Array, A: Float32Array, B: Float32Array): Float32Array {
  const n = L.length;
  const out = new Float32Array(n * 3);
  const [wx, wy, wz] = [WHITE[0] ?? 1, WHITE[1] ?? 1, WHITE[2] ?? 1];
  for (let i = 0; i < n; i++) {
    const fy = ((L[i] ?? 0) + 16) / 116;
    const x = finv(fy + (A[i] ?? 0) / 500) * wx;
    const y = finv(fy) * wy;
    const z = finv(fy - (B[i] ?? 0) / 200) * wz;
    const rgb = [
      x * inv(0) + y * inv(1) + z * inv(2),
      x * inv(3) + y * inv(4) + z * inv(5),
      x * inv(6) + y * inv(7) + z * inv(8),
    ];
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.min(1, Math.max(0, toSrgb(rgb[c] ?? 0)));
  }
  return out;
}

/**
 * The model on the L plane at the working size: input float32 `wh x ww` (L / 100), output the
 * two planes a/128 then b/128 (float32 `2 x wh x ww`, channel-major as the model's NCHW output).
 */
export type LabModel = (x: Float32Array, ww: number, wh: number) => Promise<Float32Array>;

/**
 * colorize.py `colorize_array`: colour an HxWx3 sRGB image (`w` x `h`) from the model's a/b at
 * the working size `ww` x `wh` (the plan's), keeping the image's own full-resolution L.
 */
export async function colorize(
  rgb: Float32Array,
  w: number,
  h: number,
  ww: number,
  wh: number,
  strength: number,
  model: LabModel,
): Promise<Float32Array> {
  if (!(strength >= 0 && strength <= 1.5)) throw new Error(`strength must be within 0..1.5, got ${strength}`);
  const lum = lightness(rgb);
  const small = resample(lum, w, h, ww, wh, L_FILTER);
  const x = new Float32Array(ww * wh);
  for (let i = 0; i < x.length; i++) x[i] = Math.min(1, Math.max(0, f32((small[i] ?? 0) / 100)));
  const ab = await model(x, ww, wh);
  const plane = ww * wh;
  if (ab.length !== 2 * plane)
    throw new Error(`the model returned ${ab.length} values, expected 2 x ${wh} x ${ww}`);
  const k = f32(AB_SCALE * strength);
  const scaled = (c: number): Float32Array => {
    const p = new Float32Array(plane);
    for (let i = 0; i < plane; i++) p[i] = f32((ab[c * plane + i] ?? 0) * k);
    return p;
  };
  const a = resample(scaled(0), ww, wh, w, h, AB_FILTER);
  const b = resample(scaled(1), ww, wh, w, h, AB_FILTER);
  return labToRgb(lum, a, b);
}
