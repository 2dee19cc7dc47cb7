"""Custom-message protocol between the widget's kernel side and its front end.

Persistent state lives in traits (see ``state.py``); transient data travels as custom messages:
a JSON part whose ``kind`` is one of the constants below, plus binary buffers (raw bytes, never text-encoded).
``js/src/protocol.ts`` holds the same constants; ``tests/test_widget_protocol.py`` keeps the two
files in sync, so add a kind to both.
"""

from __future__ import annotations

from typing import Any, Final

# front end -> kernel
RUN: Final = "run"
"""Start a job with the current traits. ``{"kind", "id"}``."""
CANCEL: Final = "cancel"
"""Stop the running job within one tile. ``{"kind", "id"}``."""
SAVE: Final = "save"
"""Write the last result next to the source. ``{"kind", "id"}``."""
HELLO: Final = "hello"
"""A view appeared: resend the tiles of the running job (re-render, second view)."""
USE_TILE: Final = "use-tile"
"""Apply the suggested tile size of the plan. ``{"kind", "id", "tile"}``."""
OPEN: Final = "open"
"""A photo the user opened in the view (picker, drop, paste): ``{"kind", "id", "name", "offset",
"size"}`` and one buffer, the file's bytes at ``offset`` (``size`` in all; pieces in order)."""

ENGINE_NEED: Final = "engine-need"
"""Browser engine: a view claims job ``job`` and asks for what the page lacks.
``{"kind", "job", "view", "wasm": bool, "models": [sha256, ...]}``."""
ENGINE_TILE: Final = "engine-tile"
"""Browser engine progress: ``{"kind", "job", "index", "total", "ms"}`` (the view painted it)."""
ENGINE_DONE: Final = "engine-done"
"""Browser engine result: ``{"kind", "job", "provider", "version", "tile_ms", "pass_ms", "load_ms",
"out_size"}`` and one buffer, the encoded PNG."""
ENGINE_CANCELLED: Final = "engine-cancelled"
"""``{"kind", "job", "after_tiles"}``."""
ENGINE_ERROR: Final = "engine-error"
"""``{"kind", "job", "type", "message"}``."""

# kernel -> front end
RUN_STARTED: Final = "run-started"
"""``{"kind", "id", "job", "total", "out_size", "passes": [{"out_size", "cores"}]}``."""
TILE: Final = "tile"
"""One finished tile: JSON ``{"kind", "job", "index", "total", "pass", "passes", "region",
"out_size", "ms"}`` and one buffer of ``w*h*4`` RGBA uint8 bytes (``region`` is x0, y0, x1, y1
in the pass's output pixels)."""
RUN_DONE: Final = "run-done"
"""``{"kind", "id", "job", "record"}``; the image itself arrives in the ``result_png`` trait."""
RUN_ERROR: Final = "run-error"
"""``{"kind", "id", "job", "type", "message"}``."""
RUN_CANCELLED: Final = "run-cancelled"
"""``{"kind", "id", "job", "after_tiles"}``."""
REJECTED: Final = "rejected"
"""A request that could not be honoured now. ``{"kind", "id", "request", "reason"}``."""
SAVED: Final = "saved"
"""``{"kind", "id", "path", "again", "job"}`` (``again``: this result was saved there already)."""
ENGINE_RUN: Final = "engine-run"
"""Run a plan in the page: ``{"kind", "job", "plan": Plan.to_dict(), "cards": [...]}``."""
ENGINE_ASSETS: Final = "engine-assets"
"""``{"kind", "job", "view", "names", "name", "offset", "size"}`` and one buffer: the bytes at
``offset`` of asset ``name`` (``size`` bytes in all; at most ``browser.ASSET_CHUNK`` a message);
``names`` lists every asset of this answer ("worker", "wasm", "wasm-webgpu" or a model's sha256),
each sent in order, so the page starts the run once all of them are complete. Where the page
lacks nothing: one ``{"kind", "job", "view", "names": []}`` without buffers. A model that a
JupyterLite site serves comes as ``{..., "name", "offset": 0, "size", "url"}`` without buffers: the
page fetches it from ``url`` (relative to the site's root) when a task first runs with it."""
ENGINE_CANCEL: Final = "engine-cancel"
"""``{"kind", "job"}``: stop the browser engine within one tile."""

TO_KERNEL: Final = (
    RUN,
    CANCEL,
    SAVE,
    HELLO,
    USE_TILE,
    OPEN,
    ENGINE_NEED,
    ENGINE_TILE,
    ENGINE_DONE,
    ENGINE_CANCELLED,
    ENGINE_ERROR,
)
TO_FRONTEND: Final = (
    RUN_STARTED,
    TILE,
    RUN_DONE,
    RUN_ERROR,
    RUN_CANCELLED,
    REJECTED,
    SAVED,
    ENGINE_RUN,
    ENGINE_ASSETS,
    ENGINE_CANCEL,
)

Message = tuple[dict[str, Any], list[bytes]]


def rgba_bytes(pixels: Any) -> tuple[bytes, int, int]:
    """HxWx3 (or HxWx4) floats in 0..1 -> RGBA uint8 bytes, width, height."""
    import numpy as np  # not at import time: the constants must import under Pyodide too

    arr = np.asarray(pixels)
    h, w = int(arr.shape[0]), int(arr.shape[1])
    if arr.dtype != np.uint8:
        arr = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    out = np.empty((h, w, 4), dtype=np.uint8)
    if arr.ndim == 2:
        out[..., :3] = arr[..., None]
    else:
        out[..., :3] = arr[..., :3]
    out[..., 3] = arr[..., 3] if arr.ndim == 3 and arr.shape[2] == 4 else 255
    return out.tobytes(), w, h


def tile_message(
    job: int,
    index: int,
    total: int,
    pass_index: int,
    passes: int,
    region: tuple[int, int, int, int],
    out_size: tuple[int, int],
    ms: float,
    pixels: Any,
) -> Message:
    """The ``tile`` message for one finished tile (``pixels`` cover ``region`` exactly)."""
    data, w, h = rgba_bytes(pixels)
    x0, y0, x1, y1 = region
    if (x1 - x0, y1 - y0) != (w, h):
        raise ValueError(f"tile pixels are {w}x{h} but the region {region} is {x1 - x0}x{y1 - y0}")
    content = {
        "kind": TILE,
        "job": job,
        "index": index,
        "total": total,
        "pass": pass_index,
        "passes": passes,
        "region": [x0, y0, x1, y1],
        "out_size": [int(out_size[0]), int(out_size[1])],
        "ms": round(float(ms), 2),
    }
    return content, [data]
