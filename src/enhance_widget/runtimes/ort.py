"""onnxruntime runtime: verified loading, graph checks, one session per model, cancel in a tile."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..catalog import ModelCard, read_verified
from ..errors import Cancelled, ModelFormatError
from . import Runtime

T = TypeVar("T")

_FLOAT_TYPES = {"tensor(float)"}


@dataclass(frozen=True)
class RuntimeOptions:
    """Thread settings and provider preference (``None`` = onnxruntime's defaults)."""

    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    providers: tuple[str, ...] | None = None
    deterministic: bool = True
    spinning: bool = False
    """onnxruntime's ``session.intra_op.allow_spinning`` (its own default: on). Off here: on a busy
    machine spinning workers burn the cores the other threads need (esrgan-slim x4, 9 tiles of 128 px,
    2 cores at load 4-5: 15-20 % less CPU, same or lower wall time; benchmarks/README.md);
    ``ENHANCE_WIDGET_SPIN=1`` turns it back on."""
    engine: str = "onnxruntime"
    """``onnxruntime`` (default), ``torch`` or ``torch-fp16`` (PyTorch runs the same ONNX graph:
    for GPUs that have PyTorch but no onnxruntime-gpu; see ``runtimes/torch_rt.py``)."""

    @classmethod
    def from_env(cls) -> RuntimeOptions:
        threads = os.environ.get("ENHANCE_WIDGET_THREADS")
        engine = os.environ.get("ENHANCE_WIDGET_RUNTIME", "onnxruntime")
        # e.g. "TensorrtExecutionProvider,CUDAExecutionProvider" (TensorRT is only used when named)
        named = os.environ.get("ENHANCE_WIDGET_PROVIDERS")
        providers = tuple(p.strip() for p in named.split(",") if p.strip()) if named else None
        spin = os.environ.get("ENHANCE_WIDGET_SPIN")
        return cls(
            intra_op_threads=int(threads) if threads else None,
            engine=engine,
            providers=providers,
            spinning=spin is not None and spin not in ("", "0", "false", "no"),
        )


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _choose_providers(wanted: tuple[str, ...] | None) -> list[str]:
    have = available_providers()
    if wanted:
        chosen = [p for p in wanted if p in have]
    else:
        preferred = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider")
        chosen = [p for p in preferred if p in have]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def planned_provider(options: RuntimeOptions | None = None) -> str:
    """The execution provider a new session would run on (before any model is loaded)."""
    opts = options or RuntimeOptions.from_env()
    return _choose_providers(opts.providers)[0]


def check_graph(card: ModelCard, inputs: list[Any], outputs: list[Any]) -> None:
    """The ONNX graph must match its card: names, rank 4 float tensors, extra inputs present."""
    by_name = {i.name: i for i in inputs}
    main = by_name.get(card.input_name)
    if main is None:
        raise ModelFormatError(
            f"model {card.id!r}: the card names input {card.input_name!r} but the graph has {sorted(by_name)}"
        )
    if len(main.shape) != 4 or main.type not in _FLOAT_TYPES:
        raise ModelFormatError(
            f"model {card.id!r}: input {main.name!r} is {main.type} of rank {len(main.shape)}; "
            "an image model needs a rank-4 float32 tensor (NHWC or NCHW)"
        )
    channel_dim = main.shape[3] if card.layout == "NHWC" else main.shape[1]
    if isinstance(channel_dim, int) and channel_dim not in (1, 3):
        raise ModelFormatError(
            f"model {card.id!r}: input has {channel_dim} channels in the {card.layout} channel "
            "position; check the card's layout"
        )
    for extra in card.extra_inputs:
        if extra.name not in by_name:
            raise ModelFormatError(f"model {card.id!r}: extra input {extra.name!r} is not in the graph")
    expected = {card.input_name, *(e.name for e in card.extra_inputs)}
    unknown = set(by_name) - expected
    if unknown:
        raise ModelFormatError(
            f"model {card.id!r}: graph inputs {sorted(unknown)} are not described by its card"
        )
    if not outputs or len(outputs[0].shape) != 4 or outputs[0].type not in _FLOAT_TYPES:
        raise ModelFormatError(f"model {card.id!r}: the first output must be a rank-4 float32 tensor")


class OrtRuntime:
    """An onnxruntime session for one model; sessions are cached and reused across runs."""

    name = "onnxruntime"

    def __init__(self, card: ModelCard, options: RuntimeOptions | None = None) -> None:
        import onnxruntime as ort

        self.card = card
        self.options = options or RuntimeOptions.from_env()
        data = read_verified(card)  # sha256 checked before onnxruntime sees a byte
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if self.options.intra_op_threads:
            so.intra_op_num_threads = self.options.intra_op_threads
        if self.options.inter_op_threads:
            so.inter_op_num_threads = self.options.inter_op_threads
        if self.options.deterministic:
            so.use_deterministic_compute = True
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.options.spinning else "0")
        providers = _choose_providers(self.options.providers)
        if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
            try:  # CUDA and cuDNN from the nvidia-* wheels (pip install "onnxruntime-gpu[cuda,cudnn]")
                ort.preload_dlls()
            except Exception:  # the session then says what it could not load
                pass
        t0 = time.perf_counter()
        try:
            self.session = ort.InferenceSession(data, so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelFormatError(f"model {card.id!r} is not a valid ONNX model: {exc}") from exc
        self.load_ms = (time.perf_counter() - t0) * 1000
        check_graph(card, self.session.get_inputs(), self.session.get_outputs())
        self.provider = self.session.get_providers()[0]
        problem = gpu_setup_problem() if self.provider == "CPUExecutionProvider" else None
        if problem:
            warnings.warn(f"enhance-widget runs on the CPU: {problem}", RuntimeWarning, stacklevel=2)
        self.output_name = card.output_name or self.session.get_outputs()[0].name
        out = next(o for o in self.session.get_outputs() if o.name == self.output_name)
        channels = out.shape[3] if card.layout == "NHWC" else out.shape[1]
        self._out_channels = channels if isinstance(channels, int) else 3
        self._lock = threading.Lock()
        self._active: Any = None
        self.version = ort.__version__

    def _cancellable(self, call: Callable[[Any], T]) -> T:
        """``call(run_options)``, which ``terminate`` (another thread) stops: then ``Cancelled``."""
        import onnxruntime as ort

        opts = ort.RunOptions()
        with self._lock:
            self._active = opts
        try:
            return call(opts)
        except Exception as exc:
            if opts.terminate:
                raise Cancelled("cancelled inside a tile") from exc
            raise
        finally:
            with self._lock:
                self._active = None

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        out = self._cancellable(lambda opts: self.session.run([self.output_name], feeds, opts)[0])
        return np.asarray(out)

    def device_for_pass(self) -> Any:
        """On the CUDA provider with PyTorch present, a pass can stay on the GPU (IO binding)."""
        return torch_device_for(self.provider)

    def run_device(self, x: Any, extras: dict[str, np.ndarray]) -> Any:
        """A batch in a torch tensor on the device; onnxruntime reads it and writes its output in place."""
        import torch

        s, dev = self.card.scale, x.device
        n = x.shape[0]
        shape = (n, self._out_channels, x.shape[2] * s, x.shape[3] * s)
        if self.card.layout == "NHWC":
            shape = (n, x.shape[1] * s, x.shape[2] * s, self._out_channels)
        y = torch.empty(shape, dtype=torch.float32, device=dev)
        kind, index = ("cuda", dev.index or 0) if dev.type == "cuda" else ("cpu", 0)
        io = self.session.io_binding()
        io.bind_input(self.card.input_name, kind, index, np.float32, tuple(x.shape), x.data_ptr())
        for name, value in extras.items():
            io.bind_cpu_input(name, value)
        io.bind_output(self.output_name, kind, index, np.float32, shape, y.data_ptr())
        if dev.type == "cuda":
            torch.cuda.current_stream(dev).synchronize()  # torch's kernels that made x have finished
        self._cancellable(lambda opts: self.session.run_with_iobinding(io, opts))
        return y

    def terminate(self) -> None:
        with self._lock:
            if self._active is not None:
                self._active.terminate = True


def torch_device_for(provider: str) -> Any:
    """The torch device a pass on ``provider`` can keep its tensors on, or ``None``.

    On the CPU only when the tests ask for it (``device_pass.cpu_pass_allowed``).
    """
    from ..device_pass import cpu_pass_allowed

    if provider != "CUDAExecutionProvider" and not cpu_pass_allowed():
        return None
    try:
        import torch
    except ImportError:
        return None
    if provider == "CUDAExecutionProvider":
        return torch.device("cuda", 0) if torch.cuda.is_available() else None
    return torch.device("cpu")


_CacheKey = tuple[str | None, str, int, int, RuntimeOptions]
_cache: dict[_CacheKey, OrtRuntime] = {}
_cache_lock = threading.Lock()


def get_runtime(card: ModelCard, options: RuntimeOptions | None = None) -> OrtRuntime:
    """One session per (model, file state, options): a file changed on disk is verified again."""
    options = options or RuntimeOptions.from_env()
    st = card.path.stat() if card.path is not None and card.path.is_file() else None
    key = (card.sha256, str(card.path), st.st_mtime_ns if st else 0, st.st_size if st else 0, options)
    with _cache_lock:
        rt = _cache.get(key)
    if rt is None:
        rt = OrtRuntime(card, options)
        with _cache_lock:
            _cache[key] = rt
    return rt


_torch_cache: dict[_CacheKey, Runtime] = {}


def load_runtime(card: ModelCard, options: RuntimeOptions | None = None) -> Runtime:
    """The runtime ``options.engine`` names: an onnxruntime session (cached), or PyTorch."""
    options = options or RuntimeOptions.from_env()
    if options.engine == "onnxruntime":
        return get_runtime(card, options)
    if options.engine not in ("torch", "torch-fp16"):
        raise ValueError(f"unknown runtime {options.engine!r}; use onnxruntime, torch or torch-fp16")
    from .torch_rt import TorchRuntime

    key = (card.sha256, str(card.path), 0, 0, options)
    with _cache_lock:
        rt = _torch_cache.get(key)
    if rt is None:
        rt = TorchRuntime(card, fp16=options.engine == "torch-fp16")
        with _cache_lock:
            _torch_cache[key] = rt
    return rt


def installed_onnxruntime_dists() -> list[str]:
    """Which onnxruntime distributions are installed (they share one import name and clash)."""
    from importlib import metadata

    found = []
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def gpu_setup_problem() -> str | None:
    """A sentence saying why CUDA is not used although onnxruntime-gpu is installed, or None."""
    dists = installed_onnxruntime_dists()
    if "onnxruntime-gpu" not in dists:
        return None
    if "onnxruntime" in dists:
        return (
            "both onnxruntime and onnxruntime-gpu are installed and overwrite each other's files; run "
            "'pip uninstall -y onnxruntime onnxruntime-gpu' then 'pip install onnxruntime-gpu'"
        )
    if "CUDAExecutionProvider" not in available_providers():
        return (
            "onnxruntime-gpu is installed but its CUDA provider did not load (CUDA 12/13 and cuDNN 9 needed)"
        )
    return None


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _torch_cache.clear()
