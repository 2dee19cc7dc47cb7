"""Fast checks of the model recipes' pure helpers (no TensorFlow / tf2onnx needed)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

RECIPES = Path(__file__).resolve().parent.parent / "models" / "recipes"
sys.path.insert(0, str(RECIPES))

from tf2onnx_stable import in_graph_order  # noqa: E402


def _tiny_graph() -> onnx.GraphProto:
    """x -> Abs -> Neg -> y, plus a dead branch (Relu) and two equal constants feeding Add."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("Constant", [], ["c1"], name="const_a", value=one),
        helper.make_node("Constant", [], ["c2"], name="const_b", value=one),
        helper.make_node("Abs", ["x"], ["a"], name="abs"),
        helper.make_node("Relu", ["x"], ["dead"], name="unused_relu"),
        helper.make_node("Add", ["a", "c1"], ["b"], name="add_1"),
        helper.make_node("Add", ["b", "c2"], ["c"], name="add_2"),
        helper.make_node("Neg", ["c"], ["y"], name="neg"),
    ]
    graph = helper.make_graph(nodes, "tiny", [x], [y])
    onnx.checker.check_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    return graph


def _reachable(nodes: list[onnx.NodeProto], outputs: list[str], seed: int) -> list[onnx.NodeProto]:
    """Nodes that feed the outputs, in a scrambled order: what tf2onnx's set of Node objects (ordered
    by memory address) hands back when it prunes a graph."""
    producer = {out: node for node in nodes for out in node.output}
    found: dict[int, onnx.NodeProto] = {}
    todo = [producer[o] for o in outputs]
    while todo:
        node = todo.pop()
        found[id(node)] = node
        todo += [producer[i] for i in node.input if i in producer and id(producer[i]) not in found]
    scrambled = list(found.values())
    random.Random(seed).shuffle(scrambled)
    return scrambled


def test_in_graph_order_is_independent_of_the_subsets_order() -> None:
    graph = _tiny_graph()
    nodes = list(graph.node)
    outputs = [o.name for o in graph.output]
    orders = {tuple(n.name for n in in_graph_order(nodes, _reachable(nodes, outputs, s))) for s in range(20)}
    assert orders == {("const_a", "const_b", "abs", "add_1", "add_2", "neg")}  # graph order, dead Relu gone
    # so the first of two equal constants (what tf2onnx's duplicate merge keeps) is always the same one
    kept = in_graph_order(nodes, _reachable(nodes, outputs, 3))
    assert next(n.name for n in kept if n.op_type == "Constant") == "const_a"
    # the result holds the very objects (matched by identity, not equality) and never invents nodes
    assert all(any(k is n for n in nodes) for k in kept)


def test_in_graph_order_sorts_strays_by_name_or_refuses() -> None:
    graph = _tiny_graph()
    nodes = list(graph.node)
    stray_b = helper.make_node("Identity", ["y"], ["z2"], name="stray_b")
    stray_a = helper.make_node("Identity", ["y"], ["z1"], name="stray_a")
    subset = [stray_b, nodes[6], stray_a, nodes[2]]
    got = in_graph_order(nodes, subset, name=lambda n: n.name)
    assert [n.name for n in got] == ["abs", "neg", "stray_a", "stray_b"]
    with pytest.raises(ValueError, match="not in the graph's node list"):
        in_graph_order(nodes, subset)
