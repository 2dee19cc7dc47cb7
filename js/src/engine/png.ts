// PNG in and out of the browser engine, as the kernel engine reads and writes them
// (src/enhance_widget/images.py): decoded exactly (no premultiplied canvas in between, so
// translucent pixels keep their colour), encoded here in the input's mode (L, LA, RGB, RGBA).

/** A decoded image: HxWx3 float RGB in 0..1 and an HxW alpha plane (1 where opaque). */
export interface Decoded {
  rgb: Float32Array;
  alpha: Float32Array;
  w: number;
  h: number;
}

const f32 = Math.fround;

async function through(
  data: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function u32(b: Uint8Array, i: number): number {
  return (((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0)) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decode an 8- or 16-bit non-interlaced PNG (grey, RGB, palette, grey+alpha, RGBA) the way
 * Pillow does; null for anything else (the caller then decodes through a canvas).
 */
export async function decodePng(buf: ArrayBuffer): Promise<Decoded | null> {
  const b = new Uint8Array(buf);
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (b.length < 33 || sig.some((v, i) => b[i] !== v)) return null;
  const w = u32(b, 16);
  const h = u32(b, 20);
  const depth = b[24] ?? 0;
  const ctype = b[25] ?? 0;
  const interlace = b[28] ?? 0;
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[ctype];
  if (!channels || interlace !== 0 || !(depth === 8 || (depth === 16 && ctype !== 3))) return null;
  const idat: Uint8Array[] = [];
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  for (let i = 8; i + 8 <= b.length; ) {
    const len = u32(b, i);
    const type = String.fromCharCode(b[i + 4] ?? 0, b[i + 5] ?? 0, b[i + 6] ?? 0, b[i + 7] ?? 0);
    const body = b.subarray(i + 8, i + 8 + len);
    if (type === "IDAT") idat.push(body);
    else if (type === "PLTE") palette = body;
    else if (type === "tRNS") trns = body;
    else if (type === "IEND") break;
    i += 12 + len;
  }
  if (ctype === 3 && !palette) return null;
  const joined = new Uint8Array(idat.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of idat) {
    joined.set(c, off);
    off += c.length;
  }
  const raw = await through(joined, new DecompressionStream("deflate"));
  const bpp = channels * (depth / 8);
  const stride = w * bpp;
  if (raw.length < h * (stride + 1)) throw new Error("the PNG's image data is truncated");
  const px = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x] ?? 0;
      const a = x >= bpp ? (px[row + x - bpp] ?? 0) : 0;
      const up = y > 0 ? (px[row - stride + x] ?? 0) : 0;
      const c = y > 0 && x >= bpp ? (px[row - stride + x - bpp] ?? 0) : 0;
      const p = [0, a, up, (a + up) >> 1, paeth(a, up, c)][filter];
      if (p === undefined) throw new Error(`the PNG uses an unknown row filter ${filter}`);
      px[row + x] = (v + p) & 255;
    }
  }
  const n = w * h;
  const rgb = new Float32Array(n * 3);
  const alpha = new Float32Array(n).fill(1);
  const max = depth === 16 ? 65535 : 255;
  const sample = (i: number, ch: number): number => {
    const k = (i * channels + ch) * (depth / 8);
    return depth === 16 ? ((px[k] ?? 0) << 8) | (px[k + 1] ?? 0) : (px[k] ?? 0);
  };
  for (let i = 0; i < n; i++) {
    if (ctype === 3 && palette) {
      const idx = px[i] ?? 0;
      for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = f32((palette[idx * 3 + ch] ?? 0) / 255);
      if (trns) alpha[i] = f32((trns[idx] ?? 255) / 255);
      continue;
    }
    const grey = ctype === 0 || ctype === 4;
    for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = f32(sample(i, grey ? 0 : ch) / max);
    if (ctype === 4 || ctype === 6) alpha[i] = f32(sample(i, channels - 1) / max);
  }
  return { rgb, alpha, w, h };
}

