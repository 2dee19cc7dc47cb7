"""Model file integrity: no byte reaches a runtime before its size and sha256 match the card."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from .cards import ModelCard
from .errors import ModelIntegrityError, ModelNotFoundError
from .model_dirs import search_dirs


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_bytes(card: ModelCard, data: bytes) -> bytes:
    """Check ``data`` against the card's size and sha256; return it unchanged when it matches."""
    if card.sha256 is None:
        raise ModelIntegrityError(f"model {card.id!r} has no sha256 in its card; refusing to load it")
    digest = sha256_of(data)
    if digest != card.sha256 and digest not in card.alt_sha256:
        raise ModelIntegrityError(
            f"model {card.id!r} ({card.path}) has sha256 {digest[:16]}..., expected "
            f"{card.sha256[:16]}...: the file is damaged or was changed. Restore it "
            f"(reinstall the package or re-run {card.recipe or 'its recipe'})."
        )
    return data


def read_verified(card: ModelCard) -> bytes:
    """Read the model file and verify it; no byte reaches onnxruntime before this passes."""
    if (card.path is None or not card.path.is_file()) and card.site_url is not None:
        raise ModelNotFoundError(
            f"model {card.id!r} is served by this JupyterLite site to the browser engine, "
            "which fetches it itself; the kernel does not read it"
        )
    if card.path is None or not card.path.is_file():
        raise ModelNotFoundError(
            f"model {card.id!r} is not installed ({card.file} is in none of "
            f"{[str(d) for d in search_dirs()]}): {card.install_hint}"
        )
    return verify_bytes(card, card.path.read_bytes())


@lru_cache(maxsize=64)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_of(Path(path).read_bytes())


def file_sha256(card: ModelCard) -> str | None:
    """The digest of the bytes :func:`read_verified` would return: the card's own digest, or the
    accepted alternative (``alt_sha256``, e.g. a file an older recipe built) that the file has.
    The file is hashed only for cards with alternatives (once per file version)."""
    if not card.alt_sha256 or card.path is None or not card.path.is_file():
        return card.sha256
    st = card.path.stat()
    return _file_sha256(str(card.path), st.st_mtime_ns, st.st_size)


__all__ = ["file_sha256", "read_verified", "sha256_of", "verify_bytes"]
