"""What an encoded image is, from its header alone: format, size (after EXIF orientation), and
whether the kernel engine (Pillow, ``images.load_image``) would read it as grey and with alpha.

Pure Python, so the widget can plan a run under Pyodide (JupyterLite), where the browser engine
decodes the pixels itself (``js/src/engine/png.ts``). The formats are those every browser decodes:
JPEG, PNG, WebP, GIF (first frame) and BMP; anything else raises ``UnsupportedImageError`` naming
the format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError

BROWSER_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
DEFAULT_MAX_PIXELS = 16_777_216  # 4096 x 4096 input; the x4 output is then 268 Mpx
MAX_PIXELS_ENV = "ENHANCE_WIDGET_MAX_PIXELS"


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit: ``max_pixels`` if given, else ``$ENHANCE_WIDGET_MAX_PIXELS``, else 4096x4096."""
    if max_pixels is not None:
        return max_pixels
    env = os.environ.get(MAX_PIXELS_ENV)
    return int(env) if env else DEFAULT_MAX_PIXELS


def check_limits(info: ImageInfo, max_pixels: int | None = None) -> ImageInfo:
    """``info`` when its size is within the limit (``load_image``'s rule), else a typed error."""
    w, h = info.size
    if w < 1 or h < 1:
        raise UnsupportedImageError(f"image is empty ({w}x{h}); give an image of at least 1x1 pixel")
    limit = max_pixels_limit(max_pixels)
    if w * h > limit:
        raise ImageTooLargeError(w * h, limit)
    return info


@dataclass(frozen=True)
class ImageInfo:
    format: str
    size: tuple[int, int]
    """(width, height) as the image is shown: a JPEG's EXIF orientation 5-8 swaps them."""
    gray: bool
    alpha: bool
    orientation: int = 1


def _u16be(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], "big")


def _u16le(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], "little")


def _u32le(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 4], "little")


def _s32le(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 4], "little", signed=True)


