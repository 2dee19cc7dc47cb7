"""The optional PyTorch runtime (issue 23: GPUs without onnxruntime-gpu) against onnxruntime, on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from enhance_widget import enhance
from enhance_widget.catalog import catalog
from enhance_widget.errors import ModelFormatError
from enhance_widget.runtimes.ort import RuntimeOptions, get_runtime, gpu_setup_problem, load_runtime

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.mark.parametrize("model", ["span-x4", "esrgan-slim-x4", "esrgan-slim-x2"])
def test_torch_runs_the_onnx_graph_like_onnxruntime(model: str, small_rgb: np.ndarray) -> None:
    card = catalog().get(model)
    x = small_rgb[:24, :20].astype(np.float32) / 255 * card.value_range
    x = np.stack([x, x[::-1]])  # a batch of two same-shape tiles in one call
    x = x.transpose(0, 3, 1, 2).copy() if card.layout == "NCHW" else x.copy()
    rt = load_runtime(card, RuntimeOptions(engine="torch"))
    assert rt.name == "torch" and rt.provider.startswith("torch-")  # type: ignore[attr-defined]
    got = rt.run({card.input_name: x})
    ref = np.concatenate([get_runtime(card).run({card.input_name: x[i : i + 1]}) for i in range(2)])
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(got - ref).max() / card.value_range < 2e-3


def test_enhance_with_the_torch_runtime_records_it(
    small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = enhance(small_rgb, scale=2, model="esrgan-slim-x2", tile=24, overlap=8)
    monkeypatch.setenv("ENHANCE_WIDGET_RUNTIME", "torch")
    res = enhance(small_rgb, scale=2, model="esrgan-slim-x2", tile=24, overlap=8)
    assert res.record["runtime"]["name"] == "torch" and res.record["runtime"]["provider"].startswith("torch-")
    assert np.abs(res.array.astype(int) - ref.array.astype(int)).max() <= 1
    monkeypatch.setenv("ENHANCE_WIDGET_RUNTIME", "tensorflow")
    with pytest.raises(ValueError, match="unknown runtime 'tensorflow'"):
        enhance(small_rgb, scale=2, model="esrgan-slim-x2")


def test_unsupported_operator_is_a_model_format_error() -> None:
    import onnx
    from onnx import TensorProto, helper

    from enhance_widget.runtimes.torch_rt import TorchGraph

    node = helper.make_node("Erf", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    data = helper.make_model(graph).SerializeToString()
    assert onnx.load_from_string(data).graph.node[0].op_type == "Erf"
    with pytest.raises(ModelFormatError, match="does not run ONNX operators \\['Erf'\\]"):
        TorchGraph(data, "cpu", fp16=False)


def test_gpu_setup_problem_names_the_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    from enhance_widget.runtimes import ort

    monkeypatch.setattr(ort, "installed_onnxruntime_dists", lambda: ["onnxruntime", "onnxruntime-gpu"])
    msg = gpu_setup_problem()
    assert msg is not None and "pip uninstall -y onnxruntime onnxruntime-gpu" in msg
    monkeypatch.setattr(ort, "installed_onnxruntime_dists", lambda: ["onnxruntime"])
    assert gpu_setup_problem() is None
