"""Fold "nearest upsample, then convolution" into "low-resolution convolution, then depth-to-space".

A nearest upsample by an integer factor ``s`` followed by a stride-1 KxK convolution computes, at the
high-resolution pixel ``Y = s*y + p`` (``p`` the sub-position, 0..s-1)::

    out[o, Y] = b[o] + sum_{c, i} W[o, c, i] * up[c, Y + i*dil - pad]
              = b[o] + sum_{c, i} W[o, c, i] * low[c, y + floor((p + i*dil - pad) / s)]

because ``up[c, Y'] = low[c, floor(Y' / s)]``. So each sub-position ``p`` is a convolution of the
LOW-resolution input with the kernel ``W_p[d] = sum of W[i] over the taps i with floor((p + i*dil -
pad)/s) = d``: one low-resolution convolution with ``s*s*Cout`` output channels (one group of ``Cout``
per sub-position pair (py, px)) followed by ``DepthToSpace(blocksize=s, mode=DCR)`` computes the same
function, per axis and in 2-D (the kernel is the outer sum of the per-axis tap maps). Zero padding
matches too: the upsampled index ``s*y + q`` lies in ``[0, s*H)`` exactly when ``y + floor(q/s)``
lies in ``[0, H)``, so the high-resolution zero border is the low-resolution zero border. The only
difference is floating-point summation order (taps that read the same input value are added first),
about 1e-7 relative.

For the esrgan-slim x4 tail (Resize x4 of 48 channels, then a 3x3 convolution to 3 channels) that
is a 3x3 convolution 48 -> 48 at low resolution plus a depth-to-space: the same multiply-adds, but
no 16x-sized 48-channel tensor, no Resize and no 3-output-channel convolution (which onnxruntime runs
poorly).

What is matched (anything else is left as it is): ``Resize`` (opset 10+, mode ``nearest``, a
coordinate transform and rounding that map output index ``Y`` to ``floor(Y/s)``; integer ``scales``
of ``[1, 1, s, s]``, or ``sizes`` computed from ``Shape`` of its own input times constants, checked
by evaluating that shape subgraph on probe shapes) and ``Upsample`` (nearest, constant integer
scales) whose only consumer is a 2-D ``Conv`` with constant weights, ``group`` 1, stride 1 and
"same" padding (explicit pads or ``auto_pad`` SAME_UPPER/SAME_LOWER, any dilation). Chains
(x2 -> conv -> x2 -> conv) are folded pair by pair. The shape subgraph that only fed a removed Resize
is removed with it; no other node changes, and nodes keep their names and order.

Usage (any Python with ``onnx`` and ``numpy``; the UpscalerJS recipe runs it in its venv)::

    python models/recipes/fold_upsample.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops allowed in the subgraph that computes a Resize's ``sizes`` from ``Shape(X)``: with constant
# operands they give [d0*k0, d1*k1, ...], so two probe shapes determine (and check) the factors.
SHAPE_OPS = frozenset({"Shape", "Slice", "Gather", "Cast", "Mul", "Concat", "Constant", "Unsqueeze"})
SHAPE_OPS |= {"Squeeze", "Identity", "Reshape"}
PROBE_HW = ((5, 7), (11, 3), (64, 129))


@dataclasses.dataclass(frozen=True)
class Fold:
    """One folded pair, for the recipe's report."""

    upsample: str  # name of the removed Resize/Upsample node
    conv: str  # name of the removed Conv node
    scale: int
    kernel: tuple[int, int]  # the original kernel
    low_kernel: tuple[int, int]  # the low-resolution kernel
    channels: tuple[int, int]  # (Cin, Cout) of the original conv; the new one has s*s*Cout outputs


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


