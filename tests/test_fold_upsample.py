"""The nearest-upsample + conv fold (models/recipes/fold_upsample.py): the rewritten graph computes the
original's function (onnxruntime, random [0, 1] inputs of odd sizes, max |diff| <= 1e-5), for Resize
given by scales or by a Shape-derived size, Upsample, x2/x3/x4, 1x1 to 5x5 kernels, even kernels with
SAME_UPPER / SAME_LOWER, explicit pads, dilation and chained pairs; what it must not fold stays as it
is; and the shipped esrgan-slim files are the fold of the upstream conversion."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from enhance_widget.catalog import catalog

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "models" / "recipes"))
import fold_upsample

SIZES = ((1, 1), (5, 7), (13, 3), (9, 17))
TOL = 1e-5


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], opset: int = 17) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h2", "w2"])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _conv(
    name: str,
    src: str,
    dst: str,
    cin: int,
    cout: int,
    k: tuple[int, int],
    rng: np.random.Generator,
    **attrs: object,
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    w = (rng.standard_normal((cout, cin, *k)) / np.sqrt(cin * k[0] * k[1])).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    node = helper.make_node("Conv", [src, f"{name}_w", f"{name}_b"], [dst], name=name, **attrs)
    return node, [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]


def _resize(
    name: str, src: str, dst: str, s: int, **attrs: object
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    scales = numpy_helper.from_array(np.array([1, 1, s, s], np.float32), f"{name}_scales")
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
        **attrs,
    }
    return helper.make_node("Resize", [src, "", f"{name}_scales"], [dst], name=name, **attrs), [scales]


def _outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {"x": x})[0]
    return out


def _check_fold(model: onnx.ModelProto, n_folds: int, channels: int = 4) -> list[fold_upsample.Fold]:
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    folds = fold_upsample.fold_upsample_convs(folded)
    assert len(folds) == n_folds
    onnx.checker.check_model(folded)
    ops = [n.op_type for n in folded.graph.node]
    assert "Resize" not in ops and "Upsample" not in ops
    assert ops.count("DepthToSpace") == n_folds
    rng = np.random.default_rng(1)
    for h, w in SIZES:
        x = rng.random((1, channels, h, w), dtype=np.float32)
        want, got = _outputs(model, x), _outputs(folded, x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOL, (h, w)
    return folds


@pytest.mark.parametrize(
    ("scale", "kernel", "conv_attrs"),
    [
        (4, (3, 3), {"auto_pad": "SAME_UPPER"}),
        (4, (3, 3), {"pads": [1, 1, 1, 1]}),
        (2, (3, 3), {"pads": [1, 1, 1, 1]}),
        (3, (3, 3), {"pads": [1, 1, 1, 1]}),
        (2, (5, 5), {"pads": [2, 2, 2, 2]}),
        (4, (5, 3), {"pads": [2, 1, 2, 1]}),
        (2, (1, 1), {}),
        (2, (2, 2), {"auto_pad": "SAME_UPPER"}),
        (4, (4, 2), {"auto_pad": "SAME_LOWER"}),
        (2, (3, 3), {"pads": [2, 0, 0, 2]}),  # lopsided, still "same" size
        (4, (3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2]}),
    ],
)
def test_resize_conv_fold_is_exact(
    scale: int, kernel: tuple[int, int], conv_attrs: dict[str, object]
) -> None:
    rng = np.random.default_rng(0)
    up, up_inits = _resize("up", "x", "u", scale)
    conv, conv_inits = _conv("conv", "u", "y", 4, 3, kernel, rng, **conv_attrs)
    (fold,) = _check_fold(_model([up, conv], up_inits + conv_inits), 1)
    assert fold.scale == scale and fold.channels == (4, 3)


def test_fold_uses_the_minimal_low_resolution_kernel() -> None:
    # 3x3 after x4: sub-positions 0 and 3 reach one low-res neighbour, so the kernel stays 3x3;
    # 1x1 after any scale stays 1x1; a 5x5 after x4 reaches one neighbour each way (3x3).
    for scale, k, pads, low in ((4, 3, 1, 3), (2, 1, 0, 1), (4, 5, 2, 3), (2, 5, 2, 3), (2, 2, 0, 2)):
        _, lo, hi = fold_upsample.tap_map(scale, k, 1, pads)
        assert hi - lo + 1 == low, (scale, k)


def test_chained_x2_pairs_and_the_tf2onnx_shape_pattern_fold() -> None:
    rng = np.random.default_rng(2)
    up1, i1 = _resize(
        "up1", "x", "u1", 2, coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor"
    )
    c1, i2 = _conv("c1", "u1", "a1", 4, 6, (3, 3), rng, pads=[1, 1, 1, 1])
    relu = helper.make_node("LeakyRelu", ["a1"], ["r1"], alpha=0.2)
    # Resize with sizes = Shape(r1)[0:2] ++ Shape(r1)[2:4] * 2, the way tf2onnx writes UpSampling2D.
    shape_nodes = [
        helper.make_node("Shape", ["r1"], ["sh"]),
        helper.make_node("Slice", ["sh", "z", "two"], ["nc"]),
        helper.make_node("Slice", ["sh", "two", "four"], ["hw"]),
        helper.make_node("Cast", ["hw"], ["hwf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["hwf", "k"], ["hw2f"]),
        helper.make_node("Cast", ["hw2f"], ["hw2"], to=TensorProto.INT64),
        helper.make_node("Concat", ["nc", "hw2"], ["sizes"], axis=0),
    ]
    consts = [
        numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("z", 0), ("two", 2), ("four", 4))
    ] + [numpy_helper.from_array(np.array([2, 2], np.float32), "k")]
    up2 = helper.make_node(
        "Resize",
        ["r1", "", "", "sizes"],
        ["u2"],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    c2, i3 = _conv("c2", "u2", "y", 6, 3, (3, 3), rng, auto_pad="SAME_UPPER")
    model = _model([up1, c1, relu, *shape_nodes, up2, c2], i1 + i2 + consts + i3)
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    _check_fold(model, 2)
    fold_upsample.fold_upsample_convs(folded)
    names = {n.output[0] for n in folded.graph.node}
    assert not names & {"sh", "nc", "hw", "sizes"}  # the shape subgraph went with its Resize
    assert {t.name for t in folded.graph.initializer}.isdisjoint({"z", "two", "four", "k"})


def test_upsample_op_folds() -> None:
    rng = np.random.default_rng(3)
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    up = helper.make_node("Upsample", ["x", "s"], ["u"], mode="nearest")
    conv, inits = _conv("conv", "u", "y", 4, 5, (3, 3), rng, pads=[1, 1, 1, 1])
    _check_fold(_model([up, conv], [scales, *inits], opset=9), 1)


@pytest.mark.parametrize(
    "case",
    [
        "linear",
        "align_corners",
        "round_prefer_ceil_asymmetric",
        "stride2",
        "valid",
        "two_users",
        "fractional",
    ],
)
def test_what_is_not_an_exact_fold_is_left_alone(case: str) -> None:
    rng = np.random.default_rng(4)
    resize_attrs: dict[str, object] = {}
    conv_attrs: dict[str, object] = {"pads": [1, 1, 1, 1]}
    scale: float = 2
    if case == "linear":
        resize_attrs = {"mode": "linear"}
    elif case == "align_corners":
        resize_attrs = {"coordinate_transformation_mode": "align_corners"}
    elif case == "round_prefer_ceil_asymmetric":  # y=1 of x2 reads input 1, not 0
        resize_attrs = {"nearest_mode": "round_prefer_ceil"}
    elif case == "stride2":
        conv_attrs["strides"] = [2, 2]
    elif case == "valid":
        conv_attrs = {"auto_pad": "VALID"}
    elif case == "fractional":
        scale = 2.5
    up, up_inits = _resize("up", "x", "u", 2, **resize_attrs)
    if case == "fractional":
        up_inits = [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "up_scales")]
    conv, conv_inits = _conv("conv", "u", "c", 4, 3, (3, 3), rng, **conv_attrs)
    nodes = [up, conv]
    if case == "two_users":
        nodes.append(helper.make_node("ReduceMean", ["u"], ["m"], axes=[1, 2, 3], keepdims=1))
        nodes.append(helper.make_node("Add", ["c", "m"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["c"], ["y"]))
    model = _model(nodes, up_inits + conv_inits)
    before = model.SerializeToString()
    assert fold_upsample.fold_upsample_convs(model) == []
    assert model.SerializeToString() == before


def test_nearest_index_check_matches_onnxruntime() -> None:
    """The transform/rounding table in fold_upsample agrees with onnxruntime's Resize (align_corners is
    refused although x2 with rounding happens to replicate: only "refused" is checked for it)."""
    x = np.arange(64, dtype=np.float32).reshape(1, 1, 1, 64)
    for transform in ("asymmetric", "half_pixel", "pytorch_half_pixel", "align_corners"):
        for rounding in ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil"):
            for s in (2, 3, 4):
                node = helper.make_node(
                    "Resize",
                    ["x", "", "s"],
                    ["y"],
                    mode="nearest",
                    coordinate_transformation_mode=transform,
                    nearest_mode=rounding,
                )
                scales = numpy_helper.from_array(np.array([1, 1, 1, s], np.float32), "s")
                graph = helper.make_graph(
                    [node],
                    "r",
                    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 64])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 64 * s])],
                    [scales],
                )
                model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                model.ir_version = 8
                got = _outputs(model, x).ravel()
                same = bool(np.array_equal(got, np.repeat(x.ravel(), s)))
                said = fold_upsample.replicates(s, transform, rounding)
                assert said == (same and transform != "align_corners"), (transform, rounding, s)


UPSTREAM = ROOT.parent / "shared" / "models"


@pytest.mark.parametrize("model_id", ["esrgan-slim-x2", "esrgan-slim-x4"])
def test_shipped_esrgan_slim_is_the_fold_of_the_upstream_conversion(model_id: str) -> None:
    """The shipped file has no Resize; folding the upstream conversion (the recipe's sha256 before the
    fold) gives the shipped bytes, and both compute the same on odd-sized [0, 1] inputs."""
    facts = json.loads((ROOT / "models" / "recipes" / "upscalerjs_facts.json").read_text())[model_id]
    card = catalog().get(model_id)
    assert card.file is not None and facts["sha256"] == card.sha256
    assert card.alt_sha256 == (facts["conversion_sha256"],)  # files built before the fold still verify
    path = ROOT / "models" / card.file  # the shipped file (the catalog may prefer a models folder)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card.sha256
    shipped = onnx.load(str(path))
    ops = [n.op_type for n in shipped.graph.node]
    assert "Resize" not in ops and ops.count("DepthToSpace") == 1
    source = UPSTREAM / card.file
    if not source.is_file() or hashlib.sha256(source.read_bytes()).hexdigest() != facts["conversion_sha256"]:
        pytest.skip(
            f"the upstream conversion of {model_id} is not at {source} (build_upscalerjs.sh makes it)"
        )
    original = onnx.load(str(source))
    assert [n.op_type for n in original.graph.node].count("Resize") == 1
    folded = onnx.ModelProto()
    folded.CopyFrom(original)
    assert len(fold_upsample.fold_upsample_convs(folded)) == 1
    assert folded.SerializeToString() == path.read_bytes()
    rng = np.random.default_rng(5)
    a = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((1, 1), (7, 13), (37, 53), (24, 9)):
        x = rng.random((1, h, w, 3), dtype=np.float32)
        want, got = a.run(None, {"input": x})[0], b.run(None, {"input": x})[0]
        assert got.shape == want.shape == (1, h * card.scale, w * card.scale, 3)
        assert np.abs(got - want).max() <= TOL
