"""Provenance records: what ran, on what, with which settings, how long. JSON-serialisable."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

SCHEMA = "enhance-widget/record"
SCHEMA_VERSION = 1
PNG_KEY = "enhance-widget"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("enhance-widget", "numpy", "pillow", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def pixels_sha256(data: bytes | memoryview) -> str:
    """sha256 of pixel bytes; a memoryview (``np.ascontiguousarray(a).data``) avoids a copy."""
    return hashlib.sha256(data).hexdigest()


def new_record(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    record.update(fields)
    # JSON-native from the start (lists, not tuples); fails here, not when saving
    normalised: dict[str, Any] = json.loads(json.dumps(record))
    return normalised


def run_record(
    *,
    engine: str,
    plan: dict[str, Any],
    card: Any,
    pass_cards: Sequence[Any],
    options: Mapping[str, Any],
    runtime: Mapping[str, Any],
    tile_ms: Sequence[float],
    pass_ms: Sequence[float],
    load_ms: float,
    total_ms: float,
    input: Mapping[str, Any],
    output: Mapping[str, Any],
) -> dict[str, Any]:
    """The record of one run, whichever engine ran it (``kernel``: onnxruntime here; ``browser``:
    onnxruntime-web in the page), so that ``replay`` reads both alike.

    ``plan``: ``Plan.summary()``; ``card``: the model asked for (a chain for x4), ``pass_cards``
    the models its passes ran; ``options``: tile, overlap, controls, quality, tta, threads (and
    the browser engine's provider asked for)."""
    return new_record(
        task=plan["task"],
        scale=plan["scale"],
        engine=engine,
        model={
            "id": card.id,
            "sha256": card.sha256,
            "passes": [{"id": c.id, "sha256": c.sha256} for c in pass_cards],
        },
        options={**options, "controls": dict(options.get("controls") or {}), "tta": bool(plan.get("tta"))},
        runtime=dict(runtime),
        plan=plan,
        tile_ms=[round(float(t), 2) for t in tile_ms],
        pass_ms=[round(float(t), 2) for t in pass_ms],
        load_ms=round(float(load_ms), 2),
        total_ms=round(float(total_ms), 2),
        input=dict(input),
        output=dict(output),
    )


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
