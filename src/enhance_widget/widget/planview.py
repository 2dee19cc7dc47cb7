"""What the widget shows before Run: the models a task offers, the model a quality mode picks,
and the plan's honest figures (output size, memory needed vs available, time, provider)."""

from __future__ import annotations

from typing import Any

from ..catalog import QUALITY_MODES, TASKS, catalog
from ..errors import EnhanceError
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
        out.append(
            {
                "id": card.id,
                "title": card.title or card.id,
                "task": card.task,
                "scale": card.scale,
                "license": card.license.split(";")[0].split(" (")[0],
                "user": card.user,
                "installed": card.installed and all(c.installed for c in passes),
                "install_hint": None if card.installed else f"enhance-widget models build {card.id}",
                "size_mb": round(size / 1e6, 1),
                "s_per_mpx": round(sum(c.cost.ms_per_mpx for c in passes) / 1000, 1),
            }
        )
    return out


def task_options() -> list[dict[str, Any]]:
    """The four tasks with their title and whether any model is installed for them."""
    titles = catalog().manifest.get("tasks", {})
    installed = {m["task"] for m in model_options() if m["installed"]}
    return [
        {"id": t, "title": str(titles.get(t, {}).get("title", t)), "available": t in installed} for t in TASKS
    ]


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
        plan = plan_for(size, task, s, model_id, tile_arg, overlap, quality=quality)
        provider = planned_provider() if engine == "kernel" else BROWSER_PROVIDERS.get(provider, provider)
    except (EnhanceError, ValueError) as exc:
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    missing = [p.model_id for p in plan.passes if not catalog().get(p.model_id).installed]
    if missing:  # a large model that is not on this machine: say so, and how to install it
        card = catalog().get(missing[0])
        message = f"{card.id} is not installed ({(card.size_bytes or 0) / 1e6:.0f} MB); {card.install_hint}"
        return {"error": {"type": "ModelNotFoundError", "message": message}}
    d = plan.summary()
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
        "seconds": round(plan.seconds, 2),
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
