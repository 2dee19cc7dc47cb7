"""The widget's synced state: every trait the view reads or sets (controls, images, what the view
shows) and the front-end bundle. ``EnhanceWidget`` (``widget.py``) adds what the widget does."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets as t

from .browser import STATIC

_UNBUILT_ESM = (
    "export default { render({ el }) { el.textContent = 'enhance-widget: the front end is not built; "
    "run `npm ci && npm run build` in js/ (or pip install the package).'; } };"
)


def _asset(name: str, fallback: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else fallback


class WidgetState(anywidget.AnyWidget):
    """The traits of :class:`~enhance_widget.EnhanceWidget`: the state that survives a re-render."""

    _esm = _asset("widget.js", _UNBUILT_ESM)
    _css = _asset("widget.css", "")

    # controls
    task = t.Unicode("upscale").tag(sync=True)
    model = t.Unicode("", help="model id; empty: chosen by the quality mode").tag(sync=True)
    scale = t.Int(4).tag(sync=True)
    tile = t.Unicode("auto", help="'auto', 'whole' or a tile side in input pixels").tag(sync=True)
    overlap = t.Int(16).tag(sync=True)
    quality = t.Unicode("balanced", help="'fast', 'balanced' or 'best' (see the manifest's modes)").tag(
        sync=True
    )
    engine = t.Unicode(
        "kernel", help="'kernel' (Python, onnxruntime) or 'browser' (onnxruntime-web in the page)"
    ).tag(sync=True)
    provider = t.Unicode(
        "auto",
        help="browser engine: 'auto' (WebGPU on a hardware adapter, else WASM), 'webgpu', 'wasm'",
    ).tag(sync=True)
    controls = t.Dict(
        {},
        help="the model's controls, e.g. {'strength': 25} (restore's noise level); names and ranges "
        "in control_specs (from the manifest), checked when set (ControlValueError)",
    ).tag(sync=True)
    control_specs = t.List(t.Dict(), []).tag(sync=True)
    # images (encoded bytes, sent as binary buffers)
    source_name = t.Unicode("").tag(sync=True)
    source_bytes = t.Bytes(b"").tag(sync=True)
    source_size = t.List(t.Int(), []).tag(sync=True)
    source_colour = t.Bool(False, help="the photo has colours (colorize would replace them)").tag(sync=True)
    result_png = t.Bytes(b"").tag(sync=True)
    # what the view shows
    models = t.List(t.Dict(), []).tag(sync=True)
    qualities = t.List(t.Dict(), []).tag(sync=True)
    tasks = t.List(t.Dict(), []).tag(sync=True)
    plan = t.Dict({}).tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    progress = t.Dict({}).tag(sync=True)
    error = t.Dict({}).tag(sync=True)
    last_run = t.Dict({}).tag(sync=True)
    saved_path = t.Unicode("").tag(sync=True)


__all__ = ["WidgetState"]
