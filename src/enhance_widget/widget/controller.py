"""The job lifecycle behind the widget: one job at a time, run in a worker thread.

The controller knows nothing of traitlets or comms: it talks to a :class:`Sink` (the widget,
or a list in the tests) through ``send_message`` (custom messages with binary buffers) and
``update_state`` (trait values). The kernel's main thread stays free while a job runs, so a
Cancel request (or any cell) is handled at once; cancelling terminates the running onnxruntime
call, so a run stops within one tile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import Cancelled
from ..progress import CallbackProgress, CancelToken, TileEvent
from . import protocol as P

REPLAY_LIMIT_BYTES = 64 * 1024 * 1024
"""Tiles of the running job kept for a view that appears mid-run (beyond this, none are kept)."""


class Sink(Protocol):
    def send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None: ...

    def update_state(self, **state: Any) -> None: ...


@dataclass(frozen=True)
class JobOptions:
    """What ``enhance`` is called with (besides the source)."""

    task: str = "upscale"
    scale: int | None = None
    model: str | None = None
    tile: int | str = "auto"
    overlap: int = 16
    quality: str = "balanced"
    budget: int | None = None
    controls: dict[str, float] = field(default_factory=dict)
    """Values of the model's controls (e.g. ``{"strength": 25}``: FFDNet's noise level)."""
    provider: str = "auto"
    """Browser engine: ``auto`` (WebGPU on a hardware adapter, else WASM), ``webgpu``, ``wasm``."""
    max_pixels: int | None = None
    """The widget's ``max_pixels`` (None: the default limit or ``ENHANCE_WIDGET_MAX_PIXELS``)."""


@dataclass
class Job:
    id: int
    request_id: Any
    options: JobOptions
    token: CancelToken = field(default_factory=CancelToken)
    finished: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    engine_started: float | None = None
    done: int = 0
    total: int = 0
    tiles: list[P.Message] = field(default_factory=list)
    tile_bytes: int = 0
    head: P.Message | None = None
    outcome: str = "running"
    engine: str = "kernel"
    cards: list[Any] = field(default_factory=list)
    """Browser engine: the model card of every pass."""
    source: Any = None
    view: str | None = None
    """Browser engine: the view that claimed the job (the only one that runs it)."""
    engine_run: P.Message | None = None
    """Browser engine: the ``engine-run`` message, sent again to a view that appears before any
    view claimed the job (``w.run()`` in the cell that first shows ``w``)."""
    plan_summary: dict[str, Any] = field(default_factory=dict)
    model_id: str | None = None
    planned_s: float | None = None
    """The planner's raw time estimate (load included), before calibration."""
    estimate_s: float | None = None
    """The estimate the widget showed for this plan (calibrated by earlier runs)."""


