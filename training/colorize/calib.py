"""Internal validation: loss, CIEDE2000 / colourfulness through the real pipeline, and the choice of
the decoding parameters (alpha, T, chroma scale) on the internal validation split (never BSD100 1-20)."""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from model import colorize_array, colourfulness, decode, rgb_to_lab, rgb_to_lab_t
from skimage.color import deltaE_ciede2000

ALPHAS = tuple(float(v) for v in os.environ.get("CALIB_ALPHAS", "0,0.5,1").split(","))
TEMPS = tuple(float(v) for v in os.environ.get("CALIB_TEMPS", "0.3,0.45,0.6,0.8,1").split(","))
SCALES = tuple(float(v) for v in os.environ.get("CALIB_SCALES", "0.85,1,1.15").split(","))


def grey_de(val_imgs: list[np.ndarray]) -> list[float]:
    out = []
    for im in val_imgs:
        lab = rgb_to_lab(im.astype(np.float32) / 255)
        g = lab.copy()
        g[..., 1:] = 0
        out.append(float(np.mean(deltaE_ciede2000(lab, g))))
    return out


def val_loss(net: nn.Module, val_imgs: list[np.ndarray], crit: Any, device: torch.device) -> float:
    net.eval()
    losses = []
    with torch.no_grad():
        for im in val_imgs:
            h, w = (im.shape[0] // 16) * 16, (im.shape[1] // 16) * 16
            rgb = torch.from_numpy(im[:h, :w].copy()).permute(2, 0, 1)[None].float().div(255).to(device)
            lab = rgb_to_lab_t(rgb)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = net(lab[:, :1] / 100)
            losses.append(float(crit(logits, F.avg_pool2d(lab[:, 1:], 2))))
    net.train()
    return float(np.mean(losses))


def val_logits(net: nn.Module, val_imgs: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """Logits of each validation photo at the pipeline's working size (as colorize_array feeds it)."""
    net.eval()
    out: list[torch.Tensor] = []

    def grab(x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            out.append(net(torch.from_numpy(x).to(device)).float())
        return np.zeros((1, 2, x.shape[2], x.shape[3]), np.float32)

    for im in val_imgs:
        colorize_array(im.astype(np.float32) / 255, grab, 256)
    net.train()
    return out


def score(
    logits: list[torch.Tensor],
    val_imgs: list[np.ndarray],
    centers: torch.Tensor,
    log_w: torch.Tensor,
    dec: dict[str, float],
    gde: list[float],
    pool: ThreadPoolExecutor,
) -> dict[str, Any]:
    """Pipeline metrics of one decoding on the validation photos."""
    preds = []
    for z, im in zip(logits, val_imgs):
        ab = decode(z, centers, log_w, dec["alpha"], dec["t"], dec["scale"])
        ab = F.interpolate(ab, scale_factor=2.0, mode="bilinear", align_corners=False).cpu().numpy()
        preds.append(colorize_array(im.astype(np.float32) / 255, lambda x, ab=ab: ab, 256))

    def one(pair: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
        im, pr = pair
        orig = im.astype(np.float32) / 255
        de = float(np.mean(deltaE_ciede2000(rgb_to_lab(orig), rgb_to_lab(pr))))
        return de, colourfulness(pr) / max(colourfulness(orig), 1e-6)

    res = list(pool.map(one, zip(val_imgs, preds)))
    de = np.array([r[0] for r in res])
    cr = np.array([r[1] for r in res])
    return {
        **dec,
        "de2000": float(de.mean()),
        "rel_to_grey": float(de.mean() / np.mean(gde) - 1),
        "frac_better_than_grey": float(np.mean(de < np.array(gde))),
        "cf_ratio_mean": float(cr.mean()),
        "cf_ratio_min": float(cr.min()),
    }


def choose_decoding(
    net: nn.Module,
    val_imgs: list[np.ndarray],
    centers: torch.Tensor,
    log_w: torch.Tensor,
    device: torch.device,
    gde: list[float],
    pool: ThreadPoolExecutor,
    cf_mean: float = 0.7,
    cf_min: float = 0.3,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Grid over (alpha, T, scale): lowest val CIEDE2000 with colourfulness ratio mean >= cf_mean, min >= cf_min."""
    logits = val_logits(net, val_imgs, device)
    rows = []
    for a, t, s in itertools.product(ALPHAS, TEMPS, SCALES):
        rows.append(score(logits, val_imgs, centers, log_w, {"alpha": a, "t": t, "scale": s}, gde, pool))
    ok = [r for r in rows if r["cf_ratio_mean"] >= cf_mean and r["cf_ratio_min"] >= cf_min]
    best = min(ok, key=lambda r: r["de2000"]) if ok else max(rows, key=lambda r: r["cf_ratio_mean"])
    return best, rows
