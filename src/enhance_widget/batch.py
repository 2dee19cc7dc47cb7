"""Many images at once: ``enhance_many`` on any ``concurrent.futures.Executor``.

By default a local process pool sized to the cores runs the batch, each worker loading the model
once (its initializer); a Dask cluster runs the same code through ``client.get_executor()``.
Results come back in input order, or go to files in ``output_dir`` with one provenance JSON-lines
file (``records.jsonl``). A failing item is reported with its typed error and never stops the
batch. With ``output_dir`` and ``resume=True``, outputs already written and verified by the record
embedded in them (same model bytes and options, same input pixels, intact output pixels) are
skipped, so a batch killed half-way continues where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .api import _default_scale, choose_model, enhance
from .catalog import ModelCard
from .errors import EnhanceError, ImageDecodeError
from .planning import DEFAULT_OVERLAP
from .provenance import pixels_sha256
from .result import Result, read_record
from .workers import ErrorInfo, ModelRef, Send, check_send, install, local_workers, warm_up

RECORDS_FILE = "records.jsonl"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class _Options:
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
class _Job:
    index: int
    source: Any
    options: _Options
    ref: ModelRef
    expect: dict[str, Any]
    output: str | None
    """Where the worker writes the result (``send="paths"`` with ``output_dir``)."""
    resume: bool
    file_name: str | None = None
    """The input file's name when it travels as bytes (for the record)."""


@dataclass
class _Outcome:
    index: int
    status: Status
    result: Result | None = None
    record: dict[str, Any] | None = None
    output: str | None = None
    error: ErrorInfo | None = None
    seconds: float = 0.0
    worker: str = ""


@dataclass
class BatchItem:
    """One input's outcome: ``status`` is ``ok``, ``skipped`` (verified output kept) or ``failed``."""

    index: int
    source: str
    status: Status
    result: Result | None = None
    output: Path | None = None
    record: dict[str, Any] | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class BatchResult:
    """Every item in input order, the failures, and where the records went."""

    items: list[BatchItem]
    output_dir: Path | None = None
    records_path: Path | None = None
    seconds: float = 0.0
    workers: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[BatchItem]:
        return iter(self.items)

    def __getitem__(self, i: int) -> BatchItem:
        return self.items[i]

    @property
    def results(self) -> list[Result | None]:
        """The in-memory results in input order (None where an item failed or went to a file)."""
        return [it.result for it in self.items]

    @property
    def failures(self) -> list[BatchItem]:
        return [it for it in self.items if it.status == "failed"]

    def count(self, status: Status) -> int:
        return sum(1 for it in self.items if it.status == status)

    def summary(self) -> str:
        rate = len(self.items) / self.seconds if self.seconds else 0.0
        return (
            f"{self.count('ok')} done, {self.count('skipped')} skipped (verified), "
            f"{self.count('failed')} failed, in {self.seconds:.1f} s ({rate:.2f} images/s)"
        )

    def __repr__(self) -> str:
        return f"BatchResult({self.summary()})"


def _label(source: Any, index: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__} {index}>"


def output_tag(task: str, scale: int | None) -> str:
    """``upscalex4``, ``restore``...: the suffix of an output's name (as the widget's Save uses)."""
    return f"{task}x{scale}" if task == "upscale" and scale else task


def output_names(sources: Sequence[Any], task: str, scale: int | None) -> list[str]:
    """``<stem>_<tag>.png`` per source; inputs sharing a stem keep their extension in the name."""
    tag = output_tag(task, scale)
    stems: list[str] = []
    for i, s in enumerate(sources):
        stems.append(Path(s).stem if isinstance(s, (str, os.PathLike)) else f"image-{i:05d}")
    names: list[str] = []
    for i, (s, stem) in enumerate(zip(sources, stems, strict=True)):
        if stems.count(stem) > 1 and isinstance(s, (str, os.PathLike)):
            stem = f"{stem}-{Path(s).suffix.lstrip('.') or i}"
        names.append(f"{stem}_{tag}.png")
    seen: set[str] = set()
    for i, name in enumerate(names):  # the same file given twice: its own output each time
        if name in seen:
            names[i] = name.replace(f"_{tag}.png", f"-{i}_{tag}.png")
        seen.add(names[i])
    return names


