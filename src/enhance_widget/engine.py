"""The tiled inference loop. Sans-IO: no threads, widgets or onnxruntime here.

It takes a :class:`~enhance_widget.planning.Plan`, the source pixels, one
:class:`~enhance_widget.runtimes.Runtime` per pass and a
:class:`~enhance_widget.progress.Progress`, and returns the output pixels.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from numpy.typing import NDArray

from .catalog import ModelCard
from .errors import Cancelled, ModelFormatError
from .planning import PassPlan, Plan, TilePlan
from .progress import Progress, TileEvent
from .runtimes import Runtime
from .tiling import axis_weights

F32 = NDArray[np.float32]


@dataclass
class RunOutput:
    rgb: F32
    tile_ms: list[float] = field(default_factory=list)
    pass_ms: list[float] = field(default_factory=list)


def pad_to(patch: F32, width: int, height: int, mode: str) -> F32:
    """Pad HxWx3 ``patch`` on the right/bottom to ``height`` x ``width``."""
    ph, pw = height - patch.shape[0], width - patch.shape[1]
    if ph <= 0 and pw <= 0:
        return patch
    np_mode = "reflect" if mode == "reflect" and ph < patch.shape[0] and pw < patch.shape[1] else "edge"
    return np.pad(patch, ((0, max(ph, 0)), (0, max(pw, 0)), (0, 0)), mode=np_mode)  # type: ignore[call-overload, no-any-return]


def to_tensor(patch: F32, card: ModelCard) -> F32:
    x = patch * np.float32(card.value_range) if card.value_range != 1.0 else patch
    x = x[None]
    if card.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


def from_tensor(y: np.ndarray, card: ModelCard) -> F32:
    if y.ndim != 4 or y.shape[0] != 1:
        raise ModelFormatError(f"model {card.id!r} returned shape {y.shape}; expected one rank-4 image")
    out = y[0].transpose(1, 2, 0) if card.layout == "NCHW" else y[0]
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    out = out.astype(np.float32, copy=False)
    if card.value_range != 1.0:
        out = out / np.float32(card.value_range)
    return cast(F32, out)


def extra_feeds(card: ModelCard, controls: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Fill the model's non-image inputs from user controls (or their defaults)."""
    feeds: dict[str, np.ndarray] = {}
    for e in card.extra_inputs:
        value = float(controls.get(e.control, e.default)) * e.scale
        feeds[e.name] = np.full(e.shape, value, dtype=np.float32)
    return feeds


def _output_buffer(shape: tuple[int, int, int], on_disk: bool) -> F32:
    if not on_disk:
        return np.zeros(shape, dtype=np.float32)
    tmp = tempfile.NamedTemporaryFile(prefix="enhance-widget-", suffix=".f32", delete=True)  # noqa: SIM115
    mm = np.memmap(tmp, dtype=np.float32, mode="w+", shape=shape)
    mm._enhance_tmp = tmp  # type: ignore[attr-defined]  # keeps the file alive with the map
    return mm


def run_tile(
    src: F32, tile: TilePlan, card: ModelCard, runtime: Runtime, controls: Mapping[str, float]
) -> tuple[F32, float]:
    """Run the model on one tile; returns the cropped output and the milliseconds it took."""
    x0, y0, x1, y1 = tile.in_box
    patch = pad_to(src[y0:y1, x0:x1], tile.padded[0], tile.padded[1], card.size_rule.pad_mode)
    feeds = {card.input_name: to_tensor(patch, card), **extra_feeds(card, controls)}
    t0 = time.perf_counter()
    y = from_tensor(runtime.run(feeds), card)
    ms = (time.perf_counter() - t0) * 1000
    s = card.scale
    if y.shape[0] != tile.padded[1] * s or y.shape[1] != tile.padded[0] * s:
        raise ModelFormatError(
            f"model {card.id!r} returned {y.shape[1]}x{y.shape[0]} for a "
            f"{tile.padded[0]}x{tile.padded[1]} input; its card says scale x{s}"
        )
    return y[: (y1 - y0) * s, : (x1 - x0) * s], ms


