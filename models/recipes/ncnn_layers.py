"""ONNX nodes for the ncnn layers that need more than one line: convolution (with a fused
(leaky) ReLU), BinaryOp and Eltwise; and the graph they are added to. Used by ncnn_onnx.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from ncnn_format import Layer, WeightReader
from onnx import TensorProto, helper, numpy_helper

BINARY_OPS = {0: "Add", 1: "Sub", 2: "Mul", 3: "Div", 7: "Sub", 8: "Div"}
"""ncnn BinaryOp op_type -> ONNX op; 7 (rsub) and 8 (rdiv) swap their operands."""


@dataclass
class OnnxGraph:
    """The ONNX graph being built: nodes, initializers in layer order, ncnn blob aliases."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[TensorProto] = field(default_factory=list)
    alias: dict[str, str] = field(default_factory=dict)
    params: int = 0

    def const(self, name: str, array: np.ndarray, learned: bool = True) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        if learned:
            self.params += int(array.size)
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))


def conv(g: OnnxGraph, layer: Layer, src: str, w: WeightReader) -> None:
    p = layer.get
    co, kw = int(p(0, 0)), int(p(1, 0))
    kh, dw, sw = int(p(11, kw)), int(p(2, 1)), int(p(3, 1))
    dh, sh = int(p(12, dw)), int(p(13, sw))
    left = int(p(4, 0))
    top, right = int(p(14, left)), int(p(15, left))
    bottom = int(p(16, top))
    if min(left, top, right, bottom) < 0 or p(18, 0.0) != 0.0:
        raise ValueError(f"{layer.name}: only explicit zero padding is supported")
    activation = int(p(9, 0))
    if p(8, 0) or p(19, 0) or activation not in (0, 1, 2):
        raise ValueError(
            f"{layer.name}: int8, dynamic weights and activations other than (leaky) ReLU are not supported"
        )
    n = int(p(6, 0))
    ci = n // (co * kh * kw)
    if ci * co * kh * kw != n:
        raise ValueError(f"{layer.name}: weight size {n} does not factor as {co}x?x{kh}x{kw}")
    inputs = [src, g.const(layer.name + ".weight", w.tagged(n).reshape(co, ci, kh, kw))]
    if p(5, 0):
        inputs.append(g.const(layer.name + ".bias", w.raw_f32(co)))
    out = layer.outputs[0]
    conv_out = out + ".conv" if activation else out
    g.node(
        "Conv",
        inputs,
        [conv_out],
        layer.name,
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[top, left, bottom, right],
    )
    if activation == 1 or (activation == 2 and layer.arrays.get(10, (0.0,))[0] == 0.0):
        g.node("Relu", [conv_out], [out], layer.name + ".relu")
    elif activation == 2:
        g.node("LeakyRelu", [conv_out], [out], layer.name + ".leakyrelu", alpha=layer.arrays[10][0])


def binary(g: OnnxGraph, layer: Layer, ins: list[str]) -> None:
    op_type = int(layer.get(0, 0))
    if op_type not in BINARY_OPS:
        raise ValueError(f"{layer.name}: BinaryOp type {op_type} is not supported")
    if layer.get(1, 0):
        if len(ins) != 1:
            raise ValueError(f"{layer.name}: a scalar BinaryOp takes one input")
        ins = [ins[0], g.const(layer.name + ".b", np.array(float(layer.get(2, 0.0))), learned=False)]
    elif len(ins) != 2:
        raise ValueError(f"{layer.name}: BinaryOp takes two inputs")
    if op_type in (7, 8):
        ins = [ins[1], ins[0]]
    g.node(BINARY_OPS[op_type], ins, [layer.outputs[0]], layer.name)


def eltwise(g: OnnxGraph, layer: Layer, ins: list[str]) -> None:
    """Eltwise sum (op 1) with optional per-input coefficients: sum(c_i * x_i)."""
    if int(layer.get(0, 1)) != 1 or len(ins) < 2:
        raise ValueError(f"{layer.name}: only Eltwise sum of two or more inputs is supported")
    coeffs = layer.arrays.get(1, ())
    if coeffs and len(coeffs) != len(ins):
        raise ValueError(f"{layer.name}: {len(coeffs)} coefficients for {len(ins)} inputs")
    terms = []
    for i, (src, c) in enumerate(zip(ins, coeffs or (1.0,) * len(ins), strict=True)):
        if c == 1.0:
            terms.append(src)
            continue
        k = g.const(f"{layer.name}.coeff{i}", np.array(c, np.float32), learned=False)
        g.node("Mul", [src, k], [f"{layer.name}.term{i}"], f"{layer.name}.mul{i}")
        terms.append(f"{layer.name}.term{i}")
    g.node("Sum" if len(terms) > 2 else "Add", terms, [layer.outputs[0]], layer.name)
