"""Train the project's colorization model (``colorize-unet``) and export it to ONNX.

Model: a compact U-Net (about 2.3 M parameters) that sees CIELab L (``L / 100``) and predicts, at
half resolution, a distribution over Q quantised ab bins (grid 10, the bins reachable from sRGB,
as in Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016).

Loss (why not L1/L2 regression): regression to ab averages the plausible colours of an ambiguous
object (a car may be red or blue) into a desaturated brown, which is exactly the "tinted old photo"
look of the L1 feasibility run.  Here each pixel's ab is soft-encoded over the bins (Gaussian,
sigma 5) and the network is trained with cross-entropy, weighted per pixel by class rebalancing
(the inverse of the smoothed empirical ab prior of the training set mixed with a uniform
distribution, lambda 0.5), so rare saturated colours are not drowned by the common greys/browns.
At export, the distribution is decoded with the annealed mean (softmax(logits / T) weighted sum of
bin centres): T = 1 is the mean (safe, dull), T -> 0 the mode (vivid, blotchy); T is chosen on the
training set's own held-out split (never on BSD100) as the largest T whose mean colourfulness ratio
is at least ``--target-colourfulness``.  The decoding and the 2x bilinear upsampling are inside the
ONNX graph, which therefore maps ``L`` (N x 1 x H x W, L/100) to ``ab`` (N x 2 x H x W, ab/128), H
and W dynamic multiples of 16.

Training: whole data set decoded once into GPU memory; augmentation on the GPU (random square crop
of 60-100 % of the short side = scale jitter, horizontal flip, resampled to ``--crop`` px by
``grid_sample``; no vertical flips: skies belong at the top); AdamW, warmup-stable-decay learning
rate schedule over ``--total-steps``; EMA of the weights; bf16 autocast; an "epoch" is a fixed
number of steps (``--steps-per-epoch``), after which the EMA model is validated on the held-out
split (validation loss, CIEDE2000 vs the original and vs the grey input, colourfulness ratio) and
the row is appended to ``train_log.json`` / ``train_log.csv``.  ``--time-budget`` stops at an
epoch boundary and writes a checkpoint; ``--resume`` continues it (same total steps, same
schedule), so one run can be split into several <= 9-minute device calls.

Example (device)::

    python models/recipes/colorize/train.py --data .colorize-data/train-256.npz \
        --out $OUT --total-steps 12000 --time-budget 500 [--resume .colorize-data/ckpt]

Export only (CPU), from a checkpoint folder::

    python models/recipes/colorize/train.py --export-only --resume DIR --out DIR [--temperature T]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))
from enhance_widget.colorize import AB_SCALE, colorize_array, colourfulness, rgb_to_lab  # noqa: E402

GRID = 10.0  # ab bin size
SIGMA = 5.0  # soft-encoding kernel width (ab units)
LAMBDA = 0.5  # class rebalancing: mix of prior and uniform
T_GRID = (0.2, 0.38, 0.5, 0.7, 1.0, 1.5)


# ----------------------------------------------------------------------------------- colour math
_M = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


def rgb_to_lab_t(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (B,3,H,W) 0..1 -> CIELab (B,3,H,W), same formulas as enhance_widget.colorize."""
    m = _M.to(rgb.device, torch.float32)
    white = m.sum(1)
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin) / white[None, :, None, None]
    d = 6.0 / 29.0
    f = torch.where(xyz > d**3, xyz.clamp(min=1e-12) ** (1.0 / 3.0), xyz / (3 * d * d) + 4.0 / 29.0)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def gamut_bins() -> np.ndarray:
    """Centres (Q,2) of the ab grid cells reachable from 8-bit sRGB."""
    v = np.arange(0, 256, 3, dtype=np.float64) / 255.0
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    lab = rgb_to_lab(rgb)
    q = np.unique(np.round(lab[:, 1:] / GRID).astype(np.int64), axis=0)
    return (q * GRID).astype(np.float32)


