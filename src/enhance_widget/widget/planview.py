"""What the widget shows before Run: the models a task offers, the model a quality mode picks,
and the plan's honest figures (output size, memory needed vs available, time, provider)."""

from __future__ import annotations

import math
import threading
from typing import Any

from ..catalog import QUALITY_MODES, TASKS, catalog
from ..errors import ControlValueError, EnhanceError
from ..planning import engine_seconds
from ..tiling import AUTO_CANDIDATES

TILE_CHOICES = ("auto", "whole", "64", "96", "128", "192", "256", "384", "512")


def model_options() -> list[dict[str, Any]]:
    """Every model as JSON for the front end (which filters by task and scale): size, speed on
    this machine (calibrated ms per megapixel), license; a missing one with its install command."""
    cat = catalog()
    out = []
    for card in cat.cards():
        passes = cat.resolve_chain(card) if card.is_chain else [card]
        size = sum(c.size_bytes or 0 for c in {c.id: c for c in passes}.values())
        missing = [c for c in passes if not c.installed]  # a chain needs each of its passes' files
        out.append(
            {
                "id": card.id,
                "title": card.title or card.id,
                "task": card.task,
                "scale": card.scale,
                "license": card.license.split(";")[0].split(" (")[0],
                "license_full": card.license,
                "research_only": _research_only(card.license),
                "user": card.user,
                "installed": not missing,
                "install_hint": missing[0].install_hint if missing else None,
                "size_mb": round(size / 1e6, 1),
                "s_per_mpx": round(sum(c.cost.ms_per_mpx for c in passes) / 1000, 1),
            }
        )
    return out


def _research_only(license_text: str) -> bool:
    """Whether a model's licence limits it to research / non-commercial use (said in the view)."""
    text = license_text.lower()
    return "non-commercial" in text or "noncommercial" in text or "research/non-commercial" in text


def task_options() -> list[dict[str, Any]]:
    """The four tasks with their title, one line on what each does (both from the manifest) and
    whether any model is installed for them (if not: how to install the default one)."""
    cat = catalog()
    titles = cat.manifest.get("tasks", {})
    installed = {m["task"] for m in model_options() if m["installed"]}
    out = []
    for t in TASKS:
        entry = titles.get(t, {})
        hint = None
        if t not in installed:
            try:
                hint = cat.default_for(t, None).install_hint
            except EnhanceError:
                hint = None
        out.append(
            {
                "id": t,
                "title": str(entry.get("title", t)),
                "summary": str(entry.get("summary", "")),
                "available": t in installed,
                "install_hint": hint,
            }
        )
    return out


def chosen_model(task: str, scale: int, model: str, quality: str) -> str | None:
    """The model a run would use: the one picked, else the quality mode's, else the default."""
    if model:
        return model
    if task not in TASKS:
        return None
    cat = catalog()
    s = _scale_for(task, scale)
    try:
        mode = cat.modes(task, s).get(quality)
        return mode.model_id if mode else cat.default_for(task, s).id
    except EnhanceError:
        return None


def control_specs(model_id: str | None) -> list[dict[str, Any]]:
    """The model's user controls (e.g. restore's strength) with label, range, default and step,
    as its manifest entry states them; a chain model answers for its passes."""
    if not model_id:
        return []
    entries = {str(e.get("id")): e for e in catalog().manifest.get("models", [])}
    ids = [model_id, *[str(c) for c in entries.get(model_id, {}).get("chain", [])]]
    specs: dict[str, dict[str, Any]] = {}
    for mid in ids:
        for name, spec in (entries.get(mid, {}).get("controls") or {}).items():
            lo, hi = float(spec["min"]), float(spec["max"])
            step = float(spec.get("step", 1 if hi - lo > 10 else 0.05))
            specs.setdefault(
                str(name),
                {
                    "name": str(name),
                    "label": str(spec.get("label", name)),
                    "min": lo,
                    "max": hi,
                    "default": float(spec["default"]),
                    "step": step,
                    "help": str(spec.get("help", "")),
                },
            )
    return list(specs.values())