class Controller:
    """Starts, cancels and finishes jobs; keeps the last :class:`~enhance_widget.result.Result`."""

    def __init__(self, sink: Sink, on_idle: Callable[[], None] | None = None) -> None:
        self.sink = sink
        self.result: Any = None
        self.last_job: Job | None = None
        self._on_idle = on_idle
        self._lock = threading.RLock()
        self._job: Job | None = None
        self._next_id = 1
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._job is not None

    def start(
        self, request_id: Any, source: Any, options: JobOptions, size: tuple[int, int] | None = None
    ) -> Job | None:
        """Start a job (None, and a ``rejected`` message, while another one runs)."""
        job = self._claim(request_id, options)
        if job is None:
            return None
        self._thread = threading.Thread(
            target=self._work, args=(job, source, size), name=f"enhance-job-{job.id}", daemon=True
        )
        self._thread.start()
        return job

    def _claim(self, request_id: Any, options: JobOptions, engine: str = "kernel") -> Job | None:
        with self._lock:
            if self._job is not None:
                busy_id = self._job.id
                job = None
            else:
                job = Job(id=self._next_id, request_id=request_id, options=options, engine=engine)
                self._next_id += 1
                self._job = job
                self.last_job = job
                # published under the lock so a finishing job cannot overwrite it
                self.sink.update_state(
                    status="running", error={}, progress={"done": 0, "total": 0, "job": job.id}
                )
        if job is None:
            self.sink.send_message(
                {
                    "kind": P.REJECTED,
                    "id": request_id,
                    "request": P.RUN,
                    "reason": f"job {busy_id} is running",
                },
                [],
            )
        return job

    def cancel(self, request_id: Any = None) -> bool:
        """Ask the running job to stop; False (and a ``rejected`` message) when idle."""
        with self._lock:
            job = self._job
            if job is not None:
                self.sink.update_state(status="cancelling")
        if job is None:
            self.sink.send_message(
                {"kind": P.REJECTED, "id": request_id, "request": P.CANCEL, "reason": "idle"}, []
            )
            return False
        job.token.cancel()
        if job.engine == "browser":
            self.sink.send_message({"kind": P.ENGINE_CANCEL, "job": job.id}, [])
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job (if any) has finished; True when idle."""
        with self._lock:
            job = self._job
        return True if job is None else job.finished.wait(timeout)

    def replay(self) -> None:
        """Resend the running job's start and tiles (a view rendered mid-run)."""
        with self._lock:
            job = self._job
            messages = ([job.head] if job and job.head else []) + (list(job.tiles) if job else [])
            if job is not None and job.engine == "browser" and job.view is None and job.engine_run:
                messages.append(job.engine_run)  # asked for before any view existed: run it now
        for content, buffers in messages:
            self.sink.send_message(content, buffers)

    # --- worker thread -------------------------------------------------------------

    def _work(self, job: Job, source: Any, size: tuple[int, int] | None) -> None:
        from ..api import enhance, plan_for
        from ..planning import default_budget

        opts = job.options
        budget = opts.budget if opts.budget is not None else default_budget()
        try:
            if size is not None:
                plan = plan_for(
                    size, opts.task, opts.scale, opts.model, opts.tile, opts.overlap, budget, opts.quality
                )
                self._started(job, plan)
            progress = CallbackProgress(
                on_tile=lambda ev: self._tile(job, ev),
                cancel=job.token,
                on_total=lambda n: self._total(job, n),
            )
            result = enhance(
                source,
                task=opts.task,
                scale=opts.scale,
                model=opts.model,
                tile=opts.tile,
                overlap=opts.overlap,
                progress=progress,
                budget=budget,
                quality=opts.quality,
                controls=opts.controls,
                max_pixels=opts.max_pixels,
            )
            from .source import result_png

            png = result_png(result)
        except Cancelled:
            self._finish(
                job, "cancelled", {"kind": P.RUN_CANCELLED, "after_tiles": job.done}, {"status": "cancelled"}
            )
        except Exception as exc:  # shown in the widget; the kernel and the widget stay usable
            error = {"type": type(exc).__name__, "message": str(exc) or repr(exc)}
            self._finish(job, "error", {"kind": P.RUN_ERROR, **error}, {"status": "error", "error": error})
        else:
            self.result = result
            rec = result.record
            last_run = {
                "job": job.id,
                "engine": "kernel",
                "model": rec["model"]["id"],
                "provider": rec["runtime"]["provider"],
                "runtime": f"{rec['runtime']['name']} {rec['runtime']['version']}",
                "total_ms": rec["total_ms"],
                "load_ms": rec.get("load_ms", 0.0),
                "quality": opts.quality,
                "tta": bool(rec["options"].get("tta", False)),
                "tiles": len(rec["tile_ms"]),
                "out_size": list(result.size),
                **self._timing(job, float(rec.get("load_ms", 0.0)) / 1000),
            }
            state = {"status": "done", "result_png": png, "last_run": last_run, "saved_path": ""}
            self._finish(job, "done", {"kind": P.RUN_DONE, "record": rec}, state)

    def _timing(self, job: Job, load_s: float) -> dict[str, Any]:
        """What the run was (task, scale) and took against its estimate; re-calibrates the
        estimates of later plans of this model from the measured time."""
        from .planview import record_run

        measured = time.perf_counter() - job.started
        if job.model_id is not None and job.planned_s is not None:
            record_run(job.model_id, job.engine, job.planned_s, measured, load_s)
        opts = job.options
        return {
            "task": opts.task,
            "scale": opts.scale,
            "estimate_s": round(job.estimate_s, 2) if job.estimate_s is not None else None,
            "measured_s": round(measured, 2),
        }

    def _started(self, job: Job, plan: Any) -> None:
        from ..planning import engine_seconds
        from .planview import estimate_seconds

        job.model_id = plan.model_id
        job.planned_s = engine_seconds(plan, job.engine)  # the browser engine's own measured cost
        job.estimate_s = estimate_seconds(plan.model_id, job.engine, job.planned_s)[0]
        passes = [
            {"out_size": list(p.out_size), "cores": [list(t.core_box) for t in p.tiles]} for p in plan.passes
        ]
        head: P.Message = (
            {
                "kind": P.RUN_STARTED,
                "id": job.request_id,
                "job": job.id,
                "total": plan.total_tiles,
                "out_size": list(plan.out_size),
                "passes": passes,
            },
            [],
        )
        job.head = head
        self.sink.send_message(*head)

    def _total(self, job: Job, total: int) -> None:
        job.total = total
        job.engine_started = time.perf_counter()
        self.sink.update_state(progress=self._progress(job))

    def _tile(self, job: Job, ev: TileEvent) -> None:
        content, buffers = P.tile_message(
            job.id, ev.index, ev.total, ev.pass_index, ev.passes, ev.core_box, ev.out_size, ev.ms, ev.pixels
        )
        job.done = ev.index + 1
        job.total = ev.total
        size = len(buffers[0])
        if job.tile_bytes + size <= REPLAY_LIMIT_BYTES:
            job.tiles.append((content, buffers))
            job.tile_bytes += size
        self.sink.send_message(content, buffers)
        self.sink.update_state(progress=self._progress(job))

    def _progress(self, job: Job) -> dict[str, Any]:
        now = time.perf_counter()
        t0 = job.engine_started or job.started
        per_tile = (now - t0) / job.done if job.done else None
        left = per_tile * (job.total - job.done) if per_tile is not None else None
        if left is None and job.estimate_s is not None:  # no tile measured yet: the plan's estimate
            left = max(job.estimate_s - (now - job.started), 0.0)
        return {
            "job": job.id,
            "done": job.done,
            "total": job.total,
            "elapsed_s": round(now - job.started, 2),
            "tile_s": round(per_tile, 3) if per_tile is not None else None,
            "eta_s": round(left, 1) if left is not None else None,
            "measured": per_tile is not None,
        }

    def _finish(self, job: Job, outcome: str, message: dict[str, Any], state: dict[str, Any]) -> None:
        job.outcome = outcome
        message.update({"id": job.request_id, "job": job.id})
        with self._lock:
            self._job = None
            job.tiles.clear()
            self.sink.update_state(progress=self._progress(job), **state)
            self.sink.send_message(message, [])
        try:
            if self._on_idle is not None:
                self._on_idle()  # the plan is re-made (re-calibrated) before wait() returns
        finally:
            job.finished.set()

    # --- browser engine: the page runs the plan; this side plans, serves assets, finishes -----

    def start_browser(
        self,
        request_id: Any,
        source: Any,
        options: JobOptions,
        size: tuple[int, int],
        image: dict[str, bool] | None = None,
    ) -> Job | None:
        """Plan here (pure Python), run in the page; never blocks (nothing waits for the page).
        ``image``: whether the source is grey and has alpha (the page writes the result so)."""
        from ..planning import default_budget
        from .browser import engine_run, plan_for

        job = self._claim(request_id, options, engine="browser")
        if job is None:
            return None
        opts = options
        budget = opts.budget if opts.budget is not None else default_budget()
        try:
            plan = plan_for(
                size, opts.task, opts.scale, opts.model, opts.tile, opts.overlap, budget, opts.quality
            )
            job.cards = list(plan.cards)
            message = engine_run(job.id, plan, job.cards, opts, image or {})
        except Exception as exc:
            self._fail(job, exc)
            return job
        job.source = source
        job.total = plan.total_tiles
        job.plan_summary = plan.summary()
        self._started(job, plan)
        job.engine_run = (message, [])
        self.sink.send_message(message, [])
        return job

    def engine_message(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """A browser-engine message from the page (stale jobs are ignored)."""
        with self._lock:
            job = self._job
        if job is None or job.engine != "browser" or content.get("job") != job.id:
            return
        kind = content.get("kind")
        try:
            if kind == P.ENGINE_NEED:
                self._serve_assets(job, content)
            elif kind == P.ENGINE_TILE:
                if job.engine_started is None:
                    job.engine_started = time.perf_counter()
                job.done = int(content.get("index", 0)) + 1
                self.sink.update_state(progress=self._progress(job))
            elif kind == P.ENGINE_DONE:
                self._browser_done(job, content, bytes(buffers[0]) if buffers else b"")
            elif kind == P.ENGINE_CANCELLED:
                after = int(content.get("after_tiles", job.done))
                self._finish(
                    job, "cancelled", {"kind": P.RUN_CANCELLED, "after_tiles": after}, {"status": "cancelled"}
                )
            elif kind == P.ENGINE_ERROR:
                error = {"type": str(content.get("type") or "Error"), "message": str(content.get("message"))}
                self._finish(
                    job, "error", {"kind": P.RUN_ERROR, **error}, {"status": "error", "error": error}
                )
        except Exception as exc:  # shown in the widget; the kernel and the widget stay usable
            self._fail(job, exc)

    def _fail(self, job: Job, exc: BaseException) -> None:
        error = {"type": type(exc).__name__, "message": str(exc) or repr(exc)}
        self._finish(job, "error", {"kind": P.RUN_ERROR, **error}, {"status": "error", "error": error})

    def _serve_assets(self, job: Job, content: dict[str, Any]) -> None:
        from .browser import asset_bytes, asset_messages

        view = str(content.get("view"))
        if job.view is not None and job.view != view:
            return  # another view runs this job
        job.view = view
        names = [n for n in ("worker", "wasm", "wasm-webgpu") if content.get(n.replace("-", "_"))]
        names += [str(m) for m in content.get("models", [])]
        buffers = [asset_bytes(n, job.cards) for n in names]
        if job.engine_started is None:
            job.engine_started = time.perf_counter()
        self.sink.update_state(progress=self._progress(job))
        for content, pieces in asset_messages(job.id, view, names, buffers):
            self.sink.send_message(content, pieces)

    def _browser_done(self, job: Job, content: dict[str, Any], png: bytes) -> None:
        from .browser import browser_record, make_result, png_size

        out_size = png_size(png)
        opts = job.options
        total_ms = round((time.perf_counter() - job.started) * 1000, 2)
        record = browser_record(opts, job.plan_summary, job.cards, content, total_ms, out_size)
        top = record["model"]["id"]
        self.result = make_result(png, record, job.source, job.options.max_pixels)
        last_run = {
            "job": job.id,
            "engine": "browser",
            "model": top,
            "provider": record["runtime"]["provider"],
            "runtime": f"onnxruntime-web {record['runtime']['version']}",
            "load_ms": record["load_ms"],
            "total_ms": total_ms,
            "quality": opts.quality,
            "tta": record["options"]["tta"],
            "provider_note": record["runtime"]["provider_note"],
            "tiles": len(record["tile_ms"]),
            "out_size": list(out_size),
            **self._timing(job, float(record["load_ms"] or 0.0) / 1000),
        }
        state = {"status": "done", "result_png": png, "last_run": last_run, "saved_path": ""}
        self._finish(job, "done", {"kind": P.RUN_DONE, "record": record}, state)
