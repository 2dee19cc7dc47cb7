"""Gather the extra training photos of runs 6-8 from public GitHub snapshots into ``OUT/<source>/``.

Each source is a repository at a fixed commit and a path pattern (``SOURCES``).  Read from local
mirrors (``MIRRORS/<owner>+<name>/repo``, a git directory as the ``fetch`` tool leaves it); nothing is
downloaded.  Every image is converted to RGB, dropped if its short side is under 128 px or if it is
reduced to a short side of at most 448 px (Pillow LANCZOS), encoded as JPEG q92 and dropped if
near grey once encoded (mean CIELab chroma under 3); exact repeats within a source (same pixels) are
dropped.  ``OUT/sources.tsv``
records source, repository, commit, pattern, count and license, as ``prepare_data.py --extra-dir``
requires.  ``prepare_data.py`` then refuses any copy of a BSD100 photo.

``--list FILE`` adds the photos of runs 11-13 (session 7, not shipped): each row names a source,
repository, commit, path and git blob id; the file is written with its bytes unchanged (checked
against the blob id).  Those 1,601 photos were picked by a helper from seven repositories (colour,
short side >= 200 px, no repeats, no black-cornered or flat clip-art images) and then sub-sampled
per source with a fixed seed; the list, not a rule, is the record (266 kB, kept in git history only:
``git show 0e42e71:models/recipes/colorize/extra7_files.tsv > /tmp/extra7_files.tsv``).
``--only`` limits ``SOURCES``.

Usage::

    python training/colorize/gather_extra.py --mirrors /work/.mirror --out /tmp/extra
    python training/colorize/gather_extra.py --out /tmp/extra7 --only urban100,t91,hymenoptera \
        --list /tmp/extra7_files.tsv
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None
MIN_SIDE, MAX_SIDE, MIN_CHROMA, QUALITY = 128, 448, 3.0, 92


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    pattern: str
    license: str
    dir_prefix: bool = False  # name files <parent>_<grandparent... >_<stem> (folders repeat names)


SELFEXSR = ("jbhuang0604/SelfExSR", "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598")
CDM = ("csrjtan/CDM-CNN", "5da8c294a0f3fc826cd746af7ecfc4f4184d6f35")
SOURCES = (
    Source(
        "urban100",
        *SELFEXSR,
        r"^data/Urban100/image_SRF_4/img_\d+_SRF_4_HR\.png$",
        "none stated, research use",
    ),
    Source(
        "kodak24",
        *CDM,
        r"^data/Set24/kodim\d+\.png$",
        "Kodak suite, released by Eastman Kodak for unrestricted use",
    ),
    Source("mcmaster18", *CDM, r"^data/Test/\d+\.tif$", "none stated, research use"),
    Source(
        "wed_cdm100",
        *CDM,
        r"^data/POLYU_SET/\d+\.bmp$",
        "none stated, research use (Waterloo Exploration picks)",
    ),
    Source(
        "t91",
        "jiny2001/dcscn-super-resolution",
        "d382bc30d41c94ac72f8cb148d61cc4864b3b380",
        r"^data/yang91/[^/]+\.bmp$",
        "none stated for the images, research use",
    ),
    Source(
        "hymenoptera",
        "zhangtao7750/syn",
        "f0503091488f67b6809a6da2eaa43c25f2f277fc",
        r"^hymenoptera_data/(train|val)/(ants|bees)/[^/]+\.jpe?g$",
        "ImageNet-derived (ants and bees): ImageNet terms, non-commercial research",
        dir_prefix=True,
    ),
)


def _git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(gitdir), *args], capture_output=True, check=True).stdout


def prepare(data: bytes) -> bytes | None:
    """The kept photo as JPEG bytes, or None (unreadable, too small or near grey once encoded)."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception:  # any undecodable file is skipped (one source holds a placeholder .gif)
        return None
    im = im.convert("RGB")
    w, h = im.size
    if min(w, h) < MIN_SIDE:
        return None
    if min(w, h) > MAX_SIDE:
        r = MAX_SIDE / min(w, h)
        im = im.resize((round(w * r), round(h * r)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=QUALITY)
    lab = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("LAB"))
    ab = lab.view(np.int8)[..., 1:].astype(np.float32)  # Pillow stores a, b as signed bytes
    return buf.getvalue() if float(np.sqrt((ab**2).sum(-1)).mean()) >= MIN_CHROMA else None


