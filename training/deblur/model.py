"""NAFLite: a compact NAFNet-style U-Net for deblurring (torch).

NAFNet (Chen et al., ECCV 2022) blocks: LayerNorm over channels, 1x1 conv to 2c, depthwise 3x3,
SimpleGate (split in two halves, multiply), 1x1 conv back, scaled residual; then a gated 1x1
feed-forward with its own residual.  Two changes for this project:

* **No simplified channel attention.**  NAFNet's global average pool makes every output pixel
  depend on the whole input, so tiles would disagree with the whole image.  Without it the network
  is purely local (receptive field below), which is what tiling with overlap blending needs.
* **Widths capped** (24, 48, 96, 144 over 3 downsamplings) with most blocks at 1/8 resolution,
  where they are cheap per pixel and widen the receptive field to ~140 px, enough for the 31 px
  motion blurs it is trained on.  About 1.1 M parameters (4.4 MB as float32 ONNX, under the 5 MB
  limit); ~45 k multiply-adds per pixel.

Every op exports to standard ONNX (opset 17: Conv incl. grouped, ReduceMean, Sqrt, Mul, Add,
Split/Slice, DepthToSpace), so the browser engine (onnxruntime-web WASM) runs it.  Input H and W
must be multiples of 8 (``MULTIPLE``): the engine pads by reflection and crops back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MULTIPLE = 8
WIDTHS = (24, 48, 96, 144)
ENC_BLOCKS = (1, 1, 2)
MIDDLE_BLOCKS = 6
DEC_BLOCKS = (1, 1, 1)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of NCHW, written with plain reductions (ONNX-friendly)."""

    def __init__(self, c: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        d = x - mu
        var = (d * d).mean(1, keepdim=True)
        return d / torch.sqrt(var + self.eps) * self.weight + self.bias


class SimpleGate(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.dw = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.conv2 = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn1 = nn.Conv2d(c, 2 * c, 1)
        self.ffn2 = nn.Conv2d(c, c, 1)
        self.gate = SimpleGate()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.gate(self.dw(self.conv1(self.norm1(x)))))
        x = x + y * self.beta
        y = self.ffn2(self.gate(self.ffn1(self.norm2(x))))
        return x + y * self.gamma


class NAFLite(nn.Module):
    """(N, 3, H, W) RGB in 0..1 -> the same, H and W multiples of 8; output = input + residual."""

    def __init__(
        self,
        widths: tuple[int, ...] = WIDTHS,
        enc_blocks: tuple[int, ...] = ENC_BLOCKS,
        middle_blocks: int = MIDDLE_BLOCKS,
        dec_blocks: tuple[int, ...] = DEC_BLOCKS,
    ) -> None:
        super().__init__()
        if not len(widths) == len(enc_blocks) + 1 == len(dec_blocks) + 1:
            raise ValueError("widths needs one more entry than enc_blocks and dec_blocks")
        self.intro = nn.Conv2d(3, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList(
            nn.Sequential(*(NAFBlock(w) for _ in range(n)))
            for w, n in zip(widths[:-1], enc_blocks, strict=True)
        )
        self.downs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 2, stride=2) for i in range(len(enc_blocks))
        )
        self.middle = nn.Sequential(*(NAFBlock(widths[-1]) for _ in range(middle_blocks)))
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i + 1], widths[i] * 4, 1, bias=False), nn.PixelShuffle(2))
            for i in reversed(range(len(dec_blocks)))
        )
        self.decoders = nn.ModuleList(
            nn.Sequential(*(NAFBlock(widths[i]) for _ in range(dec_blocks[i])))
            for i in reversed(range(len(dec_blocks)))
        )
        self.ending = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, inp: Tensor) -> Tensor:
        x = self.intro(inp)
        skips = []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = dec(up(x) + skip)
        return inp + self.ending(x)


def receptive_field(
    enc_blocks: tuple[int, ...] = ENC_BLOCKS,
    middle_blocks: int = MIDDLE_BLOCKS,
    dec_blocks: tuple[int, ...] = DEC_BLOCKS,
) -> int:
    """Side of the theoretical receptive field in input pixels (each 3x3 at stride s adds 2s; each
    2x2 stride-2 downsampling at stride s adds s; the 1x1 + pixel-shuffle upsampling adds up to s)."""
    rf = 1 + 2 + 2  # intro and ending 3x3 convs
    for lvl, n in enumerate(enc_blocks):
        rf += 2 * (2**lvl) * n + 2**lvl  # depthwise 3x3s, then the downsampling conv
    rf += 2 * (2 ** len(enc_blocks)) * middle_blocks
    for lvl, n in enumerate(dec_blocks):
        rf += 2 * (2**lvl) * n + 2**lvl
    return rf


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
