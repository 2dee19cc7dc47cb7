"""The table of ``browser_responsiveness.py``: its rows (median, max, goal, what bounds each figure)
from the measured tries, the machine line, and printing them.

A sibling module of the benchmark (``python benchmarks/<name>.py`` puts this folder first on
``sys.path``).
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path
from typing import Any

GOALS_MS = {"first_tile": 1000.0, "cancel": 250.0}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _row(
    engine: str, figure: str, values: list[float], goal: str, load: list[float], note: str
) -> dict[str, Any]:
    return {
        "engine": engine,
        "figure": figure,
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
        "goal": goal,
        "load": "–".join(f"{v:.1f}" for v in load),
        "note": note,
    }


def _tile_gap(tries: list[dict[str, Any]]) -> float | None:
    """Median time between two painted tiles (one tile's wall time in that engine)."""
    gaps = [
        b - a for t in tries for a, b in zip(t["tile_painted_ms"], t["tile_painted_ms"][1:], strict=False)
    ]
    return _median(gaps)


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f} ms"


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    first_goal, cancel_goal = f"<= {GOALS_MS['first_tile']:.0f} ms", f"<= {GOALS_MS['cancel']:.0f} ms"
    for r in results:
        kernel = r["engine"] == "kernel"
        engine = "kernel (JupyterLab)" if kernel else "browser (JupyterLite, wasm)"
        first, cancel = r["first_tile"], r["cancel"]
        every = [first["cold"], *first["tries"]]
        gap, gap_best = _tile_gap(every), _tile_gap(cancel["tries"])
        cold_note = (
            "the model is read, verified, loaded"
            if kernel
            else "the page gets the worker, onnxruntime-web's WASM and the model"
        )
        out.append(
            _row(
                engine,
                "Run to first painted tile, cold (first run)",
                [every[0]["first_tile_ms"]],
                "",
                first["load"],
                cold_note,
            )
        )
        setting = str(r.get("first_tile_setting", "256"))
        tiles = f"{setting}-px tiles" if setting.isdigit() else f"{setting} tiles"
        if first["tries"]:
            call = _median(r.get("tile_call_ms", []))
            note = (
                f"the tile's model call alone: {_ms(call)} (same kernel, interleaved)"
                if kernel
                else f"a tile takes {_ms(gap)} in the worker (between painted tiles)"
            )
            out.append(
                _row(
                    engine,
                    f"Run to first painted tile ({tiles}, balanced)",
                    [t["first_tile_ms"] for t in first["tries"]],
                    first_goal,
                    first["load"],
                    note,
                )
            )
        for tries, figure, load, in_flight in (
            (
                cancel["tries"],
                "64-px tiles, best: 8 calls a tile",
                cancel["load"],
                f"the WASM call in flight (1 of the 8 of a tile; a tile takes {_ms(gap_best)})",
            ),
            (
                every,
                f"{tiles}, balanced, just after the first tile",
                first["load"],
                f"the WASM call in flight (a whole tile: {_ms(gap)})",
            ),
        ):
            if not tries:
                continue
            ack = _median([t["cancel_ack_ms"] for t in tries if t["cancel_ack_ms"] is not None])
            then = "onnxruntime's call is terminated" if kernel else in_flight
            out.append(
                _row(
                    engine,
                    f"Cancel to stopped ({figure})",
                    [t["cancel_ms"] for t in tries],
                    cancel_goal,
                    load,
                    f"the kernel says cancelling after {_ms(ack)}; then {then}",
                )
            )
    return out


def print_report(
    table: list[dict[str, Any]], results: list[dict[str, Any]], size: int, seconds: float
) -> None:
    """The table (markdown) and each engine's plans, on stdout."""
    print(f"\nMachine: {machine()}; {size}x{size} photo, x4 with the default model; {seconds:.0f} s in all\n")
    print("| engine | figure | median (ms) | max (ms) | N | goal | load average (1 min) | what bounds it |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        print(
            f"| {row['engine']} | {row['figure']} | {row['median']:.0f} | {row['max']:.0f} | {row['n']} "
            f"| {row['goal']} | {row['load']} | {row['note']} |"
        )
    for r in results:
        print(
            f"\n{r['engine']}: [model, tiles, tta, engine, provider] first tile {r['first_plan']}, "
            f"cancel {r['cancel_plan']}"
            + (f"; WebGPU adapter in the page: {r['webgpu_adapter']}" if "webgpu_adapter" in r else "")
        )
