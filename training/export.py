"""Export a torch image network to ONNX (opset 17, dynamic N/H/W) and check it against onnxruntime.

The legacy TorchScript exporter (``dynamo=False``) is used: it gives plain standard ops that the
browser engine (onnxruntime-web, WASM) runs, and the same bytes from the same weights and versions.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17


def export(
    model: nn.Module,
    out: Path,
    probe_hw: tuple[int, int] = (64, 96),
    input_name: str = "input",
    output_name: str = "output",
    channels: int = 3,
    axis_names: tuple[str, str, str] = ("n", "h", "w"),
) -> dict[str, object]:
    """Write ``out`` and return its sha256, size and the largest torch-vs-onnxruntime difference.

    ``channels`` and ``axis_names`` (the dynamic N/H/W dimensions' names, stored in the file) let a
    recipe keep its own; the colorizer's are 1 and ("N", "H", "W")."""
    import onnx
    import onnxruntime as ort

    model = model.eval().cpu()
    torch.manual_seed(0)
    x = torch.rand(1, channels, *probe_hw)
    out.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: axis_names[0], 2: axis_names[1], 3: axis_names[2]}
    torch.onnx.export(
        model,
        (x,),
        str(out),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: axes, output_name: axes},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(out)))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    diffs = []
    for hw in (probe_hw, (48, 48)):
        xi = torch.rand(1, channels, *hw)
        with torch.no_grad():
            ref = model(xi).numpy()
        got = sess.run(None, {input_name: xi.numpy()})[0]
        diffs.append(float(np.abs(ref - got).max()))
    data = out.read_bytes()
    return {
        "file": str(out),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "max_abs_diff_torch_vs_ort": max(diffs),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
