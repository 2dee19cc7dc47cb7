"""The kernel engine against UpscalerJS, side by side in one run (issue 23).

    bash ../shared/peers/setup.sh /work/peers          # once: copies and installs the peer harness
    python benchmarks/peer_benchmark.py --peers /work/peers [--sizes 256 512] [--runs 3]

Same weights: ``esrgan-slim-x4`` is the ONNX conversion of ``@upscalerjs/esrgan-slim@1.0.0``'s x4
model (see its card). Same image: the harness's ``.cache/img/astronaut_{256,512}.png`` (decoded once,
the same uint8 pixels go to both). Same tiles: UpscalerJS ``patchSize 128 / padding 8`` against our
``tile=128, overlap=8``; both feed 9 tiles of 128x128 at 256 px and 25 at 512 px (the table prints
the model calls and pixels fed on our side). Same timing: decoded pixels in, output pixels in memory
out, one untimed warm-up, median of ``--runs`` timed calls. UpscalerJS runs in Node (tfjs wasm,
SIMD, one thread: see the harness README); we run ``enhance()`` with onnxruntime's default threads.

The two sides alternate (peer, ours, peer, ours for each size), so load from other processes on
this shared machine hits both alike; the ratio (peer seconds / our seconds) is the figure. CPU
seconds per run are printed too: on a busy machine they are steadier than wall time. The output of
both is compared (max |difference| in 0..255), which shows the weights really are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def run_ours(pixels: np.ndarray, runs: int, threads: int | None) -> dict[str, Any]:
    kw: dict[str, Any] = {"scale": 4, "model": MODEL_OURS, "tile": 128, "overlap": 8, "threads": threads}
    res = enhance(pixels, **kw)  # warm-up (loads the session)
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = cpu_seconds(), time.perf_counter()
        res = enhance(pixels, **kw)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    rec = res.record
    return {
        "wall_s": statistics.median(walls),
        "walls": walls,
        "cpu_s": statistics.median(cpus),
        "tiles": len(rec["tile_ms"]),
        "model_s": sum(rec["tile_ms"]) / 1000,
        "total_s": rec["total_ms"] / 1000,
        "tile_px": rec["plan"]["passes"][0]["tile"],
        "provider": rec["runtime"]["provider"],
        "array": res.array,
    }


def run_raw(pixels: np.ndarray, runs: int, threads: int | None) -> dict[str, Any]:
    """onnxruntime alone on the same padded tiles (no engine): the limit for the tiled engine."""
    card = catalog().get(MODEL_OURS)
    plan = plan_for(pixels.shape[1::-1], scale=4, model=MODEL_OURS, tile=128, overlap=8)
    src = load_image(pixels).rgb
    feeds = []
    for t in plan.passes[0].tiles:
        x0, y0, x1, y1 = t.in_box
        patch = pad_to(src[y0:y1, x0:x1], t.padded[0], t.padded[1], card.size_rule.pad_mode)
        feeds.append({card.input_name: to_tensor(patch, card)})
    sess = get_runtime(card, RuntimeOptions(intra_op_threads=threads)).session
    for f in feeds[:1]:
        sess.run(None, f)
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for f in feeds:
            sess.run(None, f)
        walls.append(time.perf_counter() - t0)
    return {"wall_s": statistics.median(walls), "calls": len(feeds)}


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
    for size in args.sizes:
        image = args.peers / ".cache" / "img" / f"astronaut_{size}.png"
        pixels = np.asarray(Image.open(image).convert("RGB"))
        peer = run_peer(args.peers, image, args.runs)
        ours = run_ours(pixels, args.runs, args.threads)
        raw = run_raw(pixels, args.runs, args.threads)
        peer_s = peer["warm_ms_median"] / 1000
        diff = np.abs(ours["array"].astype(np.int16) - peer["array"].astype(np.int16))
        row = {
            "size": size,
            "peer_s": peer_s,
            "peer_runs_s": [round(v / 1000, 3) for v in peer.get("warm_ms", [])],
            "peer_cpu_s": statistics.median(peer["cpu_ms"]) / 1000 if peer.get("cpu_ms") else None,
            "ours_s": ours["wall_s"],
            "ours_runs_s": [round(v, 3) for v in ours["walls"]],
            "ours_cpu_s": ours["cpu_s"],
            "ours_model_s": ours["model_s"],
            "raw_s": raw["wall_s"],
            "limit_ratio": peer_s / raw["wall_s"],
            "engine_vs_raw": raw["wall_s"] / ours["wall_s"],
            "tiles": ours["tiles"],
            "tile": ours["tile_px"],
            "provider": ours["provider"],
            "ratio": peer_s / ours["wall_s"],
            "max_abs_diff_255": int(diff.max()),
            "mean_abs_diff_255": float(diff.mean()),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        f"esrgan-slim x4, tiles 128 px / 8 px overlap (padding), median of {args.runs} warm runs, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| input | UpscalerJS 1.0.0 Node wasm (s) | enhance-widget (s) | ratio "
        "| onnxruntime alone, same tiles (s) | ratio limit (peer / raw) | engine throughput vs raw "
        "| tiles | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']}x{r['size']} | {r['peer_s']:.2f} | {r['ours_s']:.3f} | **{r['ratio']:.1f}x** "
            f"| {r['raw_s']:.3f} | {r['limit_ratio']:.1f}x | {100 * r['engine_vs_raw']:.0f}% | {r['tiles']} "
            f"| {r['max_abs_diff_255']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
