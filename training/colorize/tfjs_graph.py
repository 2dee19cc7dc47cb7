"""Run part of a TensorFlow.js graph model (model.json + .bin shards) as a PyTorch module (frozen, or with
trainable convolutions: ``trainable=True``).

Only the operations of a MobileNetV3-style network are known (convolutions with fused bias and ReLU,
depthwise convolutions, element-wise Add/Mul/Sub, ReLU/ReLU6/Sigmoid, Mean, ConcatV2, 2x ResizeBilinear,
MaxPool); an unknown operation raises ``NotImplementedError`` naming it. The module computes only the
nodes the requested outputs need, in NCHW layout, and exports to ONNX like any other module.

TensorFlow's ``SAME`` padding is reproduced for inputs whose size at every stride-2 layer is even (in
practice: height and width multiples of 32); ``check_shape`` refuses other sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tfjs_weights import attr_list, attr_str, fused_ops, load_weights, same_pad

_ELEMENTWISE = {"Add", "AddV2", "Mul", "Sub"}


def _upsample2x_asymmetric(x: torch.Tensor) -> torch.Tensor:
    """TF ResizeBilinear to twice the size with align_corners=False, half_pixel_centers=False."""
    for dim in (2, 3):
        nxt = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim)
        mid = 0.5 * (x + nxt)
        x = torch.stack([x, mid], dim + 1).flatten(dim, dim + 1)
    return x


_CONV_OPS = ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")


class TfjsGraph(nn.Module):
    """Sub-graph of a tfjs graph model (frozen unless ``trainable``): NCHW float input -> the named nodes' values (NCHW)."""

    def __init__(
        self, model_json: Path, input_name: str, outputs: list[str], trainable: bool = False
    ) -> None:
        """``trainable``: the convolutions' filters and biases become parameters (fine-tuning), the
        other constants stay buffers; otherwise everything is a non-persistent buffer (frozen)."""
        super().__init__()
        spec = json.loads(Path(model_json).read_text())
        nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
        weights = load_weights(Path(model_json))
        self.input_name = input_name
        self.outputs = list(outputs)
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for i in nodes[name].get("input", []):
                if not i.startswith("^"):
                    visit(i.split(":")[0])
            order.append(name)

        for o in self.outputs:
            visit(o)
        self.nodes = [nodes[n] for n in order]
        conv_params = {
            i.split(":")[0] for n in self.nodes if n["op"] in _CONV_OPS for i in n.get("input", [])[1:3]
        }
        self._const: dict[str, str] = {}  # node name -> buffer or parameter name
        for n in self.nodes:
            if n["op"] == "Const":
                arr = weights[n["name"]]
                buf = f"c{len(self._const)}"
                self._const[n["name"]] = buf
                value = torch.from_numpy(self._to_torch_layout(n["name"], arr))
                if trainable and n["name"] in conv_params and value.is_floating_point():
                    self.register_parameter(buf, nn.Parameter(value.float()))
                else:
                    self.register_buffer(buf, value, persistent=False)

    def _to_torch_layout(self, name: str, arr: np.ndarray) -> np.ndarray:
        """Convolution filters HWIO/HWIM -> OIHW; other constants as they are."""
        users = [n for n in self.nodes if name in n.get("input", [])[1:2]]
        if arr.ndim == 4 and users:
            op = users[0]["op"]
            if op in ("Conv2D", "_FusedConv2D"):
                return np.ascontiguousarray(arr.transpose(3, 2, 0, 1))
            if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
                kh, kw, cin, mult = arr.shape
                return np.ascontiguousarray(arr.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw))
        return np.ascontiguousarray(arr)

    @staticmethod
    def check_shape(h: int, w: int) -> None:
        if h % 32 or w % 32:
            raise ValueError(f"tfjs backbone input must be a multiple of 32 on each side, got {h}x{w}")

    def _conv(self, node: dict[str, Any], x: torch.Tensor, w: torch.Tensor, depthwise: bool) -> torch.Tensor:
        if attr_str(node, "data_format") not in ("", "NHWC"):
            raise NotImplementedError(f"data_format {attr_str(node, 'data_format')} in {node['name']}")
        stride = attr_list(node, "strides")[1] if attr_list(node, "strides") else 1
        dil = attr_list(node, "dilations")[1] if attr_list(node, "dilations") else 1
        kh, kw = w.shape[2], w.shape[3]
        if attr_str(node, "padding") == "SAME":
            t, b = same_pad(kh, stride, dil)
            left, r = same_pad(kw, stride, dil)
            x = F.pad(x, (left, r, t, b))
        elif attr_str(node, "padding") != "VALID":
            raise NotImplementedError(f"padding {attr_str(node, 'padding')} in {node['name']}")
        groups = x.shape[1] if depthwise else 1
        return F.conv2d(x, w, None, stride, 0, dil, groups)

    def _value(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        name = name.split(":")[0]
        if name in self._const:
            return getattr(self, self._const[name])  # type: ignore[no-any-return]
        return env[name]

    @staticmethod
    def _bcast(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """A per-channel (C,) constant broadcast against an NCHW tensor."""
        if t.dim() == 1 and ref.dim() == 4 and t.shape[0] > 1:
            return t.reshape(1, -1, 1, 1)
        return t

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        env: dict[str, torch.Tensor] = {}
        for n in self.nodes:
            op, name = n["op"], n["name"]
            ins = [i for i in n.get("input", []) if not i.startswith("^")]
            if op == "Const":
                continue
            if op == "Placeholder":
                env[name] = x
            elif op == "Identity":
                env[name] = self._value(env, ins[0])
            elif op in _CONV_OPS:
                y = self._conv(n, self._value(env, ins[0]), self._value(env, ins[1]), "Depthwise" in op)
                for f in fused_ops(n):
                    if f == "BiasAdd":
                        y = y + self._value(env, ins[2]).reshape(1, -1, 1, 1)
                    elif f == "Relu":
                        y = F.relu(y)
                    elif f == "Relu6":
                        y = F.relu6(y)
                    else:
                        raise NotImplementedError(f"fused op {f} in {name}")
                env[name] = y
            elif op in _ELEMENTWISE:
                a, b = self._value(env, ins[0]), self._value(env, ins[1])
                a, b = self._bcast(a, b), self._bcast(b, a)
                env[name] = a + b if op in ("Add", "AddV2") else a * b if op == "Mul" else a - b
            elif op == "Relu":
                env[name] = F.relu(self._value(env, ins[0]))
            elif op == "Relu6":
                env[name] = F.relu6(self._value(env, ins[0]))
            elif op == "Sigmoid":
                env[name] = torch.sigmoid(self._value(env, ins[0]))
            elif op == "Mean":
                axes = [int(a) for a in self._value(env, ins[1]).reshape(-1).tolist()]
                if sorted(axes) != [1, 2]:
                    raise NotImplementedError(f"Mean over NHWC axes {axes} in {name}")
                keep = bool(n.get("attr", {}).get("keep_dims", {}).get("b", False))
                env[name] = self._value(env, ins[0]).mean(dim=(2, 3), keepdim=keep)
            elif op == "ConcatV2":
                axis = int(self._value(env, ins[-1]).reshape(-1)[0].item())
                if axis not in (3, -1):
                    raise NotImplementedError(f"ConcatV2 on NHWC axis {axis} in {name}")
                env[name] = torch.cat([self._value(env, i) for i in ins[:-1]], 1)
            elif op == "ResizeBilinear":
                attrs = n.get("attr", {})
                if attrs.get("align_corners", {}).get("b") or attrs.get("half_pixel_centers", {}).get("b"):
                    raise NotImplementedError(f"ResizeBilinear mode in {name}")
                env[name] = _upsample2x_asymmetric(self._value(env, ins[0]))
            elif op == "MaxPool":
                k, s = attr_list(n, "ksize")[1], attr_list(n, "strides")[1]
                t, b = same_pad(k, s)
                xp = F.pad(self._value(env, ins[0]), (t, b, t, b), value=float("-inf"))
                env[name] = F.max_pool2d(xp, k, s)
            else:
                raise NotImplementedError(f"tfjs op {op} ({name})")
        return [env[o] for o in self.outputs]
