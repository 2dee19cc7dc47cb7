"""The public Python API: enhance, list_models, register_model."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from .catalog import TASKS, ModelCard, SizeRule, catalog, sha256_of
from .engine import run_plan
from .errors import EnhanceError, MemoryBudgetError, ModelFormatError, ModelIntegrityError, ModelNotFoundError
from .images import load_image, resize_plane, to_array, with_colour_output
from .planning import DEFAULT_OVERLAP, Plan, default_scale, plan_for
from .planning import choose_model as choose_model  # the one home of the choice (pure Python)
from .progress import CallbackProgress, CancelToken, Progress, TileEvent
from .provenance import pixels_sha256, run_record
from .result import Result
from .runtimes import Runtime
from .runtimes.ort import RuntimeOptions, load_runtime
from .runtimes.tta import TtaRuntime
from .sinks import ArraySink

_default_scale = default_scale  # batch.py and dask_array.py import it from here


def list_models(task: str | None = None) -> list[ModelCard]:
    """Every model card (or those of one task), installed or not (see ``card.installed``)."""
    if task is not None and task not in TASKS:
        raise ModelNotFoundError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    return catalog().cards(task)


def _check_memory(
    plan: Plan, task: str, scale: int | None, model: str | None, overlap: int, quality: str
) -> None:
    """Refuse a plan that needs more memory than the machine has, suggesting a tile that fits."""
    avail = plan.available_bytes
    if avail is None or plan.memory_bytes <= avail:
        return
    fitting = plan_for(plan.in_size, task, scale, model, "auto", overlap, avail // 2, quality)
    tile = max(fitting.passes[-1].tile)
    raise MemoryBudgetError(
        f"this plan needs about {plan.memory_bytes / 2**20:,.0f} MiB but only "
        f"{avail / 2**20:,.0f} MiB is available; use tile={tile} (or tile='auto')",
        suggested_tile=tile,
    )


def _as_progress(
    progress: Progress | Callable[[TileEvent], None] | None, cancel: CancelToken | None
) -> tuple[Progress, CancelToken]:
    """Accept a Progress object, a per-tile callback or nothing; find the cancel token."""
    if progress is None or not hasattr(progress, "tile_done"):
        p = CallbackProgress(on_tile=progress, cancel=cancel)
        return p, p.cancel
    prog = cast(Progress, progress)
    token = cancel or getattr(prog, "cancel", None)
    if not isinstance(token, CancelToken):
        token = CancelToken()
    return prog, token


def enhance(
    source: Any,
    task: str = "upscale",
    scale: int | None = None,
    model: str | None = None,
    tile: int | str | None = "auto",
    overlap: int = DEFAULT_OVERLAP,
    progress: Progress | Callable[[TileEvent], None] | None = None,
    cancel: CancelToken | None = None,
    controls: Mapping[str, float] | None = None,
    max_pixels: int | None = None,
    threads: int | None = None,
    budget: int | None = None,
    quality: str = "balanced",
    models_dir: str | os.PathLike[str] | None = None,
) -> Result:
    """Enhance one image and return a :class:`Result` with its provenance record.

    ``source``: path, bytes, PIL.Image or numpy array. ``tile``: "auto", "whole" or a side in
    input pixels. ``progress``: a Progress object or a callback receiving each TileEvent.
    ``cancel``: a CancelToken another thread may cancel (raises ``Cancelled``).
    ``quality``: "fast", "balanced" (default) or "best", as the manifest defines them per task.
    ``controls``: values for the model's extra inputs, e.g. ``{"strength": 25}`` for FFDNet.
    ``models_dir``: a folder searched first for model files (like ``ENHANCE_WIDGET_MODELS``).
    """
    if models_dir is not None:
        catalog().add_search_dir(models_dir)
    t_start = time.perf_counter()
    buf = load_image(source, max_pixels)
    plan = plan_for(buf.size, task, scale, model, tile, overlap, budget, quality)
    _check_memory(plan, task, scale, model, overlap, quality)
    card = catalog().get(plan.model_id)
    pass_cards = list(plan.cards)
    if card.pipeline == "global-lab":
        buf = with_colour_output(buf)
    options = RuntimeOptions.from_env()
    if threads is not None:
        options = replace(options, intra_op_threads=threads)
    t_load = time.perf_counter()
    runtimes: list[Runtime] = [load_runtime(c, options) for c in pass_cards]
    if plan.tta:
        runtimes = [TtaRuntime(rt, c) for rt, c in zip(runtimes, pass_cards, strict=True)]
    load_ms = (time.perf_counter() - t_load) * 1000
    prog, token = _as_progress(progress, cancel)
    removers = [token.on_cancel(rt.terminate) for rt in runtimes]
    alpha = resize_plane(buf.alpha, plan.out_size) if buf.alpha is not None else None

    def convert(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = box
        return to_array(rgb, alpha[y0:y1, x0:x1] if alpha is not None else None, buf)

    # finished regions are converted to the output's dtype as tiles finish: no float copy of the output
    sink = ArraySink(plan.out_size, convert, disk_threshold_bytes=plan.budget_bytes)
    if alpha is None and buf.kind == "rgb" and buf.dtype == "uint8":
        sink.direct_dtype = np.dtype(np.uint8)  # to_array's rule, which a GPU pass may apply itself
    # the record's input digest is computed beside the run (hashlib releases the GIL)
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enhance-hash")
    input_sha = hashing.submit(pixels_sha256, np.ascontiguousarray(buf.rgb).data)
    try:
        out = run_plan(plan, buf.rgb, pass_cards, runtimes, prog, controls, plan.budget_bytes, sink)
    finally:
        for remove in removers:
            remove()
        hashing.shutdown(wait=True)
    assert sink.array is not None
    array = sink.array
    record = run_record(
        engine="kernel",
        plan=plan.summary(),
        card=card,
        pass_cards=pass_cards,
        options={
            "tile": tile,
            "overlap": overlap,
            "controls": dict(controls or {}),
            "threads": threads,
            "quality": quality,
        },
        runtime={
            "name": getattr(runtimes[0], "name", "onnxruntime"),
            "version": getattr(runtimes[0], "version", ""),
            "provider": runtimes[0].provider,
            "deterministic": options.deterministic,
        },
        tile_ms=out.tile_ms,
        pass_ms=out.pass_ms,
        load_ms=load_ms,
        total_ms=(time.perf_counter() - t_start) * 1000,
        input={
            "size": list(buf.size),
            "mode": buf.out_mode,
            "dtype": buf.dtype,
            "file": buf.path.name if buf.path else None,
            "pixels_sha256": input_sha.result(),
            "notes": buf.notes,
        },
        output={
            "size": [int(array.shape[1]), int(array.shape[0])],
            "mode": buf.out_mode,
            "dtype": str(array.dtype),
            "pixels_sha256": sink.sha256 or pixels_sha256(np.ascontiguousarray(array).data),
        },
    )
    return Result(array=array, record=record, source=buf)


def register_model(
    path: str | os.PathLike[str],
    task: str,
    scale: int = 1,
    sha256: str | None = None,
    id: str | None = None,
    layout: str | None = None,
    value_range: float = 1.0,
    multiple_of: int = 1,
    minimum: int = 1,
    license: str = "user supplied",
) -> ModelCard:
    """Add a user's own ONNX file to the catalog, checked against its graph.

    With ``sha256`` given the file must match it (``ModelIntegrityError`` otherwise); without it,
    the file's current digest is recorded and checked on every later load.
    """
    import onnxruntime as ort

    from .runtimes.ort import check_graph

    if task not in TASKS:
        raise ModelNotFoundError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"no model file at {p}")
    data = p.read_bytes()
    digest = sha256_of(data)
    if sha256 is not None and sha256.lower() != digest:
        raise ModelIntegrityError(f"{p} has sha256 {digest}, not the expected {sha256}")
    try:
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelFormatError(f"{p} is not a valid ONNX model: {exc}") from exc
    inputs = sess.get_inputs()
    if not inputs:
        raise ModelFormatError(f"{p} has no inputs")
    first = inputs[0]
    if layout is None:
        shape = first.shape
        layout = "NCHW" if len(shape) == 4 and shape[1] in (1, 3) else "NHWC"
    if layout not in ("NHWC", "NCHW"):
        raise ValueError(f"layout must be NHWC or NCHW, got {layout!r}")
    card = ModelCard(
        id=id or f"user-{p.stem}-{digest[:8]}",
        task=task,
        scale=scale,
        title=p.name,
        file=p.name,
        sha256=digest,
        size_bytes=len(data),
        layout=layout,  # type: ignore[arg-type]
        value_range=value_range,
        input_name=first.name,
        size_rule=SizeRule(multiple_of=multiple_of, minimum=max(minimum, 1)),
        license=license,
        source={"registry": "user", "path": str(p.resolve())},
        path=p.resolve(),
        user=True,
    )
    check_graph(card, inputs, sess.get_outputs())
    return catalog().add(replace(card))


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["EnhanceError", "enhance", "list_models", "plan_for", "register_model"]
