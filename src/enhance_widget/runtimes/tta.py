"""Test-time augmentation: run a model on the 8 flips/rotations of a tile and average.

A wrapper around any :class:`~enhance_widget.runtimes.Runtime`, so the engine needs no branch
for it; the "best" quality mode of a task may turn it on (8x the time).
"""

from __future__ import annotations

import numpy as np

from ..catalog import ModelCard
from . import Runtime


class TtaRuntime:
    """Averages the model's output over the dihedral group D4 (4 rotations x optional flip)."""

    def __init__(self, inner: Runtime, card: ModelCard) -> None:
        self.inner = inner
        self.card = card
        self.provider = inner.provider
        self.name = getattr(inner, "name", "onnxruntime")
        self.version = getattr(inner, "version", "")
        self._axes = (1, 2) if card.layout == "NHWC" else (2, 3)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        name = self.card.input_name
        x = feeds[name]
        total: np.ndarray | None = None
        w_ax = self._axes[1]
        for flip in (False, True):
            xf = np.flip(x, axis=w_ax) if flip else x
            for k in range(4):
                xt = np.ascontiguousarray(np.rot90(xf, k, axes=self._axes))
                y = self.inner.run({**feeds, name: xt})
                y = np.rot90(y, -k, axes=self._axes)
                if flip:
                    y = np.flip(y, axis=w_ax)
                total = y.astype(np.float32) if total is None else total + y
        assert total is not None
        out: np.ndarray = total / np.float32(8.0)
        return out

    def terminate(self) -> None:
        self.inner.terminate()
