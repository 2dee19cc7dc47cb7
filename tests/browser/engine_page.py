"""The browser-engine tests' shared page: a JupyterLab server, a Chromium on a notebook with the widget,
scripts that measure the page's main thread, and the kernel-side comparison with the kernel engine."""

from __future__ import annotations

import json
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
from .pagetools import KERNEL_IDLE_JS, kernel_exec, kernel_json, wait_dataset, widget

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


def engine_lab(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[LabServer]:
    """A JupyterLab server on a fresh folder holding the quickstart notebook (for a module fixture)."""
    require_browser()
    root = tmp_path_factory.mktemp(name) / "work"
    root.mkdir()
    copy_notebook(root)
    with lab_server(root) as server:
        yield server


def open_notebook(
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


def engine_page(lab: LabServer, failure_shot: str) -> Iterator[tuple[Any, NetworkLog, list[str]]]:
    """The quickstart notebook run in a fresh Chromium: (page, network log, console lines)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    net = NetworkLog(allowed_prefixes=(lab.base + "/", f"ws://127.0.0.1:{lab.port}/"))
    console: list[str] = []
    with sync_playwright() as pw:
        pg = open_notebook(pw, lab, net, console, "01_quickstart.ipynb")
        try:
            yield pg, net, console
        except Exception:
            pg.screenshot(path=str(ARTIFACTS / failure_shot))
            raise
        finally:
            pg.context.browser.close()


def run_in_browser(
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


def compare(pg: Any, model: str, source: str = "photo", scale: int = 2, extra: str = "") -> dict[str, Any]:
    out, _ = kernel_exec(pg, COMPARE.format(model=model, source=source, scale=scale, extra=extra))
    assert not out.startswith("ERROR"), out
    cmp: dict[str, Any] = json.loads(out)
    return cmp
