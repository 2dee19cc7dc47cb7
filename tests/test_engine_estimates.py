"""The planner's time estimate per engine: the browser engine's comes from its own measured cost
(manifest ``cost.browser_ms_per_mpx`` / ``browser_load_ms``; benchmarks/lite_figures.py), not the
kernel engine's, which WASM runs several times slower."""

from __future__ import annotations

from dataclasses import replace

import pytest

from enhance_widget.catalog import BROWSER_FACTOR, BROWSER_RUN_S, Cost, catalog
from enhance_widget.planning import engine_seconds, make_plan, plan_for


def test_browser_estimate_uses_the_models_browser_cost() -> None:
    plan = plan_for((256, 256), "upscale", 4)
    assert engine_seconds(plan, "kernel") == plan.seconds
    card = plan.cards[0]
    assert card.cost.browser_ms_per_mpx is not None and card.cost.browser_load_ms is not None
    compute = sum(p.seconds for p in plan.passes) * card.cost.browser_ms_per_mpx / card.cost.ms_per_mpx
    expected = compute + card.cost.browser_load_ms / 1000 + BROWSER_RUN_S
    assert engine_seconds(plan, "browser") == pytest.approx(expected)
    assert engine_seconds(plan, "browser") > 5 * plan.seconds  # WASM is several times slower


def test_a_model_without_browser_figures_uses_the_measured_median_factor() -> None:
    card = catalog().get("esrgan-slim-x2")
    bare = replace(card, cost=Cost(card.cost.bytes_per_px, card.cost.ms_per_mpx, card.cost.load_ms))
    plan = make_plan((200, 100), bare, [bare], tile=64)
    compute = sum(p.seconds for p in plan.passes) * BROWSER_FACTOR
    fixed = bare.cost.load_ms * BROWSER_FACTOR / 1000 + BROWSER_RUN_S
    assert engine_seconds(plan, "browser") == pytest.approx(compute + fixed)
    tta = make_plan((200, 100), bare, [bare], tile=64, tta=True)
    assert engine_seconds(tta, "browser") == pytest.approx(8 * compute + fixed)


def test_a_run_of_a_model_without_cost_figures_does_not_skew_other_estimates() -> None:
    from enhance_widget.widget import planview

    planview.reset_calibration()
    try:
        before = planview.estimate_seconds("colorize-unet", "browser", 10.0)
        load = planview.load_seconds("esrgan-slim-x2")
        planview.record_run("esrgan-slim-x2", "browser", load, 2.5, 0.1)  # no compute planned
        assert planview.estimate_seconds("colorize-unet", "browser", 10.0) == before
        planview.record_run("colorize-unet", "browser", 10.0, 20.0, 0.0)  # a real measurement
        assert planview.estimate_seconds("ffdnet-color", "browser", 10.0)[1] is True
    finally:
        planview.reset_calibration()