def gather(src: Source, mirrors: Path, out: Path) -> int:
    gitdir = mirrors / src.repo.replace("/", "+") / "repo"
    names = _git(gitdir, "ls-tree", "-r", "--name-only", src.commit).decode().splitlines()
    dest = out / src.name
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    kept = 0
    for path in sorted(n for n in names if re.search(src.pattern, n)):
        jpeg = prepare(_git(gitdir, "show", f"{src.commit}:{path}"))
        if jpeg is None:
            continue
        digest = hashlib.sha256(np.asarray(Image.open(io.BytesIO(jpeg))).tobytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        stem = Path(path).stem
        if src.dir_prefix:
            stem = "_".join(Path(path).parts[-3:-1]) + "_" + stem
        (dest / f"{stem}.jpg").write_bytes(jpeg)
        kept += 1
    return kept


LISTED_TERMS = {
    "tf_flower_photos": "TensorFlow flower_photos copy: CC-BY 2.0 (Flickr photographers); this copy states no licence",
    "caltech101": "Caltech-101 (Fei-Fei, Fergus, Perona 2004), from web image search: research use",
    "coco128": "COCO 2017 photos: Flickr, each under its own (mostly CC) licence; research use",
    "facemask_without_mask": "repository MIT; photos from Bing, Kaggle, RMFD: research use",
    "raccoon": "repository MIT; photos from Google and Pixabay: research use",
    "kangaroo": "none stated, research use",
    "freshcart_produce": "repository MIT, photos look like stock images: research use",
}


def gather_listed(listing: Path, mirrors: Path, out: Path) -> list[str]:
    """Write every photo ``listing`` names (bytes unchanged, blob id checked); its sources.tsv rows."""
    rows = [line.split("\t") for line in listing.read_text().splitlines()[1:] if line.strip()]
    counts: dict[tuple[str, str, str], int] = {}
    for source, repo, commit, path, blob in rows:
        gitdir = mirrors / repo.removeprefix("github:").replace("/", "+") / "repo"
        data = _git(gitdir, "cat-file", "blob", blob)
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blob:
            raise SystemExit(f"{repo}:{path} does not match blob {blob}")
        (out / source).mkdir(parents=True, exist_ok=True)
        (out / source / re.sub(r"[^A-Za-z0-9._-]", "_", path.replace("/", "__"))).write_bytes(data)
        counts[(source, repo, commit)] = counts.get((source, repo, commit), 0) + 1
    return [
        f"{s}\t{r}\t{c}\tlisted in {listing.name}\t{n}\t{LISTED_TERMS[s]}" for (s, r, c), n in counts.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/extra"))
    ap.add_argument("--list", type=Path, default=None, help="also the photos this file lists")
    ap.add_argument("--only", default="", help="comma-separated SOURCES names (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {s.name for s in SOURCES}
    rows = [
        "source_name\trepository_or_package\tcommit_or_version\tpath_pattern\tcount_kept\tlicense_or_terms"
    ]
    counts = {}
    for src in (s for s in SOURCES if s.name in only):
        counts[src.name] = gather(src, args.mirrors, args.out)
        rows.append(
            f"{src.name}\tgithub:{src.repo}\t{src.commit}\t{src.pattern}\t{counts[src.name]}\t{src.license}"
        )
    if args.list is not None:
        rows += gather_listed(args.list, args.mirrors, args.out)
    (args.out / "sources.tsv").write_text("\n".join(rows) + "\n")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
