"""The colorize recipe's training-set guards (training/colorize/prepare_data.py): extra photo
folders must be declared in sources.tsv, and a photo that is a copy of a BSD100 image (held-out or
calibration) is recognised by its average hash even after resizing and JPEG re-encoding."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BSD100 = ROOT.parent / "shared" / "datasets" / "sr-benchmark" / "BSD100"
sys.path.insert(0, str(ROOT / "training" / "colorize"))
from prepare_data import NEAR_BITS, bits_from_nearest, bsd100_hashes, list_extra  # noqa: E402

needs_bsd = pytest.mark.skipif(not BSD100.is_dir(), reason=f"BSD100 not found at {BSD100}")


def _reencoded(p: Path, short: int, quality: int) -> Image.Image:
    im = Image.open(p).convert("RGB")
    s = short / min(im.size)
    im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


@needs_bsd
def test_copies_of_bsd100_photos_are_recognised() -> None:
    hashes = bsd100_hashes(BSD100)
    assert hashes.shape == (100, 256)
    for name in ("img_001.png", "img_013.png", "img_050.png"):
        assert bits_from_nearest(_reencoded(BSD100 / name, 224, 75), hashes) <= NEAR_BITS


@needs_bsd
def test_other_photos_are_not_taken_for_bsd100() -> None:
    hashes = bsd100_hashes(BSD100)
    set14 = BSD100.parent / "Set14"
    far = [bits_from_nearest(Image.open(p), hashes) for p in sorted(set14.glob("*.png"))]
    assert min(far) > NEAR_BITS
    flat = Image.fromarray(np.full((64, 96, 3), 128, np.uint8))
    assert bits_from_nearest(flat, hashes) > NEAR_BITS


def test_extra_sources_must_be_declared(tmp_path: Path) -> None:
    (tmp_path / "sources.tsv").write_text("source_name\trepository\nkodak\tgithub:x/y\n")
    for d in ("kodak",):
        (tmp_path / d).mkdir()
        Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / d / "a.jpg")
    assert [(t, p.name) for t, p in list_extra(tmp_path)] == [("extra-kodak", "a.jpg")]
    (tmp_path / "undeclared").mkdir()
    with pytest.raises(SystemExit, match="undeclared is not listed"):
        list_extra(tmp_path)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_gathered_photos_are_resized_and_small_grey_or_broken_ones_dropped() -> None:
    from gather_extra import prepare

    rng = np.random.default_rng(0)
    colour = np.zeros((600, 900, 3), np.uint8)
    colour[..., 0] = 200
    colour[..., 2] = rng.integers(0, 255, (600, 900), dtype=np.uint8)
    kept = prepare(_png(colour))
    assert kept is not None
    im = Image.open(io.BytesIO(kept))
    assert im.format == "JPEG" and im.size == (672, 448)  # short side 448, aspect kept
    assert prepare(_png(colour[:100, :300])) is None  # short side under 128
    grey = np.repeat(rng.integers(0, 255, (300, 300, 1), dtype=np.uint8), 3, axis=2)
    assert prepare(_png(grey)) is None  # no chroma
    assert prepare(b"GIF89a not really an image") is None
