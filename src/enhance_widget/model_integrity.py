"""Model file integrity: no byte reaches a runtime before its size and sha256 match the card."""

from __future__ import annotations

import hashlib

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


__all__ = ["read_verified", "sha256_of", "verify_bytes"]
