"""Image quality numbers: PSNR/SSIM (via scikit-image, an optional extra), Y channel, seam score.

The seam score needs only numpy; PSNR and SSIM use scikit-image's implementations. The evaluation
protocol of the research notebooks (how each task's input is degraded from a clean photo, which
numbers are reported) lives here too, so that notebooks and tests share one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def y_channel(rgb: np.ndarray) -> NDArray[np.float64]:
    """BT.601 luma (16..235 for 0..255 input) as used in super-resolution papers."""
    a = rgb.astype(np.float64)
    if a.ndim == 2:
        return a
    return 16.0 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0


def shave(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border > 0 else a


def psnr(reference: np.ndarray, test: np.ndarray, border: int = 0, y_only: bool = True) -> float:
    """PSNR in dB on a 0..255 scale (Y channel by default), border pixels shaved."""
    from skimage.metrics import peak_signal_noise_ratio

    ref = y_channel(reference) if y_only else reference.astype(np.float64)
    tst = y_channel(test) if y_only else test.astype(np.float64)
    with np.errstate(divide="ignore"):  # identical images: inf, without a warning
        return float(peak_signal_noise_ratio(shave(ref, border), shave(tst, border), data_range=255.0))


def ssim(reference: np.ndarray, test: np.ndarray, border: int = 0, y_only: bool = True) -> float:
    """SSIM (Y channel by default; RGB averages the channels)."""
    from skimage.metrics import structural_similarity

    if y_only:
        return float(
            structural_similarity(
                shave(y_channel(reference), border), shave(y_channel(test), border), data_range=255.0
            )
        )
    return float(
        structural_similarity(
            shave(reference.astype(np.float64), border),
            shave(test.astype(np.float64), border),
            data_range=255.0,
            channel_axis=2,
        )
    )


def seam_score(image: np.ndarray, cuts_x: Sequence[int], cuts_y: Sequence[int]) -> float:
    """How much stronger gradients are across tile borders than elsewhere (0..255 scale).

    ``cuts_x``/``cuts_y`` are the output coordinates where one tile's pixels give way to the
    next. The score is the mean absolute step across those lines minus the mean absolute step
    between all other neighbouring pixels; about 0 means no visible seam.
    """
    a = image.astype(np.float64)
    if a.ndim == 3:
        a = a.mean(axis=2)
    gx = np.abs(np.diff(a, axis=1))  # gx[:, i] is the step between columns i and i+1
    gy = np.abs(np.diff(a, axis=0))
    mask_x = np.zeros(gx.shape[1], dtype=bool)
    mask_y = np.zeros(gy.shape[0], dtype=bool)
    for c in cuts_x:
        if 0 < c < a.shape[1]:
            mask_x[c - 1] = True
    for c in cuts_y:
        if 0 < c < a.shape[0]:
            mask_y[c - 1] = True
    across = np.concatenate([gx[:, mask_x].ravel(), gy[mask_y, :].ravel()])
    rest = np.concatenate([gx[:, ~mask_x].ravel(), gy[~mask_y, :].ravel()])
    if across.size == 0:
        return 0.0
    return float(across.mean() - rest.mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness (0..255 input)."""
    a = rgb.astype(np.float64)
    rg = a[..., 0] - a[..., 1]
    yb = 0.5 * (a[..., 0] + a[..., 1]) - a[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def quality(reference: np.ndarray, test: np.ndarray, border: int = 0) -> dict[str, float]:
    """PSNR and SSIM, Y channel and RGB, of ``test`` against ``reference`` (0..255 images)."""
    return {
        "psnr_y": psnr(reference, test, border, y_only=True),
        "psnr_rgb": psnr(reference, test, border, y_only=False),
        "ssim_y": ssim(reference, test, border, y_only=True),
        "ssim_rgb": ssim(reference, test, border, y_only=False),
    }


def difference_map(reference: np.ndarray, test: np.ndarray) -> NDArray[np.float64]:
    """Absolute difference per pixel, averaged over the channels (HxW, same scale as the input)."""
    d = np.abs(reference.astype(np.float64) - test.astype(np.float64))
    return d.mean(axis=2) if d.ndim == 3 else d


def seam_cuts(plan: Any, pass_index: int = -1) -> tuple[list[int], list[int]]:
    """Output coordinates where one tile's core gives way to the next, for :func:`seam_score`.

    ``plan`` is a :class:`~enhance_widget.planning.Plan`; the cuts are those of one pass (the last
    by default, whose output is the result).
    """
    tiles = plan.passes[pass_index].tiles
    xs = sorted({t.core_box[0] for t in tiles} - {0})
    ys = sorted({t.core_box[1] for t in tiles} - {0})
    return xs, ys


NOISE_SIGMA = 25.0
"""Restore: Gaussian noise of this standard deviation (0..255 scale), seeded."""
BLUR_WIDTH = 9
"""Deblur: horizontal box blur of this many pixels."""


def degrade(
    clean: np.ndarray,
    task: str,
    scale: int = 2,
    seed: int = 0,
    sigma: float = NOISE_SIGMA,
    blur: int = BLUR_WIDTH,
) -> NDArray[np.uint8]:
    """The input a model of ``task`` is evaluated on, made from a clean uint8 RGB photo.

    upscale: bicubic downscale by ``scale`` (Pillow, antialiased); restore: additive Gaussian
    noise of ``sigma`` with ``seed``; deblur: a ``blur``-pixel horizontal box blur (edges
    replicated); colorize: BT.601 greyscale (three equal channels). Always uint8 HxWx3.
    """
    from PIL import Image

    rgb = np.asarray(clean)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"need a uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    if task == "upscale":
        if h % scale or w % scale:
            raise ValueError(f"{w}x{h} is not divisible by the scale {scale}")
        img = Image.fromarray(rgb).resize((w // scale, h // scale), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)
    if task == "restore":
        noise = np.random.default_rng(seed).normal(0.0, sigma, rgb.shape)
        return np.clip(np.rint(rgb + noise), 0, 255).astype(np.uint8)
    if task == "deblur":
        a = np.pad(rgb.astype(np.float64), ((0, 0), (blur // 2, blur - 1 - blur // 2), (0, 0)), mode="edge")
        c = np.cumsum(np.pad(a, ((0, 0), (1, 0), (0, 0))), axis=1)
        out = (c[:, blur:] - c[:, :-blur]) / blur
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if task == "colorize":
        grey = np.asarray(Image.fromarray(rgb).convert("L"))
        return np.repeat(grey[..., None], 3, axis=2)
    raise ValueError(f"unknown task {task!r}")
