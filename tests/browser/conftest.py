"""Module-scoped fixtures of the browser-engine tests: each test module gets its own JupyterLab server
and Chromium page (test_widget_lab.py defines its own ``lab``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .engine_page import engine_lab, engine_page
from .lab import LabServer, NetworkLog


def _module(request: pytest.FixtureRequest) -> str:
    return str(request.module.__name__).rsplit(".", 1)[-1]


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    yield from engine_lab(tmp_path_factory, f"lab-{_module(request)}")


@pytest.fixture(scope="module")
def page(request: pytest.FixtureRequest, lab: LabServer) -> Iterator[tuple[Any, NetworkLog, list[str]]]:
    yield from engine_page(lab, f"{_module(request)}-failure.png")
