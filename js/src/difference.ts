// The difference view's contrast: the |before - after| pixels are stretched so that the brightest
// change (the 99.5th percentile, so a few outliers do not decide) reaches white.

/** The stretch applied: `gain` (1 to 64) and the change `top` (0..255) it maps to white. */
export interface Stretch {
  gain: number;
  top: number;
}

/** Stretch RGBA difference pixels in place (when the gain is above 1); returns the stretch. */
export function stretchDifference(d: Uint8ClampedArray): Stretch {
  const hist = new Uint32Array(256);
  for (let i = 0; i < d.length; i += 4) {
    const v = Math.max(d[i] ?? 0, d[i + 1] ?? 0, d[i + 2] ?? 0);
    hist[v] = (hist[v] ?? 0) + 1;
  }
  const n = d.length / 4;
  let seen = 0;
  let top = 255;
  for (let v = 255; v >= 0; v--) {
    seen += hist[v] ?? 0;
    if (seen >= n * 0.005) {
      top = v;
      break;
    }
  }
  const gain = Math.min(64, Math.max(1, 255 / Math.max(top, 1)));
  if (gain > 1) {
    for (let i = 0; i < d.length; i += 4) {
      d[i] = Math.min(255, (d[i] ?? 0) * gain);
      d[i + 1] = Math.min(255, (d[i + 1] ?? 0) * gain);
      d[i + 2] = Math.min(255, (d[i + 2] ?? 0) * gain);
    }
  }
  return { gain, top };
}

/** The legend shown on the difference view. */
export function differenceLegend({ gain, top }: Stretch): string {
  const white = Math.max(1, Math.round(255 / gain));
  return top === 0
    ? "Difference: no change"
    : `Difference ×${gain.toFixed(1)}: white = a change of ${white}/255 or more`;
}
