"""Re-run a recorded result: same model bytes, same input pixels, same options and plan.

``replay(record, source)`` checks, before anything runs, that

* the record is an enhance-widget record of a schema version this package reads;
* the installed model (and every pass of a chained model) has the sha256 the record names; the
  file itself is verified against the manifest when it is loaded, as on every run;
* the source decodes to exactly the pixels the record describes (sha256 of the float32 RGB
  buffer, as :func:`enhance_widget.enhance` computes it);

then runs :func:`enhance_widget.enhance` with the recorded task, scale, model, tile, overlap,
controls and threads, and with the recorded memory budget, so that the ``auto`` tiling strategy
chooses the same tiles on a machine with a different amount of memory.

On the CPU provider the output is byte-identical to the recorded one on the same machine
(checked by :func:`replay_matches`); a different CPU family may pick other onnxruntime kernels,
so across machines expect differences of at most a level or two.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .catalog import catalog
from .errors import EnhanceError, ModelIntegrityError
from .progress import CancelToken, Progress, TileEvent
from .provenance import SCHEMA, SCHEMA_VERSION, pixels_sha256
from .result import Result, read_record

__all__ = [
    "ReplayError",
    "ReplayInputMismatchError",
    "ReplayModelMismatchError",
    "ReplayWarning",
    "replay",
    "replay_matches",
]


class ReplayError(EnhanceError):
    """A record cannot be replayed: unknown schema, missing fields, or something differs."""


class ReplayModelMismatchError(ReplayError, ModelIntegrityError):
    """The installed model is not the one the record was made with (different sha256)."""


class ReplayInputMismatchError(ReplayError):
    """The source given to replay does not decode to the pixels the record was made from."""


class ReplayWarning(UserWarning):
    """The replay will run, but not exactly as recorded (e.g. the plan's tiles differ)."""


def _native(record: Mapping[str, Any]) -> dict[str, Any]:
    """A private, JSON-native copy (fails clearly on a record that is not JSON-serialisable)."""
    try:
        copy: dict[str, Any] = json.loads(json.dumps(record))
    except (TypeError, ValueError) as exc:
        raise ReplayError(f"the record is not JSON-serialisable: {exc}") from exc
    return copy


def _field(record: Mapping[str, Any], *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise ReplayError(f"the record has no {'.'.join(path)!r}; it cannot be replayed")
        node = node[key]
    return node


def _check_schema(record: Mapping[str, Any]) -> None:
    if record.get("schema") != SCHEMA:
        raise ReplayError(
            f"not an enhance-widget record (schema {record.get('schema')!r}, expected {SCHEMA!r})"
        )
    version = record.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise ReplayError(f"the record's schema_version {version!r} is not a positive integer")
    if version > SCHEMA_VERSION:
        raise ReplayError(
            f"the record has schema_version {version}, newer than this enhance-widget reads "
            f"({SCHEMA_VERSION}); upgrade enhance-widget to replay it"
        )


def _short(digest: Any) -> str:
    return f"{digest[:16]}..." if isinstance(digest, str) else repr(digest)


def _check_model(record: Mapping[str, Any]) -> None:
    model_id = _field(record, "model", "id")
    card = catalog().get(model_id)  # ModelNotFoundError names the known models
    recorded_passes = record["model"].get("passes") or [
        {"id": model_id, "sha256": record["model"].get("sha256")}
    ]
    installed = catalog().resolve_chain(card)
    if [p.get("id") for p in recorded_passes] != [c.id for c in installed]:
        raise ReplayModelMismatchError(
            f"model {model_id!r} now runs the passes {[c.id for c in installed]}, but the record "
            f"ran {[p.get('id') for p in recorded_passes]}; install the model version the record names"
        )
    if not card.is_chain and card.sha256 != record["model"].get("sha256"):
        raise ReplayModelMismatchError(
            f"the installed model {model_id!r} has sha256 {_short(card.sha256)}, but the record was "
            f"made with sha256 {_short(record['model'].get('sha256'))}: a different version of the "
            "model. Install the version the record names to replay it."
        )
    for rec, c in zip(recorded_passes, installed, strict=True):
        if c.sha256 != rec.get("sha256"):
            raise ReplayModelMismatchError(
                f"pass model {c.id!r} of {model_id!r} has sha256 {_short(c.sha256)}, but the record "
                f"was made with sha256 {_short(rec.get('sha256'))}: a different version of the model. "
                "Install the version the record names to replay it."
            )


def _check_plan(record: Mapping[str, Any], plan: Any) -> None:
    recorded = [(tuple(p["tile"]), tuple(p["grid"])) for p in _field(record, "plan", "passes")]
    now = [(tuple(p.tile), tuple(p.grid)) for p in plan.passes]
    recorded_tta = record.get("options", {}).get("tta")
    if recorded_tta is not None and bool(recorded_tta) != bool(getattr(plan, "tta", False)):
        warnings.warn(
            f"the record ran with test-time augmentation {'on' if recorded_tta else 'off'}, "
            "the replay's plan has it the other way; the output will differ",
            ReplayWarning,
            stacklevel=3,
        )
    if recorded != now:
        warnings.warn(
            f"the replay's tiles {now} differ from the recorded {recorded} (the model's cost figures "
            "or the tiling rules changed); the output will be close to, not identical with, the record",
            ReplayWarning,
            stacklevel=3,
        )


def replay(
    record: Mapping[str, Any] | str | os.PathLike[str],
    source: Any,
    progress: Progress | Callable[[TileEvent], None] | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """Re-run the run that ``record`` describes on ``source`` and return the new :class:`Result`.

    ``record``: a record dict (``result.record``) or the path of a PNG saved with one.
    ``source``: the same input as the recorded run (path, bytes, PIL.Image or array).
    Raises :class:`ReplayModelMismatchError` (a ``ModelIntegrityError``) when the installed model
    differs from the recorded one, :class:`ReplayInputMismatchError` when the source's pixels
    differ, and :class:`ReplayError` for a record it cannot read. Use :func:`replay_matches` to
    check the output against the record.
    """
    from .api import enhance, plan_for
    from .images import load_image, max_pixels_limit

    raw = record if isinstance(record, Mapping) else read_record(record)
    record = _native(raw)
    _check_schema(record)
    task = _field(record, "task")
    options = _field(record, "options")
    _check_model(record)

    expected = _field(record, "input", "pixels_sha256")
    size = record["input"].get("size")
    recorded_px = size[0] * size[1] if isinstance(size, list) and len(size) == 2 else 0
    limit = max(max_pixels_limit(None), recorded_px)  # the recorded run was allowed this many
    buf = load_image(source, max_pixels=limit)
    actual = pixels_sha256(np.ascontiguousarray(buf.rgb).tobytes())
    if actual != expected:
        raise ReplayInputMismatchError(
            f"the source is not the recorded input: its pixels have sha256 {_short(actual)} "
            f"({buf.size[0]}x{buf.size[1]}), the record's input has {_short(expected)}"
            + (f" ({size[0]}x{size[1]})" if recorded_px else "")
            + "; pass the same image (same file, same crop, same mode) that the record was made from"
        )

    budget = record.get("plan", {}).get("budget_bytes")
    kwargs: dict[str, Any] = {
        "task": task,
        "scale": record.get("scale") if task == "upscale" else None,
        "model": record["model"]["id"],
        "tile": options.get("tile", "auto"),
        "overlap": options.get("overlap", 16),
        "budget": budget,
    }
    if "quality" in options:  # records made before quality modes existed ran "balanced"
        kwargs["quality"] = options["quality"]
    _check_plan(record, plan_for(buf.size, **kwargs))
    # the pixels were decoded and checked above; enhance decodes the same source the same way
    return enhance(
        source,
        progress=progress,
        cancel=cancel,
        max_pixels=limit,
        controls=options.get("controls") or None,
        threads=options.get("threads"),
        **kwargs,
    )


def replay_matches(record: Mapping[str, Any], result: Result) -> bool:
    """Whether ``result``'s pixels are byte-identical to the output that ``record`` describes."""
    expected = record.get("output", {}).get("pixels_sha256")
    actual = pixels_sha256(np.ascontiguousarray(result.array).tobytes())
    return bool(expected) and actual == expected