# ----------------------------------------------------------------------------------------- model
class ResBlock(nn.Module):
    def __init__(self, c: int, dilation: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(x + self.b2(self.c2(y)))


def cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ColorUNet(nn.Module):
    """L (N,1,H,W) -> logits over Q ab bins at (N,Q,H/2,W/2); H, W multiples of 16."""

    def __init__(self, q: int, ch: tuple[int, ...] = (24, 48, 96, 128, 160), dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout2d(dropout)
        c0, c1, c2, c3, c4 = ch
        self.stem = cbr(1, c0)
        self.e1 = nn.Sequential(cbr(c0, c1, 2), ResBlock(c1))
        self.e2 = nn.Sequential(cbr(c1, c2, 2), ResBlock(c2))
        self.e3 = nn.Sequential(cbr(c2, c3, 2), ResBlock(c3))
        self.e4 = nn.Sequential(cbr(c3, c4, 2), ResBlock(c4, dilation=2))
        self.glob = nn.Sequential(nn.Linear(c4, c4), nn.ReLU(inplace=True), nn.Linear(c4, c4))
        self.d3 = nn.Sequential(cbr(c4 + c3, c3), ResBlock(c3))
        self.d2 = nn.Sequential(cbr(c3 + c2, c2), ResBlock(c2))
        self.d1 = nn.Sequential(cbr(c2 + c1, 64), cbr(64, 64))
        self.head = nn.Conv2d(64, q, 1)

    @staticmethod
    def _up(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.cat([x, skip], 1)

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        x0 = self.stem(lum - 0.5)
        x1 = self.e1(x0)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        x4 = self.e4(x3)
        g = self.glob(x4.mean(dim=(2, 3)))
        x4 = F.relu(x4 + g[:, :, None, None])
        y = self.drop(self.d3(self._up(x4, x3)))
        y = self.drop(self.d2(self._up(y, x2)))
        y = self.d1(self._up(y, x1))
        return self.head(y)


class ExportWrapper(nn.Module):
    """Logits -> annealed-mean ab (units ab/128), upsampled 2x to the input size."""

    def __init__(self, net: ColorUNet, centers: torch.Tensor, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.inv_t = 1.0 / temperature
        dec = nn.Conv2d(centers.shape[0], 2, 1, bias=False)
        dec.weight.data = (centers / AB_SCALE).t().reshape(2, -1, 1, 1).clone()
        self.decode = dec

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(self.net(lum) * self.inv_t, dim=1)
        ab = self.decode(p)
        return F.interpolate(ab, scale_factor=2.0, mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------------------------ data
def load_npz(path: Path) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    z = np.load(path)
    data, off = z["jpeg"], z["offsets"]

    def dec(i: int) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data[off[i] : off[i + 1]].tobytes())).convert("RGB"))

    with ThreadPoolExecutor(8) as ex:
        imgs = list(ex.map(dec, range(len(off) - 1)))
    return imgs, z["is_val"].astype(bool), [str(n) for n in z["names"]]


class GpuAugmenter:
    """All training images on the device in one zero-padded canvas; crops via grid_sample."""

    def __init__(
        self,
        imgs: list[np.ndarray],
        device: torch.device,
        crop: int,
        gen: torch.Generator,
        scale_min: float = 0.6,
        photometric: bool = False,
    ) -> None:
        self.scale_min, self.photometric = scale_min, photometric
        hm = max(i.shape[0] for i in imgs)
        wm = max(i.shape[1] for i in imgs)
        canvas = torch.zeros(len(imgs), 3, hm, wm, dtype=torch.uint8)
        for k, im in enumerate(imgs):
            canvas[k, :, : im.shape[0], : im.shape[1]] = torch.from_numpy(im).permute(2, 0, 1)
        self.canvas = canvas.to(device)
        self.hw = torch.tensor([[i.shape[0], i.shape[1]] for i in imgs], dtype=torch.float32, device=device)
        self.crop, self.gen, self.device = crop, gen, device
        t = (torch.arange(crop, device=device, dtype=torch.float32) + 0.5) / crop
        self.t = t

    def batch(self, n: int) -> torch.Tensor:
        g, dev = self.gen, self.device
        idx = torch.randint(0, self.canvas.shape[0], (n,), generator=g, device=dev)
        h, w = self.hw[idx, 0], self.hw[idx, 1]
        side = torch.minimum(h, w) * (
            self.scale_min + (1 - self.scale_min) * torch.rand(n, generator=g, device=dev)
        )
        y0 = (h - side) * torch.rand(n, generator=g, device=dev)
        x0 = (w - side) * torch.rand(n, generator=g, device=dev)
        flip = torch.rand(n, generator=g, device=dev) < 0.5
        tx = torch.where(flip[:, None], 1.0 - self.t[None], self.t[None])
        px = x0[:, None] + tx * side[:, None]  # (n, crop)
        py = y0[:, None] + self.t[None] * side[:, None]
        hc, wc = self.canvas.shape[2], self.canvas.shape[3]
        gx = (2 * px / wc - 1)[:, None, :].expand(n, self.crop, self.crop)
        gy = (2 * py / hc - 1)[:, :, None].expand(n, self.crop, self.crop)
        grid = torch.stack([gx, gy], -1)
        src = self.canvas[idx].float() / 255.0
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.photometric:  # exposure/contrast jitter, same for all channels (keeps hue)
            gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=g, device=dev) - 0.5) * 0.45)  # 0.8..1.25
            gain = 0.85 + 0.3 * torch.rand(n, 1, 1, 1, generator=g, device=dev)
            out = (out.clamp(0, 1) ** gamma * gain).clamp(0, 1)
        return out


