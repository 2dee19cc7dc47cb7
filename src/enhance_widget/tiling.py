"""Tile geometry, tiling strategies and the blending window. Pure Python (no numpy).

Both engines (kernel and browser) use the same formulas: tiles along an axis start at evenly
spread positions so that neighbours overlap by at least ``overlap`` pixels; inside each overlap
band the incoming tile's weight rises from 0 to 1 with a raised cosine over the middle half of
the band, and the outgoing tile's weight is one minus that, so weights sum to exactly one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from .catalog import ModelCard


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start positions of tiles of size ``tile`` covering ``[0, length)`` with >= ``overlap``."""
    if length <= 0 or tile <= 0:
        raise ValueError(f"length and tile must be positive, got {length} and {tile}")
    if tile >= length:
        return [0]
    overlap = max(0, min(overlap, tile // 2 - 1))  # only neighbours overlap, never three tiles
    step = tile - overlap
    count = math.ceil((length - overlap) / step)
    count = max(count, 2)
    span = length - tile
    return [round(i * span / (count - 1)) for i in range(count)]


def ramp(i: int, band: int) -> float:
    """Weight of the tile that enters an overlap band of ``band`` pixels, at offset ``i``."""
    if band <= 0:
        return 1.0
    r = (i + 0.5 - band / 4) / (band / 2)
    r = min(1.0, max(0.0, r))
    return 0.5 - 0.5 * math.cos(math.pi * r)


def axis_weights(size: int, band_before: int, band_after: int) -> list[float]:
    """Blend weights along one axis of a tile's output of ``size`` pixels.

    ``band_before`` is the overlap with the previous tile (0 at the image border), ``band_after``
    with the next one; the bands must not overlap each other.
    """
    w = [1.0] * size
    for i in range(min(band_before, size)):
        w[i] = ramp(i, band_before)
    for i in range(min(band_after, size)):
        j = size - band_after + i
        w[j] *= 1.0 - ramp(i, band_after)
    return w


def core_bounds(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """The part of the axis each tile owns: cut at the middle of every overlap band."""
    cuts = [0]
    for a, b in zip(starts, starts[1:], strict=False):
        end_a = min(a + tile, length)
        cuts.append((b + end_a) // 2)
    cuts.append(length)
    return [(cuts[i], cuts[i + 1]) for i in range(len(starts))]


class TilingStrategy(Protocol):
    """Chooses the input tile size (square side) for one pass."""

    @property
    def name(self) -> str: ...

    def tile_size(self, width: int, height: int, card: ModelCard, fits: FitsBudget) -> int: ...


class FitsBudget(Protocol):
    def __call__(self, tile: int) -> bool: ...


@dataclass(frozen=True)
class WholeImage:
    """One tile covering the whole image (best quality, most memory)."""

    name: str = "whole"

    def tile_size(self, width: int, height: int, card: ModelCard, fits: FitsBudget) -> int:
        if card.size_rule.fixed is not None:
            return card.size_rule.fixed
        return max(width, height)


@dataclass(frozen=True)
class FixedTile:
    """Tiles of a size the user picked (models with a fixed input size override it)."""

    size: int
    name: str = "fixed"

    def tile_size(self, width: int, height: int, card: ModelCard, fits: FitsBudget) -> int:
        if card.size_rule.fixed is not None:
            return card.size_rule.fixed
        if self.size < 8:
            raise ValueError(f"tile size must be at least 8 pixels, got {self.size}")
        return min(self.size, max(width, height))


AUTO_CANDIDATES = (512, 384, 256, 192, 128, 96, 64, 48, 32)


@dataclass(frozen=True)
class AutoTile:
    """The largest tile whose memory estimate fits the budget (whole image when it fits)."""

    name: str = "auto"

    def tile_size(self, width: int, height: int, card: ModelCard, fits: FitsBudget) -> int:
        if card.size_rule.fixed is not None:
            return card.size_rule.fixed
        side = max(width, height)
        if side <= AUTO_CANDIDATES[0] and fits(side):
            return side
        for cand in AUTO_CANDIDATES:
            if cand < side and fits(cand):
                return cand
        return min(side, AUTO_CANDIDATES[-1])


def strategy_for(tile: int | str | None) -> TilingStrategy:
    """``"auto"``/None, ``"whole"``/0, or a tile side in input pixels."""
    if tile is None or tile == "auto":
        return AutoTile()
    if tile == "whole" or tile == 0:
        return WholeImage()
    if isinstance(tile, int) or (isinstance(tile, str) and tile.isdigit()):
        return FixedTile(int(tile))
    raise ValueError(f"tile must be 'auto', 'whole' or a size in pixels, got {tile!r}")
