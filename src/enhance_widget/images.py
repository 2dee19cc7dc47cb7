"""Images in and out: decode any supported source into float32 RGB plus a separate alpha plane,
and turn the engine's output back into the input's kind (mode, bit depth, dtype).

Sources: a path, bytes, a ``PIL.Image`` or a numpy array (HxW, HxWx1/3/4; uint8, uint16,
float32/float64 in 0..1). EXIF orientation is applied. Modes 1, L, LA, P (with transparency),
RGB, RGBA, CMYK, I;16, I and F are handled; 16-bit inputs keep 16-bit precision to a 16-bit PNG.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError
from .sniff import max_pixels_limit as max_pixels_limit

F32 = NDArray[np.float32]

Kind = Literal["rgb", "gray"]


@dataclass
class ImageBuffer:
    """Decoded image: ``rgb`` is HxWx3 float32 in 0..1, ``alpha`` HxW float32 or None.

    ``out_mode`` is the PIL mode the result gets; ``dtype`` the numpy dtype ``Result.array``
    gets; ``value_range`` maps 0..1 back to the input's range for modes I and F.
    """

    rgb: F32
    alpha: F32 | None
    kind: Kind
    out_mode: str
    dtype: str
    depth: int
    path: Path | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.rgb.shape[1]), int(self.rgb.shape[0]))


def _check_size(w: int, h: int, limit: int) -> None:
    if w < 1 or h < 1:
        raise UnsupportedImageError(f"image is empty ({w}x{h}); give an image of at least 1x1 pixel")
    if w * h > limit:
        raise ImageTooLargeError(w * h, limit)


def load_image(source: Any, max_pixels: int | None = None) -> ImageBuffer:
    """Decode ``source`` into an :class:`ImageBuffer` (see the module doc for what is accepted)."""
    limit = max_pixels_limit(max_pixels)
    if isinstance(source, ImageBuffer):  # already decoded (e.g. by the widget): no second decode
        _check_size(*source.size, limit)
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, limit)
    path: Path | None = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageDecodeError(f"no such image file: {path}")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, Image.Image):
        buf = _from_pil(source, limit)
        return buf
    else:
        raise UnsupportedImageError(
            f"cannot read an image from {type(source).__name__}; give a path, bytes, "
            "a PIL.Image or a numpy array"
        )
    if _is_png16_color(data):
        buf = _from_png16(data, limit)
    else:
        buf = _from_pil(_open(data, limit), limit)
    buf.path = path
    return buf


def _open(data: bytes, limit: int) -> Image.Image:
    if not data:
        raise ImageDecodeError("the image data is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.width, img.height, limit)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(_pixels_from_message(exc), limit) from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(
            "the data is not an image format Pillow can read (is it corrupt, or not an image?)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(f"the image is corrupt or truncated: {exc}") from exc
    return img


def _pixels_from_message(exc: Exception) -> int:
    digits = [int(t) for t in str(exc).replace(",", " ").split() if t.isdigit()]
    return digits[0] if digits else 0


def _is_png16_color(data: bytes) -> bool:
    """16-bit RGB/RGBA PNG, which Pillow would reduce to 8 bits."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 26 and data[24] == 16 and data[25] in (2, 6)


def _from_png16(data: bytes, limit: int) -> ImageBuffer:
    import png  # pypng: reads and writes 16-bit colour PNG, which Pillow cannot

    try:
        reader = png.Reader(bytes=data)
        w, h, rows, info = reader.asDirect()
        _check_size(w, h, limit)
        planes = int(info["planes"])
        arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, planes)
    except png.Error as exc:
        raise ImageDecodeError(f"the 16-bit PNG is corrupt or truncated: {exc}") from exc
    return _from_array(arr, limit)


def _from_pil(img: Image.Image, limit: int) -> ImageBuffer:
    _check_size(img.width, img.height, limit)
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:
        pass
    mode = img.mode
    notes: list[str] = []
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr16 = np.asarray(img, dtype=np.uint16)
        buf = _from_array(arr16, limit)
        buf.out_mode = "I;16"
        return buf
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        hi = float(max(65535, int(arr.max()) if arr.size else 0))
        gray = (np.clip(arr, 0, None) / hi).astype(np.float32)
        return ImageBuffer(_gray3(gray), None, "gray", "I", "int32", 32, value_range=(0.0, hi))
    if mode == "F":
        arr_f = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr_f).all():
            raise UnsupportedImageError("the float image contains NaN or infinite values")
        lo, hi = min(0.0, float(arr_f.min())), max(1.0, float(arr_f.max()))
        gray = ((arr_f - lo) / (hi - lo)).astype(np.float32)
        return ImageBuffer(_gray3(gray), None, "gray", "F", "float32", 32, value_range=(lo, hi))
    if mode in ("1", "L"):
        gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        if mode == "1":
            notes.append("bilevel (mode 1) input: output is greyscale (mode L)")
        return ImageBuffer(_gray3(gray), None, "gray", "L", "uint8", 8, notes=notes)
    if mode in ("LA", "La"):
        la = np.asarray(img.convert("LA"), dtype=np.float32) / 255.0
        return ImageBuffer(_gray3(la[..., 0]), la[..., 1].copy(), "gray", "LA", "uint8", 8)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette input: output is true colour (a palette cannot hold new colours)")
        mode = img.mode
    elif mode == "CMYK":
        img = img.convert("RGB")
        notes.append("CMYK input converted to RGB; output is RGB")
        mode = "RGB"
    elif mode not in ("RGB", "RGBA"):
        try:
            img = img.convert("RGBA" if "A" in mode else "RGB")
        except (ValueError, OSError) as exc:
            raise UnsupportedImageError(f"image mode {mode!r} is not supported") from exc
        mode = img.mode
    arr8 = np.asarray(img, dtype=np.float32) / 255.0
    alpha = arr8[..., 3].copy() if mode == "RGBA" else None
    buf = ImageBuffer(np.ascontiguousarray(arr8[..., :3]), alpha, "rgb", mode, "uint8", 8, notes=notes)
    return buf


