"""The colorize recipe's decoding rewrite (training/colorize/bayes_decode.py) on a small graph.

A stand-in for a raw export (L -> 1x1 "head" Conv -> Softmax -> "decode" Conv -> 2x Resize) with
random weights is rewritten and run with onnxruntime; the result must equal a direct numpy
implementation of the documented rule, and the rewrite must be deterministic.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "colorize"))
from bayes_decode import bin_centres, ciede2000_cost, rewrite  # noqa: E402
from ensemble import weights_to_fp16, weights_to_int8  # noqa: E402

Q = 12  # bins in the stand-in


def _raw_export(
    seed: int = 0, centre_seed: int = 0
) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    head_w = rng.normal(0, 3, (Q, 1, 1, 1)).astype(np.float32)
    head_b = rng.normal(0, 1, Q).astype(np.float32)
    centres = np.random.default_rng(100 + centre_seed).uniform(-60, 60, (Q, 2)).astype(np.float32)
    dec_w = (centres.T / 128.0).reshape(2, Q, 1, 1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["L", "head.w", "head.b"], ["logits"], name="/net/head/Conv"),
        helper.make_node("Softmax", ["logits"], ["p"], name="/Softmax", axis=1),
        helper.make_node("Conv", ["p", "decode.weight"], ["ab_half"], name="/decode/Conv"),
        helper.make_node("Resize", ["ab_half", "", "scales"], ["ab"], name="/Resize", mode="linear"),
    ]
    inits = [
        numpy_helper.from_array(head_w, "head.w"),
        numpy_helper.from_array(head_b, "head.b"),
        numpy_helper.from_array(dec_w, "decode.weight"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    graph = helper.make_graph(
        nodes,
        "raw",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, None, None])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, 2, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, head_w[:, 0, 0, 0], head_b, centres


def _softmax0(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(0))
    return e / e.sum(0)


def _numpy_decode(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, centres: np.ndarray, members: tuple = (), **k: float
) -> np.ndarray:
    """The documented rule, at half resolution (before the 2x resize), in ab/128 units.
    ``members``: further (w, b) heads whose tempered posteriors are averaged with the first one's."""
    heads = [(w, b), *members]
    logits = [hw[:, None, None] * x[0, 0][None] + hb[:, None, None] for hw, hb in heads]
    p = np.mean([_softmax0(lg / k["t"]) for lg in logits], 0)
    cost = np.einsum("ck,khw->chw", ciede2000_cost(centres), p)
    cost -= k.get("bonus", 0.0) * np.hypot(centres[:, 0], centres[:, 1])[:, None, None]
    r = np.exp(-(cost - cost.min(0)) / k["tau"])
    r /= r.sum(0)
    ab = np.einsum("qhw,qc->chw", r, centres) * k["scale"]
    target = k["floor"]
    if k.get("floor_rel", 0.0) > 0:  # the colourfulness of colours drawn from the posterior
        c = centres.astype(np.float64) * k["scale"]
        m = np.einsum("qhw,qc->c", p, c) / p[0].size
        var = max(np.einsum("qhw,q->", p, (c**2).sum(1)) / p[0].size - (m**2).sum(), 0.0)
        target = max(target, k["floor_rel"] * (np.sqrt(var) + 0.3 * np.hypot(*m)))
    if target > 0:
        cf = np.sqrt(ab[0].var() + ab[1].var()) + 0.3 * np.hypot(ab[0].mean(), ab[1].mean())
        ab = ab * np.clip(target / max(cf, 1e-6), 1.0, 3.0)
    return ab / 128.0


def _run(model: onnx.ModelProto, x: np.ndarray, output: str = "ab") -> np.ndarray:
    if output != "ab":
        model.graph.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run([output], {"L": x})[0])


