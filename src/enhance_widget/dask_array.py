"""Giant images as Dask arrays: ``enhance_dask(x)`` -> a lazy dask array of the enhanced image.

The in-process engine's plan is made for the whole image (the same tile grid and blend windows
as ``enhance(..., tile=T, overlap=O)``), then executed as a Dask graph:

* one task per tile reads only the input chunks its box touches, runs the model on the worker
  (model file verified there by sha256, one session per process) and returns its output times
  its blend window;
* one task per output chunk (the input chunk scaled by the model's scale) adds the weighted
  tiles that touch it, in tile order, clips and converts to the input's dtype.

This is an overlap-map-trim of its own: ``map_overlap`` would need equal input and output block
shapes, which super-resolution does not have. Each tile runs once, however the chunks cut it;
the sums are those of the in-process engine, so the output equals it (same floats, same order).
A chained model (x4 = x2 twice) is two such passes. Nothing is computed until asked, and
``to_zarr`` writes chunk by chunk, so neither the client nor any worker holds the whole image.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .api import _default_scale, choose_model
from .catalog import catalog
from .errors import EnhanceError, UnsupportedImageError
from .planning import DEFAULT_OVERLAP, PassPlan, TilePlan, make_plan
from .provenance import new_record
from .workers import ModelRef, Send, check_send, install, runtimes

if TYPE_CHECKING:
    import dask.array as da

    from .images import ImageBuffer

RECORD_ATTR = "enhance-widget"
DEFAULT_DASK_TILE = 512
_DTYPES = ("uint8", "uint16", "float32", "float64")


@dataclass(frozen=True)
class _PassContext:
    ref: ModelRef
    pass_index: int
    first: bool
    controls: dict[str, float]
    threads: int | None
    tta: bool


def _offsets(chunks: Sequence[int]) -> list[int]:
    out = [0]
    for c in chunks:
        out.append(out[-1] + c)
    return out


def _span(offsets: list[int], lo: int, hi: int) -> range:
    """Indices of the chunks (bounded by ``offsets``) that intersect ``[lo, hi)``."""
    first = bisect.bisect_right(offsets, lo) - 1
    last = bisect.bisect_left(offsets, hi) - 1
    return range(max(first, 0), min(last, len(offsets) - 2) + 1)


def _region(pieces: Sequence[tuple[np.ndarray, int, int]], box: tuple[int, int, int, int]) -> np.ndarray:
    """The input pixels of ``box`` (x0, y0, x1, y1), put together from the chunks that hold them."""
    x0, y0, x1, y1 = box
    first = pieces[0][0]
    region = np.empty((y1 - y0, x1 - x0, first.shape[2]), dtype=first.dtype)
    for arr, oy, ox in pieces:
        iy0, iy1 = max(y0, oy), min(y1, oy + arr.shape[0])
        ix0, ix1 = max(x0, ox), min(x1, ox + arr.shape[1])
        region[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = arr[iy0 - oy : iy1 - oy, ix0 - ox : ix1 - ox]
    return region


def _tile_task(
    pieces: Sequence[tuple[np.ndarray, int, int]],
    tile: TilePlan,
    ctx: _PassContext,
    blobs: Sequence[bytes | None],
) -> np.ndarray:
    """On a worker: one tile of one pass, weighted by its blend window (float32, output pixels)."""
    from .blending import weighted_tile
    from .engine import run_tile
    from .images import _from_array

    region = _region(pieces, tile.in_box)
    # the first pass decodes the input's values exactly as load_image does for an array
    src = _from_array(region, region.shape[0] * region.shape[1]).rgb if ctx.first else region
    cards = install(ctx.ref, blobs)
    card = cards[ctx.pass_index]
    rt = runtimes([card], ctx.threads, ctx.tta)[0]
    local = replace(tile, in_box=(0, 0, region.shape[1], region.shape[0]))
    y, _ = run_tile(src, local, card, rt, ctx.controls)
    return weighted_tile(y, tile)


def _assemble(
    box: tuple[int, int, int, int],
    contributions: Sequence[tuple[tuple[int, int, int, int], np.ndarray]],
    like: ImageBuffer | None,
    channels: int,
) -> np.ndarray:
    """One output chunk: the weighted tiles that touch it added in tile order, clipped, converted."""
    from .images import to_array

    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.float32)
    for (ox0, oy0, ox1, oy1), weighted in contributions:
        ix0, ix1 = max(x0, ox0), min(x1, ox1)
        iy0, iy1 = max(y0, oy0), min(y1, oy1)
        out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] += weighted[
            iy0 - oy0 : iy1 - oy0, ix0 - ox0 : ix1 - ox0
        ]
    np.clip(out, 0.0, 1.0, out=out)
    if like is None:
        return out
    arr = to_array(out, None, like)
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def _like(dtype: np.dtype[Any], grey: bool) -> ImageBuffer:
    """What the output is converted to: the input's kind and dtype (as ``to_array`` does in-process)."""
    from .images import ImageBuffer

    name = "float32" if dtype.kind == "f" else str(dtype)
    depth = {"uint8": 8, "uint16": 16, "float32": 32}[name]
    mode = {8: "L", 16: "I;16", 32: "F"}[depth] if grey else "RGB"
    empty = np.zeros((0, 0, 3), dtype=np.float32)
    return ImageBuffer(empty, None, "gray" if grey else "rgb", mode, name, depth)


