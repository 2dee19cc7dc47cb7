"""The browser engine (onnxruntime-web in a Web Worker of the widget) against the kernel engine in
a real JupyterLab + Debian Chromium: same input, model and plan; outputs within 2/255, same size
and mode (RGBA keeps its alpha, grey stays grey); models with extra inputs (FFDNet), test-time
augmentation, and WebGPU (Chromium's SwiftShader adapter, `--enable-unsafe-webgpu`); the main
thread stays responsive; nothing leaves the local server."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .lab import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    NetworkLog,
    copy_notebook,
    lab_server,
    require_browser,
)
from .pagetools import KERNEL_IDLE_JS, dataset, kernel_exec, kernel_json, wait_dataset, widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the longest gap between 10 ms timer ticks on the page's main thread while the engine runs
STALL_JS = """
() => {
  const s = { max: 0, last: performance.now(), ticks: 0 };
  s.id = setInterval(() => {
    const now = performance.now();
    s.max = Math.max(s.max, now - s.last);
    s.last = now;
    s.ticks += 1;
  }, 10);
  window.__ewStall = s;
}
"""

# the longest task the page's main thread ran (PerformanceObserver "longtask": tasks over 50 ms)
LONGTASK_JS = """
() => {
  const s = { max: 0 };
  s.observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) s.max = Math.max(s.max, e.duration);
  });
  s.observer.observe({ type: "longtask" });
  window.__ewLongtask = s;
}
"""

COMPARE = """
import json, numpy as np
from enhance_widget import enhance
_k = enhance({source}, scale={scale}, model={model!r}, tile=64, overlap=w.overlap, {extra})
_b = w.result
_a, _r = np.asarray(_b.array, dtype=np.int16), np.asarray(_k.array, dtype=np.int16)
_d = np.abs(_a - _r) if _a.shape == _r.shape else None
print(json.dumps({{
    "same_size": _a.shape == _r.shape, "shape": list(_a.shape), "kernel_shape": list(_r.shape),
    "max_diff": int(_d.max()) if _d is not None else None,
    "max_diff_alpha": int(_d[..., 3].max()) if _d is not None and _d.ndim == 3 and _d.shape[2] == 4 else None,
    "mode": _b.image.mode, "kernel_mode": _k.image.mode,
    "engine": _b.record["engine"], "provider": _b.record["runtime"]["provider"],
    "note": _b.record["runtime"]["provider_note"], "tta": _b.record["options"]["tta"],
    "controls": _b.record["options"]["controls"],
    "runtime": _b.record["runtime"]["name"], "tiles": len(_b.record["tile_ms"]),
    "plan_tiles": _k.record["plan"]["total_tiles"], "browser_ms": _b.record["total_ms"],
}}))
"""

# test images made in the kernel from the sample: RGBA with a ramp of alpha (fully transparent
# rows and translucent columns, whose colours must survive), grey, and a small crop for WebGPU
MAKE_IMAGES = """
import numpy as np
from PIL import Image
_im = Image.open(photo).convert("RGB")
_a = np.asarray(_im)
_alpha = np.tile(np.linspace(0, 255, _a.shape[1]).astype(np.uint8), (_a.shape[0], 1))
_alpha[:12] = 0
_alpha[-12:] = 255
Image.fromarray(np.dstack([_a, _alpha]), "RGBA").save("rgba.png")
_im.convert("L").save("grey.png")
_im.crop((40, 40, 72, 64)).save("small.png")
print("ok")
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    require_browser()
    root = tmp_path_factory.mktemp("lab-engine") / "work"
    root.mkdir()
    copy_notebook(root)
    with lab_server(root) as server:
        yield server


def _open_notebook(
    pw: Any, lab: LabServer, net: NetworkLog, console: list[str], notebook: str, workspace: str = ""
) -> Any:
    """A fresh Chromium on ``notebook`` (in the lab's root), all of its cells run, the widget shown
    (``workspace``: a JupyterLab workspace of its own, so the default one does not reopen it)."""
    # --enable-unsafe-webgpu: Chromium's SwiftShader (CPU) WebGPU adapter, even headless
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--enable-unsafe-webgpu"])
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    ctx.route("**/*", net.route)
    pg = ctx.new_page()
    pg.on(
        "websocket",
        lambda ws: None if ws.url.startswith(net.allowed_prefixes) else net.outside.append(ws.url),
    )
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    pg.on("worker", lambda wk: console.append(f"worker: {wk.url[:40]}"))
    pg.set_default_timeout(60_000)
    pg.goto(lab.url(f"lab/workspaces/{workspace}/tree/{notebook}" if workspace else f"lab/tree/{notebook}"))
    pg.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
    pg.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    widget(pg).wait_for(state="visible", timeout=60_000)
    wait_dataset(pg, "beforeReady", "v === '1'")
    return pg


