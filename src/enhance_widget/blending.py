"""Blending tiles: each tile's output times its window, and the row-at-a-time blender of the host loop.

The windows of neighbouring tiles sum to one across their overlap (``tiling.axis_weights``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from .planning import PassPlan, TilePlan
from .sinks import OutputSink
from .tiling import axis_weights

F32 = NDArray[np.float32]


@lru_cache(maxsize=256)
def _axis_weights(size: int, band_before: int, band_after: int) -> np.ndarray:
    w = np.asarray(axis_weights(size, band_before, band_after), dtype=np.float32)
    w.setflags(write=False)
    return w


def _weight_in_place(a: F32, bands: tuple[int, int, int, int]) -> F32:
    """Multiply ``a`` (H x W x C, owned) by the blend window, touching only the overlap bands.

    Bit-identical to ``a * wy[:, None, None] * wx[None, :, None]``: outside the bands the weights
    are exactly 1, and inside them each value sees the same two products in the same order.
    """
    left, top, right, bottom = bands
    h, w = a.shape[:2]
    if top + bottom > h or left + right > w:  # bands that meet: the plain formula
        wy, wx = _axis_weights(h, top, bottom), _axis_weights(w, left, right)
        a *= wy[:, None, None]
        a *= wx[None, :, None]
        return a
    if top or bottom:
        wy = _axis_weights(h, top, bottom)
        if top:
            a[:top] *= wy[:top, None, None]
        if bottom:
            a[h - bottom :] *= wy[h - bottom :, None, None]
    if left or right:
        wx = _axis_weights(w, left, right)
        if left:
            a[:, :left] *= wx[None, :left, None]
        if right:
            a[:, w - right :] *= wx[None, w - right :, None]
    return a


def weighted_tile(y: F32, tile: TilePlan) -> F32:
    """A tile's output times its blend window (the weights of neighbouring tiles sum to one)."""
    return _weight_in_place(np.array(y, dtype=np.float32, order="C", copy=True), tile.bands)


class _RowBlender:
    """Blends finished tiles (in plan order) and hands every final region to the sink once."""

    def __init__(self, pp: PassPlan, sink: OutputSink) -> None:
        ow = pp.out_size[0]
        band = max(t.bands[3] for t in pp.tiles)
        self.sink = sink
        self.gx = pp.grid[0]
        self.first = pp.tiles[0].index
        self.down = np.zeros((band, ow, 3), dtype=np.float32)  # the current row's top band, pending
        self.next_down = np.zeros_like(self.down)  # this row's bottom band (the next row's top band)
        self.right_prev: F32 | None = None

    def add(self, tile: TilePlan, y: F32) -> None:
        ox0, oy0, ox1, oy1 = tile.out_box
        left, top, right, bottom = tile.bands
        a = weighted_tile(y, tile)
        h, w = a.shape[:2]
        down, next_down = self.down, self.next_down
        if top:
            a[:top] += down[:top, ox0:ox1]
            down[:top, ox0:ox1] = a[:top]
        if bottom:
            a[h - bottom :] += next_down[:bottom, ox0:ox1]
            next_down[:bottom, ox0:ox1] = a[h - bottom :]
        if left and self.right_prev is not None:
            a[top : h - bottom, :left] += self.right_prev
        self.right_prev = a[top : h - bottom, w - right :].copy() if right else None
        block = a[: h - bottom, : w - right]
        np.clip(block, 0.0, 1.0, out=block)
        self.sink.write((ox0, oy0, ox1 - right, oy1 - bottom), block)
        if (tile.index - self.first) % self.gx == self.gx - 1:  # end of a row of tiles
            self.down, self.next_down = next_down, down
            self.next_down.fill(0.0)
            self.right_prev = None
