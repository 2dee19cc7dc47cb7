"""The colorize recipe's TensorFlow.js graph reader (training/colorize/tfjs_graph.py).

A small tfjs graph model is written here (model.json + one .bin shard, float16-quantized filters,
NHWC/HWIO layouts as the tfjs converter writes them). The weight loader must give back the same
arrays; with torch installed (the GPU recipe's environment) the interpreter must also compute what a
direct NHWC implementation of the graph computes, TensorFlow's SAME padding included.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "colorize"))
from tfjs_weights import load_weights, same_pad


def _s(text: str) -> dict[str, str]:
    return {"s": base64.b64encode(text.encode()).decode()}


def _conv_attrs(stride: int, fused: list[str]) -> dict[str, object]:
    return {
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
        "padding": _s("SAME"),
        "data_format": _s("NHWC"),
        "fused_ops": {"list": {"s": [_s(f)["s"] for f in fused]}},
    }


def write_model(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """x -> conv3x3/2 (+bias, Relu6) -> depthwise 5x5/2 (+bias) -> y; z = y * m + y; w = Mean_hw(z)."""
    w = {
        "conv_w": rng.normal(0, 0.3, (3, 3, 3, 4)),
        "conv_b": rng.normal(0, 0.1, (4,)),
        "dw_w": rng.normal(0, 0.3, (5, 5, 4, 1)),
        "dw_b": rng.normal(0, 0.1, (4,)),
        "m": rng.normal(1, 0.2, (4,)),
    }
    w = {k: v.astype(np.float16).astype(np.float32) for k, v in w.items()}
    nodes = [
        {"name": "x", "op": "Placeholder"},
        *({"name": k, "op": "Const"} for k in w),
        {"name": "axes", "op": "Const"},
        {
            "name": "c1",
            "op": "_FusedConv2D",
            "input": ["x", "conv_w", "conv_b"],
            "attr": _conv_attrs(2, ["BiasAdd", "Relu6"]),
        },
        {
            "name": "y",
            "op": "FusedDepthwiseConv2dNative",
            "input": ["c1", "dw_w", "dw_b"],
            "attr": _conv_attrs(2, ["BiasAdd"]),
        },
        {"name": "ym", "op": "Mul", "input": ["y", "m"]},
        {"name": "z", "op": "Add", "input": ["ym", "y"]},
        {"name": "w", "op": "Mean", "input": ["z", "axes"], "attr": {"keep_dims": {"b": True}}},
    ]
    specs = [
        {
            "name": k,
            "shape": list(v.shape),
            "dtype": "float32",
            "quantization": {"dtype": "float16", "original_dtype": "float32"},
        }
        for k, v in w.items()
    ] + [{"name": "axes", "shape": [2], "dtype": "int32"}]
    blob = b"".join(v.astype(np.float16).tobytes() for v in w.values()) + np.array([1, 2], np.int32).tobytes()
    (folder / "m.bin").write_bytes(blob)
    spec = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["m.bin"], "weights": specs}],
    }
    (folder / "model.json").write_text(json.dumps(spec))
    return w


def test_load_weights_widens_float16_and_keeps_int32(tmp_path: Path) -> None:
    w = write_model(tmp_path, np.random.default_rng(0))
    got = load_weights(tmp_path / "model.json")
    for k, v in w.items():
        assert got[k].dtype == np.float32 and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)
    np.testing.assert_array_equal(got["axes"], [1, 2])
    assert got["axes"].dtype == np.int32


def test_load_weights_refuses_unknown_quantization(tmp_path: Path) -> None:
    write_model(tmp_path, np.random.default_rng(0))
    spec = json.loads((tmp_path / "model.json").read_text())
    spec["weightsManifest"][0]["weights"][0]["quantization"] = {"dtype": "uint8", "scale": 0.1, "min": 0}
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(NotImplementedError, match="uint8"):
        load_weights(tmp_path / "model.json")


@pytest.mark.parametrize(
    ("k", "stride", "pad"), [(3, 1, (1, 1)), (3, 2, (0, 1)), (5, 2, (1, 2)), (1, 2, (0, 0))]
)
def test_same_padding_matches_tensorflow_for_even_sizes(k: int, stride: int, pad: tuple[int, int]) -> None:
    # TF: total = max((ceil(n/s) - 1) * s + k - n, 0), the larger half after; n even here.
    n = 16
    total = max((-(-n // stride) - 1) * stride + k - n, 0)
    assert same_pad(k, stride) == pad == (total // 2, total - total // 2)


def _reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The graph in NHWC with explicit TF SAME padding (numpy only)."""

    def conv(a: np.ndarray, f: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
        k = f.shape[0]
        before, after = same_pad(k, stride)
        a = np.pad(a, ((0, 0), (before, after), (before, after), (0, 0)))
        ho, wo = (a.shape[1] - k) // stride + 1, (a.shape[2] - k) // stride + 1
        out = np.zeros((a.shape[0], ho, wo, f.shape[3] if not depthwise else a.shape[3]), np.float64)
        for i in range(k):
            for j in range(k):
                patch = a[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :]
                out += patch * f[i, j, :, 0] if depthwise else patch @ f[i, j]
        return out

    c1 = np.clip(conv(x, w["conv_w"], 2, False) + w["conv_b"], 0, 6)
    y = conv(c1, w["dw_w"], 2, True) + w["dw_b"]
    z = y * w["m"] + y
    return z.mean(axis=(1, 2), keepdims=True)


def test_interpreter_matches_direct_nhwc_computation(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")  # the recipe's GPU environment; CI has no torch
    from tfjs_graph import TfjsGraph

    rng = np.random.default_rng(1)
    w = write_model(tmp_path, rng)
    x = rng.uniform(0, 2, (1, 32, 64, 3)).astype(np.float32)
    net = TfjsGraph(tmp_path / "model.json", "x", ["y", "w"])
    y, mean = net(torch.from_numpy(x).permute(0, 3, 1, 2))
    assert tuple(y.shape) == (1, 4, 8, 16)
    np.testing.assert_allclose(mean.permute(0, 2, 3, 1).numpy(), _reference(x, w), atol=1e-4)
    with pytest.raises(NotImplementedError, match="Softplus"):
        spec = json.loads((tmp_path / "model.json").read_text())
        spec["modelTopology"]["node"][-1]["op"] = "Softplus"
        (tmp_path / "model.json").write_text(json.dumps(spec))
        TfjsGraph(tmp_path / "model.json", "x", ["w"])(torch.from_numpy(x).permute(0, 3, 1, 2))


def test_trainable_graph_makes_only_conv_weights_parameters(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tfjs_graph import TfjsGraph

    rng = np.random.default_rng(2)
    write_model(tmp_path, rng)
    x = torch.from_numpy(rng.uniform(0, 2, (1, 3, 32, 64)).astype(np.float32))
    frozen = TfjsGraph(tmp_path / "model.json", "x", ["w"])
    tuned = TfjsGraph(tmp_path / "model.json", "x", ["w"], trainable=True)
    assert list(frozen.parameters()) == [] and frozen.state_dict() == {}
    # conv_w, conv_b, dw_w, dw_b become parameters (saved with the network); m and axes stay buffers
    shapes = sorted(tuple(p.shape) for p in tuned.parameters())
    assert shapes == [(4,), (4,), (4, 1, 5, 5), (4, 3, 3, 3)]
    assert len(tuned.state_dict()) == 4
    (a,) = frozen(x)
    (b,) = tuned(x)
    torch.testing.assert_close(a, b)
    b.sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in tuned.parameters())