/** The format of encoded image bytes, from their first bytes (what the browser engine reads). */
export function sniffFormat(b: Uint8Array): string {
  const ascii = (i: number, n: number): string => String.fromCharCode(...b.subarray(i, i + n));
  if (b[0] === 0x89 && ascii(1, 3) === "PNG") return "PNG";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "JPEG";
  if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") return "WEBP";
  if (ascii(0, 4) === "GIF8") return "GIF";
  if (ascii(0, 2) === "BM") return "BMP";
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "TIFF";
  if (ascii(4, 4) === "ftyp") return ascii(8, 4).startsWith("avi") ? "AVIF" : "HEIC/HEIF";
  return "unknown";
}

const READS = new Set(["PNG", "JPEG", "WEBP", "GIF", "BMP"]);

/** An error the kernel side reports by its name (as `errors.py`'s classes). */
function typedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/**
 * JPEG (EXIF orientation applied, as Pillow's exif_transpose), WebP, GIF (first frame), BMP and
 * the PNGs decodePng leaves, through the browser's own decoder and a 2d canvas (no colour-space
 * conversion, no premultiplied alpha). Any other format: UnsupportedImageError naming it.
 */
export async function decodeCanvas(source: ArrayBuffer): Promise<Decoded> {
  const format = sniffFormat(new Uint8Array(source, 0, Math.min(source.byteLength, 16)));
  if (!READS.has(format)) {
    throw typedError(
      "UnsupportedImageError",
      `${format} images cannot be opened by the browser engine, which reads JPEG, PNG, WebP, GIF and BMP`,
    );
  }
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([source]), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
      imageOrientation: "from-image",
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw typedError("ImageDecodeError", `the browser could not decode this ${format} image (${why})`);
  }
  const w = bmp.width;
  const h = bmp.height;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("no 2d context in the worker");
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const px = ctx.getImageData(0, 0, w, h).data;
  const rgb = new Float32Array(w * h * 3);
  const alpha = new Float32Array(w * h);
  for (let i = 0, j = 0, k = 0; i < px.length; i += 4, j += 3, k++) {
    rgb[j] = f32((px[i] ?? 0) / 255);
    rgb[j + 1] = f32((px[i + 1] ?? 0) / 255);
    rgb[j + 2] = f32((px[i + 2] ?? 0) / 255);
    alpha[k] = f32((px[i + 3] ?? 255) / 255);
  }
  return { rgb, alpha, w, h };
}

export async function decode(source: ArrayBuffer): Promise<Decoded> {
  return (await decodePng(source)) ?? (await decodeCanvas(source));
}

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  let c = 0xffffffff;
  for (let i = 4; i < 8 + body.length; i++) c = (CRC[(c ^ (out[i] ?? 0)) & 255] ?? 0) ^ (c >>> 8);
  dv.setUint32(8 + body.length, (c ^ 0xffffffff) >>> 0);
  return out;
}

/** An 8-bit PNG of `planes` (interleaved bytes, 1 to 4 channels: L, LA, RGB, RGBA). */
export async function encodePng(
  planes: Uint8Array,
  w: number,
  h: number,
  channels: number,
): Promise<ArrayBuffer> {
  const stride = w * channels;
  const raw = new Uint8Array(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    const o = y * (stride + 1);
    raw[o] = 1; // "Sub" filter: each byte minus the one a pixel to the left
    for (let x = 0; x < stride; x++) {
      const v = planes[y * stride + x] ?? 0;
      const left = x >= channels ? (planes[y * stride + x - channels] ?? 0) : 0;
      raw[o + 1 + x] = (v - left) & 255;
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = 8;
  ihdr[9] = ({ 1: 0, 2: 4, 3: 2, 4: 6 } as Record<number, number>)[channels] ?? 2;
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", await through(raw, new CompressionStream("deflate"))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    png.set(p, off);
    off += p.length;
  }
  return png.buffer;
}
