"""Every error a user can catch: one base class and one subclass per kind of trouble."""

from __future__ import annotations


class EnhanceError(Exception):
    """Base class of every error raised by enhance-widget."""


class ImageDecodeError(EnhanceError):
    """The image bytes are corrupt, truncated or not an image format Pillow can read."""


class UnsupportedImageError(EnhanceError):
    """The data is an image, but of a shape, dtype or mode the engine cannot process."""


class ImageTooLargeError(EnhanceError):
    """The image has more pixels than the configured limit."""

    def __init__(self, pixels: int, limit: int) -> None:
        self.pixels = pixels
        self.limit = limit
        super().__init__(
            f"image has {pixels:,} pixels, more than the limit of {limit:,}; "
            "raise it with enhance(..., max_pixels=N) or the ENHANCE_WIDGET_MAX_PIXELS "
            "environment variable, or crop/downscale the image first"
        )


class ModelNotFoundError(EnhanceError):
    """No model with that id, or its file is not installed."""


class ModelIntegrityError(EnhanceError):
    """The model file's sha256 does not match the manifest: tampered, truncated or wrong file."""


class ModelFormatError(EnhanceError):
    """The ONNX graph does not match what its card says (rank, dtype, inputs)."""


class MemoryBudgetError(EnhanceError):
    """The plan needs more memory than the budget; ``suggestion`` holds a tile size that fits."""

    def __init__(self, message: str, suggested_tile: int | None = None) -> None:
        self.suggested_tile = suggested_tile
        super().__init__(message)


class Cancelled(EnhanceError):
    """The run was cancelled; no partial result is kept."""


class ControlValueError(EnhanceError, ValueError):
    """A model control (e.g. restore's strength) set to an unknown name or outside its range."""
