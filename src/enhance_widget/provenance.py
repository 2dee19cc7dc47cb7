"""Provenance records: what ran, on what, with which settings, how long. JSON-serialisable."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
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


def pixels_sha256(data: bytes) -> str:
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


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