@pytest.fixture(scope="module")
def page(lab: LabServer) -> Iterator[tuple[Any, NetworkLog, list[str]]]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    net = NetworkLog(allowed_prefixes=(lab.base + "/", f"ws://127.0.0.1:{lab.port}/"))
    console: list[str] = []
    with sync_playwright() as pw:
        pg = _open_notebook(pw, lab, net, console, "01_quickstart.ipynb")
        try:
            yield pg, net, console
        except Exception:
            pg.screenshot(path=str(ARTIFACTS / "engine-failure.png"))
            raise
        finally:
            pg.context.browser.close()


def _run_in_browser(
    pg: Any, model: str, setup: str = "w.scale = 2; w.provider = 'wasm'", timeout_ms: float = 300_000
) -> tuple[dict[str, Any], float, float]:
    out, _ = kernel_exec(pg, f"w.engine = 'browser'; w.model = {model!r}; w.tile = '64'; {setup}")
    assert not out.startswith("ERROR"), out
    pg.evaluate(STALL_JS)
    t0 = time.monotonic()
    out, _ = kernel_exec(pg, "print(w.run())")
    assert out.strip().isdigit(), out
    wait_dataset(pg, "status", "v === 'done' || v === 'error'", timeout_ms)
    seconds = time.monotonic() - t0
    stall = pg.evaluate("() => { clearInterval(window.__ewStall.id); return window.__ewStall.max; }")
    state = kernel_json(pg, "[w.status, w.error, w.last_run]")
    assert state[0] == "done", state
    return state[2], seconds, float(stall)


def _compare(pg: Any, model: str, source: str = "photo", scale: int = 2, extra: str = "") -> dict[str, Any]:
    out, _ = kernel_exec(pg, COMPARE.format(model=model, source=source, scale=scale, extra=extra))
    assert not out.startswith("ERROR"), out
    import json

    cmp: dict[str, Any] = json.loads(out)
    return cmp


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
        pg = _open_notebook(pw, lab, net, console, "first_run.ipynb", workspace="first-run")
        try:
            pg.evaluate(LONGTASK_JS)
            setup = "w.task = 'colorize'; w.controls = {'strength': 1.0}; w.provider = 'wasm'"
            last, seconds, stall = _run_in_browser(pg, "colorize-unet", setup)
            longtask = float(pg.evaluate("() => window.__ewLongtask.max"))
            assert last["engine"] == "browser" and last["model"] == "colorize-unet", last
            # a second run in the same page: nothing to deliver, the worker kept model and session
            again, _, stall2 = _run_in_browser(pg, "colorize-unet", setup)
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


def test_browser_engine_agrees_with_kernel_engine(page: tuple[Any, NetworkLog, list[str]]) -> None:
    pg, net, console = page
    last, seconds, stall = _run_in_browser(pg, "esrgan-slim-x2")
    assert last["engine"] == "browser" and last["provider"] == "wasm", last
    assert last["provider_note"] == "", last  # wasm was asked for
    assert int(dataset(pg, "tilesAtDone") or 0) >= 4  # tiles were painted live, before the result
    text = widget(pg).locator(".ew-status").inner_text()
    assert "browser engine" in text and "wasm" in text, text
    pg.screenshot(path=str(ARTIFACTS / "engine-browser-done.png"))
    cmp = _compare(pg, "esrgan-slim-x2")
    print(f"\nbrowser engine esrgan-slim-x2: {cmp} run {seconds:.1f} s, longest stall {stall:.0f} ms")
    assert cmp["same_size"] and cmp["shape"] == [240, 320, 3], cmp
    assert cmp["max_diff"] <= 2, cmp
    assert cmp["engine"] == "browser" and cmp["runtime"] == "onnxruntime-web"
    assert cmp["tiles"] == cmp["plan_tiles"]
    assert stall < 500, f"the main thread stalled {stall:.0f} ms"
    assert net.outside == [], net.outside
    assert not [c for c in console if c.startswith("pageerror")], console


