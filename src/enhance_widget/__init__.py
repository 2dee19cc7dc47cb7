"""enhance-widget: local AI photo enhancement (super-resolution, restore, deblur, colorize).

The pure-Python parts (errors, catalog, planning) import anywhere, including Pyodide; the
numpy/onnxruntime parts load on first use.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    Cancelled,
    ControlValueError,
    EnhanceError,
    ImageDecodeError,
    ImageTooLargeError,
    MemoryBudgetError,
    ModelFormatError,
    ModelIntegrityError,
    ModelNotFoundError,
    UnsupportedImageError,
)
from .progress import CancelToken, TileEvent

__version__ = "0.1.0"

_LAZY = {
    "enhance": ".api",
    "list_models": ".api",
    "register_model": ".api",
    "plan_for": ".api",
    "Result": ".result",
    "read_record": ".result",
    "replay": ".replay",
    "replay_matches": ".replay",
    "ModelCard": ".catalog",
    "EnhanceWidget": ".widget",
    "enhance_many": ".batch",
    "BatchResult": ".batch",
    "enhance_dask": ".dask_array",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'enhance_widget' has no attribute {name!r}")


__all__ = [
    "BatchResult",
    "CancelToken",
    "Cancelled",
    "ControlValueError",
    "EnhanceError",
    "EnhanceWidget",
    "ImageDecodeError",
    "ImageTooLargeError",
    "MemoryBudgetError",
    "ModelFormatError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Result",
    "TileEvent",
    "UnsupportedImageError",
    "__version__",
    "enhance",
    "enhance_dask",
    "enhance_many",
    "list_models",
    "plan_for",
    "read_record",
    "register_model",
    "replay",
    "replay_matches",
]
