"""Graph surgery for an ensemble of raw colorizer exports, and half-precision weight storage.

Two networks trained apart make different mistakes; averaging their posteriors before the
minimum-expected-CIEDE2000 decoding (``bayes_decode.rewrite(..., members=...)``) keeps a colour only
where both agree that it is likely.  ``add_member`` copies the network part of another raw export
(every node before its ``Softmax``) into the main graph under a name prefix and returns the name of
its logits; both networks read the same input ``L``.

``weights_to_fp16`` stores the large float initializers as float16 with a ``Cast`` back to float32
in front of their users, so two networks fit the 20 MB file limit.  The casts read initializers only,
so onnxruntime (and onnxruntime-web) fold them once when the session is created: inference still
runs in float32.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import helper, numpy_helper

INPUT = "L"


def network_nodes(model: onnx.ModelProto) -> tuple[list[onnx.NodeProto], str]:
    """The nodes before the raw export's single ``Softmax`` and the name of its input (the logits)."""
    nodes = list(model.graph.node)
    soft = [i for i, n in enumerate(nodes) if n.op_type == "Softmax"]
    if len(soft) != 1:
        raise ValueError(f"expected one Softmax in a raw export, found {len(soft)}")
    return nodes[: soft[0]], nodes[soft[0]].input[0]


def _flip_w(src: str, dst: str, name: str) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """``dst`` = ``src`` mirrored along its last (width) axis: a Slice with step -1."""
    consts = {"starts": [-1], "ends": [-(2**63)], "axes": [3], "steps": [-1]}
    inits = [numpy_helper.from_array(np.array(v, np.int64), f"{name}.{k}") for k, v in consts.items()]
    node = helper.make_node("Slice", [src, *(f"{name}.{k}" for k in consts)], [dst], name=name)
    return node, inits


def add_member(
    main: onnx.ModelProto,
    other: onnx.ModelProto,
    prefix: str,
    flip: bool = False,
    weights_prefix: str | None = None,
) -> str:
    """Copy ``other``'s network into ``main`` (names prefixed, input ``L`` shared); its logits' name.

    ``flip``: the copy reads the mirrored ``L`` and its logits are mirrored back, so its posterior
    is that of the horizontally flipped photo (test-time augmentation).  ``weights_prefix``: the
    network's weights are already in ``main`` under this prefix ("" for the main network's own), so
    the copy reads them there instead of storing them twice."""
    if [i.name for i in other.graph.input] != [INPUT]:
        raise ValueError(f"a member must have the single input {INPUT!r}")
    taken = {i.name for i in main.graph.initializer} | {o for n in main.graph.node for o in n.output}
    nodes, logits = network_nodes(other)
    src = prefix + "L_flipped" if flip else INPUT

    shared = {t.name for t in other.graph.initializer} if weights_prefix is not None else set()

    def ren(name: str) -> str:
        if name == INPUT:
            return src
        if name in shared:
            return f"{weights_prefix}{name}"
        return name if name == "" else prefix + name

    copied = []
    for n in nodes:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.name = prefix + n.name
        c.input[:] = [ren(x) for x in n.input]
        c.output[:] = [ren(x) for x in n.output]
        copied.append(c)
    used = {x for n in nodes for x in n.input}
    inits = []
    for t in other.graph.initializer:
        if t.name not in used or t.name in shared:
            continue
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = ren(t.name)
        inits.append(c)
    missing = {ren(x) for x in shared & used} - {i.name for i in main.graph.initializer}
    if missing:
        raise ValueError(f"weights to share are not in the main graph: {sorted(missing)[:3]}")
    clash = taken & ({o for n in copied for o in n.output} | {t.name for t in inits})
    if clash:
        raise ValueError(f"prefix {prefix!r} clashes with names in the main graph: {sorted(clash)[:3]}")
    out = ren(logits)
    if flip:
        pre, pre_i = _flip_w(INPUT, src, prefix + "flip_in")
        post, post_i = _flip_w(out, out + "_unflipped", prefix + "flip_out")
        copied = [pre, *copied, post]
        inits += pre_i + post_i
        out = out + "_unflipped"
    # The member depends only on L and its own initializers, so it can run first.
    rest = list(main.graph.node)
    del main.graph.node[:]
    main.graph.node.extend(copied + rest)
    main.graph.initializer.extend(inits)
    return out


def weights_to_fp16(model: onnx.ModelProto, min_elements: int = 4096) -> onnx.ModelProto:
    """A copy whose float32 initializers of at least ``min_elements`` values are stored as float16.

    Large float32 ``Constant`` nodes (the frozen detector's weights, exported from non-persistent
    buffers) are turned into such initializers first; smaller ones stay as they are. Large tensors with
    the same values (two members' copies of the detector) are stored once, read by all their users."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    casts: list[onnx.NodeProto] = []
    keep: list[onnx.TensorProto] = []
    hoisted: list[onnx.TensorProto] = []
    nodes = []
    for n in g.node:
        value = n.attribute[0].t if n.op_type == "Constant" and n.attribute[0].name == "value" else None
        if (
            value is not None
            and value.data_type == onnx.TensorProto.FLOAT
            and np.prod(value.dims) >= min_elements
        ):
            hoisted.append(numpy_helper.from_array(numpy_helper.to_array(value), n.output[0]))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    first: dict[tuple[tuple[int, ...], str], str] = {}  # identical large tensors: stored once
    alias: dict[str, str] = {}
    for t in [*g.initializer, *hoisted]:
        if t.data_type != onnx.TensorProto.FLOAT or int(np.prod(t.dims)) < min_elements:
            keep.append(t)
            continue
        half = numpy_helper.to_array(t).astype(np.float16)
        key = (tuple(t.dims), hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest())
        if key in first:
            alias[t.name] = first[key]
            continue
        first[key] = t.name
        keep.append(numpy_helper.from_array(half, t.name + "__fp16"))
        casts.append(
            helper.make_node(
                "Cast", [t.name + "__fp16"], [t.name], name=f"/fp16/{t.name}", to=onnx.TensorProto.FLOAT
            )
        )
    del g.initializer[:]
    g.initializer.extend(keep)
    rest = list(g.node)
    for n in rest:
        for i, name in enumerate(n.input):
            n.input[i] = alias.get(name, name)
    del g.node[:]
    g.node.extend(casts + rest)
    return out
