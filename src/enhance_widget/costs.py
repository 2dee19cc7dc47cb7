"""What one model call and one pass cost: the estimates the planner chooses tiles by.

Time comes from the card's calibrated cost figures; memory is the pass's buffers, the strips the
host loop keeps between rows of tiles, the weights and one tile's working memory
(``benchmarks/perf_memory.py`` measures the predictions against peak memory).
"""

from __future__ import annotations

from .catalog import ModelCard
from .tiling import axis_starts

FLOAT_BYTES = 4
OUTPUT_BYTES_PER_PX = 3
"""The last pass writes each finished region straight into the result (uint8 RGB) array."""


def call_seconds(card: ModelCard, padded_w: int, padded_h: int, engine: str = "kernel") -> float:
    """The estimated time of one model call on a padded tile (the card's cost figures)."""
    factor = card.cost.browser_factor if engine == "browser" else 1.0
    return card.cost.ms_per_mpx * factor * padded_w * padded_h / 1e9


def tile_memory(card: ModelCard, padded_w: int, padded_h: int) -> int:
    """Working memory of one model call on a padded tile."""
    px = padded_w * padded_h
    io = px * 3 * FLOAT_BYTES * (1 + card.scale * card.scale)
    return int(card.cost.bytes_per_px * px) + io


def pass_memory(
    card: ModelCard,
    in_size: tuple[int, int],
    padded: tuple[int, int],
    last: bool = False,
    overlap: int = 0,
    budget: int | None = None,
) -> int:
    """Input and output buffers of a pass, the model weights, and one tile's working memory.

    An intermediate pass (``last=False``) keeps its whole output in float32 for the next pass;
    the last one streams finished regions into the result array (``OUTPUT_BYTES_PER_PX``) and
    keeps only two strips of the overlap band in float32 (see ``engine.run_pass``; ``overlap``
    is the largest overlap between rows of tiles, ``row_overlap``). An output
    larger than ``budget`` goes to a disk-backed map (the engine's rule), which is not counted:
    its pages belong to the OS's page cache, which writes them out under pressure.
    """
    w, h = in_size
    s = card.scale
    out_px = w * h * s * s
    out_bytes = out_px * (OUTPUT_BYTES_PER_PX if last else 3 * FLOAT_BYTES)
    if budget is not None and out_bytes > budget:
        out_bytes = 0
    buffers = w * h * 3 * FLOAT_BYTES + out_bytes
    strips = 2 * overlap * s * w * s * 3 * FLOAT_BYTES if padded[1] < h else 0
    weights = 2 * (card.size_bytes or 0)
    return buffers + strips + weights + tile_memory(card, *padded)


def row_overlap(length: int, tile: int, overlap: int) -> int:
    """The largest overlap between consecutive rows of tiles, in input pixels.

    Tiles are spread evenly (``axis_starts``), so rows overlap by more than ``overlap`` when few
    rows cover the height: 300 px in tiles of 192 overlap by 84. The host loop keeps that band
    across the whole width (``blending._RowBlender``), so the memory model must use it.
    """
    tile = min(tile, length)
    starts = axis_starts(length, tile, overlap)
    return max((a + tile - b for a, b in zip(starts, starts[1:], strict=False)), default=0)
