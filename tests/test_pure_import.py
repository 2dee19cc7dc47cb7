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
