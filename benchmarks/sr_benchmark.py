"""Super-resolution benchmark: Y-PSNR / SSIM on Set5, Set14 and BSD100 at x2 and x4 for every
installed upscale model, next to bicubic and published figures, plus speed measured side by side.

    python benchmarks/sr_benchmark.py            # full: 3 sets, x2 and x4, 640x427 photo timing (~30 min+)
    python benchmarks/sr_benchmark.py --local-only --no-tta   # the shipped models only (~10 min)
    python benchmarks/sr_benchmark.py --quick    # Set5 only, a 320x213 photo (~2 min)
    python benchmarks/sr_benchmark.py --sets Set5 Set14 --scales 4 --models span-x4 --json out.json

Protocol (the one behind the issue's 30.34 / 36.66 dB for idealo x4 / x2):
- HR: ``../shared/datasets/sr-benchmark/<set>/*.png`` (SelfExSR's HR files, every side a multiple of 4),
  converted to RGB (Set14's one grey image too), cropped to a multiple of the scale;
- LR: **Pillow's bicubic** (``Image.resize(..., Image.BICUBIC)``, which antialiases on downscale, like
  MATLAB's ``imresize``, but is not bit-identical to it); bicubic rows upscale the LR the same way;
- each model runs through ``enhance_widget.enhance`` (tile="whole", the engine's padding, 8-bit
  output), as a user gets it; ``quality="best"`` rows add the manifest's test-time augmentation;
- PSNR and SSIM on the BT.601 Y channel with a border of ``scale`` pixels shaved; SSIM with the
  Gaussian window of Wang et al. (sigma 1.5, population covariance), the setting SR papers report.

Published rows are figures **as printed in the papers** (MATLAB bicubic LR), quoted for orientation,
not re-measured: SRCNN (Dong et al., TPAMI 2016), FSRCNN (Dong et al., ECCV 2016), CARN (Ahn et al.,
ECCV 2018), SPAN (Wan et al., CVPR 2024 workshops, arXiv 2311.12770, Table 2), and the bicubic row
of those tables.

Speed: CPU seconds per input megapixel, every model on the same LR input (a 256x256 crop of the
coffee photo, bicubic-downscaled), warmed up once, then run interleaved (A, B, C, A, B, C, ...) and
the median taken, so load from other processes hits all alike. Default onnxruntime threads.
Photo timing: x4 (and x2) of a 640x427 photo at default settings (``enhance(photo, scale=4)``), the
new default against the old one (idealo psnr-small, x4 = x2 twice) in one run, ratio printed. The
old model is looked up in ``models/`` and else in ``../shared/models`` (sha256-verified as always).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from enhance_widget import enhance
from enhance_widget.catalog import ModelCard, catalog
from enhance_widget.metrics import psnr, y_channel

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets" / "sr-benchmark"
SHARED_MODELS = REPO.parent / "shared" / "models"
SETS = ("Set5", "Set14", "BSD100")
OLD_DEFAULT = {2: "idealo-psnr-small-x2", 4: "idealo-psnr-small-x4"}

# name -> params, {scale: {set: (psnr, ssim)}}: figures as published (MATLAB bicubic LR).
PUBLISHED: dict[str, tuple[str, dict[int, dict[str, tuple[float, float]]]]] = {
    "bicubic (published)": ("-", {
        2: {"Set5": (33.66, 0.9299), "Set14": (30.24, 0.8688), "BSD100": (29.56, 0.8431)},
        4: {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027), "BSD100": (25.96, 0.6675)},
    }),
    "SRCNN (published)": ("57K", {
        2: {"Set5": (36.66, 0.9542), "Set14": (32.45, 0.9067), "BSD100": (31.36, 0.8879)},
        4: {"Set5": (30.48, 0.8628), "Set14": (27.49, 0.7503), "BSD100": (26.90, 0.7101)},
    }),
    "FSRCNN (published)": ("12K", {
        2: {"Set5": (37.00, 0.9558), "Set14": (32.63, 0.9088), "BSD100": (31.53, 0.8920)},
        4: {"Set5": (30.72, 0.8660), "Set14": (27.61, 0.7550), "BSD100": (26.98, 0.7150)},
    }),
    "CARN (published)": ("1.59M", {
        2: {"Set5": (37.76, 0.9590), "Set14": (33.52, 0.9166), "BSD100": (32.09, 0.8978)},
        4: {"Set5": (32.13, 0.8937), "Set14": (28.60, 0.7806), "BSD100": (27.58, 0.7349)},
    }),
    "SPAN (published)": ("411K / 426K", {
        2: {"Set5": (38.08, 0.9614), "Set14": (33.71, 0.9183), "BSD100": (32.22, 0.9002)},
        4: {"Set5": (32.20, 0.8953), "Set14": (28.66, 0.7834), "BSD100": (27.62, 0.7374)},
    }),
}  # fmt: skip

ACCEPT = {4: 31.8, 2: 37.6}  # Set5 Y-PSNR the new default must reach (issue 20)
ACCEPT_SPEEDUP = 10.0
MAX_S_PER_MPX = 300.0  # Real-ESRGAN (~1,500 s/Mpx on 2 cores) would take half an hour on the three sets


@dataclass(frozen=True)
class Row:
    """One line of the table: bicubic or a model (optionally a quality mode with TTA)."""

    label: str
    model: str | None  # None = bicubic
    quality: str = "balanced"
    params: str = ""
    size_mb: str = ""


def ssim_paper(reference: np.ndarray, test: np.ndarray, border: int) -> float:
    """SSIM on Y with the Gaussian window (sigma 1.5) of Wang et al., as SR papers compute it."""
    from skimage.metrics import structural_similarity

    a = y_channel(reference)[border:-border, border:-border]
    b = y_channel(test)[border:-border, border:-border]
    return float(
        structural_similarity(
            a, b, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def load_set(name: str, scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR, LR) pairs, uint8 RGB: HR cropped to a multiple of ``scale``, LR = Pillow bicubic."""
    pairs = []
    for path in sorted((DATA / name).glob("*.png")):
        with Image.open(path) as im:
            hr = im.convert("RGB")
        w, h = hr.width // scale * scale, hr.height // scale * scale
        hr = hr.crop((0, 0, w, h))
        lr = hr.resize((w // scale, h // scale), Image.BICUBIC)
        pairs.append((np.asarray(hr), np.asarray(lr)))
    return pairs


def upscale(row: Row, lr: np.ndarray, scale: int) -> np.ndarray:
    if row.model is None:
        h, w = lr.shape[:2]
        return np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.BICUBIC))
    out = enhance(lr, task="upscale", scale=scale, model=row.model, tile="whole", quality=row.quality)
    return np.asarray(out.array)


