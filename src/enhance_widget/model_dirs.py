"""Where the package looks for its files: the manifest, the model files and the sample image.

Pure Python (Pyodide imports it too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError

MODELS_ENV = "ENHANCE_WIDGET_MODELS"

_PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = _PACKAGE_DIR / "_bundled"
"""Where the wheel carries the manifest, the default model and the sample image."""
SOURCE_MODELS_DIR = _PACKAGE_DIR.parent.parent / "models"
"""``models/`` of a source checkout (editable installs and tests)."""
IN_CHECKOUT = _PACKAGE_DIR.parent.name == "src" and (SOURCE_MODELS_DIR / "manifest.json").is_file()
"""The package runs from a source checkout (``src/enhance_widget``), not from an installed wheel,
whose parent's parent (``lib/python3.X``) has no ``models/``."""


def user_models_dir() -> Path:
    """The per-user folder that ``enhance-widget models build`` fills by default (always searched):
    ``$XDG_DATA_HOME/enhance-widget/models``, else ``~/.local/share/enhance-widget/models``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "enhance-widget" / "models"


def search_dirs(extra: Iterable[Path | str] = ()) -> list[Path]:
    """Folders searched for model files, first match wins."""
    dirs = [Path(p) for p in extra]
    env = os.environ.get(MODELS_ENV)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(user_models_dir())
    dirs.extend(package_dirs())
    return dirs


def package_dirs() -> list[Path]:
    """Where the package's own files are: ``models/`` of a checkout, else the wheel's ``_bundled``."""
    return [SOURCE_MODELS_DIR, BUNDLED_DIR] if IN_CHECKOUT else [BUNDLED_DIR]


def manifest_path() -> Path:
    for d in package_dirs():
        if (d / "manifest.json").is_file():
            return d / "manifest.json"
    raise ModelNotFoundError("no model manifest found: the package installation is incomplete")


def sample_image_path() -> Path:
    """The small photo that the demo and the quickstart open (``enhance_widget.data.sample()``)."""
    for d in package_dirs():
        if (d / "sample.png").is_file():
            return d / "sample.png"
    raise FileNotFoundError("the bundled sample image is missing from this installation")


def site_models() -> dict[str, Any]:
    """The wheel's ``site-models.json`` (JupyterLite variant: models served by the site), or {}."""
    listing = BUNDLED_DIR / "site-models.json"
    if not listing.is_file():
        return {}
    data: dict[str, Any] = json.loads(listing.read_text(encoding="utf-8"))
    return data


__all__ = [
    "BUNDLED_DIR",
    "IN_CHECKOUT",
    "MODELS_ENV",
    "SOURCE_MODELS_DIR",
    "manifest_path",
    "package_dirs",
    "sample_image_path",
    "search_dirs",
    "site_models",
    "user_models_dir",
]
