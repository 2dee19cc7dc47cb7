from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
if SHARED_MODELS.is_dir() and "ENHANCE_WIDGET_MODELS" not in os.environ:
    # large models (MAXIM, ~97 MB) are never committed; CI has them beside the checkout
    os.environ["ENHANCE_WIDGET_MODELS"] = str(SHARED_MODELS)
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


@pytest.fixture
def chain_x4() -> Iterator[str]:
    """A test-only x4 chain: span-x2 applied twice. No shipped default is a chain any more (SPAN x4 is
    native), but the engine still runs chains (``idealo-psnr-small-x4`` when its file is built)."""
    from enhance_widget.catalog import ModelCard, catalog

    cat = catalog()
    card = ModelCard(
        id="test-span-x2-twice", task="upscale", scale=4, chain=("span-x2", "span-x2"), license="Apache-2.0"
    )
    cat.add(card)
    yield card.id
    with cat._lock:
        cat._cards.pop(card.id, None)