def tap_map(scale: int, kernel: int, dilation: int, pad: int) -> tuple[list[list[int]], int, int]:
    """Per sub-position p, the low-resolution offset each tap i reads; and the offsets' min, max."""
    offsets = [[(p + i * dilation - pad) // scale for i in range(kernel)] for p in range(scale)]
    flat = [d for row in offsets for d in row]
    return offsets, min(flat), max(flat)


def fold_weights(
    weight: np.ndarray, bias: np.ndarray | None, scale: int, dilations: Sequence[int], pads: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], list[int]]:
    """Low-resolution weights (s*s*Cout, Cin, Ky', Kx') in DCR order, bias, kernel and pads."""
    cout, cin, kh, kw = weight.shape
    ty, ymin, ymax = tap_map(scale, kh, dilations[0], pads[0])
    tx, xmin, xmax = tap_map(scale, kw, dilations[1], pads[1])
    low = (ymax - ymin + 1, xmax - xmin + 1)
    w64 = weight.astype(np.float64)
    out = np.zeros((scale, scale, cout, cin, *low), np.float64)
    for py in range(scale):
        for px in range(scale):
            for i in range(kh):
                for j in range(kw):  # fixed order: the float32 result is deterministic
                    out[py, px, :, :, ty[py][i] - ymin, tx[px][j] - xmin] += w64[:, :, i, j]
    b = np.zeros(cout, np.float64) if bias is None else bias.astype(np.float64)
    new_bias = np.tile(b, scale * scale).astype(weight.dtype)
    new_pads = [-ymin, -xmin, ymax, xmax]
    return out.reshape(scale * scale * cout, cin, *low).astype(weight.dtype), new_bias, low, new_pads


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    taken.add(candidate)
    return candidate


def fold_upsample_convs(model: onnx.ModelProto) -> list[Fold]:
    """Rewrite ``model`` in place; return the folded pairs (empty: the model is unchanged)."""
    graph = model.graph
    opsets = list(model.opset_import)
    opset = next(o.version for o in opsets if o.domain in ("", "ai.onnx"))
    folds: list[Fold] = []
    while True:
        g = Graph(graph)
        taken = {*g.producer, *g.init, *(i.name for i in graph.input), *(n.name for n in graph.node)}
        match = _next_match(g, opsets)
        if match is None:
            return folds
        up_k, conv_k, scale, weight, bias, dilations, pads = match
        up, conv = g.nodes[up_k], g.nodes[conv_k]
        new_w, new_b, low, new_pads = fold_weights(weight, bias, scale, dilations, pads)
        w_name = _unique(f"{conv.input[1]}/folded_x{scale}", taken)
        b_name = _unique(f"{conv.input[1]}/folded_x{scale}_bias", taken)
        mid = _unique(f"{conv.output[0]}/low_res", taken)
        new_conv = helper.make_node(
            "Conv",
            [up.input[0], w_name, b_name],
            [mid],
            name=_unique(f"{conv.name}/low_res", taken),
            kernel_shape=list(low),
            pads=new_pads,
            strides=[1, 1],
            dilations=[1, 1],
            group=1,
        )
        d2s = helper.make_node(
            "DepthToSpace",
            [mid],
            [conv.output[0]],
            name=_unique(f"{conv.name}/depth_to_space", taken),
            blocksize=scale,
            **({"mode": "DCR"} if opset >= 11 else {}),  # DCR is the only (default) mode before 11
        )
        dead = _dead_after_removal(g, up_k, conv_k)
        nodes: list[onnx.NodeProto] = []
        for k, node in enumerate(g.nodes):
            if k == conv_k:
                nodes += [new_conv, d2s]
            elif k not in dead:
                nodes.append(_copy(node))  # copies: clearing the field below detaches its messages
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(
            [numpy_helper.from_array(new_w, w_name), numpy_helper.from_array(new_b, b_name)]
        )
        _drop_unused_initializers(graph)
        folds.append(
            Fold(
                up.name,
                conv.name,
                scale,
                (int(weight.shape[2]), int(weight.shape[3])),
                low,
                (int(weight.shape[1]), int(weight.shape[0])),
            )
        )


def _next_match(
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


def _dead_after_removal(g: Graph, up: int, conv: int) -> set[int]:
    """Indices of ``up``, ``conv`` and the nodes that only fed ``up`` (its shape subgraph)."""
    dead = {up, conv}
    todo: list[str] = list(g.nodes[up].input[1:])
    kept = g.index.get(g.nodes[up].input[0])  # the data's producer: the low-resolution conv reads it
    while todo:
        k = g.index.get(todo.pop())
        if k is None or k == kept or k in dead or any(o in g.outputs for o in g.nodes[k].output):
            continue
        if all(u in dead for o in g.nodes[k].output for u in g.consumers.get(o, [])):
            dead.add(k)
            todo.extend(g.nodes[k].input)
    return dead


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = []
    for t in graph.initializer:
        if t.name in used:
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            keep.append(copy)
    del graph.initializer[:]
    graph.initializer.extend(keep)


def describe(folds: Iterable[Fold]) -> str:
    return "\n".join(
        f"{f.upsample} (nearest x{f.scale}) + {f.conv} ({f.kernel[0]}x{f.kernel[1]}, {f.channels[0]} -> "
        f"{f.channels[1]}) -> Conv {f.low_kernel[0]}x{f.low_kernel[1]}, {f.channels[0]} -> "
        f"{f.scale**2 * f.channels[1]} at low resolution + DepthToSpace({f.scale})"
        for f in folds
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args(argv)
    model = onnx.load(str(args.src))
    folds = fold_upsample_convs(model)
    if not folds:
        print(f"{args.src}: no nearest-upsample + conv pair to fold", file=sys.stderr)
        return 1
    onnx.checker.check_model(model)
    onnx.save(model, str(args.dst))
    print(describe(folds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
