"""JupyterLite figures, measured in Debian's Chromium on the site from scripts/build_lite.sh:
the browser engine's cost per model (ms per megapixel of model input, and the first run's load:
model transfer + session), the estimate the widget shows before Run against the measured time
for the default x4 on a 256x256 photo, and how long Cancel takes to stop a run.

    .venv/bin/python benchmarks/lite_figures.py            # prints the tables
    .venv/bin/python benchmarks/lite_figures.py --json F   # also writes the per-model costs

The per-model costs are what models/manifest.json's ``cost.browser_ms_per_mpx`` and
``cost.browser_load_ms`` hold (the planner's browser-engine estimate; planning.engine_seconds).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402
from tests.browser.pagetools import KERNEL_IDLE_JS, kernel_exec, kernel_json  # noqa: E402

SITE = REPO / "build" / "lite" / "site"
MANIFEST = json.loads((REPO / "models" / "manifest.json").read_text())
CARD = {e["id"]: e for e in MANIFEST["models"]}


def photo(side: int) -> bytes:
    img = Image.open(REPO / "models" / "eval" / "astronaut.png").convert("RGB")
    img = img.resize((side, side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=92)
    return out.getvalue()


def wait_status(pg: Any, timeout_s: float = 900) -> str:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        status = str(kernel_json(pg, "w.status"))
        if status in ("done", "error", "cancelled"):
            return status
        time.sleep(0.2)
    raise TimeoutError("the run did not finish")


def run_once(pg: Any, setup: str) -> dict[str, Any]:
    kernel_exec(pg, setup)
    estimate = kernel_json(pg, "w.plan.get('seconds')")
    t0 = time.monotonic()
    kernel_exec(pg, "w.run()")
    status = wait_status(pg)
    wall = time.monotonic() - t0
    if status != "done":
        raise RuntimeError(kernel_json(pg, "w.error"))
    rec = kernel_json(pg, "w.result.record")
    return {"estimate_s": estimate, "wall_s": wall, "record": rec}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp())
    (work / "p256.jpg").write_bytes(photo(256))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(SITE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    costs: dict[str, dict[str, float]] = {}
    try:
        time.sleep(1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = browser.new_page(viewport={"width": 1280, "height": 1000})
            pg.goto(f"http://127.0.0.1:{port}/")
            pg.wait_for_function(KERNEL_IDLE_JS, timeout=180_000)
            pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            pg.locator(".ew-root").first.wait_for(timeout=180_000)
            data = list((work / "p256.jpg").read_bytes())
            kernel_exec(pg, f"w.load(bytes({data}))")
            # warm-up: the worker and onnxruntime-web's wasm reach the page once
            run_once(pg, "w.task = 'restore'")
            print(f"{'task':10} {'model':16} {'run':5} {'estimate s':>10} {'measured s':>10} {'ms/Mpx':>9}")
            for task, spec in MANIFEST["tasks"].items():
                for scale, model_id in spec["default"].items():
                    if not all(CARD[c].get("bundled") for c in CARD[model_id].get("chain") or [model_id]):
                        continue
                    setup = f"w.task = {task!r}; w.tile = 'auto'"
                    setup += f"; w.scale = {scale}" if task == "upscale" else ""
                    for n in (1, 2):
                        r = run_once(pg, setup)
                        rec = r["record"]
                        compute_ms = sum(rec["pass_ms"])
                        passes = rec["model"]["passes"]
                        load = (
                            sum(CARD[i]["cost"].get("load_ms", 0) for i in {p["id"] for p in passes}) / 1000
                        )
                        planned_compute = rec["plan"]["seconds"] - load  # at the kernel engine's cost
                        ratio = compute_ms / 1000 / max(planned_compute, 1e-6)
                        ms_mpx = ratio * CARD[passes[0]["id"]]["cost"]["ms_per_mpx"]
                        print(
                            f"{task:10} {model_id:16} {n:5} {r['estimate_s']:10.2f} "
                            f"{rec['total_ms'] / 1000:10.2f} {ms_mpx:9.0f}"
                        )
                        for p in {p["id"] for p in passes}:
                            entry = costs.setdefault(p, {})
                            entry["browser_ms_per_mpx"] = round(ms_mpx)
                            if n == 1 and len({q["id"] for q in passes}) == 1:
                                entry["browser_load_ms"] = round(rec["total_ms"] - compute_ms)
            # cancel latency: x4 on a larger photo in small tiles, cancelled after its first tile
            kernel_exec(pg, "w.task = 'upscale'; w.scale = 4; w.tile = '64'")
            kernel_exec(pg, "w.run()")
            while int(kernel_json(pg, "w.progress.get('done', 0)")) < 2:
                time.sleep(0.05)
            t0 = time.monotonic()
            kernel_exec(pg, "w.cancel()")
            status = wait_status(pg, 60)
            latency = time.monotonic() - t0
            prog = kernel_json(pg, "w.progress")
            done, total = prog.get("done"), prog.get("total")
            print(f"\ncancel: {status} {latency:.2f} s after w.cancel() (progress {done}/{total})")
            browser.close()
    finally:
        server.terminate()
    print(json.dumps(costs, indent=1))
    if args.json:
        args.json.write_text(json.dumps(costs, indent=1) + "\n")


if __name__ == "__main__":
    main()
