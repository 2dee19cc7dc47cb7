"""Matching for the nearest-upsample + conv fold (``fold_upsample.py`` holds the proof and the CLI).

Finds the first ``Resize``/``Upsample`` (nearest, an integer factor that replicates pixels) whose only
consumer is a foldable 2-D ``Conv`` (constant weights, group 1, stride 1, "same" padding), and reads
the factor: from constant ``scales``, or from a ``sizes`` subgraph of ``Shape`` times constants,
checked by evaluating it on probe shapes. Nothing here changes the graph (see ``fold_rewrite.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops allowed in the subgraph that computes a Resize's ``sizes`` from ``Shape(X)``: with constant
# operands they give [d0*k0, d1*k1, ...], so two probe shapes determine (and check) the factors.
SHAPE_OPS = frozenset({"Shape", "Slice", "Gather", "Cast", "Mul", "Concat", "Constant", "Unsqueeze"})
SHAPE_OPS |= {"Squeeze", "Identity", "Reshape"}
PROBE_HW = ((5, 7), (11, 3), (64, 129))


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nearest_source_index(y: int, scale: int, transform: str, rounding: str) -> int:
    """The input index ONNX Resize (mode nearest) reads for output index ``y`` of an integer upscale."""
    length_in, length_out = 1000, 1000 * scale  # any length > 1: the transforms below do not use it
    if transform == "asymmetric":
        x = y / scale
    elif transform in ("half_pixel", "pytorch_half_pixel"):
        x = (y + 0.5) / scale - 0.5 if length_out > 1 else 0.0
    elif transform == "tf_half_pixel_for_nn":
        x = (y + 0.5) / scale
    else:  # align_corners, tf_crop_and_resize: not an integer replication
        raise ValueError(transform)
    if rounding == "floor":
        index = int(np.floor(x))
    elif rounding == "ceil":
        index = int(np.ceil(x))
    elif rounding == "round_prefer_floor":
        index = int(np.ceil(x - 0.5))
    elif rounding == "round_prefer_ceil":
        index = int(np.floor(x + 0.5))
    else:
        raise ValueError(rounding)
    return min(max(index, 0), length_in - 1)


def replicates(scale: int, transform: str, rounding: str) -> bool:
    """Whether this Resize setting maps output index y to y // scale (the mapping is periodic in y)."""
    try:
        return all(
            nearest_source_index(y, scale, transform, rounding) == y // scale for y in range(4 * scale)
        )
    except ValueError:
        return False


class Graph:
    """Index of a graph's producers, consumers and constants."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.nodes = list(graph.node)
        self.init = {t.name: t for t in graph.initializer}
        self.index = {out: k for k, n in enumerate(self.nodes) for out in n.output}  # producer's index
        self.producer = {out: self.nodes[k] for out, k in self.index.items()}
        self.consumers: dict[str, list[int]] = {}
        for k, n in enumerate(self.nodes):
            for name in n.input:
                self.consumers.setdefault(name, []).append(k)
        self.outputs = {o.name for o in graph.output}

    def const(self, name: str) -> np.ndarray | None:
        if name in self.init:
            return numpy_helper.to_array(self.init[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            value = _attrs(node).get("value")
            if isinstance(value, onnx.TensorProto):
                return numpy_helper.to_array(value)
        return None

    def ancestors(self, name: str, stop: str) -> list[onnx.NodeProto] | None:
        """Nodes computing ``name`` from constants and ``stop``, in graph order, or None."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            cur = todo.pop()
            if cur in seen or cur == stop or cur in self.init or cur == "":
                continue
            seen.add(cur)
            node = self.producer.get(cur)
            if node is None:
                return None  # a graph input other than stop
            todo.extend(node.input)
        return [n for n in self.nodes if any(o in seen for o in n.output)]


def _probe_sizes(
    g: Graph, sizes: str, data: str, channels: int, opsets: Sequence[onnx.OperatorSetIdProto]
) -> int | None:
    """The integer factor s when ``sizes`` always equals [n, c, s*h, s*w] for data of shape (n, c, h, w)."""
    from onnx.reference import ReferenceEvaluator

    nodes = g.ancestors(sizes, data)
    if nodes is None or any(n.op_type not in SHAPE_OPS for n in nodes):
        return None
    if any(n.op_type != "Shape" and data in n.input for n in nodes):
        return None  # the data's values (not only its shape) would matter
    inits = [g.init[i] for n in nodes for i in n.input if i in g.init]
    unique = list({t.name: t for t in inits}.values())
    x = helper.make_tensor_value_info(data, onnx.TensorProto.FLOAT, None)
    y = helper.make_tensor_value_info(sizes, onnx.TensorProto.INT64, None)
    probe = helper.make_model(helper.make_graph(nodes, "probe", [x], [y], unique), opset_imports=list(opsets))
    evaluator = ReferenceEvaluator(probe)
    factor: int | None = None
    for n, (h, w) in enumerate(PROBE_HW, start=1):
        outputs = evaluator.run(None, {data: np.zeros((n, channels, h, w), np.float32)})
        got = np.asarray(outputs[0] if isinstance(outputs, list) else outputs[sizes])
        if got.shape != (4,) or int(got[0]) != n or int(got[1]) != channels:
            return None
        sy, sx = int(got[2]) // h, int(got[3]) // w
        if int(got[2]) != sy * h or int(got[3]) != sx * w or sy != sx or (factor not in (None, sy)):
            return None
        factor = sy
    return factor


