"""What the package carries besides code: ``enhance_widget.data`` (sample and evaluation photos),
the model search path, the install hints of optional models, and the widget's ``max_pixels``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import enhance_widget.catalog as catalog_mod
import enhance_widget.model_dirs as model_dirs
from enhance_widget import EnhanceWidget, ImageTooLargeError, data

ROOT = Path(__file__).resolve().parent.parent


def test_data_accessors_return_the_shipped_photos() -> None:
    assert data.sample() == ROOT / "models" / "sample.png"  # a checkout: models/
    assert data.eval_names() == ["astronaut", "chelsea", "coffee", "rocket"]
    with Image.open(data.eval_image("coffee")) as im:
        assert im.size[0] > 100 and im.mode in ("RGB", "RGBA")
    with pytest.raises(FileNotFoundError, match="no evaluation photo 'nope'; there are astronaut"):
        data.eval_image("nope")


def test_search_path_has_no_folder_an_install_cannot_have(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ENHANCE_WIDGET_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert catalog_mod.IN_CHECKOUT
    assert catalog_mod.search_dirs() == [
        tmp_path / "enhance-widget" / "models",
        catalog_mod.SOURCE_MODELS_DIR,
        catalog_mod.BUNDLED_DIR,
    ]
    monkeypatch.setattr(model_dirs, "IN_CHECKOUT", False)  # what an installed wheel sees
    assert catalog_mod.search_dirs() == [tmp_path / "enhance-widget" / "models", catalog_mod.BUNDLED_DIR]


def test_optional_models_say_what_they_need_and_never_a_shell_command_in_lite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    big = next(e for e in manifest["models"] if e.get("file") and (e.get("size_bytes") or 0) > 50e6)
    card = catalog_mod.catalog().get(big["id"])
    hint = card.install_hint
    assert hint.startswith(f"optional model ({big['size_bytes'] / 1e6:.0f} MB), not shipped")
    assert f"`enhance-widget models build {big['id']}`" in hint and "TensorFlow" in hint
    monkeypatch.setattr(sys, "platform", "emscripten")
    lite = card.install_hint
    assert "optional" in lite and "JupyterLite cannot build or add it" in lite
    assert "enhance-widget models" not in lite and "`" not in lite


def test_widget_max_pixels_applies_to_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    Image.fromarray(np.asarray(Image.open(data.sample()).convert("RGB"))[:40, :48]).save(photo)
    monkeypatch.setenv("ENHANCE_WIDGET_MAX_PIXELS", "1000")  # smaller than the photo (1,920 px)
    assert EnhanceWidget(photo).error["type"] == ImageTooLargeError.__name__  # the limit applies
    w = EnhanceWidget(photo, max_pixels=2000, scale=2, model="esrgan-slim-x2")
    w.run()
    assert w.wait(120) and w.status == "done", w.error
    assert w.result.size == (96, 80)


def test_build_hook_ships_exactly_the_bundled_models_or_lists_them_for_a_lite_site() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    bundled = {e["file"] for e in manifest["models"] if e.get("bundled") and e.get("file")}
    wheel = hook.bundled_files(ROOT)
    assert {Path(v).name for v in wheel.values() if v.endswith(".onnx")} == bundled
    assert "enhance_widget/_bundled/eval/coffee.png" in wheel.values()
    site = hook.bundled_files(ROOT, site=True)
    assert not [v for v in site.values() if v.endswith(".onnx")]  # the site serves them instead
    listing_src = next(k for k, v in site.items() if v.endswith("site-models.json"))
    listing = json.loads(Path(listing_src).read_text())
    assert listing["base"] == hook.SITE_MODELS_DIR
    assert listing["files"] == {f: (ROOT / "models" / f).stat().st_size for f in bundled}
