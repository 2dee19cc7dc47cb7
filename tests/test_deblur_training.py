"""The training plumbing (training/): degradations, seeded training pairs, the benchmark overlap guard.

numpy and Pillow only: CI installs no torch."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from training import data, degrade

from .conftest import ROOT

SR = ROOT.parent / "shared" / "datasets" / "sr-benchmark"
needs_sr = pytest.mark.skipif(not (SR / "BSD100").is_dir(), reason=f"benchmark sets not found at {SR}")


def photo(h: int = 96, w: int = 112, seed: int = 0) -> np.ndarray:
    """A smooth synthetic photo with edges (uint8 RGB)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.stack([128 + 60 * np.sin(x / (5 + 3 * c) + c) * np.cos(y / 7) for c in range(3)], -1)
    img[h // 3 : h // 2, w // 4 : w // 2] = 230
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(12))
def test_random_kernels_are_normalised_odd_and_centred(seed: int) -> None:
    kind, k = degrade.random_kernel(np.random.default_rng(seed))
    assert kind in degrade.KIND_P
    if k is None:
        assert kind == "none"
        return
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert abs(k.sum() - 1.0) < 1e-12 and k.min() >= 0
    assert max(k.shape) <= 2 * degrade.MOTION_LENGTH[1] + 3
    # the centre of mass stays within a pixel of the kernel centre (no image shift)
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    assert abs((yy * k).sum() - k.shape[0] // 2) <= 1.0 and abs((xx * k).sum() - k.shape[1] // 2) <= 1.0


def test_kernel_families_follow_their_parameters() -> None:
    rng = np.random.default_rng(3)
    for length in (5.0, 17.0, 31.0):
        k = degrade.motion_kernel(rng, length)
        extent = np.argwhere(k > 0)
        span = np.hypot(*(extent.max(0) - extent.min(0)))
        assert 0.3 * length <= span <= length + 2.5  # a trajectory of that arc length
    d = degrade.disc_kernel(3.0)
    assert d.shape == (7, 7) and d[3, 3] == d.max() and d[0, 0] == 0
    g = degrade.gaussian_kernel(2.0)
    assert g.shape == (15, 15)
    var = (np.arange(-7, 8) ** 2 * g.sum(0)).sum()
    assert abs(var - 4.0) < 0.05
    assert np.array_equal(degrade.line_kernel(9), np.full((1, 9), 1 / 9))
    assert degrade.line_kernel(8, 90.0).shape == (9, 1)
    assert degrade.box_kernel(5).shape == (5, 5)
    for bad in (
        lambda: degrade.disc_kernel(0),
        lambda: degrade.box_kernel(4),
        lambda: degrade.motion_kernel(rng, -1),
    ):
        with pytest.raises(ValueError):
            bad()


def test_blur_matches_direct_convolution_with_edge_borders() -> None:
    img = photo(20, 24)
    k = degrade.motion_kernel(np.random.default_rng(5), 7.0)
    got = degrade.blur(img, k)
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    p = np.pad(img.astype(np.float64), ((ph, ph), (pw, pw), (0, 0)), mode="edge")
    want = np.zeros_like(got)
    flipped = k[::-1, ::-1]  # convolution, not correlation
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            want += flipped[i, j] * p[i : i + 20, j : j + 24]
    assert np.abs(got - want).max() < 1e-9
    # a box blur of a constant image is the same constant
    flat = np.full((16, 16, 3), 77, np.uint8)
    assert np.array_equal(degrade.blur_uint8(flat, degrade.box_kernel(5)), flat)
    with pytest.raises(ValueError, match="odd"):
        degrade.blur(img, np.ones((2, 2)) / 4)


def test_degrade_is_deterministic_with_its_seed_and_keeps_shape() -> None:
    img = photo()
    a, da = degrade.degrade(img, np.random.default_rng(42))
    b, db = degrade.degrade(img, np.random.default_rng(42))
    c, _ = degrade.degrade(img, np.random.default_rng(43))
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and da == db
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="uint8"):
        degrade.degrade(img.astype(np.float32), np.random.default_rng(0))


