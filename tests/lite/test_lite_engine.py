"""JupyterLite end to end, offline, as a user meets it: the site built by scripts/build_lite.sh
opens on its welcome notebook, which runs with no setup cell (enhance-widget is loaded with the
Pyodide kernel: no numpy, Pillow or onnxruntime there). A JPEG photo (EXIF-rotated) is uploaded
through the file browser and every task whose default model the package ships runs on it in the
browser engine; each result agrees with the kernel engine's on the same input, model and plan
(computed here, in the same run) within 2/255. A task's model file is fetched from the site when
that task first runs, not before. No request leaves 127.0.0.1. One screenshot per
task: artifacts/lite-<task>.png."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, NetworkLog, free_port, require_browser
from tests.browser.pagetools import KERNEL_IDLE_JS, add_cell, kernel_exec, kernel_json, widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SITE = Path(os.environ.get("ENHANCE_WIDGET_LITE_SITE", REPO / "build" / "lite" / "site"))
MANIFEST = json.loads((REPO / "models" / "manifest.json").read_text())
CARDS = {e["id"]: e for e in MANIFEST["models"]}


def _bundled(model_id: str) -> bool:
    card = CARDS[model_id]
    return all(_bundled(c) for c in card["chain"]) if card.get("chain") else bool(card.get("bundled"))


def _runs() -> list[tuple[str, int | None, str]]:
    out = []
    for task, spec in MANIFEST["tasks"].items():
        for scale, model_id in spec["default"].items():
            out.append((task, int(scale) if task == "upscale" else None, model_id))
    return out


def _photo_jpeg() -> bytes:
    """A 64x48 crop of a real photo, stored as 48x64 with EXIF orientation 6 (as phones do)."""
    img = Image.open(REPO / "models" / "eval" / "chelsea.png").convert("RGB").crop((90, 90, 154, 138))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 64x48 upright
    out = io.BytesIO()
    img.transpose(Image.Transpose.ROTATE_90).save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


@contextmanager
def serve_site(directory: Path = SITE) -> Iterator[str]:
    """Serve the built site on 127.0.0.1 (Python's http.server); yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    require_browser()
    if not (SITE / "lab" / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no JupyterLite site at {SITE}: run scripts/build_lite.sh first")
        pytest.skip(f"no JupyterLite site at {SITE} (bash scripts/build_lite.sh builds it)")
    with serve_site() as base:
        yield base


def _wait_status(pg: Any, timeout_s: float) -> str:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        status = str(kernel_json(pg, "w.status"))
        if status in ("done", "error", "cancelled"):
            return status
        time.sleep(1.0)
    raise AssertionError(f"the run did not finish in {timeout_s} s")


def test_lite_welcome_notebook_runs_every_task_on_an_uploaded_jpeg(site: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from enhance_widget import enhance
    from enhance_widget.provenance import pixels_sha256
    from enhance_widget.replay import replay

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(_photo_jpeg())
    runs = [r for r in _runs() if _bundled(r[2])]
    net = NetworkLog(allowed_prefixes=(site + "/",))
    results: dict[str, Any] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
            ctx.route("**/*", net.route)
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            fetched: list[str] = []  # model files the page fetched from the site, in order
            pg.on(
                "request",
                lambda r: (
                    fetched.append(r.url.rsplit("/", 1)[1]) if "/enhance-widget-models/" in r.url else None
                ),
            )
            t0 = time.monotonic()
            pg.goto(f"{site}/")  # the site's front page opens the welcome notebook
            pg.wait_for_function(KERNEL_IDLE_JS, timeout=180_000)
            opened = pg.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
            assert opened == "welcome.ipynb", opened
            pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            widget(pg).wait_for(state="visible", timeout=180_000)
            boot_s = time.monotonic() - t0
            errors = pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, errors.first.inner_text()
            # every task is offered (a task without a shipped model says it is optional)
            tasks = kernel_json(pg, "[t['id'] for t in w.tasks]") if _has(pg, "tasks") else None
            if tasks is not None:
                assert set(tasks) == set(MANIFEST["tasks"]), tasks
            # upload the JPEG through the file browser
            with pg.expect_file_chooser() as chooser:
                pg.locator(".jp-FileBrowser [title^='Upload']").first.click()
            chooser.value.set_files(str(jpeg))
            pg.locator(".jp-DirListing-item", has_text="photo.jpg").first.wait_for(timeout=60_000)
            pg.evaluate(
                "() => window.jupyterapp.commands.execute('docmanager:open', {path: 'welcome.ipynb'})"
            )
            pg.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
            out, _ = kernel_exec(pg, "w.load('photo.jpg'); print(w.engine, *w.source_size)")
            assert out.split() == ["browser", "64", "48"], out  # EXIF orientation applied (stored 48x64)
            assert fetched == [], fetched  # no model bytes before a task runs
            for task, scale, model_id in runs:
                tag = f"{task}{scale or ''}"
                before = set(fetched)
                setup = f"w.task = {task!r}; " + (f"w.scale = {scale}; " if scale else "") + "w.tile = '64'"
                kernel_exec(pg, setup)
                estimate = kernel_json(pg, "w.plan.get('seconds')")
                t_run = time.monotonic()
                kernel_exec(pg, "w.run()")
                status = _wait_status(pg, 600)
                seconds = time.monotonic() - t_run
                assert status == "done", kernel_json(pg, "w.error")
                rec = kernel_json(pg, "w.result.record")
                # this task's model files were fetched now (once), and nothing else
                files = {CARDS[p["id"]]["file"] for p in rec["model"]["passes"]}
                assert set(fetched) - before <= files and files <= set(fetched), (tag, fetched)
                assert len(fetched) == len(set(fetched)), fetched
                b64 = kernel_json(pg, "__import__('base64').b64encode(w.result.png).decode()")
                pg.screenshot(path=str(ARTIFACTS / f"lite-{tag}.png"))
                results[tag] = (model_id, rec, b64, seconds, estimate)
            # Cancel: x4 of the sample in 48-px tiles, cancelled once two tiles are done, stops
            # after the tile in flight (a WASM session.run cannot be interrupted): one more at most
            kernel_exec(pg, "w.task = 'upscale'; w.scale = 4; w.tile = '48'; w.load(sample())")
            kernel_exec(pg, "w.run()")
            while int(kernel_json(pg, "w.progress.get('done', 0)")) < 2:
                time.sleep(0.05)
            t_cancel = time.monotonic()
            out, _ = kernel_exec(
                pg, "print(w.progress.get('done'), w.progress.get('total')); _c = w.cancel()"
            )
            assert _wait_status(pg, 60) == "cancelled"
            cancel_s = time.monotonic() - t_cancel
            done_at_cancel, total = (int(v) for v in out.split())
            after = int(kernel_json(pg, "w.progress.get('done', 0)"))
            assert after <= done_at_cancel + 1 < total, (done_at_cancel, after, total)
            # a run asked for in the cell that first shows the widget (before any view exists)
            # starts when the view appears
            add_cell(pg, "w2 = EnhanceWidget(sample(), scale=2, tile='64'); w2.run(); w2")
            end = time.monotonic() + 300
            while kernel_json(pg, "globals().get('w2') is not None and w2.status") not in ("done", "error"):
                assert time.monotonic() < end, kernel_json(pg, "w2.progress")
                time.sleep(0.5)
            assert kernel_json(pg, "[w2.status, list(w2.result.size)]") == ["done", [320, 240]]
            total_s = time.monotonic() - t0
        finally:
            browser.close()
    lines = [
        f"\nJupyterLite: kernel + welcome notebook {boot_s:.1f} s, all {total_s:.1f} s; "
        f"cancel took {cancel_s:.2f} s (tile {done_at_cancel + 1} of {total} in flight)"
    ]
    for task, scale, model_id in runs:
        tag = f"{task}{scale or ''}"
        _, rec, b64, seconds, estimate = results[tag]
        assert rec["engine"] == "browser" and rec["model"]["id"] == model_id, rec["model"]
        assert rec["runtime"]["provider"] == "wasm"
        lite = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=np.int16)
        ref = enhance(jpeg, task=task, scale=scale, tile=64, overlap=16)
        assert ref.record["model"]["id"] == model_id
        assert lite.shape == (*ref.array.shape[:2], 3), (tag, lite.shape, ref.array.shape)
        diff = int(np.abs(lite - np.asarray(ref.image.convert("RGB"), dtype=np.int16)).max())
        lines.append(
            f"  {tag}: {model_id} {lite.shape[1]}x{lite.shape[0]} max diff {diff}/255, "
            f"run {seconds:.1f} s (estimate {estimate})"
        )
        assert diff <= 2, (tag, diff)
        # the page's record is the kernel's kind of record: it names the same input and output
        # pixels, and replay() re-runs it here (onnxruntime; within 2/255 of the page)
        page_px = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))
        assert rec["output"]["pixels_sha256"] == pixels_sha256(np.ascontiguousarray(page_px).tobytes())
        assert rec["input"]["pixels_sha256"] == ref.record["input"]["pixels_sha256"], tag
        again = replay(rec, jpeg)
        assert (
            again.record["model"] == rec["model"] and again.record["plan"]["passes"] == rec["plan"]["passes"]
        )
        assert int(np.abs(again.array.astype(np.int16) - page_px.astype(np.int16)).max()) <= 2, tag
    print("\n".join(lines))
    assert net.outside == [], net.outside
    missing = [(t, m) for t, _, m in _runs() if not _bundled(m)]
    if missing:  # until the light deblur model lands, deblur's default (MAXIM, 97 MB) is not shipped
        pytest.xfail(f"task defaults not in the package yet: {missing}")


def _has(pg: Any, trait: str) -> bool:
    return bool(kernel_json(pg, f"hasattr(w, {trait!r})"))
