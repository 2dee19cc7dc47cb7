"""The small interface between the engine and whoever watches it (CLI, widget, notebook).

The engine knows nothing about threads or UIs: it asks ``progress.aborted`` between tiles and
calls ``set_total`` once and ``tile_done`` after every tile. A :class:`CancelToken` lets another
thread stop a run, including inside a tile through callbacks registered by the runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1), half-open, in pixels."""


@dataclass(frozen=True)
class TileEvent:
    """One finished tile.

    ``index`` counts from 0 over every tile of every pass; ``total`` is the number of tiles of the
    whole plan. ``in_box`` is in the pass's input coordinates, ``out_box`` and ``core_box`` in its
    output coordinates; ``core_box`` is the part of the output this tile owns (the tiles' cores
    partition the output), and ``pixels`` is the model output on the core (H x W x 3 float32 0..1).
    """

    index: int
    total: int
    pass_index: int
    passes: int
    in_box: Box
    out_box: Box
    core_box: Box
    out_size: tuple[int, int]
    ms: float
    pixels: Any = field(repr=False, default=None)
    provider: str = ""
    """The execution provider that ran this tile (e.g. ``CPUExecutionProvider``)."""


class Progress(Protocol):
    """What the engine needs from its caller."""

    @property
    def aborted(self) -> bool: ...

    def set_total(self, total: int) -> None: ...

    def tile_done(self, event: TileEvent) -> None: ...


class CancelToken:
    """Thread-safe cancel flag with callbacks (used to terminate a running inference)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for cb in callbacks:
            cb()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)
            fire_now = self._event.is_set()
        if fire_now:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove


class CallbackProgress:
    """A :class:`Progress` built from a cancel token and an optional per-tile callback."""

    def __init__(
        self,
        on_tile: Callable[[TileEvent], None] | None = None,
        cancel: CancelToken | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> None:
        self.cancel = cancel or CancelToken()
        self._on_tile = on_tile
        self._on_total = on_total

    @property
    def aborted(self) -> bool:
        return self.cancel.cancelled

    @property
    def wants_pixels(self) -> bool:
        """Whether tile events need their pixels (a GPU pass skips copying them back otherwise)."""
        return self._on_tile is not None

    def set_total(self, total: int) -> None:
        if self._on_total is not None:
            self._on_total(total)

    def tile_done(self, event: TileEvent) -> None:
        if self._on_tile is not None:
            self._on_tile(event)
