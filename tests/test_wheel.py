"""The built wheel, installed the way a user gets it: what it ships, and a fresh venv (no checkout
on ``sys.path``, no ``ENHANCE_WIDGET_MODELS``, no network: ``unshare -n``) running every task whose
default model the manifest marks ``bundled``, through ``enhance()`` and the CLI, and notebook 01.

The wheel is built once and installed once for the module (dependencies from a local wheelhouse,
``pip download``-ed beside the build outside the network namespace, then ``pip install
--no-index`` inside it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = ROOT / "build" / "wheelhouse"
OFFLINE = bool(shutil.which("unshare")) and os.geteuid() == 0
MANIFEST = json.loads((ROOT / "models" / "manifest.json").read_text())
CHAINS = {e["id"]: e["chain"] for e in MANIFEST["models"] if e.get("chain")}
CARDS = {e["id"]: e for e in MANIFEST["models"]}


def _bundled(model_id: str) -> bool:
    card = CARDS[model_id]
    if card.get("chain"):
        return all(_bundled(c) for c in card["chain"])
    return bool(card.get("bundled"))


def default_runs() -> list[tuple[str, int | None, str]]:
    """(task, scale, model id) for every task default in the manifest: upscale per scale."""
    out = []
    for task, spec in MANIFEST["tasks"].items():
        for scale, model_id in spec["default"].items():
            out.append((task, int(scale) if task == "upscale" else None, model_id))
    return out


def offline(cmd: list[str]) -> list[str]:
    """``cmd`` in a private network namespace (no network at all) where the machine allows it."""
    return ["unshare", "-n", *cmd] if OFFLINE else cmd


def clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "ENHANCE_WIDGET_MODELS", "VIRTUAL_ENV", "XDG_DATA_HOME")
    return {k: v for k, v in os.environ.items() if k not in drop}


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


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed offline; yields its folder."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # the dependencies, fetched (or found in pip's cache) outside the network namespace
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), str(wheel)],
        check=True,
        timeout=900,
    )
    where = tmp_path_factory.mktemp("fresh")
    env_dir = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    subprocess.run(
        offline([*pip, "--find-links", str(WHEELHOUSE), str(wheel)]), check=True, timeout=900, env=clean_env()
    )
    yield env_dir


def run_in(venv: Path, args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        offline(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_env()
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


def py_in(venv: Path, code: str, cwd: Path) -> Any:
    """Run ``code`` in the fresh venv (offline); its last stdout line is JSON."""
    p = run_in(venv, [str(venv / "bin" / "python"), "-c", code], cwd)
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_wheel_is_pure_and_ships_every_bundled_model(wheel: Path) -> None:
    assert wheel.name.endswith("-py3-none-any.whl")
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    bundled = {e["file"] for e in MANIFEST["models"] if e.get("bundled") and e.get("file")}
    shipped = {
        n.rsplit("/", 1)[1] for n in names if n.startswith("enhance_widget/_bundled/") and n.endswith(".onnx")
    }
    assert shipped == bundled  # exactly the models the manifest marks bundled
    for model_file in bundled:
        assert (
            zf.getinfo(f"enhance_widget/_bundled/{model_file}").file_size
            == (ROOT / "models" / model_file).stat().st_size
        )
    for required in ("manifest.json", "sample.png", "eval/astronaut.png", "eval/coffee.png"):
        assert f"enhance_widget/_bundled/{required}" in names, required
    assert json.loads(zf.read("enhance_widget/_bundled/manifest.json")) == MANIFEST
    assert "enhance_widget/data.py" in names
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zf.read(meta).decode()
    for dep in ("onnxruntime", "numpy", "pillow"):  # Pyodide installs without them
        assert re.search(rf"Requires-Dist: {dep}>=[0-9.]+; sys_platform != .emscripten.", text), dep
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")


@pytest.mark.slow
def test_fresh_install_finds_its_models_in_the_wheel_only(venv: Path, tmp_path: Path) -> None:
    got = py_in(
        venv,
        "import json, enhance_widget.catalog as c, enhance_widget.data as d; "
        "print(json.dumps({'dirs': [str(p) for p in c.search_dirs()], 'checkout': c.IN_CHECKOUT, "
        "'installed': sorted(k.id for k in c.catalog().cards() if k.installed and not k.is_chain), "
        "'sample': str(d.sample()), 'eval': d.eval_names(), "
        "'hints': {k.id: k.install_hint for k in c.catalog().cards() if not k.installed}}))",
        tmp_path,
    )
    assert got["checkout"] is False
    site = next(Path(p) for p in got["dirs"] if p.endswith("_bundled"))
    assert str(venv) in str(site) and got["dirs"][-1] == str(site)
    assert not any(p.endswith(("python3.11/models", "/lib/models")) for p in got["dirs"]), got["dirs"]
    bundled = sorted(e["id"] for e in MANIFEST["models"] if e.get("bundled") and e.get("file"))
    assert got["installed"] == bundled
    assert got["sample"].startswith(str(site)) and got["eval"] == ["astronaut", "chelsea", "coffee", "rocket"]
    for model_id, hint in got["hints"].items():  # a model not shipped says it is optional and what it needs
        chain = CHAINS.get(model_id)  # a chain (x4 = x2 twice) names the pass to build
        target = chain[0] if chain else model_id
        assert hint.startswith("optional model (") and f"models build {target}" in hint, hint


SCRIPT = """
import json, sys
from PIL import Image
from enhance_widget import enhance
from enhance_widget.data import eval_image

