"""The colourfulness floor of the decoding (``bayes_decode.py``), as ONNX nodes.

The minimum-expected-CIEDE2000 decoding hedges: where the networks are unsure of a hue it picks a
muted colour, and a photo they are unsure about everywhere comes back nearly grey.  The floor
measures the decoded chroma's colourfulness over the image,

    c = sqrt(var_a + var_b) + 0.3 * sqrt(mean_a^2 + mean_b^2)     (Hasler-Suesstrunk form, ab units)

and multiplies every pixel's a/b by ``clip(target / c, 1, MAX_GAIN)``.

* absolute floor (``floor``, sessions 5-7): ``target = floor``, the same for every photo, so a
  near-grey scene that the networks rightly leave muted is lifted as much as a vivid one.
* relative floor (``floor_rel``, session 8): the target also follows the networks' own posterior.
  ``c_post`` is the same measure for colours *drawn* from each pixel's posterior ``p`` (mean
  ``E_p[ab]``, second moment ``E_p[|ab|^2]``, averaged over the image), so it is high where the
  networks expect colour but disagree on the hue, and low where they expect grey:
  ``target = max(floor, floor_rel * c_post)``.  With ``floor_rel = 0`` the nodes are those of the
  absolute floor alone (the earlier graphs, byte for byte).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

AB_UNIT = 128.0  # the graph's ab output is in units of ab / 128
MAX_GAIN = 3.0


def _mean2_sum(prefix: str, mean: str) -> list[onnx.NodeProto]:
    """``{prefix}/mean2_sum`` = mean_a^2 + mean_b^2 of the image mean ``mean`` (N,2,1,1)."""
    mk = helper.make_node
    return [
        mk("Mul", [mean, mean], [f"{prefix}/mean2"], name=f"/{prefix}/Mean2"),
        mk(
            "ReduceSum",
            [f"{prefix}/mean2", "floor.c_axis"],
            [f"{prefix}/mean2_sum"],
            name=f"/{prefix}/Mean2Sum",
            keepdims=1,
        ),
    ]


def _spread(prefix: str) -> onnx.NodeProto:
    """``{prefix}/spread`` = sqrt of the summed variance ``{prefix}/var_sum``."""
    return helper.make_node("Sqrt", [f"{prefix}/var_sum"], [f"{prefix}/spread"], name=f"/{prefix}/Spread")


def _colourfulness(prefix: str) -> list[onnx.NodeProto]:
    """``{prefix}/cf`` = spread + 0.3 * sqrt(mean2_sum), once both exist."""
    mk = helper.make_node
    return [
        mk("Sqrt", [f"{prefix}/mean2_sum"], [f"{prefix}/offset"], name=f"/{prefix}/Offset"),
        mk(
            "Mul",
            [f"{prefix}/offset", "floor.mean_weight"],
            [f"{prefix}/offset_w"],
            name=f"/{prefix}/OffsetW",
        ),
        mk(
            "Add",
            [f"{prefix}/spread", f"{prefix}/offset_w"],
            [f"{prefix}/cf"],
            name=f"/{prefix}/Colourfulness",
        ),
    ]


def floor_nodes(
    ab: str,
    out: str,
    floor: float,
    floor_rel: float = 0.0,
    posterior: str = "",
    centres: np.ndarray | None = None,
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes ``ab`` (N,2,h,w, graph units) -> ``out`` with the floor applied, and their constants.

    ``floor_rel > 0`` needs the posterior's name (N,Q,h,w at the same size as ``ab``) and the bins'
    ab centres (Q,2, ab units)."""
    if floor < 0 or floor_rel < 0:
        raise ValueError(f"floor and floor_rel must not be negative, got {floor}, {floor_rel}")
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "floor.c_axis"),
        numpy_helper.from_array(np.array(0.3, np.float32), "floor.mean_weight"),
        numpy_helper.from_array(np.array(floor / AB_UNIT, np.float32), "floor.target"),
        numpy_helper.from_array(np.array(1e-6, np.float32), "floor.eps"),
        numpy_helper.from_array(np.array(1.0, np.float32), "floor.gain_min"),
        numpy_helper.from_array(np.array(MAX_GAIN, np.float32), "floor.gain_max"),
    ]
    mk = helper.make_node
    nodes = [
        mk("ReduceMean", [ab], ["floor/mean"], name="/floor/Mean", axes=[2, 3], keepdims=1),
        mk("Sub", [ab, "floor/mean"], ["floor/dev"], name="/floor/Dev"),
        mk("Mul", ["floor/dev", "floor/dev"], ["floor/dev2"], name="/floor/Dev2"),
        mk("ReduceMean", ["floor/dev2"], ["floor/var"], name="/floor/Var", axes=[2, 3], keepdims=1),
        mk("ReduceSum", ["floor/var", "floor.c_axis"], ["floor/var_sum"], name="/floor/VarSum", keepdims=1),
        _spread("floor"),
        *_mean2_sum("floor", "floor/mean"),
        *_colourfulness("floor"),
        mk("Add", ["floor/cf", "floor.eps"], ["floor/cf_eps"], name="/floor/Eps"),
    ]
    target = "floor.target"
    if floor_rel > 0:
        if not posterior or centres is None:
            raise ValueError("floor_rel needs the posterior and the bin centres")
        c = (np.asarray(centres, np.float64) / AB_UNIT).astype(np.float32)
        q = c.shape[0]
        inits += [
            numpy_helper.from_array(np.ascontiguousarray(c.T.reshape(2, q, 1, 1)), "floor.centres"),
            numpy_helper.from_array((c**2).sum(1).reshape(1, q, 1, 1), "floor.centres_sq"),
            numpy_helper.from_array(np.array(floor_rel, np.float32), "floor.rel"),
        ]
        nodes += [
            mk("Conv", [posterior, "floor.centres"], ["post/ab"], name="/post/Mean"),
            mk("Conv", [posterior, "floor.centres_sq"], ["post/ab2"], name="/post/Second"),
            mk("ReduceMean", ["post/ab"], ["post/mean"], name="/post/ImageMean", axes=[2, 3], keepdims=1),
            mk(
                "ReduceMean", ["post/ab2"], ["post/second"], name="/post/ImageSecond", axes=[2, 3], keepdims=1
            ),
            *_mean2_sum("post", "post/mean"),  # variance of a draw = second moment - mean^2
            mk("Sub", ["post/second", "post/mean2_sum"], ["post/var_raw"], name="/post/VarRaw"),
            mk("Relu", ["post/var_raw"], ["post/var_sum"], name="/post/VarSum"),
            _spread("post"),
            *_colourfulness("post"),
            mk("Mul", ["post/cf", "floor.rel"], ["post/target"], name="/post/Target"),
            mk("Max", ["floor.target", "post/target"], ["floor/target"], name="/floor/Target"),
        ]
        target = "floor/target"
    nodes += [
        mk("Div", [target, "floor/cf_eps"], ["floor/ratio"], name="/floor/Ratio"),
        mk("Clip", ["floor/ratio", "floor.gain_min", "floor.gain_max"], ["floor/gain"], name="/floor/Gain"),
        mk("Mul", [ab, "floor/gain"], [out], name="/floor/Apply"),
    ]
    return nodes, inits
