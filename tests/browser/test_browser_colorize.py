"""Colorize in the browser engine (onnxruntime-web in the widget's Web Worker) in a real JupyterLab +
Debian Chromium: the same output as the kernel engine, and a first run in a fresh page, which
delivers the engine and the model, keeps the page's main thread responsive."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from .engine_page import (
    LONGTASK_JS,
    MAKE_IMAGES,
    compare,
    open_notebook,
    run_in_browser,
)
from .lab import ARTIFACTS, LabServer, NetworkLog
from .pagetools import dataset, kernel_exec, kernel_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_browser_engine_first_run_colorize_keeps_page_responsive(lab: LabServer) -> None:
    """A fresh page whose first browser-engine run is colorize: the engine's worker code,
    onnxruntime-web's WASM build (14 MB) and the 10 MB model all reach the page during that run.
    They come in 1 MiB messages, and the page passes each piece's own buffer on to the worker
    (transferred: nothing copied, hashed or allocated on the main thread), which joins them and
    checks the model's sha256; so the main thread never holds one 10-25 MB message.

    Measured (Debian Chromium, WASM, a shared 2-core machine), longest gap between 10 ms timer
    ticks / longest task ("longtask" entries): before, 456-672 ms / 275-375 ms (the assets in one
    25 MB message: its websocket frame ~150 ms, a copy of each buffer ~65 ms, hashing and
    structured-cloning them on the main thread, then a major GC ~130 ms); after, 55-84 ms / at most
    57 ms, and 244-366 ms / at most 105 ms while another Chromium test run loaded both cores (gaps
    with no long task: the renderer waiting for a core, not working). What is left is JupyterLab's
    own message handling and GC, and URL.createObjectURL for the worker (a synchronous call to the
    browser process: 15-25 ms, more when that process is busy). Both bounds leave room for that
    load; the long-task one still fails on the old behaviour."""
    from playwright.sync_api import sync_playwright

    shutil.copyfile(lab.root / "01_quickstart.ipynb", lab.root / "first_run.ipynb")
    net = NetworkLog(allowed_prefixes=(lab.base + "/", f"ws://127.0.0.1:{lab.port}/"))
    console: list[str] = []
    with sync_playwright() as pw:
        pg = open_notebook(pw, lab, net, console, "first_run.ipynb", workspace="first-run")
        try:
            pg.evaluate(LONGTASK_JS)
            setup = "w.task = 'colorize'; w.controls = {'strength': 1.0}; w.provider = 'wasm'"
            last, seconds, stall = run_in_browser(pg, "colorize-unet", setup)
            longtask = float(pg.evaluate("() => window.__ewLongtask.max"))
            assert last["engine"] == "browser" and last["model"] == "colorize-unet", last
            # a second run in the same page: nothing to deliver, the worker kept model and session
            again, _, stall2 = run_in_browser(pg, "colorize-unet", setup)
            assert again["load_ms"] < last["load_ms"], (again, last)
            print(
                f"\nfirst-run colorize in a fresh page: run {seconds:.1f} s, longest main-thread stall "
                f"{stall:.0f} ms, longest task {longtask:.0f} ms; second run: stall {stall2:.0f} ms"
            )
            assert stall < 500, f"the main thread stalled {stall:.0f} ms on a first colorize run"
            assert longtask < 250, f"one main-thread task took {longtask:.0f} ms on a first colorize run"
            assert stall2 < 500, f"the main thread stalled {stall2:.0f} ms"
            assert net.outside == [], net.outside
            assert not [c for c in console if c.startswith("pageerror")], console
        finally:
            # this notebook's kernel is not needed by the tests that follow
            pg.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
            pg.context.browser.close()


# colorize inputs made in the kernel: a crop of a second photo (320x480 in BSD100: the L plane is
# downscaled to the working size and a/b upscaled, the opposite of the 160x120 sample), grey and RGBA
BSD_IMAGE = "/work/shared/datasets/sr-benchmark/BSD100/img_001.png"
MAKE_COLORIZE_IMAGES = """
import numpy as np
from pathlib import Path
from PIL import Image
_bsd = Path({bsd!r})
if _bsd.is_file():
    Image.open(_bsd).convert("RGB").crop((0, 0, 320, 400)).save("bsd.png")
