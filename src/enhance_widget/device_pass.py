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
from contextlib import nullcontext
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .catalog import ModelCard
from .costs import tile_memory
from .errors import Cancelled, ModelFormatError
from .planning import PassPlan, TilePlan
from .progress import Progress
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


def cpu_pass_allowed() -> bool:
    """``ENHANCE_WIDGET_DEVICE_PASS=cpu``: a runtime on the CPU takes the device pass too (how the
    tests check that code without a GPU); ``=0`` turns the device pass off."""
    return os.environ.get("ENHANCE_WIDGET_DEVICE_PASS", "1") == "cpu"


def pass_device(runtime: Any) -> Any:
    """The device a pass on ``runtime`` can stay on, or ``None`` (then the host loop runs)."""
    if os.environ.get("ENHANCE_WIDGET_DEVICE_PASS", "1") == "0" or not isinstance(runtime, DeviceRuntime):
        return None
    return runtime.device_for_pass()


class _BandWriter:
    """Finished output rows to an HxWx3 uint8 array on the host, with the sha256 of its bytes.

    The host's rule for 8-bit photos (``to_array``: rint(x * 255), half to even like numpy). Rows
    are handed over as soon as no later tile touches them (a row of tiles at a time); a helper
    thread copies them through a pinned buffer on a stream of its own and hashes them in order,
    while the model runs the next row of tiles. The digest equals hashing the whole array.
    """

    def __init__(self, torch: Any, acc: Any) -> None:
        _, oh, ow = acc.shape
        self.torch, self.acc = torch, acc
        self.out = np.empty((oh, ow, 3), dtype=np.uint8)
        self.done = 0
        self.cuda = acc.device.type == "cuda"
        self.stream = torch.cuda.Stream(acc.device) if self.cuda else None
        self.rows = max(1, BAND_BYTES // (ow * 3))
        self.staging = torch.empty((self.rows, ow, 3), dtype=torch.uint8, pin_memory=self.cuda)
        self.hasher = hashlib.sha256()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enhance-output")
        self.pending: list[Future[None]] = []

    def flush_until(self, y: int) -> None:
        """Rows above ``y`` are final: convert them on the device now, copy and hash them aside."""
        if y <= self.done:
            return
        y0, self.done = self.done, y
        band = self.acc[:, y0:y].clamp(0.0, 1.0).mul_(255.0).round_().to(self.torch.uint8)
        band = band.permute(1, 2, 0).contiguous()
        ready = None
        if self.cuda:
            ready = self.torch.cuda.Event()
            ready.record()
            band.record_stream(self.stream)
        self.pending.append(self.pool.submit(self._copy, y0, band, ready))

    def _copy(self, y0: int, band: Any, ready: Any) -> None:
        if self.cuda:
            self.stream.wait_event(ready)  # type: ignore[union-attr]
        with self.torch.inference_mode(), self.torch.cuda.stream(self.stream) if self.cuda else nullcontext():
            for r in range(0, band.shape[0], self.rows):
                n = min(self.rows, band.shape[0] - r)
                self.staging[:n].copy_(band[r : r + n])
                rows = self.out[y0 + r : y0 + r + n]
                np.copyto(rows, self.staging[:n].numpy())
                self.hasher.update(rows.data)

    def finish(self) -> tuple[np.ndarray, str]:
        self.flush_until(self.out.shape[0])
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pool.shutdown(wait=True)
        return self.out, self.hasher.hexdigest()

    def abandon(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pool.shutdown(wait=True)


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

    from .engine import _is_grid as is_grid
    from .engine import extra_feeds, tile_event

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
        direct = getattr(sink, "direct_dtype", None) if sink is not None else None
        writer = _BandWriter(torch, acc) if direct is not None and np.dtype(direct) == np.uint8 else None
        gx, gy = pp.grid
        first = pp.tiles[0].index
        rows_stream = writer is not None and is_grid(pp)  # other layouts: rows wait for the last tile
        try:
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
                    torch.cuda.current_stream(device).synchronize()  # not the output stream
                ms = (time.perf_counter() - t0) * 1000 / len(group)
                if progress.aborted:
                    raise Cancelled(f"cancelled during tile {group[-1].index + 1} of {total}")
                if card.layout == "NHWC":
                    y = y.permute(0, 3, 1, 2)
                if y.ndim != 4 or y.shape[0] != len(group) or y.shape[2] != ph * s or y.shape[3] != pw * s:
                    raise ModelFormatError(
                        f"model {card.id!r} returned shape {tuple(y.shape)} for {len(group)} tiles "
                        f"of {pw}x{ph}; its card says scale x{s}"
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
                    progress.tile_done(tile_event(tile, pp, total, passes, ms, pixels, runtime))
                    if writer and rows_stream and (tile.index - first) % gx == gx - 1:  # a row is done
                        row = (tile.index - first) // gx
                        writer.flush_until(pp.tiles[(row + 1) * gx].out_box[1] if row + 1 < gy else oh)
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
        if writer is not None:
            out8, digest = writer.finish()
            sink.write_direct(out8, digest)
            return None, times
        acc.clamp_(0.0, 1.0)
        out = acc.permute(1, 2, 0).contiguous().cpu().numpy()
    if sink is not None:
        sink.write((0, 0, ow, oh), out)
        return None, times
    return out, times
