"""What ``enhance_many`` hands back: one :class:`BatchItem` per input, gathered in a
:class:`BatchResult`, and the line each item writes to ``records.jsonl``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .result import Result

Status = Literal["ok", "skipped", "failed"]


@dataclass
class BatchItem:
    """One input's outcome: ``status`` is ``ok``, ``skipped`` (verified output kept) or ``failed``."""

    index: int
    source: str
    status: Status
    result: Result | None = None
    output: Path | None = None
    record: dict[str, Any] | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class BatchResult:
    """Every item in input order, the failures, and where the records went."""

    items: list[BatchItem]
    output_dir: Path | None = None
    records_path: Path | None = None
    seconds: float = 0.0
    workers: int | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[BatchItem]:
        return iter(self.items)

    def __getitem__(self, i: int) -> BatchItem:
        return self.items[i]

    @property
    def results(self) -> list[Result | None]:
        """The in-memory results in input order (None where an item failed or went to a file)."""
        return [it.result for it in self.items]

    @property
    def failures(self) -> list[BatchItem]:
        return [it for it in self.items if it.status == "failed"]

    def count(self, status: Status) -> int:
        return sum(1 for it in self.items if it.status == status)

    def summary(self) -> str:
        rate = len(self.items) / self.seconds if self.seconds else 0.0
        return (
            f"{self.count('ok')} done, {self.count('skipped')} skipped (verified), "
            f"{self.count('failed')} failed, in {self.seconds:.1f} s ({rate:.2f} images/s)"
        )

    def __repr__(self) -> str:
        return f"BatchResult({self.summary()})"


def source_label(source: Any, index: int) -> str:
    """How an item names its input: the path, else ``<type index>``."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__} {index}>"


def log_line(item: BatchItem) -> dict[str, Any]:
    """The item's line in ``records.jsonl``."""
    line: dict[str, Any] = {
        "index": item.index,
        "source": item.source,
        "status": item.status,
        "output": str(item.output) if item.output else None,
        "seconds": round(item.seconds, 3),
        "worker": item.worker,
    }
    if item.error is not None:
        line["error"] = {"type": type(item.error).__name__, "message": str(item.error)}
    if item.record is not None:
        line["record"] = item.record
    return line


__all__ = ["BatchItem", "BatchResult", "Status", "log_line", "source_label"]
