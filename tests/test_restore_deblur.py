"""Acceptance for restore (FFDNet) and deblur (MAXIM) on the bundled evaluation images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.metrics import psnr


def test_restore_gains_over_10_db_at_sigma_25(eval_images: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    gains = []
    for name, clean in eval_images.items():
        noisy = np.clip(clean + rng.normal(0.0, 25.0, clean.shape), 0, 255).astype(np.uint8)
        out = enhance(noisy, task="restore", controls={"strength": 25}, tile=128, overlap=16).array
        gains.append(psnr(clean, out, y_only=False) - psnr(clean, noisy, y_only=False))
        assert out.shape == clean.shape, name
    print("restore PSNR gain (dB):", [round(g, 2) for g in gains])
    assert min(gains) >= 10.0


def test_restore_strength_is_the_models_sigma_input(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["chelsea"][:64, :64]
    weak = enhance(img, task="restore", controls={"strength": 5}).array.astype(int)
    strong = enhance(img, task="restore", controls={"strength": 50}).array.astype(int)
    assert np.abs(weak - img).mean() < np.abs(strong - img).mean()  # stronger = smoother
    fast = plan_for((64, 64), task="restore", quality="fast")
    assert fast.model_id == "ffdnet-color-int8"
    assert plan_for((63, 61), task="restore").passes[0].tiles[0].padded == (64, 62)  # even sizes


def box_blur_h9(img: np.ndarray) -> np.ndarray:
    """The deblur protocol's degradation: a 9-pixel horizontal box blur (kernel ones(1, 9) / 9),
    edge-replicated at the borders, rounded back to uint8."""
    padded = np.pad(img.astype(np.float64), ((0, 0), (4, 4), (0, 0)), mode="edge")
    blurred = sum(padded[:, k : k + img.shape[1]] for k in range(9)) / 9.0
    return np.rint(blurred).astype(np.uint8)


def test_deblur_gains_over_2_db_on_box_blur(eval_images: dict[str, np.ndarray]) -> None:
    card = catalog().get("maxim-deblurring-256")
    if not card.installed:
        pytest.skip("maxim-deblurring-256 (97 MB) is not installed: set ENHANCE_WIDGET_MODELS")
    clean = eval_images["chelsea"]
    blurred = box_blur_h9(clean)
    out = enhance(blurred, task="deblur", model="maxim-deblurring-256").array
    gain = psnr(clean, out, border=8) - psnr(clean, blurred, border=8)
    print(f"deblur PSNR gain: {gain:.2f} dB")
    assert gain >= 2.0
    plan = plan_for((300, 200), task="deblur", model="maxim-deblurring-256")
    assert plan.passes[0].tiles[0].padded == (256, 256)  # fixed tile, reflection padded


def test_gans_x4_alternative_when_installed(eval_images: dict[str, np.ndarray]) -> None:
    card = catalog().get("idealo-gans-x4")
    if not card.installed:
        pytest.skip("idealo-gans-x4 (16.8 MB) is not installed: set ENHANCE_WIDGET_MODELS")
    lr = eval_images["astronaut"][::4, ::4][:32, :32]
    out = enhance(lr, scale=4, model="idealo-gans-x4").array
    assert out.shape == (128, 128, 3)
    bicubic = np.asarray(Image.fromarray(lr).resize((128, 128), Image.Resampling.BICUBIC), dtype=float)
    assert np.abs(out - bicubic).mean() < 20  # the same picture, with its own detail


def test_x4_alternatives_are_cards_with_recipes() -> None:
    for model_id in ("idealo-gans-x4", "esrgan-thick-x4"):
        card = catalog().get(model_id)
        assert card.scale == 4 and card.task == "upscale" and card.sha256
        assert card.recipe_script is not None and card.recipe_script.is_file()
        assert card.recipe_command(card.recipe_script.parent)[-1] == model_id
