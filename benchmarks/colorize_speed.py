"""Colorize speed on a 1024x768 photo (issue 8's goal: under 2 s on the 2-core CPU), side by side.

    python benchmarks/colorize_speed.py [--reps 5] [--threads 0] [--json OUT.json]

Three ways of colorizing the same photo (the bundled sample, resized to 1024x768), each warmed up
once, then run **interleaved** (A, B, C, A, B, C, ...) ``--reps`` times so that load from other
processes hits all alike:

* ``enhance``: the product's path, ``enhance(photo, task="colorize")`` (plan, model check, engine,
  CIELab conversion at full resolution, a/b upsampling, 8-bit result and its record);
* ``pipeline``: :func:`enhance_widget.colorize.colorize_array` with a plain onnxruntime session;
* ``model``: the model call alone at the working size (256 px short side).

Prints the median seconds, the ratios between them, and ``enhance`` against the 2 s goal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from enhance_widget import enhance
from enhance_widget.catalog import SOURCE_MODELS_DIR
from enhance_widget.colorize import DEFAULT_WORKING_SIZE, colorize_array, rgb_to_lab, working_shape

GOAL_S = 2.0
SIZE = (1024, 768)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    photo = np.asarray(
        Image.open(SOURCE_MODELS_DIR / "sample.png").convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
    )
    rgb = photo.astype(np.float32) / 255
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(
        str(SOURCE_MODELS_DIR / "colorize-unet.onnx"), opts, providers=["CPUExecutionProvider"]
    )

    def run_model(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["ab"], {"L": x})[0], np.float32)

    h, w = working_shape(SIZE[1], SIZE[0], DEFAULT_WORKING_SIZE)
    lum = rgb_to_lab(np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BICUBIC)) / 255)
    x = (lum[..., 0] / 100).astype(np.float32)[None, None]
    threads = args.threads or None
    ways: dict[str, Callable[[], object]] = {
        "enhance": lambda: enhance(photo, task="colorize", threads=threads),
        "pipeline": lambda: colorize_array(rgb, run_model),
        "model": lambda: run_model(x),
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    for fn in ways.values():
        fn()  # warm-up
    for _ in range(args.reps):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"colorize-unet on a {SIZE[0]}x{SIZE[1]} photo (model input {w}x{h}), median of {args.reps}:")
    for k, v in med.items():
        print(f"  {k:9s} {v:6.3f} s")
    ratios = {
        "enhance / pipeline": med["enhance"] / med["pipeline"],
        "model / pipeline": med["model"] / med["pipeline"],
        "enhance / goal (2 s)": med["enhance"] / GOAL_S,
    }
    for k, v in ratios.items():
        print(f"  {k:22s} {v:5.2f}")
    print(f"goal < {GOAL_S:g} s: {'met' if med['enhance'] < GOAL_S else 'NOT met'}")
    if args.json:
        record = {
            "median_s": med,
            "ratios": ratios,
            "reps": args.reps,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "onnxruntime": ort.__version__,
        }
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