# ------------------------------------------------------------------------------------------ loss
class RebalancedSoftCE:
    """Rebalanced soft-encoded cross-entropy, plus optional L1 of the expected ab (units ab/128)."""

    def __init__(self, centers: torch.Tensor, weights: torch.Tensor, l1_weight: float = 0.0) -> None:
        self.l1_weight = l1_weight
        self.c = centers  # (Q,2)
        self.c2 = (centers**2).sum(1)[None, :, None, None]
        self.w = weights  # (Q,)

    def __call__(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """logits (B,Q,h,w); ab (B,2,h,w) target in ab units."""
        d2 = (ab**2).sum(1, keepdim=True) - 2 * torch.einsum("bchw,qc->bqhw", ab, self.c) + self.c2
        q = torch.softmax(-d2 / (2 * SIGMA**2), dim=1)
        z = logits.float()
        ce = torch.logsumexp(z, 1) - (q * z).sum(1)
        wpx = self.w[d2.argmin(1)]
        loss = (wpx * ce).mean()
        if self.l1_weight > 0:
            p = torch.softmax(z, 1)
            exp_ab = torch.einsum("bqhw,qc->bchw", p, self.c)
            loss = loss + self.l1_weight * (exp_ab - ab).abs().mean() / AB_SCALE
        return loss


def class_weights(
    imgs: list[np.ndarray], centers: np.ndarray, lam: float = LAMBDA
) -> tuple[np.ndarray, np.ndarray]:
    """Zhang et al. rebalancing weights from the smoothed empirical ab prior; also returns mean ab."""
    abs_ = np.concatenate(
        [rgb_to_lab(im[::4, ::4].astype(np.float32) / 255.0)[..., 1:].reshape(-1, 2) for im in imgs]
    )
    # nearest bin: the bins are grid cells, so round to the grid and look up; search only misses
    off = 20
    lut = np.full((2 * off + 1, 2 * off + 1), -1, np.int64)
    ci = np.round(centers / GRID).astype(np.int64) + off
    lut[ci[:, 0], ci[:, 1]] = np.arange(len(centers))
    gi = np.clip(np.round(abs_ / GRID).astype(np.int64) + off, 0, 2 * off)
    nn_ = lut[gi[:, 0], gi[:, 1]]
    miss = nn_ < 0
    if miss.any():
        nn_[miss] = ((abs_[miss][:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(nn_, minlength=len(centers)).astype(np.float64)
    p = counts / counts.sum()
    dc = ((centers[:, None, :] - centers[None]) ** 2).sum(-1)
    k = np.exp(-dc / (2 * SIGMA**2))
    k /= k.sum(1, keepdims=True)
    ps = k @ p
    w = 1.0 / ((1 - lam) * ps + lam / len(centers))
    w /= (ps * w).sum()
    return w.astype(np.float32), abs_.mean(0)


# ------------------------------------------------------------------------------------ validation
def ciede2000_mean(lab1: np.ndarray, lab2: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000

    return float(np.mean(deltaE_ciede2000(lab1, lab2)))


def make_runner(net: nn.Module, centers: torch.Tensor, temperature: float, device: torch.device) -> Any:
    wrap = ExportWrapper(net, centers, temperature).to(device).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            return wrap(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return run


def validate(
    net: nn.Module,
    val_imgs: list[np.ndarray],
    centers: torch.Tensor,
    crit: RebalancedSoftCE,
    device: torch.device,
    temps: tuple[float, ...],
    pool: ThreadPoolExecutor,
) -> dict[str, Any]:
    net.eval()
    out: dict[str, Any] = {}
    # validation loss on the full (short side 256, multiple-of-16 cropped) images
    losses = []
    with torch.no_grad():
        for im in val_imgs:
            h, w = (im.shape[0] // 16) * 16, (im.shape[1] // 16) * 16
            rgb = torch.from_numpy(im[:h, :w]).permute(2, 0, 1)[None].float().div(255).to(device)
            lab = rgb_to_lab_t(rgb)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = net(lab[:, :1] / 100)
            losses.append(float(crit(logits, F.avg_pool2d(lab[:, 1:], 2))))
    out["val_loss"] = float(np.mean(losses))
    for t in temps:
        run = make_runner(net, centers, t, device)
        preds = [colorize_array(im.astype(np.float32) / 255, run, 256) for im in val_imgs]

        def metrics(pair: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
            im, pr = pair
            orig = im.astype(np.float32) / 255
            return ciede2000_mean(rgb_to_lab(orig), rgb_to_lab(pr)), colourfulness(pr) / max(
                colourfulness(orig), 1e-6
            )

        res = list(pool.map(metrics, zip(val_imgs, preds)))
        de = [r[0] for r in res]
        cr = [r[1] for r in res]
        out[f"T{t}"] = {
            "de2000": float(np.mean(de)),
            "cf_ratio_mean": float(np.mean(cr)),
            "cf_ratio_min": float(np.min(cr)),
        }
    net.train()
    return out


def grey_de(val_imgs: list[np.ndarray]) -> float:
    vals = []
    for im in val_imgs:
        lab = rgb_to_lab(im.astype(np.float32) / 255)
        g = lab.copy()
        g[..., 1:] = 0
        vals.append(ciede2000_mean(lab, g))
    return float(np.mean(vals))


# ------------------------------------------------------------------------------------ checkpoint
def save_ckpt(
    d: Path, net: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    d.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), d / "ckpt_model.pt")
    torch.save(ema.state_dict(), d / "ckpt_ema.pt")
    osd = opt.state_dict()
    # Adam moments stored as bf16 so the checkpoint fits the device transfer limits (documented).
    for s in osd["state"].values():
        for k in ("exp_avg", "exp_avg_sq"):
            if k in s:
                s[k] = s[k].to(torch.bfloat16)
    torch.save({"opt": osd, "state": state}, d / "ckpt_opt.pt")


def export_onnx(net: ColorUNet, centers: torch.Tensor, temperature: float, path: Path) -> None:
    wrap = ExportWrapper(net.cpu().float().eval(), centers.cpu(), temperature).eval()
    x = torch.rand(1, 1, 256, 256)
    torch.onnx.export(
        wrap,
        (x,),
        str(path),
        input_names=["L"],
        output_names=["ab"],
        opset_version=17,
        dynamic_axes={"L": {0: "N", 2: "H", 3: "W"}, "ab": {0: "N", 2: "H", 3: "W"}},
        dynamo=False,
    )


def pick_temperature(row: dict[str, Any], target: float) -> float:
    ok = [t for t in T_GRID if row[f"T{t}"]["cf_ratio_mean"] >= target]
    if ok:
        return min(ok, key=lambda t: row[f"T{t}"]["de2000"])
    return max(T_GRID, key=lambda t: row[f"T{t}"]["cf_ratio_mean"])


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".colorize-data/train-256.npz")
    ap.add_argument("--out", default=".colorize-data/run")
    ap.add_argument("--resume", default="")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--total-steps", type=int, default=12000)
    ap.add_argument("--steps-per-epoch", type=int, default=500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--decay-frac", type=float, default=0.3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--time-budget", type=float, default=1e9, help="seconds; stop at an epoch boundary")
    ap.add_argument(
        "--target-colourfulness",
        type=float,
        default=0.7,
        help="export T = the one with the lowest val CIEDE2000 among those whose mean colourfulness ratio >= this",
    )
    ap.add_argument(
        "--lam", type=float, default=LAMBDA, help="class rebalancing: uniform mix (1 = no rebalancing)"
    )
    ap.add_argument("--l1-weight", type=float, default=0.0, help="weight of the L1 term on the expected ab")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--scale-min", type=float, default=0.6)
    ap.add_argument("--photometric", action="store_true")
    ap.add_argument("--val-t", type=float, default=1.0, help="annealed-mean T for per-epoch validation")
    ap.add_argument(
        "--select", choices=["loss", "de"], default="de", help="best snapshot by val loss or val CIEDE2000"
    )
    ap.add_argument("--temperature", type=float, default=0.0, help="export T; 0 = choose on validation")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument(
        "--export-final", action="store_true", help="export the final EMA weights, not the best snapshot"
    )
    ap.add_argument(
        "--stop-step", type=int, default=0, help="stop (checkpoint) at the first epoch end >= this step"
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    t_start = time.time()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    centers_np = gamut_bins()
    centers = torch.from_numpy(centers_np).to(device)
    net = ColorUNet(len(centers_np), dropout=args.dropout).to(device)
    ema = ColorUNet(len(centers_np)).to(device)
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in net.parameters())
    decay, no_decay = [], []
    for n_, p in net.named_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.99),
        fused=device.type == "cuda",
    )
    state: dict[str, Any] = {"step": 0, "log": [], "best": None, "args_first": vars(args), "wall_s": 0.0}
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    if args.export_only:  # best snapshot (+ its chosen T from train_log.json) -> ONNX
        rd = Path(args.resume)
        sd = torch.load(rd / "best_ema_fp16.pt", map_location="cpu")
        ema.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
        logf = rd / "train_log.json"
        best = json.loads(logf.read_text()).get("best", {}) if logf.exists() else {}
        t = args.temperature or best.get("temperature", 1.0)
        export_onnx(ema, centers, t, out / "colorize-unet.onnx")
        print(f"exported with T={t}")
        return
    if args.resume:
        rd = Path(args.resume)
        net.load_state_dict(torch.load(rd / "ckpt_model.pt", map_location=device))
        ema.load_state_dict(torch.load(rd / "ckpt_ema.pt", map_location=device))
        blob = torch.load(rd / "ckpt_opt.pt", map_location=device, weights_only=False)
        opt.load_state_dict(blob["opt"])
        for s in opt.state.values():
            for k in ("exp_avg", "exp_avg_sq"):
                if k in s:
                    s[k] = s[k].float()
        state = blob["state"]
        gs = state.get("gen_state")
        if gs is not None:
            gen.set_state(gs.cpu() if hasattr(gs, "cpu") else gs)
        print(f"resumed at step {state['step']}", flush=True)
        if (rd / "best_ema_fp16.pt").exists() and rd.resolve() != out.resolve():
            shutil.copy(rd / "best_ema_fp16.pt", out / "best_ema_fp16.pt")

    imgs, is_val, names = load_npz(Path(args.data))
    train_imgs = [im for im, v in zip(imgs, is_val) if not v]
    val_imgs = [im for im, v in zip(imgs, is_val) if v]
    w_np, mean_ab = class_weights(train_imgs, centers_np, args.lam)
    crit = RebalancedSoftCE(centers, torch.from_numpy(w_np).to(device), args.l1_weight)
    aug = GpuAugmenter(train_imgs, device, args.crop, gen, args.scale_min, args.photometric)
    pool = ThreadPoolExecutor(min(16, os.cpu_count() or 2))
    gde = grey_de(val_imgs)
    info = {
        "params": n_params,
        "bins": len(centers_np),
        "train_images": len(train_imgs),
        "val_images": len(val_imgs),
        "mean_ab_train": [float(mean_ab[0]), float(mean_ab[1])],
        "val_grey_de2000": gde,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
    }
    print(json.dumps(info), flush=True)
    state.setdefault("info", info)

    net = net.to(memory_format=torch.channels_last)
    net.train()

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        d0 = int(args.total_steps * (1 - args.decay_frac))
        if step < d0:
            return args.lr
        return args.lr * max(0.0, 0.5 * (1 + math.cos(math.pi * (step - d0) / max(1, args.total_steps - d0))))

    t_chunk = time.time()
    epoch_t = None
    run_loss, run_n = 0.0, 0
    while state["step"] < args.total_steps:
        e0 = time.time()
        for _ in range(args.steps_per_epoch):
            step = state["step"]
            if step >= args.total_steps:
                break
            for gparam in opt.param_groups:
                gparam["lr"] = lr_at(step)
            with torch.no_grad():
                rgb = aug.batch(args.batch)
                lab = rgb_to_lab_t(rgb)
                lum = (lab[:, :1] / 100).contiguous(memory_format=torch.channels_last)
                ab_t = F.avg_pool2d(lab[:, 1:], 2)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = net(lum)
            loss = crit(logits, ab_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for pe, pn in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(pn, 1 - args.ema)
                for be, bn in zip(ema.buffers(), net.buffers()):
                    be.copy_(bn)
            run_loss += float(loss.detach()) if step % 25 == 0 else 0.0
            run_n += 1 if step % 25 == 0 else 0
            state["step"] += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_train_s = time.time() - e0
        v = validate(ema, val_imgs, centers, crit, device, (args.val_t,), pool)
        vt = v[f"T{args.val_t}"]
        row = {
            "epoch": len(state["log"]) + 1,
            "step": state["step"],
            "lr": lr_at(state["step"] - 1),
            "train_loss": run_loss / max(run_n, 1),
            "val_loss": v["val_loss"],
            "val_t": args.val_t,
            "val_de2000": vt["de2000"],
            "val_grey_de2000": gde,
            "val_cf_ratio_mean": vt["cf_ratio_mean"],
            "val_cf_ratio_min": vt["cf_ratio_min"],
            "epoch_train_s": round(epoch_train_s, 2),
            "img_per_s": round(args.steps_per_epoch * args.batch / epoch_train_s, 1),
            "wall_s": round(state["wall_s"] + time.time() - t_chunk, 1),
        }
        run_loss, run_n = 0.0, 0
        state["log"].append(row)
        print(json.dumps(row), flush=True)
        key = "val_loss" if args.select == "loss" else "val_de2000"
        if state["best"] is None or row[key] < state["best"][key]:
            state["best"] = {
                "epoch": row["epoch"],
                "step": row["step"],
                "val_loss": row["val_loss"],
                "val_de2000": row["val_de2000"],
                "select": key,
            }
            torch.save(
                {k: v_.half() if v_.is_floating_point() else v_ for k, v_ in ema.state_dict().items()},
                out / "best_ema_fp16.pt",
            )
        epoch_t = time.time() - e0
        if time.time() - t_chunk + epoch_t + 60 > args.time_budget:
            break
        if args.stop_step and state["step"] >= args.stop_step:
            break
    state["wall_s"] = state["wall_s"] + time.time() - t_chunk
    state["gen_state"] = gen.get_state()
    done = state["step"] >= args.total_steps
    vf = validate(ema, val_imgs, centers, crit, device, T_GRID, pool)
    state["final"] = {"done": done, "step": state["step"], "sweep": vf}
    save_ckpt(out, net, ema, opt, state)
    # The best snapshot (by --select on the training set's own held-out split) is exported.
    sd = torch.load(out / "best_ema_fp16.pt", map_location=device)
    best_net = ColorUNet(len(centers_np)).to(device)
    best_net.load_state_dict({k: v_.float() if v_.is_floating_point() else v_ for k, v_ in sd.items()})
    if args.export_final:
        best_net = ema
    vb = vf if args.export_final else validate(best_net, val_imgs, centers, crit, device, T_GRID, pool)
    t = args.temperature or pick_temperature(vb, args.target_colourfulness)
    state["best"]["sweep"] = vb
    state["best"]["temperature"] = t
    print(json.dumps({"final": state["final"], "best": state["best"]}), flush=True)
    export_onnx(best_net, centers, t, out / "colorize-unet.onnx")
    (out / "train_log.json").write_text(
        json.dumps({k: v_ for k, v_ in state.items() if k != "gen_state"}, indent=1, default=str)
    )
    with open(out / "train_log.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(state["log"][0].keys()))
        wr.writeheader()
        wr.writerows(state["log"])
    print(f"chunk done in {time.time() - t_start:.1f}s, step {state['step']}/{args.total_steps}", flush=True)


if __name__ == "__main__":
    main()
