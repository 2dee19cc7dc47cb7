"""ensemble.merge_repeated_nodes: repeated computations (the guided members' copies of the frozen
detector) are kept once, and nothing else changes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "colorize"))
from ensemble import merge_repeated_nodes  # noqa: E402


def _const(out: str, value: float) -> onnx.NodeProto:
    t = numpy_helper.from_array(np.array([value], np.float32), out + "_value")  # names differ per copy
    return helper.make_node("Constant", [], [out], value=t)


def _copy(p: str, gain: float) -> list[onnx.NodeProto]:
    """x -> Relu(x * gain + w) as a member would copy it, under the name prefix ``p``."""
    return [
        _const(p + "gain", gain),
        helper.make_node("Mul", ["x", p + "gain"], [p + "scaled"]),
        helper.make_node("Add", [p + "scaled", "w"], [p + "shifted"]),
        helper.make_node("Relu", [p + "shifted"], [p + "y"]),
    ]


def _model(gains: tuple[float, ...], outputs: list[str]) -> onnx.ModelProto:
    nodes = [n for k, g in enumerate(gains) for n in _copy(f"c{k}/", g)]
    nodes.append(helper.make_node("Sum", [f"c{k}/y" for k in range(len(gains))], ["total"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 3]) for o in outputs],
        [numpy_helper.from_array(np.array([0.5, -1.0, 2.0], np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, outputs: list[str]) -> list[np.ndarray]:
    x = np.array([[1.0, -2.0, 3.0], [0.25, 4.0, -0.5]], np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(v) for v in sess.run(outputs, {"x": x})]


def test_repeated_copies_are_kept_once_with_the_same_result() -> None:
    model = _model((2.0, 2.0, 2.0), ["total"])
    merged = merge_repeated_nodes(model)
    assert len(model.graph.node) == 13
    assert len(merged.graph.node) == 5  # one copy + the Sum, which now reads it three times
    assert list(merged.graph.node[-1].input) == ["c0/y"] * 3
    np.testing.assert_array_equal(_run(merged, ["total"])[0], _run(model, ["total"])[0])
    assert len(model.graph.node) == 13  # the input model is left alone


def test_copies_that_differ_in_a_constant_are_not_merged() -> None:
    model = _model((2.0, 3.0, 2.0), ["total"])
    merged = merge_repeated_nodes(model)
    assert len(merged.graph.node) == 9  # copies 0 and 2 merge; copy 1 has another gain
    want = _run(model, ["total"])[0]
    np.testing.assert_array_equal(_run(merged, ["total"])[0], want)
    x = np.array([[1.0, -2.0, 3.0], [0.25, 4.0, -0.5]], np.float32)
    w = np.array([0.5, -1.0, 2.0], np.float32)
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    np.testing.assert_allclose(want, 2 * relu(2 * x + w) + relu(3 * x + w), rtol=1e-6)


def test_a_node_that_writes_a_graph_output_is_kept() -> None:
    model = _model((2.0, 2.0), ["total", "c1/y"])
    merged = merge_repeated_nodes(model)
    assert "c1/y" in {o for n in merged.graph.node for o in n.output}
    got = _run(merged, ["total", "c1/y"])
    want = _run(model, ["total", "c1/y"])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_random_ops_are_never_merged() -> None:
    draw = [
        helper.make_node("RandomUniform", [], [f"r{k}"], shape=[2, 3], seed=1.0, dtype=TensorProto.FLOAT)
        for k in range(2)
    ]
    graph = helper.make_graph(
        [*draw, helper.make_node("Sub", ["r0", "r1"], ["d"])],
        "g",
        [],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert len(merge_repeated_nodes(model).graph.node) == 3
