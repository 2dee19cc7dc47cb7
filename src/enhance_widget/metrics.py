"""Image quality numbers: PSNR/SSIM (via scikit-image, an optional extra), Y channel, seam score.

The seam score needs only numpy; PSNR and SSIM use scikit-image's implementations.
"""

from __future__ import annotations

from collections.abc import Sequence

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
