from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
EVAL = MODELS / "eval"
EVAL_NAMES = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="session")
def eval_images() -> dict[str, np.ndarray]:
    return {n: np.asarray(Image.open(EVAL / f"{n}.png").convert("RGB")) for n in EVAL_NAMES}


@pytest.fixture(scope="session")
def small_rgb() -> np.ndarray:
    """A 48x40 crop of a real photo: fast to run through any model."""
    return np.asarray(Image.open(EVAL / "chelsea.png").convert("RGB"))[100:140, 100:148].copy()
