"""INT8 vs FP32 speed, measured side by side: prints a table of time ratios.

    python benchmarks/int8_vs_fp32.py [--sizes 128 256] [--reps 5] [--threads 0] [--json OUT.json]

For each pair (FP32 parent, INT8 variant from ``models/recipes/quantize_int8.py``), and for comparison
the tiny ``esrgan-slim-x2`` against ``idealo-psnr-small-x2``, both sessions are created (onnxruntime
CPU, default threads unless ``--threads``), warmed up once per tile size, then run **interleaved**
(A, B, A, B, ...) ``--reps`` times on the same random input, so that load from other processes hits
both alike; the table gives the median milliseconds and ``speedup = median(A) / median(B)``
(> 1: B is faster). Needs only numpy and onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODELS = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class Model:
    file: str
    layout: str  # "NHWC" or "NCHW"
    sigma: bool = False  # FFDNet's second input


PAIRS: list[tuple[str, Model, str, Model]] = [
    ("idealo-psnr-small-x2", Model("idealo-psnr-small-x2.onnx", "NHWC"),
     "idealo-psnr-small-x2-int8", Model("idealo-psnr-small-x2-int8.onnx", "NHWC")),
    ("ffdnet-color", Model("ffdnet-color.onnx", "NCHW", sigma=True),
     "ffdnet-color-int8", Model("ffdnet-color-int8.onnx", "NCHW", sigma=True)),
    ("idealo-psnr-small-x2", Model("idealo-psnr-small-x2.onnx", "NHWC"),
     "esrgan-slim-x2", Model("esrgan-slim-x2.onnx", "NHWC")),
]  # fmt: skip


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def make_feeds(sess: ort.InferenceSession, model: Model, side: int) -> dict[str, np.ndarray]:
    rgb = np.random.default_rng(0).random((1, side, side, 3), dtype=np.float32)
    x = rgb.transpose(0, 3, 1, 2).copy() if model.layout == "NCHW" else rgb
    inputs = sess.get_inputs()
    feeds = {inputs[0].name: x}
    if model.sigma:
        feeds[inputs[1].name] = np.full((1, 1, 1, 1), 25 / 255.0, np.float32)
    return feeds


def timed(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> float:
    t = time.perf_counter()
    sess.run(None, feeds)
    return (time.perf_counter() - t) * 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--reps", type=int, default=5, help="timed runs of each model (>= 3)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    machine = platform.processor() or platform.machine()
    threads = args.threads or "default"
    print(f"onnxruntime {ort.__version__}, {machine}, {os.cpu_count()} cores, threads {threads}, ", end="")
    print(f"load average {os.getloadavg()[0]:.1f}")
    header = f"{'A':<22} {'B':<26} {'tile':>5} {'A ms':>9} {'B ms':>9} {'speedup A/B':>12}"
    print(header)
    print("-" * len(header))
    rows = []
    for a_id, a, b_id, b in PAIRS:
        if not (MODELS / a.file).is_file() or not (MODELS / b.file).is_file():
            print(f"{a_id:<22} {b_id:<26} missing, skipped")
            continue
        sa, sb = make_session(MODELS / a.file, args.threads), make_session(MODELS / b.file, args.threads)
        for side in args.sizes:
            fa, fb = make_feeds(sa, a, side), make_feeds(sb, b, side)
            timed(sa, fa)  # warm-up
            timed(sb, fb)
            ta, tb = [], []
            for _ in range(args.reps):
                ta.append(timed(sa, fa))
                tb.append(timed(sb, fb))
            ma, mb = statistics.median(ta), statistics.median(tb)
            rows.append({"a": a_id, "b": b_id, "tile": side, "a_ms": round(ma, 1), "b_ms": round(mb, 1),
                         "speedup": round(ma / mb, 2), "a_runs": [round(t, 1) for t in ta],
                         "b_runs": [round(t, 1) for t in tb]})  # fmt: skip
            print(f"{a_id:<22} {b_id:<26} {side:>5} {ma:>9.1f} {mb:>9.1f} {ma / mb:>11.2f}x", flush=True)
    if args.json:
        env = {"onnxruntime": ort.__version__, "cores": os.cpu_count(), "threads": args.threads,
               "reps": args.reps, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
        args.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
