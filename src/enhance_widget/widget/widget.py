"""``EnhanceWidget``: traits for the state that survives a re-render; jobs go to the controller."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import traitlets as t

from ..errors import EnhanceError
from . import protocol as P
from .browser import ENGINES, default_engine, kernel_engine_available
from .controller import Controller, JobOptions
from .planview import (
    chosen_model,
    control_specs,
    inside_range,
    model_conflicts,
    model_options,
    parse_tile,
    plan_figures,
    quality_options,
    task_options,
    validate_controls,
)
from .source import Source, display_name, has_colour, prepare_source, save_result
from .state import WidgetState
from .uploads import UploadRefused, Uploads, upload_name

ENGINE_KINDS = (P.ENGINE_NEED, P.ENGINE_TILE, P.ENGINE_DONE, P.ENGINE_CANCELLED, P.ENGINE_ERROR)
CONTROLS = ("task", "model", "scale", "tile", "overlap", "quality")


class EnhanceWidget(WidgetState):
    """Enhance a photo interactively: controls, live tiles, before/after compare, Save.

    ``EnhanceWidget("photo.jpg")`` (a path, bytes, PIL.Image or numpy array). Press Run in the
    view, or call :meth:`run`; :attr:`result` holds the last :class:`~enhance_widget.Result`.
    """

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
        self._saved: tuple[Any, Path] | None = None
        self._uploads = Uploads()
        self._opened_as: Path | None = None
        self._task_controls: dict[str, dict[str, float]] = {}
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
        self.observe(self._remember_controls, names=["controls"])
        self._task_controls[self.task] = dict(self.controls)
        self.observe(self._on_control, names=[*CONTROLS, "engine", "provider"])
        if source is not None:
            try:
                self.load(source)
            except (EnhanceError, OSError):
                pass  # shown in the view (the error trait); the widget opens without a photo
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

    def load(self, source: Any, name: str | None = None) -> None:
        """Show a new source image (path, bytes, PIL.Image or array), with ``enhance``'s limits.

        Raises its typed errors (``ImageDecodeError``, ``ImageTooLargeError``, ...); the view
        shows them too, and the previous image (and result) stay."""
        if self.busy:
            raise EnhanceError("a run is in progress; cancel it before opening another image")
        try:
            src = prepare_source(source, self._max_pixels)
        except (EnhanceError, OSError) as exc:
            shown = name or display_name(source)
            self.update_state(
                error={"type": type(exc).__name__, "message": str(exc), "during": "open", "name": shown},
                # this error replaces an earlier run's (whose message is gone from the view)
                status="idle" if self.status == "error" else self.status,
            )
            raise
        self._opened_as = Path.cwd() / Path(name).name if name and Path(name).name else None
        if name:
            src = dataclasses.replace(src, name=name)
        self._raw_source = source
        self._source = src
        self._controller.result = None
        self._saved = None
        self.update_state(
            source_name=src.name,
            source_bytes=src.display,
            source_size=list(src.size),
            source_colour=has_colour(src),
            result_png=b"",
            last_run={},
            progress={},
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
        """Write the last result next to the source (never over any file); returns the path.

        Saving the same result again returns the file it was saved to (no second copy)."""
        result = self.result
        if result is None:
            raise EnhanceError("nothing to save yet: run the model first")
        if self._saved is not None and self._saved[0] is result and self._saved[1].is_file():
            return self._saved[1]
        path = save_result(result, self._save_beside())
        self._saved = (result, path)
        self.update_state(saved_path=str(path))
        return path

    def _save_beside(self) -> Path | None:
        """The file the result is saved beside: the source file, or for a photo opened in the view
        (bytes and a file name) that name in the working directory (nothing is overwritten there
        either)."""
        if self._source is None:
            return None
        return self._source.path or self._opened_as

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
            controls=validate_controls(dict(self.controls), list(self.control_specs), self._chosen_model()),
            provider=self.provider,
            max_pixels=self._max_pixels,
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
        again = self._saved is not None and self._saved[0] is self.result
        try:
            path = self.save()
        except (EnhanceError, OSError) as exc:
            self._reject(request_id, P.SAVE, f"{type(exc).__name__}: {exc}")
            return
        job = self.last_run.get("job")
        self.send_message(
            {"kind": P.SAVED, "id": request_id, "path": str(path), "again": again, "job": job}, []
        )

    def _open_piece(self, request_id: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        """A piece of a file the view opened (picker, drop, paste): bytes at ``offset`` of ``size``."""
        name = upload_name(content)
        try:
            data = self._uploads.add(request_id, content, buffers)
        except UploadRefused as exc:
            self._reject_open(request_id, name, exc.kind, exc.message)
            return
        if data is None:
            return
        try:
            self.load(data, name=name)
        except (EnhanceError, OSError) as exc:
            self._reject(request_id, P.OPEN, f"{type(exc).__name__}: {exc}")

    def _reject_open(self, request_id: Any, name: str, kind: str, message: str) -> None:
        self.update_state(
            error={"type": kind, "message": message, "during": "open", "name": name},
            status="idle" if self.status == "error" else self.status,
        )
        self._reject(request_id, P.OPEN, f"{kind}: {message}")

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
        elif kind == P.OPEN:
            if self.busy:
                self._reject(
                    request_id, P.OPEN, "a run is in progress; cancel it before opening another photo"
                )
            else:
                self._open_piece(request_id, content, list(buffers or []))
        elif kind == P.HELLO:
            self._controller.replay()
        elif kind == P.USE_TILE:
            try:
                self.tile = str(parse_tile(str(content.get("tile"))))
            except (ValueError, EnhanceError) as exc:
                self._reject(request_id, P.USE_TILE, str(exc))

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """A change from the view; one that cannot apply now (mid-run, out of range) is refused
        and the view shows the kernel's values again."""
        try:
            guarded = [n for n in sync_data if n in (*CONTROLS, "controls", "engine", "provider")]
            if self.busy and any(sync_data[n] != getattr(self, n) for n in guarded):
                raise EnhanceError("a run is in progress: cancel it or wait before changing the settings")
            if "controls" in sync_data:
                validate_controls(sync_data["controls"], list(self.control_specs), self._chosen_model())
        except EnhanceError as exc:
            self.send_state(list(sync_data))
            self._reject(None, "set", f"{type(exc).__name__}: {exc}")
            return
        super().set_state(sync_data)

    @t.validate(*CONTROLS, "engine", "provider")
    def _no_change_mid_run(self, proposal: Any) -> Any:
        name = proposal["trait"].name
        busy = getattr(self, "_controller", None) is not None and self._controller.busy
        if busy and proposal["value"] != getattr(self, name):
            raise EnhanceError(f"a run is in progress: cancel it (w.cancel()) or wait before changing {name}")
        return proposal["value"]

    @t.validate("controls")
    def _check_controls(self, proposal: Any) -> Any:
        value = proposal["value"]
        if (
            getattr(self, "_controller", None) is not None
            and self._controller.busy
            and value != self.controls
        ):
            raise EnhanceError(
                "a run is in progress: cancel it (w.cancel()) or wait before changing controls"
            )
        specs = control_specs(self._chosen_model())
        return validate_controls(value, specs, self._chosen_model())

    def _remember_controls(self, change: dict[str, Any]) -> None:
        """Each task keeps its own control values (restore's strength is not colorize's)."""
        self._task_controls[self.task] = dict(change["new"])

    def _chosen_model(self) -> str | None:
        return chosen_model(self.task, self.scale, self.model, self.quality)

    def _on_control(self, change: dict[str, Any]) -> None:
        name, new = change["name"], change["new"]
        if not self.busy and self.status in ("done", "cancelled", "error"):
            # new settings: ready for the next run (the last result stays shown until then)
            self.update_state(status="idle", error={})
        card = next((m for m in self.models if m["id"] == self.model), None) if self.model else None
        if name == "model" and card is not None:
            if card["task"] != self.task:
                self.task = card["task"]
            if card["task"] == "upscale" and card["scale"] != self.scale:
                self.scale = card["scale"]
        elif card is not None and model_conflicts(card, name, new):
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
        specs = control_specs(self._chosen_model())
        by_name = {s["name"]: s for s in specs}
        stored = self._task_controls.get(self.task, {})
        values = {k: v for k, v in stored.items() if k in by_name and inside_range(v, by_name[k])}
        self.update_state(
            plan=figures,
            qualities=quality_options(self.task, self.scale),
            control_specs=specs,
            controls=values,
        )
