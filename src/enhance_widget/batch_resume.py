"""Resuming a batch: an output already on disk counts as done when the record embedded in it
names this job (same model bytes and options) and both the input and the output pixels match."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .catalog import ModelCard
from .errors import EnhanceError
from .provenance import pixels_sha256
from .result import read_record
from .workers import ModelRef

if TYPE_CHECKING:
    from .batch_worker import ItemOptions


def expectation(card: ModelCard, ref: ModelRef, opts: ItemOptions, tta: bool) -> dict[str, Any]:
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


__all__ = ["expectation", "read_png_array", "verified_record"]
