"""JupyterLite end to end, offline: the site built by scripts/build_lite.sh (Pyodide, the project
wheel, no numpy/Pillow/onnxruntime in the kernel) runs the default model with the browser engine
on the bundled sample (provider "auto": no WebGPU adapter here, so wasm, and the record says
why); the result matches the kernel engine's, computed here in the same run;
no request leaves 127.0.0.1. A screenshot goes to artifacts/lite-engine.png."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.browser.lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, NetworkLog, free_port, require_browser
from tests.browser.pagetools import KERNEL_IDLE_JS, kernel_exec, wait_dataset, widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SITE = Path(os.environ.get("ENHANCE_WIDGET_LITE_SITE", REPO / "build" / "lite" / "site"))


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    require_browser()
    if not (SITE / "lab" / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no JupyterLite site at {SITE}: run scripts/build_lite.sh first")
        pytest.skip(f"no JupyterLite site at {SITE} (bash scripts/build_lite.sh builds it)")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(SITE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                import urllib.request

                urllib.request.urlopen(base + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def test_lite_browser_engine_matches_kernel_engine(site: str) -> None:
    from playwright.sync_api import sync_playwright

    from enhance_widget import enhance
    from enhance_widget.catalog import sample_image_path

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    net = NetworkLog(allowed_prefixes=(site + "/",))
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
            ctx.route("**/*", net.route)
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            pg.goto(f"{site}/lab/index.html?path=lite_engine.ipynb")
            pg.wait_for_function(KERNEL_IDLE_JS, timeout=180_000)
            pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            pg.get_by_text("LITE-READY").first.wait_for(timeout=180_000)
            ready = pg.get_by_text("LITE-READY").first.inner_text()
            assert ready.split()[1:] == ["browser", "idealo-psnr-small-x2", "9"], ready
            widget(pg).wait_for(state="visible")
            t_run = time.monotonic()
            out, _ = kernel_exec(pg, "print(w.run())")
            assert out.strip() == "1", out
            wait_dataset(pg, "status", "v === 'done' || v === 'error'", 300_000)
            run_s = time.monotonic() - t_run
            out, _ = kernel_exec(
                pg,
                "import base64; r = w.result; print(r.record['runtime']['provider_note']); "
                "print(type(r).__name__, r.record['engine'], r.record['runtime']['provider'], "
                "base64.b64encode(r.png).decode())",
            )
            pg.screenshot(path=str(ARTIFACTS / "lite-engine.png"))
        finally:
            browser.close()
    note, line = out.strip().split("\n")
    kind, engine, provider, b64 = line.split()
    # provider "auto" (the default): this headless Chromium (no --enable-unsafe-webgpu) has
    # navigator.gpu but no adapter, so the page never asks for the WebGPU build and runs on wasm
    assert (kind, engine, provider) == ("PngResult", "browser", "wasm"), out[:300]
    assert note == "this browser has no WebGPU adapter (requestAdapter() returned null); ran on wasm", note
    from PIL import Image

    lite = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=np.int16)
    ref = enhance(sample_image_path(), scale=2, model="idealo-psnr-small-x2", tile=64, overlap=16)
    assert lite.shape == ref.array.shape
    diff = int(np.abs(lite - ref.array.astype(np.int16)).max())
    print(
        f"\nJupyterLite browser engine: max diff {diff}, run {run_s:.1f} s, "
        f"total {time.monotonic() - t0:.1f} s"
    )
    assert diff <= 2
    assert net.outside == [], net.outside
