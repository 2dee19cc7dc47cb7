"""Engine overhead, first-tile latency and cancel latency on the kernel engine (issue 23).

    python benchmarks/perf_overhead.py                 # all three, default upscale model, x4
    python benchmarks/perf_overhead.py --only overhead --size 1024 --runs 3
    python benchmarks/perf_overhead.py --only cancel --tries 20

1. **Overhead**: ``enhance(photo, scale=4)`` on a ``--size`` square crop (1024 by default) of the
   bundled astronaut photo, resized with Pillow, default settings (the manifest's default model,
   auto tiles, default overlap). Wall time from decoded pixels to the output array, against the
   time spent inside the model calls (the record's ``tile_ms``: ``session.run`` and the view of
   its output); overhead = 1 - model / wall. One warm-up, then the median of ``--runs``.
2. **First tile**: from the ``enhance`` call to the first tile event, warm session (the widget
   keeps sessions) and cold (``clear_cache()`` first: the model file is read, verified, loaded).
3. **Cancel**: ``--tries`` runs on a background thread; each is cancelled at a random moment
   within its first tiles; the time from ``CancelToken.cancel()`` to the thread seeing
   ``Cancelled`` is measured; median and max printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from typing import Any

import numpy as np
from PIL import Image

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.data import eval_image
from enhance_widget.errors import Cancelled
from enhance_widget.progress import CallbackProgress, CancelToken, TileEvent
from enhance_widget.runtimes.ort import clear_cache


def photo(size: int) -> np.ndarray:
    with Image.open(eval_image("astronaut")) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))


def default_model(scale: int) -> str:
    return catalog().for_quality("upscale", scale, "balanced").model_id


def overhead(pixels: np.ndarray, runs: int, threads: int | None) -> dict[str, Any]:
    enhance(pixels, scale=4, threads=threads)  # warm-up
    rows = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = enhance(pixels, scale=4, threads=threads)
        wall = time.perf_counter() - t0
        model = sum(res.record["tile_ms"]) / 1000
        rows.append((wall, model))
    walls = [w for w, _ in rows]
    shares = [1 - m / w for w, m in rows]
    plan = res.record["plan"]
    return {
        "model": res.record["model"]["id"],
        "input": list(pixels.shape[1::-1]),
        "tiles": len(res.record["tile_ms"]),
        "tile": plan["passes"][0]["tile"],
        "wall_s": statistics.median(walls),
        "model_s": statistics.median(m for _, m in rows),
        "overhead_share": statistics.median(shares),
        "shares": [round(s, 4) for s in shares],
        "provider": res.record["runtime"]["provider"],
    }


def first_tile(pixels: np.ndarray, cold: bool, threads: int | None) -> float:
    if cold:
        clear_cache()
    token = CancelToken()
    seen: list[float] = []

    def on_tile(ev: TileEvent) -> None:
        if not seen:
            seen.append(time.perf_counter())
            token.cancel()

    t0 = time.perf_counter()
    try:
        enhance(pixels, scale=4, progress=CallbackProgress(on_tile=on_tile, cancel=token), threads=threads)
    except Cancelled:
        pass
    return seen[0] - t0


def cancel_latency(pixels: np.ndarray, tries: int, threads: int | None, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    enhance(pixels, scale=4, threads=threads)  # warm session; also gives the time of one run
    out: list[float] = []
    for _ in range(tries):
        token = CancelToken()
        done = threading.Event()
        stopped: list[float] = []

        def work(tok: CancelToken = token, ev: threading.Event = done, st: list[float] = stopped) -> None:
            try:
                enhance(pixels, scale=4, cancel=tok, threads=threads)
            except Cancelled:
                st.append(time.perf_counter())
            ev.set()

        th = threading.Thread(target=work)
        th.start()
        time.sleep(rng.uniform(0.05, 0.6))
        t_cancel = time.perf_counter()
        token.cancel()
        done.wait()
        th.join()
        if stopped:
            out.append(stopped[0] - t_cancel)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["overhead", "first", "cancel"], default=None)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    pixels = photo(args.size)
    report: dict[str, Any] = {"default_model_x4": default_model(4)}
    if args.only in (None, "overhead"):
        o = overhead(pixels, args.runs, args.threads)
        report["overhead"] = o
        print(
            f"overhead: {o['model']} x4 of {o['input'][0]}x{o['input'][1]}, "
            f"{o['tiles']} tiles of {o['tile']}: "
            f"wall {o['wall_s']:.2f} s, model calls {o['model_s']:.2f} s, non-model share "
            f"{100 * o['overhead_share']:.1f}% (goal <= 5%)",
            flush=True,
        )
    if args.only in (None, "first"):
        warm = [first_tile(pixels, False, args.threads) for _ in range(3)]
        cold = first_tile(pixels, True, args.threads)
        plan = plan_for(pixels.shape[1::-1], scale=4)
        card = catalog().get(plan.passes[0].model_id)
        tw, th = plan.passes[0].tiles[0].padded
        estimate = card.cost.ms_per_mpx * tw * th / 1e9
        report["first_tile"] = {
            "warm_s": statistics.median(warm),
            "warm_runs": warm,
            "cold_s": cold,
            "card_estimate_s": estimate,
        }
        print(
            f"first tile: {tw}x{th} px; the card's cost figure predicts {estimate:.2f} s of model time",
            flush=True,
        )
        print(
            f"first tile: warm session {statistics.median(warm):.3f} s (median of 3), cold (load + verify) "
            f"{cold:.3f} s (goal <= 1 s)",
            flush=True,
        )
    if args.only in (None, "cancel"):
        lat = cancel_latency(pixels, args.tries, args.threads)
        report["cancel"] = {"median_s": statistics.median(lat), "max_s": max(lat), "tries": len(lat)}
        print(
            f"cancel to stopped: median {1000 * statistics.median(lat):.0f} ms, max {1000 * max(lat):.0f} ms "
            f"over {len(lat)} tries (goal median <= 250 ms)",
            flush=True,
        )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
