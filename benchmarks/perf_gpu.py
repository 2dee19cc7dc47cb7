"""GPU benchmark (issue 23): tiled engine vs the runtime alone on the same tiles, a 4000x3000 photo
x4 with the default model, fp16's PSNR cost per model, and a CPU-vs-GPU table.

    PYTHONPATH=src python3 benchmarks/perf_gpu.py [--tile 1024] [--size 4000x3000] [--json out.json]
    python benchmarks/perf_gpu.py --device cpu --size 256x192 --tile 128 --cpu-size 128x96   # smoke test

Runtimes (``--engines``): onnxruntime (its CUDA provider when onnxruntime-gpu is installed; the
device pass feeds it by IO binding), ``torch`` and ``torch-fp16`` (``runtimes/torch_rt.py``:
PyTorch runs the verified ONNX graph; cuDNN autotuning on, TF32 off so fp32 means fp32).

1. **Tiled vs raw**, per model and runtime: the plan's padded tiles for the photo are fed to
   the runtime alone, one call each, numpy in and numpy out ("raw": host pixels to host pixels,
   as the engine's pass goes), and with the tiles already on the device and the outputs left
   there ("raw on device", one call each and in batches of 4: the model's own speed). Then
   ``enhance(photo, tile=--tile)`` runs the same tiles through the engine: "tiled pass" is the
   pass alone (cut, pad, model, blend, uint8 conversion, output to the host with its digest:
   ``record["pass_ms"]``), "enhance()" the whole call (decoded pixels in, the record out).
   Throughput is input megapixels of tiles per second.
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
from typing import Any, cast

import numpy as np
from PIL import Image

from enhance_widget import enhance, plan_for
from enhance_widget.catalog import catalog
from enhance_widget.data import eval_image, eval_names
from enhance_widget.device_pass import pass_device
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


def _device_feeds(feeds: list[np.ndarray], rt: Any) -> list[Any] | None:
    """The same tiles as torch tensors on the runtime's device (None: it has no device pass)."""
    device = pass_device(rt)
    if device is None:
        return None
    import torch

    return [torch.from_numpy(f).to(device) for f in feeds]


def tiled_vs_raw(model: str, pixels: np.ndarray, tile: int | str, engine: str, runs: int) -> dict[str, Any]:
    """The runtime alone on the plan's padded tiles (numpy in/out, and on the device), then the engine."""
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
    on_dev = _device_feeds(feeds, rt)
    raw, raw_dev, raw_dev4, tiled, passes = [], [], [], [], []
    os.environ["ENHANCE_WIDGET_RUNTIME"] = engine
    res = enhance(pixels, scale=card.scale, model=model, tile=tile, overlap=16)  # warm-up
    if on_dev is not None:
        import torch

        rd = cast(Any, rt)
        rd.run_device(on_dev[0], {})
        batches = [torch.cat(on_dev[i : i + 4]) for i in range(0, len(on_dev), 4)]
    for _ in range(runs):
        _sync()
        t0 = time.perf_counter()
        for f in feeds:
            rt.run({card.input_name: f})
        raw.append(time.perf_counter() - t0)
        if on_dev is not None:
            _sync()
            t0 = time.perf_counter()
            for x in on_dev:
                rd.run_device(x, {})
            _sync()
            raw_dev.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for x in batches:
                rd.run_device(x, {})
            _sync()
            raw_dev4.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = enhance(pixels, scale=card.scale, model=model, tile=tile, overlap=16)
        tiled.append(time.perf_counter() - t0)
        passes.append(sum(res.record["pass_ms"]) / 1000)
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    r, t, ps = statistics.median(raw), statistics.median(tiled), statistics.median(passes)
    rd_s = statistics.median(raw_dev) if raw_dev else None
    rd4_s = statistics.median(raw_dev4) if raw_dev4 else None
    best_raw = min(x for x in (r, rd_s, rd4_s) if x is not None)
    return {
        "model": model,
        "engine": engine,
        "provider": res.record["runtime"]["provider"],
        "input": list(pixels.shape[1::-1]),
        "tile": plan.passes[0].tile[0],
        "tiles": len(feeds),
        "tile_mpx": tile_mpx,
        "raw_s": r,
        "raw_device_s": rd_s,
        "raw_device_batch4_s": rd4_s,
        "tiled_s": t,
        "raw_mpx_s": tile_mpx / r,
        "raw_device_mpx_s": tile_mpx / rd_s if rd_s else None,
        "raw_device_batch4_mpx_s": tile_mpx / rd4_s if rd4_s else None,
        "tiled_mpx_s": tile_mpx / t,
        "tiled_vs_raw": r / t,
        "pass_s": ps,
        "pass_mpx_s": tile_mpx / ps,
        "pass_vs_raw": r / ps,
        "tiled_vs_best_raw": best_raw / t,
        "model_s_in_tiled": sum(res.record["tile_ms"]) / 1000,
    }


