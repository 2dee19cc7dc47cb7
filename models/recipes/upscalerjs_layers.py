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
same thing but differ in which duplicate's name survives. The table (``upscalerjs_models.py``) pins
those survivors (``keep``: the names found in the reference file) and
:func:`upscalerjs_convert.pin_duplicate_survivors` makes tf2onnx keep them; with that, the
conversion is byte-stable. tf2onnx's generated names come from a process-wide counter, so each
conversion runs in a fresh child process. If the sha256 still differs,
the file is kept, the numerical difference to a ``--reference`` file is reported and the exit status
is 1.

Usage (inside the venv made by ``build_upscalerjs.sh``)::

    python models/recipes/upscalerjs_layers.py --model-id esrgan-slim-x2 --out out/esrgan-slim-x2.onnx
    python models/recipes/upscalerjs_layers.py --package @upscalerjs/esrgan-slim@1.0.0 \\
        --model models/x3/model.json --scale 3 --out out/esrgan-slim-x3.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_io import extract_package, merge_facts, npm_pack, npm_source, package_license, sha256_of
from upscalerjs_convert import CHECK_SEED, CHECK_SHAPE, convert
from upscalerjs_models import MODELS, ModelSpec

# --------------------------------------------------------------------------------------------------
# npm package
# --------------------------------------------------------------------------------------------------


def model_description(model_file: Path) -> str | None:
    """The ``description`` of the ``config.json`` next to the model file, where the package has one."""
    config = model_file.parent / "config.json"
    return json.loads(config.read_text()).get("description") if config.is_file() else None


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
    parser.add_argument(
        "--model-id", choices=sorted(MODELS), help="a model of the table in upscalerjs_models.py"
    )
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
