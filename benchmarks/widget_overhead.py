"""What the widget adds on top of the engine: the same run through ``enhance()`` alone and through
the widget's controller (worker thread, RGBA tile messages, progress updates, result PNG).

    python benchmarks/widget_overhead.py [--model esrgan-slim-x2] [--tile 64] [--reps 3]

Prints a table: median wall time of each way, the ratio, tiles, and the bytes of tile messages.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from enhance_widget import enhance
from enhance_widget.catalog import sample_image_path
from enhance_widget.widget.controller import Controller, JobOptions


class NullSink:
    """Counts what a front end would receive."""

    def __init__(self) -> None:
        self.tiles = 0
        self.tile_bytes = 0

    def send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if content["kind"] == "tile":
            self.tiles += 1
            self.tile_bytes += sum(len(b) for b in buffers)

    def update_state(self, **state: Any) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="esrgan-slim-x2")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--tile", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    src = sample_image_path()
    kw = {"task": "upscale", "scale": args.scale, "model": args.model, "tile": args.tile, "overlap": 16}
    enhance(src, **kw)  # warm-up: session load
    direct, widget = [], []
    sink = NullSink()
    for _ in range(args.reps):
        t0 = time.perf_counter()
        enhance(src, **kw)
        direct.append(time.perf_counter() - t0)
        sink = NullSink()
        ctl = Controller(sink)
        t0 = time.perf_counter()
        opts = JobOptions(task="upscale", scale=args.scale, model=args.model, tile=args.tile, overlap=16)
        ctl.start(None, src, opts, (160, 120))
        ctl.wait()
        widget.append(time.perf_counter() - t0)
    d, w = statistics.median(direct), statistics.median(widget)
    print(f"{'way':<24}{'median s':>10}{'ratio':>8}{'tiles':>7}{'tile bytes':>12}")
    print(f"{'enhance() alone':<24}{d:>10.3f}{1.0:>8.2f}{'':>7}{'':>12}")
    print(f"{'widget controller':<24}{w:>10.3f}{w / d:>8.2f}{sink.tiles:>7}{sink.tile_bytes:>12,}")
    print(f"model {args.model}, x{args.scale}, tile {args.tile}, sample 160x120, {args.reps} reps")


if __name__ == "__main__":
    main()
