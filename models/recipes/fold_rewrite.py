"""Rewrite for the nearest-upsample + conv fold (``fold_upsample.py`` holds the proof and the CLI).

Given a pair found by ``fold_match.next_match``, builds the low-resolution kernel (the per-axis tap
maps summed in a fixed order), replaces the pair by ``Conv`` + ``DepthToSpace``, removes the shape
subgraph that only fed the removed upsample and the initializers nothing reads any more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import onnx
from fold_match import Graph, next_match
from onnx import helper, numpy_helper


@dataclasses.dataclass(frozen=True)
class Fold:
    """One folded pair, for the recipe's report."""

    upsample: str  # name of the removed Resize/Upsample node
    conv: str  # name of the removed Conv node
    scale: int
    kernel: tuple[int, int]  # the original kernel
    low_kernel: tuple[int, int]  # the low-resolution kernel
    channels: tuple[int, int]  # (Cin, Cout) of the original conv; the new one has s*s*Cout outputs


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
        match = next_match(g, opsets)
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
