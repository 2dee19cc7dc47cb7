"""End to end in a real JupyterLab + Debian Chromium: quickstart, Run with live tiles, compare,
zoom, pixels read back against the kernel's result, Cancel, Save, escaping, no network.

Screenshots go to artifacts/ (idle, running with tiles half painted, done, dark theme)."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .lab import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    LabServer,
    NetworkLog,
    copy_notebook,
    lab_server,
    require_browser,
)
from .pagetools import (
    KERNEL_IDLE_JS,
    add_cell,
    canvas_samples,
    dataset,
    kernel_exec,
    kernel_json,
    set_control,
    wait_dataset,
    wait_plan,
    widget,
)
from .viewchecks import keyboard, press, shot, side_by_side_in_sync

pytestmark = [pytest.mark.browser, pytest.mark.slow]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    require_browser()
    root = tmp_path_factory.mktemp("lab") / "work"
    root.mkdir()
    copy_notebook(root)
    with lab_server(root) as server:
        yield server


@dataclass
class Session:
    page: Any
    net: NetworkLog
    frames: list[tuple[float, str]]
    dialogs: list[str]
    console: list[str]


@pytest.fixture(scope="module")
def session(lab: LabServer) -> Iterator[Session]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    net = NetworkLog(allowed_prefixes=(lab.base + "/", f"ws://127.0.0.1:{lab.port}/"))
    frames: list[tuple[float, str]] = []
    dialogs: list[str] = []
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=2)
        ctx.route("**/*", net.route)
        pg = ctx.new_page()
        pg.on("request", lambda r: None if r.url in net.requests else net.requests.append(r.url))
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.on("websocket", lambda ws: _watch_socket(ws, net, frames))
        pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        pg.set_default_timeout(60_000)
        try:
            yield Session(pg, net, frames, dialogs, console)
        except Exception:
            pg.screenshot(path=str(ARTIFACTS / "failure-page.png"))
            raise
        finally:
            browser.close()


def _watch_socket(ws: Any, net: NetworkLog, frames: list[tuple[float, str]]) -> None:
    net.requests.append(ws.url)
    if not ws.url.startswith(net.allowed_prefixes):
        net.outside.append(ws.url)
    ws.on("framereceived", lambda p: frames.append((time.monotonic(), _kind(p))))


def _kind(payload: Any) -> str:
    """Classify a websocket frame by the widget message it carries (independent of the widget's code)."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    if b'"region"' in data and b'"tile"' in data:
        return "tile"
    if b'"run-done"' in data:
        return "run-done"
    return ""


def _wait_status(page: Any, status: str, timeout_ms: float = 120_000) -> None:
    try:
        wait_dataset(page, "status", f"v === '{status}'", timeout_ms)
    except Exception as exc:
        seen = [
            dataset(page, "status"),
            dataset(page, "phase"),
            widget(page).locator(".ew-status").inner_text(),
        ]
        raise AssertionError(f"status {status!r} never came: the view shows {seen}") from exc


def _open_quickstart(page: Any, lab: LabServer) -> None:
    page.goto(lab.url("lab/tree/01_quickstart.ipynb"))
    page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    widget(page).wait_for(state="visible", timeout=60_000)
    wait_dataset(page, "beforeReady", "v === '1'")


def test_quickstart_widget_end_to_end(session: Session, lab: LabServer) -> None:
    t_start = time.monotonic()
    page = session.page
    _open_quickstart(page, lab)
    root = widget(page)
    src = lab.root / "sample.png"
    src_digest = hashlib.sha256(src.read_bytes()).hexdigest()

    # idle: the plan's figures for the default model (x4), before anything runs: plain words on
    # top, the numbers in Advanced
    x4 = kernel_json(page, "w.plan['model']")
    wait_plan(page, f"t.includes('640 × 480') && t.includes({x4!r})")
    summary = root.locator(".ew-figures").inner_text()
    assert "on this computer" in summary and "memory: fine" in summary
    root.locator(".ew-advanced > summary").click()
    figures = root.locator(".ew-details").inner_text()
    assert "needs about" in figures and "free" in figures and "the processor (CPU)" in figures
    assert root.get_by_role("button", name="Save", exact=True).is_disabled()
    shot(page, "widget-idle.png")

    # changing controls while idle updates the plan without running anything
    set_control(page, "Scale", "2")
    set_control(page, "Tile size", "64")
    wait_plan(page, "t.includes('320 × 240') && t.includes('64 × 64 px each')")
    state = kernel_json(page, "[w.status, w.result is None, w.plan['total_tiles']]")
    assert state[:2] == ["idle", True] and state[2] >= 4
    tiles_x2 = state[2]

    # a plan over the memory budget warns and offers a tile size that fits
    kernel_exec(
        page, "import os; os.environ['ENHANCE_WIDGET_MEMORY_BUDGET'] = str(60 * 2**20); w.tile = 'whole'"
    )
    warning = root.get_by_role("alert").filter(has_text="memory limit")
    warning.wait_for(state="visible")
    suggested = kernel_json(page, "w.plan['suggested_tile']")
    assert f"Tiles of {suggested} px fit" in warning.inner_text()
    shot(page, "widget-memory-warning.png")
    press(page, f"Use tile {suggested}")
    warning.wait_for(state="hidden")
    assert root.locator("select[name=tile]").input_value() == str(suggested)
    kernel_exec(page, "del os.environ['ENHANCE_WIDGET_MEMORY_BUDGET']")
    set_control(page, "Tile size", "64")
    wait_plan(page, f"t.includes('{tiles_x2} tiles')")

    # Run: tiles arrive and are painted while the run goes on
    session.frames.clear()
    press(page, "Run")
    wait_dataset(page, "tilesPainted", "Number(v) >= 3", 60_000)
    assert dataset(page, "status") == "running"
    shot(page, "widget-running.png")
    _wait_status(page, "done")
    job = kernel_json(page, "w.last_run['job']")
    wait_dataset(page, "resultJob", f"v === '{job}'")
    assert int(dataset(page, "tilesAtDone") or 0) >= 4
    kinds = [k for _, k in session.frames]
    assert "run-done" in kinds, kinds
    tiles_before_done = kinds[: kinds.index("run-done")].count("tile")
    assert tiles_before_done >= 4, f"only {tiles_before_done} tile messages arrived before run-done"
    status_text = root.locator(".ew-status").inner_text()
    assert status_text.startswith("Done in") and "320 × 240" in status_text, status_text
    assert "the processor (CPU)" in root.locator(".ew-details").inner_text()
    shot(page, "widget-done.png")
    keyboard(page)

    # the slider moves (keyboard and drag) and the after image fills the view at split 0
    handle = root.get_by_role("slider", name="Before/after split")
    handle.focus()
    page.keyboard.press("ArrowLeft")
    assert handle.get_attribute("aria-valuenow") == "48"
    box = handle.bounding_box()
    stage = root.locator(".ew-stage").bounding_box()
    assert box is not None and stage is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(stage["x"] - 20, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert handle.get_attribute("aria-valuenow") == "0"

    # zoom to 4x with the buttons; crisp pixels; read back and compare with the kernel's result
    for _ in range(8):
        if root.locator(".ew-zoom-label").inner_text() == "400%":
            break
        press(page, "Zoom in")
    assert root.locator(".ew-zoom-label").inner_text() == "400%"
    page.wait_for_function("() => document.querySelector('.ew-root .ew-stage').dataset.zoom === '4'")
    assert "ew-pixelated" in (root.locator(".ew-stage").get_attribute("class") or "")
    read = canvas_samples(page, n=9, step=5)
    assert read["dpr"] == 2 and abs(read["width"] - 2 * read["cssWidth"]) <= 2, read
    samples = read["samples"]
    assert len(samples) >= 50
    coords = [[s[0], s[1]] for s in samples]
    expected = kernel_json(page, f"[w.result.array[y, x, :3].tolist() for x, y in {coords}]")
    diffs = [
        max(abs(a - b) for a, b in zip(s[2:], e, strict=True)) for s, e in zip(samples, expected, strict=True)
    ]
    assert max(diffs) <= 2, f"canvas differs from the Python result by up to {max(diffs)}"
    press(page, "Fit to view")
    side_by_side_in_sync(page)

    # Save writes next to the source, never over it, and says where
    press(page, "Save")
    page.wait_for_function(
        "() => document.querySelector('.ew-root .ew-status').textContent.includes('Saved to')"
    )
    saved = Path(root.locator(".ew-status").inner_text().split("Saved to ", 1)[1].strip())
    assert saved.parent == lab.root and saved.name == "sample_upscalex2.png" and saved.is_file()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == src_digest

    _cancel_and_rerun(page)
    _escaping_and_errors(page, lab)

    # legible in the dark theme too
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)
    shot(page, "widget-done-dark.png")

    assert session.net.outside == [], f"requests left the local server: {session.net.outside}"
    assert session.dialogs == [], f"a dialog opened (script ran?): {session.dialogs}"
    assert all(
        u.startswith((lab.base, f"ws://127.0.0.1:{lab.port}", "blob:", "data:")) for u in session.net.requests
    )
    print(
        f"browser end-to-end: {time.monotonic() - t_start:.1f} s, {len(session.net.requests)} local requests"
    )


def _cancel_and_rerun(page: Any) -> None:
    set_control(page, "Scale", "4")
    # small tiles and the best quality (every tile 8 times): a run long enough to cancel
    kernel_exec(page, "w.tile = '32'; w.quality = 'best'")
    wait_plan(page, "t.includes('640 × 480')", 60_000)
    planned = kernel_json(page, "w.plan['total_tiles']")
    press(page, "Run")
    wait_dataset(page, "tilesPainted", "Number(v) >= 2", 60_000)
    # a second view of the same widget, opened mid-run, gets the running job's tiles replayed
    add_cell(page, "w")
    second = page.locator(".ew-root").nth(1)
    second.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => { const r = document.querySelectorAll('.ew-root')[1]; "
        "return r && Number(r.dataset.tilesPainted) >= 2 && r.dataset.beforeReady === '1'; }",
        timeout=30_000,
    )
    assert second.locator("select[name=scale]").input_value() == "4"
    painted_at_cancel = int(dataset(page, "tilesPainted") or 0)
    t0 = time.monotonic()
    press(page, "Cancel")
    _wait_status(page, "cancelled", 30_000)
    stop_s = time.monotonic() - t0
    out, ms = kernel_exec(page, "1+1")
    assert out.strip() == "2" and ms < 3000, (out, ms)
    total = kernel_json(page, "w.progress")
    assert total["done"] < total["total"] == planned
    # tiles finished before the kernel saw Cancel may still land; none the kernel did not finish,
    # and none once the view says cancelled
    painted_after = int(dataset(page, "tilesPainted") or 0)
    assert painted_at_cancel <= painted_after <= total["done"]
    time.sleep(1.0)
    assert int(dataset(page, "tilesPainted") or 0) == painted_after
    assert stop_s < 10
    # the status trait arrives just before the run-cancelled message that names the tile count
    page.wait_for_function(
        "() => document.querySelector('.ew-root .ew-status').textContent.includes('Cancelled after')"
    )
    page.wait_for_function("() => document.querySelectorAll('.ew-root')[1].dataset.status === 'cancelled'")
    print(f"cancel: stopped {stop_s:.2f} s after the click; kernel answered 1+1 in {ms:.0f} ms")
    # a new run completes (the tiny model: this part is about mechanics)
    kernel_exec(page, "w.tile = '64'; w.quality = 'balanced'")
    set_control(page, "Model", "esrgan-slim-x2")
    wait_plan(page, "t.includes('320 × 240') && t.includes('esrgan-slim-x2')")
    press(page, "Run")
    _wait_status(page, "done")
    assert kernel_json(page, "[w.result.size, w.result.record['model']['id']]") == [
        [320, 240],
        "esrgan-slim-x2",
    ]


def _escaping_and_errors(page: Any, lab: LabServer) -> None:
    root = widget(page)
    onnx = lab.root / "evil.onnx"
    shutil.copyfile(REPO / "models" / "esrgan-slim-x2.onnx", onnx)
    out, _ = kernel_exec(
        page,
        "from enhance_widget import register_model\n"
        f"register_model({str(onnx)!r}, task='upscale', scale=2, id={XSS!r})\n"
        "w.refresh_models(); print('registered')",
    )
    assert "registered" in out, out
    set_control(page, "Model", XSS)
    wait_plan(page, f"t.includes({XSS!r})")
    option = root.locator("select[name=model] option", has_text=XSS)
    assert option.count() == 1 and XSS in option.inner_text()
    assert page.locator("img[src='x']").count() == 0
    press(page, "Run")
    _wait_status(page, "done")
    assert XSS in root.locator(".ew-details").inner_text()
    # a run that fails (the model file changed on disk) shows type and message; the widget stays usable
    onnx.write_bytes(b"tampered" * 100)
    press(page, "Run")
    _wait_status(page, "error")
    error = root.get_by_role("alert").filter(has_text="ModelIntegrityError").inner_text()
    assert error.startswith("ModelIntegrityError:") and XSS in error
    assert page.locator("img[src='x']").count() == 0
    set_control(page, "Model", "esrgan-slim-x2")
    press(page, "Run")
    _wait_status(page, "done")
    assert root.locator(".ew-error").is_hidden()
