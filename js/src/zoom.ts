// Zoom levels of the compare view, in device pixels per output pixel (1 = 1:1 on any screen).

const LEVELS = [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
export const MIN_ZOOM = 0.02;
export const MAX_ZOOM = 64;

/** The next level up (`direction` 1) or down (-1) from `zoom`; the limit past the last one. */
export function nextZoom(zoom: number, direction: 1 | -1): number {
  const next =
    direction > 0
      ? LEVELS.find((l) => l > zoom * 1.001)
      : [...LEVELS].reverse().find((l) => l < zoom / 1.001);
  return next ?? (direction > 0 ? MAX_ZOOM : MIN_ZOOM);
}
