"""Pure tile geometry and blending weights (no numpy needed by the code under test)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enhance_widget.tiling import (
    AutoTile,
    FixedTile,
    WholeImage,
    axis_starts,
    axis_weights,
    core_bounds,
    ramp,
    strategy_for,
)


@given(st.integers(1, 3000), st.integers(8, 600), st.integers(0, 64))
def test_tiles_cover_axis_with_requested_overlap(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0
    assert starts[-1] + size == length
    assert starts == sorted(set(starts))
    for a, b in zip(starts, starts[1:]):
        assert a + size - b >= min(overlap, size // 2 - 1)  # neighbours overlap enough
        assert b > a


@given(st.integers(2, 2000), st.integers(8, 300), st.integers(0, 40))
def test_blend_weights_sum_to_one_everywhere(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    total = [0.0] * length
    for i, s in enumerate(starts):
        before = starts[i - 1] + size - s if i > 0 else 0
        after = s + size - starts[i + 1] if i + 1 < len(starts) else 0
        for k, w in enumerate(axis_weights(size, before, after)):
            assert 0.0 <= w <= 1.0
            total[s + k] += w
    assert all(abs(t - 1.0) < 1e-9 for t in total)


@given(st.integers(2, 2000), st.integers(8, 300), st.integers(0, 40))
def test_cores_partition_the_axis(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap)
    cores = core_bounds(starts, min(tile, length), length)
    assert cores[0][0] == 0 and cores[-1][1] == length
    for (a0, a1), (b0, _b1) in zip(cores, cores[1:]):
        assert a1 == b0 and a0 < a1
    for s, (c0, c1) in zip(starts, cores):
        assert s <= c0 and c1 <= s + min(tile, length)  # a tile owns only pixels it computed


def test_ramp_is_a_smooth_symmetric_window() -> None:
    band = 16
    w = [ramp(i, band) for i in range(band)]
    assert w[:4] == [0.0] * 4 and w[-4:] == [1.0] * 4  # the outer quarters are not used
    assert all(a <= b for a, b in zip(w, w[1:]))
    assert all(abs(ramp(i, band) + ramp(band - 1 - i, band) - 1.0) < 1e-12 for i in range(band))


def test_example_grid() -> None:
    assert axis_starts(256, 64, 16) == [0, 48, 96, 144, 192]
    assert axis_starts(100, 128, 16) == [0]
    assert axis_starts(130, 64, 8) == [0, 33, 66]


def test_strategy_parsing_and_errors() -> None:
    assert isinstance(strategy_for("auto"), AutoTile)
    assert isinstance(strategy_for(None), AutoTile)
    assert isinstance(strategy_for("whole"), WholeImage)
    assert strategy_for("128") == FixedTile(128)
    with pytest.raises(ValueError, match="tile must be"):
        strategy_for("big")
    with pytest.raises(ValueError, match="positive"):
        axis_starts(0, 64, 8)
