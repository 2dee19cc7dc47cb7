"""A second check set for decoding choices: photos the shipped members (runs 3 and 4) never saw.

Kodak 24, McMaster 18 and WED-CDM 100 (gathered for run 6/7, ``prepare_data.py --extra-dir``; see
``card.json``) were not in ``train3``/``train4``, so they estimate how a decoding chosen on the
calibration photos (BSD100 img_021..100) carries over to unseen photos, without looking at the
held-out set.  Not a training set for runs 3/4; runs 6/7 did train on them, so never use this
check for those.

Usage::

    python training/colorize/fresh_check.py MODEL.onnx [MODEL.onnx ...] --extra-dir /tmp/extra
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from evaluate import photo_rows

SOURCES = ("kodak24", "mcmaster18", "wed_cdm100")


def check(model: Path, extra: Path) -> dict[str, float]:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["ab"], {"L": x})[0], np.float32)

    rows = []
    for src in SOURCES:
        ids = sorted(p.stem for p in (extra / src).glob("*.jpg"))
        rows += photo_rows(extra / src, ids, run, None, ext=".jpg")
    d = np.array([r["de2000_pred"] for r in rows])
    g = np.array([r["de2000_grey"] for r in rows])
    cf = np.array([r["cf_ratio"] for r in rows])
    return {
        "images": len(rows),
        "de2000": round(float(d.mean()), 3),
        "de2000_grey": round(float(g.mean()), 3),
        "rel_to_grey": round(float(d.mean() / g.mean() - 1), 4),
        "frac_better_than_grey": round(float((d < g).mean()), 3),
        "cf_ratio_mean": round(float(cf.mean()), 3),
        "cf_ratio_min": round(float(cf.min()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--extra-dir", type=Path, default=Path("/tmp/extra"))
    args = ap.parse_args()
    for m in args.models:
        print(json.dumps({"model": str(m), **check(m, args.extra_dir)}), flush=True)


if __name__ == "__main__":
    main()