photo = Image.open(eval_image("chelsea")).convert("RGB").crop((100, 100, 148, 140))  # 48x40
out = {}
for task, scale in json.loads(sys.argv[1]):
    src = photo.convert("L") if task == "colorize" else photo
    r = enhance(src, task=task, scale=scale)
    out[f"{task}{scale or ''}"] = [list(r.image.size), r.image.mode, r.record["model"]["id"]]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_fresh_install_runs_every_bundled_default_offline(venv: Path, tmp_path: Path) -> None:
    runs = [(t, s, m) for t, s, m in default_runs() if _bundled(m)]
    assert {t for t, _, _ in runs} >= {"upscale", "restore", "colorize"}
    p = run_in(
        venv, [str(venv / "bin" / "python"), "-c", SCRIPT, json.dumps([[t, s] for t, s, _ in runs])], tmp_path
    )
    got = json.loads(p.stdout.strip().splitlines()[-1])
    for task, scale, model_id in runs:
        size, mode, ran = got[f"{task}{scale or ''}"]
        assert ran == model_id
        assert size == [48 * (scale or 1), 40 * (scale or 1)], (task, scale, size)
        assert mode == "RGB", (task, mode)  # colorize: grey in, colour out
    # the CLI, the same runs
    from PIL import Image

    src = tmp_path / "in.png"
    Image.open(ROOT / "models" / "eval" / "chelsea.png").convert("RGB").crop((100, 100, 148, 140)).save(src)
    grey = tmp_path / "grey.png"
    Image.open(src).convert("L").save(grey)
    for task, scale, model_id in runs:
        out = tmp_path / f"out-{task}{scale or ''}.png"
        args = [str(venv / "bin" / "enhance-widget"), "enhance", str(grey if task == "colorize" else src)]
        args += ["-o", str(out), "--task", task, "--quiet"] + (["--scale", str(scale)] if scale else [])
        p = run_in(venv, args, tmp_path)
        assert model_id in p.stdout
        with Image.open(out) as im:
            assert im.size == (48 * (scale or 1), 40 * (scale or 1)) and im.mode == "RGB", (
                task,
                im.size,
                im.mode,
            )
    missing = [(t, m) for t, _, m in default_runs() if not _bundled(m)]
    if missing:  # until the light deblur model lands, deblur's default (MAXIM, 97 MB) is not shipped
        pytest.xfail(f"task defaults not in the wheel yet: {missing}")


@pytest.mark.slow
def test_fresh_install_runs_demo_and_notebook_01_offline(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_in(venv, [str(venv / "bin" / "enhance-widget"), "demo", "--scale", "2", "-o", "out"], work)
    assert (work / "out" / "after.png").is_file() and (work / "out" / "side_by_side.png").is_file()
    nb = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    code += (
        "\nw.scale = 2\nw.run()\nassert w.wait(300)\nimport json\n"
        "print(json.dumps([list(w.result.size), w.result.record['model']['id'], w.status]))\n"
    )
    size, model_id, status = py_in(venv, code, work)
    assert status == "done" and model_id == MANIFEST["tasks"]["upscale"]["default"]["2"]
    from PIL import Image

    with Image.open(work / "sample.png") as im:
        assert size == [im.width * 2, im.height * 2]
