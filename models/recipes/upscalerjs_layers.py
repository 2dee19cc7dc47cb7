"""Re-create the UpscalerJS Keras (TF.js layers / .h5) super-resolution models as ONNX.

Each model comes from a pinned npm package, fetched with ``npm pack`` (the npm registry is the only
network access), loaded with TensorFlow/Keras (the TF.js layers JSON through tensorflowjs' Keras
loader), converted with ``tf2onnx.convert.from_keras`` (opset 17, input ``(None, None, None, 3)``),
post-processed (Resize ``tf_half_pixel_for_nn`` -> ``asymmetric``), checked against TensorFlow and
hashed; models with ``folded_sha256`` are then rewritten by ``fold_upsample.py`` (nearest upsample +
conv -> low-resolution conv + depth-to-space, exact), checked against the conversion and hashed again.

Byte reproducibility: tf2onnx 1.16.1 merges duplicated nodes (equal constants, repeated ``Shape``
ops) and keeps whichever duplicate it meets first, in an order that changes from process to process
(string hashing, thread timing), so plain runs yield one of several graphs that compute exactly the
same thing but differ in which duplicate's name survives. The table below pins those survivors
(``keep``: the names found in the reference file) and :func:`pin_duplicate_survivors` makes tf2onnx
keep them; with that, the conversion is byte-stable. tf2onnx's generated names come from a
process-wide counter, so each conversion runs in a fresh child process. If the sha256 still differs,
the file is kept, the numerical difference to a ``--reference`` file is reported and the exit status
is 1.

Usage (inside the venv made by ``build_upscalerjs.sh``)::

    python models/recipes/upscalerjs_layers.py --model-id esrgan-slim-x2 --out out/esrgan-slim-x2.onnx
    python models/recipes/upscalerjs_layers.py --package @upscalerjs/esrgan-slim@1.0.0 \\
        --model models/x3/model.json --scale 3 --out out/esrgan-slim-x3.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_io import extract_package, merge_facts, npm_pack, npm_source, package_license, sha256_of
from tfjs_compat import custom_layers, install_import_stubs

OPSET = 17
CHECK_SHAPE = (1, 37, 53, 3)  # odd, non-square test input: catches layout and padding mistakes
CHECK_SEED = 0


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model: where it lives in which npm package, and what the conversion must produce."""

    package: str  # npm spec with exact version, e.g. "@upscalerjs/models@0.9.0"
    path: str  # path of the model file inside the package (below the tarball's "package/" folder)
    scale: int
    sha256: str | None  # expected sha256 of the ONNX file (None: unknown, report only)
    keep: tuple[str, ...] = ()  # duplicate nodes that tf2onnx's merge must keep (see pin_duplicate_survivors)
    # Expected sha256 after fold_upsample.py (nearest upsample + conv -> low-res conv + depth-to-space,
    # same weights re-arranged, exact); None: the conversion is shipped as it is.
    folded_sha256: str | None = None


MODELS: dict[str, ModelSpec] = {
    # The .h5 beside the psnr-small model.json holds the float32 weights; the model.json's weights are
    # uint8-quantised (the research file, and this table, use the float .h5).
    "idealo-psnr-small-x2": ModelSpec(
        "@upscalerjs/models@0.9.0",
        "models/idealo/psnr-small-quant-uint8/image-super-resolution-psnr-small.h5",
        2,
        "6d1b7932d7aa188dba34e77ca54c37578dad4c5d0b66778ecd27da727e88e0a9",
        keep=("Shape__825", "const_axes__385", "const_empty_float__393"),
    ),
    "idealo-gans-x4": ModelSpec(
        "@upscalerjs/models@0.9.0",
        "models/idealo/gans/model.json",
        4,
        "fbaf20c7a44db2ee1331d2115927862bfdd89556635ff70a38bc0d944dd686c2",
        keep=("generator/multiply_beta_411/mul/y",),
    ),
    # The research file (404229401b02...) is not at hand to read its surviving duplicate names from;
    # these pins were read off our own first conversion (max|TF - ORT| 9.5e-7) and make it byte-stable.
    "esrgan-thick-x4": ModelSpec(
        "@upscalerjs/esrgan-thick@1.0.0",
        "models/x4/model.json",
        4,
        "6b98ec89e59f9a2d92f3fa44e4cd161a8bd232611d0790da3734c1f07d09bf25",
        keep=("generator/multiply_beta_11/mul/y",),
    ),
    "esrgan-slim-x2": ModelSpec(
        "@upscalerjs/esrgan-slim@1.0.0",
        "models/x2/model.json",
        2,
        "3be01c120a546425e60fd2440c76ec60d14e65696429a6e5f1225852d5dee05a",
        keep=("Shape__106", "const_zero__103", "const_empty_float__105"),
        folded_sha256="6163684c6cc182f37fa80e4e17ac6be714b9ede2fdefd043c7c16b9f98a727a6",
    ),
    "esrgan-slim-x4": ModelSpec(
        "@upscalerjs/esrgan-slim@1.0.0",
        "models/x4/model.json",
        4,
        "806fc1181be43c2365ddafc2acdf7146b4c4871bf01577670ceefc0834d16696",
        keep=("Shape__106", "const_zero__103", "roi__98"),
        folded_sha256="3cf9bbc5c93512ab718dda51b38556acdf6e446056f1c5316c251fbd83b736cc",
    ),
}


