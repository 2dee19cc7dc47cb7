"""Deblur benchmark: our model against MAXIM on fixed, seeded blur kernels, measured in one run.

    python benchmarks/deblur_benchmark.py [--quick] [--json OUT.json]
    ENHANCE_WIDGET_MODELS=../shared/models python benchmarks/deblur_benchmark.py   # with MAXIM

Kernels (code: ``training.degrade.benchmark_kernels``): a 9-px horizontal box, three motion
trajectories (arc lengths 11, 17, 25 px; seeds 1001-1003), Gaussian sigma 2, defocus disc radius 3.
Photos: BSD100 img_001..020 and Set14 (``../shared/datasets/sr-benchmark``; never in the training
set).  Each photo is blurred whole (edge-replicated borders, rounded to uint8), then its centre
crop of at most 256 px a side (a multiple of 8) is what every model sees: MAXIM runs on exactly one
256x256 tile (~5 s each on 2 cores, so the full run with MAXIM takes ~20 min; ``--quick`` uses 2 + 2
photos, ~2 min).  Models run through the package's engine (``enhance(..., model=...)``), as a user
would.  PSNR / SSIM on the Y channel; time is wall time per megapixel of input, after one warm-up
call per model.  Acceptance lines (issue 19): our mean PSNR gain >= MAXIM's overall and on the
motion kernels alone, and >= 10x faster per megapixel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enhance_widget import enhance  # noqa: E402
from enhance_widget.catalog import catalog  # noqa: E402
from enhance_widget.metrics import psnr, ssim  # noqa: E402
from training.degrade import benchmark_kernels, blur_uint8  # noqa: E402

SR = ROOT.parent / "shared" / "datasets" / "sr-benchmark"
OURS = "deblur-naflite"
MAXIM = "maxim-deblurring-256"
MOTION = ("motion-a", "motion-b", "motion-c")


def photos(quick: bool) -> list[tuple[str, np.ndarray]]:
    bsd = [SR / "BSD100" / f"img_{i:03d}.png" for i in range(1, 21)]
    set14 = sorted((SR / "Set14").glob("img_*.png"))
    paths = bsd[:2] + set14[:2] if quick else bsd + set14
    if not all(p.is_file() for p in paths):
        raise SystemExit(f"benchmark photos missing under {SR}")
    return [(f"{p.parent.name}/{p.stem}", np.asarray(Image.open(p).convert("RGB"))) for p in paths]


def centre(img: np.ndarray, side: int = 256) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(side, h, w) // 8 * 8
    y, x = (h - s) // 2, (w - s) // 2
    return img[y : y + s, x : x + s]


def run(quick: bool, ours: str = OURS, maxim: bool = True) -> dict[str, Any]:
    models = [ours] + ([MAXIM] if maxim and catalog().get(MAXIM).installed else [])
    kernels = benchmark_kernels()
    data = photos(quick)
    warm = centre(data[0][1])
    for m in models:  # load the session outside the timed calls
        enhance(warm, task="deblur", model=m)
    rows: list[dict[str, Any]] = []
    seconds = dict.fromkeys(models, 0.0)
    mpx = 0.0
    for kname, k in kernels.items():
        for pname, img in data:
            clean = centre(img)
            bad = centre(blur_uint8(img, k))
            row: dict[str, Any] = {
                "kernel": kname,
                "photo": pname,
                "blurred": (psnr(clean, bad), ssim(clean, bad)),
            }
            mpx += clean.shape[0] * clean.shape[1] / 1e6
            for m in models:
                t0 = time.perf_counter()
                out = enhance(bad, task="deblur", model=m).array
                seconds[m] += time.perf_counter() - t0
                row[m] = (psnr(clean, out), ssim(clean, out))
            rows.append(row)
            print(
                json.dumps(
                    {k: (v if isinstance(v, str) else [round(x, 3) for x in v]) for k, v in row.items()}
                ),
                flush=True,
            )
    return {
        "models": models,
        "rows": rows,
        "s_per_mpx": {m: seconds[m] / mpx for m in models},
        "quick": quick,
    }


def summarise(res: dict[str, Any]) -> str:
    models, rows = res["models"], res["rows"]
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))

    def mean(key: str, sel: list[dict[str, Any]], i: int) -> float:
        return float(np.mean([r[key][i] for r in sel]))

    head = "| kernel | blurred PSNR / SSIM | " + " | ".join(f"{m} PSNR / SSIM (gain)" for m in models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    for kn in [*kernels, "all", "motion (a-c)"]:
        sel = [
            r
            for r in rows
            if kn == "all" or r["kernel"] == kn or (kn.startswith("motion (") and r["kernel"] in MOTION)
        ]
        b = mean("blurred", sel, 0)
        cells = [f"{b:.2f} / {mean('blurred', sel, 1):.4f}"]
        cells += [
            f"{mean(m, sel, 0):.2f} / {mean(m, sel, 1):.4f} ({mean(m, sel, 0) - b:+.2f})" for m in models
        ]
        lines.append(f"| {kn} | " + " | ".join(cells) + " |")
    n_photos = len({r["photo"] for r in rows})
    lines.append("")
    lines.append(
        f"{n_photos} photos x {len(kernels)} kernels, centre crops <= 256 px; Y-channel PSNR (dB) / SSIM"
    )
    lines.append("CPU s/Mpx: " + ", ".join(f"{m} {res['s_per_mpx'][m]:.2f}" for m in models))
    if MAXIM in models:
        gain = {m: [r[m][0] - r["blurred"][0] for r in rows] for m in models}
        mot = {m: [r[m][0] - r["blurred"][0] for r in rows if r["kernel"] in MOTION] for m in models}
        ours = models[0]
        ratio = res["s_per_mpx"][MAXIM] / res["s_per_mpx"][ours]
        checks = [
            ("mean PSNR gain >= MAXIM's (all kernels)", np.mean(gain[ours]), np.mean(gain[MAXIM])),
            ("mean PSNR gain >= MAXIM's (motion kernels)", np.mean(mot[ours]), np.mean(mot[MAXIM])),
            ("speed >= 10x MAXIM per Mpx", ratio, 10.0),
        ]
        for name, ours, ref in checks:
            lines.append(f"{'PASS' if ours >= ref else 'FAIL'}: {name}: {ours:.2f} vs {ref:.2f}")
    else:
        lines.append(f"{MAXIM} not measured (install it: set ENHANCE_WIDGET_MODELS): no comparison")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 BSD100 + 2 Set14 photos")
    ap.add_argument("--json", type=Path, default=None, help="also write every row here")
    ap.add_argument("--ours", default=OURS, help="our model id (e.g. deblur-naflite-int8)")
    ap.add_argument("--no-maxim", action="store_true", help="skip MAXIM even when installed")
    a = ap.parse_args()
    res = run(a.quick, a.ours, not a.no_maxim)
    print(summarise(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
