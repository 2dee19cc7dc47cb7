"""Manifest, sha256 verification before loading, graph checks, user models."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from enhance_widget import enhance, list_models, register_model
from enhance_widget.catalog import catalog, read_verified, sha256_of
from enhance_widget.errors import ModelFormatError, ModelIntegrityError, ModelNotFoundError
from enhance_widget.runtimes.ort import OrtRuntime


def test_every_manifest_file_matches_its_sha256() -> None:
    cards = [c for c in list_models() if not c.is_chain]
    assert {c.id for c in cards} >= {"span-x2", "span-x4", "idealo-psnr-small-x2", "esrgan-slim-x2"}
    for card in cards:
        if not card.installed:
            continue
        assert card.path is not None
        data = card.path.read_bytes()
        # The shipped digest, or one a documented rebuild gives (recipe-built large models).
        assert sha256_of(data) in (card.sha256, *card.alt_sha256), card.id
        if sha256_of(data) == card.sha256:
            assert len(data) == card.size_bytes, card.id
        assert card.license and card.source.get("package") and card.source.get("version")


def test_cards_are_typed_and_listed_by_task() -> None:
    ups = list_models("upscale")
    assert ups and all(c.task == "upscale" for c in ups)
    default = catalog().default_for("upscale", 4)
    assert default.id == "span-x4" and not default.is_chain  # a native x4, not x2 twice
    assert catalog().get("idealo-psnr-small-x4").chain == ("idealo-psnr-small-x2",) * 2
    card = catalog().default_for("upscale", 2)
    assert card.id == "span-x2" and card.bundled
    assert (card.layout, card.scale, card.value_range, card.dynamic_hw) == ("NCHW", 2, 1.0, True)
    assert card.path is not None and card.path.name == "span-x2.onnx"
    with pytest.raises(ModelNotFoundError, match="unknown task"):
        list_models("sharpen")
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'"):
        catalog().get("nope")


def test_flipped_byte_is_refused_before_onnxruntime_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = catalog().get("esrgan-slim-x2")
    assert card.path is not None
    bad = tmp_path / "esrgan-slim-x2.onnx"
    data = bytearray(card.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    seen: list[object] = []
    real_session = onnxruntime.InferenceSession

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(args)
        return real_session(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    tampered = replace(card, path=bad)
    with pytest.raises(ModelIntegrityError, match="sha256 .* expected"):
        OrtRuntime(tampered)
    truncated = tmp_path / "short.onnx"
    truncated.write_bytes(bytes(data[:1000]))
    with pytest.raises(ModelIntegrityError):
        read_verified(replace(card, path=truncated))
    assert seen == []  # onnxruntime never received the bytes


def test_tampered_file_in_models_dir_is_refused_by_enhance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_rgb: np.ndarray
) -> None:
    from enhance_widget import catalog as catalog_mod

    card = catalog().get("esrgan-slim-x2")
    assert card.path is not None
    data = bytearray(card.path.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "esrgan-slim-x2.onnx").write_bytes(bytes(data))
    monkeypatch.setenv("ENHANCE_WIDGET_MODELS", str(tmp_path))
    catalog_mod.reset_catalog()
    try:
        with pytest.raises(ModelIntegrityError):
            enhance(small_rgb, scale=2, model="esrgan-slim-x2")
    finally:
        monkeypatch.undo()
        catalog_mod.reset_catalog()
    assert enhance(small_rgb, scale=2, model="esrgan-slim-x2").size == (96, 80)  # still usable


def _tiny_model(path: Path, rank: int, dtype: int = TensorProto.FLOAT) -> None:
    shape = ["n", "h", "w", 3][:rank]
    x = helper.make_tensor_value_info("x", dtype, shape)
    y = helper.make_tensor_value_info("y", dtype, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)


def test_register_model_checks_graph_and_sha(tmp_path: Path, small_rgb: np.ndarray) -> None:
    flat = tmp_path / "flat.onnx"
    _tiny_model(flat, rank=2)
    with pytest.raises(ModelFormatError, match="rank-4 float32"):
        register_model(flat, task="restore")
    ints = tmp_path / "ints.onnx"
    _tiny_model(ints, rank=4, dtype=TensorProto.INT32)
    with pytest.raises(ModelFormatError, match="tensor\\(int32\\)"):
        register_model(ints, task="restore")
    ok = tmp_path / "identity.onnx"
    _tiny_model(ok, rank=4)
    with pytest.raises(ModelIntegrityError):
        register_model(ok, task="restore", sha256="0" * 64)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx")
    with pytest.raises(ModelFormatError, match="not a valid ONNX"):
        register_model(garbage, task="restore")
    card = register_model(ok, task="restore", id="my-identity")
    assert card.layout == "NHWC" and card.sha256 == sha256_of(ok.read_bytes())
    assert "my-identity" in {c.id for c in list_models("restore")}
    res = enhance(small_rgb, task="restore", model="my-identity", tile=16, overlap=4)
    np.testing.assert_array_equal(res.array, small_rgb)  # identity model, tiled: exact
    assert res.record["model"]["sha256"] == card.sha256


def test_missing_model_file_says_how_to_install(tmp_path: Path) -> None:
    card = replace(catalog().get("esrgan-slim-x2"), path=tmp_path / "gone.onnx")
    with pytest.raises(ModelNotFoundError, match="not installed.*ENHANCE_WIDGET_MODELS"):
        read_verified(card)


def test_recipes_reproduce_the_manifest_sha256() -> None:
    """The conversion recipe's recorded output (models/recipes/upscalerjs_facts.json) is the file we ship."""
    import json

    from enhance_widget.catalog import SOURCE_MODELS_DIR

    facts = json.loads((SOURCE_MODELS_DIR / "recipes" / "upscalerjs_facts.json").read_text())
    for card in list_models("upscale"):
        if card.is_chain or card.id not in facts:
            continue
        assert facts[card.id]["sha256"] == card.sha256, card.id
        assert facts[card.id]["sha256_matches"] is True
        assert card.recipe_script is not None and card.recipe_script.is_file()
        assert card.recipe_command(SOURCE_MODELS_DIR)[-1] in facts
    assert {"idealo-psnr-small-x2", "esrgan-slim-x2", "esrgan-slim-x4"} <= set(facts)


