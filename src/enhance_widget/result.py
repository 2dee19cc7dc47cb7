"""The result of a run: pixels as PIL and numpy, the provenance record, and safe saving."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from .errors import EnhanceError
from .images import ImageBuffer, to_pil, write_png16
from .provenance import PNG_KEY, dumps


@dataclass
class Result:
    """``array`` has the input's dtype and channels; ``image`` is the PIL view of it."""

    array: np.ndarray
    record: dict[str, Any]
    source: ImageBuffer

    @property
    def image(self) -> Image.Image:
        return to_pil(self.array, self.source)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.array.shape[1]), int(self.array.shape[0]))

    def save(self, path: str | os.PathLike[str], overwrite: bool = True) -> Path:
        """Write the result; a PNG carries the provenance record in a text chunk.

        Refuses to write over the input file. Writes to a temporary file first and renames it,
        so an interrupted save leaves no partial file.
        """
        target = Path(path)
        src = self.source.path
        if src is not None and target.exists() and os.path.samefile(src, target):
            raise EnhanceError(f"refusing to overwrite the input file {src}; choose another name")
        if src is not None and target.resolve() == src.resolve():
            raise EnhanceError(f"refusing to overwrite the input file {src}; choose another name")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        suffix = target.suffix.lower() or ".png"
        fd, tmp_name = tempfile.mkstemp(prefix=".enhance-", suffix=suffix, dir=target.parent or ".")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._write(tmp, suffix)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; a saved photo is an ordinary file
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target

    def _write(self, tmp: Path, suffix: str) -> None:
        text = dumps(self.record)
        arr = self.array
        if suffix == ".png" and arr.dtype == np.uint16 and arr.ndim == 3:
            write_png16(tmp, arr, {PNG_KEY: text})
            return
        img = self.image
        if suffix == ".png":
            info = PngImagePlugin.PngInfo()
            info.add_text(PNG_KEY, text)
            img.save(tmp, format="PNG", pnginfo=info)
        elif suffix in (".jpg", ".jpeg"):
            img.convert("RGB").save(tmp, format="JPEG", quality=95)
        else:
            img.save(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the provenance record back from a PNG written by :meth:`Result.save`."""
    import json

    with Image.open(path) as im:
        im.load()
        text = getattr(im, "text", {}).get(PNG_KEY) or im.info.get(PNG_KEY)
    if not text:
        raise EnhanceError(f"{path} carries no enhance-widget record")
    record: dict[str, Any] = json.loads(text)
    return record
