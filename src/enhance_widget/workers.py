"""What runs on a worker process (a local process pool, a Dask worker, any executor).

* Models reach a worker by path (the worker opens the file: a shared filesystem) or as bytes (the
  worker writes them to a private cache folder named by their sha256). Either way the file is
  verified against the card's sha256 on the worker, by :func:`~enhance_widget.catalog.read_verified`,
  before onnxruntime sees a byte; one session per model and options is kept per process
  (:func:`~enhance_widget.runtimes.ort.get_runtime`), so each worker loads a model once.
* Errors come back with their type: :class:`ErrorInfo` carries the class, its args and attributes,
  which also works for errors whose ``__init__`` does not take the message alone.

Pure Python at import time (numpy and onnxruntime load on first use).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .catalog import ModelCard, catalog, read_verified, verify_bytes
from .errors import EnhanceError, ModelNotFoundError

if TYPE_CHECKING:
    from .runtimes import Runtime

Send = Literal["paths", "bytes"]
SENDS: tuple[Send, ...] = ("paths", "bytes")


def check_send(send: Send) -> Send:
    if send not in SENDS:
        raise ValueError(f"send must be 'paths' (workers share this filesystem) or 'bytes', got {send!r}")
    return send


@dataclass(frozen=True)
class ModelRef:
    """The card a worker needs (with the client's path) for the model and each of its passes."""

    card: ModelCard
    passes: tuple[ModelCard, ...]

    @classmethod
    def of(cls, card: ModelCard) -> ModelRef:
        return cls(card, tuple(catalog().resolve_chain(card)))

    def payloads(self, send: Send) -> list[bytes | None]:
        """Bytes of each pass's file (read and verified here) for ``send="bytes"``, else None."""
        if send == "paths":
            return [None for _ in self.passes]
        return [read_verified(c) for c in self.passes]


@dataclass
class ErrorInfo:
    """An exception in a form that survives pickling, rebuilt with its own type."""

    type: type[BaseException]
    args: tuple[Any, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException) -> ErrorInfo:
        attrs = {k: v for k, v in vars(exc).items() if _picklable(v)}
        return cls(type(exc), tuple(a if _picklable(a) else repr(a) for a in exc.args), attrs)

    def rebuild(self) -> BaseException:
        exc = self.type.__new__(self.type, *self.args)
        exc.args = self.args
        exc.__dict__.update(self.attrs)
        return exc

    @property
    def message(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else str(self.args)


def _picklable(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


_lock = threading.Lock()
_installed: dict[tuple[str, str | None], ModelCard] = {}


def _cache_dir() -> Path:
    base = (
        Path(tempfile.gettempdir()) / f"enhance-widget-models-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )
    base.mkdir(mode=0o700, exist_ok=True)
    return base


def _write_blob(card: ModelCard, data: bytes) -> Path:
    """Model bytes into this machine's cache (once per sha256; written atomically)."""
    verify_bytes(card, data)  # sha256 checked here, on the worker
    target = _cache_dir() / f"{card.sha256}.onnx"
    if not target.is_file() or target.stat().st_size != len(data):
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    return target


def _local_path(card: ModelCard) -> Path:
    """The card's file on this machine: the client's path if it is here, else this installation's."""
    if card.path is not None and card.path.is_file():
        return card.path
    try:
        here = catalog().get(card.id)
    except ModelNotFoundError:
        here = None
    if here is not None and here.sha256 == card.sha256 and here.path is not None and here.path.is_file():
        return here.path
    raise ModelNotFoundError(
        f"model {card.id!r} ({card.file}) is not on this worker ({card.path} does not exist here); "
        "send the model bytes instead (send='bytes', CLI --send bytes) or install it on the workers"
    )


def install(ref: ModelRef, blobs: Sequence[bytes | None]) -> list[ModelCard]:
    """On a worker: the pass cards with paths on this machine, added to this process's catalog.

    The files are verified by sha256 when :func:`runtime` loads them (and the bytes of
    ``send="bytes"`` before they are written).
    """
    cards: list[ModelCard] = []
    for card, blob in zip(ref.passes, blobs, strict=True):
        key = (card.sha256 or card.id, None if blob is None else "bytes")
        with _lock:
            done = _installed.get(key)
        if done is None:
            path = _write_blob(card, blob) if blob is not None else _local_path(card)
            done = replace(card, path=path)
            catalog().add(done)
            with _lock:
                _installed[key] = done
        cards.append(done)
    if ref.card.is_chain:
        catalog().add(ref.card)
    return cards


def runtimes(cards: Sequence[ModelCard], threads: int | None, tta: bool) -> list[Runtime]:
    """One cached onnxruntime session per pass (the file's sha256 verified when it is first loaded)."""
    from .runtimes.ort import RuntimeOptions, get_runtime
    from .runtimes.tta import TtaRuntime

    options = RuntimeOptions.from_env() if threads is None else RuntimeOptions(intra_op_threads=threads)
    rts: list[Runtime] = [get_runtime(c, options) for c in cards]
    if tta:
        rts = [TtaRuntime(rt, c) for rt, c in zip(rts, cards, strict=True)]
    return rts


def warm_up(ref: ModelRef, blobs: Sequence[bytes | None], threads: int | None) -> None:
    """Process-pool initializer: install and load the model once, before the first item arrives."""
    try:
        runtimes(install(ref, blobs), threads, tta=False)
    except EnhanceError:
        pass  # each item reports the same error with its type


def local_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


__all__ = ["SENDS", "ErrorInfo", "ModelRef", "Send", "install", "local_workers", "runtimes", "warm_up"]
