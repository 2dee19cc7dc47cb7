"""Plans: passes, grids, memory and time arithmetic, the auto strategy."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from enhance_widget.api import plan_for
from enhance_widget.catalog import SizeRule, catalog
from enhance_widget.planning import make_plan, pass_memory


def test_x4_default_is_one_native_pass() -> None:
    plan = plan_for((160, 120), task="upscale", scale=4, tile=64, overlap=8)
    assert plan.model_id == "span-x4" and [p.model_id for p in plan.passes] == ["span-x4"]
    assert plan.out_size == (640, 480)


def test_a_chained_x4_is_two_passes_of_the_x2_model() -> None:
    plan = plan_for((160, 120), task="upscale", scale=4, model="idealo-psnr-small-x4", tile=64, overlap=8)
    assert plan.model_id == "idealo-psnr-small-x4"
    assert [p.model_id for p in plan.passes] == ["idealo-psnr-small-x2"] * 2
    assert plan.passes[0].out_size == (320, 240) and plan.out_size == (640, 480)
    assert plan.passes[1].in_size == (320, 240)
    first = plan.passes[0]
    assert first.grid == (3, 2) and len(first.tiles) == 6
    assert plan.passes[1].tiles[0].index == 6  # indexes run on across passes
    assert plan.total_tiles == len(plan.passes[0].tiles) + len(plan.passes[1].tiles)
    json.dumps(plan.to_dict())  # serialisable for the widget and the browser engine


def test_tile_boxes_scale_and_bands() -> None:
    plan = plan_for((200, 100), scale=2, model="esrgan-slim-x2", tile=64, overlap=16)
    tiles = plan.passes[0].tiles
    for t in tiles:
        x0, y0, x1, y1 = t.in_box
        assert t.out_box == (2 * x0, 2 * y0, 2 * x1, 2 * y1)
        assert t.padded == (64, 64)
    left_edge = [t for t in tiles if t.in_box[0] == 0]
    assert all(t.bands[0] == 0 for t in left_edge)
    inner = [t for t in tiles if t.in_box[0] > 0]
    assert all(t.bands[0] >= 32 for t in inner)  # >= overlap x scale


def test_memory_estimate_arithmetic() -> None:
    card = catalog().get("esrgan-slim-x2")
    mem = pass_memory(card, (100, 50), (64, 64))
    buffers = 100 * 50 * 3 * 4 * (1 + 4)
    tile = int(card.cost.bytes_per_px * 64 * 64) + 64 * 64 * 3 * 4 * 5
    assert mem == buffers + 2 * (card.size_bytes or 0) + tile


def test_auto_takes_whole_image_when_it_fits_and_smaller_tiles_when_not() -> None:
    card = catalog().get("idealo-psnr-small-x2")
    roomy = make_plan((300, 200), card, [card], tile="auto", budget=8 * 1024**3)
    assert roomy.strategy == "auto" and roomy.passes[0].tile == (300, 200)
    tight_budget = pass_memory(card, (300, 200), (128, 128)) + 1
    tight = make_plan((300, 200), card, [card], tile="auto", budget=tight_budget)
    assert tight.passes[0].tile == (128, 128)
    assert tight.memory_bytes <= tight_budget and tight.fits


def test_time_estimate_uses_card_cost() -> None:
    card = catalog().get("esrgan-slim-x2")
    plan = make_plan((64, 64), card, [card], tile="whole", budget=1 << 40)
    expected = card.cost.ms_per_mpx * 64 * 64 / 1e9 + card.cost.load_ms / 1000
    assert plan.seconds == pytest.approx(expected)


def test_size_rule_pads_tiles() -> None:
    card = replace(catalog().get("esrgan-slim-x2"), size_rule=SizeRule(multiple_of=64, minimum=64))
    plan = make_plan((1, 1), card, [card], tile="auto", budget=1 << 40)
    assert plan.out_size == (2, 2)
    assert plan.passes[0].tiles[0].padded == (64, 64)
    fixed = replace(card, size_rule=SizeRule(fixed=256))
    plan = make_plan((600, 300), fixed, [fixed], tile=64, budget=1 << 40)
    assert plan.passes[0].tile == (256, 256)


def test_bad_arguments() -> None:
    card = catalog().get("esrgan-slim-x2")
    with pytest.raises(ValueError, match="overlap"):
        make_plan((10, 10), card, [card], overlap=-1)
    with pytest.raises(ValueError, match="at least 8"):
        make_plan((100, 100), card, [card], tile=4)


@pytest.mark.parametrize("model", ["span-x4", "esrgan-slim-x4", "ffdnet-color", "deblur-naflite"])
def test_browser_auto_tiles_keep_one_model_call_short(model: str) -> None:
    """The browser engine (one WASM thread) gets auto tiles whose one call is estimated under
    BROWSER_TILE_S, so Run paints and Cancel stops about that soon; the kernel's plan is unchanged,
    and a tile the user picks is kept."""
    from enhance_widget.planning import BROWSER_TILE_S, call_seconds

    card = catalog().get(model)
    scale = card.scale if card.task == "upscale" else None
    kernel = plan_for((1200, 900), card.task, scale, model)
    browser = plan_for((1200, 900), card.task, scale, model, engine="browser")
    pw, ph = browser.passes[0].tiles[0].padded
    assert call_seconds(card, pw, ph, "browser") <= BROWSER_TILE_S
    kw, kh = kernel.passes[0].tiles[0].padded
    assert call_seconds(card, kw, kh, "browser") > BROWSER_TILE_S  # the cap is what changed it
    assert browser.passes[0].tile[0] < kernel.passes[0].tile[0]
    assert browser.total_tiles > kernel.total_tiles
    fixed = plan_for((1200, 900), card.task, scale, model, tile=256, engine="browser")
    assert fixed.passes[0].tile == (256, 256)
