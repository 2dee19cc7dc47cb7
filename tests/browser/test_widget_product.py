"""The widget as a user meets it, in a real JupyterLab + Debian Chromium: open a JPEG by drag and
drop, by the file picker and by paste; a bad file; the four tasks with their own controls (a
strength slider); run each installed task and read the labels; download the result and compare its
pixels with ``w.result``; a double click on Run; Cancel then Save; 700 px and 360 px columns with
every control inside the widget's box; light and dark screenshots in artifacts/.

Small images and the tasks' default models keep it to about a minute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LabServer, NetworkLog, lab_server, require_browser
from .pagetools import KERNEL_IDLE_JS, kernel_exec, kernel_json, wait_dataset, widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "from enhance_widget import EnhanceWidget\nw = EnhanceWidget()\nw",
        }
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _jpeg(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> Path:
    from enhance_widget.catalog import sample_image_path

    img = Image.open(sample_image_path()).convert("RGB").crop(box).resize(size, Image.Resampling.LANCZOS)
    img.save(path, format="JPEG", quality=92)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    require_browser()
    root = tmp_path_factory.mktemp("product") / "work"
    root.mkdir()
    (root / "product.ipynb").write_text(json.dumps(NOTEBOOK))
    _jpeg(root / "holiday.jpg", (96, 72), (0, 0, 160, 120))
    _jpeg(root / "garden.jpg", (80, 60), (40, 30, 120, 90))
    (root / "notes.jpg").write_bytes(b"these are notes, not a photo\n" * 20)
    with lab_server(root) as server:
        yield server


@pytest.fixture(scope="module")
def page(lab: LabServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    net = NetworkLog(allowed_prefixes=(lab.base + "/", f"ws://127.0.0.1:{lab.port}/"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
        ctx.route("**/*", net.route)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(lab.url("lab/tree/product.ipynb"))
        pg.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
        pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        widget(pg).wait_for(state="visible", timeout=60_000)
        try:
            yield pg
        except Exception:
            pg.screenshot(path=str(ARTIFACTS / "product-failure.png"))
            raise
        finally:
            assert net.outside == [], f"requests left the local server: {net.outside}"
            assert not [e for e in errors if "ResizeObserver" not in e], errors
            browser.close()


# --- helpers ---------------------------------------------------------------------------------

DROP_JS = """
async ([name, bytes, type, how]) => {
  const file = new File([new Uint8Array(bytes)], name, { type });
  const dt = new DataTransfer();
  dt.items.add(file);
  const root = document.querySelector(".ew-root");
  if (how === "paste") {
    root.querySelector(".ew-stage").focus();
    root.querySelector(".ew-stage").dispatchEvent(
      new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    return;
  }
  const stage = root.querySelector(".ew-stage");
  for (const kind of ["dragenter", "dragover", "drop"])
    stage.dispatchEvent(new DragEvent(kind, { dataTransfer: dt, bubbles: true, cancelable: true }));
}
"""


def _give(page: Any, path: Path, how: str, name: str | None = None) -> None:
    """Drop (or paste) a file onto the widget as a user's browser would hand it over."""
    mime = "image/jpeg" if path.suffix == ".jpg" else "image/png"
    page.evaluate(DROP_JS, [name or path.name, list(path.read_bytes()), mime, how])


def _phase(page: Any, phase: str, timeout_ms: float = 120_000) -> None:
    wait_dataset(page, "phase", f"v === '{phase}'", timeout_ms)


def _status(page: Any) -> str:
    return str(widget(page).locator(".ew-status").inner_text())


def _press(page: Any, name: str) -> None:
    widget(page).get_by_role("button", name=name, exact=True).click()


def _task(page: Any, task: str) -> None:
    widget(page).locator(f".ew-task[data-task='{task}']").click()
    page.wait_for_function(
        f"() => document.querySelector('.ew-root .ew-task[data-task={task}] input').checked"
    )
    kernel_json(page, "1")  # a round trip: the plan of the new task has arrived
    page.wait_for_function("() => document.querySelector('.ew-root').dataset.phase !== 'planning'")


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / name
    widget(page).screenshot(path=str(path))
    assert path.stat().st_size > 5_000, f"{name} looks empty"
    return path


def _theme(page: Any, dark: bool) -> None:
    theme = "JupyterLab Dark" if dark else "JupyterLab Light"
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{str(not dark).lower()}'")
    page.wait_for_timeout(300)


def _both_themes(page: Any, name: str) -> None:
    _shot(page, f"{name}-light.png")
    _theme(page, True)
    _shot(page, f"{name}-dark.png")
    _theme(page, False)


def _labels(page: Any) -> list[str]:
    # the result image is decoded just after the phase turns done: wait until it replaces the live layer
    page.wait_for_function(
        "() => !(document.querySelector('.ew-root .ew-stage').dataset.labels || '').includes('in progress')",
        timeout=60_000,
    )
    text = widget(page).locator(".ew-stage").get_attribute("data-labels") or ""
    return [t for t in text.split("|") if t]


def _download(page: Any, lab: LabServer, fmt: str, quality: int = 90) -> Path:
    root = widget(page)
    root.locator("select[name=format]").select_option(fmt)
    if fmt != "png":
        root.locator("input[name=download-quality]").fill(str(quality))
    with page.expect_download() as info:
        _press(page, "Download")
    target = lab.root / f"downloaded-{info.value.suggested_filename}"
    info.value.save_as(target)
    return target


def _max_diff_to_result(page: Any, path: Path) -> list[float]:
    """Max and mean absolute difference between a file and ``w.result`` (8-bit RGB)."""
    out: list[float] = kernel_json(
        page,
        "(lambda a, b: [int(abs(a - b).max()), float(abs(a - b).mean())])("
        "__import__('numpy').asarray(__import__('PIL.Image').Image.open("
        f"{str(path)!r}).convert('RGB')).astype(int), w.result.array[..., :3].astype(int))",
    )
    return out


# --- the tests, in the order a user goes -----------------------------------------------------


def test_open_a_photo_by_drop_picker_and_paste_and_a_bad_file(page: Any, lab: LabServer) -> None:
    root = widget(page)
    _phase(page, "empty")
    assert "Open a photo" in _status(page)
    assert root.get_by_role("button", name="Run", exact=True).is_disabled()
    assert root.get_by_role("button", name="Save", exact=True).is_disabled()
    assert root.locator(".ew-zoom-label").inner_text() == "–"
    assert root.locator(".ew-meter").is_hidden()
    _both_themes(page, "product-1-empty")

    # drag and drop a JPEG onto the image area
    _give(page, lab.root / "holiday.jpg", "drop")
    _phase(page, "idle")
    assert kernel_json(page, "[w.source_name, w.source_size, w.error]") == ["holiday.jpg", [96, 72], {}]
    assert root.locator(".ew-title").inner_text() == "holiday.jpg"
    assert _labels(page) == ["Original"]
    assert "Ready" in _status(page) and "Press Run" in _status(page)
    assert "on this computer" in root.locator(".ew-figures").inner_text()

    # the file picker (the Open button)
    with page.expect_file_chooser() as chooser:
        _press(page, "Open…")
    chooser.value.set_files(str(lab.root / "garden.jpg"))
    page.wait_for_function("() => document.querySelector('.ew-root .ew-title').textContent === 'garden.jpg'")
    assert kernel_json(page, "w.source_size") == [80, 60]

    # a file that is not an image: a typed error in words, the photo on screen stays
    _give(page, lab.root / "notes.jpg", "drop")
    error = root.locator(".ew-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Could not open notes.jpg: ImageDecodeError")
    assert "kept" in error.inner_text()
    assert kernel_json(page, "[w.source_name, w.error['type'], w.status]") == [
        "garden.jpg",
        "ImageDecodeError",
        "idle",
    ]
    assert dataset_of(page, "phase") == "idle" and "Could not open notes.jpg" in _status(page)
    assert root.get_by_role("button", name="Run", exact=True).is_enabled()
    assert root.locator(".ew-zoom-label").inner_text().endswith("%")
    assert "failed" not in _status(page)
    _both_themes(page, "product-2-bad-file")

    # paste (as from the clipboard); then back to the first photo
    _give(page, lab.root / "garden.jpg", "paste", name="image.jpg")
    page.wait_for_function("() => document.querySelector('.ew-root .ew-title').textContent === 'image.jpg'")
    assert root.locator(".ew-error").is_hidden()
    _give(page, lab.root / "holiday.jpg", "drop")
    page.wait_for_function("() => document.querySelector('.ew-root .ew-title').textContent === 'holiday.jpg'")
    _phase(page, "idle")


def dataset_of(page: Any, key: str) -> str:
    return str(page.evaluate("(k) => document.querySelector('.ew-root').dataset[k]", key))


def test_each_task_shows_its_own_controls_and_runs(page: Any, lab: LabServer) -> None:
    root = widget(page)
    tasks = kernel_json(page, "w.tasks")
    assert [t["id"] for t in tasks] == ["upscale", "restore", "deblur", "colorize"]
    for t in tasks:  # one line each on what it does, from the manifest
        card = root.locator(f".ew-task[data-task='{t['id']}']")
        assert t["title"] in card.inner_text() and t["summary"] and t["summary"] in card.inner_text()
    # model, tile and overlap wait in Advanced
    assert root.locator("select[name=model]").is_hidden() and root.locator("select[name=tile]").is_hidden()
    root.locator(".ew-advanced > summary").click()
    assert root.locator("select[name=model]").is_visible()
    root.locator(".ew-advanced > summary").click()

    for t in tasks:
        _task(page, t["id"])
        specs = kernel_json(page, "w.control_specs")
        scale_shown = root.locator("select[name=scale]").is_visible()
        assert scale_shown == (t["id"] == "upscale"), t
        assert root.locator("input[type=range]").count() == len(specs)
        if not t["available"]:
            _phase(page, "no-model")
            assert root.get_by_role("button", name="Run", exact=True).is_disabled()
            assert f"No {t['title']} model is installed here" in _status(page)
            assert root.locator(".ew-figures").is_hidden() and "Ready" not in _status(page)
            _both_themes(page, f"product-3-no-model-{t['id']}")
            continue
        _phase(page, "idle")
        if specs:
            # the slider's range and default are the manifest's; setting it with keys sends it to Python
            spec = specs[0]
            slider = root.locator(f"input[name=control-{spec['name']}]")
            assert float(slider.get_attribute("min") or -1) == spec["min"]
            assert float(slider.get_attribute("max") or -1) == spec["max"]
            assert float(slider.input_value()) == spec["default"]
            # drag the slider's thumb to about a third of the track, as a user does
            box = slider.bounding_box()
            assert box is not None
            y = box["y"] + box["height"] / 2
            page.mouse.click(box["x"] + box["width"] / 2, y)
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 3, y, steps=4)
            page.mouse.up()
            want = float(slider.input_value())
            assert spec["min"] < want < spec["default"] or spec["default"] < want < spec["max"], want
            shown = root.locator(f"[data-control={spec['name']}] output").inner_text()
            assert float(shown) == pytest.approx(want)
            kernel_json(page, "1")
            got = kernel_json(page, "w.controls")
            assert got == {spec["name"]: pytest.approx(want)}, (got, want)
        if t["id"] == "colorize":  # the sample is a colour photo: its colours would be replaced
            warning = root.locator(".ew-colour-warning")
            assert warning.is_visible() and "already has colours" in warning.inner_text()
        model = kernel_json(page, "[m for m in w.models if m['id'] == w.plan['model']][0]")
        terms = root.locator(".ew-terms")
        assert terms.is_visible() == model["research_only"], model
        if model["research_only"]:  # said where the task is chosen, and in full in Advanced
            assert "research / non-commercial use only" in terms.inner_text()
            root.locator(".ew-advanced > summary").click()
            assert model["license_full"] in root.locator(".ew-model-info").inner_text()
            root.locator(".ew-advanced > summary").click()
        _press(page, "Run")
        _phase(page, "done")
        assert _status(page).startswith("Done in"), _status(page)
        assert "tiles" not in _status(page) and "( from" not in _status(page)
        assert _labels(page) == ["Original", "Enhanced"]
        run = kernel_json(
            page, "[w.last_run['task'], list(w.result.size), w.result.record['options']['controls']]"
        )
        assert run[0] == t["id"]
        if specs:
            assert abs(run[2][specs[0]["name"]] - want) < 1e-6
        # the downloaded PNG has exactly the pixels of w.result
        png = _download(page, lab, "png")
        assert png.name.startswith("downloaded-holiday_") and png.suffix == ".png"
        assert Image.open(png).size == tuple(run[1])
        assert _max_diff_to_result(page, png)[0] == 0
        _both_themes(page, f"product-4-done-{t['id']}")
    _task(page, "upscale")


