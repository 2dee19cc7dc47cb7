"""Build the colorization training set: one compressed ``.npz`` of resized photos.

Sources (see ``/work/shared/datasets/README.md`` for provenance and terms):

* ``train-photos/bsds500/train`` and ``train-photos/bsds500/test`` (400 JPEG, 481x321)
* ``train-photos/sun-hays80`` (80 JPEG, long side 512)

``sr-benchmark/BSD100`` (== BSDS500 ``val``) is the project's held-out acceptance set and is
never read here; the script refuses any path under ``sr-benchmark``.

Every photo is resized (Pillow LANCZOS) so that its short side is ``--short-side`` pixels (256),
then re-encoded as JPEG (quality 90, 4:2:0) and stored as raw bytes inside the ``.npz`` (no pickle):
raw uint8 pixels would be ~140 MB, JPEG bytes are ~13 MB.  4:2:0 halves chroma resolution, which
matches the model, whose colour output is predicted at half resolution anyway.  Near-grey photos (Hasler-Suesstrunk
colourfulness below ``--min-colourfulness``) are dropped, since they only teach the model to
output grey.  A deterministic held-out split (every ``--val-every``-th image of the sorted list)
is recorded for per-epoch validation during training.

Usage::

    python models/recipes/colorize/prepare_data.py \
        --src /work/shared/datasets/train-photos --out .colorize-data/train-256.npz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image in 0..255."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default="/work/shared/datasets/train-photos")
    ap.add_argument("--out", default=".colorize-data/train-256.npz")
    ap.add_argument("--short-side", type=int, default=256)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--val-every", type=int, default=20)
    ap.add_argument("--min-colourfulness", type=float, default=8.0)
    args = ap.parse_args()

    src = Path(args.src).resolve()
    if "sr-benchmark" in str(src):
        raise SystemExit("refusing to read the held-out benchmark sets")
    files = sorted([p for p in src.rglob("*.jpg") if "sr-benchmark" not in str(p) and "/val/" not in str(p)])
    if not files:
        raise SystemExit(f"no images under {src}")

    blobs: list[bytes] = []
    names: list[str] = []
    shapes: list[tuple[int, int]] = []
    dropped: list[str] = []
    for p in files:
        rel = str(p.relative_to(src))
        im = Image.open(p).convert("RGB")
        arr = np.asarray(im)
        cf = colourfulness(arr)
        if cf < args.min_colourfulness:
            dropped.append(f"{rel} (colourfulness {cf:.1f})")
            continue
        w, h = im.size
        s = args.short_side / min(w, h)
        nw, nh = max(args.short_side, round(w * s)), max(args.short_side, round(h * s))
        im = im.resize((nw, nh), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=args.quality, subsampling=2, optimize=True)
        blobs.append(buf.getvalue())
        names.append(rel)
        shapes.append((nh, nw))

    n = len(blobs)
    val_mask = np.zeros(n, dtype=bool)
    val_mask[args.val_every // 2 :: args.val_every] = True
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        jpeg=data,
        offsets=offsets,
        shapes=np.asarray(shapes, dtype=np.int32),
        names=np.asarray(names),
        is_val=val_mask,
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    info = {
        "file": str(out),
        "bytes": out.stat().st_size,
        "sha256": digest,
        "images": n,
        "train": int((~val_mask).sum()),
        "val": int(val_mask.sum()),
        "val_names": [nm for nm, v in zip(names, val_mask) if v],
        "dropped_near_grey": dropped,
        "short_side": args.short_side,
        "jpeg_quality": args.quality,
    }
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: v for k, v in info.items() if k != "val_names"}, indent=1))


if __name__ == "__main__":
    main()
