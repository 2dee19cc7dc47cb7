"""The streaming tile loop (issue 23): same bits as a full-size accumulator, output converted as
tiles finish, and the planner's memory model for it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enhance_widget import engine, enhance, plan_for
from enhance_widget.blending import weighted_tile
from enhance_widget.catalog import ModelCard, catalog
from enhance_widget.engine import run_pass
from enhance_widget.planning import OUTPUT_BYTES_PER_PX, TILE_WORKING_CAP, make_plan, pass_memory, tile_memory
from enhance_widget.progress import CallbackProgress, TileEvent
from enhance_widget.sinks import ArraySink, FloatSink
from enhance_widget.tiling import axis_weights


class NoisyNearest:
    """A stand-in model: nearest upscale plus noise (values leave 0..1, so clipping is exercised)."""

    provider = "test"

    def __init__(self, card: ModelCard, seed: int) -> None:
        self.card = card
        self.rng = np.random.default_rng(seed)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        x = feeds[self.card.input_name]
        s = self.card.scale
        ax = (2, 3) if self.card.layout == "NCHW" else (1, 2)
        y = np.repeat(np.repeat(x, s, axis=ax[0]), s, axis=ax[1])
        return y + self.rng.normal(0, 0.3, y.shape).astype(np.float32)

    def terminate(self) -> None:
        pass


def _full_accumulator(src: np.ndarray, pp, card: ModelCard, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The reference: one float32 output, every weighted tile added in tile order, then clipped."""
    ow, oh = pp.out_size
    out = np.zeros((oh, ow, 3), np.float32)
    rt = NoisyNearest(card, seed)
    for tile in pp.tiles:
        y, _ = engine.run_tile(src, tile, card, rt, {})
        ox0, oy0, ox1, oy1 = tile.out_box
        wy = np.asarray(axis_weights(y.shape[0], tile.bands[1], tile.bands[3]), np.float32)
        wx = np.asarray(axis_weights(y.shape[1], tile.bands[0], tile.bands[2]), np.float32)
        a = y * wy[:, None, None] * wx[None, :, None]
        out[oy0:oy1, ox0:ox1] += a
    return np.clip(out, 0.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(1, 260),
    h=st.integers(1, 260),
    tile=st.integers(8, 100),
    overlap=st.integers(0, 24),
    model=st.sampled_from(["esrgan-slim-x2", "esrgan-slim-x4", "span-x4"]),
)
def test_streaming_pass_is_bit_identical_to_a_full_accumulator(
    w: int, h: int, tile: int, overlap: int, model: str
) -> None:
    card = catalog().get(model)
    pp = plan_for((w, h), scale=card.scale, model=model, tile=tile, overlap=overlap).passes[0]
    src = np.random.default_rng(w * 1000 + h).random((h, w, 3), dtype=np.float32)
    events: list[TileEvent] = []
    got, _ = run_pass(src, pp, card, NoisyNearest(card, 7), CallbackProgress(on_tile=events.append), 1, 1, {})
    assert got is not None
    np.testing.assert_array_equal(got, _full_accumulator(src, pp, card, 7))
    assert len(events) == len(pp.tiles)