def test_compare_labels_smooth_original_and_a_scaled_difference(page: Any) -> None:
    root = widget(page)
    _press(page, "Run")
    _phase(page, "done")
    stage = root.locator(".ew-stage")
    assert "ew-pixelated" not in (stage.get_attribute("class") or ""), "the original is smooth at fit"
    _press(page, "Pixels")
    assert "ew-pixelated" in (stage.get_attribute("class") or "")
    _press(page, "Pixels")
    assert root.locator(".ew-grip").is_visible()
    _press(page, "Side by side")
    assert _labels(page) == ["Original", "Enhanced"]
    _press(page, "Difference")
    page.wait_for_function("() => document.querySelector('.ew-root .ew-stage').dataset.diffGain")
    gain = float(stage.get_attribute("data-diff-gain") or 0)
    legend = _labels(page)
    assert len(legend) == 1 and legend[0].startswith("Difference ×") and "white = a change of" in legend[0]
    assert gain > 1, "an upscale changes little: the difference is stretched to be seen"
    _both_themes(page, "product-5-difference")
    _press(page, "Slider")


def test_a_model_that_is_not_installed_says_how_to_get_it(page: Any) -> None:
    root = widget(page)
    missing = kernel_json(
        page,
        "[c.id for c in __import__('enhance_widget.catalog').catalog.catalog().cards()"
        " if not c.installed and not c.is_chain][:1]",
    )
    if not missing:
        pytest.skip("every model of the manifest is installed here")
    kernel_exec(page, f"w.model = {missing[0]!r}")
    _phase(page, "no-model")
    assert root.get_by_role("button", name="Run", exact=True).is_disabled()
    text = _status(page)
    assert "not installed here" in text and f"enhance-widget models build {missing[0]}" in text, text
    assert root.locator(".ew-figures").is_hidden() and "Ready" not in text
    assert root.locator(".ew-meter").is_hidden()
    _both_themes(page, "product-6-model-not-installed")
    kernel_exec(page, "w.model = ''; w.task = 'upscale'")
    _phase(page, "idle")


