"""Quality numbers against values known in closed form, and the evaluation degradations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from enhance_widget.metrics import (
    colourfulness,
    degrade,
    difference_map,
    psnr,
    quality,
    seam_cuts,
    seam_score,
    ssim,
    y_channel,
)

# the BT.601 luma weights (0..255 in, 16..235 out) that y_channel applies
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


@pytest.fixture(scope="module")
def grey_noise() -> tuple[np.ndarray, np.ndarray, float]:
    """A flat mid-grey image and a copy with Gaussian noise of sigma 8 (no clipping, float)."""
    rng = np.random.default_rng(1234)
    clean = np.full((256, 256, 3), 128.0)
    sigma = 8.0
    return clean, clean + rng.normal(0.0, sigma, clean.shape), sigma


def test_psnr_of_identical_images_is_inf_without_a_warning(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["coffee"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isinf(psnr(img, img)) and psnr(img, img) > 0
        assert math.isinf(psnr(img, img.copy(), y_only=False))


def test_psnr_rgb_matches_the_formula_for_a_known_noise_level(
    grey_noise: tuple[np.ndarray, np.ndarray, float],
) -> None:
    clean, noisy, sigma = grey_noise
    expected = 20 * math.log10(255.0 / sigma)  # 30.07 dB
    assert psnr(clean, noisy, y_only=False) == pytest.approx(expected, abs=0.1)
    # uint8 rounding adds 1/12 to the noise variance: still within 0.1 dB
    noisy8 = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    assert psnr(clean.astype(np.uint8), noisy8, y_only=False) == pytest.approx(expected, abs=0.1)


def test_psnr_y_matches_the_formula_for_a_known_noise_level(
    grey_noise: tuple[np.ndarray, np.ndarray, float],
) -> None:
    clean, noisy, sigma = grey_noise
    # independent noise per channel: the Y noise has sigma * |weights|
    sigma_y = sigma * float(np.sqrt((Y_WEIGHTS**2).sum()))
    assert psnr(clean, noisy) == pytest.approx(20 * math.log10(255.0 / sigma_y), abs=0.1)


def test_psnr_border_shaves_the_edges() -> None:
    ref = np.zeros((32, 32, 3))
    test = ref.copy()
    test[:2] = 255.0  # damage only the two top rows
    assert psnr(ref, test, border=2) == math.inf
    assert psnr(ref, test) < 20


def test_ssim_of_identical_images_is_one(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["chelsea"]
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, img, y_only=False) == pytest.approx(1.0)


def test_ssim_falls_with_noise(grey_noise: tuple[np.ndarray, np.ndarray, float]) -> None:
    clean, noisy, _ = grey_noise
    assert ssim(clean, noisy, y_only=False) < 0.5


def test_quality_reports_both_variants(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["rocket"]
    q = quality(img, degrade(img, "restore", seed=3))
    assert set(q) == {"psnr_y", "psnr_rgb", "ssim_y", "ssim_rgb"}
    # the luma average cancels part of the per-channel noise: Y-PSNR is higher
    assert q["psnr_y"] > q["psnr_rgb"] > 18
    assert 0 < q["ssim_rgb"] < 1 and 0 < q["ssim_y"] < 1


def test_y_channel_range() -> None:
    assert float(y_channel(np.zeros((1, 1, 3)))[0, 0]) == pytest.approx(16.0)
    assert float(y_channel(np.full((1, 1, 3), 255.0))[0, 0]) == pytest.approx(235.0)


def test_seam_score_is_zero_on_a_smooth_ramp() -> None:
    yy, xx = np.mgrid[0:96, 0:128]
    ramp = 1.1 * xx + 1.1 * yy  # the same step everywhere, across the cuts and elsewhere
    img = np.repeat(ramp[..., None], 3, axis=2)
    assert seam_score(img, [32, 64, 96], [48]) == pytest.approx(0.0, abs=1e-9)


def test_seam_score_is_large_with_a_step_at_the_cut() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(100.0, 2.0, (64, 64, 3))  # mild texture: mean step elsewhere ~1.3
    img[:, 32:] += 40.0
    score = seam_score(img, [32], [])
    assert score == pytest.approx(40.0, abs=2.0)
    assert seam_score(img, [20], []) == pytest.approx(0.0, abs=0.5)  # the step is not at that cut


def test_seam_score_without_cuts_is_zero() -> None:
    assert seam_score(np.zeros((8, 8)), [], []) == 0.0


def test_seam_cuts_come_from_the_plan() -> None:
    from enhance_widget import plan_for

    plan = plan_for((256, 256), scale=2, model="esrgan-slim-x2", tile=64, overlap=0)
    assert seam_cuts(plan) == ([128, 256, 384], [128, 256, 384])
    chained = plan_for((40, 40), scale=4, model="idealo-psnr-small-x4", tile=24, overlap=4)
    xs, ys = seam_cuts(chained)
    assert xs and ys and max(xs) < 160  # cuts of the last pass, in final output pixels


def test_colourfulness_of_grey_is_zero_and_of_colour_is_not(eval_images: dict[str, np.ndarray]) -> None:
    grey = degrade(eval_images["astronaut"], "colorize")
    assert colourfulness(grey) == 0.0
    assert colourfulness(np.full((8, 8, 3), 77, np.uint8)) == 0.0
    assert colourfulness(eval_images["astronaut"]) > 20
    red_green = np.zeros((8, 8, 3))
    red_green[::2, :, 0] = 255
    red_green[1::2, :, 1] = 255
    assert colourfulness(red_green) > 100


def test_difference_map() -> None:
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[1, 2] = (30, 0, 0)
    d = difference_map(a, b)
    assert d.shape == (4, 5) and d[1, 2] == 10.0 and d.sum() == 10.0


def test_degrade_upscale_is_pillow_bicubic(eval_images: dict[str, np.ndarray]) -> None:
    from PIL import Image

    hr = eval_images["coffee"]
    lr = degrade(hr, "upscale", scale=4)
    assert lr.shape == (64, 64, 3) and lr.dtype == np.uint8
    expected = np.asarray(Image.fromarray(hr).resize((64, 64), Image.Resampling.BICUBIC))
    assert np.array_equal(lr, expected)
    with pytest.raises(ValueError, match="divisible"):
        degrade(hr[:255], "upscale", scale=2)


def test_degrade_restore_is_seeded_gaussian_noise(eval_images: dict[str, np.ndarray]) -> None:
    clean = np.full((128, 128, 3), 128, np.uint8)
    a, b = degrade(clean, "restore", seed=7), degrade(clean, "restore", seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, degrade(clean, "restore", seed=8))
    assert float((a.astype(float) - 128).std()) == pytest.approx(25.0, abs=0.3)
    assert psnr(clean, a, y_only=False) == pytest.approx(20 * math.log10(255 / 25), abs=0.1)


def test_degrade_deblur_is_a_horizontal_box_blur() -> None:
    img = np.zeros((3, 30, 3), np.uint8)
    img[:, 15] = 90
    out = degrade(img, "deblur")
    assert out.shape == img.shape
    assert (out[:, 11:20] == 10).all()  # 90 spread over 9 pixels
    assert (out[:, :11] == 0).all() and (out[:, 20:] == 0).all()
    flat = np.full((4, 12, 3), 200, np.uint8)  # edges replicated: a flat image stays flat
    assert np.array_equal(degrade(flat, "deblur"), flat)


def test_degrade_colorize_is_grey_and_rejects_other_input(eval_images: dict[str, np.ndarray]) -> None:
    g = degrade(eval_images["rocket"], "colorize")
    assert g.shape == (256, 256, 3) and (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    with pytest.raises(ValueError, match="uint8"):
        degrade(eval_images["rocket"].astype(np.float32), "restore")
    with pytest.raises(ValueError, match="unknown task"):
        degrade(eval_images["rocket"], "sharpen")
