"""The built wheel: what it ships, and a fresh install running the demo with no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=900,
    )
    wheels = list(out.glob("enhance_widget-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_is_pure_and_ships_model_manifest_and_sample(wheel: Path) -> None:
    assert wheel.name.endswith("-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "enhance_widget/_bundled/idealo-psnr-small-x2.onnx",
        "enhance_widget/_bundled/manifest.json",
        "enhance_widget/_bundled/sample.png",
        "enhance_widget/api.py",
    ):
        assert required in names, required
    assert not any(n.endswith("esrgan-slim-x2.onnx") for n in names)  # only the default model
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    for dep in ("onnxruntime", "numpy", "pillow"):  # Pyodide installs without them
        assert re.search(rf"Requires-Dist: {dep}>=[0-9.]+; sys_platform != .emscripten.", text), dep


@pytest.mark.slow
def test_fresh_venv_runs_demo_offline(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=900)  # dependencies from the registry
    work = tmp_path / "work"
    work.mkdir()
    cmd = [str(venv / "bin" / "enhance-widget"), "demo", "--scale", "2", "-o", "out"]
    if shutil.which("unshare") and os.geteuid() == 0:
        cmd = ["unshare", "-n", *cmd]  # a private network namespace: no network at all
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ENHANCE_WIDGET_MODELS")}
    p = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr
    assert (work / "out" / "after.png").is_file() and (work / "out" / "side_by_side.png").is_file()
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import enhance_widget.catalog as c; print(c.catalog().get('idealo-psnr-small-x2').path)",
        ],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        check=True,
    ).stdout
    assert "_bundled" in where and str(venv) in where  # loaded from the installed wheel
