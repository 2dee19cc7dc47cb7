// The blending window and padding of the kernel engine (src/enhance_widget/tiling.py `ramp`,
// `axis_weights`; engine.py `pad_to`), ported formula for formula so both engines agree.

/** Weight of the tile that enters an overlap band of `band` pixels, at offset `i`. */
export function ramp(i: number, band: number): number {
  if (band <= 0) return 1.0;
  let r = (i + 0.5 - band / 4) / (band / 2);
  r = Math.min(1.0, Math.max(0.0, r));
  return 0.5 - 0.5 * Math.cos(Math.PI * r);
}

/** Blend weights along one axis of a tile's output of `size` pixels. */
export function axisWeights(size: number, bandBefore: number, bandAfter: number): Float64Array {
  const w = new Float64Array(size).fill(1.0);
  for (let i = 0; i < Math.min(bandBefore, size); i++) w[i] = ramp(i, bandBefore);
  for (let i = 0; i < Math.min(bandAfter, size); i++) {
    const j = size - bandAfter + i;
    w[j] = (w[j] ?? 1) * (1.0 - ramp(i, bandAfter));
  }
  return w;
}

/** numpy.pad index mapping for the right/bottom padding (`edge` or `reflect`). */
function padIndex(i: number, n: number, reflect: boolean): number {
  if (i < n) return i;
  if (!reflect || n < 2) return n - 1;
  const period = 2 * (n - 1);
  const k = i % period;
  return k < n ? k : period - k;
}

/**
 * Cut `box` out of an HxWx3 float image and pad it on the right/bottom to `pw` x `ph`,
 * as engine.py `pad_to` does (reflect only where the padding is smaller than the patch).
 */
export function cutPadded(
  src: Float32Array,
  srcW: number,
  box: [number, number, number, number],
  pw: number,
  ph: number,
  mode: string,
): Float32Array {
  const [x0, y0, x1, y1] = box;
  const w = x1 - x0;
  const h = y1 - y0;
  const padH = ph - h;
  const padW = pw - w;
  const reflect = mode === "reflect" && padH < h && padW < w;
  const out = new Float32Array(pw * ph * 3);
  for (let y = 0; y < ph; y++) {
    const sy = y0 + padIndex(y, h, reflect);
    for (let x = 0; x < pw; x++) {
      const sx = x0 + padIndex(x, w, reflect);
      const s = (sy * srcW + sx) * 3;
      const d = (y * pw + x) * 3;
      out[d] = src[s] ?? 0;
      out[d + 1] = src[s + 1] ?? 0;
      out[d + 2] = src[s + 2] ?? 0;
    }
  }
  return out;
}
