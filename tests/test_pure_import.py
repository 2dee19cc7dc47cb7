"""The package and its planner import with neither numpy, Pillow nor onnxruntime (Pyodide)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from enhance_widget import enhance

BLOCKED = """
import sys
for name in ("numpy", "PIL", "onnxruntime", "png"):
    sys.modules[name] = None  # any import of them now raises ImportError
import enhance_widget
from enhance_widget.catalog import catalog
from enhance_widget.planning import make_plan
from enhance_widget.tiling import axis_weights
card = catalog().get("idealo-psnr-small-x4")
plan = make_plan((160, 120), card, catalog().resolve_chain(card), tile=64, overlap=8)
print(plan.total_tiles, plan.out_size, enhance_widget.__version__, round(sum(axis_weights(10, 4, 4)), 6))
"""


def test_planner_runs_without_numpy_pillow_onnxruntime() -> None:
    p = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["36", "(640,", "480)", "0.1.0", "6.0"]  # 3x2 + 6x5 tiles


def test_large_output_goes_through_a_disk_backed_buffer(small_rgb: np.ndarray) -> None:
    in_memory = enhance(small_rgb, scale=2, model="esrgan-slim-x2", tile=32, overlap=8)
    on_disk = enhance(small_rgb, scale=2, model="esrgan-slim-x2", tile=32, overlap=8, budget=10_000)
    np.testing.assert_array_equal(in_memory.array, on_disk.array)


WIDGET_BLOCKED = """
import sys
for name in ("numpy", "PIL", "onnxruntime", "png"):
    sys.modules[name] = None  # as under Pyodide: none of them importable
from enhance_widget import EnhanceWidget
from enhance_widget.catalog import sample_image_path
from enhance_widget.widget import protocol as P
from enhance_widget.widget.browser import make_result
w = EnhanceWidget(sample_image_path().read_bytes(), scale=2, model="esrgan-slim-x2", tile=64)
sent = []
w.send = lambda content, buffers=None: sent.append((content, buffers))
job = w.run()  # returns at once: the page runs the plan, nothing here waits for it
run = sent[-1][0]
print(w.engine, w.status, *w.source_size, job, run["kind"], run["plan"]["total_tiles"], w.plan["runtime"])
# the page asks for its assets, then reports a result (here: the source PNG stands in for it)
w._on_custom(w, {"kind": P.ENGINE_NEED, "job": job, "view": "v1", "worker": True, "wasm": False,
                 "models": [run["cards"][0]["sha256"]]}, [])
pieces = [(c, b) for c, b in sent if c["kind"] == P.ENGINE_ASSETS]
names = pieces[0][0]["names"]
print(len(names), names[0], {c["name"] for c, _ in pieces} == set(names), all(len(b) == 1 for _, b in pieces))
png = sample_image_path().read_bytes()
w._on_custom(w, {"kind": P.ENGINE_DONE, "job": job, "provider": "wasm", "version": "1.30.0",
                 "tile_ms": [1.0] * 9, "pass_ms": [9.0], "load_ms": 1.0}, [memoryview(png)])
r = w.result
print(w.status, type(r).__name__, r.png == png, r.record["engine"], r.record["runtime"]["provider"])
"""


def test_widget_without_numpy_pillow_onnxruntime_uses_the_browser_engine() -> None:
    p = subprocess.run([sys.executable, "-c", WIDGET_BLOCKED], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:8] == [
        "browser",
        "running",
        "160",
        "120",
        "1",
        "engine-run",
        "9",
        "onnxruntime-web",
    ]
    # worker code + model bytes (the wasm was not asked for), one buffer per piece
    assert lines[1].split() == ["2", "worker", "True", "True"]
    assert lines[2].split() == ["done", "PngResult", "True", "browser", "wasm"]
