"""Typed model cards: what the engine knows of one model (size rule, cost, licence, recipe...),
filled from a manifest entry, and the quality modes a task offers.

Pure Python (Pyodide imports it too).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ModelFormatError, ModelNotFoundError
from .model_dirs import MODELS_ENV, SOURCE_MODELS_DIR

Task = Literal["upscale", "restore", "deblur", "colorize"]
TASKS: tuple[Task, ...] = ("upscale", "restore", "deblur", "colorize")


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


def card_from_json(entry: dict[str, Any]) -> ModelCard:
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
