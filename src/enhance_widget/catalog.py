"""The model catalog: the manifest's cards plus the user's registered models, where each file is,
which model a task and quality mode run; and integrity checks (re-exported from their modules).

Pure Python (no numpy, no onnxruntime) so that the planner can use it under Pyodide too.
Its parts: ``model_dirs`` (where files are), ``cards`` (typed model cards), ``model_integrity``
(sha256 checks); every name they define stays importable from here.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cards import (
    BROWSER_FACTOR,
    BROWSER_RUN_S,
    QUALITY_MODES,
    RECIPE_NEEDS,
    TASKS,
    Cost,
    ExtraInput,
    ModelCard,
    QualityMode,
    SizeRule,
    Task,
    card_from_json,
)
from .errors import ModelNotFoundError
from .model_dirs import (
    BUNDLED_DIR,
    IN_CHECKOUT,
    MODELS_ENV,
    SOURCE_MODELS_DIR,
    manifest_path,
    package_dirs,
    sample_image_path,
    search_dirs,
    site_models,
    user_models_dir,
)
from .model_integrity import read_verified, sha256_of, verify_bytes


class Catalog:
    """The manifest's cards plus the user's registered models."""

    def __init__(self, manifest: dict[str, Any], dirs: list[Path]) -> None:
        self.manifest = manifest
        self.dirs = dirs
        self._lock = threading.Lock()
        self._cards: dict[str, ModelCard] = {}
        site = site_models()
        for entry in manifest.get("models", []):
            card = card_from_json(entry)
            path = self._locate(card.file)
            url = site["base"] + card.file if path is None and card.file in site.get("files", {}) else None
            self._cards[card.id] = replace(card, path=path, site_url=url)

    @classmethod
    def load(cls, extra_dirs: Iterable[Path | str] = ()) -> Catalog:
        path = manifest_path()
        return cls(json.loads(path.read_text(encoding="utf-8")), search_dirs(extra_dirs))

    def _locate(self, file: str | None) -> Path | None:
        if file is None:
            return None
        for d in self.dirs:
            if (d / file).is_file():
                return d / file
        return None

    def cards(self, task: str | None = None) -> list[ModelCard]:
        with self._lock:
            cards = [self._with_chain_status(c) for c in self._cards.values()]
        return [c for c in cards if task is None or c.task == task]

    def get(self, model_id: str) -> ModelCard:
        with self._lock:
            card = self._cards.get(model_id)
            card = None if card is None else self._with_chain_status(card)
        if card is None:
            known = ", ".join(sorted(self._cards))
            raise ModelNotFoundError(f"unknown model {model_id!r}; known models: {known}")
        return card

    def _with_chain_status(self, card: ModelCard) -> ModelCard:
        """A chain card with ``chain_missing`` = its passes whose files are not installed (now)."""
        if not card.is_chain:
            return card
        missing = tuple(
            dict.fromkeys(i for i in card.chain if i not in self._cards or not self._cards[i].installed)
        )
        return card if missing == card.chain_missing else replace(card, chain_missing=missing)

    def default_for(self, task: str, scale: int | None) -> ModelCard:
        if task not in TASKS:
            raise ModelNotFoundError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
        defaults: dict[str, str] = self.manifest.get("tasks", {}).get(task, {}).get("default", {})
        if scale is not None and str(scale) in defaults:
            return self.get(defaults[str(scale)])
        candidates = [c for c in self.cards(task) if scale is None or c.scale == scale]
        if not candidates:
            raise ModelNotFoundError(
                f"no model for task {task!r}"
                + (f" at scale x{scale}" if scale else "")
                + f"; available: {[(c.id, c.scale) for c in self.cards(task)] or 'none yet'}"
            )
        return candidates[0]

    def modes(self, task: str, scale: int | None) -> dict[str, QualityMode]:
        """The task's quality modes (fast / balanced / best) at this scale, from the manifest."""
        table: dict[str, dict[str, Any]] = self.manifest.get("tasks", {}).get(task, {}).get("modes", {})
        entry = table.get(str(scale if task == "upscale" else 1), {})
        return {
            name: QualityMode(
                name=name,
                model_id=str(spec["model"]),
                tta=bool(spec.get("tta", False)),
                vs_parent=dict(spec.get("vs_parent", {})),
            )
            for name, spec in entry.items()
        }

    def for_quality(self, task: str, scale: int | None, quality: str) -> QualityMode:
        """The model (and TTA flag) a quality mode stands for; ``balanced`` = the default model."""
        if quality not in QUALITY_MODES:
            raise ValueError(f"quality must be one of {', '.join(QUALITY_MODES)}, got {quality!r}")
        mode = self.modes(task, scale).get(quality)
        if mode is not None:
            return mode
        return QualityMode(quality, self.default_for(task, scale).id, tta=False)

    def resolve_chain(self, card: ModelCard) -> list[ModelCard]:
        """The single-pass cards a (possibly chained) card runs, in order."""
        if not card.is_chain:
            return [card]
        return [self.get(i) for i in card.chain]

    def add_search_dir(self, folder: str | os.PathLike[str]) -> None:
        """Look for model files in ``folder`` first (e.g. large models a user keeps elsewhere)."""
        path = Path(folder)
        if not path.is_dir():
            raise ModelNotFoundError(f"models folder {path} does not exist")
        with self._lock:
            if path not in self.dirs:
                self.dirs.insert(0, path)
            for card_id, card in list(self._cards.items()):
                if not card.user and card.file and (path / card.file).is_file():
                    self._cards[card_id] = replace(card, path=path / card.file)

    def add(self, card: ModelCard) -> ModelCard:
        with self._lock:
            self._cards[card.id] = card
        return card


_catalog: Catalog | None = None
_catalog_lock = threading.Lock()


def catalog() -> Catalog:
    """The process-wide catalog (loaded once)."""
    global _catalog
    with _catalog_lock:
        if _catalog is None:
            _catalog = Catalog.load()
        return _catalog


def reset_catalog(extra_dirs: Iterable[Path | str] = ()) -> Catalog:
    """Reload the manifest (e.g. after setting ``ENHANCE_WIDGET_MODELS``)."""
    global _catalog
    with _catalog_lock:
        _catalog = Catalog.load(extra_dirs)
        return _catalog


__all__ = [
    "BROWSER_FACTOR",
    "BROWSER_RUN_S",
    "BUNDLED_DIR",
    "IN_CHECKOUT",
    "MODELS_ENV",
    "QUALITY_MODES",
    "RECIPE_NEEDS",
    "SOURCE_MODELS_DIR",
    "TASKS",
    "Catalog",
    "Cost",
    "ExtraInput",
    "ModelCard",
    "QualityMode",
    "SizeRule",
    "Task",
    "catalog",
    "package_dirs",
    "read_verified",
    "reset_catalog",
    "sample_image_path",
    "search_dirs",
    "sha256_of",
    "user_models_dir",
    "verify_bytes",
]
