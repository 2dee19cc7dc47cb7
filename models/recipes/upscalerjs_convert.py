"""The conversion step of ``upscalerjs_layers.py`` (see its docstring): a Keras model file (TF.js
layers JSON or .h5) to ONNX with tf2onnx, the duplicate-node pins that make it byte-stable, the
Resize mode fix, and the check against TensorFlow. ``upscalerjs_layers.py`` runs :func:`convert`
in a fresh child process (tf2onnx's generated names come from a process-wide counter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfjs_compat import custom_layers, install_import_stubs

OPSET = 17
CHECK_SHAPE = (1, 37, 53, 3)  # odd, non-square test input: catches layout and padding mistakes
CHECK_SEED = 0


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
