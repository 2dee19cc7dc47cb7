"""Many images at once: ``enhance_many`` on any ``concurrent.futures.Executor``.

By default a local process pool sized to the cores runs the batch, each worker loading the model
once (its initializer); a Dask cluster runs the same code through ``client.get_executor()``.
Results come back in input order, or go to files in ``output_dir`` with one provenance JSON-lines
file (``records.jsonl``). A failing item is reported with its typed error and never stops the
batch. With ``output_dir`` and ``resume=True``, outputs already written and verified by the record
embedded in them (same model bytes and options, same input pixels, intact output pixels) are
skipped, so a batch killed half-way continues where it stopped.

Here: the loop that feeds the executor and gathers the items. Its parts: ``batch_items`` (what
comes back), ``batch_worker`` (one item on a worker), ``batch_resume`` (which outputs count as
done), ``output_names`` (the files' names).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .api import _default_scale, choose_model
from .batch_items import BatchItem, BatchResult, log_line, source_label
from .batch_items import Status as Status
from .batch_resume import expectation, verified_record
from .batch_resume import read_png_array as read_png_array
from .batch_worker import ItemJob, ItemOptions, ItemOutcome, run_item
from .errors import EnhanceError, ImageDecodeError
from .output_names import output_names
from .output_names import output_tag as output_tag
from .planning import DEFAULT_OVERLAP
from .workers import ModelRef, Send, check_send, local_workers, warm_up

RECORDS_FILE = "records.jsonl"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


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
    opts = ItemOptions(
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
    expect = expectation(card, ref, opts, tta)
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
    pending: dict[Future[ItemOutcome], int] = {}

    def finish(index: int, item: BatchItem) -> None:
        done[index] = item
        if log is not None:
            log.write(json.dumps(log_line(item), sort_keys=True) + "\n")
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
            finish(index, BatchItem(index, source_label(source, index), "failed", error=exc))
            return
        job = ItemJob(
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
                    BatchItem(
                        index, source_label(source, index), "skipped", output=Path(target), record=record
                    ),
                )
                return
        try:
            pending[executor.submit(run_item, job, shared)] = index
        except Exception as exc:  # a broken pool or a lost cluster: this item fails, the rest go on
            finish(index, BatchItem(index, source_label(source, index), "failed", error=exc))

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
    fut: Future[ItemOutcome], index: int, source: Any, out_dir: Path | None, names: list[str]
) -> BatchItem:
    label = source_label(source, index)
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


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    path = Path(folder)
    if not path.is_dir():
        raise ImageDecodeError(f"{path} is not a folder")
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


__all__ = ["RECORDS_FILE", "BatchItem", "BatchResult", "enhance_many", "image_files", "verified_record"]
