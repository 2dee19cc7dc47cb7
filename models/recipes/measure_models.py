"""Measure the restore / deblur / INT8 models and record the numbers in ``models/recipes/measurements.json``.

    python models/recipes/measure_models.py --sections facts quality tta timing memory \\
        [--models ffdnet-color ...] [--extra-dir /tmp/issue7/maxim] [--out models/recipes/measurements.json]

Run with the venv of ``requirements-int8.txt`` (onnxruntime, numpy, Pillow, scipy, scikit-image, onnx).
Files are looked up in ``models/`` and then in each ``--extra-dir`` (the ~97 MB MAXIM files live outside
the repository). Each section replaces its own keys of each model's record and leaves the rest.

Protocols (all on the four 256x256 photos ``models/eval/*.png``; PSNR/SSIM on the 0..255 scale after
clipping and rounding the model output like a saved image):

- upscale x2: HR = the photo, LR = PIL bicubic 1/2, baseline = PIL bicubic x2 of LR; Y-channel (BT.601)
  PSNR and SSIM with ``scale`` border pixels shaved;
- denoise: HR + Gaussian noise of std sigma (0..255 scale), ``np.random.default_rng(0)`` created anew
  for each sigma and drawn for the photos in name order, clipped to 0..255, not rounded; FFDNet's
  strength = sigma; RGB PSNR/SSIM;
- deblur: 9-pixel horizontal box blur (kernel ``np.ones((1, 9)) / 9``, scipy ``mode='reflect'``,
  i.e. ``d c b a | a b c d``), rounded; the whole 256x256 photo is one MAXIM tile; RGB PSNR/SSIM;
- INT8: PSNR/SSIM of the INT8 model's output against its FP32 parent's output on the same inputs,
  and each against the ground truth;
- TTA: mean over the 8 flips/rotations (8x time) against the plain run, same protocol;
- timing: ms per 128² and 256² input tile (fixed-size models: 256² only), onnxruntime CPU with
  default threads, median of 3 after one warm-up, random input; session load time;
- memory: peak RSS (VmHWM) of a fresh process that loads the model and runs one 128² or one 256² tile;
  bytes_per_px = (peak_256 - peak_128) / (256² - 128²) (``benchmarks/calibrate.py``'s definition);
  fixed-size models: peak_256 / 256².
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_eval import (
    MODELS_DIR,
    SPECS,
    ModelSpec,
    add_noise,
    bicubic,
    box_blur_h9,
    eval_images,
    feeds,
    psnr,
    run,
    run_tta,
    session,
    shave,
    ssim,
    to_u8_float,
    y_channel,
)

OUT = Path(__file__).resolve().parent / "measurements.json"
SIGMAS = (15.0, 25.0, 50.0)
INT8_PARENTS = {"idealo-psnr-small-x2-int8": "idealo-psnr-small-x2", "ffdnet-color-int8": "ffdnet-color"}


def locate(spec: ModelSpec, extra_dirs: list[Path]) -> Path | None:
    for d in [MODELS_DIR, *extra_dirs]:
        if (d / spec.file).is_file():
            return d / spec.file
    return None


def r(x: float | np.floating[Any], nd: int = 2) -> float:
    return round(float(x), nd)


# --------------------------------------------------------------------------------------------------
# facts
# --------------------------------------------------------------------------------------------------


def facts(spec: ModelSpec, path: Path) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(path))
    float_params = sum(
        int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT
    )
    int8_params = sum(
        int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8
    )
    sess = session(path)
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "size_bytes": path.stat().st_size,
        "initializer_values": {"float32": float_params, "int8": int8_params},
        "inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape, "type": o.type} for o in sess.get_outputs()],
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "nodes": len(model.graph.node),
    }


# --------------------------------------------------------------------------------------------------
# quality
# --------------------------------------------------------------------------------------------------


def sr_outputs(sess: ort.InferenceSession, spec: ModelSpec, tta: bool = False) -> dict[str, np.ndarray]:
    out = {}
    for name, hr in eval_images().items():
        h, w = hr.shape[0] // spec.scale, hr.shape[1] // spec.scale
        lr = bicubic(hr, w, h) / np.float32(255.0)
        out[name] = to_u8_float((run_tta if tta else run)(sess, spec, lr.astype(np.float32)))
    return out


def sr_scores(outputs: dict[str, np.ndarray], scale: int) -> dict[str, Any]:
    rows = {}
    for name, hr in eval_images().items():
        lr = bicubic(hr, hr.shape[1] // scale, hr.shape[0] // scale)
        base = bicubic(lr, hr.shape[1], hr.shape[0])
        y_hr, y_bic, y_sr = (shave(y_channel(a), scale) for a in (hr, base, outputs[name]))
        rows[name] = {
            "psnr_y_bicubic": r(psnr(y_hr, y_bic)),
            "psnr_y_model": r(psnr(y_hr, y_sr)),
            "ssim_y_bicubic": r(ssim(y_hr, y_bic), 4),
            "ssim_y_model": r(ssim(y_hr, y_sr), 4),
        }
    return summarise(rows, "psnr_y_bicubic", "psnr_y_model", "ssim_y_bicubic", "ssim_y_model")


def summarise(
    rows: dict[str, dict[str, float]], base_psnr: str, psnr_key: str, base_ssim: str, ssim_key: str
) -> dict[str, Any]:
    mean = {k: r(np.mean([row[k] for row in rows.values()]), 4) for k in next(iter(rows.values()))}
    return {
        "per_image": rows,
        "mean": mean,
        "psnr_gain_db": r(mean[psnr_key] - mean[base_psnr]),
        "ssim_gain": r(mean[ssim_key] - mean[base_ssim], 4),
    }


def dn_outputs(
    sess: ort.InferenceSession, spec: ModelSpec, sigma: float, tta: bool = False
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out = {}
    for name, clean in eval_images().items():
        noisy = add_noise(clean, sigma, rng)
        x = (noisy / 255.0).astype(np.float32)
        out[name] = (noisy, to_u8_float((run_tta if tta else run)(sess, spec, x, sigma)))
    return out


def dn_scores(outputs: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for name, clean in eval_images().items():
        noisy, den = outputs[name]
        rows[name] = {
            "psnr_noisy": r(psnr(clean, noisy)),
            "psnr_model": r(psnr(clean, den)),
            "ssim_noisy": r(ssim(clean, noisy), 4),
            "ssim_model": r(ssim(clean, den), 4),
        }
    return summarise(rows, "psnr_noisy", "psnr_model", "ssim_noisy", "ssim_model")


def db_outputs(sess: ort.InferenceSession, spec: ModelSpec) -> dict[str, Any]:
    out = {}
    for name, sharp in eval_images().items():
        blurred = box_blur_h9(sharp)
        out[name] = (blurred, to_u8_float(run(sess, spec, (blurred / 255.0).astype(np.float32))))
    return out


def db_scores(outputs: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for name, sharp in eval_images().items():
        blurred, restored = outputs[name]
        rows[name] = {
            "psnr_blurred": r(psnr(sharp, blurred)),
            "psnr_model": r(psnr(sharp, restored)),
            "ssim_blurred": r(ssim(sharp, blurred), 4),
            "ssim_model": r(ssim(sharp, restored), 4),
        }
    return summarise(rows, "psnr_blurred", "psnr_model", "ssim_blurred", "ssim_model")


def agreement(a: dict[str, Any], b: dict[str, Any], y_only: bool, border: int) -> dict[str, float]:
    """PSNR/SSIM of one model's outputs against another's (same inputs): how far INT8 is from FP32."""
    ps, ss = [], []
    for name in a:
        x = a[name][1] if isinstance(a[name], tuple) else a[name]
        y = b[name][1] if isinstance(b[name], tuple) else b[name]
        if y_only:
            x, y = y_channel(x), y_channel(y)
        x, y = shave(x, border), shave(y, border)
        ps.append(psnr(x, y))
        ss.append(ssim(x, y))
    return {"psnr_db": r(np.mean(ps)), "ssim": r(np.mean(ss), 4), "min_psnr_db": r(min(ps))}


def quality(model_id: str, spec: ModelSpec, path: Path, extra_dirs: list[Path]) -> dict[str, Any]:
    sess = session(path)
    result: dict[str, Any] = {}
    parent_id = INT8_PARENTS.get(model_id, "")
    parent_path = locate(SPECS[parent_id], extra_dirs) if parent_id else None
    parent = session(parent_path) if parent_path else None
    if spec.task == "upscale":
        outs = sr_outputs(sess, spec)
        result[f"sr_x{spec.scale}"] = sr_scores(outs, spec.scale)
        if parent is not None:
            result["vs_fp32_parent"] = agreement(outs, sr_outputs(parent, SPECS[parent_id]), True, spec.scale)
            result["vs_fp32_parent"]["protocol"] = "Y channel, border shaved, same LR inputs"
    elif spec.task == "restore":
        sigmas = SIGMAS if spec.sigma_input else (15.0, 25.0)
        for sigma in sigmas:
            outs = dn_outputs(sess, spec, sigma)
            result[f"denoise_sigma{int(sigma)}"] = dn_scores(outs)
            if parent is not None:
                result[f"vs_fp32_parent_sigma{int(sigma)}"] = agreement(
                    outs, dn_outputs(parent, SPECS[parent_id], sigma), False, 0
                )
    else:
        result["deblur_box_h9"] = db_scores(db_outputs(sess, spec))
    return result


def tta(model_id: str, spec: ModelSpec, path: Path) -> dict[str, Any]:
    sess = session(path)
    if spec.task == "upscale":
        t0 = time.perf_counter()
        plain = sr_scores(sr_outputs(sess, spec), spec.scale)
        t1 = time.perf_counter()
        aug = sr_scores(sr_outputs(sess, spec, tta=True), spec.scale)
        t2 = time.perf_counter()
        key = "psnr_y_model"
    else:
        t0 = time.perf_counter()
        plain = dn_scores(dn_outputs(sess, spec, 25.0))
        t1 = time.perf_counter()
        aug = dn_scores(dn_outputs(sess, spec, 25.0, tta=True))
        t2 = time.perf_counter()
        key = "psnr_model"
    return {
        "protocol": "x2 SR (Y-PSNR)" if spec.task == "upscale" else "denoise sigma 25 (RGB PSNR)",
        "psnr_plain": plain["mean"][key],
        "psnr_tta8": aug["mean"][key],
        "tta_gain_db": r(aug["mean"][key] - plain["mean"][key]),
        "per_image_gain_db": {
            n: r(aug["per_image"][n][key] - plain["per_image"][n][key]) for n in plain["per_image"]
        },
        "time_ratio": r((t2 - t1) / (t1 - t0), 1),
    }


# --------------------------------------------------------------------------------------------------
# timing and memory
# --------------------------------------------------------------------------------------------------


def random_feeds(spec: ModelSpec, side: int) -> dict[str, np.ndarray]:
    rgb = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    return feeds(spec, rgb, 25.0)


def timing(spec: ModelSpec, path: Path, reps: int = 3) -> dict[str, Any]:
    t0 = time.perf_counter()
    sess = session(path)
    load_ms = (time.perf_counter() - t0) * 1000
    out: dict[str, Any] = {"load_ms": round(load_ms)}
    for side in (128, 256) if spec.fixed is None else (spec.fixed,):
        f = random_feeds(spec, side)
        sess.run(None, f)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            sess.run(None, f)
            times.append((time.perf_counter() - t) * 1000)
        out[f"ms_{side}"] = r(statistics.median(times), 1)
        out[f"ms_{side}_runs"] = [r(t, 1) for t in times]
    return out


def probe(path: Path, spec_id: str, side: int) -> None:
    """Child process: load, run one tile of ``side``², print the peak RSS in bytes.

    The peak is ``VmHWM`` of ``/proc/self/status`` (Linux), not ``getrusage``'s ``ru_maxrss``: the latter
    survives ``execve`` and so starts at the parent's peak (here, a parent that had models loaded).
    """
    spec = SPECS[spec_id]
    sess = session(path)
    sess.run(None, random_feeds(spec, side))
    status = Path("/proc/self/status").read_text().splitlines()
    print(next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")))


def memory(spec: ModelSpec, path: Path) -> dict[str, Any]:
    def peak(side: int) -> int:
        cmd = [sys.executable, __file__, "--probe", str(path), spec.id, str(side)]
        return int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])

    if spec.fixed is not None:
        p = peak(spec.fixed)
        return {"peak_rss_256": p, "bytes_per_px": round(p / spec.fixed**2)}
    p128, p256 = peak(128), peak(256)
    return {
        "peak_rss_128": p128,
        "peak_rss_256": p256,
        "bytes_per_px": round(max(0, p256 - p128) / (256**2 - 128**2)),
    }


# --------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import os

    return {
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "cores": os.cpu_count(),
        "load_average_at_start": [r(x) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", default=["facts", "quality", "tta", "timing", "memory"],
                        choices=["facts", "quality", "tta", "timing", "memory"])  # fmt: skip
    parser.add_argument("--models", nargs="+", default=sorted(SPECS), choices=sorted(SPECS))
    parser.add_argument("--extra-dir", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--probe"]:
        probe(Path(argv[1]), argv[2], int(argv[3]))
        return 0
    args = parse_args(argv)
    table: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    env = environment()
    for model_id in args.models:
        spec = SPECS[model_id]
        path = locate(spec, args.extra_dir)
        if path is None:
            print(f"[{model_id}] not found, skipped", flush=True)
            continue
        record = table.setdefault("models", {}).setdefault(model_id, {})
        for section in args.sections:
            if section == "tta" and model_id not in ("ffdnet-color", "idealo-psnr-small-x2"):
                continue
            t0 = time.perf_counter()
            if section == "facts":
                record.update(facts(spec, path))
            elif section == "quality":
                record["quality"] = quality(model_id, spec, path, args.extra_dir)
            elif section == "tta":
                record["tta"] = tta(model_id, spec, path)
            elif section == "timing":
                record["timing"] = {**timing(spec, path), "environment": env}
            elif section == "memory":
                record["memory"] = memory(spec, path)
            print(
                f"[{model_id}] {section} ({time.perf_counter() - t0:.0f} s): {json.dumps(record.get(section, {}) if section != 'facts' else record.get('sha256'))[:600]}",
                flush=True,
            )
        args.out.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
