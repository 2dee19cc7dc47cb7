"""The pure-Python header reader (used under Pyodide, where the browser engine decodes the pixels)
says what the kernel engine's decoder (Pillow, ``load_image``) sees: size after EXIF orientation,
grey, alpha; every other format is a typed error naming it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhance_widget.errors import ImageDecodeError, UnsupportedImageError
from enhance_widget.images import load_image
from enhance_widget.sniff import sniff

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (30, 44, 3), dtype=np.uint8)


def _enc(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def _variants() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(RGB)
    rgba = Image.fromarray(np.dstack([RGB, RNG.integers(0, 256, (30, 44), dtype=np.uint8)]))
    grey = rgb.convert("L")
    pal = rgb.quantize(16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    out = []
    for name, img in (("rgb", rgb), ("rgba", rgba), ("grey", grey), ("la", rgba.convert("LA")), ("p", pal)):
        out.append((f"png-{name}", _enc(img, "PNG")))
    out.append(("png-p-trns", _enc(pal_t, "PNG", transparency=3)))
    out.append(("png16-grey", _enc(Image.fromarray(RGB[..., 0].astype(np.uint16) * 257), "PNG")))
    out += [("jpeg-rgb", _enc(rgb, "JPEG", quality=90)), ("jpeg-grey", _enc(grey, "JPEG"))]
    out.append(("jpeg-cmyk", _enc(rgb.convert("CMYK"), "JPEG")))
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out.append((f"jpeg-exif{orientation}", _enc(rgb, "JPEG", exif=exif.tobytes())))
    out += [
        ("webp-lossy", _enc(rgb, "WEBP", quality=80)),
        ("webp-lossless", _enc(rgb, "WEBP", lossless=True)),
        ("webp-alpha", _enc(rgba, "WEBP", quality=80)),
        ("webp-lossless-alpha", _enc(rgba, "WEBP", lossless=True)),
        ("gif", _enc(pal, "GIF")),
        ("gif-trns", _enc(pal, "GIF", transparency=3)),
        ("gif-grey", _enc(grey, "GIF")),
        ("gif-anim", _enc(pal, "GIF", save_all=True, append_images=[rgb.rotate(90).quantize(8)])),
        ("bmp-rgb", _enc(rgb, "BMP")),
        ("bmp-grey", _enc(grey, "BMP")),
        ("bmp-p", _enc(pal, "BMP")),
        ("bmp-1", _enc(grey.convert("1"), "BMP")),
    ]
    return out


@pytest.mark.parametrize(("name", "data"), _variants(), ids=[n for n, _ in _variants()])
def test_header_facts_match_the_kernel_decoder(name: str, data: bytes) -> None:
    info = sniff(data)
    buf = load_image(data)
    assert info.size == buf.size, name
    assert info.gray == (buf.kind == "gray"), name
    assert info.alpha == (buf.alpha is not None), name
    assert info.format == name.split("-")[0].replace("png16", "png").upper()


def test_exif_orientation_swaps_the_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    info = sniff(_enc(Image.fromarray(RGB), "JPEG", exif=exif.tobytes()))
    assert info.size == (30, 44) and info.orientation == 6


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"II*\x00" + bytes(40), "TIFF"),
        (b"\x00\x00\x00\x1cftypheic" + bytes(40), "HEIC/HEIF"),
        (b"\x00\x00\x00\x1cftypavif" + bytes(40), "AVIF"),
        (b"8BPS" + bytes(40), "Photoshop \\(PSD\\)"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"hello, not an image", "unknown"),
    ],
)
def test_other_formats_are_a_typed_error_naming_them(data: bytes, fmt: str) -> None:
    with pytest.raises(UnsupportedImageError, match=f"^{fmt} images cannot be opened by the browser engine"):
        sniff(data)


def test_truncated_headers_are_decode_errors() -> None:
    jpeg = _enc(Image.fromarray(RGB), "JPEG")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        sniff(jpeg[:40])
    with pytest.raises(ImageDecodeError, match="empty"):
        sniff(b"")


PYODIDE_LIKE = """
import json, sys
for name in ("numpy", "PIL", "onnxruntime", "png"):
    sys.modules[name] = None  # as under Pyodide: none of them importable
from enhance_widget import EnhanceWidget
out = {}
for path in sys.argv[1:]:
    w = EnhanceWidget(path, scale=2, tile=64)
    err = w.error
    out[path.rsplit("/", 1)[1]] = [w.engine, w.source_size, err.get("type"), err.get("message", "")[:40],
                                   w.plan.get("in_size")]
print(json.dumps(out))
"""


def test_widget_under_pyodide_opens_a_jpeg_and_names_an_unsupported_format(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown 30 wide, 44 high
    (tmp_path / "photo.jpg").write_bytes(_enc(Image.fromarray(RGB), "JPEG", exif=exif.tobytes()))
    (tmp_path / "photo.webp").write_bytes(_enc(Image.fromarray(RGB), "WEBP"))
    (tmp_path / "scan.tif").write_bytes(_enc(Image.fromarray(RGB), "TIFF"))
    paths = [str(tmp_path / n) for n in ("photo.jpg", "photo.webp", "scan.tif")]
    p = subprocess.run(
        [sys.executable, "-c", PYODIDE_LIKE, *paths], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["photo.jpg"] == ["browser", [30, 44], None, "", [30, 44]]
    assert got["photo.webp"] == ["browser", [44, 30], None, "", [44, 30]]
    _, _, err, message, _ = got["scan.tif"]
    assert err == "UnsupportedImageError" and message.startswith("TIFF images cannot be opened"), got
