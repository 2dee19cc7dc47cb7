"""enhance() end to end: every mode round-trips, odd sizes, alpha, 16-bit, saving, records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhance_widget import EnhanceError, ImageTooLargeError, enhance, read_record
from enhance_widget.images import load_image

FAST = {"scale": 2, "model": "esrgan-slim-x2"}


@pytest.mark.parametrize(
    ("mode", "out_mode"),
    [
        ("1", "L"),
        ("L", "L"),
        ("LA", "LA"),
        ("P", "RGB"),
        ("RGB", "RGB"),
        ("RGBA", "RGBA"),
        ("CMYK", "RGB"),
        ("I;16", "I;16"),
        ("I", "I"),
        ("F", "F"),
    ],
)
def test_every_mode_round_trips(small_rgb: np.ndarray, mode: str, out_mode: str) -> None:
    base = Image.fromarray(small_rgb)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    elif mode == "F":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255.0, mode="F")
    elif mode == "I":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.int32) * 257, mode="I")
    else:
        img = base.convert(mode)
    res = enhance(img, **FAST)
    assert res.image.mode == out_mode
    assert res.size == (96, 80)
    # the content is the same picture, not noise: compare both at low resolution
    src_l = base.convert("1").convert("L") if mode == "1" else base.convert("L")
    ref = np.asarray(src_l.resize((12, 10), Image.Resampling.BOX), dtype=np.float64)
    out = res.image
    if out_mode in ("I;16", "I", "F"):
        factor = 255.0 if out_mode == "F" else 1 / 257.0
        out = Image.fromarray(np.asarray(out, dtype=np.float64) * factor)
    got = np.asarray(out.convert("L").resize((12, 10), Image.Resampling.BOX), dtype=np.float64)
    assert np.abs(got - ref).mean() < (10.0 if mode == "1" else 6.0)  # dithering softens


def test_alpha_is_upscaled_not_dropped(small_rgb: np.ndarray) -> None:
    alpha = np.zeros(small_rgb.shape[:2], np.uint8)
    alpha[:, 24:] = 255  # right half opaque
    res = enhance(np.dstack([small_rgb, alpha]), **FAST)
    out_alpha = res.array[..., 3]
    assert res.array.shape == (80, 96, 4)
    assert out_alpha[:, :44].max() <= 10 and out_alpha[:, 52:].min() >= 245
    assert res.array[:, 52:, :3].mean() > 20  # colour under the opaque half is not black


def test_sixteen_bit_input_gives_sixteen_bit_png(tmp_path: Path, small_rgb: np.ndarray) -> None:
    deep = small_rgb.astype(np.uint16) * 257 + 100
    res = enhance(deep, **FAST)
    assert res.array.dtype == np.uint16 and res.array.shape == (80, 96, 3)
    out = res.save(tmp_path / "deep.png")
    back = load_image(out)
    assert back.dtype == "uint16"
    np.testing.assert_allclose(back.rgb * 65535, res.array, atol=0.5)
    assert len(np.unique(res.array)) > 256  # more than 8 bits of levels survived
    assert read_record(out)["output"]["dtype"] == "uint16"
    grey = enhance(Image.fromarray(deep[..., 0]), **FAST)
    assert grey.image.mode == "I;16"


def test_one_pixel_image() -> None:
    res = enhance(np.full((1, 1, 3), 200, np.uint8), scale=4)
    assert res.size == (4, 4)
    diff = np.abs(res.array.astype(int) - 200)
    assert diff.mean() <= 4 and diff.max() <= 20  # a flat patch: the model adds only faint texture


def test_very_wide_strip() -> None:
    rng = np.random.default_rng(1)
    strip = (rng.random((8, 20000, 3)) * 255).astype(np.uint8)
    res = enhance(strip, scale=2, model="esrgan-slim-x2", tile=512)
    assert res.size == (40000, 16)
    grid = res.record["plan"]["passes"][0]["grid"]
    assert grid[1] == 1 and grid[0] > 1


def test_over_the_pixel_limit_is_refused_with_the_fix() -> None:
    with pytest.raises(ImageTooLargeError, match="max_pixels"):
        enhance(np.zeros((100, 100, 3), np.uint8), max_pixels=5000, **FAST)


def test_save_embeds_record_and_refuses_to_overwrite_input(tmp_path: Path, small_rgb: np.ndarray) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(small_rgb).save(src)
    before = src.read_bytes()
    res = enhance(src, **FAST)
    with pytest.raises(EnhanceError, match="refusing to overwrite the input"):
        res.save(src)
    with pytest.raises(EnhanceError, match="refusing to overwrite the input"):
        res.save(tmp_path / "." / "in.png")
    assert src.read_bytes() == before
    out = res.save(tmp_path / "out.png")
    rec = read_record(out)
    assert rec == res.record
    assert rec["schema_version"] == 1 and rec["model"]["id"] == "esrgan-slim-x2"
    assert rec["model"]["sha256"] == "6163684c6cc182f37fa80e4e17ac6be714b9ede2fdefd043c7c16b9f98a727a6"
    assert rec["runtime"]["provider"] == "CPUExecutionProvider"
    assert rec["input"]["size"] == [48, 40] and rec["output"]["size"] == [96, 80]
    assert rec["versions"]["onnxruntime"] and rec["total_ms"] > 0
    json.dumps(rec)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), res.array)
    assert not list(tmp_path.glob(".enhance-*"))  # no temporary file left behind


def test_same_input_same_output_bytes(small_rgb: np.ndarray) -> None:
    a = enhance(small_rgb, scale=4, tile=32, overlap=8)
    b = enhance(small_rgb, scale=4, tile=32, overlap=8)
    assert a.record["output"]["pixels_sha256"] == b.record["output"]["pixels_sha256"]
    np.testing.assert_array_equal(a.array, b.array)


def test_wrong_task_or_scale_for_model(small_rgb: np.ndarray) -> None:
    with pytest.raises(EnhanceError, match="upscales x2, not x4"):
        enhance(small_rgb, scale=4, model="esrgan-slim-x2")
    with pytest.raises(EnhanceError, match="is a upscale model, not restore"):
        enhance(small_rgb, task="restore", model="esrgan-slim-x2")
    with pytest.raises(EnhanceError, match="unknown task"):
        enhance(small_rgb, task="sharpen")


def test_plan_larger_than_memory_is_refused_with_a_tile_that_fits(
    eval_images: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from enhance_widget import MemoryBudgetError, planning
    from enhance_widget.api import plan_for

    img = eval_images["coffee"][:200, :200]
    whole = plan_for((200, 200), scale=4, model="esrgan-slim-x4", tile="whole")
    monkeypatch.setattr(planning, "available_memory", lambda: int(whole.memory_bytes * 0.6))
    with pytest.raises(MemoryBudgetError, match="MiB is available; use tile=") as err:
        enhance(img, scale=4, model="esrgan-slim-x4", tile="whole")
    tile = err.value.suggested_tile
    assert tile is not None and tile < 200
    res = enhance(img, scale=4, model="esrgan-slim-x4", tile=tile)
    assert res.size == (800, 800)
    assert res.record["plan"]["memory_bytes"] <= whole.memory_bytes * 0.6
