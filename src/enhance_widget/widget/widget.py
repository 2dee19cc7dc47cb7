"""``EnhanceWidget``: traits for the state that survives a re-render; jobs go to the controller."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ..errors import EnhanceError
from . import protocol as P
from .browser import ENGINES, default_engine, kernel_engine_available
from .controller import Controller, JobOptions
from .planview import model_options, parse_tile, plan_figures, quality_options, task_options
from .source import Source, prepare_source, save_result

STATIC = Path(__file__).resolve().parent.parent / "static"
_UNBUILT_ESM = (
    "export default { render({ el }) { el.textContent = 'enhance-widget: the front end is not built; "
    "run `npm ci && npm run build` in js/ (or pip install the package).'; } };"
)
ENGINE_KINDS = (P.ENGINE_NEED, P.ENGINE_TILE, P.ENGINE_DONE, P.ENGINE_CANCELLED, P.ENGINE_ERROR)
CONTROLS = ("task", "model", "scale", "tile", "overlap", "quality")


def _asset(name: str, fallback: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else fallback


class EnhanceWidget(anywidget.AnyWidget):
    """Enhance a photo interactively: controls, live tiles, before/after compare, Save.

    ``EnhanceWidget("photo.jpg")`` (a path, bytes, PIL.Image or numpy array). Press Run in the
    view, or call :meth:`run`; :attr:`result` holds the last :class:`~enhance_widget.Result`.
    """

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
    controls = t.Dict({}, help="the model's controls, e.g. {'strength': 25} (FFDNet's noise level)").tag(
        sync=True
    )
    # images (encoded bytes, sent as binary buffers)
    source_name = t.Unicode("").tag(sync=True)
    source_bytes = t.Bytes(b"").tag(sync=True)
    source_size = t.List(t.Int(), []).tag(sync=True)
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

    def __init__(
        self,
        source: Any = None,
        *,
        task: str = "upscale",
        scale: int = 4,
        model: str | None = None,
        tile: int | str = "auto",
        overlap: int = 16,
        quality: str = "balanced",
        max_pixels: int | None = None,
        engine: str | None = None,
        **kwargs: Any,
    ) -> None:
        engine = engine or default_engine()
        if engine not in ENGINES:
            raise ValueError(f"engine must be 'kernel' or 'browser', got {engine!r}")
        if engine == "kernel" and not kernel_engine_available():
            raise EnhanceError("the kernel engine needs numpy and onnxruntime here; use engine='browser'")
        self._sync_lock = threading.RLock()
        self._source: Source | None = None
        self._raw_source: Any = None
        self._max_pixels = max_pixels
        self._controller = Controller(self, on_idle=self._refresh_plan)
        super().__init__(
            task=task,
            scale=scale,
            model=model or "",
            tile=str(tile),
            overlap=overlap,
            quality=quality,
            engine=engine,
            models=model_options(),
            tasks=task_options(),
            **kwargs,
        )
        self.on_msg(self._on_custom)
        self.observe(self._on_control, names=[*CONTROLS, "engine", "provider"])
        if source is not None:
            self.load(source)
        else:
            self._refresh_plan()

    # --- Python API ----------------------------------------------------------------

    @property
    def result(self) -> Any:
        """The last finished :class:`~enhance_widget.Result` (``.image``, ``.array``, ``.record``)."""
        return self._controller.result

    @property
    def busy(self) -> bool:
        return self._controller.busy

    def load(self, source: Any) -> None:
        """Show a new source image (path, bytes, PIL.Image or array); errors land in ``error``."""
        if self.busy:
            raise EnhanceError("a run is in progress; cancel it before opening another image")
        self._raw_source = source
        try:
            src = prepare_source(source, self._max_pixels)
        except (EnhanceError, OSError) as exc:
            self._source = None
            self.update_state(
                source_name=_display_name(source),
                source_bytes=b"",
                source_size=[],
                result_png=b"",
                status="error",
                error={"type": type(exc).__name__, "message": str(exc)},
            )
        else:
            self._source = src
            self.update_state(
                source_name=src.name,
                source_bytes=src.display,
                source_size=list(src.size),
                result_png=b"",
                status="idle",
                error={},
                saved_path="",
            )
        self._refresh_plan()

    def run(self) -> int | None:
        """Start a job with the current controls; returns its id (None if one is running)."""
        return self._start(None)

    def cancel(self) -> bool:
        """Stop the running job within one tile."""
        return self._controller.cancel(None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running job ends (for scripts; the view never needs it).

        A browser-engine job finishes through messages from the page, which a blocked cell never
        receives: there this raises; watch ``status`` or ``result`` instead."""
        job = self._controller.last_job
        if self._controller.busy and job is not None and job.engine == "browser":
            raise EnhanceError("a browser-engine run ends in the page: check w.status / w.result later")
        return self._controller.wait(timeout)

    def save(self) -> Path:
        """Write the last result next to the source (never over any file); returns the path."""
        if self.result is None:
            raise EnhanceError("nothing to save yet: run the model first")
        path = save_result(self.result, self._source.path if self._source else None)
        self.update_state(saved_path=str(path))
        return path

    def refresh_models(self) -> None:
        """Re-read the catalog (after ``register_model``)."""
        self.update_state(models=model_options(), tasks=task_options())
        self._refresh_plan()

    def close(self) -> None:
        if self._controller.busy:
            self._controller.cancel(None)
        super().close()

    # --- the controller's sink -----------------------------------------------------

    def send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        with self._sync_lock:
            self.send(content, buffers or None)

    def update_state(self, **state: Any) -> None:
        with self._sync_lock, self.hold_sync():
            for name, value in state.items():
                setattr(self, name, value)

    # --- internals -----------------------------------------------------------------

    def _options(self) -> JobOptions:
        return JobOptions(
            task=self.task,
            scale=self.scale if self.task == "upscale" else None,
            model=self.model or None,
            tile=parse_tile(self.tile),
            overlap=self.overlap,
            quality=self.quality,
            controls={str(k): float(v) for k, v in self.controls.items()},
            provider=self.provider,
        )

    def _start(self, request_id: Any) -> int | None:
        if self._raw_source is None:
            self._reject(request_id, P.RUN, "open an image first")
            return None
        try:
            options = self._options()
        except (EnhanceError, ValueError) as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
            self.update_state(status="error", error=error)
            self.send_message({"kind": P.RUN_ERROR, "id": request_id, "job": None, **error}, [])
            return None
        size = self._source.size if self._source else None
        if self.engine == "browser":
            if size is None:
                self._reject(request_id, P.RUN, "open an image first")
                return None
            image = {"gray": self._source.gray, "alpha": self._source.alpha} if self._source else None
            job = self._controller.start_browser(request_id, self._raw_source, options, size, image)
            return job.id if job else None
        job = self._controller.start(request_id, self._raw_source, options, size)
        return job.id if job else None

    def _save(self, request_id: Any) -> None:
        try:
            path = self.save()
        except (EnhanceError, OSError) as exc:
            self._reject(request_id, P.SAVE, f"{type(exc).__name__}: {exc}")
            return
        self.send_message({"kind": P.SAVED, "id": request_id, "path": str(path)}, [])

    def _reject(self, request_id: Any, request: str, reason: str) -> None:
        self.send_message({"kind": P.REJECTED, "id": request_id, "request": request, "reason": reason}, [])

    def _on_custom(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind, request_id = content.get("kind"), content.get("id")
        if kind in ENGINE_KINDS:
            self._controller.engine_message(content, list(buffers or []))
        elif kind == P.RUN:
            self._start(request_id)
        elif kind == P.CANCEL:
            self._controller.cancel(request_id)
        elif kind == P.SAVE:
            self._save(request_id)
        elif kind == P.HELLO:
            self._controller.replay()
        elif kind == P.USE_TILE:
            try:
                self.tile = str(parse_tile(str(content.get("tile"))))
            except ValueError as exc:
                self._reject(request_id, P.USE_TILE, str(exc))

    def _on_control(self, change: dict[str, Any]) -> None:
        name, new = change["name"], change["new"]
        card = next((m for m in self.models if m["id"] == self.model), None) if self.model else None
        if name == "model" and card is not None:
            if card["task"] != self.task:
                self.task = card["task"]
            if card["task"] == "upscale" and card["scale"] != self.scale:
                self.scale = card["scale"]
        elif card is not None and _model_conflicts(card, name, new):
            self.model = ""
        self._refresh_plan()

    def _refresh_plan(self) -> None:
        size = self._source.size if self._source else None
        figures = plan_figures(
            size,
            self.task,
            self.scale,
            self.model,
            self.tile,
            self.overlap,
            self.quality,
            self.engine,
            self.provider,
        )
        self.update_state(plan=figures, qualities=quality_options(self.task, self.scale))


def _model_conflicts(card: dict[str, Any], control: str, value: Any) -> bool:
    """Whether a new task or scale no longer fits the chosen model (which then goes back to auto)."""
    if control == "task":
        return bool(card["task"] != value)
    return control == "scale" and card["task"] == "upscale" and card["scale"] != value


def _display_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return "image bytes" if isinstance(source, (bytes, bytearray, memoryview)) else type(source).__name__
