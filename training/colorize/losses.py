"""Soft-encoded (optionally class-rebalanced) cross-entropy over the ab bins, and the rebalancing weights."""

from __future__ import annotations

import numpy as np
import torch
from model import GRID, SIGMA, rgb_to_lab


class SoftCE:
    """Cross-entropy against the Gaussian soft-encoding (sigma 5) of each pixel's ab, weighted per pixel."""

    def __init__(self, centers: torch.Tensor, weights: torch.Tensor) -> None:
        self.c = centers  # (Q,2)
        self.c2 = (centers**2).sum(1)[None, :, None, None]
        self.w = weights  # (Q,)

    def __call__(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """logits (B,Q,h,w); ab (B,2,h,w) target in ab units."""
        d2 = (ab**2).sum(1, keepdim=True) - 2 * torch.einsum("bchw,qc->bqhw", ab, self.c) + self.c2
        q = torch.softmax(-d2 / (2 * SIGMA**2), dim=1)
        z = logits.float()
        ce = torch.logsumexp(z, 1) - (q * z).sum(1)
        return (self.w[d2.argmin(1)] * ce).mean()


def class_weights(imgs: list[np.ndarray], centers: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Zhang et al. rebalancing weights (lam = uniform mix; 1 = none) from the smoothed ab prior; also mean ab."""
    abs_ = np.concatenate(
        [rgb_to_lab(im[::4, ::4].astype(np.float32) / 255.0)[..., 1:].reshape(-1, 2) for im in imgs]
    )
    off = 20
    lut = np.full((2 * off + 1, 2 * off + 1), -1, np.int64)
    ci = np.round(centers / GRID).astype(np.int64) + off
    lut[ci[:, 0], ci[:, 1]] = np.arange(len(centers))
    gi = np.clip(np.round(abs_ / GRID).astype(np.int64) + off, 0, 2 * off)
    nn_ = lut[gi[:, 0], gi[:, 1]]
    miss = nn_ < 0
    if miss.any():
        nn_[miss] = ((abs_[miss][:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    p = np.bincount(nn_, minlength=len(centers)).astype(np.float64)
    p /= p.sum()
    dc = ((centers[:, None, :] - centers[None]) ** 2).sum(-1)
    k = np.exp(-dc / (2 * SIGMA**2))
    k /= k.sum(1, keepdims=True)
    ps = k @ p
    w = 1.0 / ((1 - lam) * ps + lam / len(centers))
    w /= (ps * w).sum()
    return w.astype(np.float32), abs_.mean(0)
