"""Helpers that drive JupyterLab and the widget in a Playwright page."""

from __future__ import annotations

import json
from typing import Any

KERNEL_EXEC_JS = """
async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const t0 = performance.now();
  const future = kernel.requestExecute({ code, store_history: false, stop_on_error: true });
  let out = "";
  future.onIOPub = (msg) => {
    const c = msg.content;
    if (msg.header.msg_type === "stream") out += c.text;
    else if (msg.header.msg_type === "execute_result") out += c.data["text/plain"];
    else if (msg.header.msg_type === "error") out += `ERROR ${c.ename}: ${c.evalue}`;
  };
  await future.done;
  return { out, ms: performance.now() - t0 };
}
"""

KERNEL_IDLE_JS = """
() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const s = w && w.sessionContext && w.sessionContext.session;
  return Boolean(s && s.kernel && s.kernel.status === "idle" && w.content && w.content.widgets);
}
"""

# Sample the main canvas at the centre of output pixels around the view centre; returns the
# pixels read back and the output coordinates they show (from the view's data attributes).
CANVAS_SAMPLES_JS = """
([n, step]) => {
  const stage = document.querySelector(".ew-root .ew-stage");
  const canvas = stage.querySelector("canvas.ew-canvas-main");
  const ds = stage.dataset;
  const z = Number(ds.zoom), cx = Number(ds.cx), cy = Number(ds.cy);
  const [fw, fh] = ds.frame.split("x").map(Number);
  const ctx = canvas.getContext("2d");
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const out = [];
  const ix0 = Math.floor(cx) - Math.floor(n / 2) * step, iy0 = Math.floor(cy) - Math.floor(n / 2) * step;
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    const ix = ix0 + i * step, iy = iy0 + j * step;
    if (ix < 0 || iy < 0 || ix >= fw || iy >= fh) continue;
    const px = Math.floor((ix + 0.5 - cx) * z + canvas.width / 2);
    const py = Math.floor((iy + 0.5 - cy) * z + canvas.height / 2);
    if (px < 0 || py < 0 || px >= canvas.width || py >= canvas.height) continue;
    const k = (py * canvas.width + px) * 4;
    out.push([ix, iy, img[k], img[k + 1], img[k + 2]]);
  }
  const dpr = window.devicePixelRatio;
  return { samples: out, zoom: z, width: canvas.width, cssWidth: canvas.clientWidth, dpr };
}
"""


def kernel_exec(page: Any, code: str) -> tuple[str, float]:
    """Run ``code`` in the notebook's kernel; returns its printed output and the round trip in ms."""
    res = page.evaluate(KERNEL_EXEC_JS, code)
    return str(res["out"]), float(res["ms"])


def kernel_json(page: Any, expr: str) -> Any:
    out, _ = kernel_exec(page, f"import json as _j; print(_j.dumps({expr}))")
    if out.startswith("ERROR"):
        raise AssertionError(f"kernel error for {expr!r}: {out}")
    return json.loads(out)


def dataset(page: Any, key: str) -> str | None:
    value = page.evaluate(
        "(k) => { const r = document.querySelector('.ew-root'); return r ? r.dataset[k] : null }", key
    )
    return None if value is None else str(value)


def wait_dataset(page: Any, key: str, js_test: str, timeout_ms: float = 60_000) -> None:
    """Wait until ``js_test`` (an expression of ``v``, the root's data attribute) holds."""
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('.ew-root'); const v = r && r.dataset['{key}']; "
        f"return {js_test}; }}",
        timeout=timeout_ms,
    )


def widget(page: Any) -> Any:
    return page.locator(".ew-root").first


def set_control(page: Any, label: str, value: str) -> None:
    widget(page).get_by_label(label, exact=True).select_option(value)


def wait_plan(page: Any, js_test: str, timeout_ms: float = 20_000) -> None:
    """Wait until the plan's text (the summary line and the details in Advanced) satisfies
    ``js_test`` (an expression of ``t``)."""
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('.ew-root .ew-figures'); "
        f"const d = document.querySelector('.ew-root .ew-details'); "
        f"const t = (f ? f.textContent : '') + ' ' + (d ? d.textContent : ''); "
        f"return {js_test}; }}",
        timeout=timeout_ms,
    )


def canvas_samples(page: Any, n: int = 9, step: int = 3) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(CANVAS_SAMPLES_JS, [n, step])
    return result


ADD_CELL_JS = """
async (code) => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  await app.commands.execute("notebook:insert-cell-below");
  nb.activeCell.model.sharedModel.setSource(code);
  await app.commands.execute("notebook:run-cell");
}
"""


def add_cell(page: Any, code: str) -> None:
    """Append a code cell to the open notebook and run it (e.g. a second view: ``w``)."""
    page.evaluate(ADD_CELL_JS, code)


# In side-by-side mode: the output pixel at the view centre, as each canvas shows it.
SIDE_PIXELS_JS = """
() => {
  const stage = document.querySelector(".ew-root .ew-stage");
  const ds = stage.dataset;
  const z = Number(ds.zoom), cx = Number(ds.cx), cy = Number(ds.cy);
  const ix = Math.floor(cx), iy = Math.floor(cy);
  const read = (canvas) => {
    const px = Math.floor((ix + 0.5 - cx) * z + canvas.width / 2);
    const py = Math.floor((iy + 0.5 - cy) * z + canvas.height / 2);
    return Array.from(canvas.getContext("2d").getImageData(px, py, 1, 1).data.slice(0, 3));
  };
  const [a, b] = stage.querySelectorAll("canvas");
  return { ix, iy, zoom: z, before: read(a), after: read(b), widths: [a.width, b.width] };
}
"""


def side_pixels(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(SIDE_PIXELS_JS)
    return result
