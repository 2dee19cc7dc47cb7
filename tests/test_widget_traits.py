"""EnhanceWidget without a browser: traits and plan figures, requests as the front end sends
them, Save next to the source, errors in the error trait, binary (not text) trait sync."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enhance_widget import ControlValueError, EnhanceError, EnhanceWidget, ImageDecodeError, plan_for
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


def _mode(task: str, scale: int, quality: str) -> str:
    """The model the manifest names for a quality mode (tests never hard-code model ids)."""
    from enhance_widget.catalog import catalog

    return str(catalog().modes(task, scale if task == "upscale" else None)[quality].model_id)


def _front(w: EnhanceWidget, **content: Any) -> None:
    """Deliver a custom message as the comm would."""
    w._on_custom(w, content, [])


def test_plan_figures_before_run_and_controls_update_them_without_running(photo: Path) -> None:
    w = EnhanceWidget(photo)
    rec = Recorder(w)
    assert w.source_name == "photo.png" and w.source_size == [160, 120]
    assert w.source_bytes == photo.read_bytes(), "a PNG goes to the browser as it is"
    p = w.plan
    expected = plan_for((160, 120), "upscale", 4)
    assert p["model"] == _mode("upscale", 4, "balanced") and p["out_size"] == [640, 480]
    assert len(p["passes"]) == len(expected.passes)
    assert p["memory_bytes"] == expected.memory_bytes and p["budget_bytes"] == expected.budget_bytes
    assert p["available_bytes"] and p["available_bytes"] > 0 and p["fits"] is True
    assert p["provider"] == "CPUExecutionProvider" and p["runtime"] == "onnxruntime" and p["seconds"] > 0
    w.scale = 2
    w.tile = "64"
    x2 = _mode("upscale", 2, "balanced")
    assert w.plan["out_size"] == [320, 240] and w.plan["model"] == x2
    assert w.plan["total_tiles"] == plan_for((160, 120), "upscale", 2, None, 64).total_tiles
    w.overlap = 0
    assert w.plan["overlap"] == 0
    assert w.plan["total_tiles"] == plan_for((160, 120), "upscale", 2, None, 64, 0).total_tiles
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
    assert w.model == "" and w.plan["model"] == _mode("upscale", 4, "balanced")
    balanced_s = w.plan["seconds"]
    assert w.quality == "balanced" and w.plan["tta"] is False
    w.quality = "fast"
    assert w.plan["model"] == _mode("upscale", 4, "fast"), "the manifest's fast x4 model"
    w.quality = "best"
    assert w.plan["model"] == _mode("upscale", 4, "best") and w.plan["tta"] is True
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
    # a second click on the same result: the same file, no numbered copy
    _front(w, kind=P.SAVE, id="s2")
    again = rec.messages[-1][0]
    assert again["kind"] == P.SAVED and again["path"] == str(path) and again["again"] is True
    assert sorted(f.name for f in photo.parent.iterdir()) == ["photo.png", "photo_upscalex2.png"]
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, "saved files follow the umask"
    w.run()  # a new result is a new file, never over an existing one
    assert w.wait(120)
    assert w.save() == photo.parent / "photo_upscalex2-2.png"
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
    assert w.status == "idle" and w.error["type"] == "ImageDecodeError" and w.error["during"] == "open"
    assert w.source_bytes == b"" and w.source_size == []
    assert w.run() is None and rec.messages[-1][0]["reason"] == "open an image first"
    w.load(photo)
    assert w.error == {} and w.status == "idle" and w.source_size == [160, 120]
    w.scale, w.model = 2, "esrgan-slim-x2"
    w.run()
    assert w.wait(120) and w.status == "done" and w.result.size == (320, 240)
    shown, result = w.source_bytes, w.result
    # a bad file later: a typed error, and the photo and result on screen stay
    with pytest.raises(ImageDecodeError):
        w.load(b"not an image at all")
    assert w.error["type"] == "ImageDecodeError" and w.source_bytes == shown and w.result is result
    assert w.status == "done" and w.source_size == [160, 120]


def test_a_photo_opened_in_the_view_arrives_in_pieces_with_enhances_limits(
    photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    w = EnhanceWidget(photo, max_pixels=100_000)
    rec = Recorder(w)
    jpeg = io.BytesIO()
    Image.new("RGB", (90, 60), (200, 120, 40)).save(jpeg, format="JPEG", quality=90)
    data = jpeg.getvalue()
    cut = len(data) // 3
    for offset in (0, cut):
        end = len(data) if offset else cut
        w._on_custom(
            w,
            {"kind": P.OPEN, "id": "o1", "name": "holiday.jpg", "offset": offset, "size": len(data)},
            [memoryview(data[offset:end])],
        )
    assert w.source_name == "holiday.jpg" and w.source_size == [90, 60] and w.source_bytes == data
    assert w.source_colour is True and w.error == {} and rec.messages == []
    assert np.array_equal(
        np.asarray(w._source.value if isinstance(w._source.value, bytes) else b""), np.asarray(data)
    )
    w.scale, w.model = 2, "esrgan-slim-x2"
    w.run()
    assert w.wait(120) and w.result.size == (180, 120)
    assert w.save() == tmp_path / "holiday_upscalex2.png", "saved in the working folder, named after the file"
    # too many pixels: enhance()'s ImageTooLargeError, the previous photo kept
    big = io.BytesIO()
    Image.new("L", (400, 300)).save(big, format="PNG")
    w._on_custom(
        w,
        {"kind": P.OPEN, "id": "o2", "name": "big.png", "offset": 0, "size": len(big.getvalue())},
        [big.getvalue()],
    )
    assert rec.messages[-1][0]["kind"] == P.REJECTED and rec.messages[-1][0]["request"] == P.OPEN
    assert "ImageTooLargeError" in rec.messages[-1][0]["reason"]
    assert w.error["type"] == "ImageTooLargeError" and w.error["name"] == "big.png"
    assert w.source_name == "holiday.jpg" and w.result.size == (180, 120)
    grey = io.BytesIO()
    Image.new("RGB", (30, 20), (90, 90, 90)).save(grey, format="PNG")
    w.load(grey.getvalue(), name="grey.png")
    assert w.source_colour is False and w.result is None and w.error == {}


def test_strength_controls_come_from_the_manifest_and_are_checked_when_set(photo: Path) -> None:
    from enhance_widget.catalog import catalog

    entries = {e["id"]: e for e in catalog().manifest["models"]}
    w = EnhanceWidget(photo)
    assert w.control_specs == [] and w.controls == {}, "upscale has no strength"
    w.task = "restore"
    restore_model = w.plan["model"]
    spec = entries[restore_model]["controls"]["strength"]
    (s,) = w.control_specs
    assert (s["name"], s["min"], s["max"], s["default"]) == (
        "strength",
        spec["min"],
        spec["max"],
        spec["default"],
    )
    w.controls = {"strength": spec["max"]}
    assert w.controls == {"strength": float(spec["max"])}
    for bad in (
        {"strength": spec["max"] + 1},
        {"strength": -10},
        {"strength": "abc"},
        {"strength": True},
        {"sigma": 3},
    ):
        with pytest.raises(ControlValueError):
            w.controls = bad
        assert w.controls == {"strength": float(spec["max"])}, "a refused value changes nothing"
    w.task = "colorize"
    cspec = entries[w.plan["model"]]["controls"]["strength"] if "error" not in w.plan else None
    if cspec is not None:
        assert w.control_specs[0]["max"] == cspec["max"] and w.controls == {}, "each task has its own"
        w.controls = {"strength": cspec["min"]}
    w.task = "restore"
    assert w.controls == {"strength": float(spec["max"])}, "restore's value came back"
    rec = Recorder(w)
    w._on_custom(w, {"kind": P.RUN, "id": "r"}, [])
    with pytest.raises(EnhanceError, match="run is in progress"):
        w.task = "upscale"
    assert w.task == "restore"
    w.cancel()
    assert w.wait(120) and not w.busy
    assert rec.kinds()[0] == P.RUN_STARTED
    w.task = "upscale"
    assert w.control_specs == [] and w.controls == {}


def test_a_change_from_the_view_mid_run_is_refused_and_the_view_restored(photo: Path) -> None:
    w = EnhanceWidget(photo, scale=2, tile=32)
    rec = Recorder(w)
    gate = threading.Event()
    w._controller.sink = _Gated(w, gate)  # the first tile waits until the change was tried
    w.run()
    w.set_state({"scale": 4, "tile": "64"})
    w.set_state({"controls": {"strength": 5}})
    assert (w.scale, w.tile, w.controls) == (2, "32", {})
    refused = [c for c, _ in rec.messages if c["kind"] == P.REJECTED]
    assert len(refused) == 2 and all("run is in progress" in c["reason"] for c in refused)
    gate.set()
    assert w.wait(120) and w.status == "done"
    assert w.result.record["options"]["tile"] == 32 and w.result.size == (320, 240)
    w.set_state({"scale": 4})
    assert w.scale == 4, "once idle, the view's change applies"
    w.set_state({"task": "restore"})
    top = w.control_specs[0]["max"]
    w.set_state({"controls": {"strength": top + 1}})
    assert w.controls == {} and "ControlValueError" in rec.messages[-1][0]["reason"]
    w.set_state({"controls": {"strength": top}})
    assert w.controls == {"strength": top}


class _Gated:
    def __init__(self, w: EnhanceWidget, gate: threading.Event) -> None:
        self.w, self.gate = w, gate

    def send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if content["kind"] == P.TILE:
            self.gate.wait(60)
        self.w.send_message(content, buffers)

    def update_state(self, **state: Any) -> None:
        self.w.update_state(**state)


def test_bad_control_values_show_as_plan_errors_not_exceptions(photo: Path) -> None:
    w = EnhanceWidget(photo)
    w.tile = "tiny"
    assert w.plan["error"]["type"] == "ValueError"
    rec = Recorder(w)
    w.run()
    assert w.status == "error" and rec.kinds() == [P.RUN_ERROR] and not w.busy
    w.tile = "auto"
    assert "error" not in w.plan and w.status == "idle", "new settings: ready again"
    w.tile = "tiny"
    w.run()
    assert w.status == "error"
    with pytest.raises(ImageDecodeError):  # an open error replaces the run's: not "the run failed"
        w.load(b"GIF89a broken")
    assert w.status == "idle" and w.error["during"] == "open" and w.source_size == [160, 120]


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
    default = by_id["span-x2"]
    assert default["installed"] and default["size_mb"] == 1.7 and default["license"] == "Apache-2.0"
    assert default["s_per_mpx"] == round(catalog().get("span-x2").cost.ms_per_mpx / 1000, 1)
    assert by_id["idealo-psnr-small-x4"]["size_mb"] == 10.5  # a chain counts its model once
    for m in w.models:  # the whole licence goes along; research-only terms are flagged for the view
        card = catalog().get(m["id"])
        assert m["license_full"] == card.license
        assert m["research_only"] == ("non-commercial" in card.license.lower())
    colorize = catalog().default_for("colorize", None)
    if "non-commercial" in colorize.license.lower():
        assert by_id[colorize.id]["research_only"] is True
    missing = [m for m in w.models if not m["installed"]]
    for m in missing:  # large models not on this machine say they are optional and how to get them
        needs = next(c for c in catalog().resolve_chain(catalog().get(m["id"])) if not c.installed)
        assert m["install_hint"] == needs.install_hint  # a chain: the hint of its missing model
        assert (
            m["install_hint"].startswith("optional model (")
            and f"models build {needs.id}" in m["install_hint"]
        )


def test_a_missing_large_model_plans_as_not_installed(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from enhance_widget import catalog as catalog_mod

    monkeypatch.setenv("ENHANCE_WIDGET_MODELS", str(photo.parent))  # a folder without the large models
    catalog_mod.reset_catalog()
    try:
        optional = [c for c in catalog_mod.catalog().cards() if not c.installed and not c.is_chain]
        assert optional, "the manifest lists optional models that are not shipped"
        card = optional[0]
        w = EnhanceWidget(photo)
        w.model = card.id
        assert w.task == card.task and w.plan["error"]["type"] == "ModelNotFoundError"
        assert f"enhance-widget models build {card.id}" in w.plan["error"]["message"]
    finally:
        monkeypatch.undo()
        catalog_mod.reset_catalog()


def test_the_time_estimate_is_recalibrated_from_each_measured_run(photo: Path) -> None:
    from enhance_widget.widget import planview

    planview.reset_calibration()
    w = EnhanceWidget(photo, scale=2, tile=64)
    first = w.plan
    load = planview.load_seconds(first["model"])
    assert first["calibrated"] is False and first["seconds"] == pytest.approx(first["seconds_planned"])
    w.run()
    assert w.wait(120) and w.status == "done"
    run = w.last_run
    assert run["estimate_s"] == pytest.approx(first["seconds"], abs=0.01) and run["measured_s"] > 0
    assert (run["task"], run["scale"]) == ("upscale", 2)
    second = w.plan  # re-made when the run ended: this model's measured speed here, loaded already
    factor = (run["measured_s"] - run["load_ms"] / 1000) / (first["seconds_planned"] - load)
    assert second["calibrated"] is True and second["seconds_planned"] == first["seconds_planned"]
    # plan seconds (planned and corrected) are rounded to 0.01 s: small figures need that slack too
    assert second["seconds"] == pytest.approx(
        (second["seconds_planned"] - load) * factor, rel=0.05, abs=0.006 * (1 + factor)
    )
    w.tile = "whole"  # another plan of the same model: the same correction
    assert w.plan["calibrated"] is True
    assert w.plan["seconds"] == pytest.approx(
        (w.plan["seconds_planned"] - load) * factor, rel=0.05, abs=0.006 * (1 + factor)
    )
    w.task = "restore"  # a model not run here yet: this machine's measured speed, its load included
    other = w.plan
    assert other["model"] != second["model"] and other["calibrated"] is True
    assert other["seconds"] == pytest.approx(
        other["seconds_planned"] * factor, rel=0.05, abs=0.006 * (1 + factor)
    )
    planview.reset_calibration()
