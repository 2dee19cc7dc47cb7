"""The quickstart notebook runs top to bottom in a plain kernel and shows the widget."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.slow
def test_quickstart_notebook_runs_and_shows_the_widget(tmp_path: Path) -> None:
    nb_path = tmp_path / "01_quickstart.ipynb"
    shutil.copyfile(REPO / "notebooks" / "01_quickstart.ipynb", nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1 and views[0]["data"][WIDGET_VIEW]["model_id"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "press Run" in text
    assert (tmp_path / "sample.png").is_file(), "the notebook works on a copy beside itself"
