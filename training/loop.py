"""A resumable, seeded training loop for image-to-image networks (torch).

What it guarantees:

* **Seeded.**  Weights start from ``torch.manual_seed(seed)``; sample ``i`` of the run is a pure
  function of ``(seed, i)`` (see ``training.data.pair``), so the batches are the same whatever the
  number of data workers and wherever a run resumes.
* **Resumable within device limits.**  ``budget_s`` bounds one call's training time: the loop
  saves ``checkpoint.pt`` (model, optimiser, step, schedule, log so far) and stops; the next call
  with the same ``out`` folder (or a returned checkpoint copied there) continues at the next step.
* **A schedule that fits.**  With ``steps=0`` ("auto") the first call measures its speed over the
  warm-up and fixes the total number of steps so that ``total_budget_s`` of training fits; the
  number is logged and stored, so a re-run with ``steps=N`` reproduces it.  Linear warm-up, then
  cosine decay to ``lr * 0.01``.
* **Logged curves.**  ``log.jsonl``: one line per ``log_every`` steps (mean training loss, lr,
  samples/s) and per validation (metrics from ``validate``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


@dataclass
class LoopConfig:
    seed: int = 0
    steps: int = 0  # 0: fixed by the measured speed (see module docstring)
    total_budget_s: float = 780.0
    budget_s: float = 450.0
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: int = 300
    log_every: int = 50
    val_every: int = 500
    workers: int = 8
    bf16: bool = True


Sampler = Callable[[int], tuple[np.ndarray, np.ndarray]]  # index -> (input, target) uint8 HWC
Validate = Callable[[nn.Module], dict[str, float]]


class _Pairs(torch.utils.data.Dataset[tuple[Tensor, Tensor]]):
    def __init__(self, sample: Sampler) -> None:
        self.sample = sample

    def __len__(self) -> int:  # indices come from the sampler; this bound is never reached
        return 2**62

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        a, b = self.sample(i)
        return (
            torch.from_numpy(a).permute(2, 0, 1).float().div_(255.0),
            torch.from_numpy(b).permute(2, 0, 1).float().div_(255.0),
        )


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def batches(sample: Sampler, start_step: int, cfg: LoopConfig) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches from step ``start_step`` on, batch ``k`` holding samples ``k*B .. k*B+B-1``."""
    loader = torch.utils.data.DataLoader(
        _Pairs(sample),
        batch_size=cfg.batch,
        sampler=range(start_step * cfg.batch, 2**62),  # type: ignore[arg-type]
        num_workers=cfg.workers,
        worker_init_fn=_worker_init,
        pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if cfg.workers else None,
        persistent_workers=False,
    )
    return iter(loader)


def lr_at(step: int, total: int, cfg: LoopConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def _log(path: Path, rec: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def train(
    model: nn.Module,
    sample: Sampler,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    cfg: LoopConfig,
    out: Path,
    validate: Validate | None = None,
) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the state summary. Stops at ``budget_s`` or the end."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.pt", out / "log.jsonl"
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.9), weight_decay=cfg.weight_decay)
    step, total, trained_s, calls = 0, cfg.steps, 0.0, 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, total, trained_s, calls = ck["step"], ck["total"], ck["trained_s"], ck["calls"]
        _log(log_path, {"event": "resume", "step": step, "total": total, "trained_s": round(trained_s, 1)})
    else:
        log_path.unlink(missing_ok=True)
        _log(log_path, {"event": "start", "config": asdict(cfg), "device": str(dev), "pid": os.getpid()})
    calls += 1

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "total": total,
                "trained_s": trained_s,
                "calls": calls,
                "config": asdict(cfg),
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    if total and step >= total:
        return {"step": step, "total": total, "done": True}
    it = batches(sample, step, cfg)
    model.train()
    t_call = time.time()
    t_mark, n_mark, losses = time.time(), 0, []
    speed_t0: float | None = None
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16 and dev.type == "cuda")
    while total == 0 or step < total:
        x, y = next(it)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total or 10**9, cfg)
        with autocast:
            pred = model(x)
        loss = loss_fn(pred.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        n_mark += 1
        if step == 50 and total == 0:
            speed_t0 = time.time()
        if total == 0 and speed_t0 is not None and step == cfg.warmup:
            rate = (cfg.warmup - 50) / (time.time() - speed_t0)
            total = int(rate * cfg.total_budget_s) // 100 * 100
            _log(log_path, {"event": "schedule", "steps_per_s": round(rate, 2), "total": total})
        if step % cfg.log_every == 0:
            dt = time.time() - t_mark
            _log(
                log_path,
                {
                    "step": step,
                    "loss": round(float(np.mean(losses)), 6),
                    "lr": round(lr_at(step - 1, total or 10**9, cfg), 8),
                    "samples_per_s": round(n_mark * cfg.batch / dt, 1),
                },
            )
            t_mark, n_mark, losses = time.time(), 0, []
        done = total and step >= total
        if validate is not None and (step % cfg.val_every == 0 or done):
            model.eval()
            with torch.no_grad():
                metrics = validate(model)
            model.train()
            _log(log_path, {"step": step, "val": metrics})
        if done or time.time() - t_call >= cfg.budget_s:
            break
    trained_s += time.time() - t_call
    save()
    state = {
        "step": step,
        "total": total,
        "done": bool(total and step >= total),
        "trained_s": round(trained_s, 1),
    }
    _log(log_path, {"event": "stop", **state})
    return state