def device_check(model: str, pixels: np.ndarray, engine: str) -> dict[str, Any]:
    """The device pass against the host loop on the same runtime: the largest pixel difference."""
    os.environ["ENHANCE_WIDGET_RUNTIME"] = engine
    try:
        on = np.asarray(enhance(pixels, scale=4, model=model, tile=96, overlap=16).array).astype(int)
        os.environ["ENHANCE_WIDGET_DEVICE_PASS"] = "0"
        off = np.asarray(enhance(pixels, scale=4, model=model, tile=96, overlap=16).array).astype(int)
    finally:
        os.environ.pop("ENHANCE_WIDGET_DEVICE_PASS", None)
        os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    d = np.abs(on - off)
    share = float((d > 0).mean())
    return {"model": model, "engine": engine, "max_abs_diff": int(d.max()), "share_differing": share}


def photo_run(model: str, pixels: np.ndarray, engine: str, runs: int) -> dict[str, Any]:
    """Decoded pixels in, output pixels out, at default settings (auto tiles)."""
    os.environ["ENHANCE_WIDGET_RUNTIME"] = engine
    res = enhance(pixels, scale=4)  # warm-up (and cuDNN's autotuning)
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = enhance(pixels, scale=4)
        walls.append(time.perf_counter() - t0)
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    return {
        "model": res.record["model"]["id"] if isinstance(res.record.get("model"), dict) else model,
        "engine": engine,
        "provider": res.record["runtime"]["provider"],
        "input": list(pixels.shape[1::-1]),
        "tiles": len(res.record["tile_ms"]),
        "s": statistics.median(walls),
        "walls": walls,
        "model_s": sum(res.record["tile_ms"]) / 1000,
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


def cpu_vs_gpu(model: str, pixels: np.ndarray, engines: list[str], runs: int) -> dict[str, Any]:
    card = catalog().get(model)
    out: dict[str, Any] = {"model": model, "input": list(pixels.shape[1::-1])}
    for label, engine in [("cpu", "onnxruntime-cpu"), *((e, e) for e in engines)]:
        os.environ["ENHANCE_WIDGET_RUNTIME"] = "onnxruntime" if engine == "onnxruntime-cpu" else engine
        if engine == "onnxruntime-cpu":
            os.environ["ENHANCE_WIDGET_PROVIDERS"] = "CPUExecutionProvider"
        try:
            res = enhance(pixels, scale=card.scale, model=model)
            walls = []
            for _ in range(runs):
                t0 = time.perf_counter()
                res = enhance(pixels, scale=card.scale, model=model)
                walls.append(time.perf_counter() - t0)
        finally:
            os.environ.pop("ENHANCE_WIDGET_PROVIDERS", None)
            clear_cache()
        w = statistics.median(walls)
        out[label] = {
            "s": w,
            "mpx_s": pixels.shape[0] * pixels.shape[1] / 1e6 / w,
            "provider": res.record["runtime"]["provider"],
        }
    os.environ.pop("ENHANCE_WIDGET_RUNTIME", None)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--cpu-size", default="1000x750")
    ap.add_argument("--tile", default="1024", help="tile side for the tiled-vs-raw rows, or auto")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--engines", nargs="+", default=["onnxruntime", "torch", "torch-fp16"])
    ap.add_argument("--skip", nargs="*", default=[], choices=["raw", "photo", "fp16", "cpu"])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import onnxruntime
    import torch

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    tile: int | str = int(args.tile) if args.tile.isdigit() else args.tile
    default = catalog().for_quality("upscale", 4, "balanced").model_id
    models = args.models or list(dict.fromkeys([default, "esrgan-slim-x4"]))  # + the peer benchmark's model
    w, h = (int(v) for v in args.size.split("x"))
    cw, ch = (int(v) for v in args.cpu_size.split("x"))
    big = photo(w, h)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "onnxruntime": f"{onnxruntime.__version__} {onnxruntime.get_available_providers()}",
        "cpus": os.cpu_count(),
        "default_x4": default,
    }
    print(json.dumps(report), flush=True)
    rows: list[dict[str, Any]] = []
    photos: list[dict[str, Any]] = []
    report["device_check"] = []
    for engine in args.engines:
        try:
            report["device_check"].append(device_check(default, photo(300, 200), engine))
            print(json.dumps(report["device_check"][-1]), flush=True)
        except Exception as exc:
            print(f"device check {engine}: {type(exc).__name__}: {exc}", flush=True)
        if "photo" not in args.skip:
            try:
                photos.append(photo_run(default, big, engine, args.runs))
                print(json.dumps(photos[-1]), flush=True)
            except Exception as exc:  # report and go on: one run on a lent machine
                print(f"photo {engine}: {type(exc).__name__}: {exc}", flush=True)
        for m in models if "raw" not in args.skip else []:
            pix = big if m == default else photo(w // 2, h // 2)
            try:
                r = tiled_vs_raw(m, pix, tile, engine, args.runs)
            except Exception as exc:
                print(f"{m} {engine}: {type(exc).__name__}: {exc}", flush=True)
                continue
            rows.append(r)
            print(json.dumps(r), flush=True)
    report["tiled_vs_raw"], report["photo"] = rows, photos
    report["fp16"] = []
    for m in models if "fp16" not in args.skip else []:
        try:
            report["fp16"].append(fp16_psnr(m, "torch"))
            print(json.dumps(report["fp16"][-1]), flush=True)
        except Exception as exc:
            print(f"fp16 {m}: {type(exc).__name__}: {exc}", flush=True)
    clear_cache()
    report["cpu_vs_gpu"] = []
    for m in models if "cpu" not in args.skip else []:
        try:
            report["cpu_vs_gpu"].append(cpu_vs_gpu(m, photo(cw, ch), args.engines, args.runs))
            print(json.dumps(report["cpu_vs_gpu"][-1]), flush=True)
        except Exception as exc:
            print(f"cpu vs gpu {m}: {type(exc).__name__}: {exc}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print_tables(report, args)
    return 0


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def print_tables(report: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(f"device: {report['device']}, torch {report['torch']}, onnxruntime {report['onnxruntime']}")
    print(f"{report['cpus']} CPUs; overlap 16; median of {args.runs} after a warm-up")
    print()
    print("| model | engine (provider) | input | tiles | wall (s) | model calls (s) |")
    print("|---|---|---|---|---|---|")
    for p in report["photo"]:
        print(
            f"| {p['model']} | {p['engine']} ({p['provider']}) | {p['input'][0]}x{p['input'][1]} "
            f"| {p['tiles']} (auto) | **{p['s']:.2f}** | {p['model_s']:.2f} |"
        )
    print()
    print(
        "| model | engine | input | tile | tiles | raw, numpy in/out (Mpx/s) | raw on device "
        "| raw on device, batches of 4 | tiled pass (Mpx/s) | pass / raw | enhance() (Mpx/s) "
        "| enhance() / raw | wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["tiled_vs_raw"]:
        print(
            f"| {r['model']} | {r['engine']} | {r['input'][0]}x{r['input'][1]} | {r['tile']} | {r['tiles']} "
            f"| {r['raw_mpx_s']:.1f} | {_f(r['raw_device_mpx_s'])} | {_f(r['raw_device_batch4_mpx_s'])} "
            f"| {r['pass_mpx_s']:.1f} | **{100 * r['pass_vs_raw']:.0f}%** "
            f"| {r['tiled_mpx_s']:.1f} | {100 * r['tiled_vs_raw']:.0f}% | {r['tiled_s']:.2f} |"
        )
    print()
    print("| model | fp16 PSNR loss (dB, worst of 4 photos) |")
    print("|---|---|")
    for r in report["fp16"]:
        print(f"| {r['model']} | {r['fp16_psnr_loss_db']:.4f} |")
    print()
    engines = args.engines
    heads = " | ".join(f"{e} s" for e in engines)
    print(f"| model | input | CPU onnxruntime ({report['cpus']} cores) s | {heads} |")
    print("|---|---|---|" + "---|" * len(engines))
    for r in report["cpu_vs_gpu"]:
        cells = " | ".join(
            f"{r[e]['s']:.2f} ({r['cpu']['s'] / r[e]['s']:.1f}x)" if e in r else "-" for e in engines
        )
        print(f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['cpu']['s']:.2f} | {cells} |")


if __name__ == "__main__":
    raise SystemExit(main())
