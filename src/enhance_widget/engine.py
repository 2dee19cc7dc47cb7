"""The tiled inference loop. Sans-IO: no threads, widgets or onnxruntime here.

It takes a :class:`~enhance_widget.planning.Plan`, the source pixels, one
:class:`~enhance_widget.runtimes.Runtime` per pass and a
:class:`~enhance_widget.progress.Progress`, and returns the output pixels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .blending import _RowBlender, weighted_tile
from .catalog import ModelCard
from .device_pass import can_run_on_device, run_pass_on_device
from .errors import Cancelled, ModelFormatError
from .planning import PassPlan, Plan, TilePlan
from .progress import Progress, TileEvent
from .runtimes import Runtime
from .sinks import FloatSink, OutputSink, _output_buffer

F32 = NDArray[np.float32]
SINK_BAND_BYTES = 64 * 1024**2
"""A full-size accumulator goes to the sink in bands of rows of about this many float bytes."""


@dataclass
class RunOutput:
    rgb: F32 | None
    """The last pass's output; ``None`` when a sink received it."""
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


def _bands_meet(pp: PassPlan, shape: tuple[int, int]) -> bool:
    h, w = shape
    return any(t.bands[1] + t.bands[3] > h or t.bands[0] + t.bands[2] > w for t in pp.tiles)


def _is_grid(pp: PassPlan) -> bool:
    """Tiles in row-major order, each row sharing its vertical extent (what make_plan builds)."""
    gx, gy = pp.grid
    if gx * gy != len(pp.tiles):
        return False
    for j in range(gy):
        row = pp.tiles[j * gx : (j + 1) * gx]
        if any(t.in_box[1] != row[0].in_box[1] or t.in_box[3] != row[0].in_box[3] for t in row):
            return False
        if any(a.in_box[0] >= b.in_box[0] for a, b in zip(row, row[1:], strict=False)):
            return False
    return True


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
    sink: OutputSink | None = None,
) -> tuple[F32 | None, list[float]]:
    """Run every tile of a pass; returns the float output (``None`` when ``sink`` took it).

    Tiles are blended as they finish, a row of tiles at a time: only the overlap bands wait in
    float32 (two strips of the bottom band's height across the output, and one tile's right
    band), every other output pixel is final when its tile is done and goes to ``sink`` (by
    default a float32 array). The additions happen in tile order, as in a full-size accumulator,
    so the result is the same to the bit.
    """
    ow, oh = pp.out_size
    float_sink = FloatSink((oh, ow, 3), on_disk) if sink is None else None
    out_sink: OutputSink = sink if sink is not None else cast(FloatSink, float_sink)
    times: list[float] = []
    th_out = (pp.tiles[0].out_box[3] - pp.tiles[0].out_box[1]) if pp.tiles else 0
    tw_out = (pp.tiles[0].out_box[2] - pp.tiles[0].out_box[0]) if pp.tiles else 0
    if not pp.tiles or not _is_grid(pp) or _bands_meet(pp, (th_out, tw_out)):
        return _run_pass_full(
            src, pp, card, runtime, progress, total, passes, controls, out_sink, float_sink, times, on_disk
        )
    blender = _RowBlender(pp, out_sink)
    # the blend and the conversion of tile k run on a helper thread while the model runs tile k + 1
    # (numpy and onnxruntime release the GIL); one tile waits at most, in order
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enhance-blend") as pool:
        pending: Future[None] | None = None
        try:
            for tile in pp.tiles:
                y = _tile_step(src, tile, card, runtime, progress, pp, total, passes, controls, times)
                if pending is not None:
                    pending.result()
                pending = pool.submit(blender.add, tile, y)
            if pending is not None:
                pending.result()
        except BaseException:
            if pending is not None:
                pending.cancel()
                wait([pending])
            raise
    return (float_sink.array if float_sink is not None else None), times


