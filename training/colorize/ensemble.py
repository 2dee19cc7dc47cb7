"""Graph surgery for an ensemble of raw colorizer exports, and half-precision weight storage.

Two networks trained apart make different mistakes; averaging their posteriors before the
minimum-expected-CIEDE2000 decoding (``bayes_decode.rewrite(..., members=...)``) keeps a colour only
where both agree that it is likely.  ``add_member`` copies the network part of another raw export
(every node before its ``Softmax``) into the main graph under a name prefix and returns the name of
its logits; both networks read the same input ``L``.

``weights_to_fp16`` stores the large float initializers as float16 with a ``Cast`` back to float32
in front of their users, so two networks fit the 20 MB file limit; ``weights_to_int8`` stores the
convolution weights as int8 with a per-channel scale (``DequantizeLinear``), so five fit.  Both read
initializers only and give float32 weights: inference still runs in float32.
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


def _large_weights(
    model: onnx.ModelProto, min_elements: int
) -> tuple[onnx.ModelProto, list[tuple[onnx.TensorProto, bool]]]:
    """A copy without initializers, and its initializers in order, each with ``True`` if it is a float32
    tensor of at least ``min_elements`` values (a tensor that ``_store`` may store smaller).

    Large float32 ``Constant`` nodes (the frozen detector's weights, exported from non-persistent
    buffers) count as such tensors too. Tensors with the same values (two members' copies of the
    detector) are returned once; their other users read the first one's name."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
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
    first: dict[tuple[tuple[int, ...], str], str] = {}
    alias: dict[str, str] = {}
    entries: list[tuple[onnx.TensorProto, bool]] = []
    for t in [*g.initializer, *hoisted]:
        if t.data_type != onnx.TensorProto.FLOAT or int(np.prod(t.dims)) < min_elements:
            entries.append((t, False))
            continue
        key = (tuple(t.dims), hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest())
        if key in first:
            alias[t.name] = first[key]
            continue
        first[key] = t.name
        entries.append((t, True))
    for n in nodes:
        for i, name in enumerate(n.input):
            n.input[i] = alias.get(name, name)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    return out, entries


def _weight_only_users(g: onnx.GraphProto) -> set[str]:
    """Names read only as the weight input (index 1) of ``Conv`` or ``Gemm`` nodes."""
    other: set[str] = set()
    weight: set[str] = set()
    for n in g.node:
        for i, name in enumerate(n.input):
            (weight if n.op_type in ("Conv", "Gemm") and i == 1 else other).add(name)
    return weight - other


def _store(
    model: onnx.ModelProto, entries: list[tuple[onnx.TensorProto, bool]], int8: set[str]
) -> onnx.ModelProto:
    """Put the initializers back: the large ones as float16 + ``Cast``, or, for names in ``int8``, as
    int8 + ``DequantizeLinear`` (symmetric, one scale per slice along axis 0)."""
    g = model.graph
    decode: list[onnx.NodeProto] = []
    for t, large in entries:
        if not large:
            g.initializer.append(t)
            continue
        w = numpy_helper.to_array(t)
        if t.name in int8:
            amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
            scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            q = np.clip(np.rint(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
            g.initializer.extend(
                [
                    numpy_helper.from_array(q, t.name + "__int8"),
                    numpy_helper.from_array(scale, t.name + "__scale"),
                    numpy_helper.from_array(np.zeros_like(scale, np.int8), t.name + "__zero"),
                ]
            )
            decode.append(
                helper.make_node(
                    "DequantizeLinear",
                    [t.name + "__int8", t.name + "__scale", t.name + "__zero"],
                    [t.name],
                    name=f"/int8/{t.name}",
                    axis=0,
                )
            )
            continue
        g.initializer.append(numpy_helper.from_array(w.astype(np.float16), t.name + "__fp16"))
        decode.append(
            helper.make_node(
                "Cast", [t.name + "__fp16"], [t.name], name=f"/fp16/{t.name}", to=onnx.TensorProto.FLOAT
            )
        )
    rest = list(g.node)
    del g.node[:]
    g.node.extend(decode + rest)
    return model


def weights_to_fp16(model: onnx.ModelProto, min_elements: int = 4096) -> onnx.ModelProto:
    """A copy whose float32 initializers of at least ``min_elements`` values are stored as float16.

    Large float32 ``Constant`` nodes are turned into such initializers first, and tensors with the
    same values are stored once (``_large_weights``)."""
    out, entries = _large_weights(model, min_elements)
    return _store(out, entries, set())


def weights_to_int8(
    model: onnx.ModelProto, min_elements: int = 4096, keep_prefixes: tuple[str, ...] = ("bayes.", "decode.")
) -> onnx.ModelProto:
    """As ``weights_to_fp16``, but the convolution and dense weights are stored as int8 with one float32
    scale per slice along axis 0 (a quarter of float32): per output channel for ``Conv`` weights and for
    the ``Gemm`` weights that torch exports (``transB=1``). Tensors named with ``keep_prefixes`` (the
    decoding's CIEDE2000 cost matrix, the bin centres) and tensors with other users stay float16."""
    out, entries = _large_weights(model, min_elements)
    users = _weight_only_users(out.graph)
    int8 = {
        t.name for t, large in entries if large and t.name in users and not t.name.startswith(keep_prefixes)
    }
    return _store(out, entries, int8)


RANDOM_OPS = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
)


def _attribute_key(a: onnx.AttributeProto) -> bytes:
    """An attribute's name and value; a tensor by its dtype, shape and values (not its name)."""
    if a.type == onnx.AttributeProto.TENSOR:
        v = numpy_helper.to_array(a.t)
        return a.name.encode() + str((v.dtype, v.shape)).encode() + v.tobytes()
    return a.SerializeToString()


def merge_repeated_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy in which a node that repeats an earlier one (same op, attributes and inputs, after the
    earlier merges) is dropped and its readers read the earlier node's outputs.

    The guided members each carry a copy of the frozen detector; once their weights are stored once
    (``_large_weights``) the copies compute the same thing from ``L``, and this keeps one, so the file
    holds its nodes once (onnxruntime already merges such nodes when it loads a model, so the speed
    does not change).  Random ops are never merged.  Nodes must be in topological order."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    keep_outputs = {o.name for o in g.output}
    alias: dict[str, str] = {}
    first: dict[tuple[object, ...], onnx.NodeProto] = {}
    kept: list[onnx.NodeProto] = []
    for n in g.node:
        n.input[:] = [alias.get(x, x) for x in n.input]
        key = (n.domain, n.op_type, tuple(n.input), len(n.output), *(_attribute_key(a) for a in n.attribute))
        prev = None if n.op_type in RANDOM_OPS else first.get(key)
        if prev is not None and not keep_outputs & set(n.output):
            alias.update(zip(n.output, prev.output))
            continue
        first.setdefault(key, n)
        kept.append(n)
    del g.node[:]
    g.node.extend(kept)
    onnx.checker.check_model(out)
    return out
