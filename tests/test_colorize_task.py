"""enhance(task="colorize"): whole-image plan, the input's own L kept, strength, grey in -> RGB out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from enhance_widget import TileEvent, enhance, plan_for
from enhance_widget.colorize import rgb_to_lab
from enhance_widget.metrics import colourfulness


def test_plan_is_one_global_pass_at_working_size() -> None:
    plan = plan_for((1024, 768), task="colorize")
    assert plan.strategy == "global" and plan.total_tiles == 1
    assert plan.passes[0].tile == (336, 256)  # short side 256, multiples of 16
    assert plan.out_size == (1024, 768) and plan.scale == 1


def test_colorize_keeps_lightness_and_adds_colour(eval_images: dict[str, np.ndarray]) -> None:
    img = eval_images["coffee"]
    grey = np.asarray(Image.fromarray(img).convert("L"))
    events: list[TileEvent] = []
    res = enhance(grey, task="colorize", progress=events.append)
    assert res.image.mode == "RGB" and res.array.shape == (256, 256, 3)
    assert len(events) == 1 and events[0].core_box == (0, 0, 256, 256)
    grey_rgb = np.repeat(grey[..., None], 3, axis=2)
    l_in = rgb_to_lab(grey_rgb / 255.0)[..., 0]
    l_out = rgb_to_lab(res.array / 255.0)[..., 0]
    assert np.abs(l_in - l_out).mean() * 2.55 <= 1.0  # L preserved (0..255 scale)
    assert colourfulness(res.array) > 0.3 * colourfulness(img)
    assert res.record["plan"]["strategy"] == "global"
    assert any("colorized" in n for n in res.record["input"]["notes"])


def test_strength_zero_is_grey_and_more_strength_is_more_colourful(
    eval_images: dict[str, np.ndarray],
) -> None:
    img = eval_images["chelsea"][:128, :128]
    none = enhance(img, task="colorize", controls={"strength": 0.0}).array.astype(int)
    assert np.ptp(none, axis=2).max() <= 2
    c1 = colourfulness(enhance(img, task="colorize", controls={"strength": 1.0}).array)
    c15 = colourfulness(enhance(img, task="colorize", controls={"strength": 1.5}).array)
    assert c15 > c1 > 0
    with pytest.raises(ValueError, match="strength"):
        enhance(img, task="colorize", controls={"strength": 2.0})
