from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
if SHARED_MODELS.is_dir() and "ENHANCE_WIDGET_MODELS" not in os.environ:
    # large models (MAXIM, ~97 MB) are never committed; CI has them beside the checkout. Only the files
    # the checkout lacks are offered (links in a temporary folder): the shared folder also holds the
    # upstream conversions of shipped models (esrgan-slim before its exact fold), which would shadow them.
    _SHARED_ONLY = Path(tempfile.mkdtemp(prefix="enhance-widget-shared-models-"))
    atexit.register(shutil.rmtree, _SHARED_ONLY, True)
    for _f in sorted(SHARED_MODELS.glob("*.onnx")):
        if not (ROOT / "models" / _f.name).exists():
            (_SHARED_ONLY / _f.name).symlink_to(_f)
    os.environ["ENHANCE_WIDGET_MODELS"] = str(_SHARED_ONLY)
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
