"""Where a pass's finished output regions go: a float32 array, or the result array converted as it goes.

Either may be a disk-backed map (a temporary file) when the output is larger than the budget.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .progress import Box

F32 = NDArray[np.float32]


def _output_buffer(shape: tuple[int, ...], on_disk: bool, dtype: np.dtype[Any] | type = np.float32) -> Any:
    if not on_disk:
        return np.zeros(shape, dtype=dtype)
    tmp = tempfile.NamedTemporaryFile(prefix="enhance-widget-", suffix=".out", delete=True)  # noqa: SIM115
    mm = np.memmap(tmp, dtype=dtype, mode="w+", shape=shape)
    mm._enhance_tmp = tmp  # type: ignore[attr-defined]  # keeps the file alive with the map
    return mm


class OutputSink(Protocol):
    """Receives finished output regions of the last pass (clipped to 0..1), each exactly once."""

    def write(self, box: Box, rgb: F32) -> None: ...


class FloatSink:
    """The pass output as one float32 array (in memory, or disk-backed when large)."""

    def __init__(self, shape: tuple[int, int, int], on_disk: bool = False) -> None:
        self.array = _output_buffer(shape, on_disk)

    def write(self, box: Box, rgb: F32) -> None:
        x0, y0, x1, y1 = box
        self.array[y0:y1, x0:x1] = rgb


class ArraySink:
    """Converts each finished region with ``convert(rgb, box)`` into one preallocated array.

    The array (the output's final dtype and channels, e.g. uint8) is made at the first write;
    with ``on_disk`` it is a disk-backed map. No float copy of the whole output ever exists.
    """

    def __init__(
        self,
        size: tuple[int, int],
        convert: Callable[[F32, Box], np.ndarray],
        disk_threshold_bytes: int | None = None,
    ) -> None:
        self.size = size
        self.convert = convert
        self.disk_threshold_bytes = disk_threshold_bytes
        self.array: np.ndarray | None = None
        self.sha256: str | None = None
        self.direct_dtype: np.dtype[Any] | None = None
        """Set when ``convert`` is the plain 8-bit RGB rule, so a device pass may convert the whole output."""

    def write_direct(self, array: np.ndarray, sha256: str | None = None) -> None:
        """The whole output, already converted (HxWx3 ``direct_dtype``), e.g. by a GPU pass.

        ``sha256``: the digest of its bytes when the writer computed it on the way (kept as ``sha256``).
        """
        self.sha256 = sha256
        on_disk = self.disk_threshold_bytes is not None and array.nbytes > self.disk_threshold_bytes
        if on_disk:
            self.array = _output_buffer(array.shape, True, array.dtype)
            self.array[...] = array
        else:
            self.array = array

    def write(self, box: Box, rgb: F32) -> None:
        x0, y0, x1, y1 = box
        block = self.convert(rgb, box)
        if self.array is None:
            w, h = self.size
            shape = (h, w, *block.shape[2:])
            nbytes = int(np.prod(shape)) * block.dtype.itemsize
            on_disk = self.disk_threshold_bytes is not None and nbytes > self.disk_threshold_bytes
            self.array = _output_buffer(shape, on_disk, block.dtype)
        self.array[y0:y1, x0:x1] = block