def test_double_click_run_then_cancel_then_save(page: Any, lab: LabServer) -> None:
    root = widget(page)
    kernel_exec(page, "w.scale = 2")
    _phase(page, "idle")
    job = kernel_json(page, "w.last_run['job']")
    root.get_by_role("button", name="Run", exact=True).dblclick()
    _phase(page, "done")
    page.wait_for_timeout(300)
    assert kernel_json(page, "w.last_run['job']") == job + 1, "one run for a double click"
    assert _status(page).startswith("Done in") and "not done" not in _status(page).lower()
    done = kernel_json(page, "[w.last_run['job'], list(w.result.size)]")

    # a longer run (x4, small tiles), cancelled: the earlier result stays, and Save says it is that one
    # best quality runs every tile 8 times: long enough that Cancel lands mid-run on an idle machine
    kernel_exec(page, "w.scale = 4; w.tile = '32'; w.quality = 'best'")
    page.wait_for_function("() => document.querySelector('.ew-root select[name=scale]').value === '4'")
    _press(page, "Run")
    wait_dataset(page, "tilesPainted", "Number(v) >= 1", 60_000)
    _shot(page, "product-7-running-light.png")
    _press(page, "Cancel")
    _phase(page, "cancelled", 30_000)
    assert "earlier result" in _status(page) and "Save and Download keep that one" in _status(page)
    assert root.get_by_role("button", name="Save", exact=True).is_enabled()
    _press(page, "Save")
    page.wait_for_function(
        "() => document.querySelector('.ew-root .ew-status').textContent.includes('Saved')"
    )
    text = _status(page)
    assert text.startswith("Saved the earlier result (") and "×2" in text, text
    saved = Path(text.split(" to ", 1)[1].strip())
    assert saved.parent == lab.root and saved.name == "holiday_upscalex2.png"
    assert list(Image.open(saved).size) == done[1]
    assert _max_diff_to_result(page, saved)[0] == 0
    _press(page, "Save")  # again: the same file, no numbered copy
    page.wait_for_function(
        "() => document.querySelector('.ew-root .ew-status').textContent.startsWith('Already')"
    )
    assert sorted(p.name for p in lab.root.glob("holiday_upscale*")) == ["holiday_upscalex2.png"]
    _both_themes(page, "product-7-cancelled-saved")
    # JPEG download with a quality choice: close to the result
    jpg = _download(page, lab, "jpeg", 85)
    assert jpg.suffix == ".jpg" and Image.open(jpg).format == "JPEG"
    worst, mean = _max_diff_to_result(page, jpg)
    assert mean < 4.0, (worst, mean)
    kernel_exec(page, "w.scale = 2; w.tile = 'auto'; w.quality = 'balanced'")


