"""One batch item on a worker: the job that travels there (options, model, where to write) and
:func:`run_item`, which checks for a finished output, installs the model, enhances and saves."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .api import enhance
from .batch_items import Status
from .batch_resume import verified_record
from .result import Result
from .workers import ErrorInfo, ModelRef, install


@dataclass(frozen=True)
class ItemOptions:
    """The ``enhance`` options every item of a batch runs with."""

    task: str
    scale: int | None
    model: str
    tile: int | str | None
    overlap: int
    controls: dict[str, float]
    quality: str
    threads: int | None
    max_pixels: int | None

    def enhance_kwargs(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "scale": self.scale,
            "model": self.model,
            "tile": self.tile,
            "overlap": self.overlap,
            "controls": self.controls or None,
            "quality": self.quality,
            "threads": self.threads,
            "max_pixels": self.max_pixels,
        }


@dataclass(frozen=True)
class ItemJob:
    """What travels to the worker for one item."""

    index: int
    source: Any
    options: ItemOptions
    ref: ModelRef
    expect: dict[str, Any]
    output: str | None
    """Where the worker writes the result (``send="paths"`` with ``output_dir``)."""
    resume: bool
    file_name: str | None = None
    """The input file's name when it travels as bytes (for the record)."""


@dataclass
class ItemOutcome:
    """What comes back from the worker for one item."""

    index: int
    status: Status
    result: Result | None = None
    record: dict[str, Any] | None = None
    output: str | None = None
    error: ErrorInfo | None = None
    seconds: float = 0.0
    worker: str = ""


def slim_result(result: Result) -> Result:
    """The result without the decoded input pixels (not needed after the run; halves the transfer)."""
    empty = np.zeros((0, 0, 3), dtype=np.float32)
    return replace(result, source=replace(result.source, rgb=empty, alpha=None))


def run_item(job: ItemJob, blobs: Sequence[bytes | None]) -> ItemOutcome:
    """Run one item on a worker: resume check, model install and verification, enhance, save."""
    import socket

    t0 = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    opts = job.options
    try:
        if job.resume and job.output is not None:
            record = verified_record(job.output, job.expect, job.source, opts.max_pixels)
            if record is not None:
                return ItemOutcome(job.index, "skipped", record=record, output=job.output, worker=where)
        install(job.ref, blobs)
        result = enhance(job.source, **opts.enhance_kwargs())
        if job.file_name is not None and result.record["input"].get("file") is None:
            result.record["input"]["file"] = job.file_name
        if job.output is not None:
            result.save(job.output)
            return ItemOutcome(
                job.index,
                "ok",
                record=result.record,
                output=job.output,
                seconds=time.perf_counter() - t0,
                worker=where,
            )
        return ItemOutcome(
            job.index,
            "ok",
            result=slim_result(result),
            record=result.record,
            seconds=time.perf_counter() - t0,
            worker=where,
        )
    except Exception as exc:  # every failure stays with its item; the batch goes on
        return ItemOutcome(
            job.index, "failed", error=ErrorInfo.of(exc), seconds=time.perf_counter() - t0, worker=where
        )


__all__ = ["ItemJob", "ItemOptions", "ItemOutcome", "run_item", "slim_result"]
