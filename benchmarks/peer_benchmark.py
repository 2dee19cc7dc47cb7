"""The kernel engine against UpscalerJS, side by side in one run (issue 23).

    bash ../shared/peers/setup.sh /work/peers          # once: copies and installs the peer harness
    python benchmarks/peer_benchmark.py --peers /work/peers [--sizes 256 512] [--runs 3]

Same weights: ``esrgan-slim-x4`` is the ONNX conversion of ``@upscalerjs/esrgan-slim@1.0.0``'s x4
model (see its card), rewritten exactly by ``models/recipes/fold_upsample.py`` (the nearest x4
upsample + 3x3 conv became a low-resolution 3x3 conv + depth-to-space: the same weights re-arranged,
equal outputs, ``tests/test_fold_upsample.py``); UpscalerJS runs its own npm package's original
weights. The file's path and sha256 are printed and stored with the figures. Same image: the
harness's ``.cache/img/astronaut_{256,512}.png`` (decoded once, the same uint8 pixels go to both).
Same tiles: UpscalerJS ``patchSize 128 / padding 8`` against our ``tile=128, overlap=8``; both feed
9 tiles of 128x128 at 256 px and 25 at 512 px (the table prints the model calls and pixels fed on
our side). Same timing: decoded pixels in, output pixels in memory out, one untimed warm-up, median
of ``--runs`` timed calls. UpscalerJS runs in Node (tfjs wasm, SIMD, one thread: see the harness
README); we run ``enhance()`` with onnxruntime's default threads.

The sides alternate run by run (peer, ours, onnxruntime alone; ``--runs`` rounds per size; each
peer run is a fresh Node process with its own untimed warm-up), so load from other processes on
this shared machine hits both alike; the ratio (peer seconds / our seconds) is the figure. CPU
seconds per run are printed too: on a busy machine they are steadier than wall time. The output of
both is compared (max |difference| in 0..255), which shows the weights really are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from process_usage import cpu_seconds

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.engine import pad_to, to_tensor
from enhance_widget.images import load_image
from enhance_widget.runtimes.ort import RuntimeOptions, get_runtime

MODEL_OURS = "esrgan-slim-x4"
MODEL_PEER = "esrgan-slim/4x"


def ours_kwargs(threads: int | None) -> dict[str, Any]:
    return {"scale": 4, "model": MODEL_OURS, "tile": 128, "overlap": 8, "threads": threads}


def run_ours(pixels: np.ndarray, threads: int | None) -> dict[str, Any]:
    """One timed ``enhance()`` (the session is warm: :func:`main` runs one untimed call first)."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    res = enhance(pixels, **ours_kwargs(threads))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rec = res.record
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "tiles": len(rec["tile_ms"]),
        "model_s": sum(rec["tile_ms"]) / 1000,
        "tile_px": rec["plan"]["passes"][0]["tile"],
        "provider": rec["runtime"]["provider"],
        "array": res.array,
    }