def _gray3(gray: F32) -> F32:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def _from_array(arr: np.ndarray, limit: int) -> ImageBuffer:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise UnsupportedImageError(
            f"array of shape {arr.shape} is not an image; use HxW, HxWx1, HxWx3 or HxWx4"
        )
    h, w = arr.shape[:2]
    _check_size(w, h, limit)
    if arr.dtype == np.uint8:
        f, depth, dtype = arr.astype(np.float32) / 255.0, 8, "uint8"
    elif arr.dtype == np.uint16:
        f, depth, dtype = arr.astype(np.float32) / 65535.0, 16, "uint16"
    elif arr.dtype in (np.float32, np.float64):
        if not np.isfinite(arr).all():
            raise UnsupportedImageError("the float array contains NaN or infinite values")
        f, depth, dtype = np.clip(arr, 0.0, 1.0).astype(np.float32), 32, "float32"
    else:
        raise UnsupportedImageError(
            f"array dtype {arr.dtype} is not supported; use uint8, uint16 or float32 in 0..1"
        )
    if f.ndim == 2:
        mode = {8: "L", 16: "I;16", 32: "F"}[depth]
        return ImageBuffer(_gray3(f), None, "gray", mode, dtype, depth)
    alpha = f[..., 3].copy() if f.shape[2] == 4 else None
    mode = "RGBA" if alpha is not None else "RGB"
    return ImageBuffer(np.ascontiguousarray(f[..., :3]), alpha, "rgb", mode, dtype, depth)


def with_colour_output(buf: ImageBuffer) -> ImageBuffer:
    """The same pixels, but producing a colour result (colorize turns grey into RGB)."""
    if buf.kind == "rgb":
        return buf
    deep = buf.dtype == "uint16"
    mode = "RGBA" if buf.alpha is not None else "RGB"
    note = f"grey input ({buf.out_mode}) colorized: output is {mode}"
    return replace(
        buf,
        kind="rgb",
        out_mode=mode,
        dtype="uint16" if deep else "uint8",
        depth=16 if deep else 8,
        value_range=(0.0, 1.0),
        notes=[*buf.notes, note],
    )


def luma(rgb: F32) -> F32:
    """Rec. 601 luma, used to turn a model's RGB output back into a greyscale image."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return cast(F32, y.astype(np.float32))


def resize_plane(plane: F32, size: tuple[int, int]) -> F32:
    """Resize one float plane (e.g. alpha) with Lanczos; used where the model does not see it."""
    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    im = Image.fromarray(plane.astype(np.float32), mode="F")
    out = np.asarray(im.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    return cast(F32, np.clip(out, 0.0, 1.0))


def to_array(rgb: F32, alpha: F32 | None, like: ImageBuffer) -> np.ndarray:
    """Output array in the input's kind: HxW for grey, HxWx3/4 for colour, input dtype."""
    planes = luma(rgb)[..., None] if like.kind == "gray" else rgb
    if alpha is not None:
        planes = np.concatenate([planes, alpha[..., None]], axis=2)
    if planes.shape[2] == 1:
        planes = planes[..., 0]
    planes = np.clip(planes, 0.0, 1.0)  # a new array: scaled and rounded in place below
    out: np.ndarray
    lo, hi = like.value_range
    if like.dtype == "uint8":
        out = np.rint(np.multiply(planes, 255.0, out=planes), out=planes).astype(np.uint8)
    elif like.dtype == "uint16":
        out = np.rint(np.multiply(planes, 65535.0, out=planes), out=planes).astype(np.uint16)
    elif like.dtype == "int32":
        out = np.rint(planes * hi).astype(np.int32)
    else:
        out = (planes * (hi - lo) + lo).astype(np.float32)
    return out


def to_pil(arr: np.ndarray, like: ImageBuffer) -> Image.Image:
    """The output array as a PIL image in the input's mode (16-bit colour falls back to 8-bit)."""
    if like.out_mode in ("I;16",) and arr.ndim == 2:
        return Image.fromarray(arr.astype(np.uint16))
    if like.out_mode == "I":
        return Image.fromarray(arr.astype(np.int32), mode="I")
    if like.out_mode == "F":
        return Image.fromarray(arr.astype(np.float32), mode="F")
    if arr.dtype == np.uint16:
        arr = np.rint(arr / 257.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(arr)


def write_png16(path: Path | io.BytesIO, arr: np.ndarray, text: dict[str, str]) -> None:
    """Write a 16-bit colour PNG (with text chunks) through pypng."""
    import png

    h, w = arr.shape[:2]
    planes = arr.shape[2] if arr.ndim == 3 else 1
    writer = png.Writer(width=w, height=h, bitdepth=16, greyscale=planes in (1, 2), alpha=planes in (2, 4))
    rows = arr.reshape(h, w * planes)
    if isinstance(path, io.BytesIO):
        _png16_with_text(writer, rows, path, text)
    else:
        with open(path, "wb") as f:
            _png16_with_text(writer, rows, f, text)


def _png16_with_text(writer: Any, rows: np.ndarray, f: Any, text: dict[str, str]) -> None:
    import png

    raw = io.BytesIO()
    writer.write(raw, rows)
    chunks = list(png.Reader(bytes=raw.getvalue()).chunks())
    extra = [(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1", "replace")) for k, v in text.items()]
    png.write_chunks(f, chunks[:1] + extra + chunks[1:])
