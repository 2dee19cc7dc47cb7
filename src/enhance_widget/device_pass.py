"""A tiled pass that stays on the accelerator (issue 23): used when the runtime can take device tensors.

The host loop (``engine.run_pass``) sends every tile to the runtime as numpy and blends the results
on the CPU; on a GPU that costs more than the model (a 4000x3000 x4 moves and converts 192 million
output pixels on one core). Here the source image goes to the device once, each tile is cut,
padded, run and blended there, tiles of the same padded shape go to the model in batches, and the
finished output crosses back once, already in the result's dtype when the sink allows it (uint8
photos). The tiles, their order, the blend windows and the clipping are the plan's, as in the host
loop; only where the arithmetic runs changes.

A runtime opts in with :class:`DeviceRuntime` (``runtimes/torch_rt.py``, and ``runtimes/ort.py``
on the CUDA provider with PyTorch present, through IO binding). PyTorch holds the device memory.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .catalog import ModelCard
from .errors import Cancelled, ModelFormatError
from .planning import PassPlan, TilePlan, tile_memory
from .progress import Progress, TileEvent
from .tiling import axis_weights

MAX_BATCH = 8
"""Same-shape tiles per model call at most (``ENHANCE_WIDGET_GPU_BATCH`` overrides)."""
CALL_PIXELS = 1_000_000
"""Batches fill a call up to about this many input pixels: on an H200 larger batches of big tiles
ran slower than one tile a call (benchmarks/README.md), small tiles gain from them."""
BAND_BYTES = 64 * 1024**2
"""Rows of the output cross to the host in bands of about this size (through one pinned buffer)."""


@runtime_checkable
class DeviceRuntime(Protocol):
    """A runtime that runs a batch already on its device and returns it there."""

    provider: str

    def device_for_pass(self) -> Any:
        """The ``torch.device`` tensors must be on, or ``None`` when this runtime runs on the host."""
        ...

    def run_device(self, x: Any, extras: dict[str, np.ndarray]) -> Any:
        """``x``: N tiles in the card's layout, float32 on the device; returns the model's output there."""
        ...


def pass_device(runtime: Any) -> Any:
    """The device a pass on ``runtime`` can stay on, or ``None`` (then the host loop runs)."""
    if os.environ.get("ENHANCE_WIDGET_DEVICE_PASS", "1") == "0" or not isinstance(runtime, DeviceRuntime):
        return None
    return runtime.device_for_pass()


class DirectSink(Protocol):
    """A sink that can take the whole output already converted (``direct_dtype``, HxWx3)."""

    direct_dtype: np.dtype[Any] | None

    def write_direct(self, array: np.ndarray) -> None: ...


def _to_host_uint8(torch: Any, acc: Any) -> tuple[np.ndarray, str]:
    """The clipped 3xHxW float accumulator as an HxWx3 uint8 array on the host, and its sha256.

    The host's rule for 8-bit photos (``to_array``: rint(x * 255), half to even like numpy), one
    band of rows at a time: each band crosses through a pinned buffer while a helper thread hashes
    the band before it, so the record's output digest costs little beyond the copy.
    """
    _, oh, ow = acc.shape
    out = np.empty((oh, ow, 3), dtype=np.uint8)
    rows = max(1, BAND_BYTES // (ow * 3))
    cuda = acc.device.type == "cuda"
    staging = torch.empty((rows, ow, 3), dtype=torch.uint8, pin_memory=cuda)
    hasher = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enhance-hash") as pool:
        pending: Future[None] | None = None
        for y0 in range(0, oh, rows):
            y1 = min(oh, y0 + rows)
            band = acc[:, y0:y1].mul(255.0).round_().to(torch.uint8).permute(1, 2, 0)
            staging[: y1 - y0].copy_(band)
            np.copyto(out[y0:y1], staging[: y1 - y0].numpy())
            if pending is not None:
                pending.result()
            pending = pool.submit(hasher.update, out[y0:y1].data)
        if pending is not None:
            pending.result()
    return out, hasher.hexdigest()


def _batch_size(card: ModelCard, padded: tuple[int, int], device: Any) -> int:
    """Enough same-shape tiles for about ``CALL_PIXELS`` per call (small tiles), memory allowing."""
    env = os.environ.get("ENHANCE_WIDGET_GPU_BATCH")
    if env:
        return max(1, int(env))

    if device.type != "cuda":
        return 1
    wanted = max(1, -(-CALL_PIXELS // (padded[0] * padded[1])))
    per_tile = max(1, tile_memory(card, *padded))
    free = _free_bytes(device)  # stable across runs, so the batch (and cuDNN's tuned shapes) stays
    return int(max(1, min(MAX_BATCH, wanted, (free // 4) // per_tile)))


def _fits(pp: PassPlan, card: ModelCard, device: Any) -> bool:
    """The source, the float32 accumulator and one batch's work fit in a quarter of the free memory."""

    if device.type != "cuda":
        return True
    (iw, ih), (ow, oh) = pp.in_size, pp.out_size
    need = (iw * ih + ow * oh) * 3 * 4 + tile_memory(card, *pp.tiles[0].padded)
    return bool(need < _free_bytes(device) // 2)


def _free_bytes(device: Any) -> int:
    """What the card has free plus what torch's cache holds unused: the same figure run after run."""
    import torch

    free = torch.cuda.mem_get_info(device)[0]
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def can_run_on_device(pp: PassPlan, card: ModelCard, runtime: Any) -> bool:
    device = pass_device(runtime)
    return device is not None and bool(pp.tiles) and card.pipeline != "global-lab" and _fits(pp, card, device)


class _Weights:
    """Blend windows as device tensors, cached per (size, bands) like the host loop's."""

    def __init__(self, torch: Any, device: Any) -> None:
        self.torch, self.device = torch, device
        self.cache: dict[tuple[int, int, int], Any] = {}

    def axis(self, size: int, before: int, after: int) -> Any:
        key = (size, before, after)
        w = self.cache.get(key)
        if w is None:
            w = self.torch.tensor(
                axis_weights(size, before, after), dtype=self.torch.float32, device=self.device
            )
            self.cache[key] = w
        return w


def _groups(tiles: tuple[TilePlan, ...], batch: int) -> list[list[TilePlan]]:
    """Consecutive tiles of one padded shape, ``batch`` at most per group (plan order kept)."""
    out: list[list[TilePlan]] = []
    for t in tiles:
        if out and len(out[-1]) < batch and out[-1][0].padded == t.padded:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def run_pass_on_device(
    src: np.ndarray,
    pp: PassPlan,
    card: ModelCard,
    runtime: Any,
    progress: Progress,
    total: int,
    passes: int,
    controls: Mapping[str, float],
    sink: Any,
) -> tuple[np.ndarray | None, list[float]]:
    """Every tile of ``pp`` on the runtime's device; same contract as ``engine.run_pass``."""
    import torch
    import torch.nn.functional as F

    from .engine import extra_feeds

    device = runtime.device_for_pass()
    s = card.scale
    ow, oh = pp.out_size
    times: list[float] = []
    weights = _Weights(torch, device)
    wants_pixels = bool(getattr(progress, "wants_pixels", True))
    extras1 = extra_feeds(card, controls)
    pad_mode = "reflect" if card.size_rule.pad_mode == "reflect" else "replicate"
    with torch.inference_mode():
        x_all = torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)).to(device).permute(2, 0, 1)
        acc = torch.zeros((3, oh, ow), dtype=torch.float32, device=device)
        batch = _batch_size(card, pp.tiles[0].padded, device)
        for group in _groups(pp.tiles, batch):
            if progress.aborted:
                raise Cancelled(f"cancelled before tile {group[0].index + 1} of {total}")
            pw, ph = group[0].padded
            patches = []
            for tile in group:
                x0, y0, x1, y1 = tile.in_box
                patch = x_all[:, y0:y1, x0:x1]
                dh, dw = ph - (y1 - y0), pw - (x1 - x0)
                if dh > 0 or dw > 0:
                    reflect_fits = dh < y1 - y0 and dw < x1 - x0  # numpy's reflect needs this too
                    mode = pad_mode if reflect_fits else "replicate"
                    patch = F.pad(patch[None], (0, max(dw, 0), 0, max(dh, 0)), mode=mode)[0]
                patches.append(patch)
            x = torch.stack(patches)
            if card.value_range != 1.0:
                x = x * card.value_range
            if card.layout == "NHWC":
                x = x.permute(0, 2, 3, 1)
            x = x.contiguous()
            extras = {k: np.repeat(v, len(group), axis=0) for k, v in extras1.items()}
            t0 = time.perf_counter()
            y = runtime.run_device(x, extras)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            ms = (time.perf_counter() - t0) * 1000 / len(group)
            if progress.aborted:
                raise Cancelled(f"cancelled during tile {group[-1].index + 1} of {total}")
            if card.layout == "NHWC":
                y = y.permute(0, 3, 1, 2)
            if y.ndim != 4 or y.shape[0] != len(group) or y.shape[2] != ph * s or y.shape[3] != pw * s:
                raise ModelFormatError(
                    f"model {card.id!r} returned shape {tuple(y.shape)} for {len(group)} tiles of {pw}x{ph}; "
                    f"its card says scale x{s}"
                )
            if y.shape[1] == 1:
                y = y.expand(-1, 3, -1, -1)
            y = y.float()
            if card.value_range != 1.0:
                y = y / card.value_range
            for k, tile in enumerate(group):
                ox0, oy0, ox1, oy1 = tile.out_box
                left, top, right, bottom = tile.bands
                yt = y[k, :, : oy1 - oy0, : ox1 - ox0]
                wy = weights.axis(oy1 - oy0, top, bottom)
                wx = weights.axis(ox1 - ox0, left, right)
                acc[:, oy0:oy1, ox0:ox1] += yt * wy[None, :, None] * wx[None, None, :]
                times.append(ms)
                pixels = None
                if wants_pixels:
                    cx0, cy0, cx1, cy1 = tile.core_box
                    core = yt[:, cy0 - oy0 : cy1 - oy0, cx0 - ox0 : cx1 - ox0].clamp(0.0, 1.0)
                    pixels = core.permute(1, 2, 0).cpu().numpy()
                progress.tile_done(
                    TileEvent(
                        index=tile.index,
                        total=total,
                        pass_index=pp.pass_index,
                        passes=passes,
                        in_box=tile.in_box,
                        out_box=tile.out_box,
                        core_box=tile.core_box,
                        out_size=pp.out_size,
                        ms=ms,
                        pixels=pixels,
                        provider=getattr(runtime, "provider", ""),
                    )
                )
        acc.clamp_(0.0, 1.0)
        direct = getattr(sink, "direct_dtype", None) if sink is not None else None
        if direct is not None and np.dtype(direct) == np.uint8:
            out8, digest = _to_host_uint8(torch, acc)
            sink.write_direct(out8, digest)
            return None, times
        out = acc.permute(1, 2, 0).contiguous().cpu().numpy()
    if sink is not None:
        sink.write((0, 0, ow, oh), out)
        return None, times
    return out, times
