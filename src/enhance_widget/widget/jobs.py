"""A widget job and its lifecycle, whichever engine runs it: one job at a time, claimed under a
lock, stopped by its cancel token, finished with one message and one state update; the progress
and timing figures the view shows. The engines' sides: ``kernel_jobs`` and ``browser_jobs``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..progress import CancelToken
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


class JobLifecycle:
    """One job at a time: claim, cancel, wait, replay to a new view, finish (both engines)."""

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

    def _fail(self, job: Job, exc: BaseException) -> None:
        error = {"type": type(exc).__name__, "message": str(exc) or repr(exc)}
        self._finish(job, "error", {"kind": P.RUN_ERROR, **error}, {"status": "error", "error": error})