def other_format(data: bytes) -> str:
    """A name for a format the browser engine does not read (for the error message)."""
    head = data[:32]
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
            return "HEIC/HEIF"
        return f"ISO media ({brand.decode('latin-1')})"
    if (head[:4] == b"\x00\x00\x00\x0c" and head[4:8] == b"jP  ") or head[:4] == b"\xff\x4f\xff\x51":
        return "JPEG 2000"
    if head[:4] == b"8BPS":
        return "Photoshop (PSD)"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    if head[:5] == b"%PDF-":
        return "PDF"
    if head.lstrip()[:5] in (b"<?xml", b"<svg ") or head.lstrip()[:4] == b"<svg":
        return "SVG"
    if head[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6"):
        return "PNM"
    return "unknown"


def sniff(data: bytes) -> ImageInfo:
    """The header facts of ``data``; ``UnsupportedImageError`` names any other format."""
    if not data:
        raise ImageDecodeError("the image data is empty (0 bytes)")
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(data)
        if data[:2] == b"BM":
            return _bmp(data)
    except (IndexError, ValueError) as exc:
        raise ImageDecodeError(f"the image header is corrupt or truncated: {exc}") from exc
    raise UnsupportedImageError(
        f"{other_format(data)} images cannot be opened by the browser engine (JupyterLite), "
        "which reads JPEG, PNG, WebP, GIF and BMP: convert it to PNG or JPEG first"
    )


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


def _png(b: bytes) -> ImageInfo:
    _need(len(b) >= 33 and b[12:16] == b"IHDR", "no IHDR chunk")
    w, h = int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    ctype = b[25]
    alpha = ctype in (4, 6)
    i = 8
    while ctype == 3 and i + 8 <= len(b):
        length, kind = int.from_bytes(b[i : i + 4], "big"), b[i + 4 : i + 8]
        if kind in (b"tRNS", b"IDAT", b"IEND"):
            alpha = kind == b"tRNS"
            break
        i += 12 + length
    return ImageInfo("PNG", (w, h), ctype in (0, 4), alpha)


def _exif_orientation(app1: bytes) -> int:
    """Orientation (tag 0x0112) from an APP1 segment's body, 1 when absent."""
    if app1[:6] != b"Exif\x00\x00":
        return 1
    t = app1[6:]
    order = "little" if t[:2] == b"II" else "big"

    def u(i: int, n: int) -> int:
        return int.from_bytes(t[i : i + n], order)  # type: ignore[arg-type]

    ifd = u(4, 4)
    for k in range(u(ifd, 2)):
        e = ifd + 2 + 12 * k
        if u(e, 2) == 0x0112:
            value = u(e + 8, 2)
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg(b: bytes) -> ImageInfo:
    i = 2
    orientation = 1
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = _u16be(b, i + 2)
        body = b[i + 4 : i + 2 + length]
        if marker == 0xE1 and orientation == 1:
            orientation = _exif_orientation(body)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            _need(len(body) >= 6, "short SOF segment")
            h, w, comps = _u16be(body, 1), _u16be(body, 3), body[5]
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            return ImageInfo("JPEG", (w, h), comps == 1, False, orientation)
        if marker == 0xDA:
            break
        i += 2 + length
    raise ValueError("no SOF marker before the image data")


def _webp(b: bytes) -> ImageInfo:
    kind = b[12:16]
    if kind == b"VP8 ":
        _need(b[23:26] == b"\x9d\x01\x2a", "bad VP8 start code")
        return ImageInfo("WEBP", (_u16le(b, 26) & 0x3FFF, _u16le(b, 28) & 0x3FFF), False, False)
    if kind == b"VP8L":
        _need(b[20] == 0x2F, "bad VP8L signature")
        bits = _u32le(b, 21)
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return ImageInfo("WEBP", (w, h), False, bool((bits >> 28) & 1))
    if kind == b"VP8X":
        flags = b[20]
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return ImageInfo("WEBP", (w, h), False, bool(flags & 0x10))
    raise ValueError(f"unknown WebP chunk {kind!r}")


def _gif(b: bytes) -> ImageInfo:
    w, h = _u16le(b, 6), _u16le(b, 8)
    flags = b[10]
    i = 13
    palette = b""
    if flags & 0x80:
        n = 3 * (2 ** ((flags & 7) + 1))
        palette = b[i : i + n]
        i += n
    transparent = False
    while i < len(b):
        block = b[i]
        if block == 0x21:  # extension: graphic control (0xF9) says whether a colour is transparent
            if b[i + 1] == 0xF9:
                transparent = bool(b[i + 3] & 1)
            i += 2
            while b[i]:
                i += 1 + b[i]
            i += 1
        elif block == 0x2C:  # the first image; its own palette replaces the global one
            fl = b[i + 9]
            if fl & 0x80:
                palette = b[i + 10 : i + 10 + 3 * (2 ** ((fl & 7) + 1))]
            break
        else:
            break
    # Pillow opens a GIF whose palette is the identity grey ramp as L (and then ignores transparency)
    gray = bool(palette) and all(
        palette[k] == palette[k + 1] == palette[k + 2] == k // 3 for k in range(0, len(palette) - 2, 3)
    )
    return ImageInfo("GIF", (w, h), gray, transparent and not gray)


def _bmp(b: bytes) -> ImageInfo:
    header = _u32le(b, 14)
    if header == 12:
        w, h, bpp = _u16le(b, 18), _u16le(b, 20), _u16le(b, 24)
        compression, colors, entry = 0, 0, 3
    else:
        w, h, bpp = _s32le(b, 18), abs(_s32le(b, 22)), _u16le(b, 28)
        compression, colors, entry = _u32le(b, 30), _u32le(b, 46), 4
    alpha = False
    if bpp == 32 and compression in (3, 6) and header >= 56:
        alpha = _u32le(b, 14 + 52) != 0  # an alpha mask (BITFIELDS, V3+ header)
    gray = False
    if bpp <= 8:
        n = colors or 2**bpp
        start = 14 + header
        table = [b[start + entry * k : start + entry * k + 3] for k in range(n)]
        ramp = (0, 255) if n == 2 else range(n)
        gray = all(t == bytes([v, v, v]) for t, v in zip(table, ramp, strict=False))
    return ImageInfo("BMP", (w, h), gray, alpha)


__all__ = ["BROWSER_FORMATS", "ImageInfo", "check_limits", "max_pixels_limit", "other_format", "sniff"]
