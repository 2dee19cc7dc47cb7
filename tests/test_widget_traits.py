"""EnhanceWidget without a browser: traits and plan figures, requests as the front end sends
them, Save next to the source, errors in the error trait, binary (not text) trait sync."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enhance_widget import EnhanceWidget, plan_for
from enhance_widget.catalog import sample_image_path
from enhance_widget.widget import protocol as P


class Recorder:
    def __init__(self, w: EnhanceWidget) -> None:
        self.messages: list[tuple[dict[str, Any], Any]] = []
        w.send = lambda content, buffers=None: self.messages.append((content, buffers))

    def kinds(self) -> list[str]:
        return [c["kind"] for c, _ in self.messages]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    dest = tmp_path / "photo.png"
    shutil.copyfile(sample_image_path(), dest)
    return dest


def _front(w: EnhanceWidget, **content: Any) -> None:
    """Deliver a custom message as the comm would."""
    w._on_custom(w, content, [])


def test_plan_figures_before_run_and_controls_update_them_without_running(photo: Path) -> None:
    w = EnhanceWidget(photo)
    rec = Recorder(w)
    assert w.source_name == "photo.png" and w.source_size == [160, 120]
    assert w.source_bytes == photo.read_bytes(), "a PNG goes to the browser as it is"
    p = w.plan
    assert p["model"] == "idealo-psnr-small-x4" and p["out_size"] == [640, 480] and len(p["passes"]) == 2
    expected = plan_for((160, 120), "upscale", 4)
    assert p["memory_bytes"] == expected.memory_bytes and p["budget_bytes"] == expected.budget_bytes
    assert p["available_bytes"] and p["available_bytes"] > 0 and p["fits"] is True
    assert p["provider"] == "CPUExecutionProvider" and p["runtime"] == "onnxruntime" and p["seconds"] > 0
    w.scale = 2
    w.tile = "64"
    assert (
        w.plan["out_size"] == [320, 240]
        and w.plan["total_tiles"] == 9
        and w.plan["model"] == "idealo-psnr-small-x2"
    )
    w.overlap = 0
    assert w.plan["overlap"] == 0 and w.plan["total_tiles"] == 6  # 3 x 2 tiles without overlap
    assert w.status == "idle" and w.result is None and rec.messages == [], "nothing ran"


def test_a_plan_that_does_not_fit_warns_with_a_tile_that_does(
    photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENHANCE_WIDGET_MEMORY_BUDGET", str(60 * 1024**2))
    w = EnhanceWidget(photo, scale=2, tile="whole")
    assert w.plan["fits"] is False and w.plan["memory_bytes"] > w.plan["budget_bytes"]
    tile = w.plan["suggested_tile"]
    assert isinstance(tile, int) and tile < 160
    assert plan_for((160, 120), "upscale", 2, None, tile).fits
    _front(w, kind=P.USE_TILE, id="u1", tile=str(tile))
    assert w.tile == str(tile) and w.plan["fits"] is True and w.plan["suggested_tile"] is None


def test_model_choice_follows_task_scale_and_quality(photo: Path) -> None:
    w = EnhanceWidget(photo)
    w.model = "esrgan-slim-x2"
    assert w.scale == 2 and w.plan["model"] == "esrgan-slim-x2"
    w.scale = 4
    assert w.model == "" and w.plan["model"] == "idealo-psnr-small-x4"
    balanced_s = w.plan["seconds"]
    assert w.quality == "balanced" and w.plan["tta"] is False
    w.quality = "fast"
    assert w.plan["model"] == "idealo-psnr-small-x4-int8", "the manifest's fast x4 model"
    w.quality = "best"
    assert w.plan["model"] == "idealo-psnr-small-x4" and w.plan["tta"] is True
    assert w.plan["seconds"] > 4 * balanced_s, "test-time augmentation shows in the estimate"
    assert [q["id"] for q in w.qualities] == ["fast", "balanced", "best"]
    assert [q["tta"] for q in w.qualities] == [False, False, True]
    w.quality = "sloppy"
    assert w.plan["error"]["type"] == "ValueError"
    w.quality = "balanced"
    w.model = "no-such-model"
    assert w.plan["error"]["type"] == "ModelNotFoundError" and "no-such-model" in w.plan["error"]["message"]
    w.model = ""
    empty = [t["id"] for t in w.tasks if not t["available"]]
    if empty:  # a task without an installed model has no plan, and says why
        w.task = empty[0]
        assert w.plan["error"]["type"] == "ModelNotFoundError"
    tasks = {t["id"]: t["available"] for t in w.tasks}
    assert tasks["upscale"] is True and set(tasks) == {"upscale", "restore", "deblur", "colorize"}
    assert {m["task"] for m in w.models} <= set(tasks)


def test_run_save_and_result_through_front_end_requests(photo: Path) -> None:
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    w = EnhanceWidget(photo, scale=2, model="esrgan-slim-x2", tile=64)
    rec = Recorder(w)
    _front(w, kind=P.RUN, id="r1")
    assert w.wait(120) and w.status == "done"
    assert rec.kinds()[0] == P.RUN_STARTED and rec.kinds()[-1] == P.RUN_DONE
    assert rec.messages[-1][0]["id"] == "r1"
    tile = next(b for c, b in rec.messages if c["kind"] == P.TILE)
    assert isinstance(tile, list) and isinstance(tile[0], bytes)
    shown = Image.open(io.BytesIO(w.result_png))
    assert shown.size == (320, 240) == w.result.size
    assert np.array_equal(np.asarray(shown.convert("RGB")), w.result.array)
    assert w.last_run["model"] == "esrgan-slim-x2" and w.last_run["tiles"] == 9
    _front(w, kind=P.SAVE, id="s1")
    saved = rec.messages[-1][0]
    assert saved["kind"] == P.SAVED and saved["id"] == "s1"
    path = Path(saved["path"])
    assert path == photo.parent / "photo_upscalex2.png" and path.is_file() and w.saved_path == str(path)
    assert w.save() == photo.parent / "photo_upscalex2-2.png", "never over an existing file"
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == digest, "the source is untouched"
    assert Image.open(path).size == (320, 240)


def test_requests_that_cannot_be_honoured_are_answered(photo: Path) -> None:
    w = EnhanceWidget(photo, scale=2)
    rec = Recorder(w)
    _front(w, kind=P.SAVE, id="s0")
    _front(w, kind=P.CANCEL, id="c0")
    _front(w, kind=P.USE_TILE, id="t0", tile="3")
    reasons = [(c["id"], c["request"]) for c, _ in rec.messages if c["kind"] == P.REJECTED]
    assert reasons == [("s0", P.SAVE), ("c0", P.CANCEL), ("t0", P.USE_TILE)]
    _front(w, kind="no-such-kind", id="x")
    assert len(rec.messages) == 3
    empty = EnhanceWidget()
    rec2 = Recorder(empty)
    assert empty.run() is None and rec2.messages[0][0]["reason"] == "open an image first"
    assert empty.plan["error"]["type"] == "NoImage"


def test_a_corrupt_source_shows_the_error_and_the_widget_recovers(photo: Path) -> None:
    w = EnhanceWidget(b"\x89PNG\r\n\x1a\n garbage")
    rec = Recorder(w)
    assert w.status == "error" and w.error["type"] == "ImageDecodeError" and w.error["message"]
    assert w.source_bytes == b"" and w.source_size == []
    w.run()
    assert w.wait(30) and not w.busy
    assert w.error["type"] == "ImageDecodeError" and rec.kinds()[-1] == P.RUN_ERROR
    w.load(photo)
    assert w.error == {} and w.status == "idle" and w.source_size == [160, 120]
    w.scale, w.model = 2, "esrgan-slim-x2"
    w.run()
    assert w.wait(120) and w.status == "done" and w.result.size == (320, 240)


def test_bad_control_values_show_as_plan_errors_not_exceptions(photo: Path) -> None:
    w = EnhanceWidget(photo)
    w.tile = "tiny"
    assert w.plan["error"]["type"] == "ValueError"
    rec = Recorder(w)
    w.run()
    assert w.status == "error" and rec.kinds() == [P.RUN_ERROR] and not w.busy
    w.tile = "auto"
    assert "error" not in w.plan


def test_images_sync_as_binary_buffers(photo: Path) -> None:
    from ipywidgets.widgets.widget import _remove_buffers

    w = EnhanceWidget(photo, scale=2, model="esrgan-slim-x2")
    w.run()
    assert w.wait(120)
    _state, paths, buffers = _remove_buffers(w.get_state())
    assert ["source_bytes"] in paths and ["result_png"] in paths
    sizes = {p[0]: len(memoryview(b).cast("B")) for p, b in zip(paths, buffers, strict=True)}
    assert sizes["source_bytes"] == photo.stat().st_size and sizes["result_png"] == len(w.result_png)


def test_sources_the_browser_would_show_differently_are_re_encoded(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    w = EnhanceWidget(path)
    assert w.source_size == [20, 40], "EXIF orientation applied, as the engine does"
    shown = Image.open(io.BytesIO(w.source_bytes))
    assert shown.format == "PNG" and shown.size == (20, 40)
    arr16 = (np.linspace(0, 65535, 30 * 10, dtype=np.uint16)).reshape(10, 30)
    w2 = EnhanceWidget(arr16)
    shown2 = Image.open(io.BytesIO(w2.source_bytes))
    assert shown2.size == (30, 10) and shown2.mode in ("L", "RGB")
    assert w2.source_name == "ndarray image"


def test_model_list_shows_size_speed_license_and_missing_models(photo: Path) -> None:
    from enhance_widget.catalog import catalog

    w = EnhanceWidget(photo)
    by_id = {m["id"]: m for m in w.models}
    default = by_id["idealo-psnr-small-x2"]
    assert default["installed"] and default["size_mb"] == 10.5 and default["license"] == "Apache-2.0"
    assert default["s_per_mpx"] == round(catalog().get("idealo-psnr-small-x2").cost.ms_per_mpx / 1000, 1)
    assert by_id["idealo-psnr-small-x4"]["size_mb"] == 10.5  # a chain counts its model once
    missing = [m for m in w.models if not m["installed"]]
    for m in missing:  # large models not on this machine say how to install them
        assert m["install_hint"] == f"enhance-widget models build {m['id']}"


def test_a_missing_large_model_plans_as_not_installed(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from enhance_widget import catalog as catalog_mod

    monkeypatch.setenv("ENHANCE_WIDGET_MODELS", str(photo.parent))  # a folder without MAXIM
    catalog_mod.reset_catalog()
    try:
        w = EnhanceWidget(photo)
        w.task = "deblur"
        assert w.plan["error"]["type"] == "ModelNotFoundError"
        assert "enhance-widget models build maxim-deblurring-256" in w.plan["error"]["message"]
    finally:
        monkeypatch.undo()
        catalog_mod.reset_catalog()
