"""Measure each model's cost figures and (with --write) store them in models/manifest.json.

    python benchmarks/calibrate.py [--write] [--models ID ...]

For every installed single-pass model: time per megapixel (median of 3 runs after a warm-up at
256x256 input; 128x128 is printed beside it) and working memory per input pixel (peak RSS of a
fresh process running one tile, 256x256 minus 128x128, divided by the pixel difference), plus the
session load time. Each measurement runs in its own process so peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from process_usage import peak_rss_bytes, python_child

MANIFEST = Path(__file__).resolve().parent.parent / "models" / "manifest.json"


def _probe(model_id: str, side: int, reps: int) -> dict[str, float]:
    """Runs in a child process: load, warm up, time ``reps`` runs, report peak RSS."""
    import numpy as np

    from enhance_widget.catalog import catalog
    from enhance_widget.engine import extra_feeds, to_tensor
    from enhance_widget.runtimes.ort import RuntimeOptions, get_runtime

    card = catalog().get(model_id)
    t0 = time.perf_counter()
    rt = get_runtime(card, RuntimeOptions())
    load_ms = (time.perf_counter() - t0) * 1000
    side = card.size_rule.fixed or side
    rng = np.random.default_rng(0)
    if card.pipeline == "global-lab":  # the colorizer sees one L plane
        feeds = {card.input_name: rng.random((1, 1, side, side), dtype=np.float32)}
    else:
        patch = rng.random((side, side, 3), dtype=np.float32)
        feeds = {card.input_name: to_tensor(patch, card), **extra_feeds(card, {})}
    rt.run(feeds)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        rt.run(feeds)
        times.append((time.perf_counter() - t) * 1000)
    peak = peak_rss_bytes()
    return {"side": side, "ms": statistics.median(times), "peak": peak, "load_ms": load_ms}


def measure(model_id: str, reps: int) -> dict[str, float]:
    out = {}
    for side in (128, 256):
        out[side] = python_child([__file__, "--probe", model_id, str(side), str(reps)])
    a, b = out[128], out[256]
    px_a, px_b = a["side"] ** 2, b["side"] ** 2
    if px_a == px_b:  # fixed-size model: one size only
        ms_per_mpx = b["ms"] / px_b * 1e6
        bytes_per_px = b["peak"] / px_b
    else:
        ms_per_mpx = b["ms"] / px_b * 1e6  # per-pixel cost at 256², robust to noise
        bytes_per_px = max(0.0, (b["peak"] - a["peak"]) / (px_b - px_a))
    return {
        "bytes_per_px": round(bytes_per_px),
        "ms_per_mpx": round(ms_per_mpx),
        "load_ms": round(min(a["load_ms"], b["load_ms"])),
        "ms_128": round(a["ms"], 1),
        "ms_256": round(b["ms"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="store the figures in the manifest")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(_probe(args.probe[0], int(args.probe[1]), int(args.probe[2]))))
        return
    from enhance_widget.api import list_models

    manifest = json.loads(MANIFEST.read_text())
    entries = {e["id"]: e for e in manifest["models"]}
    print(f"{'model':28} {'ms 128²':>9} {'ms 256²':>9} {'ms/Mpx':>9} {'bytes/px':>9} {'load ms':>8}")
    for card in list_models():
        if card.is_chain or not card.installed or (args.models and card.id not in args.models):
            continue
        m = measure(card.id, args.reps)
        cols = [m["ms_128"], m["ms_256"], m["ms_per_mpx"], m["bytes_per_px"]]
        print(f"{card.id:28} " + " ".join(f"{c:9}" for c in cols) + f" {m['load_ms']:8}")
        if card.id in entries:
            entries[card.id]["cost"] = {k: m[k] for k in ("bytes_per_px", "ms_per_mpx", "load_ms")}
    if args.write:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    main()