def raw_feeds(pixels: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The engine's padded tiles for this image, as onnxruntime feeds."""
    card = catalog().get(MODEL_OURS)
    plan = plan_for(pixels.shape[1::-1], scale=4, model=MODEL_OURS, tile=128, overlap=8)
    src = load_image(pixels).rgb
    feeds = []
    for t in plan.passes[0].tiles:
        x0, y0, x1, y1 = t.in_box
        patch = pad_to(src[y0:y1, x0:x1], t.padded[0], t.padded[1], card.size_rule.pad_mode)
        feeds.append({card.input_name: to_tensor(patch, card)})
    return feeds


def run_raw(feeds: list[dict[str, np.ndarray]], threads: int | None) -> float:
    """onnxruntime alone on the same padded tiles (no engine): the limit for the tiled engine."""
    sess = get_runtime(catalog().get(MODEL_OURS), RuntimeOptions(intra_op_threads=threads)).session
    t0 = time.perf_counter()
    for f in feeds:
        sess.run(None, f)
    return time.perf_counter() - t0


def run_raw_two_in_flight(feeds: list[dict[str, np.ndarray]], pool: ThreadPoolExecutor) -> float:
    """onnxruntime alone, two tiles at a time with one intra-op thread each (what the engine could do
    instead of splitting each call over two threads)."""
    sess = get_runtime(catalog().get(MODEL_OURS), RuntimeOptions(intra_op_threads=1)).session
    t0 = time.perf_counter()
    list(pool.map(lambda k: [sess.run(None, f) for f in feeds[k::2]], range(2)))
    return time.perf_counter() - t0


def model_file() -> tuple[str, str]:
    """The file our side runs and its sha256 (the folded esrgan-slim-x4, not the upstream conversion)."""
    path = catalog().get(MODEL_OURS).path
    assert path is not None
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def run_peer(peers: Path, image: Path, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out_png = Path(tmp) / "peer.png"
        cmd = ["node", "upscalerjs_node.mjs", str(image), "--model", MODEL_PEER, "--patch-size", "128"]
        cmd += ["--padding", "8", "--backend", "wasm", "--runs", str(runs), "--out", str(out_png)]
        proc = subprocess.run(cmd, cwd=peers, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"UpscalerJS harness failed:\n{proc.stderr[-2000:]}")
        line = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")][-1]
        rec: dict[str, Any] = json.loads(line)
        rec["array"] = np.asarray(Image.open(out_png).convert("RGB"))
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=Path, default=Path(os.environ.get("ENHANCE_PEERS", "/work/peers")))
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=None, help="onnxruntime intra-op threads (default: its own)"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.peers / "upscalerjs_node.mjs").is_file():
        print(
            f"no peer harness in {args.peers}; run: bash ../shared/peers/setup.sh {args.peers}",
            file=sys.stderr,
        )
        return 2
    rows = []
    pool = ThreadPoolExecutor(max_workers=2)
    path, digest = model_file()
    print(f"our model file: {path} sha256 {digest}", flush=True)
    for size in args.sizes:
        image = args.peers / ".cache" / "img" / f"astronaut_{size}.png"
        pixels = np.asarray(Image.open(image).convert("RGB"))
        feeds = raw_feeds(pixels)
        enhance(pixels, **ours_kwargs(args.threads))  # untimed warm-up: loads the session
        run_raw(feeds[:1], args.threads)
        run_raw_two_in_flight(feeds[:2], pool)
        load_before = os.getloadavg()[0]
        peers, ours, raws, pairs = [], [], [], []
        for _ in range(args.runs):  # interleaved: peer, ours, raw in each round
            peers.append(run_peer(args.peers, image, 1))  # its own untimed warm-up, then one timed run
            ours.append(run_ours(pixels, args.threads))
            raws.append(run_raw(feeds, args.threads))
            pairs.append(run_raw_two_in_flight(feeds, pool))
        load_after = os.getloadavg()[0]
        peer_s = statistics.median(p["warm_ms_median"] for p in peers) / 1000
        peer_cpu = [statistics.median(p["cpu_ms"]) / 1000 for p in peers if p.get("cpu_ms")]
        ours_s = statistics.median(o["wall_s"] for o in ours)
        ours_cpu = statistics.median(o["cpu_s"] for o in ours)
        raw_s = statistics.median(raws)
        diff = np.abs(ours[-1]["array"].astype(np.int16) - peers[-1]["array"].astype(np.int16))
        row = {
            "size": size,
            "peer_s": peer_s,
            "peer_runs_s": [round(p["warm_ms_median"] / 1000, 3) for p in peers],
            "peer_cpu_s": statistics.median(peer_cpu) if peer_cpu else None,
            "ours_s": ours_s,
            "ours_runs_s": [round(o["wall_s"], 3) for o in ours],
            "ours_cpu_s": ours_cpu,
            "ours_model_s": statistics.median(o["model_s"] for o in ours),
            "raw_s": raw_s,
            "raw_runs_s": [round(v, 3) for v in raws],
            "raw_two_in_flight_s": statistics.median(pairs),
            "raw_two_in_flight_runs_s": [round(v, 3) for v in pairs],
            "limit_ratio_two_in_flight": peer_s / statistics.median(pairs),
            "limit_ratio": peer_s / raw_s,
            "engine_vs_raw": raw_s / ours_s,
            "cpu_ratio": statistics.median(peer_cpu) / ours_cpu if peer_cpu else None,
            "tiles": ours[-1]["tiles"],
            "tile": ours[-1]["tile_px"],
            "provider": ours[-1]["provider"],
            "ratio": peer_s / ours_s,
            "max_abs_diff_255": int(diff.max()),
            "mean_abs_diff_255": float(diff.mean()),
            "load_average_1min": [round(load_before, 2), round(load_after, 2)],
            "model_file": path,
            "model_sha256": digest,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        f"esrgan-slim x4, tiles 128 px / 8 px overlap (padding), median of {args.runs} warm runs, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| input | UpscalerJS 1.0.0 Node wasm (s) | enhance-widget (s) | ratio | CPU s per run, peer / ours "
        "| onnxruntime alone, same tiles (s) | ratio limit (peer / raw) | engine throughput vs raw "
        "| onnxruntime alone, 2 tiles at a time x 1 thread (s) | tiles | max abs diff "
        "| load average (1 min, before / after) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = (
            f"{r['peer_cpu_s']:.2f} / {r['ours_cpu_s']:.2f} = {r['cpu_ratio']:.1f}x"
            if r["cpu_ratio"]
            else f"? / {r['ours_cpu_s']:.2f}"
        )
        print(
            f"| {r['size']}x{r['size']} | {r['peer_s']:.2f} | {r['ours_s']:.3f} | **{r['ratio']:.1f}x** "
            f"| {cpu} "
            f"| {r['raw_s']:.3f} | {r['limit_ratio']:.1f}x | {100 * r['engine_vs_raw']:.0f}% "
            f"| {r['raw_two_in_flight_s']:.3f} ({r['limit_ratio_two_in_flight']:.1f}x) | {r['tiles']} "
            f"| {r['max_abs_diff_255']} | {r['load_average_1min'][0]} / {r['load_average_1min'][1]} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
