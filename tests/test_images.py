"""Decoding every supported source and mode, limits, and typed errors for bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhance_widget.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageError
from enhance_widget.images import load_image, to_array, to_pil, write_png16


def _png(img: Image.Image, **kw: object) -> bytes:
    b = io.BytesIO()
    img.save(b, format="PNG", **kw)
    return b.getvalue()


def test_rgb_from_every_source_kind(small_rgb: np.ndarray, tmp_path: Path) -> None:
    img = Image.fromarray(small_rgb)
    path = tmp_path / "a.png"
    img.save(path)
    for src in (path, str(path), path.read_bytes(), img, small_rgb):
        buf = load_image(src)
        assert buf.size == (48, 40) and buf.out_mode == "RGB" and buf.alpha is None
        np.testing.assert_allclose(buf.rgb * 255, small_rgb, atol=1e-3)
    assert load_image(path).path == path
    decoded = load_image(path)
    assert load_image(decoded) is decoded  # an ImageBuffer is not decoded twice


@pytest.mark.parametrize(
    ("mode", "out_mode", "kind", "has_alpha"),
    [
        ("1", "L", "gray", False),
        ("L", "L", "gray", False),
        ("LA", "LA", "gray", True),
        ("P", "RGB", "rgb", False),
        ("RGB", "RGB", "rgb", False),
        ("RGBA", "RGBA", "rgb", True),
        ("CMYK", "RGB", "rgb", False),
        ("I;16", "I;16", "gray", False),
        ("I", "I", "gray", False),
        ("F", "F", "gray", False),
    ],
)
def test_modes_normalise(small_rgb: np.ndarray, mode: str, out_mode: str, kind: str, has_alpha: bool) -> None:
    base = Image.fromarray(small_rgb)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    elif mode == "F":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255.0, mode="F")
    else:
        img = base.convert(mode)
    buf = load_image(img)
    assert buf.out_mode == out_mode and buf.kind == kind
    assert (buf.alpha is not None) == has_alpha
    assert buf.rgb.shape == (40, 48, 3) and buf.rgb.dtype == np.float32
    assert buf.rgb.min() >= 0.0 and buf.rgb.max() <= 1.0
    arr = to_array(buf.rgb, buf.alpha, buf)
    assert to_pil(arr, buf).mode == out_mode
    if mode in ("L", "I;16", "F"):  # grey values survive the round trip
        ref = np.asarray(base.convert("L"), dtype=np.float64) / 255.0
        got = np.asarray(to_pil(arr, buf), dtype=np.float64)
        scale = {"L": 255.0, "I;16": 65535.0, "F": 1.0}[mode]
        np.testing.assert_allclose(got / scale, ref, atol=1.5 / 255)


def test_palette_with_transparency_keeps_alpha(small_rgb: np.ndarray) -> None:
    p = Image.fromarray(small_rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p.info["transparency"] = 0
    buf = load_image(_png(p, transparency=0))
    assert buf.out_mode == "RGBA" and buf.alpha is not None
    assert set(np.unique(buf.alpha)) <= {0.0, 1.0} and buf.alpha.min() == 0.0


def test_exif_orientation_is_applied(small_rgb: np.ndarray) -> None:
    img = Image.fromarray(small_rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    b = io.BytesIO()
    img.save(b, format="JPEG", exif=exif, quality=95)
    buf = load_image(b.getvalue())
    assert buf.size == (40, 48)  # width and height swapped


def test_sixteen_bit_colour_png_keeps_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(12, 10, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    write_png16(path, arr, {"k": "v"})
    buf = load_image(path)
    assert buf.dtype == "uint16" and buf.depth == 16
    np.testing.assert_array_equal(to_array(buf.rgb, None, buf), arr)


def test_numpy_inputs_and_dtypes(small_rgb: np.ndarray) -> None:
    rgba = np.dstack([small_rgb, np.full(small_rgb.shape[:2], 128, np.uint8)])
    assert load_image(rgba).out_mode == "RGBA"
    assert load_image(small_rgb[..., 0]).out_mode == "L"
    assert load_image(small_rgb[..., :1]).out_mode == "L"
    assert load_image(small_rgb.astype(np.float32) / 255).dtype == "float32"
    assert load_image(small_rgb.astype(np.uint16) * 257).dtype == "uint16"
    with pytest.raises(UnsupportedImageError, match="dtype int64"):
        load_image(small_rgb.astype(np.int64))
    with pytest.raises(UnsupportedImageError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(UnsupportedImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan, np.float32))


def test_corrupt_truncated_and_empty_files(small_rgb: np.ndarray, tmp_path: Path) -> None:
    data = _png(Image.fromarray(small_rgb))
    with pytest.raises(ImageDecodeError, match="truncated|corrupt"):
        load_image(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_image(b"this is not an image at all")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageDecodeError, match="no such image file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(UnsupportedImageError, match="cannot read an image from dict"):
        load_image({})


def test_pixel_limit_is_clear_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    big = np.zeros((300, 400, 3), np.uint8)
    with pytest.raises(ImageTooLargeError, match="120,000 pixels.*limit of 100,000.*max_pixels") as e:
        load_image(big, max_pixels=100_000)
    assert e.value.pixels == 120_000 and e.value.limit == 100_000
    monkeypatch.setenv("ENHANCE_WIDGET_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError):
        load_image(_png(Image.fromarray(big)))
    monkeypatch.setenv("ENHANCE_WIDGET_MAX_PIXELS", "200000")
    assert load_image(big).size == (400, 300)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # a 20000x20000 PNG header is refused from the header alone
    tiny = Image.new("L", (20000, 20000))
    data = _png(tiny)
    with pytest.raises(ImageTooLargeError):
        load_image(data)