LAYOUT_JS = """
(width) => {
  const root = document.querySelector(".ew-root");
  root.parentElement.style.width = width + "px";
  root.parentElement.style.maxWidth = width + "px";
  const details = root.querySelector("details.ew-advanced");
  details.open = true;
  return new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => {
    const box = root.getBoundingClientRect();
    const out = [];
    const sel = "button, select, input, label, output, .ew-task, .ew-status, .ew-label, dd";
    for (const el of root.querySelectorAll(sel)) {
      if (el.type === "file" || el.offsetParent === null) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const name = `${el.tagName}.${el.className} '${(el.textContent || el.name || "").slice(0, 30)}'`;
      const inside = r.left >= box.left - 0.5 && r.right <= box.right + 0.5
        && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
      if (!inside) out.push(`${name} ${r.left}-${r.right} of ${box.left}-${box.right}`);
      const text = !["SELECT", "INPUT"].includes(el.tagName);
      if (text && el.scrollWidth > el.clientWidth + 1) out.push(`clipped: ${name}`);
    }
    ok({ width: box.width, outside: out });
  })));
}
"""


@pytest.mark.parametrize("width", [700, 360, 320])
def test_layout_holds_in_a_narrow_column(page: Any, width: int) -> None:
    _task(page, "restore")
    # the result on screen (an upscale) says so once the task no longer matches it
    assert _labels(page) == ["Original", "Earlier result: Super resolution ×2"]
    page.set_viewport_size({"width": 1280, "height": 2400})
    got = page.evaluate(LAYOUT_JS, width)
    assert got["width"] <= width + 0.5, got
    assert got["outside"] == [], got["outside"]
    _both_themes(page, f"product-8-layout-{width}")
    page.evaluate(
        "() => { const r = document.querySelector('.ew-root'); r.parentElement.style.width = '';"
        " r.parentElement.style.maxWidth = ''; r.querySelector('details.ew-advanced').open = false; }"
    )
    page.set_viewport_size({"width": 1280, "height": 1100})
    _task(page, "upscale")
