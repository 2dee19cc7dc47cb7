"""Checks of the compare view in the browser: keyboard reach and focus, side-by-side sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .lab import ARTIFACTS
from .pagetools import kernel_json, side_pixels, widget


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / name
    widget(page).screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{name} looks empty"
    return path


def press(page: Any, name: str) -> None:
    widget(page).get_by_role("button", name=name, exact=True).click()


FOCUS_NAME_JS = """() => { const e = document.activeElement;
  return e.getAttribute('aria-label') || e.getAttribute('name') || e.textContent.trim(); }"""


def keyboard(page: Any) -> None:
    """Every control is reachable with Tab and shows its focus; keys on the image stay in the widget."""
    root = widget(page)
    root.locator(".ew-task-input:checked").focus()
    seen = []
    for _ in range(32):
        seen.append(page.evaluate(FOCUS_NAME_JS))
        page.keyboard.press("Tab")
    assert seen[0].endswith("-task"), seen  # the task radios: one Tab stop, arrows choose
    expected = ["scale", "Open…", "Run", "Save", "Download", "Download format", "Before/after split"]
    expected += [
        "Slider",
        "Side by side",
        "Difference",
        "Zoom out",
        "Zoom in",
        "Actual pixels (1:1)",
        "Fit to view",
        "Pixels",
        "model",
        "tile",
        "overlap",
    ]
    for name in expected:
        assert name in seen, f"{name} not reachable by Tab: {seen}"
    assert seen.index("scale") < seen.index("Run") < seen.index("Slider") < seen.index("Fit to view")
    root.get_by_role("button", name="Zoom in").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "keyboard focus must be visible"
    stage = root.locator(".ew-stage")
    stage.focus()
    z0 = float(stage.get_attribute("data-zoom") or 0)
    page.keyboard.press("+")
    page.wait_for_function(f"() => Number(document.querySelector('.ew-root .ew-stage').dataset.zoom) > {z0}")
    page.keyboard.press("0")
    page.keyboard.press("0")  # JupyterLab's "restart kernel" in command mode: must not fire here
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('.ew-root .ew-stage').dataset.zoom === '1'")
    page.wait_for_timeout(300)
    assert page.locator(".jp-Dialog").count() == 0, "a JupyterLab shortcut fired from the widget"
    root.get_by_role("button", name="Fit to view").click()


def side_by_side_in_sync(page: Any) -> None:
    """Side by side: wheel zoom and drag pan move both images together (checked by their pixels)."""
    root = widget(page)
    press(page, "Side by side")
    stage = root.locator(".ew-stage")
    stage.scroll_into_view_if_needed()
    box = stage.bounding_box()
    assert box is not None
    press(page, "Actual pixels (1:1)")
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    for _ in range(2):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(100)
    assert float(stage.get_attribute("data-zoom") or 0) > 1.5, "the wheel zooms in"
    press(page, "Zoom in")  # to the next level: 2x, no smoothing from here on
    page.wait_for_function("() => document.querySelector('.ew-root .ew-stage').dataset.zoom === '2'")
    before_pan = stage.get_attribute("data-cx")
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25 + 60, box["y"] + box["height"] / 2 + 30, steps=4)
    page.mouse.up()
    page.wait_for_timeout(100)
    assert stage.get_attribute("data-cx") != before_pan
    px = side_pixels(page)
    assert px["widths"][0] == px["widths"][1]
    ix, iy = px["ix"], px["iy"]
    after, before = kernel_json(
        page,
        f"[w.result.array[{iy}, {ix}, :3].tolist(), __import__('numpy').asarray("
        f"__import__('PIL.Image').Image.open('sample.png').convert('RGB'))[{iy // 2}, {ix // 2}].tolist()]",
    )
    assert max(abs(a - b) for a, b in zip(px["after"], after, strict=True)) <= 2, (px, after)
    assert max(abs(a - b) for a, b in zip(px["before"], before, strict=True)) <= 2, (px, before)
    shot(page, "widget-side-by-side.png")
    press(page, "Difference")
    page.wait_for_timeout(150)
    shot(page, "widget-difference.png")
    press(page, "Slider")
    press(page, "Fit to view")