def test_browser_engine_default_model_and_cancel(page: tuple[Any, NetworkLog, list[str]]) -> None:
    pg, net, _ = page
    # cancel: stops within one tile, nothing kept, the widget usable again
    kernel_exec(pg, "w.engine = 'browser'; w.model = 'idealo-psnr-small-x2'; w.scale = 2; w.tile = '64'")
    kernel_exec(pg, "w.provider = 'wasm'")
    kernel_exec(pg, "w.run()")
    wait_dataset(pg, "tilesPainted", "Number(v) >= 1", 120_000)
    kernel_exec(pg, "w.cancel()")
    wait_dataset(pg, "status", "v === 'cancelled'", 60_000)
    # the default model (sent once, already verified) agrees too
    last, seconds, stall = _run_in_browser(pg, "idealo-psnr-small-x2")
    assert last["engine"] == "browser"
    cmp = _compare(pg, "idealo-psnr-small-x2")
    print(f"\nbrowser engine idealo-psnr-small-x2: {cmp} run {seconds:.1f} s, longest stall {stall:.0f} ms")
    assert cmp["same_size"] and cmp["max_diff"] <= 2, cmp
    assert stall < 500
    assert net.outside == [], net.outside


def test_browser_engine_feeds_extra_inputs_ffdnet(page: tuple[Any, NetworkLog, list[str]]) -> None:
    """FFDNet's sigma input, from the strength control, fed as the kernel engine feeds it."""
    pg, net, _ = page
    last, seconds, _ = _run_in_browser(
        pg, "ffdnet-color", "w.task = 'restore'; w.controls = {'strength': 25}; w.provider = 'wasm'"
    )
    assert last["model"] == "ffdnet-color" and last["provider"] == "wasm", last
    cmp = _compare(pg, "ffdnet-color", scale=1, extra="task='restore', controls={'strength': 25}")
    print(f"\nbrowser engine ffdnet-color strength 25: {cmp} run {seconds:.1f} s")
    assert cmp["same_size"] and cmp["shape"] == [120, 160, 3], cmp
    assert cmp["max_diff"] <= 2, cmp
    assert cmp["controls"] == {"strength": 25.0}, cmp
    # a different strength gives a different result: the input is really fed
    kernel_exec(pg, "_b25 = w.result.array.copy()")
    _run_in_browser(
        pg, "ffdnet-color", "w.task = 'restore'; w.controls = {'strength': 60}; w.provider = 'wasm'"
    )
    diff = kernel_json(pg, "int(abs(w.result.array.astype(int) - _b25.astype(int)).max())")
    assert diff > 10, diff
    kernel_exec(pg, "w.task = 'upscale'; w.controls = {}")
    assert net.outside == [], net.outside


def test_browser_engine_keeps_alpha_and_grey(page: tuple[Any, NetworkLog, list[str]]) -> None:
    """RGBA in -> RGBA out (alpha resized apart with Lanczos, as Pillow does); grey in -> grey out."""
    pg, net, _ = page
    out, _ = kernel_exec(pg, MAKE_IMAGES)
    assert out.strip() == "ok", out
    try:
        kernel_exec(pg, "w.load('rgba.png')")
        last, _, _ = _run_in_browser(pg, "esrgan-slim-x2")
        assert last["out_size"] == [320, 240], last
        cmp = _compare(pg, "esrgan-slim-x2", source="'rgba.png'")
        print(f"\nbrowser engine RGBA: {cmp}")
        assert cmp["same_size"] and cmp["shape"] == [240, 320, 4], cmp
        assert cmp["mode"] == cmp["kernel_mode"] == "RGBA", cmp
        # colour within 2/255 everywhere (transparent pixels included); alpha within 1/255
        assert cmp["max_diff"] <= 2 and cmp["max_diff_alpha"] <= 1, cmp
        kernel_exec(pg, "w.load('grey.png')")
        _run_in_browser(pg, "esrgan-slim-x2")
        cmp = _compare(pg, "esrgan-slim-x2", source="'grey.png'")
        print(f"browser engine grey: {cmp}")
        assert cmp["same_size"] and cmp["shape"] == [240, 320], cmp
        assert cmp["mode"] == cmp["kernel_mode"] == "L", cmp
        assert cmp["max_diff"] <= 2, cmp
    finally:
        kernel_exec(pg, "w.load(photo)")
    assert net.outside == [], net.outside


