"""Read a TensorFlow.js graph model's files (no torch): constants, node attributes, SAME padding.

``load_weights`` widens float16-quantized weights to float32 and refuses other quantizations by name.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np


def attr_list(node: dict[str, Any], key: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def attr_str(node: dict[str, Any], key: str) -> str:
    s = node.get("attr", {}).get(key, {}).get("s", "")
    return base64.b64decode(s).decode() if s else ""


def fused_ops(node: dict[str, Any]) -> list[str]:
    raw = node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
    return [base64.b64decode(s).decode() for s in raw]


def load_weights(model_json: Path) -> dict[str, np.ndarray]:
    """Every constant of the model as a float32/int32 array (float16-quantized weights widened)."""
    spec = json.loads(model_json.read_text())
    out: dict[str, np.ndarray] = {}
    for group in spec["weightsManifest"]:
        blob = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = (w.get("quantization") or {}).get("dtype")
            dtype = {"float16": np.float16, None: None}.get(q, "unknown")
            if dtype == "unknown":
                raise NotImplementedError(f"weight quantization {q!r} of {w['name']}")
            if dtype is None:
                dtype = {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            size = count * np.dtype(dtype).itemsize
            arr = np.frombuffer(blob[pos : pos + size], dtype=dtype).reshape(w["shape"])
            out[w["name"]] = arr.astype(np.float32 if w["dtype"] == "float32" else np.int32)
            pos += size
    return out


def same_pad(k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF SAME padding (before, after) along one axis, for an even size when stride is 2."""
    eff = (k - 1) * dilation + 1
    total = max(eff - stride, 0)
    return total // 2, total - total // 2
