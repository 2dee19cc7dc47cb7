"""The numerical check of a converted model: ncnn itself (float32) against onnxruntime on a photo.
Used by ncnn_onnx.py when the ``ncnn`` package is importable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ncnn_format import parse_param


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


def ncnn_version() -> str:
    try:
        from importlib.metadata import version

        return version("ncnn")
    except Exception:
        return "?"


def check_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0