def test_sink_receives_each_output_pixel_once_and_weighted_tile_is_the_formula() -> None:
    card = catalog().get("esrgan-slim-x2")
    pp = plan_for((150, 97), scale=2, model=card.id, tile=40, overlap=10).passes[0]
    src = np.random.default_rng(3).random((97, 150, 3), dtype=np.float32)
    hits = np.zeros((194, 300), np.int32)

    class Counting(FloatSink):
        def write(self, box: tuple[int, int, int, int], rgb: np.ndarray) -> None:
            x0, y0, x1, y1 = box
            assert rgb.shape[:2] == (y1 - y0, x1 - x0) and rgb.min() >= 0.0 and rgb.max() <= 1.0
            hits[y0:y1, x0:x1] += 1
            super().write(box, rgb)

    sink = Counting((194, 300, 3))
    none, _ = run_pass(src, pp, card, NoisyNearest(card, 1), CallbackProgress(), 1, 1, {}, sink=sink)
    assert none is None and (hits == 1).all()
    np.testing.assert_array_equal(sink.array, _full_accumulator(src, pp, card, 1))
    y = np.random.default_rng(0).random((80, 80, 3), dtype=np.float32)
    t = pp.tiles[len(pp.tiles) // 2]
    wy = np.asarray(axis_weights(80, t.bands[1], t.bands[3]), np.float32)
    wx = np.asarray(axis_weights(80, t.bands[0], t.bands[2]), np.float32)
    np.testing.assert_array_equal(weighted_tile(y, t), y * wy[:, None, None] * wx[None, :, None])


def test_array_sink_converts_as_it_goes_and_goes_to_disk_over_the_threshold() -> None:
    def convert(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        return np.rint(rgb * 255).astype(np.uint8)

    mem = ArraySink((4, 2), convert)
    mem.write((0, 0, 4, 1), np.full((1, 4, 3), 0.5, np.float32))
    mem.write((0, 1, 4, 2), np.ones((1, 4, 3), np.float32))
    assert mem.array is not None and mem.array.dtype == np.uint8 and mem.array.shape == (2, 4, 3)
    assert (mem.array[0] == 128).all() and (mem.array[1] == 255).all()
    assert not isinstance(mem.array, np.memmap)
    disk = ArraySink((4, 2), convert, disk_threshold_bytes=10)
    disk.write((0, 0, 4, 2), np.zeros((2, 4, 3), np.float32))
    assert isinstance(disk.array, np.memmap)


def test_enhance_output_equals_converting_the_float_result(small_rgb: np.ndarray) -> None:
    """enhance() streams into the result array; the float path + to_array gives the same bytes."""
    from enhance_widget.images import load_image, to_array
    from enhance_widget.runtimes.ort import get_runtime

    res = enhance(small_rgb, scale=2, model="esrgan-slim-x2", tile=24, overlap=8)
    plan = plan_for(small_rgb.shape[1::-1], scale=2, model="esrgan-slim-x2", tile=24, overlap=8)
    card = catalog().get("esrgan-slim-x2")
    buf = load_image(small_rgb)
    out = engine.run_plan(plan, buf.rgb, [card], [get_runtime(card)], CallbackProgress())
    assert out.rgb is not None
    np.testing.assert_array_equal(res.array, to_array(out.rgb, None, buf))


def test_plan_memory_counts_the_streamed_output_and_caps_auto_tiles() -> None:
    card = catalog().get("span-x4")
    last = pass_memory(card, (1000, 800), (256, 256), last=True, overlap=16)
    inter = pass_memory(card, (1000, 800), (256, 256), last=False, overlap=16)
    out_px = 4000 * 3200
    assert inter - last == out_px * (12 - OUTPUT_BYTES_PER_PX)
    strips = 2 * 16 * 4 * 4000 * 12
    weights = 2 * (card.size_bytes or 0)
    assert last == 1000 * 800 * 12 + out_px * 3 + strips + weights + tile_memory(card, 256, 256)
    plan = make_plan((4000, 3000), card, [card], tile="auto", budget=2 * 1024**3)
    tw, th = plan.passes[0].tile
    assert tile_memory(card, tw, th) <= TILE_WORKING_CAP < tile_memory(card, 2 * tw, 2 * th)
    # the strips hold the largest band between rows of tiles (tiles are spread evenly: > 16 px here)
    rows_overlap = max(t.bands[3] for t in plan.passes[0].tiles) // 4
    assert rows_overlap > 16
    assert plan.memory_bytes == pass_memory(card, (4000, 3000), (tw, th), last=True, overlap=rows_overlap)


@pytest.mark.parametrize("model", ["esrgan-slim-x4", "span-x4"])
def test_auto_tile_still_takes_a_small_image_whole(model: str) -> None:
    plan = plan_for((200, 150), scale=4, model=model, budget=2 * 1024**3)
    assert plan.passes[0].tile == (200, 150) and plan.total_tiles == 1


def test_bands_that_meet_take_the_full_accumulator_and_feed_the_sink_in_row_bands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiles whose overlap bands meet (tile 12, overlap 10) fall back to one accumulator; the sink
    still gets every pixel once, in bands of rows, clipped, equal to the reference."""
    monkeypatch.setattr(engine, "SINK_BAND_BYTES", 60 * 3 * 4 * 5)  # bands of 5 rows of 60 px
    card = catalog().get("esrgan-slim-x2")
    pp = plan_for((30, 23), scale=2, model=card.id, tile=12, overlap=10).passes[0]
    assert engine._bands_meet(pp, (24, 24))
    src = np.random.default_rng(5).random((23, 30, 3), dtype=np.float32)
    hits = np.zeros((46, 60), np.int32)
    boxes: list[tuple[int, int, int, int]] = []

    class Counting(FloatSink):
        def write(self, box: tuple[int, int, int, int], rgb: np.ndarray) -> None:
            x0, y0, x1, y1 = box
            assert rgb.min() >= 0.0 and rgb.max() <= 1.0
            hits[y0:y1, x0:x1] += 1
            boxes.append(box)
            super().write(box, rgb)

    sink = Counting((46, 60, 3))
    none, _ = run_pass(src, pp, card, NoisyNearest(card, 2), CallbackProgress(), 1, 1, {}, True, sink=sink)
    assert none is None and (hits == 1).all()
    assert len(boxes) == 10 and all(b[3] - b[1] <= 5 for b in boxes)
    np.testing.assert_array_equal(sink.array, _full_accumulator(src, pp, card, 2))


def test_plan_memory_leaves_out_an_output_that_goes_to_disk() -> None:
    card = catalog().get("span-x4")
    out_bytes = 50000 * 4 * 200 * 4 * OUTPUT_BYTES_PER_PX
    in_memory = pass_memory(card, (50000, 200), (256, 200), last=True, overlap=0, budget=out_bytes)
    on_disk = pass_memory(card, (50000, 200), (256, 200), last=True, overlap=0, budget=out_bytes - 1)
    assert in_memory - on_disk == out_bytes
    budget = 384 * 1024**2
    plan = plan_for((50000, 200), scale=4, model=card.id, budget=budget)
    assert plan.memory_bytes <= budget < out_bytes  # auto tiles fit beside a disk-backed output
    assert plan.passes[-1].tile == (256, 200)  # one row of tiles: no band waits across the width
