"""A file the view opens (picker, drop, paste) arrives in pieces: bytes at ``offset`` of ``size``.
:class:`Uploads` puts them together, one file at a time, and refuses a file too large or a piece
out of order."""

from __future__ import annotations

from typing import Any

MAX_OPEN_BYTES = 256 * 1024 * 1024
"""The largest file the view may send (its pixels are limited apart, as ``enhance`` limits them)."""


class UploadRefused(Exception):
    """A file the view sent that cannot be opened: ``kind`` is the error type the view shows."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def upload_name(content: dict[str, Any]) -> str:
    """The file's name as the view sent it (at most 200 characters)."""
    return str(content.get("name") or "photo")[:200]


class Uploads:
    """The file being received: its request, name, size and the bytes so far."""

    def __init__(self) -> None:
        self._current: dict[str, Any] | None = None

    def add(self, request_id: Any, content: dict[str, Any], buffers: list[Any]) -> bytes | None:
        """Add one piece; the whole file once its last piece came, else None.

        Raises :class:`UploadRefused` for a file over :data:`MAX_OPEN_BYTES` or a missing piece."""
        name = upload_name(content)
        size, offset = int(content.get("size") or 0), int(content.get("offset") or 0)
        up = self._current
        if offset == 0 or up is None or up["id"] != request_id:
            if size > MAX_OPEN_BYTES:
                raise UploadRefused(
                    "ImageTooLargeError", f"the file has {size:,} bytes, more than {MAX_OPEN_BYTES:,}"
                )
            up = self._current = {"id": request_id, "name": name, "size": size, "data": bytearray()}
        if offset != len(up["data"]):
            self._current = None
            raise UploadRefused("ImageDecodeError", "the file arrived incomplete; open it again")
        for b in buffers:
            up["data"] += memoryview(b).cast("B")
        if len(up["data"]) < up["size"]:
            return None
        self._current = None
        return bytes(up["data"][: up["size"]])


__all__ = ["MAX_OPEN_BYTES", "UploadRefused", "Uploads", "upload_name"]