def _expectation(card: ModelCard, ref: ModelRef, opts: _Options, tta: bool) -> dict[str, Any]:
    """What a record must say for its output to count as done (threads may differ)."""
    exp = {
        "task": opts.task,
        "scale": card.scale,
        "model": {
            "id": card.id,
            "sha256": card.sha256,
            "passes": [{"id": c.id, "sha256": c.sha256} for c in ref.passes],
        },
        "options": {
            "tile": opts.tile,
            "overlap": opts.overlap,
            "controls": dict(opts.controls),
            "quality": opts.quality,
            "tta": tta,
        },
    }
    native: dict[str, Any] = json.loads(json.dumps(exp))
    return native


def read_png_array(path: str | os.PathLike[str]) -> np.ndarray:
    """The pixels of a PNG written by ``Result.save``, as the array that was saved."""
    from PIL import Image

    from .images import _is_png16_color

    data = Path(path).read_bytes()
    if _is_png16_color(data):
        import png

        w, h, rows, info = png.Reader(bytes=data).asDirect()
        planes = int(info["planes"])
        return np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, planes)
    import io

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def verified_record(
    output: str | os.PathLike[str], expect: Mapping[str, Any], source: Any, max_pixels: int | None
) -> dict[str, Any] | None:
    """The record embedded in ``output`` when that file is a finished, intact result of this job.

    Checked: the record names the same task, scale, model and pass sha256s and options; the
    source decodes to the pixels the record's input names; the file's pixels hash to the
    record's output. Anything else (no file, no record, a damaged file) returns None.
    """
    from .images import load_image

    path = Path(output)
    if not path.is_file():
        return None
    try:
        record = read_record(path)
        if any(record.get(k) != v for k, v in expect.items() if k != "options"):
            return None
        opts = record.get("options", {})
        if any(opts.get(k) != v for k, v in expect["options"].items()):
            return None
        pixels = read_png_array(path)
        if pixels_sha256(np.ascontiguousarray(pixels).tobytes()) != record["output"]["pixels_sha256"]:
            return None
        buf = load_image(source, max_pixels)
        if pixels_sha256(np.ascontiguousarray(buf.rgb).tobytes()) != record["input"]["pixels_sha256"]:
            return None
    except (EnhanceError, OSError, ValueError, KeyError, TypeError, SyntaxError):
        return None
    return record


def _slim(result: Result) -> Result:
    """The result without the decoded input pixels (not needed after the run; halves the transfer)."""
    empty = np.zeros((0, 0, 3), dtype=np.float32)
    return replace(result, source=replace(result.source, rgb=empty, alpha=None))


def run_item(job: _Job, blobs: Sequence[bytes | None]) -> _Outcome:
    """Run one item on a worker: resume check, model install and verification, enhance, save."""
    import socket

    t0 = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    opts = job.options
    try:
        if job.resume and job.output is not None:
            record = verified_record(job.output, job.expect, job.source, opts.max_pixels)
            if record is not None:
                return _Outcome(job.index, "skipped", record=record, output=job.output, worker=where)
        install(job.ref, blobs)
        result = enhance(job.source, **opts.enhance_kwargs())
        if job.file_name is not None and result.record["input"].get("file") is None:
            result.record["input"]["file"] = job.file_name
        if job.output is not None:
            result.save(job.output)
            return _Outcome(
                job.index,
                "ok",
                record=result.record,
                output=job.output,
                seconds=time.perf_counter() - t0,
                worker=where,
            )
        return _Outcome(
            job.index,
            "ok",
            result=_slim(result),
            record=result.record,
            seconds=time.perf_counter() - t0,
            worker=where,
        )
    except Exception as exc:  # every failure stays with its item; the batch goes on
        return _Outcome(
            job.index, "failed", error=ErrorInfo.of(exc), seconds=time.perf_counter() - t0, worker=where
        )