print("ok", _bsd.is_file())
"""


def test_browser_engine_colorize_agrees_with_kernel_engine(page: tuple[Any, NetworkLog, list[str]]) -> None:
    """Colorize ("global-lab": one whole-image call on CIELab L at the working size, a/b upsampled,
    the photo's own L kept) in the page, against the kernel engine: strength 1 and 0.5, a second
    photo, grey in -> RGB out, RGBA keeps its alpha, test-time augmentation.

    Measured (Debian Chromium, WASM), max abs diff on 0..255: sample 160x120 strength 1: 0,
    strength 0.5: 0; grey: 0; RGBA: 0 (alpha 0); TTA: 0; BSD100 img_001 crop 320x400 strength 1: 1,
    strength 0.5: 1. The L/a/b arithmetic and Pillow's bicubic/bilinear resampling are ported
    bit for bit (same float32 planes as colorize.py); what is left is onnxruntime vs
    onnxruntime-web on the model call."""
    pg, net, console = page
    out, _ = kernel_exec(pg, MAKE_IMAGES)
    assert out.strip() == "ok", out
    out, _ = kernel_exec(pg, MAKE_COLORIZE_IMAGES.format(bsd=BSD_IMAGE))
    assert out.strip().startswith("ok"), out
    has_bsd = out.strip() == "ok True"

    def colorize(
        source: str, strength: float, shape: list[int], mode: str = "RGB", quality: str = "balanced"
    ) -> dict[str, Any]:
        kernel_exec(pg, f"w.load({source})")
        setup = f"w.task = 'colorize'; w.controls = {{'strength': {strength}}}; w.quality = {quality!r}"
        last, seconds, stall = run_in_browser(pg, "colorize-unet", f"{setup}; w.provider = 'wasm'")
        assert last["engine"] == "browser" and last["model"] == "colorize-unet", last
        assert last["tiles"] == 1 and last["out_size"] == [shape[1], shape[0]], last
        # the one whole-image tile was painted before the result came
        assert int(dataset(pg, "tilesAtDone") or 0) >= 1
        extra = f"task='colorize', controls={{'strength': {strength}}}, quality={quality!r}"
        cmp = compare(pg, "colorize-unet", source=source, scale=1, extra=extra)
        print(f"\nbrowser engine colorize {source} strength {strength}: {cmp}")
        print(f"run {seconds:.1f} s, longest main-thread stall {stall:.0f} ms")
        assert cmp["same_size"] and cmp["shape"] == shape, cmp
        assert cmp["mode"] == cmp["kernel_mode"] == mode, cmp
        assert cmp["controls"] == {"strength": strength}, cmp
        assert cmp["max_diff"] <= 2, cmp
        return cmp

    try:
        colorize("photo", 1.0, [120, 160, 3])
        kernel_exec(pg, "_c10 = w.result.array.astype(int)")
        colorize("photo", 0.5, [120, 160, 3])
        # the strength really reaches the page: less chroma at 0.5
        diff = kernel_json(pg, "int(abs(w.result.array.astype(int) - _c10).max())")
        assert diff > 5, diff
        pg.screenshot(path=str(ARTIFACTS / "engine-browser-colorize.png"))
        # grey in -> RGB out, as the kernel engine writes it
        colorize("'grey.png'", 1.0, [120, 160, 3])
        # RGBA: alpha kept (unchanged: the output has the input's size)
        cmp = colorize("'rgba.png'", 1.0, [120, 160, 4], mode="RGBA")
        assert cmp["max_diff_alpha"] == 0, cmp
        # quality "best" with the model named: the 8 flips/rotations of L, a/b averaged
        cmp = colorize("photo", 1.0, [120, 160, 3], quality="best")
        assert cmp["tta"] is True, cmp
        if has_bsd:
            colorize("'bsd.png'", 1.0, [400, 320, 3])
            colorize("'bsd.png'", 0.5, [400, 320, 3])
    finally:
        kernel_exec(pg, "w.task = 'upscale'; w.controls = {}; w.quality = 'balanced'; w.load(photo)")
    assert net.outside == [], net.outside
    assert not [c for c in console if c.startswith("pageerror")], console
