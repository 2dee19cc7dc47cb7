"""Wheel build hook: the models that travel with the package.

One home for the list: ``models/manifest.json``. Every model entry with ``"bundled": true`` and a
``file`` goes into the wheel as ``enhance_widget/_bundled/<file>``, with the manifest itself, the
sample photo and the evaluation photos (``enhance_widget.data``). A bundled model whose file is
missing, or whose bytes do not match its sha256, fails the build: a wheel never ships a model the
catalog would then refuse.

``ENHANCE_WIDGET_WHEEL_MODELS=site`` builds the JupyterLite variant (scripts/build_lite.sh): the
model files stay out of the wheel, which instead carries ``site-models.json`` naming them; the site
serves them beside Pyodide, and the page fetches a model only when a task first runs with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DEST = "enhance_widget/_bundled"


SITE_MODELS_DIR = "static/enhance-widget-models/"
"""Where a JupyterLite site serves the bundled models (relative to the site's root)."""


def bundled_files(root: Path, site: bool = False) -> dict[str, str]:
    """Source path -> path inside the wheel, for everything ``_bundled`` carries (``site``: the
    model files are left out and listed in ``site-models.json``)."""
    models = root / "models"
    manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    out = {str(models / "manifest.json"): f"{DEST}/manifest.json"}
    for entry in manifest.get("models", []):
        if not entry.get("bundled") or not entry.get("file"):
            continue
        path = models / entry["file"]
        if not path.is_file():
            raise RuntimeError(f"model {entry['id']!r} is marked bundled but {path} is missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != entry.get("sha256") and digest not in entry.get("alt_sha256", ()):
            raise RuntimeError(f"model {entry['id']!r}: {path} does not match its sha256 in the manifest")
        out[str(path)] = f"{DEST}/{entry['file']}"
    if site:
        listing = {"base": SITE_MODELS_DIR, "files": {Path(p).name: Path(p).stat().st_size for p in out}}
        del listing["files"]["manifest.json"]
        out = {k: v for k, v in out.items() if not v.endswith(".onnx")}
        fd, tmp = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(listing, f)
        out[tmp] = f"{DEST}/site-models.json"
    out[str(models / "sample.png")] = f"{DEST}/sample.png"
    for photo in sorted((models / "eval").glob("*.png")):
        out[str(photo)] = f"{DEST}/eval/{photo.name}"
    return out


class ModelsHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        site = os.environ.get("ENHANCE_WIDGET_WHEEL_MODELS") == "site"
        build_data["force_include"].update(bundled_files(Path(self.root), site))
