"""The browser engine's side of a widget job: the plan is made here (pure Python) and run in the
page; this side serves the worker, wasm and model bytes the page asks for and turns the page's
result into a :class:`~enhance_widget.result.Result`."""

from __future__ import annotations

import time
from typing import Any

from . import protocol as P
from .jobs import Job, JobLifecycle, JobOptions


class BrowserJobs(JobLifecycle):
    """Plans a job for the browser engine, never blocks (nothing waits for the page)."""

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
                size, opts.task, opts.scale, opts.model, opts.tile, opts.overlap, budget, opts.quality,
                engine="browser",
            )  # fmt: skip
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
