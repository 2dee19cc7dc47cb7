"""colorize-unet network, ab bins, colour math and the ONNX export wrapper (decoding inside the graph)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from enhance_widget.colorize import AB_SCALE, colorize_array, colourfulness, rgb_to_lab  # noqa: E402

__all__ = ["AB_SCALE", "colorize_array", "colourfulness", "rgb_to_lab"]

GRID = 10.0  # ab bin size
SIGMA = 5.0  # soft-encoding kernel width (ab units)

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


BASE_CHANNELS = (24, 48, 96, 128, 160)


def widths(mult: float) -> tuple[int, ...]:
    """Encoder channels for a width multiplier (rounded to multiples of 8; 1.0 = the base network)."""
    return tuple(c if mult == 1.0 else max(8, round(c * mult / 8) * 8) for c in BASE_CHANNELS)


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

    def __init__(self, q: int, ch: tuple[int, ...] = BASE_CHANNELS, dropout: float = 0.0) -> None:
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

    def guide_features(self, lum: torch.Tensor) -> list[torch.Tensor]:
        """Extra feature maps for the encoder levels 2-4: none here (see backbone.py)."""
        return []

    def guide(self, level: int, feats: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The term added to encoder level ``level``'s output ``x`` (2, 3, 4) from ``guide_features``."""
        raise NotImplementedError

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        feats = self.guide_features(lum)
        x0 = self.stem(lum - 0.5)
        x1 = self.e1(x0)
        x2 = self.e2(x1)
        if feats:
            x2 = x2 + self.guide(2, feats, x2)
        x3 = self.e3(x2)
        if feats:
            x3 = x3 + self.guide(3, feats, x3)
        x4 = self.e4(x3)
        if feats:
            x4 = x4 + self.guide(4, feats, x4)
        g = self.glob(x4.mean(dim=(2, 3)))
        x4 = F.relu(x4 + g[:, :, None, None])
        y = self.drop(self.d3(self._up(x4, x3)))
        y = self.drop(self.d2(self._up(y, x2)))
        y = self.d1(self._up(y, x1))
        return self.head(y)


def decode(
    logits: torch.Tensor, centers: torch.Tensor, log_w: torch.Tensor, alpha: float, t: float, scale: float
) -> torch.Tensor:
    """Annealed mean of the (prior-corrected) bin distribution -> ab in units ab/128, same resolution.

    ``softmax((logits + alpha * log_w) / t) . centres * scale``: ``alpha`` re-weights the bins by the
    class-rebalancing weights (alpha = 0: the model's own posterior), ``t`` anneals towards the mode,
    ``scale`` multiplies the chroma.
    """
    p = torch.softmax((logits.float() + alpha * log_w[None, :, None, None]) / t, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centers) * (scale / AB_SCALE)


class ExportWrapper(nn.Module):
    """L -> ab (units ab/128) at the input size; the decoding parameters are folded into two 1x1 convs."""

    def __init__(
        self, net: ColorUNet, centers: torch.Tensor, log_w: torch.Tensor, alpha: float, t: float, scale: float
    ) -> None:
        super().__init__()
        self.net = net
        with torch.no_grad():  # logits/t + alpha*log_w/t: fold into the head
            self.net.head.weight.mul_(1.0 / t)
            self.net.head.bias.mul_(1.0 / t).add_(alpha * log_w / t)
        dec = nn.Conv2d(centers.shape[0], 2, 1, bias=False)
        dec.weight.data = (centers * scale / AB_SCALE).t().reshape(2, -1, 1, 1).clone()
        self.decode = dec

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        ab = self.decode(torch.softmax(self.net(lum), dim=1))
        return F.interpolate(ab, scale_factor=2.0, mode="bilinear", align_corners=False)


def export_onnx(
    net: ColorUNet, centers: torch.Tensor, log_w: torch.Tensor, dec: dict[str, float], path: Path
) -> None:
    """Export a copy of ``net`` (CPU, fp32, eval) with the decoding ``dec`` = {alpha, t, scale} inside."""
    import copy

    sys.path.insert(0, str(ROOT))
    from training.export import export  # the shared exporter (opset 17, legacy tracer, ORT check)

    n = copy.deepcopy(net).cpu().float().eval()
    wrap = ExportWrapper(n, centers.cpu(), log_w.cpu(), dec["alpha"], dec["t"], dec["scale"]).eval()
    # The 1-channel L input, "L"/"ab" and N/H/W are stored in every member's bytes; the probe as before.
    export(wrap, path, (256, 256), "L", "ab", channels=1, axis_names=("N", "H", "W"))
