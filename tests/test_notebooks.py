"""The research notebooks are saved executed, small, and listed; CI executes them with nbval.

Executing them is nbval's job (``pytest --nbval-lax notebooks/0[2-9]*.ipynb``); this checks what a
reader of the repository sees without running anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
RESEARCH = sorted(p for p in NOTEBOOKS.glob("0*.ipynb") if not p.name.startswith("01_"))
MAX_BYTES = 300 * 1024


def test_the_research_notebooks_exist() -> None:
    assert [p.name[:3] for p in RESEARCH] == ["02_", "03_", "04_", "05_", "06_", "07_", "08_", "09_"]


@pytest.mark.parametrize("path", RESEARCH, ids=lambda p: p.name)
def test_notebook_is_saved_executed_and_small(path: Path) -> None:
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes; keep figures small"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), "save the notebook executed, in order"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), "cells were run out of order"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    figures = [o for c in code for o in c["outputs"] if {"image/png", "image/jpeg"} & set(o.get("data", {}))]
    assert figures, f"{path.name} shows no figure"
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")


def test_every_notebook_is_listed_in_the_readme() -> None:
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        assert f"({path.name})" in readme, f"{path.name} is missing from notebooks/README.md"