def _resize2(ab_half: np.ndarray) -> np.ndarray:
    """The graph's 2x linear resize applied to a numpy result (a resized pixel is not a plain copy)."""
    resize = helper.make_model(
        helper.make_graph(
            [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")],
            "r",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, None, None])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    sess = ort.InferenceSession(resize.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(["y"], {"x": ab_half[None].astype(np.float32)})[0])


def test_cost_matrix_is_ciede2000_at_equal_lightness() -> None:
    centres = np.array([[0, 0], [20, 0], [0, -30]], np.float32)
    cost = ciede2000_cost(centres)
    assert cost.shape == (3, 3) and np.allclose(np.diag(cost), 0)
    assert np.allclose(cost, cost.T, atol=1e-4)
    assert cost[0, 1] > 5 and cost[0, 2] > cost[0, 1]  # 30 units of chroma differ more than 20


def test_bin_centres_are_read_from_the_decode_conv() -> None:
    model, _, _, centres = _raw_export()
    np.testing.assert_allclose(bin_centres(model), centres, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    "settings",
    [
        {"t": 2.0, "tau": 0.5, "scale": 1.0, "floor": 0.0},
        {"t": 1.0, "tau": 0.25, "scale": 1.3, "floor": 0.0},
        {"t": 2.0, "tau": 0.5, "scale": 0.2, "floor": 10.0},  # the floor lifts a muted prediction
        {"t": 2.0, "tau": 0.5, "scale": 0.05, "floor": 200.0},  # the gain is capped at 3
        {"t": 1.0, "tau": 0.5, "scale": 1.0, "floor": 0.0, "bonus": 0.1},
        {"t": 1.0, "tau": 0.5, "scale": 1.0, "floor": 10.0, "bonus": 0.06},
        {"t": 1.0, "tau": 2.0, "scale": 0.5, "floor": 0.0, "floor_rel": 0.9},  # posterior-led lift
        {"t": 2.0, "tau": 2.0, "scale": 0.5, "floor": 3.0, "floor_rel": 0.6},  # the larger target wins
    ],
)
def test_rewritten_graph_equals_the_numpy_rule(settings: dict[str, float]) -> None:
    raw, w, b, centres = _raw_export()
    x = np.random.default_rng(1).random((1, 1, 6, 10)).astype(np.float32)
    model = rewrite(
        raw,
        settings["t"],
        settings["tau"],
        settings["scale"],
        settings["floor"],
        bonus=settings.get("bonus", 0.0),
        floor_rel=settings.get("floor_rel", 0.0),
    )
    got = _run(model, x)
    assert got.shape == (1, 2, 12, 20)
    want_half = _numpy_decode(x, w, b, centres, **settings)
    want = _resize2(want_half)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # float32 graph vs float64 numpy
    if settings.get("floor_rel"):  # the relative floor did lift this muted decoding
        plain = _numpy_decode(x, w, b, centres, **{**settings, "floor": 0.0, "floor_rel": 0.0})
        assert np.abs(want_half).sum() > 1.05 * np.abs(plain).sum()
    if settings["floor"] == 200.0:
        plain = _numpy_decode(x, w, b, centres, **{**settings, "floor": 0.0})
        np.testing.assert_allclose(want_half, plain * 3.0, rtol=1e-5)


def test_rewrite_is_deterministic_and_leaves_the_raw_model_alone() -> None:
    raw, *_ = _raw_export()
    before = raw.SerializeToString()
    a = rewrite(raw, 2.0, 0.5, 1.0, 10.0).SerializeToString()
    b = rewrite(raw, 2.0, 0.5, 1.0, 10.0).SerializeToString()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert raw.SerializeToString() == before


def test_chroma_bonus_adds_colour_and_nothing_without_it() -> None:
    raw = _raw_export()[0]
    x = np.random.default_rng(2).random((1, 1, 6, 10)).astype(np.float32)
    chroma = [
        float(np.hypot(*_run(rewrite(raw, 2.0, 0.5, 1.0, bonus=v), x)[0]).mean()) for v in (0.0, 0.1, 0.3)
    ]
    assert chroma[0] < chroma[1] < chroma[2]
    plain = rewrite(raw, 2.0, 0.5, 1.0).SerializeToString()
    assert rewrite(raw, 2.0, 0.5, 1.0, bonus=0.0).SerializeToString() == plain  # no bias input at 0
    with pytest.raises(ValueError, match="must not be negative"):
        rewrite(raw, 2.0, 0.5, 1.0, bonus=-0.1)


def test_flip_averaging_mirrors_in_and_back_and_shares_the_weights() -> None:
    # The test network is pointwise, so the mirrored photo's posterior, mirrored back, is the
    # original one: the flip-averaged graph must equal the plain graph.  A missing mirror on either
    # side would average each pixel with its mirror image instead.
    raw, _, _, _ = _raw_export()
    member = _raw_export(seed=3)[0]
    x = np.random.default_rng(4).random((1, 1, 6, 10)).astype(np.float32)
    plain = rewrite(raw, **ENSEMBLE, members=[member])
    flipped = rewrite(raw, **ENSEMBLE, members=[member], flip=True)
    np.testing.assert_allclose(_run(flipped, x), _run(plain, x), rtol=1e-5, atol=1e-6)
    assert sum(n.op_type == "Slice" for n in flipped.graph.node) == 4  # in and back, per network
    big = {i.name for i in plain.graph.initializer if i.dims and np.prod(i.dims) > 8}
    big_f = {i.name for i in flipped.graph.initializer if i.dims and np.prod(i.dims) > 8}
    assert big_f == big  # the mirrored copies read the same weights, none stored twice


def test_bad_settings_are_refused() -> None:
    raw, *_ = _raw_export()
    with pytest.raises(ValueError, match="must be positive"):
        rewrite(raw, 0.0, 0.5, 1.0)


ENSEMBLE = {"t": 2.0, "tau": 0.5, "scale": 1.0, "floor": 10.0}


def test_ensemble_averages_the_members_posteriors_before_the_decoding() -> None:
    raw, w, b, centres = _raw_export(0)
    member, w2, b2, _ = _raw_export(1)  # other weights, same bins
    x = np.random.default_rng(2).random((1, 1, 6, 10)).astype(np.float32)
    before = (raw.SerializeToString(), member.SerializeToString())
    model = rewrite(raw, **ENSEMBLE, members=[member])
    assert (raw.SerializeToString(), member.SerializeToString()) == before
    got = _run(model, x)
    want = _resize2(_numpy_decode(x, w, b, centres, members=((w2, b2),), **ENSEMBLE))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # and it is not simply one of the two models
    alone = _run(rewrite(raw, **ENSEMBLE), x)
    assert np.abs(got - alone).max() > 1e-3
    assert rewrite(raw, **ENSEMBLE, members=[member]).SerializeToString() == model.SerializeToString()


def test_ensemble_member_with_other_bins_is_refused() -> None:
    raw, *_ = _raw_export(0)
    other_bins, *_ = _raw_export(1, centre_seed=1)
    with pytest.raises(ValueError, match="same ab bins"):
        rewrite(raw, **ENSEMBLE, members=[other_bins])


def _two_member_ensemble(input_seed: int) -> tuple[onnx.ModelProto, np.ndarray]:
    """The stand-in ensemble (main export 0 + member 1) in float32, and a random input for it."""
    raw, *_ = _raw_export(0)
    member, *_ = _raw_export(1)
    x = np.random.default_rng(input_seed).random((1, 1, 6, 10)).astype(np.float32)
    return rewrite(raw, **ENSEMBLE, members=[member]), x


def test_fp16_weight_storage_keeps_the_output_and_halves_the_weights() -> None:
    full, x = _two_member_ensemble(3)
    half = weights_to_fp16(full, min_elements=Q)
    stored = {i.name: i.data_type for i in half.graph.initializer}
    assert stored["head.w__fp16"] == TensorProto.FLOAT16 and "head.w" not in stored
    assert stored["m2/head.w__fp16"] == TensorProto.FLOAT16
    assert stored["bayes.neg_inv_tau"] == TensorProto.FLOAT  # scalars stay float32
    inits = [*full.graph.initializer, *half.graph.initializer]
    size = {i.name: numpy_helper.to_array(i).nbytes for i in inits}
    assert size["bayes.cost__fp16"] * 2 == size["bayes.cost"] == Q * Q * 4
    np.testing.assert_allclose(_run(half, x), _run(full, x), atol=2e-3)


def test_fp16_weights_hoist_large_constants_and_store_equal_tensors_once() -> None:
    # Two copies of one frozen weight tensor exported as Constant nodes (as torch exports a
    # non-persistent buffer), plus a small Constant that must stay as it is.
    w = np.random.default_rng(5).normal(0, 1, (64, 1, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w_a"], value=numpy_helper.from_array(w, "w_a")),
        helper.make_node("Constant", [], ["w_b"], value=numpy_helper.from_array(w.copy(), "w_b")),
        helper.make_node(
            "Constant", [], ["k"], value=numpy_helper.from_array(np.full(3, 0.5, np.float32), "k")
        ),
        helper.make_node("Conv", ["x", "w_a"], ["y_a"]),
        helper.make_node("Conv", ["x", "w_b"], ["y_b"]),
        helper.make_node("Add", ["y_a", "y_b"], ["s"]),
        helper.make_node("Mul", ["s", "k_b"], ["y"]),
        helper.make_node("Reshape", ["k", "k_shape"], ["k_b"]),
    ]
    graph = helper.make_graph(
        [*nodes[:6], nodes[7], nodes[6]],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 2, 3])],
        [numpy_helper.from_array(np.array([1, 1, 1, 3], np.int64), "k_shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    half = weights_to_fp16(model, min_elements=64)
    onnx.checker.check_model(half)
    fp16 = [i for i in half.graph.initializer if i.data_type == TensorProto.FLOAT16]
    assert [i.name for i in fp16] == ["w_a__fp16"]  # w_b's copy is not stored again
    assert [n.output[0] for n in half.graph.node if n.op_type == "Constant"] == ["k"]
    assert sum(n.op_type == "Cast" for n in half.graph.node) == 1
    assert all("w_b" not in n.input for n in half.graph.node)
    x = np.random.default_rng(6).random((1, 1, 2, 3)).astype(np.float32)
    full_y = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    half_y = ort.InferenceSession(half.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(half_y, full_y, atol=5e-3)
    np.testing.assert_allclose(full_y, 2 * 0.5 * np.einsum("oi,bihw->bohw", w[:, :, 0, 0], x), atol=1e-5)


def test_int8_weight_storage_quantizes_conv_weights_per_channel_and_keeps_the_cost_matrix() -> None:
    full, x = _two_member_ensemble(4)
    small = weights_to_int8(full, min_elements=Q)
    onnx.checker.check_model(small)
    stored = {i.name: i for i in small.graph.initializer}
    assert stored["head.w__int8"].data_type == TensorProto.INT8 and "head.w" not in stored
    assert stored["m2/head.w__int8"].data_type == TensorProto.INT8
    assert stored["bayes.cost__fp16"].data_type == TensorProto.FLOAT16  # the decoding stays float16
    # one scale per output channel: max |w| / 127, and the int8 values reproduce w within half a step
    w = numpy_helper.to_array(next(i for i in full.graph.initializer if i.name == "head.w"))
    q = numpy_helper.to_array(stored["head.w__int8"]).astype(np.float32)
    scale = numpy_helper.to_array(stored["head.w__scale"])
    assert scale.shape == (Q,) and np.abs(q).max() == 127
    np.testing.assert_allclose(scale, np.abs(w).reshape(Q, -1).max(1) / 127, rtol=1e-6)
    assert np.abs(q * scale[:, None, None, None] - w).max() <= scale.max() / 2 + 1e-6
    dq = [n for n in small.graph.node if n.op_type == "DequantizeLinear"]
    assert sorted(n.output[0] for n in dq) == ["head.w", "m2/head.w"]
    assert all(a.i == 0 for n in dq for a in n.attribute if a.name == "axis")
    np.testing.assert_allclose(_run(small, x), _run(full, x), atol=0.05)  # ab units of 1/128
    assert small.SerializeToString() == weights_to_int8(full, min_elements=Q).SerializeToString()


def test_int8_storage_leaves_a_tensor_with_other_users_in_float16() -> None:
    w = np.random.default_rng(7).normal(0, 1, (64, 1, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y_conv"]),
        helper.make_node("ReduceMean", ["w"], ["w_mean"], keepdims=0),  # w is read as data, too
        helper.make_node("Add", ["y_conv", "w_mean"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 2, 3])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    small = weights_to_int8(model, min_elements=64)
    assert [i.data_type for i in small.graph.initializer] == [TensorProto.FLOAT16]
    assert not any(n.op_type == "DequantizeLinear" for n in small.graph.node)


def test_cached_logits_through_the_cut_tail_equal_the_whole_ensemble() -> None:
    """calib_cache.py: each network's logits (its own int8 copy) fed to the decoding tail cut out of
    the int8 build give the build's output, so cached scores are the shipped graph's scores."""
    from bayes_decode import build
    from calib_cache import cut, tail
    from ensemble import network_nodes

    raw, *_ = _raw_export(0)
    member, *_ = _raw_export(1)
    x = np.random.default_rng(5).random((1, 1, 6, 10)).astype(np.float32)
    dec = {**ENSEMBLE, "floor": 10.0}
    want = _run(build(raw, [member], "int8", **dec), x)
    logits = []
    for m in (raw, member):
        q = weights_to_int8(m)
        part = cut(q, ["L"], [network_nodes(q)[1]])
        assert len(part.graph.node) < len(q.graph.node)  # the decoding is not in it
        sess = ort.InferenceSession(part.SerializeToString(), providers=["CPUExecutionProvider"])
        logits.append(sess.run(None, {"L": x})[0])
    decoding, names = tail(raw, 2, dec)
    assert len(names) == 2 and names[0] != names[1]
    got = decoding.run(["ab"], {names[0]: logits[0], names[1]: logits[1], "L": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected 3 logits inputs"):
        tail(raw, 3, {**dec, "flip": 1.0})