def _run_pass(
    x: da.Array,
    pp: PassPlan,
    ctx: _PassContext,
    blobs: Sequence[str | None],
    models: Mapping[str, bytes],
    like: ImageBuffer | None,
    channels: int,
    token: str,
) -> da.Array:
    """One pass as a graph layer: a task per tile, then a task per output chunk (chunks x scale)."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    s = pp.scale
    yoff, xoff = _offsets(x.chunks[0]), _offsets(x.chunks[1])
    out_y, out_x = [c * s for c in x.chunks[0]], [c * s for c in x.chunks[1]]
    oyoff, oxoff = _offsets(out_y), _offsets(out_x)
    tile_name, name = f"enhance-tile-{token}", f"enhance-{token}"
    dsk: dict[Any, Any] = dict(models)
    touching: dict[tuple[int, int], list[list[Any]]] = {}
    for tile in pp.tiles:
        x0, y0, x1, y1 = tile.in_box
        # [input chunk key, its top, its left] for each chunk the tile's box touches
        pieces = [
            [(x.name, i, j, 0), yoff[i], xoff[j]] for i in _span(yoff, y0, y1) for j in _span(xoff, x0, x1)
        ]
        key = (tile_name, tile.index)
        dsk[key] = (_tile_task, pieces, tile, ctx, list(blobs))
        ox0, oy0, ox1, oy1 = tile.out_box
        for r in _span(oyoff, oy0, oy1):
            for c in _span(oxoff, ox0, ox1):
                touching.setdefault((r, c), []).append([list(tile.out_box), key])
    dtype = np.dtype(np.float32) if like is None else np.dtype(like.dtype)
    chans = 3 if like is None else channels
    for r in range(len(out_y)):
        for c in range(len(out_x)):
            box = (oxoff[c], oyoff[r], oxoff[c + 1], oyoff[r + 1])
            dsk[(name, r, c, 0)] = (_assemble, list(box), touching[(r, c)], like, chans)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])  # type: ignore[list-item]
    meta = np.empty((0, 0, 0), dtype=dtype)
    out: da.Array = da.Array(graph, name, chunks=(tuple(out_y), tuple(out_x), (chans,)), meta=meta)
    return out


def enhance_dask(
    x: Any,
    task: str = "upscale",
    *,
    scale: int | None = None,
    model: str | None = None,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    controls: Mapping[str, float] | None = None,
    quality: str = "balanced",
    threads: int | None = None,
    send: Send = "paths",
) -> da.Array:
    """Enhance a (H, W, C) or (H, W) dask array (e.g. ``da.from_zarr``); returns a lazy dask array.

    The output has the input's dtype (float64 -> float32) and channels (C = 1 or 3; 2-D stays
    2-D), and chunks equal to the input's times the model's scale. It equals
    ``enhance(x.compute(), tile=tile, overlap=overlap, ...)`` (same plan, same blending); ``tile``
    defaults to the input's largest chunk side, at most 512. Compute it on any scheduler, or write
    it with :func:`to_zarr` without holding it in memory. ``send="bytes"`` ships the model bytes
    in the graph (verified by sha256 on the workers) for workers without this filesystem. The
    provenance record (without pixel hashes) is ``y.enhance_record``.
    """
    import dask.array as da
    from dask.base import tokenize

    send = check_send(send)
    arr = x if isinstance(x, da.Array) else da.asarray(x)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
        raise UnsupportedImageError(
            f"array of shape {arr.shape} is not supported by enhance_dask; use (H, W), (H, W, 1) or "
            "(H, W, 3) (an alpha channel needs the whole image: use enhance)"
        )
    if str(arr.dtype) not in _DTYPES:
        raise UnsupportedImageError(
            f"array dtype {arr.dtype} is not supported; use uint8, uint16 or float32 in 0..1"
        )
    two_d = arr.ndim == 2
    if two_d:
        arr = arr[:, :, None]
    channels = int(arr.shape[2])
    height, width = int(arr.shape[0]), int(arr.shape[1])
    if height < 1 or width < 1:
        raise UnsupportedImageError(f"image is empty ({width}x{height})")
    arr = arr.rechunk({2: -1})
    scale = _default_scale(task, scale)
    card, tta = choose_model(task, scale, model, quality)
    passes = catalog().resolve_chain(card)
    for c in passes:
        if c.pipeline != "tiled" or not c.tiling:
            raise EnhanceError(
                f"model {c.id!r} needs the whole image at once (no tiles), so it cannot run on a "
                "chunked array; use enhance() on the image"
            )
    side = tile or min(DEFAULT_DASK_TILE, max(max(arr.chunks[0]), max(arr.chunks[1])))
    plan = make_plan((width, height), card, passes, tile=int(side), overlap=overlap, tta=tta, quality=quality)
    ref = ModelRef.of(card)
    # model bytes (send="bytes") sit in the graph once, under a key per file, for every tile task
    models = {f"enhance-model-{c.sha256}": b for c, b in zip(passes, ref.payloads(send), strict=True) if b}
    blobs = [f"enhance-model-{c.sha256}" if send == "bytes" else None for c in passes]
    like = _like(np.dtype(arr.dtype), grey=channels == 1)
    values = dict(controls or {})
    cur = arr
    for k, pp in enumerate(plan.passes):
        ctx = _PassContext(ref, k, k == 0, values, threads, tta)
        token = tokenize(cur.name, k, side, overlap, [c.sha256 for c in passes], values, tta, threads)
        final = k == len(plan.passes) - 1
        cur = _run_pass(cur, pp, ctx, blobs, models, like if final else None, channels, token)
    out: da.Array = cur[:, :, 0] if two_d else cur
    out.enhance_record = new_record(  # type: ignore[attr-defined]
        task=plan.task,
        scale=plan.scale,
        engine="dask",
        model={
            "id": card.id,
            "sha256": card.sha256,
            "passes": [{"id": c.id, "sha256": c.sha256} for c in passes],
        },
        options={
            "tile": side,
            "overlap": overlap,
            "controls": values,
            "threads": threads,
            "quality": quality,
            "tta": tta,
        },
        runtime={"name": "onnxruntime", "deterministic": True},
        plan=plan.summary(),
        input={"size": [width, height], "dtype": str(arr.dtype), "chunks": [list(c) for c in arr.chunks[:2]]},
        output={"size": [width * plan.scale, height * plan.scale], "dtype": str(out.dtype)},
    )
    return out


def to_zarr(
    y: da.Array,
    url: str | os.PathLike[str],
    *,
    component: str | None = None,
    overwrite: bool = False,
    record: Mapping[str, Any] | None = None,
) -> Any:
    """Write ``y`` chunk by chunk into a Zarr array (on the current scheduler) with its record.

    The provenance record (``y.enhance_record`` unless given) goes into the array's attributes
    under ``"enhance-widget"``. Returns the opened Zarr array.
    """
    import dask.array as da
    import zarr

    da.to_zarr(y, os.fspath(url), component=component, mode="w" if overwrite else "w-")
    z = zarr.open_array(os.fspath(url), path=component or "", mode="r+")
    rec = record if record is not None else getattr(y, "enhance_record", None)
    if rec is not None:
        z.attrs[RECORD_ATTR] = dict(rec)
    return z


__all__ = ["enhance_dask", "to_zarr"]
