"""Peak memory of large upscales against the plan's prediction (issue 23).

    python benchmarks/perf_memory.py                      # the default cases (a few minutes on 2 cores)
    python benchmarks/perf_memory.py --cases 1000x750 4000x3000 50000x120
    python benchmarks/perf_memory.py --model esrgan-slim-x4 --cases 2000x1500

Each case runs in its own subprocess (``python perf_memory.py --child W H``) so that
``ru_maxrss`` is that run's peak: a PNG photo of W x H (the bundled astronaut, resized with
Pillow, written once to a temporary folder) goes through ``enhance(path, scale=4)`` at default
settings (the manifest's default model, auto tiles, default budget). The child reports

- ``base``: RSS after importing the package and loading the model (the runtime itself),
- ``peak``: ``ru_maxrss`` after the run, and ``grown = peak - base``,
- ``plan``: the plan's ``memory_bytes`` (what the run needs on top of the runtime),
- ``output``: the result array's bytes; the goal is ``peak <= output + 512 MiB``,
- the tile the plan chose, whether the output went to a disk-backed buffer, and the wall time.

Prediction error = plan / grown - 1 (goal: within 25 %). When the output goes to a disk-backed map
(over the budget; ``ENHANCE_WIDGET_MEMORY_BUDGET`` sets it), the plan leaves it out: its pages are
page cache, which ``ru_maxrss`` counts while they are mapped but the OS writes out and drops under
pressure; those cases compare the plan with the growth of anonymous memory (``RssAnon``, sampled
every 20 ms), shown for every case.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from process_usage import AnonPeak, peak_rss_bytes, python_child, rss_bytes

MiB = 1024**2


def child(path: Path, model: str | None) -> dict[str, Any]:
    import numpy as np

    from enhance_widget import enhance, plan_for
    from enhance_widget.catalog import catalog
    from enhance_widget.runtimes.ort import get_runtime

    card = catalog().get(model) if model else catalog().default_for("upscale", 4)
    for c in catalog().resolve_chain(card):
        get_runtime(c)
    warm = np.zeros((16, 16, 3), np.uint8)
    enhance(warm, scale=4, model=card.id)  # first call: lazy imports, arena set-up
    base = max(rss_bytes(), peak_rss_bytes())
    base_anon = AnonPeak.anon_bytes()
    t0 = time.perf_counter()
    with AnonPeak() as anon:
        res = enhance(path, scale=4, model=card.id)
    wall = time.perf_counter() - t0
    peak = peak_rss_bytes()
    from PIL import Image

    with Image.open(path) as im:
        size = im.size
    plan = plan_for(size, scale=4, model=card.id)
    arr = res.array
    return {
        "model": card.id,
        "input": list(size),
        "output_size": res.size,
        "tile": plan.passes[-1].tile,
        "tiles": plan.total_tiles,
        "base": base,
        "peak": peak,
        "grown": peak - base,
        "peak_anon": anon.peak,
        "grown_anon": anon.peak - base_anon,
        "plan": plan.memory_bytes,
        "budget": plan.budget_bytes,
        "output": int(arr.nbytes),
        "disk_backed": isinstance(arr, np.memmap),
        "wall_s": round(wall, 1),
    }


def make_photo(w: int, h: int, folder: Path) -> Path:
    from PIL import Image

    from enhance_widget.data import eval_image

    path = folder / f"photo_{w}x{h}.png"
    if not path.exists():
        with Image.open(eval_image("astronaut")) as im:
            im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(path, compress_level=1)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["1000x750", "2000x1500", "4000x3000", "50000x120"])
    ap.add_argument("--model", default=None, help="default: the manifest's default x4 model")
    ap.add_argument("--child", nargs=1, type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.model)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            w, h = (int(v) for v in case.split("x"))
            path = make_photo(w, h, Path(tmp))
            cmd = [__file__, "--child", str(path)]
            cmd += ["--model", args.model] if args.model else []
            try:
                r = python_child(cmd)
            except subprocess.CalledProcessError as exc:
                print(f"{case}: failed\n{exc.stderr[-2000:]}", file=sys.stderr)
                continue
            # a disk-backed output is page cache, which the plan leaves out: compare with anonymous memory
            r["error"] = r["plan"] / (r["grown_anon"] if r["disk_backed"] else r["grown"]) - 1
            r["goal_ok"] = r["peak"] <= r["output"] + 512 * MiB
            rows.append(r)
            print(json.dumps(r), flush=True)
    print()
    print(
        "| input | model | tile | output (MiB) | base RSS | peak RSS | peak - base | anonymous peak - base "
        "| plan | plan error | peak <= output + 512 MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['input'][0]}x{r['input'][1]} | {r['model']} | {r['tile'][0]}x{r['tile'][1]} "
            f"| {r['output'] / MiB:,.0f}{' (disk)' if r['disk_backed'] else ''} | {r['base'] / MiB:,.0f} "
            f"| {r['peak'] / MiB:,.0f} | {r['grown'] / MiB:,.0f} | {r['grown_anon'] / MiB:,.0f} "
            f"| {r['plan'] / MiB:,.0f} "
            f"| {100 * r['error']:+.0f}% | {'yes' if r['goal_ok'] else 'no'} "
            f"({(r['peak'] - r['output']) / MiB:,.0f} MiB over the output) |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
