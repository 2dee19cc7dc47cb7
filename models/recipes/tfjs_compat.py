"""What tensorflowjs needs to load UpscalerJS' Keras models: stand-ins for its unused imports and
Keras versions of UpscalerJS' custom layers."""

from __future__ import annotations

import sys
import types
from typing import Any


def install_import_stubs() -> None:
    """Satisfy tensorflowjs' import-time imports that layers-model loading never uses.

    tensorflowjs 4.17 imports ``tensorflow_decision_forests``, ``tensorflow_hub`` and
    ``jax.experimental.jax2tf`` at import; installing them would pull other TensorFlow/numpy
    versions, so empty modules stand in.
    """
    for name in (
        "tensorflow_decision_forests",
        "tensorflow_hub",
        "jax",
        "jax.experimental",
        "jax.experimental.jax2tf",
    ):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["jax"].experimental = sys.modules["jax.experimental"]  # type: ignore[attr-defined]
    sys.modules["jax.experimental"].jax2tf = sys.modules["jax.experimental.jax2tf"]  # type: ignore[attr-defined]


def custom_layers() -> dict[str, type]:
    """Keras versions of UpscalerJS' custom layers (their TF.js versions ignore their config)."""
    import tensorflow as tf

    class MultiplyBeta(tf.keras.layers.Layer):  # type: ignore[misc]
        """Residual scaling of the RRDN: x * beta."""

        def __init__(self, beta: float = 0.2, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.beta = beta

        def call(self, x: tf.Tensor) -> tf.Tensor:
            return x * self.beta

    def pixel_shuffle(scale: int, name: str) -> type:
        class PixelShuffle(tf.keras.layers.Layer):  # type: ignore[misc]
            """Sub-pixel upscaling (depth_to_space) by a fixed factor."""

            def __init__(self, scale: int | None = None, **kwargs: Any) -> None:
                super().__init__(**kwargs)

            def call(self, x: tf.Tensor) -> tf.Tensor:
                return tf.nn.depth_to_space(x, scale)

        PixelShuffle.__name__ = name
        return PixelShuffle

    layers: dict[str, type] = {"MultiplyBeta": MultiplyBeta, "PixelShuffle": pixel_shuffle(4, "PixelShuffle")}
    for s in (2, 3, 4, 8):
        layers[f"PixelShuffle{s}x"] = pixel_shuffle(s, f"PixelShuffle{s}x")
    return layers
