"""A PyTorch runtime for machines whose GPU has PyTorch but no onnxruntime-gpu (optional).

It runs the same verified ONNX file: the graph is read with ``onnx`` and its nodes are executed
in order with ``torch`` operations (an interpreter, not a converter: no generated code, so what
runs is what the manifest's sha256 names). Supported: the operators of the shipped upscale models
(Conv, Add, Sub, Mul, Div, Sigmoid, Relu, PRelu, LeakyRelu, Concat, Split, DepthToSpace, Transpose,
nearest Resize with Shape/Gather/Slice/Cast/Unsqueeze arithmetic on shapes, Identity, Clip).
An unsupported operator raises ``ModelFormatError`` at load time.

``fp16=True`` runs convolutions in half precision (measure the PSNR cost per model before using
it: ``benchmarks/perf_gpu.py`` prints it). ``run`` takes a batch of tiles of one shape at once.
Cancel: ``terminate`` sets a flag checked between nodes (each node is one CUDA kernel or a few).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..catalog import ModelCard, read_verified
from ..errors import Cancelled, ModelFormatError

SUPPORTED = {
    "Conv", "Add", "Sub", "Mul", "Div", "Sigmoid", "Relu", "PRelu", "LeakyRelu", "Concat", "Split",
    "DepthToSpace", "Transpose", "Resize", "Shape", "Gather", "Slice", "Cast", "Unsqueeze", "Identity",
    "Clip", "Constant",
}  # fmt: skip


_ON_DEVICE = {"Conv", "Add", "Sub", "Mul", "Div", "PRelu", "Concat", "Clip", "Resize"}


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class TorchGraph:
    """The ONNX graph's nodes as a list of torch calls (weights moved to ``device`` once)."""

    def __init__(self, data: bytes, device: str, fp16: bool) -> None:
        import onnx
        import torch
        from onnx import numpy_helper

        model = onnx.load_from_string(data)
        g = model.graph
        unknown = sorted({n.op_type for n in g.node} - SUPPORTED)
        if unknown:
            raise ModelFormatError(f"the torch runtime does not run ONNX operators {unknown}")
        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.consts: dict[str, Any] = {}
        for t in g.initializer:
            arr = numpy_helper.to_array(t)
            ten = torch.from_numpy(arr.copy()).to(self.device)
            if ten.is_floating_point():
                ten = ten.to(self.dtype)
            self.consts[t.name] = ten
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in g.node]
        self.inputs = [i.name for i in g.input if i.name not in self.consts]
        self.outputs = [o.name for o in g.output]

    def __call__(self, feeds: dict[str, Any], stop: Callable[[], bool]) -> Any:
        env: dict[str, Any] = dict(self.consts)
        env.update(feeds)
        for op, ins, outs, at in self.nodes:
            if stop():
                raise Cancelled("cancelled inside a tile")
            args = [env[i] if i else None for i in ins]
            if op in _ON_DEVICE:  # shape arithmetic stays on the CPU; image ops run where the weights are
                args = [x.to(self.device) if isinstance(x, self.torch.Tensor) else x for x in args]
            res = self._op(op, args, at)
            if isinstance(res, (list, tuple)):
                for name, r in zip(outs, res, strict=False):
                    env[name] = r
            else:
                env[outs[0]] = res
        return env[self.outputs[0]]

    def _op(self, op: str, a: list[Any], at: dict[str, Any]) -> Any:
        torch = self.torch
        F = torch.nn.functional
        if op == "Conv":
            w, b = a[1], a[2] if len(a) > 2 else None
            kh, kw = w.shape[2], w.shape[3]
            dil = at.get("dilations", [1, 1])
            stride = at.get("strides", [1, 1])
            group = at.get("group", 1)
            x = a[0]
            if at.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", b"SAME_LOWER"):
                ph, pw = dil[0] * (kh - 1), dil[1] * (kw - 1)
                if stride != [1, 1]:
                    raise ModelFormatError("strided SAME convolutions are not supported by the torch runtime")
                up = at["auto_pad"] == b"SAME_UPPER"
                top, left = (ph // 2, pw // 2) if up else ((ph + 1) // 2, (pw + 1) // 2)
                x = F.pad(x, (left, pw - left, top, ph - top))
                pads = [0, 0]
            else:
                p = at.get("pads", [0, 0, 0, 0])
                if p[0] != p[2] or p[1] != p[3]:
                    x = F.pad(x, (p[1], p[3], p[0], p[2]))
                    pads = [0, 0]
                else:
                    pads = [p[0], p[1]]
            return F.conv2d(x, w, b, stride=stride, padding=pads, dilation=dil, groups=group)
        if op == "Add":
            return a[0] + a[1]
        if op == "Sub":
            return a[0] - a[1]
        if op == "Mul":
            return a[0] * a[1]
        if op == "Div":
            return a[0] / a[1]
        if op == "Sigmoid":
            return torch.sigmoid(a[0])
        if op == "Relu":
            return torch.relu(a[0])
        if op == "LeakyRelu":
            return F.leaky_relu(a[0], at.get("alpha", 0.01))
        if op == "PRelu":
            return torch.where(a[0] >= 0, a[0], a[0] * a[1])
        if op == "Clip":
            lo = a[1] if len(a) > 1 and a[1] is not None else None
            hi = a[2] if len(a) > 2 and a[2] is not None else None
            return torch.clamp(a[0], lo, hi)
        if op == "Identity":
            return a[0]
        if op == "Concat":
            return torch.cat(a, dim=at["axis"])
        if op == "Split":
            axis = at.get("axis", 0)
            sizes = a[1].tolist() if len(a) > 1 and a[1] is not None else at.get("split")
            if sizes is None:
                n = at["num_outputs"]
                return torch.chunk(a[0], n, dim=axis)
            return torch.split(a[0], [int(s) for s in sizes], dim=axis)
        if op == "DepthToSpace":
            if at.get("mode", b"DCR") == b"CRD":
                return F.pixel_shuffle(a[0], at["blocksize"])
            n, c, h, w = a[0].shape
            bs = at["blocksize"]
            x = a[0].reshape(n, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
            return x.reshape(n, c // (bs * bs), h * bs, w * bs)
        if op == "Transpose":
            return a[0].permute(*at["perm"])
        if op == "Shape":
            return torch.tensor(list(a[0].shape), dtype=torch.int64)
        if op == "Gather":
            return torch.index_select(a[0].cpu(), at.get("axis", 0), a[1].cpu().reshape(-1)).reshape(
                a[1].shape
            )
        if op == "Slice":
            x = a[0].cpu()
            starts, ends = a[1].tolist(), a[2].tolist()
            axes = a[3].tolist() if len(a) > 3 and a[3] is not None else list(range(len(starts)))
            idx = [slice(None)] * x.dim()
            for s, e, ax in zip(starts, ends, axes, strict=True):
                idx[ax] = slice(s, min(e, x.shape[ax]))
            return x[tuple(idx)]
        if op == "Cast":
            return a[0].cpu().to(torch.float32 if at["to"] == 1 else torch.int64)
        if op == "Unsqueeze":
            axes = a[1].tolist() if len(a) > 1 else at["axes"]
            x = a[0]
            for ax in sorted(axes):
                x = x.unsqueeze(ax)
            return x
        if op == "Constant":
            from onnx import numpy_helper

            return torch.from_numpy(numpy_helper.to_array(at["value"]).copy())
        if op == "Resize":
            if at.get("mode", b"nearest") != b"nearest":
                raise ModelFormatError("the torch runtime runs nearest Resize only")
            x = a[0]
            sizes = a[3] if len(a) > 3 and a[3] is not None else None
            if sizes is not None and sizes.numel():
                out = [int(v) for v in sizes.tolist()[2:]]
                return F.interpolate(x, size=out, mode="nearest")
            scales = [float(v) for v in a[2].tolist()[2:]]
            return F.interpolate(x, scale_factor=scales, mode="nearest")
        raise ModelFormatError(f"the torch runtime does not run ONNX operator {op}")


class TorchRuntime:
    """Runs a model's ONNX graph with PyTorch (CUDA when present); same interface as OrtRuntime."""

    name = "torch"

    def __init__(self, card: ModelCard, device: str | None = None, fp16: bool = False) -> None:
        import torch

        self.card = card
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        t0 = time.perf_counter()
        self.graph = TorchGraph(read_verified(card), dev, fp16)
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.fp16 = fp16
        name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
        self.provider = f"torch-{dev.split(':')[0]}{'-fp16' if fp16 else ''} ({name})"
        self.version = f"torch {torch.__version__}"
        self._stop = threading.Event()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One tile or a batch of same-shape tiles (N x ...): float32 numpy in, float32 numpy out."""
        torch = self.graph.torch
        self._stop.clear()
        with torch.inference_mode():
            tf = {}
            for k, v in feeds.items():
                t = torch.from_numpy(np.ascontiguousarray(v)).to(self.graph.device, non_blocking=True)
                tf[k] = t.to(self.graph.dtype) if t.is_floating_point() else t
            y = self.graph(tf, self._stop.is_set)
            return np.asarray(y.float().cpu().numpy())

    def device_for_pass(self) -> Any:
        """The whole pass stays on the GPU (``device_pass.py``); on the CPU the host loop runs."""
        from ..device_pass import cpu_pass_allowed

        return self.graph.device if self.graph.device.type == "cuda" or cpu_pass_allowed() else None

    def run_device(self, x: Any, extras: dict[str, np.ndarray]) -> Any:
        """A batch already on the device, float32 in and out (half precision inside with fp16)."""
        torch = self.graph.torch
        self._stop.clear()
        with torch.inference_mode():
            feeds = {self.card.input_name: x.to(self.graph.dtype)}
            for k, v in extras.items():
                t = torch.from_numpy(np.ascontiguousarray(v)).to(self.graph.device)
                feeds[k] = t.to(self.graph.dtype) if t.is_floating_point() else t
            return self.graph(feeds, self._stop.is_set).float()

    def terminate(self) -> None:
        self._stop.set()