def test_models_dir_argument_finds_a_large_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_rgb: np.ndarray
) -> None:
    from enhance_widget import catalog as catalog_mod

    monkeypatch.setenv("ENHANCE_WIDGET_MODELS", str(tmp_path / "empty"))
    catalog_mod.reset_catalog()
    try:
        assert not catalog().get("maxim-deblurring-256").installed
        with pytest.raises(ModelNotFoundError, match="does not exist"):
            enhance(small_rgb, task="deblur", models_dir=tmp_path / "nowhere")
        folder = tmp_path / "mine"
        folder.mkdir()
        source = catalog().get("esrgan-slim-x2").path
        assert source is not None
        shutil.copyfile(source, folder / "esrgan-slim-x2.onnx")
        res = enhance(small_rgb, scale=2, model="esrgan-slim-x2", models_dir=folder)
        assert catalog().get("esrgan-slim-x2").path == folder / "esrgan-slim-x2.onnx"
        assert res.size == (96, 80)
    finally:
        monkeypatch.undo()
        catalog_mod.reset_catalog()


# What `bash models/recipes/build_maxim.sh OUT ID` gives in every run since tf2onnx's node order is pinned
# (models/recipes/tf2onnx_stable.py), and the digests of the files users already have (still accepted).
MAXIM_RECIPE_SHA256 = {
    "maxim-deblurring-256": "dcbbccece1cfba04f073596506873ef89de830f3b4f27061cf3cfc00ae8b885c",
    "maxim-denoising-256": "2125d77c728d9ba6ba0c509857eb80e10a9db31911f863c68990c2c5766b0b80",
}
MAXIM_EARLIER_SHA256 = {
    "maxim-deblurring-256": {
        "9f79643abbf5455280496af46012d11295674d485800542bc622f67f6e44622f",
        "bb639a95e1d0073e821bc8a92c7f1d620bee5929e2abfd351ee0451d96786d48",
    },
    "maxim-denoising-256": {
        "340b9bca61611f2511c1b331c6f19b921d0f98e11530c1c925c6cf7ad02dc340",
        "f564941c89d20ca8b4b65a2e4485599d042b5c864e1b2d03d3166a85cd410eb2",
    },
}


def test_manifest_accepts_the_byte_stable_maxim_recipe_digest() -> None:
    """`enhance-widget models build maxim-*` must verify: the recipe's (reproducible) digest is accepted,
    and so are the digests of the MAXIM files built before the recipe was made byte-stable."""
    import json
    import sys

    from enhance_widget.catalog import SOURCE_MODELS_DIR, verify_bytes

    sys.path.insert(0, str(SOURCE_MODELS_DIR / "recipes"))
    from maxim_tfjs import MODELS  # the sha256 build_maxim.sh checks its output against

    entries = {e["id"]: e for e in json.loads((SOURCE_MODELS_DIR / "manifest.json").read_text())["models"]}
    for model_id, digest in MAXIM_RECIPE_SHA256.items():
        card = catalog().get(model_id)
        accepted = {card.sha256, *card.alt_sha256}
        assert digest in card.alt_sha256, model_id
        assert MAXIM_EARLIER_SHA256[model_id] <= accepted, model_id
        assert MODELS[model_id].sha256 == digest, model_id
        conversion = entries[model_id]["conversion"]
        assert conversion["reproduces_sha256"] is True and conversion["recipe_sha256"] == digest, model_id
        assert card.recipe_script is not None and card.recipe_script.name == "build_maxim.sh"
        with pytest.raises(ModelIntegrityError):
            verify_bytes(card, b"not the model")


def test_a_chain_is_installed_only_when_each_pass_is(chain_x4: str) -> None:
    from enhance_widget.catalog import ModelCard

    cat = catalog()
    assert cat.get(chain_x4).installed and cat.get(chain_x4).chain_missing == ()
    broken = cat.add(
        ModelCard(id="test-chain-missing", task="upscale", scale=4, chain=("span-x2", "nope-x2"))
    )
    try:
        card = cat.get(broken.id)
        assert not card.installed and card.chain_missing == ("nope-x2",)
        assert "nope-x2 is not installed" in card.install_hint
        assert broken.id not in {c.id for c in list_models("upscale") if c.installed}
    finally:
        with cat._lock:
            cat._cards.pop(broken.id, None)