def test_browser_engine_test_time_augmentation(page: tuple[Any, NetworkLog, list[str]]) -> None:
    """quality "best": the 8 flips/rotations averaged, as runtimes/tta.py does."""
    pg, net, _ = page
    try:
        last, seconds, _ = _run_in_browser(
            pg, "esrgan-slim-x2", "w.scale = 2; w.quality = 'best'; w.provider = 'wasm'"
        )
        assert last["tta"] is True, last
        cmp = _compare(pg, "esrgan-slim-x2", extra="quality='best'")
        print(f"\nbrowser engine TTA: {cmp} run {seconds:.1f} s")
        assert cmp["tta"] is True and cmp["same_size"] and cmp["max_diff"] <= 2, cmp
    finally:
        kernel_exec(pg, "w.quality = 'balanced'")
    assert net.outside == [], net.outside


def test_browser_engine_webgpu_default_model(page: tuple[Any, NetworkLog, list[str]]) -> None:
    """The default model on WebGPU (SwiftShader's adapter: a CPU emulation, so slow: a small crop);
    "auto" passes that software adapter by, with the reason in the record."""
    pg, net, console = page
    adapter = pg.evaluate("async () => Boolean(navigator.gpu && await navigator.gpu.requestAdapter())")
    assert adapter, "Chromium with --enable-unsafe-webgpu gave no WebGPU adapter"
    out, _ = kernel_exec(pg, MAKE_IMAGES)
    assert out.strip() == "ok", out
    try:
        kernel_exec(pg, "w.load('small.png')")
        # "auto" does not pick a software adapter (SwiftShader: ~70x slower than wasm here) and says so
        last, _, _ = _run_in_browser(pg, "idealo-psnr-small-x2", "w.scale = 2; w.provider = 'auto'")
        assert last["provider"] == "wasm", last
        assert last["provider_note"] == (
            "the only WebGPU adapter is a software one (SwiftShader), slower than wasm; ran on wasm"
        ), last
        # "webgpu" forces it: the real WebGPU execution provider, on SwiftShader's adapter
        last, seconds, stall = _run_in_browser(
            pg, "idealo-psnr-small-x2", "w.scale = 2; w.provider = 'webgpu'", timeout_ms=480_000
        )
        assert last["provider"] == "webgpu" and last["provider_note"] == "", last
        text = widget(pg).locator(".ew-status").inner_text()
        assert "webgpu" in text, text
        cmp = _compare(pg, "idealo-psnr-small-x2", source="'small.png'")
        print(f"\nbrowser engine WebGPU (SwiftShader) idealo-psnr-small-x2 32x24: {cmp} run {seconds:.1f} s")
        assert cmp["provider"] == "webgpu" and cmp["same_size"] and cmp["shape"] == [48, 64, 3], cmp
        assert cmp["max_diff"] <= 2, cmp
        # no stall bound here: SwiftShader runs the "GPU" on this machine's (2) CPU cores, beside
        # the page; the wasm tests above bound the engine's own stalls
        print(f"longest main-thread stall with SwiftShader busy: {stall:.0f} ms")
    finally:
        kernel_exec(pg, "w.load(photo); w.provider = 'auto'")
    assert net.outside == [], net.outside
    assert not [c for c in console if c.startswith("pageerror")], console


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
        last, seconds, stall = _run_in_browser(pg, "colorize-unet", f"{setup}; w.provider = 'wasm'")
        assert last["engine"] == "browser" and last["model"] == "colorize-unet", last
        assert last["tiles"] == 1 and last["out_size"] == [shape[1], shape[0]], last
        # the one whole-image tile was painted before the result came
        assert int(dataset(pg, "tilesAtDone") or 0) >= 1
        extra = f"task='colorize', controls={{'strength': {strength}}}, quality={quality!r}"
        cmp = _compare(pg, "colorize-unet", source=source, scale=1, extra=extra)
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
