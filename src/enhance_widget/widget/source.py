"""The widget's view of images: the source as browser-displayable bytes, the result as PNG bytes,
and where Save writes (next to the source, never over it)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnhanceError
from ..output_names import output_tag

BROWSER_FORMATS = {"PNG", "JPEG", "GIF", "WEBP", "BMP"}
"""Formats every browser decodes, passed to the front end as they are."""


@dataclass(frozen=True)
class Source:
    """A source the widget holds: the object given to ``enhance`` plus what the view needs."""

    value: Any
    name: str
    path: Path | None
    size: tuple[int, int]
    display: bytes
    """Encoded image bytes (PNG, JPEG, ...) that a browser decodes to what the engine sees."""
    gray: bool = False
    """Grey input: the result is grey too (both engines)."""
    alpha: bool = False
    """The input has an alpha plane, which the result keeps (resized apart, Lanczos)."""


def _name_of(value: Any) -> tuple[str, Path | None]:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        return path.name, path
    fn = getattr(value, "filename", None)
    if isinstance(fn, str) and fn:
        return Path(fn).name, None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "image bytes", None
    return f"{type(value).__name__} image", None


def _passthrough(data: bytes) -> bool:
    """Whether the browser shows ``data`` as the engine decodes it (known format, upright)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in BROWSER_FORMATS or im.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
                return False
            if im.format == "WEBP" and "A" in im.mode:  # Chromium premultiplies a WebP's colour
                return False
            orientation = im.getexif().get(0x0112, 1)
            return bool(orientation in (0, 1))
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def _png(image: Any) -> bytes:
    from PIL import Image

    img: Image.Image = image
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        arr = _eight_bit(img)
        img = Image.fromarray(arr)
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _eight_bit(img: Any) -> Any:
    import numpy as np

    arr = np.asarray(img)
    if arr.dtype == np.uint16 or img.mode.startswith("I;16"):
        return np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8)
    if arr.dtype.kind in "iuf":
        lo, hi = float(arr.min()) if arr.size else 0.0, float(arr.max()) if arr.size else 1.0
        span = hi - lo or 1.0
        return np.rint((arr.astype(np.float64) - lo) / span * 255.0).astype(np.uint8)
    return np.asarray(img.convert("RGB"))


def prepare_source(value: Any, max_pixels: int | None = None) -> Source:
    """Decode ``value`` the way the engine will (limits included) and make its display bytes.

    Raises the engine's typed errors (``ImageDecodeError``, ``ImageTooLargeError``, ...).
    """
    name, path = _name_of(value)
    try:
        from ..images import load_image, to_array, to_pil
    except ImportError:  # Pyodide: no numpy/Pillow; the browser engine decodes the bytes itself
        return _pure_source(value, name, path, max_pixels)
    buf = load_image(value, max_pixels)
    data: bytes | None = None
    if path is not None:
        data = path.read_bytes()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    if data is None or not _passthrough(data):
        data = _png(to_pil(to_array(buf.rgb, buf.alpha, buf), buf))
    return Source(
        value=value,
        name=name,
        path=path,
        size=buf.size,
        display=data,
        gray=buf.kind == "gray",
        alpha=buf.alpha is not None,
    )


def _pure_source(value: Any, name: str, path: Path | None, max_pixels: int | None = None) -> Source:
    """A source under Pyodide: its header read in pure Python (JPEG with EXIF orientation, PNG,
    WebP, GIF, BMP; any other format a typed error naming it); the page decodes the pixels."""
    from ..errors import ImageDecodeError, UnsupportedImageError
    from ..sniff import check_limits, sniff

    if path is not None:
        if not path.is_file():
            raise ImageDecodeError(f"no such image file: {path}")
        data = path.read_bytes()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise UnsupportedImageError(
            f"without numpy and Pillow (Pyodide, JupyterLite) open an image file or its bytes, "
            f"not a {type(value).__name__}"
        )
    info = check_limits(sniff(data), max_pixels)
    return Source(
        value=data,
        name=name,
        path=path,
        size=info.size,
        display=data,
        gray=info.gray,
        alpha=info.alpha,
    )


def result_png(result: Any) -> bytes:
    """8-bit PNG bytes of a :class:`~enhance_widget.result.Result`, for the view."""
    return _png(result.image)


def save_path_for(source_path: Path | None, record: dict[str, Any], folder: Path | None = None) -> Path:
    """A new file next to the source (or in ``folder``/the working directory) that exists nowhere yet.

    Named ``<stem>_<task>[x<scale>].png``, with ``-2``, ``-3``... appended instead of overwriting.
    """
    task = str(record.get("task", "enhanced"))
    tag = output_tag(task, record.get("scale"))
    if source_path is not None:
        stem, where = source_path.stem, source_path.parent
    else:
        stem, where = "image", Path.cwd()
    if folder is not None:
        where = folder
    candidate = where / f"{stem}_{tag}.png"
    n = 2
    while candidate.exists() or (source_path is not None and candidate.resolve() == source_path.resolve()):
        candidate = where / f"{stem}_{tag}-{n}.png"
        n += 1
    return candidate


def save_result(result: Any, source_path: Path | None) -> Path:
    """Write ``result`` next to its source (never over it, never over any file); return the path."""
    target = save_path_for(source_path, result.record)
    if not os.access(target.parent, os.W_OK):
        raise EnhanceError(f"cannot save next to the source: {target.parent} is not writable")
    written: Path = result.save(target, overwrite=False)
    return written.resolve()


def has_colour(src: Source) -> bool:
    """Whether the photo has visible colour (not grey, nor grey stored as RGB)."""
    if src.gray:
        return False
    try:
        import numpy as np
        from PIL import Image
    except ImportError:  # Pyodide: no Pillow; say nothing rather than guess
        return False
    try:
        with Image.open(io.BytesIO(src.display)) as im:
            im.draft("RGB", (128, 128))
            small = np.asarray(im.convert("RGB").resize((64, 64)), dtype=np.int16)
    except (OSError, ValueError):
        return False
    spread = small.max(axis=2) - small.min(axis=2)
    return bool(np.mean(spread > 12) > 0.02)


def display_name(value: Any) -> str:
    """How an error names a source that did not open: the file name, ``image bytes`` or its type."""
    if isinstance(value, (str, os.PathLike)):
        return Path(value).name
    return "image bytes" if isinstance(value, (bytes, bytearray, memoryview)) else type(value).__name__


__all__ = [
    "Source",
    "display_name",
    "has_colour",
    "prepare_source",
    "result_png",
    "save_path_for",
    "save_result",
]
