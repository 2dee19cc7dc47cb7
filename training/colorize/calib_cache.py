"""Fast choice of ensemble members and decoding on the calibration photos (BSD100 img_021..100).

``bayes_decode.py --calibrate`` rebuilds and re-runs every network for each grid point (~30 s per
network per point on 2 cores).  Here each candidate network's logits on the 80 calibration photos
are computed once (in its shipped int8 storage) and cached as float16 under ``--cache``; a candidate
(members, t, tau, floor) then runs only the decoding tail of the graph ``bayes_decode.build`` writes
(posterior average, expected-cost convolution, soft arg-min, floor, upsampling), cut out of it,
and is scored by the same rule as ``_metrics``.  ``--check`` also scores the first candidate's whole
build, to compare.  The held-out photos are never read.

Usage::

    python calib_cache.py --cache /tmp/calcache --net r3=RAW3 --net r4=RAW4 ... \\
        --ensemble r3,r4,r9 --ensemble r3,r4,r9,r10a --grid-t 1 --grid-tau 1,1.4 --grid-floor 10 \\
        --log out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from bayes_decode import (
    CALIB_DIR,
    CALIB_IDS,
    CF_MEAN_MIN,
    CF_MIN_MIN,
    _metrics,
    build,
    summarize,
)
from ensemble import INPUT, network_nodes, weights_to_int8
from evaluate import photo_rows
from onnx import TensorProto, helper


def cut(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    """The part of ``model`` that computes ``outputs`` from ``inputs`` (float32 tensors) and its
    initializers; every other node is dropped."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    keep: set[int] = set()
    todo = list(outputs)
    seen = set(inputs)
    while todo:
        name = todo.pop()
        if name in seen or name in inits or name == "":
            continue
        seen.add(name)
        node = producer[name]
        keep.add(id(node))
        todo.extend(node.input)
    nodes = [n for n in model.graph.node if id(n) in keep]
    used = {x for n in nodes for x in n.input}
    graph = helper.make_graph(
        nodes,
        "cut",
        [helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [inits[k] for k in inits if k in used],
    )
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def cache_logits(name: str, raw: onnx.ModelProto, cache: Path) -> Path:
    """Logits (float16) of the int8-stored network on every calibration photo, once per name."""
    folder = cache / name
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    model = weights_to_int8(raw)
    logits = network_nodes(model)[1]
    sess = _session(cut(model, [INPUT], [logits]))
    photo = iter(CALIB_IDS)

    def run(x: np.ndarray) -> np.ndarray:
        z = sess.run(None, {INPUT: x})[0]
        np.save(folder / f"{next(photo)}.npy", z.astype(np.float16))
        return np.zeros((1, 2, *x.shape[2:]), np.float32)

    photo_rows(CALIB_DIR, CALIB_IDS, run, None)
    (folder / "done").write_text("ok\n")
    return folder


def tail(raw: onnx.ModelProto, n: int, dec: dict[str, float]) -> tuple[ort.InferenceSession, list[str]]:
    """The decoding part of an ``n``-network int8 build: inputs are the networks' logits (and ``L``)."""
    full = build(raw, [raw] * (n - 1), "int8", merge=False, **dec)  # the n copies would merge
    inputs = [nd.input[0] for nd in full.graph.node if nd.name.startswith("/bayes/Temper")]
    if len(inputs) != n:
        raise ValueError(f"expected {n} logits inputs, found {len(inputs)}")
    part = cut(full, [*inputs, INPUT], ["ab"])
    return _session(part), inputs


def score(folders: list[Path], raw: onnx.ModelProto, dec: dict[str, float]) -> dict[str, float]:
    """``_metrics`` of the ensemble of the cached networks ``folders`` under decoding ``dec``."""
    sess, inputs = tail(raw, len(folders), dec)
    photo = iter(CALIB_IDS)

    def run(x: np.ndarray) -> np.ndarray:
        name = next(photo)
        feed = {k: np.load(f / f"{name}.npy").astype(np.float32) for k, f in zip(inputs, folders)}
        return np.asarray(sess.run(["ab"], {**feed, INPUT: x})[0], np.float32)

    return summarize(photo_rows(CALIB_DIR, CALIB_IDS, run, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--net", action="append", default=[], help="NAME=raw.onnx (repeatable)")
    ap.add_argument("--ensemble", action="append", default=[], help="comma-separated NAMEs (repeatable)")
    ap.add_argument("--grid-t", default="1")
    ap.add_argument("--grid-tau", default="1.4")
    ap.add_argument("--grid-floor", default="10")
    ap.add_argument("--grid-floor-rel", default="0", help="relative floor values (colour_floor.py)")
    ap.add_argument("--check", action="store_true", help="also score the first candidate's full build")
    ap.add_argument("--log", type=Path, default=None)
    args = ap.parse_args()
    paths = dict(s.split("=", 1) for s in args.net)
    raws = {k: onnx.load(v) for k, v in paths.items()}
    folders = {k: cache_logits(k, m, args.cache) for k, m in raws.items()}
    grid = [
        [float(v) for v in s.split(",")]
        for s in (args.grid_t, args.grid_tau, args.grid_floor, args.grid_floor_rel)
    ]
    rows: list[dict[str, Any]] = []
    for ens, (t, tau, floor, rel) in itertools.product(args.ensemble, itertools.product(*grid)):
        names = ens.split(",")
        dec = {"t": t, "tau": tau, "scale": 1.0, "floor": floor, **({"floor_rel": rel} if rel > 0 else {})}
        m = score([folders[k] for k in names], raws[names[0]], dec)
        rows.append({"members": names, **dec, **{k: round(v, 4) for k, v in m.items()}})
        print(json.dumps(rows[-1]), flush=True)
        if args.check and len(rows) == 1:
            whole = build(raws[names[0]], [raws[k] for k in names[1:]], "int8", **dec)
            print(
                json.dumps({"check_full_build": _metrics(whole.SerializeToString(), CALIB_IDS)}), flush=True
            )
    ok = [r for r in rows if r["cf_ratio_mean"] >= CF_MEAN_MIN and r["cf_ratio_min"] >= CF_MIN_MIN]
    best = min(ok, key=lambda r: r["de2000"]) if ok else None
    print(json.dumps({"best": best}))
    if args.log:
        args.log.write_text(json.dumps({"nets": paths, "grid": rows, "best": best}, indent=1) + "\n")


if __name__ == "__main__":
    main()