def validate_controls(values: Any, specs: list[dict[str, Any]], model_id: str | None) -> dict[str, float]:
    """``values`` checked against ``specs``: known names, real numbers inside the stated range.

    Raises :class:`~enhance_widget.errors.ControlValueError` naming the control, its range and the model.
    """
    if not isinstance(values, dict):
        raise ControlValueError(f"controls must be a dict such as {{'strength': 25}}, got {values!r}")
    by_name = {s["name"]: s for s in specs}
    out: dict[str, float] = {}
    for name, value in values.items():
        spec = by_name.get(str(name))
        if spec is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise ControlValueError(
                f"{model_id or 'this model'} has no control {name!r} (its controls: {known})"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ControlValueError(
                f"{name} must be a number from {spec['min']:g} to {spec['max']:g}, got {value!r}"
            )
        if not spec["min"] <= float(value) <= spec["max"]:
            raise ControlValueError(
                f"{name} must be from {spec['min']:g} to {spec['max']:g} for {model_id}, got {value:g}"
            )
        out[str(name)] = float(value)
    return out


# --- time estimates, re-calibrated from measured runs ---------------------------------------------

_calibration_lock = threading.Lock()
_calibration: dict[tuple[str, str], float] = {}
"""(model id, engine) -> measured compute time / the cost figures' estimate, from the last run."""
_machine: dict[str, float] = {}
"""engine -> the last measured ratio of any model: how this machine (and its load) compares with
the one the manifest's cost figures were measured on; used for models not run here yet."""
_loaded: set[tuple[str, str]] = set()
"""Models whose session this process has already loaded (their next run pays no load time)."""


def load_seconds(model_id: str) -> float:
    """The manifest's load time of a model (its passes counted once)."""
    cat = catalog()
    card = cat.get(model_id)
    cards = cat.resolve_chain(card) if card.is_chain else [card]
    return sum(c.cost.load_ms for c in {c.id: c for c in cards}.values()) / 1000


def estimate_seconds(model_id: str, engine: str, planned_s: float) -> tuple[float, bool]:
    """The time a plan will take here: the planner's compute estimate scaled by what the last run
    of this model measured (else by the last run of any model: this machine's speed), plus the load
    time unless the model is loaded already.
    Returns (seconds, whether a measurement calibrated it)."""
    load = load_seconds(model_id)
    key = (model_id, engine)
    with _calibration_lock:
        factor = _calibration.get(key, _machine.get(engine))
        loaded = key in _loaded
    compute = max(planned_s - load, 0.0)
    return compute * (factor or 1.0) + (0.0 if loaded else load) * (factor or 1.0), factor is not None


def record_run(
    model_id: str, engine: str, planned_s: float, measured_s: float, measured_load_s: float
) -> None:
    """Re-calibrate from one finished run: ``planned_s`` is the planner's raw estimate (load
    included), ``measured_s`` the wall time from Run to Done, ``measured_load_s`` its model load."""
    compute = planned_s - load_seconds(model_id)
    key = (model_id, engine)
    with _calibration_lock:
        _loaded.add(key)
        if compute < 1e-3:  # a model without cost figures says nothing about this machine's speed
            return
        _calibration[key] = _machine[engine] = max(measured_s - measured_load_s, 1e-3) / compute


def reset_calibration() -> None:
    with _calibration_lock:
        _calibration.clear()
        _machine.clear()
        _loaded.clear()


def parse_tile(tile: str) -> int | str:
    """The tile trait (``auto``, ``whole`` or digits) as ``enhance``'s ``tile`` argument."""
    text = tile.strip().lower()
    if text in ("auto", "whole"):
        return text
    if text.isdigit() and int(text) >= 8:
        return int(text)
    raise ValueError(f"tile must be 'auto', 'whole' or a size of at least 8 pixels, got {tile!r}")


def _scale_for(task: str, scale: int) -> int | None:
    return scale if task == "upscale" else None


BROWSER_PROVIDERS = {
    "auto": "webgpu if the page has a hardware adapter, else wasm",
    "webgpu": "webgpu",
    "wasm": "wasm",
}


def planned_provider() -> str:
    """The execution provider onnxruntime will pick on this machine."""
    from ..runtimes.ort import _choose_providers

    return _choose_providers(None)[0]


def suggest_tile(
    size: tuple[int, int], task: str, scale: int | None, model: str | None, overlap: int, quality: str
) -> int | None:
    """The largest tile side whose plan fits the memory budget, or None if none does."""
    from .browser import plan_for

    side = max(size)
    for cand in (c for c in AUTO_CANDIDATES if c < side):
        if plan_for(size, task, scale, model, cand, overlap, quality=quality).fits:
            return cand
    return None


def memory_level(need: int, budget: int, available: int | None, fits: bool) -> str:
    """Plain words for the memory a plan needs: ``fine``, ``tight`` (over half of what the
    budget or the free memory allows) or ``too much`` (over the budget)."""
    if not fits:
        return "too much"
    room = min(budget, available) if available else budget
    return "tight" if need > room / 2 else "fine"


def quality_options(task: str, scale: int) -> list[dict[str, Any]]:
    """The quality modes with the model each runs, TTA, and its measured figures vs balanced."""
    modes = catalog().modes(task, _scale_for(task, scale)) if task in TASKS else {}
    out = []
    for name in QUALITY_MODES:
        mode = modes.get(name)
        out.append(
            {
                "id": name,
                "model": mode.model_id if mode else None,
                "tta": bool(mode.tta) if mode else False,
                "vs_parent": dict(mode.vs_parent) if mode else {},
            }
        )
    return out


def plan_figures(
    size: tuple[int, int] | None,
    task: str,
    scale: int,
    model: str,
    tile: str,
    overlap: int,
    quality: str,
    engine: str = "kernel",
    provider: str = "auto",
) -> dict[str, Any]:
    """The plan as the front end shows it, or ``{"error": {"type", "message"}}`` when none exists."""
    from .browser import plan_for

    if size is None:
        return {"error": {"type": "NoImage", "message": "open an image to see the plan"}}
    s = _scale_for(task, scale)
    model_id = model or None
    try:
        tile_arg = parse_tile(tile)
        plan = plan_for(size, task, s, model_id, tile_arg, overlap, quality=quality, engine=engine)
        provider = planned_provider() if engine == "kernel" else BROWSER_PROVIDERS.get(provider, provider)
    except (EnhanceError, ValueError) as exc:
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    missing = [p.model_id for p in plan.passes if not catalog().get(p.model_id).installed]
    if missing:  # a large model that is not on this machine: say so, and how to install it
        card = catalog().get(missing[0])
        message = f"{card.id} is not installed ({(card.size_bytes or 0) / 1e6:.0f} MB); {card.install_hint}"
        return {"error": {"type": "ModelNotFoundError", "message": message}}
    d = plan.summary()
    seconds, calibrated = estimate_seconds(plan.model_id, engine, engine_seconds(plan, engine))
    figures: dict[str, Any] = {
        "task": plan.task,
        "model": plan.model_id,
        "scale": plan.scale,
        "in_size": list(plan.in_size),
        "out_size": list(plan.out_size),
        "strategy": plan.strategy,
        "overlap": plan.overlap,
        "total_tiles": plan.total_tiles,
        "passes": [
            {
                "tile": list(p["tile"]),
                "grid": list(p["grid"]),
                "tiles": p["tiles"],
                "out_size": list(p["out_size"]),
            }
            for p in d["passes"]
        ],
        "memory_bytes": plan.memory_bytes,
        "budget_bytes": plan.budget_bytes,
        "available_bytes": plan.available_bytes,
        "memory_level": memory_level(plan.memory_bytes, plan.budget_bytes, plan.available_bytes, plan.fits),
        "seconds": round(seconds, 2),
        "seconds_planned": round(plan.seconds, 2),
        "calibrated": calibrated,
        "fits": plan.fits,
        "quality": plan.quality,
        "tta": plan.tta,
        "runtime": "onnxruntime" if engine == "kernel" else "onnxruntime-web (browser engine)",
        "provider": provider,
        "suggested_tile": None,
    }
    if not plan.fits:
        figures["suggested_tile"] = suggest_tile(size, task, s, model_id, overlap, quality)
    return figures


def model_conflicts(card: dict[str, Any], control: str, value: Any) -> bool:
    """Whether a new task or scale no longer fits the chosen model (which then goes back to auto)."""
    if control == "task":
        return bool(card["task"] != value)
    return control == "scale" and card["task"] == "upscale" and card["scale"] != value


def inside_range(value: float, spec: dict[str, Any]) -> bool:
    """Whether a control's value lies in its spec's range (``min`` to ``max``)."""
    return bool(spec["min"] <= value <= spec["max"])
