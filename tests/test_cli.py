"""The command line, run as a real subprocess: outputs, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from enhance_widget import read_record

from .conftest import EVAL, ROOT

CLI = [sys.executable, "-m", "enhance_widget.cli"]


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_enhance_writes_output_with_record(tmp_path: Path) -> None:
    src = tmp_path / "small.png"
    Image.open(EVAL / "chelsea.png").crop((0, 0, 64, 48)).save(src)
    out = tmp_path / "big.png"
    p = run("enhance", str(src), "-o", str(out), "--scale", "2", "--model", "esrgan-slim-x2", "--tile", "32")
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout and "esrgan-slim-x2" in p.stdout
    assert Image.open(out).size == (128, 96)
    assert "tile/s" in p.stderr or "tile" in p.stderr  # the tqdm bar ran on real tile events
    assert read_record(out)["options"]["tile"] == 32


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    p = run("enhance", str(bad), "-o", str(tmp_path / "o.png"))
    assert p.returncode == 2
    assert "ImageDecodeError" in p.stderr
    assert not (tmp_path / "o.png").exists()
    p = run("enhance", str(bad), "-o", str(tmp_path / "o.png"), "--tile", "huge")
    assert p.returncode == 2 and "tile must be" in p.stderr


def test_models_lists_and_verifies() -> None:
    p = run("models")
    assert p.returncode == 0, p.stderr
    assert "span-x2" in p.stdout and "verified" in p.stdout
    assert "Apache-2.0" in p.stdout and "@upscalerjs/models@0.9.0" in p.stdout


def test_models_build_runs_the_recipe_command(tmp_path: Path) -> None:
    p = run("models", "build", "esrgan-slim-x2", "--into", str(tmp_path), "--dry-run")
    assert p.returncode == 0, p.stderr
    assert f"bash models/recipes/build_upscalerjs.sh {tmp_path} esrgan-slim-x2" in p.stdout
    (tmp_path / "esrgan-slim-x2.onnx").write_bytes((ROOT / "models" / "esrgan-slim-x2.onnx").read_bytes())
    p = run("models", "build", "esrgan-slim-x2", "--into", str(tmp_path))
    assert p.returncode == 0 and "already installed and verified" in p.stdout
    # no folder named: the user models folder (always searched), so the model is found afterwards
    no_folder = {k: v for k, v in os.environ.items() if k != "ENHANCE_WIDGET_MODELS"}
    no_folder["XDG_DATA_HOME"] = str(tmp_path / "data")
    p = run("models", "build", "esrgan-slim-x2", "--dry-run", env=no_folder)
    assert p.returncode == 0, p.stderr
    user_dir = tmp_path / "data" / "enhance-widget" / "models"
    assert f"bash models/recipes/build_upscalerjs.sh {user_dir} esrgan-slim-x2" in p.stdout


def test_demo_writes_before_after_and_side_by_side(tmp_path: Path) -> None:
    p = run("demo", "-o", str(tmp_path / "demo"), "--scale", "2")
    assert p.returncode == 0, p.stderr
    after = Image.open(tmp_path / "demo" / "after.png")
    before = Image.open(tmp_path / "demo" / "before.png")
    assert after.size == (before.width * 2, before.height * 2)
    assert Image.open(tmp_path / "demo" / "side_by_side.png").width == after.width * 2 + 8
    assert "side by side:" in p.stdout


def test_ctrl_c_exits_130_and_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "big.png"
    arr = np.asarray(Image.open(EVAL / "astronaut.png").resize((640, 640)))
    Image.fromarray(arr).save(src)
    out = tmp_path / "never.png"
    proc = subprocess.Popen(
        [*CLI, "enhance", str(src), "-o", str(out), "--scale", "4", "--tile", "whole"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and the child would
        # inherit that (as when the suite runs under `nohup ... &`): give it a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.perf_counter() + 60
    while "0/1" not in "".join(seen) and time.perf_counter() < deadline:
        time.sleep(0.05)  # wait until the plan is made and the one (long, ~2-6 s) tile runs
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    t0 = time.perf_counter()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(seen)
    assert proc.returncode == 130, err
    assert time.perf_counter() - t0 < 20
    assert "cancelled" in err
    assert not out.exists() and not list(tmp_path.glob(".enhance-*"))
