"""Training photos: one compressed ``.npz`` the GPU machine can take, and seeded training pairs.

``prepare`` reads ``../shared/datasets/train-photos`` (BSDS500 train + test, Sun-Hays 80; never the
benchmark sets), refuses any photo that is a copy of a benchmark image (BSD100 / Set5 / Set14: by
file sha256 and by a 16x16 average hash, which survives resizing and re-encoding), resizes each by
``scale`` (Lanczos; also softens the source JPEG's artefacts, so targets are cleaner than the
inputs) and stores it as JPEG bytes.  Every ``val_every``-th photo is the validation split.

``pair(photos, index, seed, crop, kernel_fn)`` is the whole training sample, a pure function of its
arguments: photo, crop, flip/rotation, degradation all come from ``default_rng([seed, index])``, so
a run is the same whatever the number of data workers and wherever it resumes.

Usage::

    python -m training.data --out .deblur-data/photos.npz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
TRAIN_DIRS = ("train-photos/bsds500/train", "train-photos/bsds500/test", "train-photos/sun-hays80")
BENCHMARK_DIRS = ("sr-benchmark/BSD100", "sr-benchmark/Set5", "sr-benchmark/Set14")
NEAR_BITS = 6  # average hashes this close (of 256 bits) are the same photo


def ahash(im: Image.Image, n: int = 16) -> NDArray[np.bool_]:
    """n*n-bit average hash (n x n grey, thresholded at its mean)."""
    g = np.asarray(im.convert("L").resize((n, n), Image.Resampling.BOX), dtype=np.float32)
    return np.asarray(g > g.mean()).ravel()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def benchmark_fingerprints(datasets: Path = DATASETS) -> tuple[set[str], NDArray[np.bool_]]:
    """File digests and average hashes of every benchmark image."""
    files = [p for d in BENCHMARK_DIRS for p in sorted((datasets / d).glob("img_*.png"))]
    if not files:
        raise FileNotFoundError(f"no benchmark images under {datasets}: cannot check for overlap")
    return {sha256(p) for p in files}, np.stack([ahash(Image.open(p)) for p in files])


def overlaps_benchmark(
    path: Path, im: Image.Image, digests: set[str], hashes: NDArray[np.bool_]
) -> str | None:
    """Why ``path`` is a benchmark image (None when it is not)."""
    if sha256(path) in digests:
        return "same bytes as a benchmark image"
    bits = int((hashes != ahash(im)[None]).sum(1).min())
    return f"average hash {bits} bits from a benchmark image" if bits <= NEAR_BITS else None


def list_photos(datasets: Path = DATASETS) -> list[Path]:
    return [p for d in TRAIN_DIRS for p in sorted((datasets / d).glob("*.jpg"))]


def prepare(out: Path, scale: float = 0.8, quality: int = 92, val_every: int = 20) -> dict[str, object]:
    """Write the training ``.npz`` (JPEG bytes, offsets, names, split) and return its summary."""
    digests, hashes = benchmark_fingerprints()
    blobs: list[bytes] = []
    names: list[str] = []
    refused: list[str] = []
    for p in list_photos():
        im = Image.open(p).convert("RGB")
        why = overlaps_benchmark(p, im, digests, hashes)
        if why:
            refused.append(f"{p.relative_to(DATASETS)}: {why}")
            continue
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        blobs.append(buf.getvalue())
        names.append(str(p.relative_to(DATASETS)))
    val = np.zeros(len(names), dtype=bool)
    val[::val_every] = True
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8),
        offsets=offsets,
        names=np.array(names),
        val=val,
    )
    return {
        "photos": len(names),
        "val": int(val.sum()),
        "refused": refused,
        "bytes": out.stat().st_size,
        "sha256": sha256(out),
        "scale": scale,
        "quality": quality,
    }


def load(path: Path, split: str = "train") -> list[NDArray[np.uint8]]:
    """Decoded photos of one split ("train", "val" or "all")."""
    z = np.load(path)
    data, off, val = z["jpeg"], z["offsets"], z["val"]
    keep = {"train": ~val, "val": val, "all": np.ones_like(val)}[split]
    return [
        np.asarray(Image.open(io.BytesIO(data[off[i] : off[i + 1]].tobytes())).convert("RGB"))
        for i in np.flatnonzero(keep)
    ]


Degrader = Callable[[NDArray[np.uint8], np.random.Generator], NDArray[np.uint8]]


def pair(
    photos: list[NDArray[np.uint8]], index: int, seed: int, crop: int, degrader: Degrader, margin: int = 18
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Training sample ``index``: (degraded, clean) crops of ``crop`` px, uint8 HWC.

    The photo region is cropped with ``margin`` px on each side, flipped/rotated, degraded, and the
    centre kept, so the blur sees real image content past the crop's edges.
    """
    rng = np.random.default_rng([seed, index])
    img = photos[int(rng.integers(len(photos)))]
    side = crop + 2 * margin
    h, w = img.shape[:2]
    if h < side or w < side:
        raise ValueError(f"photo {h}x{w} is smaller than crop + 2 x margin = {side}")
    y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    region = img[y : y + side, x : x + side]
    region = np.rot90(region, int(rng.integers(4)))
    if rng.random() < 0.5:
        region = region[:, ::-1]
    region = np.ascontiguousarray(region)
    bad = degrader(region, rng)
    c = slice(margin, margin + crop)
    return np.ascontiguousarray(bad[c, c]), np.ascontiguousarray(region[c, c])


def fixed_pairs(
    photos: Iterable[NDArray[np.uint8]], seed: int, crop: int, degrader: Degrader
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """One centred crop of each photo, degraded with ``default_rng([seed, i])``: a validation set."""
    bads, cleans = [], []
    for i, img in enumerate(photos):
        h, w = img.shape[:2]
        s = min(crop, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        clean = np.ascontiguousarray(img[y : y + s, x : x + s])
        bads.append(degrader(clean, np.random.default_rng([seed, 10**6 + i])))
        cleans.append(clean)
    return np.stack(bads), np.stack(cleans)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", type=float, default=0.8)
    ap.add_argument("--quality", type=int, default=92)
    ap.add_argument("--val-every", type=int, default=20)
    a = ap.parse_args()
    print(json.dumps(prepare(a.out, a.scale, a.quality, a.val_every), indent=1))


if __name__ == "__main__":
    main()
