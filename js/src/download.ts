// Download: the result as PNG (the exact bytes the kernel made), JPEG or WebP (encoded here).

import type { DownloadFormat } from "./controls";
import { h } from "./dom";
import type { LastRun } from "./protocol";

const MIME: Record<DownloadFormat, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

/**
 * The file to download: the PNG bytes as they are, or `result` encoded as JPEG / WebP at
 * `quality` (0-100). null: this browser cannot write that format; undefined: no canvas here.
 */
export async function resultBlob(
  png: Uint8Array,
  result: ImageBitmap,
  format: DownloadFormat,
  quality: number,
): Promise<Blob | null | undefined> {
  if (format === "png") {
    const copy = new Uint8Array(png.byteLength);
    copy.set(png);
    return new Blob([copy.buffer], { type: MIME.png });
  }
  const c = document.createElement("canvas");
  c.width = result.width;
  c.height = result.height;
  const ctx = c.getContext("2d");
  if (!ctx) return undefined;
  if (format === "jpeg") {
    ctx.fillStyle = "#ffffff"; // JPEG has no transparency
    ctx.fillRect(0, 0, c.width, c.height);
  }
  ctx.drawImage(result, 0, 0);
  return await new Promise<Blob | null>((ok) => c.toBlob(ok, MIME[format], quality / 100));
}

/** `<stem>_<task>[x<scale>].<ext>`, named as Save names its file in Python (output_names.py). */
export function downloadName(sourceName: string, run: LastRun, format: DownloadFormat): string {
  const name = sourceName || "photo";
  const stem = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name;
  const tag = run.task === "upscale" && run.scale ? `upscalex${run.scale}` : (run.task ?? "enhanced");
  const safe = stem.replace(/[^\p{L}\p{N}._-]+/gu, "_") || "photo";
  return `${safe}_${tag}.${format === "jpeg" ? "jpg" : format}`;
}

/** Hand `blob` to the browser as a download named `name` (through a link in `root`). */
export function saveBlob(root: HTMLElement, blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  root.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