def _source_for(source: Any, send: Send) -> Any:
    """What travels to the worker: a path as is (shared filesystem) or the file's bytes."""
    if send == "bytes" and isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.is_file():
            raise ImageDecodeError(f"no such image file: {p}")
        return p.read_bytes()
    return source


def _is_dask(executor: Executor) -> bool:
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "_client")


def _capacity(executor: Executor, workers: int | None) -> int:
    if workers:
        return workers
    if _is_dask(executor):
        return max(1, sum(executor._client.nthreads().values()))  # type: ignore[attr-defined]
    return getattr(executor, "_max_workers", None) or local_workers()


def _share_blobs(executor: Executor, blobs: list[bytes | None]) -> list[Any]:
    """Model bytes for every task: on Dask scattered once to every worker, else sent with each task."""
    if _is_dask(executor) and any(b is not None for b in blobs):
        client = executor._client  # type: ignore[attr-defined]
        return [None if b is None else client.scatter(b, broadcast=True, hash=True) for b in blobs]
    return list(blobs)


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="image", desc=desc)


def enhance_many(
    sources: Iterable[Any],
    *,
    task: str = "upscale",
    scale: int | None = None,
    model: str | None = None,
    tile: int | str | None = "auto",
    overlap: int = DEFAULT_OVERLAP,
    controls: Mapping[str, float] | None = None,
    quality: str = "balanced",
    threads: int | None = None,
    max_pixels: int | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    send: Send = "paths",
    progress: bool = True,
    on_item: Callable[[BatchItem], None] | None = None,
) -> BatchResult:
    """Enhance every image of ``sources`` (paths, bytes, PIL images or arrays) in parallel.

    ``executor``: any ``concurrent.futures.Executor`` (e.g. a Dask ``client.get_executor()``);
    by default a local process pool of ``workers`` processes (default: one per core), each loading
    the model once, with ``threads`` onnxruntime threads each (default: cores / workers).
    ``output_dir``: write ``<stem>_<task>.png`` files there (the record in each PNG) and one line
    per item to ``records.jsonl``, instead of returning the arrays; ``resume`` skips outputs that
    are already there and verified by their record.
    ``send``: ``"paths"`` when the workers share this filesystem (they read the inputs and model
    files and write the outputs), ``"bytes"`` for workers that do not (inputs and model files
    travel as bytes, verified by sha256 on the worker; outputs come back and are written here).
    Failures never stop the batch: each failed item carries its typed error (``item.error``).
    """
    send = check_send(send)
    items = list(sources)
    t_start = time.perf_counter()
    scale = _default_scale(task, scale)
    card, tta = choose_model(task, scale, model, quality)
    ref = ModelRef.of(card)
    out_dir = Path(output_dir) if output_dir is not None else None
    names = output_names(items, task, card.scale if task == "upscale" else scale) if out_dir else []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    own_pool = executor is None
    n_workers = workers or local_workers()
    if own_pool and threads is None:
        threads = max(1, local_workers() // n_workers)
    opts = _Options(
        task=task,
        scale=scale,
        model=card.id,
        tile=tile,
        overlap=overlap,
        controls=dict(controls or {}),
        quality=quality,
        threads=threads,
        max_pixels=max_pixels,
    )
    expect = _expectation(card, ref, opts, tta)
    blobs = ref.payloads(send)
    if executor is None:
        import multiprocessing

        executor = ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of onnxruntime's threads
            initializer=warm_up,
            initargs=(ref, blobs, threads),
        )
    shared = _share_blobs(executor, blobs)
    window = max(8, 4 * _capacity(executor, workers if own_pool else None))  # queued, not all at once
    done: list[BatchItem | None] = [None] * len(items)
    records = out_dir / RECORDS_FILE if out_dir is not None else None
    log = records.open("a", encoding="utf-8") if records is not None else None
    bar = _progress_bar(len(items), progress, f"{task} ({card.id})")
    pending: dict[Future[_Outcome], int] = {}

    def finish(index: int, item: BatchItem) -> None:
        done[index] = item
        if log is not None:
            log.write(json.dumps(_log_line(item), sort_keys=True) + "\n")
            log.flush()
        if bar is not None:
            bar.update(1)
            if item.status == "failed":
                bar.set_postfix_str(f"{sum(1 for d in done if d and d.status == 'failed')} failed")
        if on_item is not None:
            on_item(item)

    def submit(index: int) -> None:
        source = items[index]
        target = str(out_dir / names[index]) if out_dir is not None else None
        try:
            payload = _source_for(source, send)
        except EnhanceError as exc:
            finish(index, BatchItem(index, _label(source, index), "failed", error=exc))
            return
        job = _Job(
            index=index,
            source=payload,
            options=opts,
            ref=ref,
            expect=expect,
            output=target if send == "paths" else None,
            resume=resume,
            file_name=Path(source).name if isinstance(source, (str, os.PathLike)) else None,
        )
        if send == "bytes" and target is not None and resume:
            record = verified_record(target, expect, payload, max_pixels)
            if record is not None:
                finish(
                    index,
                    BatchItem(index, _label(source, index), "skipped", output=Path(target), record=record),
                )
                return
        try:
            pending[executor.submit(run_item, job, shared)] = index
        except Exception as exc:  # a broken pool or a lost cluster: this item fails, the rest go on
            finish(index, BatchItem(index, _label(source, index), "failed", error=exc))

    try:
        queue = iter(range(len(items)))
        for index in queue:
            submit(index)
            if len(pending) >= window:
                break
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                index = pending.pop(fut)
                finish(index, _collect(fut, index, items[index], out_dir, names))
                for nxt in queue:
                    submit(nxt)
                    if len(pending) >= window:
                        break
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if own_pool:
            executor.shutdown(wait=True, cancel_futures=True)
    return BatchResult(
        items=[d for d in done if d is not None],
        output_dir=out_dir,
        records_path=records,
        seconds=time.perf_counter() - t_start,
        workers=n_workers if own_pool else None,
    )


