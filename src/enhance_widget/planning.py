"""The plan: what a run will do and cost, computed before anything runs. Pure Python.

A plan lists its passes (a chained x4 is two passes of an x2 model), each with its tile grid,
and estimates memory (bytes) and time (seconds) from the cards' measured cost figures. The
widget shows it before Run; the kernel engine and the browser engine both execute it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .catalog import BROWSER_FACTOR, BROWSER_RUN_S, ModelCard, catalog
from .costs import FLOAT_BYTES as FLOAT_BYTES  # re-exported: the cost model's home is costs.py
from .costs import OUTPUT_BYTES_PER_PX as OUTPUT_BYTES_PER_PX
from .costs import call_seconds as call_seconds
from .costs import pass_memory as pass_memory
from .costs import row_overlap as row_overlap
from .costs import tile_memory as tile_memory
from .progress import Box
from .tiling import TilingStrategy, axis_starts, core_bounds, strategy_for

DEFAULT_OVERLAP = 16
DEFAULT_BUDGET_CAP = 2 * 1024**3
TILE_WORKING_CAP = 256 * 1024**2
"""Auto tiling keeps one tile's working memory under this (unless the whole image is one tile):
bigger tiles multiply peak memory but barely speed up (overlap costs (t / (t - o))^2: 1.14 at
256 px, 1.07 at 512 px with 16 px of overlap)."""
BROWSER_TILE_S = 1.0
"""Auto tiles for the browser engine keep one model call's estimated time under this: the page
paints a first tile and stops on Cancel within about this long (a WASM call cannot be interrupted,
and it runs on one thread, about 12x slower than the kernel engine). The price is overlap: 128-px
tiles compute (128 / 112)^2 = 1.31x the pixels against 1.14x for 256-px tiles."""


@dataclass(frozen=True)
class TilePlan:
    """One tile: boxes, the padded size fed to the model, and the overlap bands (output px)."""

    index: int
    pass_index: int
    in_box: Box
    out_box: Box
    core_box: Box
    padded: tuple[int, int]
    bands: tuple[int, int, int, int]
    """Overlap with the neighbours in output pixels: left, top, right, bottom."""


@dataclass(frozen=True)
class PassPlan:
    pass_index: int
    model_id: str
    scale: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    tile: tuple[int, int]
    overlap: int
    grid: tuple[int, int]
    tiles: tuple[TilePlan, ...]
    memory_bytes: int
    seconds: float


@dataclass(frozen=True)
class Plan:
    task: str
    model_id: str
    scale: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    strategy: str
    overlap: int
    passes: tuple[PassPlan, ...]
    memory_bytes: int
    budget_bytes: int
    available_bytes: int | None
    seconds: float
    tta: bool = False
    quality: str = "balanced"
    cards: tuple[ModelCard, ...] = field(default=(), compare=False, repr=False)
    """The single-pass model cards the passes run, in order (not part of ``to_dict``)."""

    @property
    def total_tiles(self) -> int:
        return sum(len(p.tiles) for p in self.passes)

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.budget_bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (sent to the widget and the browser engine, stored in records)."""
        d = asdict(replace(self, cards=()))
        del d["cards"]
        d["total_tiles"] = self.total_tiles
        d["fits"] = self.fits
        return d

    def summary(self) -> dict[str, Any]:
        """The plan without the per-tile list (for records and displays)."""
        d = self.to_dict()
        for p in d["passes"]:
            p["tiles"] = len(p["tiles"])
        return d


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, or None where that does not exist."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def default_budget() -> int:
    env = os.environ.get("ENHANCE_WIDGET_MEMORY_BUDGET")
    if env:
        return int(env)
    avail = available_memory()
    return min(DEFAULT_BUDGET_CAP, avail // 2) if avail else DEFAULT_BUDGET_CAP


def _axis(length: int, tile: int, overlap: int) -> tuple[list[int], list[tuple[int, int]], int]:
    tile = min(tile, length)
    starts = axis_starts(length, tile, overlap)
    return starts, core_bounds(starts, tile, length), tile


def plan_pass(
    card: ModelCard,
    pass_index: int,
    first_index: int,
    in_size: tuple[int, int],
    strategy: TilingStrategy,
    overlap: int,
    budget: int,
    last: bool = False,
    call_seconds_cap: float | None = None,
) -> PassPlan:
    w, h = in_size
    rule = card.size_rule
    s = card.scale

    def fits(tile: int) -> bool:
        pw, ph = rule.fit(min(tile, w)), rule.fit(min(tile, h))
        if tile < max(w, h) and tile_memory(card, pw, ph) > TILE_WORKING_CAP:
            return False
        if call_seconds_cap is not None and call_seconds(card, pw, ph, "browser") > call_seconds_cap:
            return False
        rows = row_overlap(h, tile, overlap)
        return pass_memory(card, in_size, (pw, ph), last, rows, budget) <= budget

    if card.pipeline == "global-lab":
        return _plan_global(card, pass_index, first_index, in_size)
    side = strategy.tile_size(w, h, card, fits)
    if not card.tiling:
        side = max(w, h)
    xs, xcores, tw = _axis(w, side, overlap)
    ys, ycores, th = _axis(h, side, overlap)
    padded = (rule.fit(tw), rule.fit(th))
    tiles: list[TilePlan] = []
    for j, (y0, (cy0, cy1)) in enumerate(zip(ys, ycores, strict=True)):
        for i, (x0, (cx0, cx1)) in enumerate(zip(xs, xcores, strict=True)):
            x1, y1 = x0 + tw, y0 + th
            left = (xs[i - 1] + tw - x0) * s if i > 0 else 0
            right = (x1 - xs[i + 1]) * s if i + 1 < len(xs) else 0
            top = (ys[j - 1] + th - y0) * s if j > 0 else 0
            bottom = (y1 - ys[j + 1]) * s if j + 1 < len(ys) else 0
            tiles.append(
                TilePlan(
                    index=first_index + len(tiles),
                    pass_index=pass_index,
                    in_box=(x0, y0, x1, y1),
                    out_box=(x0 * s, y0 * s, x1 * s, y1 * s),
                    core_box=(cx0 * s, cy0 * s, cx1 * s, cy1 * s),
                    padded=padded,
                    bands=(left, top, right, bottom),
                )
            )
    seconds = card.cost.ms_per_mpx * len(tiles) * padded[0] * padded[1] / 1e9
    return PassPlan(
        pass_index=pass_index,
        model_id=card.id,
        scale=s,
        in_size=in_size,
        out_size=(w * s, h * s),
        tile=(tw, th),
        overlap=overlap,
        grid=(len(xs), len(ys)),
        tiles=tuple(tiles),
        memory_bytes=pass_memory(card, in_size, padded, last, row_overlap(h, side, overlap), budget),
        seconds=seconds,
    )


def working_shape(size: tuple[int, int], short_side: int, multiple: int) -> tuple[int, int]:
    """(w, h) with the short side near ``short_side``, aspect kept, each a multiple of ``multiple``."""
    w, h = size
    k = short_side / min(w, h)
    return (
        max(multiple, round(w * k / multiple) * multiple),
        max(multiple, round(h * k / multiple) * multiple),
    )


def _plan_global(card: ModelCard, pass_index: int, first_index: int, in_size: tuple[int, int]) -> PassPlan:
    """One model call on the whole image at the card's working size (no tiles: global context)."""
    w, h = in_size
    work = working_shape(in_size, card.working_size or 256, card.size_rule.multiple_of)
    tile = TilePlan(
        index=first_index,
        pass_index=pass_index,
        in_box=(0, 0, w, h),
        out_box=(0, 0, w, h),
        core_box=(0, 0, w, h),
        padded=work,
        bands=(0, 0, 0, 0),
    )
    full = w * h * 4 * 12  # float64 Lab planes and float32 RGB at full size
    return PassPlan(
        pass_index=pass_index,
        model_id=card.id,
        scale=1,
        in_size=in_size,
        out_size=in_size,
        tile=work,
        overlap=0,
        grid=(1, 1),
        tiles=(tile,),
        memory_bytes=full + 2 * (card.size_bytes or 0) + tile_memory(card, *work),
        seconds=card.cost.ms_per_mpx * work[0] * work[1] / 1e9,
    )


def make_plan(
    in_size: tuple[int, int],
    card: ModelCard,
    pass_cards: list[ModelCard],
    tile: int | str | None = "auto",
    overlap: int = DEFAULT_OVERLAP,
    budget: int | None = None,
    tta: bool = False,
    quality: str = "balanced",
    engine: str = "kernel",
) -> Plan:
    """Plan a run of ``card`` (whose single-pass cards are ``pass_cards``) on an image.

    With ``tta`` every tile runs 8 times (flips and rotations), which the time estimate shows.
    ``engine="browser"``: auto tiles also keep one model call under :data:`BROWSER_TILE_S`.
    """
    w, h = in_size
    if w < 1 or h < 1:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    budget = default_budget() if budget is None else budget
    strategy = strategy_for(tile)
    passes: list[PassPlan] = []
    size = in_size
    first = 0
    for k, pc in enumerate(pass_cards):
        cap = BROWSER_TILE_S if engine == "browser" else None
        p = plan_pass(pc, k, first, size, strategy, overlap, budget, k == len(pass_cards) - 1, cap)
        passes.append(p)
        first += len(p.tiles)
        size = p.out_size
    # a chain keeps the previous pass's output alive while the next pass runs
    memory = max(p.memory_bytes for p in passes)
    load = sum(pc.cost.load_ms for pc in {c.id: c for c in pass_cards}.values()) / 1000
    return Plan(
        task=card.task,
        model_id=card.id,
        scale=card.scale,
        in_size=in_size,
        out_size=size,
        strategy="global" if card.pipeline == "global-lab" else strategy.name,
        overlap=overlap,
        passes=tuple(passes),
        memory_bytes=memory,
        budget_bytes=budget,
        available_bytes=available_memory(),
        seconds=sum(p.seconds for p in passes) * (8 if tta else 1) + load,
        tta=tta,
        quality=quality,
        cards=tuple(pass_cards),
    )


def engine_seconds(plan: Plan, engine: str) -> float:
    """The plan's time estimate on ``engine``: ``plan.seconds`` for the kernel engine; for the
    browser engine (onnxruntime-web, WASM) each pass scaled by its model's measured browser cost,
    and the browser's load (model bytes to the page, session) instead of the kernel's, plus what
    every browser run costs besides the model (:data:`~enhance_widget.catalog.BROWSER_RUN_S`)."""
    if engine != "browser" or not plan.cards:
        return plan.seconds
    unique = {c.id: c for c in plan.cards}.values()
    compute = sum(p.seconds * c.cost.browser_factor for p, c in zip(plan.passes, plan.cards, strict=True))
    load = sum(
        (c.cost.browser_load_ms if c.cost.browser_load_ms is not None else c.cost.load_ms * BROWSER_FACTOR)
        for c in unique
    )
    return compute * (8 if plan.tta else 1) + load / 1000 + BROWSER_RUN_S


# --- model choice: the one place that turns (task, scale, model, quality) into cards and a plan ----


def default_scale(task: str, scale: int | None) -> int | None:
    """Upscale defaults to x4; the other tasks have no scale."""
    if task == "upscale":
        return 4 if scale is None else scale
    return None


def choose_model(
    task: str, scale: int | None, model: str | None, quality: str = "balanced"
) -> tuple[ModelCard, bool]:
    """The card to run and whether to use test-time augmentation.

    An explicit ``model`` wins (``best`` then only adds TTA); otherwise the quality mode picks.
    Both engines, the widget and the CLI choose through this function.
    """
    from .errors import ModelNotFoundError

    cat = catalog()
    if model is None:
        mode = cat.for_quality(task, scale if task == "upscale" else None, quality)
        return cat.get(mode.model_id), mode.tta
    card = cat.get(model)
    if card.task != task:
        raise ModelNotFoundError(f"model {model!r} is a {card.task} model, not {task}")
    if scale is not None and task == "upscale" and card.scale != scale:
        raise ModelNotFoundError(f"model {model!r} upscales x{card.scale}, not x{scale}")
    return card, quality == "best"


def plan_for(
    size: tuple[int, int],
    task: str = "upscale",
    scale: int | None = None,
    model: str | None = None,
    tile: int | str | None = "auto",
    overlap: int = DEFAULT_OVERLAP,
    budget: int | None = None,
    quality: str = "balanced",
    engine: str = "kernel",
) -> Plan:
    """The plan a run would follow (cheap; nothing is loaded or run); it carries its cards.

    ``engine``: ``"kernel"`` or ``"browser"`` (the browser engine gets smaller auto tiles).
    """
    scale = default_scale(task, scale)
    card, tta = choose_model(task, scale, model, quality)
    chain = catalog().resolve_chain(card)
    return make_plan(size, card, chain, tile, overlap, budget, tta, quality, engine)