def upsample_factor(
    g: Graph, node: onnx.NodeProto, channels: int, opsets: Sequence[onnx.OperatorSetIdProto]
) -> int | None:
    """The integer nearest-upscale factor of a Resize/Upsample node on H and W (N, C kept), or None."""
    attrs = _attrs(node)
    if _text(attrs.get("mode", "nearest")) != "nearest":
        return None
    scales: np.ndarray | None = None
    if node.op_type == "Upsample":
        if "scales" in attrs:
            scales = np.asarray(attrs["scales"], np.float64)
        elif len(node.input) > 1:
            scales = g.const(node.input[1])
        transform, rounding = "asymmetric", "floor"
    elif node.op_type == "Resize":
        if "axes" in attrs or _text(attrs.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
            return None
        transform = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        rounding = _text(attrs.get("nearest_mode", "round_prefer_floor"))
        inputs = list(node.input) + [""] * 4
        scales_name = inputs[1] if len(node.input) == 2 else inputs[2]  # opset 10: (X, scales)
        sizes_name = inputs[3] if len(node.input) > 2 else ""
        if scales_name:
            scales = g.const(scales_name)
            if scales is not None and scales.size == 0:
                scales = None
        if scales is None and sizes_name:
            factor = _probe_sizes(g, sizes_name, node.input[0], channels, opsets)
            if factor is None or not replicates(factor, transform, rounding):
                return None
            return factor
    else:
        return None
    if scales is None or scales.shape != (4,):
        return None
    s = float(scales[2])
    if list(scales[:2]) != [1.0, 1.0] or float(scales[3]) != s or s != int(s) or s < 2:
        return None
    return int(s) if replicates(int(s), transform, rounding) else None


def same_pads(attrs: dict[str, object], kernel: Sequence[int], dilations: Sequence[int]) -> list[int] | None:
    """Begin pads per axis of a stride-1 conv whose output has its input's size, or None."""
    auto = _text(attrs.get("auto_pad", "NOTSET"))
    begins = []
    for axis, (k, d) in enumerate(zip(kernel, dilations)):
        total = d * (k - 1)
        if auto == "SAME_UPPER":
            begins.append(total // 2)
        elif auto == "SAME_LOWER":
            begins.append(total - total // 2)
        elif auto == "NOTSET":
            pads = [int(p) for p in attrs.get("pads", [0] * 2 * len(kernel))]  # type: ignore[attr-defined]
            if pads[axis] + pads[axis + len(kernel)] != total:
                return None
            begins.append(pads[axis])
        else:  # VALID shrinks the output
            return None
    return begins


def next_match(
    g: Graph, opsets: Sequence[onnx.OperatorSetIdProto]
) -> tuple[int, int, int, np.ndarray, np.ndarray | None, list[int], list[int]] | None:
    """The first foldable (upsample index, conv index, factor, weight, bias, dilations, begin pads)."""
    for conv_k, conv in enumerate(g.nodes):
        if conv.op_type != "Conv" or conv.domain not in ("", "ai.onnx"):
            continue
        up_k = g.index.get(conv.input[0])
        if up_k is None:
            continue
        up = g.nodes[up_k]
        if up.op_type not in ("Resize", "Upsample") or up.domain not in ("", "ai.onnx"):
            continue
        if len(g.consumers.get(up.output[0], [])) != 1 or up.output[0] in g.outputs:
            continue
        weight = g.const(conv.input[1])
        bias = g.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        if weight is None or weight.ndim != 4 or weight.dtype not in (np.float32, np.float64):
            continue
        attrs = _attrs(conv)
        kernel = [int(k) for k in weight.shape[2:]]
        dilations = [int(d) for d in attrs.get("dilations", [1, 1])]  # type: ignore[attr-defined]
        strides = [int(s) for s in attrs.get("strides", [1, 1])]  # type: ignore[attr-defined]
        if int(attrs.get("group", 1)) != 1 or strides != [1, 1]:  # type: ignore[call-overload]
            continue
        if "kernel_shape" in attrs and [int(k) for k in attrs["kernel_shape"]] != kernel:  # type: ignore[attr-defined]
            continue
        pads = same_pads(attrs, kernel, dilations)
        if pads is None:
            continue
        scale = upsample_factor(g, up, int(weight.shape[1]), opsets)
        if scale is None:
            continue
        return up_k, conv_k, scale, weight, bias, dilations, pads
    return None
