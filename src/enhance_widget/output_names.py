"""How a result file is named: ``<stem>_<tag>.png`` with the tag ``upscalex4``, ``restore``...

The one home of that rule: the widget's Save (``widget/source.py``) and the batch outputs
(``batch.py``) both call it. Pure Python (Pyodide imports it too).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def output_tag(task: str, scale: int | None) -> str:
    """``upscalex4``, ``restore``...: the suffix of an output's name (as the widget's Save uses)."""
    return f"{task}x{scale}" if task == "upscale" and scale else task


def output_names(sources: Sequence[Any], task: str, scale: int | None) -> list[str]:
    """``<stem>_<tag>.png`` per source; inputs sharing a stem keep their extension in the name."""
    tag = output_tag(task, scale)
    stems: list[str] = []
    for i, s in enumerate(sources):
        stems.append(Path(s).stem if isinstance(s, (str, os.PathLike)) else f"image-{i:05d}")
    names: list[str] = []
    for i, (s, stem) in enumerate(zip(sources, stems, strict=True)):
        if stems.count(stem) > 1 and isinstance(s, (str, os.PathLike)):
            stem = f"{stem}-{Path(s).suffix.lstrip('.') or i}"
        names.append(f"{stem}_{tag}.png")
    seen: set[str] = set()
    for i, name in enumerate(names):  # the same file given twice: its own output each time
        if name in seen:
            names[i] = name.replace(f"_{tag}.png", f"-{i}_{tag}.png")
        seen.add(names[i])
    return names


__all__ = ["output_names", "output_tag"]
