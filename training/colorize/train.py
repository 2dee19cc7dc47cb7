"""Train the project's colorization model (``colorize-unet``), choose its decoding and export it to ONNX.

Modules: ``model.py`` (U-Net, bins, export wrapper), ``losses.py`` (soft-encoded CE, rebalancing
weights), ``data.py`` (npz loader, GPU augmenter), ``calib.py`` (internal validation and the choice of
the decoding), ``backbone.py`` (``--detector``: the U-Net plus a frozen detector's features, run 9;
``--init`` starts from a plain or guided U-Net's weights; ``--tune-detector`` fine-tunes the detector too).  See README.md for why.

* Loss: soft-encoded cross-entropy over 261 ab bins, by default **without** class rebalancing
  (``--lam 1``), so that the network learns the calibrated posterior; the rebalancing of Zhang et al.
  is instead applied at decoding time as ``alpha * log w`` added to the logits, and chosen together
  with the annealing temperature T and a chroma scale on the internal validation split.
* Schedule: warmup, constant, cosine decay to 0 **within** ``--total-steps``; EMA of the weights.
  After every epoch (``--steps-per-epoch`` steps) the EMA model is validated (loss, and CIEDE2000 /
  colourfulness with a fixed decoding); the snapshot with the lowest validation loss is kept.
* End: the decoding grid (calib.py) is run on the best snapshot and, with ``--calib-final``, on the
  final weights too; the better one under the colourfulness constraint is exported.

Device::

    python training/colorize/train.py --data .colorize-data/train2-256.npz --out $OUT

Checkpoints: after every epoch ``ckpt_model.pt`` (weights fp32, EMA fp16) and ``ckpt_state.pt``
(AdamW moments, step, RNG states, log, best), each under the device's 16 MiB per-file return limit;
``--resume DIR`` continues that run from its last epoch with the same arguments.

Export / re-calibrate on CPU from a run folder (``best_ema_fp16.pt`` or ``final_ema_fp16.pt``)::

    python training/colorize/train.py --data ... --export-only --weights DIR/best_ema_fp16.pt \
        --out DIR [--alpha A --temperature T --scale S]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from backbone import GuidedColorUNet
from calib import choose_decoding, grey_de, score, val_logits, val_loss
from data import GpuAugmenter, load_npz
from losses import SoftCE, class_weights
from model import ColorUNet, export_onnx, gamut_bins, rgb_to_lab_t, widths

FIXED_DEC = {"alpha": 0.5, "t": 0.45, "scale": 1.0}  # per-epoch monitoring only


def half_state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in m.state_dict().items()}


def load_half(m: torch.nn.Module, path: Path, device: torch.device) -> None:
    sd = torch.load(path, map_location=device)
    m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})


def write_logs(out: Path, summary: dict[str, Any]) -> None:
    """``train_log.json`` (everything) and ``train_log.csv`` (one row per epoch)."""
    (out / "train_log.json").write_text(json.dumps(summary, indent=1, default=str))
    with open(out / "train_log.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(summary["log"][0].keys()))
        wr.writeheader()
        wr.writerows(summary["log"])


def save_checkpoint(
    out: Path, net: torch.nn.Module, ema: torch.nn.Module, opt: Any, extra: dict[str, Any]
) -> None:
    """Two files under 16 MiB each: weights (fp32) + EMA (fp16); optimizer moments + run state."""
    torch.save({"net": net.state_dict(), "ema": half_state(ema)}, out / "ckpt_model.pt.tmp")
    sd = opt.state_dict()  # its per-parameter dicts are the live state: copy, never modify
    sd["state"] = {k: {**v, "exp_avg": v["exp_avg"].to(torch.bfloat16)} for k, v in sd["state"].items()}
    torch.save({"opt": sd, **extra}, out / "ckpt_state.pt.tmp")
    for name in ("ckpt_model.pt", "ckpt_state.pt"):
        (out / f"{name}.tmp").replace(out / name)


def load_checkpoint(
    run: Path, net: torch.nn.Module, ema: torch.nn.Module, opt: Any, device: torch.device
) -> dict[str, Any]:
    m = torch.load(run / "ckpt_model.pt", map_location=device)
    net.load_state_dict(m["net"])
    ema.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in m["ema"].items()})
    st = torch.load(run / "ckpt_state.pt", map_location="cpu", weights_only=False)  # RNG states stay on CPU
    for v in st["opt"]["state"].values():
        v["exp_avg"] = v["exp_avg"].float()
    opt.load_state_dict(st["opt"])
    return dict(st)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".colorize-data/train2-256.npz")
    ap.add_argument("--out", default=".colorize-data/run")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--total-steps", type=int, default=6000)
    ap.add_argument("--steps-per-epoch", type=int, default=500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--decay-frac", type=float, default=0.7, help="fraction of the run in cosine decay")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--lam", type=float, default=1.0, help="training rebalancing (1 = none)")
    ap.add_argument("--dec-lam", type=float, default=0.5, help="lambda of the decoding-time weights w")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--scale-min", type=float, default=0.5)
    ap.add_argument("--no-photometric", action="store_true")
    ap.add_argument(
        "--cf-mean", type=float, default=0.7, help="decoding constraint: val colourfulness ratio mean"
    )
    ap.add_argument(
        "--cf-min", type=float, default=0.3, help="decoding constraint: val colourfulness ratio min"
    )
    ap.add_argument("--calib-final", action="store_true", help="also calibrate the final weights")
    ap.add_argument(
        "--skip-calib",
        action="store_true",
        help="end after saving the weights and logs (the decoding is chosen later by bayes_decode.py)",
    )
    ap.add_argument("--resume", default="", help="run folder whose ckpt_*.pt to continue from")
    ap.add_argument(
        "--epochs-this-call",
        type=int,
        default=0,
        help="stop after this many epochs (checkpoint saved) so that a later --resume call continues",
    )
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--weights", default="", help="fp16 state dict for --export-only")
    ap.add_argument("--alpha", type=float, default=-1.0, help="--export-only: fixed decoding (else grid)")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument(
        "--pause-after-s",
        type=float,
        default=0.0,
        help="pause (checkpoint kept) after the first epoch that ends past this many seconds of wall time",
    )
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier of the U-Net (1 = runs 3-5)")
    ap.add_argument(
        "--ema-bn",
        choices=("copy", "lerp"),
        default="copy",
        help="EMA model's BatchNorm statistics: copied from the live net (runs 3-5) or averaged like the weights",
    )
    ap.add_argument(
        "--detector",
        default="",
        help="tfjs model.json of the frozen detector whose features guide the U-Net (backbone.py); off if empty",
    )
    ap.add_argument(
        "--tune-detector",
        type=float,
        default=0.0,
        help="fine-tune the detector's convolutions at this fraction of --lr, no weight decay (0: frozen)",
    )
    ap.add_argument(
        "--init",
        default="",
        help="fp16 state dict of a U-Net (detector projections at 0) or of a guided U-Net to start from",
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(min(16, os.cpu_count() or 2))

    centers_np = gamut_bins()
    centers = torch.from_numpy(centers_np).to(device)
    imgs, is_val, _names = load_npz(Path(args.data))
    train_imgs = [im for im, v in zip(imgs, is_val) if not v]
    val_imgs = [im for im, v in zip(imgs, is_val) if v]
    w_train, mean_ab = class_weights(train_imgs, centers_np, args.lam)
    w_dec, _ = class_weights(train_imgs, centers_np, args.dec_lam)
    log_w = torch.from_numpy(np.log(w_dec)).to(device)
    crit = SoftCE(centers, torch.from_numpy(w_train).to(device))
    gde = grey_de(val_imgs)
    ch = widths(args.width)

    def make_net(dropout: float = 0.0) -> ColorUNet:
        if args.detector:
            return GuidedColorUNet(
                len(centers_np), Path(args.detector), ch, dropout, tune_detector=args.tune_detector > 0
            ).to(device)
        return ColorUNet(len(centers_np), ch=ch, dropout=dropout).to(device)

    if args.export_only:
        net = make_net()
        load_half(net, Path(args.weights), device)
        if args.alpha >= 0:
            dec: dict[str, Any] = {"alpha": args.alpha, "t": args.temperature, "scale": args.scale}
            dec = score(val_logits(net, val_imgs, device), val_imgs, centers, log_w, dec, gde, pool)
            rows = [dec]
        else:
            dec, rows = choose_decoding(
                net, val_imgs, centers, log_w, device, gde, pool, args.cf_mean, args.cf_min
            )
        (out / "decoding_grid.json").write_text(json.dumps({"chosen": dec, "grid": rows}, indent=1))
        export_onnx(net, centers, log_w, dec, out / "colorize-unet.onnx")
        print(json.dumps({"val_grey_de2000": float(np.mean(gde)), "chosen": dec}))
        return

    net = make_net(args.dropout)
    if args.init:
        sd = torch.load(args.init, map_location=device)
        res = net.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=False
        )
        if res.unexpected_keys or any(
            not k.startswith(("g2.", "g3.", "g4.", "detector.")) for k in res.missing_keys
        ):
            raise SystemExit(f"--init {args.init} does not fit: {res}")
    ema = make_net()
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in net.parameters())
    tuned = [p for k, p in net.named_parameters() if k.startswith("detector.")]
    own = [p for k, p in net.named_parameters() if not k.startswith("detector.")]
    groups = [
        {"params": [p for p in own if p.ndim > 1], "weight_decay": args.wd, "lr_mult": 1.0},
        {"params": [p for p in own if p.ndim <= 1], "weight_decay": 0.0, "lr_mult": 1.0},
    ]
    if tuned:
        groups.append({"params": tuned, "weight_decay": 0.0, "lr_mult": args.tune_detector})
    opt = torch.optim.AdamW(
        groups,
        lr=args.lr,
        betas=(0.9, 0.99),
        fused=device.type == "cuda",
    )
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    aug = GpuAugmenter(train_imgs, device, args.crop, gen, args.scale_min, not args.no_photometric)
    info = {
        "params": n_params,
        "detector": args.detector,
        "init": args.init,
        "channels": list(ch),
        "bins": len(centers_np),
        "train_images": len(train_imgs),
        "val_images": len(val_imgs),
        "mean_ab_train": [float(mean_ab[0]), float(mean_ab[1])],
        "val_grey_de2000": float(np.mean(gde)),
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "args": vars(args),
    }
    log: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    step = 0
    if args.resume:
        st = load_checkpoint(Path(args.resume), net, ema, opt, device)
        step, log, best = st["step"], st["log"], st["best"]
        gen.set_state(st["gen"].to(gen.get_state().device))
        torch.set_rng_state(st["cpu_rng"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"])
        info["resumed_from"] = {"run": args.resume, "step": step}
        if out.resolve() != Path(args.resume).resolve() and (Path(args.resume) / "best_ema_fp16.pt").exists():
            (out / "best_ema_fp16.pt").write_bytes((Path(args.resume) / "best_ema_fp16.pt").read_bytes())
    print(json.dumps(info), flush=True)
    val_logits(ema, val_imgs[:1], device)  # warm-up
    net = net.to(memory_format=torch.channels_last)
    net.train()

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        d0 = int(args.total_steps * (1 - args.decay_frac))
        if step < d0:
            return args.lr
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - d0) / max(1, args.total_steps - d0)))

    run_loss, run_n = 0.0, 0
    epochs_done = 0
    while step < args.total_steps:
        late = args.pause_after_s and time.time() - t_start > args.pause_after_s
        if (args.epochs_this_call and epochs_done == args.epochs_this_call) or (late and epochs_done):
            print(f"paused at step {step}: continue with --resume {out}", flush=True)
            return
        e0 = time.time()
        for _ in range(min(args.steps_per_epoch, args.total_steps - step)):
            for gparam in opt.param_groups:
                gparam["lr"] = lr_at(step) * gparam.get(
                    "lr_mult", 1.0
                )  # checkpoints before session 8: no key
            with torch.no_grad():
                lab = rgb_to_lab_t(aug.batch(args.batch))
                lum = (lab[:, :1] / 100).contiguous(memory_format=torch.channels_last)
                ab_t = F.avg_pool2d(lab[:, 1:], 2)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                logits = net(lum)
            loss = crit(logits, ab_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1 - args.ema)
                for be, bn in zip(ema.buffers(), net.buffers()):
                    if args.ema_bn == "lerp" and be.is_floating_point():
                        be.lerp_(bn, 1 - args.ema)
                    else:
                        be.copy_(bn)
            if step % 25 == 0:
                run_loss, run_n = run_loss + float(loss.detach()), run_n + 1
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.time() - e0
        vl = val_loss(ema, val_imgs, crit, device)
        m = score(val_logits(ema, val_imgs, device), val_imgs, centers, log_w, FIXED_DEC, gde, pool)
        row = {
            "epoch": len(log) + 1,
            "step": step,
            "lr": lr_at(step - 1),
            "train_loss": run_loss / max(run_n, 1),
            "val_loss": vl,
            "val_de2000": m["de2000"],
            "val_grey_de2000": float(np.mean(gde)),
            "val_frac_better_than_grey": m["frac_better_than_grey"],
            "val_cf_ratio_mean": m["cf_ratio_mean"],
            "val_cf_ratio_min": m["cf_ratio_min"],
            "epoch_train_s": round(train_s, 2),
            "img_per_s": round(args.steps_per_epoch * args.batch / train_s, 1),
            "wall_s": round(time.time() - t_start, 1),
        }
        run_loss, run_n = 0.0, 0
        log.append(row)
        print(json.dumps(row), flush=True)
        if best is None or vl < best["val_loss"]:
            best = {"epoch": row["epoch"], "step": step, "val_loss": vl, "val_de2000_fixed_dec": m["de2000"]}
            torch.save(half_state(ema), out / "best_ema_fp16.pt")
        rng = {"cpu_rng": torch.get_rng_state(), "gen": gen.get_state().cpu()}
        if device.type == "cuda":
            rng["cuda_rng"] = torch.cuda.get_rng_state()
        save_checkpoint(out, net, ema, opt, {"step": step, "log": log, "best": best, **rng})
        epochs_done += 1
    torch.save(half_state(ema), out / "final_ema_fp16.pt")
    assert best is not None
    if args.skip_calib:
        write_logs(out, {"info": info, "log": log, "best": best, "wall_s": round(time.time() - t_start, 1)})
        print(f"done in {time.time() - t_start:.1f}s (weights only, --skip-calib)", flush=True)
        return
    cands = [("best", out / "best_ema_fp16.pt")] + (
        [("final", out / "final_ema_fp16.pt")] if args.calib_final else []
    )
    results = {}
    for tag, path in cands:
        cand = make_net()
        load_half(cand, path, device)
        dec, rows = choose_decoding(
            cand, val_imgs, centers, log_w, device, gde, pool, args.cf_mean, args.cf_min
        )
        results[tag] = {"chosen": dec, "grid": rows, "net": cand}
        print(json.dumps({"snapshot": tag, "chosen": dec}), flush=True)
    pick = min(results, key=lambda k: results[k]["chosen"]["de2000"])
    dec = results[pick]["chosen"]
    export_onnx(results[pick]["net"], centers, log_w, dec, out / "colorize-unet.onnx")
    summary = {
        "info": info,
        "log": log,
        "best": best,
        "exported": {"snapshot": pick, "decoding": dec},
        "decoding_grids": {k: {"chosen": v["chosen"], "grid": v["grid"]} for k, v in results.items()},
        "wall_s": round(time.time() - t_start, 1),
    }
    write_logs(out, summary)
    print(f"done in {time.time() - t_start:.1f}s; exported {pick} with {dec}", flush=True)


if __name__ == "__main__":
    main()
