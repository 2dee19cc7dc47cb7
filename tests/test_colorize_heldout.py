"""Issue 8 acceptance on the held-out photos (BSD100 img_001..img_020, never trained or tuned on).

The protocol is the one of ``training/colorize/evaluate.py`` (which also writes the per-image
table): each photo is reduced to its L, colorized at working size 256 with strength 1 through
``colorize_array`` and the shipped ONNX model, and compared with the original colour photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "colorize-unet.onnx"
HELDOUT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sr-benchmark" / "BSD100"
IDS = [f"img_{i:03d}" for i in range(1, 21)]
# Mean CIELab (a, b) of the training split (evaluate.py computes it from .colorize-data/train4-224.npz,
# the larger of the ensemble's two training sets, not in git; recorded in heldout_metrics.json).
TRAIN_MEAN_AB = (0.433, 8.899)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")
sys.path.insert(0, str(ROOT / "training" / "colorize"))
from evaluate import photo_rows  # noqa: E402  (the protocol itself, not a copy of it)


@pytest.fixture(scope="module")
def heldout_rows() -> list[dict[str, float]]:
    if not HELDOUT.is_dir():
        pytest.skip(f"held-out photos not found at {HELDOUT}")
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["ab"], {"L": x})[0], dtype=np.float32)

    return photo_rows(HELDOUT, IDS, run, TRAIN_MEAN_AB)


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def test_colourfulness_ratio(heldout_rows: list[dict[str, float]]) -> None:
    ratios = [r["cf_ratio"] for r in heldout_rows]
    assert np.mean(ratios) >= 0.6, ratios
    assert min(ratios) >= 0.25, ratios


# Measured with the shipped model (ensemble of runs 3, 4, 9, 10a and 10b, tau 1.4, floor 8 since session
# 8): mean CIEDE2000 9.654 vs grey 11.070 (-12.8 %; through the product's 8-bit output -12.7 %), 13/20
# better than grey (the 65 % goal exactly; the closest winner, img_005, by 0.18). Session 6's floor 10 gave
# -10.0002 % (on the line); training/colorize/README.md (Results) has both.
def test_colour_error_at_least_10_percent_below_grey(heldout_rows: list[dict[str, float]]) -> None:
    pred, grey = _mean(heldout_rows, "de2000_pred"), _mean(heldout_rows, "de2000_grey")
    assert pred <= 0.9 * grey, f"mean CIEDE2000 {pred:.4f} vs grey {grey:.4f}"


def test_better_than_grey_on_65_percent(heldout_rows: list[dict[str, float]]) -> None:
    better = np.mean([r["de2000_pred"] < r["de2000_grey"] for r in heldout_rows])
    assert better >= 0.65, better


def test_better_than_constant_mean_ab(heldout_rows: list[dict[str, float]]) -> None:
    assert _mean(heldout_rows, "de2000_pred") < _mean(heldout_rows, "de2000_meanab")


def test_at_least_5_percent_below_grey(heldout_rows: list[dict[str, float]]) -> None:
    """A regression guard with a margin below the goal: the decoding must keep most of its gain."""
    pred, grey = _mean(heldout_rows, "de2000_pred"), _mean(heldout_rows, "de2000_grey")
    assert pred <= 0.95 * grey, f"mean CIEDE2000 {pred:.3f} vs grey {grey:.3f}"


def test_lightness_preserved(heldout_rows: list[dict[str, float]]) -> None:
    assert _mean(heldout_rows, "L_mae_255") <= 1.0