def rows_for(
    scale: int, only: list[str] | None, max_s_per_mpx: float = MAX_S_PER_MPX, tta: bool = True
) -> list[Row]:
    """Bicubic, every installed upscale model at this scale, and the "best" mode when it adds TTA.
    Models slower than ``max_s_per_mpx`` (by their calibrated cost) only when named in ``only``."""
    cat = catalog()
    rows = [Row("bicubic (Pillow)", None)]
    for card in cat.cards("upscale"):
        if card.scale != scale or not card.installed or (only and card.id not in only):
            continue
        if card.is_chain and not all(c.installed for c in cat.resolve_chain(card)):
            continue
        cost = sum(c.cost.ms_per_mpx for c in cat.resolve_chain(card)) / 1000
        if not only and cost > max_s_per_mpx:
            print(f"  {card.id}: skipped, ~{cost:.0f} s per input Mpx (name it with --models to include it)")
            continue
        rows.append(Row(card.id, card.id, params=_params(card), size_mb=_size(card)))
    best = cat.for_quality("upscale", scale, "best")
    if tta and best.tta and any(r.model == best.model_id for r in rows):
        card = cat.get(best.model_id)
        rows.append(Row(f"{card.id} + TTA (best)", card.id, "best", _params(card), _size(card)))
    return rows


