"""The widget in JupyterLite (offline site from scripts/build_lite.sh), as a user meets it there:
a JPEG dropped onto the image area reaches the Pyodide kernel as a binary message, the default x2
upscale runs in the browser engine, the labels read "Original" / "Enhanced", the downloaded PNG
is byte for byte ``w.result.png``, and a file that is not an image is named in the status line
with the photo kept. Screenshots: artifacts/lite-widget-*.png (light and dark)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, NetworkLog, require_browser
from tests.browser.pagetools import KERNEL_IDLE_JS, kernel_exec, kernel_json, wait_dataset, widget
from tests.browser.test_widget_product import DROP_JS

from .test_lite_engine import site  # noqa: F401  (the offline site on 127.0.0.1)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _jpeg(path: Path) -> Path:
    img = Image.open(REPO / "models" / "eval" / "chelsea.png").convert("RGB").crop((80, 80, 144, 128))
    img.save(path, format="JPEG", quality=90)
    return path


def _drop(pg: Any, path: Path) -> None:
    pg.evaluate(DROP_JS, [path.name, list(path.read_bytes()), "image/jpeg", "drop"])


def _shots(pg: Any, name: str) -> None:
    widget(pg).screenshot(path=str(ARTIFACTS / f"{name}-light.png"))
    pg.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    pg.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    pg.wait_for_timeout(300)
    widget(pg).screenshot(path=str(ARTIFACTS / f"{name}-dark.png"))
    pg.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    pg.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")


def test_lite_widget_opens_a_dropped_jpeg_runs_and_downloads(site: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    photo = _jpeg(tmp_path / "holiday.jpg")
    notes = tmp_path / "notes.jpg"
    notes.write_bytes(b"not a photo\n" * 50)
    net = NetworkLog(allowed_prefixes=(site + "/",))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1100, "height": 1100}, accept_downloads=True)
            ctx.route("**/*", net.route)
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            pg.goto(f"{site}/")
            pg.wait_for_function(KERNEL_IDLE_JS, timeout=180_000)
            pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            widget(pg).wait_for(state="visible", timeout=180_000)
            wait_dataset(pg, "beforeReady", "v === '1'", 120_000)
            root = widget(pg)

            _drop(pg, photo)
            pg.wait_for_function(
                "() => document.querySelector('.ew-root .ew-title').textContent === 'holiday.jpg'",
                timeout=120_000,
            )
            assert kernel_json(pg, "[w.engine, w.source_size]") == ["browser", [64, 48]]
            kernel_exec(pg, "w.task = 'upscale'; w.scale = 2")
            wait_dataset(pg, "phase", "v === 'idle'", 60_000)
            root.get_by_role("button", name="Run", exact=True).click()
            wait_dataset(pg, "phase", "v === 'done'", 600_000)
            # the result image is decoded after the phase turns done: wait for the labels to settle
            pg.wait_for_function(
                "() => !(document.querySelector('.ew-root .ew-stage').dataset.labels || '')"
                ".includes('in progress')",
                timeout=60_000,
            )
            labels = root.locator(".ew-stage").get_attribute("data-labels") or ""
            assert labels.split("|") == ["Original", "Enhanced"], labels
            assert root.locator(".ew-status").inner_text().startswith("Done in")
            with pg.expect_download() as info:
                root.get_by_role("button", name="Download", exact=True).click()
            data = Path(info.value.path()).read_bytes()
            assert info.value.suggested_filename == "holiday_upscalex2.png"
            assert Image.open(io.BytesIO(data)).size == (128, 96)
            want = kernel_json(pg, "__import__('hashlib').sha256(w.result.png).hexdigest()")
            assert hashlib.sha256(data).hexdigest() == want, "the download is w.result's PNG"
            _shots(pg, "lite-widget-done")

            _drop(pg, notes)
            error = root.locator(".ew-error")
            error.wait_for(state="visible", timeout=60_000)
            assert error.inner_text().startswith("Could not open notes.jpg:"), error.inner_text()
            assert kernel_json(pg, "w.source_name") == "holiday.jpg"
            _shots(pg, "lite-widget-bad-file")
        finally:
            browser.close()
    assert net.outside == [], net.outside
