"""GPU benchmark (issue 23): tiled engine vs the runtime alone on the same tiles, a 4000x3000 photo
x4 with the default model, fp16's PSNR cost per model, and a CPU-vs-GPU table.

    PYTHONPATH=src python3 benchmarks/perf_gpu.py [--tile 1024] [--size 4000x3000] [--json out.json]
    python benchmarks/perf_gpu.py --device cpu --size 256x192 --tile 128 --cpu-size 128x96   # smoke test

Runtime: ``runtimes/torch_rt.py`` (PyTorch runs the verified ONNX graph; cuDNN autotuning on,
TF32 off so fp32 means fp32). The GPU machine has PyTorch but no onnxruntime-gpu (see
benchmarks/README.md for why we did not carry the 256 MB wheel there).

1. **Tiled vs raw**, per model and precision: the plan's padded tiles for the photo are fed to
   the runtime alone, one call each (numpy in, numpy out: what the engine's calls cost), and
   then ``enhance(photo, tile=--tile)`` runs the same tiles through the engine. Throughput is
   input megapixels of tiles per second; the ratio tiled / raw is the engine's efficiency.
   ``raw batched`` feeds the same tiles four at a time (same-shape batching).
2. **Photo**: wall time of ``enhance(pixels, scale=4)`` from decoded pixels to the output array
   on the default x4 model (the manifest's), ``--size`` (4000x3000), ``--tile``, fp32 and fp16.
3. **fp16 PSNR**: the four evaluation photos downscaled with Pillow's bicubic, upscaled in fp32
   and fp16; PSNR against the originals; the loss is fp32 PSNR - fp16 PSNR (goal <= 0.05 dB).
4. **CPU vs GPU**: one ``--cpu-size`` photo per model through ``enhance`` on onnxruntime CPU
   (all cores of the machine) and on the GPU runtime; megapixels (input) per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
from PIL import Image

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.data import eval_image, eval_names
from enhance_widget.engine import pad_to, to_tensor
from enhance_widget.images import load_image
from enhance_widget.metrics import psnr
from enhance_widget.runtimes.ort import RuntimeOptions, clear_cache, load_runtime


def photo(w: int, h: int) -> np.ndarray:
    with Image.open(eval_image("astronaut")) as im:
        return np.asarray(im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def tiled_vs_raw(model: str, pixels: np.ndarray, tile: int, engine: str, runs: int) -> dict[str, Any]:
    card = catalog().get(model)
    plan = plan_for(pixels.shape[1::-1], scale=card.scale, model=model, tile=tile, overlap=16)
    src = load_image(pixels).rgb
    feeds = []
    for t in plan.passes[0].tiles:
        x0, y0, x1, y1 = t.in_box
        patch = pad_to(src[y0:y1, x0:x1], t.padded[0], t.padded[1], card.size_rule.pad_mode)
        feeds.append(to_tensor(patch, card))
    tile_mpx = (
        sum(f.shape[2] * f.shape[3] if card.layout == "NCHW" else f.shape[1] * f.shape[2] for f in feeds)
        / 1e6
    )
    rt = load_runtime(card, RuntimeOptions(engine=engine))
    rt.run({card.input_name: feeds[0]})
    raw, batched, tiled = [], [], []
    os.environ["ENHANCE_WIDGET_RUNTIME"] = engine
    enhance(pixels, scale=card.scale, model=model, tile=tile, overlap=16)  # warm-up
    for _ in range(runs):
        _sync()
        t0 = time.perf_counter()
        for f in feeds:
            rt.run({card.input_name: f})
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(0, len(feeds), 4):
            rt.run({card.input_name: np.concatenate(feeds[i : i + 4])})
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = enhance(pixels, scale=card.scale, model=model, tile=tile, overlap=16)
        tiled.append(time.perf_counter() - t0)
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    r, b, t = statistics.median(raw), statistics.median(batched), statistics.median(tiled)
    return {
        "model": model,
        "engine": engine,
        "provider": res.record["runtime"]["provider"],
        "input": list(pixels.shape[1::-1]),
        "tile": tile,
        "tiles": len(feeds),
        "tile_mpx": tile_mpx,
        "raw_s": r,
        "raw_batched_s": b,
        "tiled_s": t,
        "raw_mpx_s": tile_mpx / r,
        "raw_batched_mpx_s": tile_mpx / b,
        "tiled_mpx_s": tile_mpx / t,
        "tiled_vs_raw": r / t,
        "model_s_in_tiled": sum(res.record["tile_ms"]) / 1000,
    }


def fp16_psnr(model: str, device_engine: str) -> dict[str, Any]:
    card = catalog().get(model)
    s = card.scale
    losses = []
    for name in eval_names():
        with Image.open(eval_image(name)) as im:
            hr = im.convert("RGB")
        w, h = (hr.width // s) * s, (hr.height // s) * s
        hr = hr.crop((0, 0, w, h))
        lr = np.asarray(hr.resize((w // s, h // s), Image.Resampling.BICUBIC))
        ref = np.asarray(hr)
        os.environ["ENHANCE_WIDGET_RUNTIME"] = device_engine
        p32 = psnr(enhance(lr, scale=s, model=model, tile="whole").array, ref)
        os.environ["ENHANCE_WIDGET_RUNTIME"] = device_engine + "-fp16"
        p16 = psnr(enhance(lr, scale=s, model=model, tile="whole").array, ref)
        losses.append(p32 - p16)
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    return {"model": model, "fp16_psnr_loss_db": max(losses), "per_image": [round(v, 4) for v in losses]}


def cpu_vs_gpu(model: str, pixels: np.ndarray, runs: int) -> dict[str, Any]:
    card = catalog().get(model)
    out: dict[str, Any] = {"model": model, "input": list(pixels.shape[1::-1])}
    for label, engine in (
        ("cpu_onnxruntime", "onnxruntime"),
        ("gpu_torch", "torch"),
        ("gpu_torch_fp16", "torch-fp16"),
    ):
        os.environ["ENHANCE_WIDGET_RUNTIME"] = engine
        res = enhance(pixels, scale=card.scale, model=model)
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            res = enhance(pixels, scale=card.scale, model=model)
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        out[label] = {
            "s": w,
            "mpx_s": pixels.shape[0] * pixels.shape[1] / 1e6 / w,
            "provider": res.record["runtime"]["provider"],
        }
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    out["gpu_speedup"] = out["cpu_onnxruntime"]["s"] / out["gpu_torch"]["s"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--cpu-size", default="1000x750")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    default = catalog().for_quality("upscale", 4, "balanced").model_id
    models = args.models or list(dict.fromkeys([default, "esrgan-slim-x4"]))  # + the peer benchmark's model
    w, h = (int(v) for v in args.size.split("x"))
    cw, ch = (int(v) for v in args.cpu_size.split("x"))
    big = photo(w, h)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "default_x4": default,
    }
    print(json.dumps(report), flush=True)
    rows = []
    for m in models:
        for engine in ("torch", "torch-fp16"):
            pix = big if m == default else photo(w // 2, h // 2)
            try:
                r = tiled_vs_raw(m, pix, args.tile, engine, args.runs)
            except Exception as exc:  # report and go on: one run on a lent machine
                print(f"{m} {engine}: {type(exc).__name__}: {exc}", flush=True)
                continue
            rows.append(r)
            print(json.dumps(r), flush=True)
    report["tiled_vs_raw"] = rows
    report["fp16"] = []
    for m in models:
        try:
            report["fp16"].append(fp16_psnr(m, "torch"))
        except Exception as exc:
            print(f"fp16 {m}: {type(exc).__name__}: {exc}", flush=True)
    for r in report["fp16"]:
        print(json.dumps(r), flush=True)
    clear_cache()
    report["cpu_vs_gpu"] = []
    for m in models:
        try:
            report["cpu_vs_gpu"].append(cpu_vs_gpu(m, photo(cw, ch), args.runs))
        except Exception as exc:
            print(f"cpu vs gpu {m}: {type(exc).__name__}: {exc}", flush=True)
    for r in report["cpu_vs_gpu"]:
        print(json.dumps(r), flush=True)
    print()
    print(
        f"device: {report['device']}, torch {report['torch']}, {report['cpus']} CPUs; "
        f"tile {args.tile}, overlap 16"
    )
    print(
        "| model | precision | input | tiles | raw (Mpx/s) | raw, batches of 4 | tiled engine (Mpx/s) "
        "| tiled / raw | wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {'fp16' if r['engine'].endswith('fp16') else 'fp32'} "
            f"| {r['input'][0]}x{r['input'][1]} "
            f"| {r['tiles']} | {r['raw_mpx_s']:.1f} | {r['raw_batched_mpx_s']:.1f} | {r['tiled_mpx_s']:.1f} "
            f"| {100 * r['tiled_vs_raw']:.0f}% | {r['tiled_s']:.2f} |"
        )
    print()
    print("| model | fp16 PSNR loss (dB, worst of 4 photos) |")
    print("|---|---|")
    for r in report["fp16"]:
        print(f"| {r['model']} | {r['fp16_psnr_loss_db']:.4f} |")
    print()
    print(
        f"| model | input | CPU onnxruntime ({report['cpus']} cores) s | GPU fp32 s | GPU fp16 s "
        "| GPU speed-up |"
    )
    print("|---|---|---|---|---|---|")
    for r in report["cpu_vs_gpu"]:
        print(
            f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['cpu_onnxruntime']['s']:.2f} "
            f"| {r['gpu_torch']['s']:.2f} | {r['gpu_torch_fp16']['s']:.2f} | {r['gpu_speedup']:.1f}x |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
