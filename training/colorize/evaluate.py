"""Acceptance protocol for ``colorize-unet.onnx`` (CPU, onnxruntime). Fixed; do not tune on it.

Held-out set: ``/work/shared/datasets/sr-benchmark/BSD100/img_001.png`` .. ``img_020.png``
(BSD100 == BSDS500 ``val``, never in the training data).  Each photo is reduced to its L and
colorized by :func:`enhance_widget.colorize.colorize_array` (working size 256, strength 1) and compared
with the original colour photo.  Baselines: the grey input (a = b = 0) and the constant mean a/b of
the training split of ``.colorize-data/train-256.npz``.

Metrics and goals:

* colourfulness (Hasler-Suesstrunk) ratio prediction / original: mean >= 0.6, min >= 0.25;
* mean CIEDE2000 to the original (all images through sRGB, clipped): at least 10 % below the grey
  input's; fraction of images better than grey >= 65 %; better than the mean-a/b baseline;
* L preserved: mean |L_out - L_in| on the 0..255 scale (L * 2.55) <= 1;
* CPU time of the full ``colorize_array`` call on a 1024x768 photo < 2 s (median of 3 after one
  warm-up, onnxruntime defaults); model file < 20 MB.

Writes ``heldout_metrics.json`` beside this file (summary + per image; notebook 07 reads it) and, with
``--out-md``, the same as a Markdown table.

Usage::

    python training/colorize/evaluate.py --model models/colorize-unet.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image
from skimage.color import deltaE_ciede2000

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from enhance_widget.colorize import colorize_array, colourfulness, lab_to_rgb, rgb_to_lab  # noqa: E402
from training.data import DATASETS  # noqa: E402

HELDOUT = DATASETS / "sr-benchmark" / "BSD100"
IDS = [f"img_{i:03d}" for i in range(1, 21)]
SEED = 0
WORKING_SIZE = 256


def train_mean_ab(npz: Path) -> tuple[float, float]:
    """Mean CIELab a, b over the training split (every 4th pixel) of the prepared data set."""
    z = np.load(npz)
    data, off, is_val = z["jpeg"], z["offsets"], z["is_val"]
    acc: list[np.ndarray] = []
    for i in range(len(off) - 1):
        if is_val[i]:
            continue
        im = np.asarray(Image.open(io.BytesIO(data[off[i] : off[i + 1]].tobytes())).convert("RGB"))
        acc.append(rgb_to_lab(im[::4, ::4].astype(np.float32) / 255)[..., 1:].reshape(-1, 2))
    m = np.concatenate(acc).mean(0)
    return float(m[0]), float(m[1])


def de2000(a_rgb: np.ndarray, b_rgb: np.ndarray) -> float:
    return float(np.mean(deltaE_ciede2000(rgb_to_lab(a_rgb), rgb_to_lab(b_rgb))))


def photo_rows(
    photo_dir: Path,
    ids: list[str],
    run: Callable[[np.ndarray], np.ndarray],
    mean_ab: tuple[float, float] | None,
    verbose: bool = False,
    ext: str = ".png",
) -> list[dict[str, Any]]:
    """The protocol on each photo: reduce to L, colorize (working size 256, strength 1), compare
    with the original, the grey input and (``mean_ab`` given) the constant mean-a/b tint."""
    rows: list[dict[str, Any]] = []
    for name in ids:
        orig = np.asarray(Image.open(photo_dir / f"{name}{ext}").convert("RGB"), dtype=np.float32) / 255
        lab = rgb_to_lab(orig)
        grey = lab_to_rgb(np.stack([lab[..., 0], np.zeros_like(lab[..., 0]), np.zeros_like(lab[..., 0])], -1))
        pred = colorize_array(grey, run, WORKING_SIZE, 1.0)
        cf_o = colourfulness(orig)
        row: dict[str, Any] = {
            "image": name,
            "cf_orig": round(cf_o, 2),
            "cf_pred": round(colourfulness(pred), 2),
            "cf_ratio": round(colourfulness(pred) / max(cf_o, 1e-6), 3),
            "de2000_pred": round(de2000(orig, pred), 3),
            "de2000_grey": round(de2000(orig, grey), 3),
        }
        if mean_ab is not None:
            tint = [np.full_like(lab[..., 0], v) for v in mean_ab]
            row["de2000_meanab"] = round(de2000(orig, lab_to_rgb(np.stack([lab[..., 0], *tint], -1))), 3)
        row["L_mae_255"] = round(float(np.mean(np.abs(rgb_to_lab(pred)[..., 0] - lab[..., 0]))) * 2.55, 3)
        rows.append(row)
        if verbose:
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "colorize-unet.onnx"))
    ap.add_argument("--data", default=str(ROOT / ".colorize-data" / "train-256.npz"))
    ap.add_argument("--out-json", default=str(HERE / "heldout_metrics.json"))
    ap.add_argument("--out-md", default="", help="also write the table as Markdown here")
    args = ap.parse_args()
    np.random.seed(SEED)

    model = Path(args.model)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["ab"], {"L": x})[0], dtype=np.float32)

    ma, mb = train_mean_ab(Path(args.data))
    rows = photo_rows(HELDOUT, IDS, run, (ma, mb), verbose=True)

    # CPU time on a 1024x768 photo (img_001 resized), full pipeline and model alone.
    big = (
        np.asarray(
            Image.open(HELDOUT / "img_001.png").convert("RGB").resize((1024, 768), Image.Resampling.BICUBIC),
            dtype=np.float32,
        )
        / 255
    )
    colorize_array(big, run, WORKING_SIZE)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        colorize_array(big, run, WORKING_SIZE)
        times.append(time.perf_counter() - t0)
    x = np.random.rand(1, 1, 256, 336).astype(np.float32)
    mtimes = []
    for _ in range(3):
        t0 = time.perf_counter()
        run(x)
        mtimes.append(time.perf_counter() - t0)

    def mean(k: str) -> float:
        return float(np.mean([r[k] for r in rows]))

    size = model.stat().st_size
    summary = {
        "heldout": f"BSD100 {IDS[0]}..{IDS[-1]} ({len(IDS)} images, 480x320)",
        "working_size": WORKING_SIZE,
        "strength": 1.0,
        "train_mean_ab": [round(ma, 3), round(mb, 3)],
        "cf_ratio_mean": round(mean("cf_ratio"), 3),
        "cf_ratio_min": round(min(r["cf_ratio"] for r in rows), 3),
        "de2000_pred_mean": round(mean("de2000_pred"), 3),
        "de2000_grey_mean": round(mean("de2000_grey"), 3),
        "de2000_meanab_mean": round(mean("de2000_meanab"), 3),
        "de2000_rel_to_grey": round(mean("de2000_pred") / mean("de2000_grey") - 1, 4),
        "frac_better_than_grey": round(
            float(np.mean([r["de2000_pred"] < r["de2000_grey"] for r in rows])), 3
        ),
        "frac_better_than_meanab": round(
            float(np.mean([r["de2000_pred"] < r["de2000_meanab"] for r in rows])), 3
        ),
        "L_mae_255_mean": round(mean("L_mae_255"), 3),
        "L_mae_255_max": round(max(r["L_mae_255"] for r in rows), 3),
        "cpu_s_1024x768_pipeline_median": round(float(np.median(times)), 3),
        "cpu_s_model_256x336_median": round(float(np.median(mtimes)), 3),
        "model_bytes": size,
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "onnxruntime": ort.__version__,
    }
    goals = {
        "cf_ratio_mean>=0.6": summary["cf_ratio_mean"] >= 0.6,
        "cf_ratio_min>=0.25": summary["cf_ratio_min"] >= 0.25,
        "de2000>=10%_below_grey": summary["de2000_rel_to_grey"] <= -0.10,
        "frac_better_than_grey>=0.65": summary["frac_better_than_grey"] >= 0.65,
        "de2000_below_meanab": summary["de2000_pred_mean"] < summary["de2000_meanab_mean"],
        "L_mae_255<=1": summary["L_mae_255_mean"] <= 1.0,
        "cpu_1024x768<2s": summary["cpu_s_1024x768_pipeline_median"] < 2.0,
        "model<20MB": size < 20_000_000,
    }
    summary["goals_met"] = goals
    Path(args.out_json).write_text(json.dumps({"summary": summary, "per_image": rows}, indent=1))
    keys = list(rows[0].keys())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    lines.append("| **mean** | " + " | ".join(f"{mean(k):.3f}" for k in keys[1:]) + " |")
    md = "# colorize-unet: held-out metrics (BSD100 img_001..img_020)\n\n" + "\n".join(lines) + "\n\n"
    md += "```json\n" + json.dumps(summary, indent=1) + "\n```\n"
    if args.out_md:
        Path(args.out_md).write_text(md)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
