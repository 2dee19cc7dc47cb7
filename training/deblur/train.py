"""Train NAFLite to deblur (resumable; see training/loop.py and this folder's README).

    python -m training.deblur.train --data .deblur-data/photos.npz --out .deblur-data/run1

A second call with the same ``--out`` (holding ``checkpoint.pt``) resumes where the first stopped.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from training import data, degrade
from training.deblur.model import NAFLite, count_params, receptive_field
from training.loop import LoopConfig, train

CROP = 192
MARGIN = 18  # half the largest kernel (31 px motion trajectories fit in 35 px)
VAL_CROP = 240


def degrader(img: NDArray[np.uint8], rng: np.random.Generator, clean_p: float = 0.0) -> NDArray[np.uint8]:
    return degrade.degrade(img, rng, clean_p=clean_p)[0]


def blur_only(img: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    return degrade.degrade(img, rng, clean_p=1.0)[0]


def sample(
    photos: list[NDArray[np.uint8]], seed: int, clean_p: float, index: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    return data.pair(photos, index, seed, CROP, functools.partial(degrader, clean_p=clean_p), MARGIN)


def psnr_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of each image's -PSNR (dB, 0..1 scale): NAFNet's loss."""
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return (10.0 * torch.log10(mse + 1e-8)).mean()


def make_validate(sets: dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]], dev: torch.device):  # type: ignore[no-untyped-def]
    """PSNR before/after on fixed validation crops; ``sets``: name -> (degraded, clean) uint8 NHWC."""
    tensors = {
        k: tuple(torch.from_numpy(a).permute(0, 3, 1, 2).float().div(255.0).to(dev) for a in v)
        for k, v in sets.items()
    }

    def psnr(a: Tensor, y: Tensor) -> float:
        mse = ((a.clamp(0, 1) * 255).round() / 255 - y).pow(2).flatten(1).mean(1)
        return float((-10 * torch.log10(mse)).mean())

    base = {k: psnr(x, y) for k, (x, y) in tensors.items()}

    def validate(model: nn.Module) -> dict[str, float]:
        res: dict[str, float] = {}
        for k, (x, y) in tensors.items():
            out = torch.cat([model(x[i : i + 8]) for i in range(0, len(x), 8)])
            p = psnr(out, y)
            pre = "" if k == "full" else k + "_"
            res |= {
                pre + "psnr_in": round(base[k], 3),
                pre + "psnr_out": round(p, 3),
                pre + "gain": round(p - base[k], 3),
            }
        return res

    return validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--steps", type=int, default=0, help="0: fixed from the measured speed and --total-budget"
    )
    ap.add_argument(
        "--total-budget", type=float, default=780.0, help="seconds of training in all calls (auto steps)"
    )
    ap.add_argument("--budget", type=float, default=450.0, help="seconds of training in this call")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument(
        "--clean-p", type=float, default=0.0, help="share of samples blurred only (no noise/JPEG)"
    )
    ap.add_argument("--init", type=Path, default=None, help="start from these weights (fine-tuning)")
    a = ap.parse_args()
    photos = data.load(a.data, "train")
    small = [i for i, p in enumerate(photos) if min(p.shape[:2]) < CROP + 2 * MARGIN]
    photos = [p for i, p in enumerate(photos) if i not in small]
    val_photos = [p for p in data.load(a.data, "val") if min(p.shape[:2]) >= VAL_CROP]
    val_sets = {
        "full": data.fixed_pairs(val_photos, a.seed, VAL_CROP, degrader),
        "blur": data.fixed_pairs(val_photos, a.seed, VAL_CROP, blur_only),
    }
    val_bad = val_sets["full"][0]
    model = NAFLite()
    if a.init is not None:
        model.load_state_dict(torch.load(a.init, map_location="cpu"))
    print(
        json.dumps(
            {
                "params": count_params(model),
                "receptive_field": receptive_field(),
                "train_photos": len(photos),
                "dropped_small": len(small),
                "val_crops": len(val_bad),
            }
        ),
        flush=True,
    )
    cfg = LoopConfig(
        seed=a.seed,
        steps=a.steps,
        total_budget_s=a.total_budget,
        budget_s=a.budget,
        batch=a.batch,
        lr=a.lr,
        workers=a.workers,
        val_every=a.val_every,
        warmup=a.warmup,
    )
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    validate = make_validate(val_sets, dev)
    state = train(
        model, functools.partial(sample, photos, a.seed, a.clean_p), psnr_loss, cfg, a.out, validate
    )
    torch.save(model.state_dict(), a.out / "weights.pt")
    print(json.dumps(state), flush=True)


if __name__ == "__main__":
    main()
