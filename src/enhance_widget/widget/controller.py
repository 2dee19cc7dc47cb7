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
        with self._lock:
            if self._job is not None:
                busy_id = self._job.id
                job = None
            else:
                job = Job(id=self._next_id, request_id=request_id, options=options)
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
            return None
        self._thread = threading.Thread(
            target=self._work, args=(job, source, size), name=f"enhance-job-{job.id}", daemon=True
        )
        self._thread.start()
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
                "model": rec["model"]["id"],
                "provider": rec["runtime"]["provider"],
                "runtime": f"{rec['runtime']['name']} {rec['runtime']['version']}",
                "total_ms": rec["total_ms"],
                "quality": opts.quality,
                "tta": bool(rec["options"].get("tta", False)),
                "tiles": len(rec["tile_ms"]),
                "out_size": list(result.size),
            }
            state = {"status": "done", "result_png": png, "last_run": last_run, "saved_path": ""}
            self._finish(job, "done", {"kind": P.RUN_DONE, "record": rec}, state)

    def _started(self, job: Job, plan: Any) -> None:
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
        return {
            "job": job.id,
            "done": job.done,
            "total": job.total,
            "elapsed_s": round(now - job.started, 2),
            "tile_s": round(per_tile, 3) if per_tile is not None else None,
            "eta_s": round(left, 1) if left is not None else None,
        }

    def _finish(self, job: Job, outcome: str, message: dict[str, Any], state: dict[str, Any]) -> None:
        job.outcome = outcome
        message.update({"id": job.request_id, "job": job.id})
        with self._lock:
            self._job = None
            job.tiles.clear()
            self.sink.update_state(progress=self._progress(job), **state)
            self.sink.send_message(message, [])
        job.finished.set()
        if self._on_idle is not None:
            self._on_idle()