# --------------------------------------------------------------------------------------------------
# npm package
# --------------------------------------------------------------------------------------------------


def model_description(model_file: Path) -> str | None:
    """The ``description`` of the ``config.json`` next to the model file, where the package has one."""
    config = model_file.parent / "config.json"
    return json.loads(config.read_text()).get("description") if config.is_file() else None


# --------------------------------------------------------------------------------------------------
# conversion (runs in a child process: see the module docstring)
# --------------------------------------------------------------------------------------------------


def pin_duplicate_survivors(keep: frozenset[str]) -> None:
    """Make tf2onnx keep the named node when it merges a group of duplicated nodes.

    ``MergeDuplicatedNodesOptimizer`` keeps the first node of each group of identical nodes, in an
    order that varies from process to process; the file is then byte-different (one surviving name).
    Moving the named nodes to the front of their group (the optimizer's own sort is stable) pins the
    choice. Only the names change: every choice computes the same.
    """
    from tf2onnx.optimizer.merge_duplicated_nodes_optimizer import MergeDuplicatedNodesOptimizer

    merge = MergeDuplicatedNodesOptimizer._merge_nodes_that_are_duplicated

    def merge_keeping_named(self: Any, nodes: list[Any], graph: Any) -> None:
        nodes.sort(key=lambda node: node.name not in keep)
        merge(self, nodes, graph)

    MergeDuplicatedNodesOptimizer._merge_nodes_that_are_duplicated = merge_keeping_named


def load_keras_model(path: Path) -> Any:
    """Load a Keras model from a TF.js layers ``model.json`` or a Keras ``.h5`` file."""
    import tensorflow as tf

    install_import_stubs()
    import tensorflowjs as tfjs

    with tf.keras.utils.custom_object_scope(custom_layers()):
        if path.suffix == ".h5":
            return tf.keras.models.load_model(str(path), compile=False)
        return tfjs.converters.load_keras_model(str(path), use_unique_name_scope=False)


def fix_resize_mode(model: Any) -> int:
    """Rewrite Resize ``tf_half_pixel_for_nn`` as ``asymmetric`` (same result for integer nearest
    upscales; ORT warns about the deprecated mode). Returns the number of nodes changed."""
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        for attr in node.attribute:
            if attr.name == "coordinate_transformation_mode" and attr.s == b"tf_half_pixel_for_nn":
                attr.s = b"asymmetric"
                changed += 1
    return changed


def check_against_tf(keras_model: Any, onnx_path: Path) -> dict[str, float]:
    """Max |TF - ORT| on a fixed random input, in the 0..1 and the 0..255 input ranges."""
    import numpy as np
    import onnxruntime as ort

    x = np.random.RandomState(CHECK_SEED).rand(*CHECK_SHAPE).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    diffs = {}
    for label, factor in (("0..1", 1.0), ("0..255", 255.0)):
        want = keras_model(x * factor).numpy()
        got = sess.run(None, {name: x * factor})[0]
        diffs[label] = float(np.abs(want - got).max())
    return diffs


