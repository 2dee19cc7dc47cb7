"""Tests for the shipped colorization model (models/colorize-unet.onnx) and its numpy math."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enhance_widget.colorize import (
    colorize_array,
    colourfulness,
    lab_to_rgb,
    rgb_to_lab,
    working_shape,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "colorize-unet.onnx"
HELDOUT = Path("/work/shared/datasets/sr-benchmark/BSD100")
# The colourfulness goals on all 20 held-out photos are checked in test_colorize_heldout.py.

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def run_model():  # type: ignore[no-untyped-def]
    if not MODEL.exists():
        pytest.skip(f"{MODEL} missing")
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["ab"], {"L": x})[0], dtype=np.float32)

    return run


def _load(name: str) -> np.ndarray:
    from PIL import Image

    path = HELDOUT / f"{name}.png"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def test_lab_known_values() -> None:
    lab = rgb_to_lab(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(lab[1], [53.2408, 80.0925, 67.2032], atol=1e-3)
    np.testing.assert_allclose(lab[2], [0.0, 0.0, 0.0], atol=1e-4)


def test_lab_round_trip() -> None:
    rgb = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert np.abs(back - rgb).max() < 1e-4


def test_working_shape() -> None:
    assert working_shape(768, 1024, 256) == (256, 336)
    assert working_shape(320, 480, 256) == (256, 384)
    h, w = working_shape(123, 457, 256)
    assert h % 16 == 0 and w % 16 == 0


# 48x80 and 256x336 are multiples of 16 but not of 32: the detector inside the graph (run 9's member)
# pads them to 32 and crops its features back, so the model keeps the multiple-of-16 rule.
@pytest.mark.parametrize(("h", "w"), [(64, 96), (48, 80), (256, 336)])
def test_model_io(run_model, h: int, w: int) -> None:  # type: ignore[no-untyped-def]
    x = np.random.default_rng(1).random((1, 1, h, w)).astype(np.float32)
    y = run_model(x)
    assert y.shape == (1, 2, h, w)
    assert y.dtype == np.float32
    assert np.isfinite(y).all() and np.abs(y).max() < 1.0


def test_shape_and_lightness_preserved(run_model) -> None:  # type: ignore[no-untyped-def]
    img = _load("img_001")
    out = colorize_array(img, run_model, 256)
    assert out.shape == img.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    dl = np.abs(rgb_to_lab(out)[..., 0] - rgb_to_lab(img)[..., 0]) * 2.55
    assert dl.mean() <= 1.0


def test_odd_size_image(run_model) -> None:  # type: ignore[no-untyped-def]
    img = _load("img_002")[:201, :333]
    out = colorize_array(img, run_model, 256)
    assert out.shape == img.shape


def test_strength_zero_is_grey(run_model) -> None:  # type: ignore[no-untyped-def]
    img = _load("img_003")
    out = colorize_array(img, run_model, 256, strength=0.0)
    lab = rgb_to_lab(out)
    assert np.abs(lab[..., 1:]).max() < 0.05
    assert colourfulness(out) < 0.5


def test_strength_range(run_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        colorize_array(np.zeros((32, 32, 3), np.float32), run_model, 256, strength=2.0)
