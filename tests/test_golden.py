"""Golden outputs: every model file on one small fixed input, within a stated tolerance.

The goldens (models/recipes/golden/<id>.npz, written by models/recipes/golden_outputs.py) hold the
input crop, the model's output in float16 and the tolerance: 2e-3 (FP32) or 2e-2 (INT8, whose
integer kernels differ between CPUs) on a 0..1 scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhance_widget.catalog import catalog
from enhance_widget.engine import extra_feeds, from_tensor, to_tensor
from enhance_widget.runtimes.ort import RuntimeOptions, get_runtime

from .conftest import ROOT

GOLDEN = sorted((ROOT / "models" / "recipes" / "golden").glob("*.npz"))


def test_every_shipped_model_file_has_a_golden() -> None:
    shipped = {p.stem for p in (ROOT / "models").glob("*.onnx")} - {"colorize-unet"}
    assert shipped <= {p.stem for p in GOLDEN}


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_output(path: Path) -> None:
    g = np.load(path)
    card = catalog().get(str(g["model_id"]))
    if not card.installed:
        pytest.skip(f"{card.id} is not installed here (large model; set ENHANCE_WIDGET_MODELS)")
    top, left, h, w = (int(v) for v in g["crop"])
    rgb = np.asarray(Image.open(ROOT / str(g["image"])).convert("RGB"), dtype=np.float32) / 255.0
    patch = rgb[top : top + h, left : left + w]
    controls = {} if np.isnan(g["sigma_255"]) else {"strength": float(g["sigma_255"])}
    rt = get_runtime(card, RuntimeOptions())
    out = from_tensor(rt.run({card.input_name: to_tensor(patch, card), **extra_feeds(card, controls)}), card)
    stride = int(g["output_stride"])
    got = out[::stride, ::stride]
    want = g["output"].astype(np.float32)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= float(g["atol"])