def graph_facts(onnx_path: Path) -> dict[str, Any]:
    """Input/output names, shapes and dtypes as they appear in the ONNX graph."""
    import onnx

    model = onnx.load(str(onnx_path))

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in tensor.shape.dim]
        return {
            "name": value.name,
            "shape": dims,
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
        }

    return {
        "inputs": [describe(v) for v in model.graph.input],
        "outputs": [describe(v) for v in model.graph.output],
        "opset": {op.domain or "ai.onnx": op.version for op in model.opset_import},
        "nodes": len(model.graph.node),
    }


def convert(source: Path, out: Path, keep: frozenset[str]) -> dict[str, Any]:
    """Convert one Keras model file to ONNX at ``out``; return the facts measured on the way."""
    import numpy as np
    import onnx
    import tensorflow as tf
    import tf2onnx

    pin_duplicate_survivors(keep)
    keras_model = load_keras_model(source)
    signature = (tf.TensorSpec((None, None, None, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset=OPSET)
    resized = fix_resize_mode(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return {
        "params": int(sum(np.prod(w.shape) for w in keras_model.weights)),
        "resize_nodes_fixed": resized,
        "max_abs_diff_tf_vs_ort": check_against_tf(keras_model, out),
        **graph_facts(out),
    }


# --------------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------------


def convert_in_child(source: Path, out: Path, keep: tuple[str, ...]) -> dict[str, Any]:
    """Run :func:`convert` in a fresh interpreter (fixed hash seed, CPU only); return its facts."""
    facts_file = out.with_suffix(".facts.json")
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    child = subprocess.run(
        [sys.executable, __file__, "_convert", str(source), str(out), str(facts_file), *keep],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"conversion of {source} failed (exit {child.returncode})")
    facts: dict[str, Any] = json.loads(facts_file.read_text())
    facts_file.unlink()
    return facts


def names_only_in(reference: Path, ours: Path) -> list[str]:
    """Node and initializer names of ``reference`` that ``ours`` lacks: candidates for ``keep``."""
    import onnx

    def names(path: Path) -> set[str]:
        graph = onnx.load(str(path)).graph
        return {n.name for n in graph.node} | {i.name.removesuffix(":0") for i in graph.initializer}

    return sorted(names(reference) - names(ours))


def compare_with_reference(ours: Path, reference: Path, scale: int) -> float:
    """Max |ours - reference| with onnxruntime on a fixed random 0..1 input."""
    import numpy as np
    import onnxruntime as ort

    x = np.random.RandomState(CHECK_SEED).rand(*CHECK_SHAPE).astype(np.float32)
    outs = []
    for path in (ours, reference):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {sess.get_inputs()[0].name: x})[0])
    assert outs[0].shape == (1, CHECK_SHAPE[1] * scale, CHECK_SHAPE[2] * scale, 3), outs[0].shape
    return float(np.abs(outs[0] - outs[1]).max())


def fold(model_id: str, converted: Path, out: Path) -> dict[str, Any]:
    """Apply fold_upsample.py to the conversion; check the result against it on odd-sized inputs."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from fold_upsample import describe, fold_upsample_convs

    model = onnx.load(str(converted))
    folds = fold_upsample_convs(model)
    if not folds:
        raise SystemExit(f"[{model_id}] fold_upsample found nothing to fold")
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    rng = np.random.RandomState(CHECK_SEED)
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (converted, out)]
    worst = 0.0
    for h, w in ((CHECK_SHAPE[1], CHECK_SHAPE[2]), (1, 1), (17, 8)):
        x = rng.rand(1, h, w, 3).astype(np.float32)
        a, b = (s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions)
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"[{model_id}] folded: {describe(folds)}; max|folded - conversion| {worst:.2e} (input 0..1)")
    return {
        "fold": describe(folds).splitlines(),
        "max_abs_diff_folded_vs_conversion": worst,
        "nodes_after_fold": len(model.graph.node),
    }


def build(model_id: str, spec: ModelSpec, out: Path, reference: Path | None) -> dict[str, Any]:
    """Fetch, convert, verify and hash one model; return its facts."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="upscalerjs-") as tmp_name:
        tmp = Path(tmp_name)
        npm = npm_pack(spec.package, tmp)
        root = extract_package(tmp / npm["filename"], tmp / "unpacked")
        source = root / spec.path
        if not source.is_file():
            raise SystemExit(f"{spec.path} is not in {spec.package}")
        license_facts = package_license(root)
        description = model_description(source)
        print(f"[{model_id}] {spec.package} ({npm['integrity']}) -> {spec.path}", flush=True)

        candidate = tmp / "model.onnx"
        facts = convert_in_child(source, candidate, spec.keep)
        digest = sha256_of(candidate)
        converted_ok = spec.sha256 is not None and digest == spec.sha256
        print(
            f"[{model_id}] conversion: sha256 {digest} "
            + ("== expected" if converted_ok else f"!= expected {spec.sha256}"),
            flush=True,
        )
        fold_facts: dict[str, Any] = {}
        if spec.folded_sha256 is not None:
            fold_facts = fold(model_id, candidate, tmp / "folded.onnx")
            candidate = tmp / "folded.onnx"
        final = sha256_of(candidate)
        os.replace(candidate, out)

    expected = spec.folded_sha256 if spec.folded_sha256 is not None else spec.sha256
    matched = converted_ok and final == expected
    diff = facts["max_abs_diff_tf_vs_ort"]
    print(f"[{model_id}] max|TF - ORT|: {diff['0..1']:.2e} (input 0..1), {diff['0..255']:.2e} (0..255)")
    print(
        f"[{model_id}] {out}: sha256 {final} " + ("== expected" if matched else f"!= expected {expected}"),
        flush=True,
    )
    record: dict[str, Any] = {
        "file": out.name,
        "sha256": final,
        "expected_sha256": expected,
        "sha256_matches": matched,
        **({"conversion_sha256": digest, "conversion_sha256_matches": converted_ok} if fold_facts else {}),
        **fold_facts,
        "kept_duplicates": list(spec.keep),
        "size_bytes": out.stat().st_size,
        "source": npm_source(spec.package, spec.path, npm),
        "license": license_facts,
        "package_model_description": description,
        "layout": "NHWC",
        "scale": spec.scale,
        **facts,
    }
    if not matched and reference is not None and reference.is_file():
        record["max_abs_diff_vs_reference"] = compare_with_reference(out, reference, spec.scale)
        print(f"[{model_id}] max|ours - {reference}| = {record['max_abs_diff_vs_reference']:.2e}")
        print(f"[{model_id}] names only in the reference (keep candidates): {names_only_in(reference, out)}")
    return record


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-id", choices=sorted(MODELS), help="a model of the table in this script")
    parser.add_argument("--package", help="npm spec with exact version (with --model, instead of --model-id)")
    parser.add_argument("--model", help="path of the model.json or .h5 inside the package")
    parser.add_argument("--scale", type=int, default=2, help="upscale factor (with --package)")
    parser.add_argument("--expected-sha256", help="expected sha256 (with --package)")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--keep", nargs="*", default=[], help="duplicate node names to keep (with --package)")
    parser.add_argument("--reference", type=Path, help="reference ONNX to compare with if the bytes differ")
    parser.add_argument("--facts", type=Path, help="JSON file to add this model's facts to")
    args = parser.parse_args(argv)
    if (args.model_id is None) == (args.package is None) or (args.package and not args.model):
        parser.error("give --model-id, or --package with --model")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["_convert"]:  # child mode: _convert SOURCE OUT FACTS_JSON [KEEP...]
        source, out, facts_file = (Path(a) for a in argv[1:4])
        facts_file.write_text(json.dumps(convert(source, out, frozenset(argv[4:]))))
        return 0
    args = parse_args(argv)
    if args.model_id:
        model_id, spec = args.model_id, MODELS[args.model_id]
    else:
        model_id = args.out.stem
        spec = ModelSpec(args.package, args.model, args.scale, args.expected_sha256, tuple(args.keep))
    record = build(model_id, spec, args.out, args.reference)
    if args.facts:
        merge_facts(args.facts, model_id, record)
    return 0 if record["sha256_matches"] or spec.sha256 is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