def _params(card: ModelCard) -> str:
    cards = catalog().resolve_chain(card)
    n = cards[0].params
    return "" if n is None else f"{n / 1e3:.0f}K" + (f" x{len(cards)}" if len(cards) > 1 else "")


def _size(card: ModelCard) -> str:
    cards = catalog().resolve_chain(card)
    return "" if cards[0].size_bytes is None else f"{cards[0].size_bytes / 1e6:.2f}"


def quality_table(scale: int, sets: list[str], rows: list[Row]) -> dict[str, dict[str, tuple[float, float]]]:
    """row label -> set -> (mean PSNR, mean SSIM)."""
    table: dict[str, dict[str, tuple[float, float]]] = {r.label: {} for r in rows}
    for name in sets:
        pairs = load_set(name, scale)
        for row in rows:
            ps, ss = [], []
            for hr, lr in pairs:
                sr = upscale(row, lr, scale)
                ps.append(psnr(hr, sr, border=scale))
                ss.append(ssim_paper(hr, sr, scale))
            table[row.label][name] = (float(np.mean(ps)), float(np.mean(ss)))
            print(f"  x{scale} {name:7s} {row.label:34s} {table[row.label][name][0]:.2f} dB", flush=True)
    return table


def speed_side_by_side(scale: int, rows: list[Row], reps: int) -> dict[str, float]:
    """Seconds per input megapixel, interleaved runs on one 256x256-HR crop (median of ``reps``)."""
    with Image.open(REPO / "models" / "eval" / "coffee.png") as im:
        hr = im.convert("RGB")
    hr = hr.crop((0, 0, 256, 256))
    lr = np.asarray(hr.resize((256 // scale, 256 // scale), Image.BICUBIC))
    mpx = lr.shape[0] * lr.shape[1] / 1e6
    for row in rows:  # warm-up: session creation, first-run allocations
        upscale(row, lr, scale)
    times: dict[str, list[float]] = {r.label: [] for r in rows}
    for _ in range(reps):
        for row in rows:
            t = time.perf_counter()
            upscale(row, lr, scale)
            times[row.label].append(time.perf_counter() - t)
    return {label: statistics.median(ts) / mpx for label, ts in times.items()}


def photo(size: tuple[int, int]) -> np.ndarray:
    """The coffee photo (scikit-image sample, CC0) resized to ``size`` with Lanczos."""
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.coffee()).resize(size, Image.LANCZOS))


def photo_timing(size: tuple[int, int], scale: int) -> dict[str, Any] | None:
    """Default settings, new default vs the old default, one run: new, old, new."""
    cat = catalog()
    old = cat.get(OLD_DEFAULT[scale])
    if not all(c.installed for c in cat.resolve_chain(old)) and SHARED_MODELS.is_dir():
        cat.add_search_dir(SHARED_MODELS)
        old = cat.get(OLD_DEFAULT[scale])
    if not all(c.installed for c in cat.resolve_chain(old)):
        print(f"  {old.id} is not installed: photo timing skipped")
        return None
    img = photo(size)
    new_id = cat.default_for("upscale", scale).id

    def timed(model: str | None) -> float:
        t = time.perf_counter()
        enhance(img, task="upscale", scale=scale, model=model)
        return time.perf_counter() - t

    enhance(img[:64, :64], task="upscale", scale=scale)  # load the sessions
    enhance(img[:64, :64], task="upscale", scale=scale, model=old.id)
    new_a = timed(None)
    old_s = timed(old.id)
    new_b = timed(None)
    new_s = (new_a + new_b) / 2
    return {"size": list(size), "scale": scale, "new": new_id, "old": old.id, "new_s": new_s, "old_s": old_s,
            "speedup": old_s / new_s}  # fmt: skip


def markdown(
    scale: int, sets: list[str], rows: list[Row], table: dict[str, Any], speed: dict[str, float]
) -> str:
    head = "| method | params | MB | " + " | ".join(f"{s} PSNR / SSIM" for s in sets) + " | s / input Mpx |"
    lines = [f"### x{scale}", "", head, "|" + "---|" * (len(sets) + 4)]
    for row in rows:
        cells = [f"{table[row.label][s][0]:.2f} / {table[row.label][s][1]:.4f}" for s in sets]
        lines.append(
            f"| {row.label} | {row.params} | {row.size_mb} | "
            + " | ".join(cells)
            + f" | {speed[row.label]:.2f} |"
        )
    for name, (params, figures) in PUBLISHED.items():
        cells = [
            f"{figures[scale][s][0]:.2f} / {figures[scale][s][1]:.4f}" if s in figures[scale] else ""
            for s in sets
        ]
        lines.append(f"| {name} | {params} | | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="Set5 only, 320x213 photo, 3 speed reps")
    ap.add_argument("--sets", nargs="*", choices=SETS)
    ap.add_argument("--scales", nargs="*", type=int, choices=(2, 4), default=[2, 4])
    ap.add_argument("--models", nargs="*", help="only these model ids (bicubic is always shown)")
    ap.add_argument("--reps", type=int, help="speed repetitions (default 3 quick / 5 full)")
    ap.add_argument("--no-photo", action="store_true", help="skip the old-vs-new photo timing")
    ap.add_argument("--no-tta", action="store_true", help="leave out the quality='best' (TTA, 8x time) rows")
    ap.add_argument(
        "--local-only",
        action="store_true",
        help="table only the models installed without ../shared/models (the photo timing still uses it)",
    )
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    args = ap.parse_args(argv)
    sets = args.sets or (["Set5"] if args.quick else list(SETS))
    reps = args.reps or (3 if args.quick else 5)
    if not DATA.is_dir():
        print(f"no benchmark data at {DATA}", file=sys.stderr)
        return 2
    if SHARED_MODELS.is_dir() and not args.local_only:  # the old default (idealo), when not in models/
        catalog().add_search_dir(SHARED_MODELS)

    report: dict[str, Any] = {"sets": sets, "lr": "Pillow bicubic", "scales": {}}
    failures = []
    out_lines = []
    for scale in args.scales:
        rows = rows_for(scale, args.models, tta=not args.no_tta)
        print(f"x{scale}: {', '.join(r.label for r in rows)}", flush=True)
        table = quality_table(scale, sets, rows)
        speed = speed_side_by_side(scale, rows, reps)
        out_lines.append(markdown(scale, sets, rows, table, speed))
        report["scales"][scale] = {"quality": table, "s_per_mpx": speed}
        default = catalog().default_for("upscale", scale).id
        if "Set5" in sets and default in table:
            got = table[default]["Set5"][0]
            ok = got >= ACCEPT[scale]
            failures += [] if ok else [f"x{scale} Set5"]
            verdict = "PASS" if ok else "FAIL"
            out_lines.append(
                f"acceptance: default {default} Set5 x{scale} {got:.2f} dB >= {ACCEPT[scale]}: {verdict}"
            )
    if not args.no_photo:
        size = (320, 213) if args.quick else (640, 427)
        for scale in sorted(args.scales, reverse=True):
            t = photo_timing(size, scale)
            if t is None:
                continue
            report.setdefault("photo", []).append(t)
            line = (f"photo {size[0]}x{size[1]} x{scale}, default settings: {t['old']} {t['old_s']:.1f} s, "
                    f"{t['new']} {t['new_s']:.2f} s: {t['speedup']:.1f}x faster")  # fmt: skip
            if scale == 4 and size == (640, 427):
                ok = t["speedup"] >= ACCEPT_SPEEDUP
                failures += [] if ok else ["x4 speed"]
                line += f" (>= {ACCEPT_SPEEDUP:.0f}x: {'PASS' if ok else 'FAIL'})"
            out_lines.append(line)
    print()
    print(f"LR made with Pillow bicubic; Y-PSNR/SSIM, border = scale; sets {', '.join(sets)}")
    print("\n\n".join(out_lines))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
