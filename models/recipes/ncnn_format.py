"""Reading ncnn model files: the ``.param`` text (layers, their blobs and parameters) and the
``.bin`` weights (ncnn's ModelBin load types). Used by ncnn_onnx.py."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

NCNN_MAGIC = "7767517"
FP16_TAG = 0x01306B47


@dataclass(frozen=True)
class Layer:
    """One line of a ``.param`` file."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, int | float] = field(default_factory=dict)
    arrays: dict[int, tuple[float, ...]] = field(default_factory=dict)
    """Array parameters (written ``-233KK=n,v1,...,vn`` for key KK), by key."""

    def get(self, key: int, default: int | float) -> int | float:
        return self.params.get(key, default)


def _number(text: str) -> int | float:
    return float(text) if any(ch in text for ch in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """Layers of an ncnn ``.param`` text file, in file order."""
    lines = [ln.split() for ln in text.splitlines()]
    if not lines or lines[0] != [NCNN_MAGIC]:
        raise ValueError(f"not an ncnn param file (first line should be {NCNN_MAGIC})")
    n_layers = int(lines[1][0])
    layers = []
    for tokens in lines[2:]:
        if not tokens:
            continue
        kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        ins = tuple(tokens[4 : 4 + n_in])
        outs = tuple(tokens[4 + n_in : 4 + n_in + n_out])
        params: dict[int, int | float] = {}
        arrays: dict[int, tuple[float, ...]] = {}
        for item in tokens[4 + n_in + n_out :]:
            key, value = item.split("=", 1)
            if int(key) <= -23300:
                count, *values = value.split(",")
                if int(count) != len(values):
                    raise ValueError(f"layer {name}: array parameter {item} holds {len(values)} values")
                arrays[-23300 - int(key)] = tuple(float(v) for v in values)
            else:
                params[int(key)] = _number(value)
        layers.append(Layer(kind, name, ins, outs, params, arrays))
    if len(layers) != n_layers:
        raise ValueError(f"param file declares {n_layers} layers, holds {len(layers)}")
    return layers


class WeightReader:
    """Sequential reader of an ncnn ``.bin``, following ncnn's ModelBin load types."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def raw_f32(self, count: int) -> np.ndarray:
        """Load type 1: ``count`` plain little-endian float32 values."""
        out = np.frombuffer(self.data, "<f4", count, self.offset).astype(np.float32)
        self.offset += 4 * count
        return out

    def tagged(self, count: int) -> np.ndarray:
        """Load type 0: a 4-byte tag, then float16 (tag 0x01306B47) or float32 (tag 0) values."""
        (tag,) = struct.unpack_from("<I", self.data, self.offset)
        self.offset += 4
        if tag == 0:
            return self.raw_f32(count)
        if tag == FP16_TAG:
            out = np.frombuffer(self.data, "<f2", count, self.offset).astype(np.float32)
            self.offset += (2 * count + 3) // 4 * 4
            return out
        raise ValueError(f"unsupported weight storage tag {tag:#010x} at byte {self.offset - 4}")

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise ValueError(f".bin not fully consumed: {self.offset} of {len(self.data)} bytes read")
