"""The kernel engine's side of a widget job: ``enhance`` runs in a worker thread, its tiles
stream to the view as they finish (the last ones kept for a view that appears mid-run)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import Cancelled
from ..progress import CallbackProgress, TileEvent
from . import protocol as P
from .jobs import REPLAY_LIMIT_BYTES, Job, JobLifecycle, JobOptions


class KernelJobs(JobLifecycle):
    """Runs a job with the kernel engine in a worker thread."""

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
