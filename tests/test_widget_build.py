"""The widget's build: one version for Python and JS, and a wheel that ships the front end
(built by the hatch-jupyter-builder hook from js/) and the bundled default model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import enhance_widget

REPO = Path(__file__).resolve().parents[1]
_MANIFEST = json.loads((REPO / "models" / "manifest.json").read_text())
DEFAULT_X2 = next(
    e["file"] for e in _MANIFEST["models"] if e["id"] == _MANIFEST["tasks"]["upscale"]["default"]["2"]
)
"""The default x2 model's file, which the wheel ships."""


def test_one_version_for_python_and_js() -> None:
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    js = json.loads((REPO / "js" / "package.json").read_text())["version"]
    lock = json.loads((REPO / "js" / "package-lock.json").read_text())["version"]
    assert py == js == lock == enhance_widget.__version__


def test_js_dependencies_are_pinned_and_locked() -> None:
    pkg = json.loads((REPO / "js" / "package.json").read_text())
    lock = json.loads((REPO / "js" / "package-lock.json").read_text())
    for name, version in pkg["devDependencies"].items():
        assert version[0].isdigit(), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def _source_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


@pytest.mark.slow
def test_wheel_builds_and_ships_the_front_end_and_default_model(tmp_path: Path) -> None:
    if shutil.which("npm") is None or not (REPO / "js" / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("npm and js/node_modules are needed (run `npm ci` in js/)")
        pytest.skip("npm and js/node_modules are needed (run `npm ci` in js/)")
    # a copy of the source tree without the built bundle, so the build hook must make it
    src = tmp_path / "src-tree"
    for rel in _source_files():
        if rel.startswith("src/enhance_widget/static/"):
            continue
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    (src / "js" / "node_modules").symlink_to(REPO / "js" / "node_modules", target_is_directory=True)
    assert not (src / "src" / "enhance_widget" / "static" / "widget.js").exists()
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    listing = subprocess.run(
        ["unzip", "-l", str(wheels[0])], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "enhance_widget/static/widget.js",
        "enhance_widget/static/widget.css",
        "enhance_widget/static/engine-worker.js",
        "enhance_widget/static/ort-wasm-simd-threaded.wasm",  # the WASM provider
        "enhance_widget/static/ort-wasm-simd-threaded.asyncify.wasm",  # the WebGPU provider
        f"enhance_widget/_bundled/{DEFAULT_X2}",
        "enhance_widget/widget/protocol.py",
    ):
        assert name in listing, f"{name} missing from the wheel:\n{listing}"
    with zipfile.ZipFile(wheels[0]) as zf:
        js = zf.read("enhance_widget/static/widget.js").decode()
        model = zf.getinfo(f"enhance_widget/_bundled/{DEFAULT_X2}")
    assert "render" in js and len(js) > 5000
    assert model.file_size == (REPO / "models" / DEFAULT_X2).stat().st_size
