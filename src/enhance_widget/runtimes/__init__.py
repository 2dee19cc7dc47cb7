"""Runtimes turn one input tensor into one output tensor; the engine knows nothing else of them."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runtime(Protocol):
    """One loaded model."""

    provider: str
    """The execution provider that actually runs (e.g. ``CPUExecutionProvider``)."""

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...

    def terminate(self) -> None:
        """Stop the model call in progress (called from another thread)."""
        ...
