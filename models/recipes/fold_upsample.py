"""Fold "nearest upsample, then convolution" into "low-resolution convolution, then depth-to-space".

A nearest upsample by an integer factor ``s`` followed by a stride-1 KxK convolution computes, at the
high-resolution pixel ``Y = s*y + p`` (``p`` the sub-position, 0..s-1)::

    out[o, Y] = b[o] + sum_{c, i} W[o, c, i] * up[c, Y + i*dil - pad]
              = b[o] + sum_{c, i} W[o, c, i] * low[c, y + floor((p + i*dil - pad) / s)]

because ``up[c, Y'] = low[c, floor(Y' / s)]``. So each sub-position ``p`` is a convolution of the
LOW-resolution input with the kernel ``W_p[d] = sum of W[i] over the taps i with floor((p + i*dil -
pad)/s) = d``: one low-resolution convolution with ``s*s*Cout`` output channels (one group of ``Cout``
per sub-position pair (py, px)) followed by ``DepthToSpace(blocksize=s, mode=DCR)`` computes the same
function, per axis and in 2-D (the kernel is the outer sum of the per-axis tap maps). Zero padding
matches too: the upsampled index ``s*y + q`` lies in ``[0, s*H)`` exactly when ``y + floor(q/s)``
lies in ``[0, H)``, so the high-resolution zero border is the low-resolution zero border. The only
difference is floating-point summation order (taps that read the same input value are added first),
about 1e-7 relative.

For the esrgan-slim x4 tail (Resize x4 of 48 channels, then a 3x3 convolution to 3 channels) that
is a 3x3 convolution 48 -> 48 at low resolution plus a depth-to-space: the same multiply-adds, but
no 16x-sized 48-channel tensor, no Resize and no 3-output-channel convolution (which onnxruntime runs
poorly).

What is matched (anything else is left as it is): ``Resize`` (opset 10+, mode ``nearest``, a
coordinate transform and rounding that map output index ``Y`` to ``floor(Y/s)``; integer ``scales``
of ``[1, 1, s, s]``, or ``sizes`` computed from ``Shape`` of its own input times constants, checked
by evaluating that shape subgraph on probe shapes) and ``Upsample`` (nearest, constant integer
scales) whose only consumer is a 2-D ``Conv`` with constant weights, ``group`` 1, stride 1 and
"same" padding (explicit pads or ``auto_pad`` SAME_UPPER/SAME_LOWER, any dilation). Chains
(x2 -> conv -> x2 -> conv) are folded pair by pair. The shape subgraph that only fed a removed Resize
is removed with it; no other node changes, and nodes keep their names and order.

Usage (any Python with ``onnx`` and ``numpy``; the UpscalerJS recipe runs it in its venv)::

    python models/recipes/fold_upsample.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
from fold_match import (
    PROBE_HW,
    SHAPE_OPS,
    Graph,
    nearest_source_index,
    next_match,
    replicates,
    same_pads,
    upsample_factor,
)
from fold_rewrite import Fold, describe, fold_upsample_convs, fold_weights, tap_map

__all__ = [
    "PROBE_HW",
    "SHAPE_OPS",
    "Fold",
    "Graph",
    "describe",
    "fold_upsample_convs",
    "fold_weights",
    "main",
    "nearest_source_index",
    "next_match",
    "replicates",
    "same_pads",
    "tap_map",
    "upsample_factor",
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    model = onnx.load(str(args.src))
    folds = fold_upsample_convs(model)
    if not folds:
        print(f"{args.src}: no nearest-upsample + conv pair to fold", file=sys.stderr)
        return 1
    onnx.checker.check_model(model)
    onnx.save(model, str(args.dst))
    print(describe(folds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
