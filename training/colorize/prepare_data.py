"""Build the colorization training set: one compressed ``.npz`` of resized photos.

Sources (provenance and terms: ``card.json`` and ``/work/shared/datasets/README.md``):

* ``train-photos/bsds500/{train,test}`` (400 JPEG, 481x321) and ``train-photos/sun-hays80`` (80 JPEG);
* ``sr-benchmark/BSD100`` **img_021..img_100 only** (80 PNG).  img_001..img_020 are the project's
  held-out acceptance set: the script refuses them by name;
* ``sr-benchmark/Set5`` (5) and ``Set14`` (14, minus the non-photographs comic, flowers and ppt3);
* scikit-image's bundled colour photographs astronaut, chelsea, coffee, rocket (public domain / CC0);
* Debian bookworm packages (real photographs only, GPL-2+ / LGPL-3; see ``card.json``):
  ``mate-backgrounds`` ``nature/*.jpg`` (12) and 11 photographs of ``plasma-workspace-wallpapers``.
  Unpack them first (``--debian-dir``, see below);
* ImageNet sample images (``--imagenet-dir``, run 4): one photo per ImageNet-1k class, 1000 JPEG, from
  the public repository ``EliSchwartz/imagenet-sample-images`` at commit ``bc69043e2862...`` (no license
  file; ImageNet terms: non-commercial research and education).  Extract with
  ``git archive bc69043e2862758a1906c6a24a792bb28c6bb2ff | tar -x -C /tmp/imnet`` in a clone.

Debian packages::

      mkdir -p /tmp/debbg && cd /tmp/debbg && apt-get update && \
          apt-get download mate-backgrounds plasma-workspace-wallpapers && \
          for f in *.deb; do d=${f%%_*}; mkdir -p x/$d; dpkg-deb -x $f x/$d; done

Every photo is resized (Pillow LANCZOS) so that its short side is ``--short-side`` pixels (224),
re-encoded as JPEG (``--quality`` 85, 4:2:0; 224/85 keeps ~1,600 photos near 31 MB, which with the
repository fits the GPU machine's 64 MiB working-tree limit) and stored as raw bytes in a pickle-free ``.npz``.
Near-grey photos (Hasler-Suesstrunk colourfulness below ``--min-colourfulness``) are dropped.
Every ``--val-every``-th image of the ordered list is the internal validation split (used for
early stopping and for choosing the decoding parameters; never BSD100 img_001..020).

Usage::

    python training/colorize/prepare_data.py --out .colorize-data/train4-224.npz --val-source bsd100-021-100
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# The shared plumbing (training/data.py): the dataset folder, the average hash, the near-copy bound
# and the file digest are the deblur recipe's too.
from training.data import DATASETS as DS
from training.data import NEAR_BITS, ahash, sha256

SET14_NON_PHOTO = {"img_005.png", "img_007.png", "img_013.png"}  # comic, flowers, ppt3
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image in 0..255."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def is_heldout(p: Path) -> bool:
    m = re.fullmatch(r"img_(\d+)\.png", p.name)
    return "BSD100" in p.parts and (m is None or int(m.group(1)) <= 20)


IMAGENET_COMMIT = "bc69043e2862758a1906c6a24a792bb28c6bb2ff"


def bsd100_hashes(bsd_dir: Path = DS / "sr-benchmark" / "BSD100", n: int = 16) -> np.ndarray:
    """Average hashes (N, n*n) of all of BSD100 (held-out img_001..020 and calibration img_021..100)."""
    return np.stack([ahash(Image.open(p), n) for p in sorted(bsd_dir.glob("img_*.png"))])


def bits_from_nearest(im: Image.Image, hashes: np.ndarray) -> int:
    """Hamming distance from ``im``'s average hash (of the hashes' size) to the nearest of ``hashes``."""
    return int((hashes != ahash(im, round(hashes.shape[1] ** 0.5))[None]).sum(1).min())


def list_extra(extra_dir: Path) -> list[tuple[str, Path]]:
    """Photos gathered under ``extra_dir/<source>/*.jpg``; ``extra_dir/sources.tsv`` must name each source."""
    tsv = (extra_dir / "sources.tsv").read_text().splitlines()
    known = {line.split("\t")[0] for line in tsv[1:] if line.strip()}
    out: list[tuple[str, Path]] = []
    for d in sorted(p for p in extra_dir.iterdir() if p.is_dir()):
        if d.name not in known:
            raise SystemExit(f"{d} is not listed in {extra_dir / 'sources.tsv'}")
        out += [(f"extra-{d.name}", p) for p in sorted(d.glob("*.jpg"))]
    return out


def list_sources(
    debian_dir: Path, imagenet_dir: Path | None = None, extra_dir: Path | None = None
) -> list[tuple[str, Path]]:
    """(source tag, file) in a fixed order."""
    tp = DS / "train-photos"
    out = [("bsds500", p) for p in sorted((tp / "bsds500").rglob("*.jpg")) if "/val/" not in str(p)]
    out += [("sun-hays80", p) for p in sorted((tp / "sun-hays80").rglob("*.jpg"))]
    out += [("bsd100-021-100", DS / "sr-benchmark" / "BSD100" / f"img_{i:03d}.png") for i in range(21, 101)]
    out += [("set5", p) for p in sorted((DS / "sr-benchmark" / "Set5").glob("*.png"))]
    out += [
        ("set14", p)
        for p in sorted((DS / "sr-benchmark" / "Set14").glob("*.png"))
        if p.name not in SET14_NON_PHOTO
    ]
    try:
        import skimage

        sk = Path(skimage.__file__).parent / "data"
        out += [("skimage", sk / n) for n in SKIMAGE_PHOTOS if (sk / n).exists()]
    except ImportError:
        print("scikit-image missing: its photos are skipped")
    mate = debian_dir / "mate-backgrounds/usr/share/backgrounds/mate/nature"
    out += [("debian-mate-backgrounds", p) for p in sorted(mate.glob("*.jpg"))]
    wp = debian_dir / "plasma-workspace-wallpapers/usr/share/wallpapers"
    for n in PLASMA_PHOTOS:
        imgs = sorted((wp / n / "contents" / "images").glob("*"), key=lambda p: p.stat().st_size)
        if imgs:
            out.append(("debian-plasma-workspace-wallpapers", imgs[-1]))
    if not any(t.startswith("debian") for t, _ in out):
        print(f"no Debian wallpapers under {debian_dir}: skipped")
    if imagenet_dir is not None:
        imnet = sorted(imagenet_dir.glob("n*_*.JPEG"))
        if not imnet:
            raise SystemExit(f"no ImageNet sample images under {imagenet_dir}")
        out += [("imagenet-sample-images", p) for p in imnet]
    if extra_dir is not None:
        out += list_extra(extra_dir)
    bad = [str(p) for _, p in out if is_heldout(p)]
    if bad:
        raise SystemExit(f"refusing held-out images: {bad}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".colorize-data/train4-224.npz")
    ap.add_argument("--debian-dir", default="/tmp/debbg/x")
    ap.add_argument(
        "--imagenet-dir",
        default="/tmp/imnet",
        help=f"ImageNet sample images (commit {IMAGENET_COMMIT[:12]}); 'none' leaves them out",
    )
    ap.add_argument("--short-side", type=int, default=224)
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--val-every", type=int, default=12)
    ap.add_argument("--min-colourfulness", type=float, default=8.0)
    ap.add_argument(
        "--val-source",
        default="",
        help="make exactly this source the validation split (e.g. bsd100-021-100: BSD-like photos for "
        "early stopping and decoding calibration) instead of every --val-every-th photo",
    )
    ap.add_argument(
        "--extra-dir",
        default="none",
        help="more photos: <dir>/<source>/*.jpg with <dir>/sources.tsv (source, origin, license); "
        "any photo whose average hash is within 6 bits of a BSD100 image is dropped",
    )
    ap.add_argument(
        "--hash-size",
        type=int,
        default=16,
        help="side of the average hash for the BSD100 check (train6 for run 8 was built with 8, which "
        "also dropped 7 photos that were not copies)",
    )
    args = ap.parse_args()

    blobs: list[bytes] = []
    names: list[str] = []
    shapes: list[tuple[int, int]] = []
    dropped: list[str] = []
    counts: dict[str, int] = {}
    imnet = None if args.imagenet_dir == "none" else Path(args.imagenet_dir)
    extra = None if args.extra_dir == "none" else Path(args.extra_dir)
    bsd = bsd100_hashes(n=args.hash_size) if extra is not None else None
    for tag, p in list_sources(Path(args.debian_dir), imnet, extra):
        sub = f"{p.parents[2].name}/" if tag.startswith("debian-plasma") else ""
        rel = f"{tag}/{sub}{p.name}"
        im = Image.open(p).convert("RGB")
        if bsd is not None and tag.startswith("extra-"):
            near = bits_from_nearest(im, bsd)
            if near <= NEAR_BITS:
                dropped.append(f"{rel} (average hash {near} bits from a BSD100 image)")
                continue
        w, h = im.size
        s = args.short_side / min(w, h)
        nw, nh = max(args.short_side, round(w * s)), max(args.short_side, round(h * s))
        im = im.resize((nw, nh), Image.Resampling.LANCZOS)
        cf = colourfulness(np.asarray(im))
        if cf < args.min_colourfulness:
            dropped.append(f"{rel} (colourfulness {cf:.1f})")
            continue
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=args.quality, subsampling=2, optimize=True)
        blobs.append(buf.getvalue())
        names.append(rel)
        shapes.append((nh, nw))
        counts[tag] = counts.get(tag, 0) + 1

    n = len(blobs)
    val_mask = np.zeros(n, dtype=bool)
    if args.val_source:
        val_mask[:] = [nm.startswith(args.val_source + "/") for nm in names]
        if not val_mask.any():
            raise SystemExit(f"no photos from source {args.val_source!r}")
    else:
        val_mask[args.val_every // 2 :: args.val_every] = True
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8),
        offsets=offsets,
        shapes=np.asarray(shapes, dtype=np.int32),
        names=np.asarray(names),
        is_val=val_mask,
    )
    info = {
        "file": str(out),
        "bytes": out.stat().st_size,
        "sha256": sha256(out),
        "images": n,
        "train": int((~val_mask).sum()),
        "val": int(val_mask.sum()),
        "per_source": counts,
        "val_names": [nm for nm, v in zip(names, val_mask) if v],
        "dropped": dropped,
        "short_side": args.short_side,
        "jpeg_quality": args.quality,
    }
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: v for k, v in info.items() if k != "val_names"}, indent=1))


if __name__ == "__main__":
    main()