def tile_event(
    tile: TilePlan, pp: PassPlan, total: int, passes: int, ms: float, pixels: Any, runtime: Runtime
) -> TileEvent:
    """The event of a finished tile (``pixels``: its core, H x W x 3 float32 0..1, or ``None``)."""
    return TileEvent(
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


def _tile_step(
    src: F32,
    tile: TilePlan,
    card: ModelCard,
    runtime: Runtime,
    progress: Progress,
    pp: PassPlan,
    total: int,
    passes: int,
    controls: Mapping[str, float],
    times: list[float],
) -> F32:
    """One tile of the host loop: the cancel checks around the model call, its time, its event."""
    if progress.aborted:
        raise Cancelled(f"cancelled before tile {tile.index + 1} of {total}")
    y, ms = run_tile(src, tile, card, runtime, controls)
    if progress.aborted:
        raise Cancelled(f"cancelled during tile {tile.index + 1} of {total}")
    times.append(ms)
    _tile_event(progress, tile, y, pp, total, passes, ms, runtime)
    return y


def _tile_event(
    progress: Progress,
    tile: TilePlan,
    y: F32,
    pp: PassPlan,
    total: int,
    passes: int,
    ms: float,
    runtime: Runtime,
) -> None:
    pixels = None
    if getattr(progress, "wants_pixels", True):  # a copy per tile, made only when someone looks
        ox0, oy0 = tile.out_box[:2]
        cx0, cy0, cx1, cy1 = tile.core_box
        pixels = np.clip(y[cy0 - oy0 : cy1 - oy0, cx0 - ox0 : cx1 - ox0], 0.0, 1.0)
    progress.tile_done(tile_event(tile, pp, total, passes, ms, pixels, runtime))


def _run_pass_full(
    src: F32,
    pp: PassPlan,
    card: ModelCard,
    runtime: Runtime,
    progress: Progress,
    total: int,
    passes: int,
    controls: Mapping[str, float],
    out_sink: OutputSink,
    float_sink: FloatSink | None,
    times: list[float],
    on_disk: bool = False,
) -> tuple[F32 | None, list[float]]:
    """Any tile layout: one full-size float accumulator, handed to the sink at the end in bands."""
    ow, oh = pp.out_size
    acc = float_sink.array if float_sink is not None else _output_buffer((oh, ow, 3), on_disk)
    acc[...] = 0.0
    for tile in pp.tiles:
        y = _tile_step(src, tile, card, runtime, progress, pp, total, passes, controls, times)
        ox0, oy0, ox1, oy1 = tile.out_box
        acc[oy0:oy1, ox0:ox1] += weighted_tile(y, tile)
    if float_sink is None:
        rows = max(1, SINK_BAND_BYTES // (ow * 3 * 4))  # the sink's conversion copies what it gets
        for y0 in range(0, oh, rows):
            band = acc[y0 : y0 + rows]
            np.clip(band, 0.0, 1.0, out=band)
            out_sink.write((0, y0, ow, min(oh, y0 + rows)), band)
        return None, times
    np.clip(acc, 0.0, 1.0, out=acc)
    return acc, times


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
    sink: OutputSink | None = None,
) -> RunOutput:
    """Execute every pass of ``plan`` on ``rgb`` (HxWx3 float32 0..1).

    With ``sink`` the last pass's finished regions go there (``RunOutput.rgb`` is then ``None``),
    so the caller can convert them to the output's dtype without a float copy of the output.
    """
    if (rgb.shape[1], rgb.shape[0]) != plan.in_size:
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but the plan is for {plan.in_size}")
    controls = controls or {}
    progress.set_total(plan.total_tiles)
    result = RunOutput(rgb=rgb)
    src: F32 | None = rgb
    last = len(plan.passes) - 1
    for k, (pp, card, rt) in enumerate(zip(plan.passes, cards, runtimes, strict=True)):
        assert src is not None
        if card.pipeline == "global-lab":
            t0 = time.perf_counter()
            src, ms = run_global_lab(src, pp, card, rt, progress, controls)
            if k == last and sink is not None:
                sink.write((0, 0, *pp.out_size), src)
                src = None
            result.pass_ms.append((time.perf_counter() - t0) * 1000)
            result.tile_ms.append(ms)
            continue
        ow, oh = pp.out_size
        on_disk = disk_threshold_bytes is not None and ow * oh * 12 > disk_threshold_bytes
        t0 = time.perf_counter()
        direct = k == last and sink is not None  # a sink handles its own disk threshold
        if (direct or not on_disk) and can_run_on_device(pp, card, rt):  # the pass stays on the GPU
            src, times = run_pass_on_device(
                src, pp, card, rt, progress, plan.total_tiles, len(plan.passes), controls,
                sink if k == last else None,
            )  # fmt: skip
            result.pass_ms.append((time.perf_counter() - t0) * 1000)
            result.tile_ms.extend(times)
            continue
        src, times = run_pass(
            src,
            pp,
            card,
            rt,
            progress,
            plan.total_tiles,
            len(plan.passes),
            controls,
            on_disk,
            sink if k == last else None,
        )
        result.pass_ms.append((time.perf_counter() - t0) * 1000)
        result.tile_ms.extend(times)
    result.rgb = src
    return result
