// Tiny DOM helpers. Text always goes in through textContent: names and errors are never HTML.

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === "class") node.className = String(value);
    else if (name === "text") node.textContent = String(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children)
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

export function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

let counter = 0;
/** A document-unique id prefix, so two views of one widget never share label targets. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 7)}`;
}

export function bytesOf(value: DataView | ArrayBuffer | null | undefined): Uint8Array | null {
  if (!value) return null;
  const view =
    value instanceof ArrayBuffer
      ? new Uint8Array(value)
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return view.byteLength > 0 ? view : null;
}

export async function decodeImage(bytes: Uint8Array): Promise<ImageBitmap> {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return createImageBitmap(new Blob([copy.buffer]), {
    premultiplyAlpha: "none",
    colorSpaceConversion: "none",
  });
}

/** Decodes image bytes for one picture, keeping only the latest request's bitmap. */
export class LatestDecode {
  private seq = 0;

  /** The bitmap; null: no bytes or undecodable; undefined: a newer decode overtook this one
   * (its bitmap is closed). */
  async decode(bytes: Uint8Array | null): Promise<ImageBitmap | null | undefined> {
    const seq = ++this.seq;
    const bitmap = bytes ? await decodeImage(bytes).catch(() => null) : null;
    if (seq !== this.seq) {
      bitmap?.close();
      return undefined;
    }
    return bitmap;
  }
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "unknown";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "?";
  if (s < 1) return "<1 s";
  if (s < 90) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
