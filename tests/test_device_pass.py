"""The device pass (``device_pass.py``) against the host loop, run on the CPU through torch tensors.

``ENHANCE_WIDGET_DEVICE_PASS=cpu`` sends a pass through the same code a GPU runs (tiles cut,
padded, batched and blended as torch tensors; onnxruntime fed by IO binding), so these tests check
its arithmetic without a GPU. Skipped where PyTorch is not installed (it is optional).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from enhance_widget import device_pass, engine, enhance
from enhance_widget.errors import Cancelled
from enhance_widget.progress import CancelToken, TileEvent

torch = pytest.importorskip("torch")


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    big = np.kron(base, np.ones((4, 4, 1), dtype=np.float32))[:h, :w]
    return np.clip(big + rng.normal(0, 6, size=big.shape), 0, 255).astype(np.uint8)


def _run(
    monkeypatch: pytest.MonkeyPatch, mode: str, img: np.ndarray, **kw: object
) -> tuple[np.ndarray, list[TileEvent]]:
    """One enhance() call; checks that the pass ran where ``mode`` says (host loop or device pass)."""
    monkeypatch.setenv("ENHANCE_WIDGET_DEVICE_PASS", mode)
    calls: list[int] = []
    real = engine.run_pass_on_device

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "run_pass_on_device", spy)
    events: list[TileEvent] = []
    res = enhance(img, progress=events.append, **kw)  # type: ignore[arg-type]
    assert len(calls) == (0 if mode == "0" else 1)
    out = np.ascontiguousarray(res.array)
    # the digest computed band by band on the way to the host is the digest of the whole array
    assert res.record["output"]["pixels_sha256"] == hashlib.sha256(out.tobytes()).hexdigest()
    return out, events


@pytest.mark.parametrize("model", ["span-x4", "esrgan-slim-x4"])  # NCHW and NHWC graphs
def test_device_pass_matches_host_loop(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setattr(device_pass, "BAND_BYTES", 600 * 3 * 7)  # bands of 7 rows: the last one short
    img = _photo(150, 97)
    host, host_ev = _run(monkeypatch, "0", img, model=model, tile=48, overlap=8)
    dev, dev_ev = _run(monkeypatch, "cpu", img, model=model, tile=48, overlap=8)
    assert dev.shape == host.shape == (97 * 4, 150 * 4, 3)
    assert dev.dtype == np.uint8
    diff = np.abs(dev.astype(int) - host.astype(int))
    # same model calls; only the order of the additions where four tiles overlap may differ by an ulp
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3
    assert [e.index for e in dev_ev] == [e.index for e in host_ev]
    assert len(dev_ev) > 4
    for a, b in zip(host_ev, dev_ev, strict=True):
        assert a.core_box == b.core_box
        assert b.pixels.shape == a.pixels.shape
        np.testing.assert_allclose(b.pixels, a.pixels, atol=1e-6)


def test_batched_tiles_with_extra_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same-shape tiles go to the model three at a time; FFDNet's sigma input is repeated per tile."""
    img = _photo(130, 90, seed=3)
    host, _ = _run(monkeypatch, "0", img, task="restore", tile=40, overlap=8, controls={"strength": 30})
    monkeypatch.setenv("ENHANCE_WIDGET_GPU_BATCH", "3")
    dev, ev = _run(monkeypatch, "cpu", img, task="restore", tile=40, overlap=8, controls={"strength": 30})
    assert len(ev) >= 9
    diff = np.abs(dev.astype(int) - host.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3


def test_grey_and_alpha_inputs_take_the_float_route(monkeypatch: pytest.MonkeyPatch) -> None:
    grey = _photo(70, 50, seed=5)[..., 0]
    host, _ = _run(monkeypatch, "0", grey, scale=2, tile=32, overlap=8)
    dev, _ = _run(monkeypatch, "cpu", grey, scale=2, tile=32, overlap=8)
    assert dev.shape == host.shape == (100, 140)
    assert np.abs(dev.astype(int) - host.astype(int)).max() <= 1
    rgba = np.dstack([_photo(70, 50, seed=6), np.full((50, 70), 200, np.uint8)])
    host, _ = _run(monkeypatch, "0", rgba, scale=2, tile=32, overlap=8)
    dev, _ = _run(monkeypatch, "cpu", rgba, scale=2, tile=32, overlap=8)
    assert dev.shape == host.shape == (100, 140, 4)
    assert np.abs(dev.astype(int) - host.astype(int)).max() <= 1


def test_torch_runtime_on_the_device_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx")
    img = _photo(90, 70, seed=7)
    host, _ = _run(monkeypatch, "0", img, scale=4, tile=40, overlap=8)
    monkeypatch.setenv("ENHANCE_WIDGET_RUNTIME", "torch")
    dev, ev = _run(monkeypatch, "cpu", img, scale=4, tile=40, overlap=8)
    assert ev[0].provider.startswith(("torch-cpu", "torch-cuda"))  # this machine's device
    assert np.abs(dev.astype(int) - host.astype(int)).max() <= 2


def test_cancel_mid_pass_then_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENHANCE_WIDGET_DEVICE_PASS", "cpu")
    img = _photo(120, 90, seed=8)
    token = CancelToken()
    seen: list[int] = []

    def on_tile(ev: TileEvent) -> None:
        seen.append(ev.index)
        token.cancel()

    with pytest.raises(Cancelled, match="cancelled before tile 2 of"):
        enhance(img, scale=2, tile=32, overlap=8, progress=on_tile, cancel=token)
    assert seen == [0]
    again = enhance(img, scale=2, tile=32, overlap=8)
    assert np.asarray(again.array).shape == (180, 240, 3)
