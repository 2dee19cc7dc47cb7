"""Our deblur model (deblur-naflite, training/deblur): the default, its size rule, tiling, quality.

The acceptance figures against MAXIM are printed by benchmarks/deblur_benchmark.py (speed ratios do
not belong in unit tests); here: behaviour and pixel tolerances on small images.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.metrics import psnr
from training.degrade import benchmark_kernels, blur_uint8

from .conftest import ROOT

MODEL = "deblur-naflite"


def test_deblur_defaults_to_our_model_which_ships_small() -> None:
    card = catalog().get(MODEL)
    assert card.installed and card.bundled and card.task == "deblur"
    assert card.size_bytes is not None and card.size_bytes <= 5 * 1024 * 1024
    assert (ROOT / "models" / card.file).stat().st_size == card.size_bytes
    assert plan_for((300, 200), task="deblur").model_id == MODEL
    assert plan_for((300, 200), task="deblur", quality="fast").model_id == MODEL + "-int8"
    best = plan_for((300, 200), task="deblur", quality="best")
    assert best.model_id == MODEL and best.tta
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    maxim = next(m for m in manifest["models"] if m["id"] == "maxim-deblurring-256")
    assert maxim.get("large") and not maxim.get("bundled", False)  # still selectable, not shipped


def test_any_size_is_padded_to_a_multiple_of_8_and_cropped_back(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["coffee"][:45, :67]
    plan = plan_for((67, 45), task="deblur", tile="whole")
    assert plan.passes[0].tiles[0].padded == (72, 48)
    out = enhance(img, task="deblur", tile="whole").array
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() < 8  # the same picture


def test_tiled_matches_untiled_on_512(eval_images: dict[str, np.ndarray]) -> None:
    """Default overlap (16 px), 256-px tiles, against one whole-image call: <= 2/255."""
    img = np.asarray(Image.fromarray(eval_images["astronaut"]).resize((512, 512), Image.Resampling.LANCZOS))
    bad = blur_uint8(img, benchmark_kernels()["motion-b"])
    whole = enhance(bad, task="deblur", tile="whole").array.astype(int)
    tiled_res = enhance(bad, task="deblur", tile=256)
    assert len(plan_for((512, 512), task="deblur", tile=256).passes[0].tiles) == 9
    diff = np.abs(tiled_res.array.astype(int) - whole)
    print("tiled vs whole: max", diff.max(), "mean", diff.mean())
    assert diff.max() <= 2


@pytest.mark.parametrize("kernel", ["box-h9", "motion-b", "gaussian-s2", "defocus-r3"])
def test_deblur_gains_on_every_blur_family(eval_images: dict[str, np.ndarray], kernel: str) -> None:
    clean = eval_images["chelsea"][:128, :128]
    bad = blur_uint8(eval_images["chelsea"], benchmark_kernels()[kernel])[:128, :128]
    out = enhance(bad, task="deblur").array
    gain = psnr(clean, out, border=8) - psnr(clean, bad, border=8)
    print(kernel, f"gain {gain:.2f} dB")
    assert gain >= 0.7


def test_sharp_input_is_left_nearly_alone(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["rocket"][:96, :96]
    out = enhance(img, task="deblur").array
    assert psnr(img, out, border=8) >= 30.0


def test_receptive_field_is_what_the_card_states() -> None:
    """An impulse changes the output only within the stated receptive field (151 px side)."""
    card = catalog().get(MODEL)
    rf = json.loads((ROOT / "models" / "manifest.json").read_text())
    stated = next(m for m in rf["models"] if m["id"] == MODEL)["receptive_field_px"]
    sess = ort.InferenceSession(str(ROOT / "models" / card.file), providers=["CPUExecutionProvider"])
    x = np.full((1, 3, 192, 192), 0.5, np.float32)
    base = sess.run(None, {"input": x})[0]
    x[0, :, 96, 96] = 1.0
    moved = np.abs(sess.run(None, {"input": x})[0] - base).max(axis=(0, 1)) > 1e-6
    ys, xs = np.nonzero(moved)
    reach = max(96 - ys.min(), ys.max() - 96, 96 - xs.min(), xs.max() - 96)
    assert 20 <= reach <= stated // 2