def test_degrade_blur_only_and_noise_jpeg_paths() -> None:
    img = photo()
    k = degrade.gaussian_kernel(1.5)
    only, d = degrade.degrade(img, np.random.default_rng(1), kernel=k, clean_p=1.0)
    assert d.jpeg_quality is None and d.read_sigma == 0
    assert np.array_equal(only, degrade.blur_uint8(img, k))
    # the full path adds noise (and JPEG most of the time): never the bare blur
    qualities = []
    for s in range(10):
        out, d = degrade.degrade(img, np.random.default_rng(s), kernel=k)
        assert not np.array_equal(out, only)
        assert np.abs(out.astype(int) - only).mean() < 10  # mild noise + JPEG (4:2:0 chroma)
        qualities.append(d.jpeg_quality)
    assert any(q is not None and 60 <= q <= 95 for q in qualities)


def test_benchmark_kernels_are_fixed() -> None:
    ks = degrade.benchmark_kernels()
    assert list(ks) == ["box-h9", "motion-a", "motion-b", "motion-c", "gaussian-s2", "defocus-r3"]
    assert all(abs(k.sum() - 1) < 1e-12 for k in ks.values())
    assert {n: k.shape for n, k in ks.items()} == {
        "box-h9": (1, 9),
        "motion-a": (7, 9),
        "motion-b": (13, 17),
        "motion-c": (15, 23),
        "gaussian-s2": (15, 15),
        "defocus-r3": (7, 7),
    }
    again = degrade.benchmark_kernels()
    assert all(np.array_equal(ks[n], again[n]) for n in ks)


def test_training_pairs_are_a_function_of_seed_and_index() -> None:
    photos = [photo(120, 130, s) for s in range(3)]

    def deg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return degrade.degrade(img, rng)[0]

    a = data.pair(photos, 7, 0, 64, deg)
    b = data.pair(photos, 7, 0, 64, deg)
    c = data.pair(photos, 8, 0, 64, deg)
    assert a[0].shape == a[1].shape == (64, 64, 3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError, match="smaller"):
        data.pair([photo(50, 50)], 0, 0, 64, deg)


def test_npz_round_trip_and_split(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "p.npz"
    blobs = []
    for s in range(5):
        buf = io.BytesIO()
        Image.fromarray(photo(40, 48, s)).save(buf, format="PNG")
        blobs.append(buf.getvalue())
    off = np.cumsum([0] + [len(b) for b in blobs])
    val = np.array([True, False, False, False, False])
    np.savez(
        out,
        jpeg=np.frombuffer(b"".join(blobs), np.uint8),
        offsets=off,
        names=np.array(list("abcde")),
        val=val,
    )
    assert len(data.load(out, "train")) == 4 and len(data.load(out, "val")) == 1
    assert np.array_equal(data.load(out, "val")[0], photo(40, 48, 0))


@needs_sr
def test_benchmark_photos_are_recognised_even_resized_and_reencoded(tmp_path: object) -> None:
    from pathlib import Path

    digests, hashes = data.benchmark_fingerprints()
    assert len(digests) == 100 + 5 + 14
    src = SR / "BSD100" / "img_007.png"
    im = Image.open(src).convert("RGB")
    assert data.overlaps_benchmark(src, im, digests, hashes) == "same bytes as a benchmark image"
    small = im.resize((im.width * 4 // 5, im.height * 4 // 5), Image.Resampling.LANCZOS)
    copy = Path(str(tmp_path)) / "copy.jpg"
    small.save(copy, quality=85)
    why = data.overlaps_benchmark(copy, Image.open(copy), digests, hashes)
    assert why is not None and "average hash" in why
    other = Path(str(tmp_path)) / "other.png"
    Image.fromarray(photo(200, 300)).save(other)
    assert data.overlaps_benchmark(other, Image.open(other), digests, hashes) is None


@needs_sr
def test_no_training_photo_is_a_benchmark_photo() -> None:
    train = data.list_photos()
    if not train:
        pytest.skip("train-photos not found")
    digests, hashes = data.benchmark_fingerprints()
    hits = [p.name for p in train if data.overlaps_benchmark(p, Image.open(p), digests, hashes)]
    assert len(train) == 480 and hits == []