def _collect(
    fut: Future[_Outcome], index: int, source: Any, out_dir: Path | None, names: list[str]
) -> BatchItem:
    label = _label(source, index)
    try:
        outcome = fut.result()
    except BaseException as exc:  # the executor lost the task (a worker died, a cluster went away)
        return BatchItem(index, label, "failed", error=exc)
    item = BatchItem(
        index=index,
        source=label,
        status=outcome.status,
        result=outcome.result,
        output=Path(outcome.output) if outcome.output else None,
        record=outcome.record,
        error=outcome.error.rebuild() if outcome.error else None,
        seconds=outcome.seconds,
        worker=outcome.worker,
    )
    if out_dir is not None and item.output is None and item.result is not None:  # send="bytes"
        try:
            item.output = item.result.save(out_dir / names[index])
            item.result = None
        except (EnhanceError, OSError) as exc:
            item.status, item.error, item.result = "failed", exc, None
    return item


def _log_line(item: BatchItem) -> dict[str, Any]:
    line: dict[str, Any] = {
        "index": item.index,
        "source": item.source,
        "status": item.status,
        "output": str(item.output) if item.output else None,
        "seconds": round(item.seconds, 3),
        "worker": item.worker,
    }
    if item.error is not None:
        line["error"] = {"type": type(item.error).__name__, "message": str(item.error)}
    if item.record is not None:
        line["record"] = item.record
    return line


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    path = Path(folder)
    if not path.is_dir():
        raise ImageDecodeError(f"{path} is not a folder")
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


__all__ = ["RECORDS_FILE", "BatchItem", "BatchResult", "enhance_many", "image_files", "verified_record"]