def weighted_tile(y: F32, tile: TilePlan) -> F32:
    """A tile's output times its blend window (the weights of neighbouring tiles sum to one)."""
    left, top, right, bottom = tile.bands
    wx = np.asarray(axis_weights(y.shape[1], left, right), dtype=np.float32)
    wy = np.asarray(axis_weights(y.shape[0], top, bottom), dtype=np.float32)
    return cast(F32, y * wy[:, None, None] * wx[None, :, None])


def run_pass(
    src: F32,
    pp: PassPlan,
    card: ModelCard,
    runtime: Runtime,
    progress: Progress,
    total: int,
    passes: int,
    controls: Mapping[str, float],
    on_disk: bool = False,
) -> tuple[F32, list[float]]:
    ow, oh = pp.out_size
    out = _output_buffer((oh, ow, 3), on_disk)
    times: list[float] = []
    for tile in pp.tiles:
        if progress.aborted:
            raise Cancelled(f"cancelled before tile {tile.index + 1} of {total}")
        y, ms = run_tile(src, tile, card, runtime, controls)
        if progress.aborted:
            raise Cancelled(f"cancelled during tile {tile.index + 1} of {total}")
        ox0, oy0, ox1, oy1 = tile.out_box
        out[oy0:oy1, ox0:ox1] += weighted_tile(y, tile)
        cx0, cy0, cx1, cy1 = tile.core_box
        core = y[cy0 - oy0 : cy1 - oy0, cx0 - ox0 : cx1 - ox0]
        times.append(ms)
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
                pixels=np.clip(core, 0.0, 1.0),
                provider=getattr(runtime, "provider", ""),
            )
        )
    np.clip(out, 0.0, 1.0, out=out)
    return out, times


def run_global_lab(
    src: F32,
    pp: PassPlan,
    card: ModelCard,
    runtime: Runtime,
    progress: Progress,
    controls: Mapping[str, float],
) -> tuple[F32, float]:
    """A whole-image pass in CIELab: the model predicts a/b from L at its working size."""
    from .colorize import colorize_array

    if progress.aborted:
        raise Cancelled("cancelled before the model ran")
    timing: list[float] = []

    def run_model(x: F32) -> F32:
        t0 = time.perf_counter()
        y = runtime.run({card.input_name: x})
        timing.append((time.perf_counter() - t0) * 1000)
        return cast(F32, y.astype(np.float32, copy=False))

    out = colorize_array(
        src, run_model, working_size=card.working_size or 256, strength=float(controls.get("strength", 1.0))
    )
    if progress.aborted:
        raise Cancelled("cancelled while the model ran")
    tile = pp.tiles[0]
    progress.tile_done(
        TileEvent(
            index=tile.index,
            total=tile.index + 1,
            pass_index=pp.pass_index,
            passes=1,
            in_box=tile.in_box,
            out_box=tile.out_box,
            core_box=tile.core_box,
            out_size=pp.out_size,
            ms=sum(timing),
            pixels=out,
            provider=getattr(runtime, "provider", ""),
        )
    )
    return out, sum(timing)


def run_plan(
    plan: Plan,
    rgb: F32,
    cards: Sequence[ModelCard],
    runtimes: Sequence[Runtime],
    progress: Progress,
    controls: Mapping[str, float] | None = None,
    disk_threshold_bytes: int | None = None,
) -> RunOutput:
    """Execute every pass of ``plan`` on ``rgb`` (HxWx3 float32 0..1)."""
    if (rgb.shape[1], rgb.shape[0]) != plan.in_size:
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but the plan is for {plan.in_size}")
    controls = controls or {}
    progress.set_total(plan.total_tiles)
    result = RunOutput(rgb=rgb)
    src = rgb
    for pp, card, rt in zip(plan.passes, cards, runtimes, strict=True):
        if card.pipeline == "global-lab":
            t0 = time.perf_counter()
            src, ms = run_global_lab(src, pp, card, rt, progress, controls)
            result.pass_ms.append((time.perf_counter() - t0) * 1000)
            result.tile_ms.append(ms)
            continue
        ow, oh = pp.out_size
        on_disk = disk_threshold_bytes is not None and ow * oh * 12 > disk_threshold_bytes
        t0 = time.perf_counter()
        src, times = run_pass(
            src, pp, card, rt, progress, plan.total_tiles, len(plan.passes), controls, on_disk
        )
        result.pass_ms.append((time.perf_counter() - t0) * 1000)
        result.tile_ms.extend(times)
    result.rgb = src
    return result
