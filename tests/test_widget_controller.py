"""The widget's controller without a browser: tile messages with RGBA buffers, one job at a time,
cancel mid-run then a new run, errors in the error state with the controller idle after."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enhance_widget.catalog import sample_image_path
from enhance_widget.widget import protocol as P
from enhance_widget.widget.controller import Controller, JobOptions

SAMPLE = sample_image_path()
SIZE = (160, 120)
SLIM = JobOptions(task="upscale", scale=2, model="esrgan-slim-x2", tile=64, overlap=16)


class Sink:
    """Records what the controller sends; ``on_tile`` runs after each tile message."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        self.state: dict[str, Any] = {}
        self.on_tile: Any = None
        self.lock = threading.Lock()

    def send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        with self.lock:
            self.messages.append((content, buffers))
        if content["kind"] == P.TILE and self.on_tile is not None:
            self.on_tile(content)

    def update_state(self, **state: Any) -> None:
        with self.lock:
            self.state.update(state)

    def kinds(self) -> list[str]:
        return [c["kind"] for c, _ in self.messages]

    def of(self, kind: str) -> list[tuple[dict[str, Any], list[bytes]]]:
        return [(c, b) for c, b in self.messages if c["kind"] == kind]


def test_run_sends_every_tile_with_an_rgba_buffer_of_its_region() -> None:
    sink = Sink()
    ctl = Controller(sink)
    job = ctl.start("req-1", SAMPLE, SLIM, SIZE)
    assert job is not None and ctl.busy
    assert ctl.wait(120) and not ctl.busy
    kinds = sink.kinds()
    assert kinds[0] == P.RUN_STARTED and kinds[-1] == P.RUN_DONE
    head = sink.of(P.RUN_STARTED)[0][0]
    assert head["id"] == "req-1" and head["job"] == job.id and head["out_size"] == [320, 240]
    assert head["total"] == 9 and len(head["passes"]) == 1 and len(head["passes"][0]["cores"]) == 9
    tiles = sink.of(P.TILE)
    assert [c["index"] for c, _ in tiles] == list(range(9))
    covered = np.zeros((240, 320), dtype=np.int32)
    result = np.asarray(ctl.result.image.convert("RGB"))
    for content, buffers in tiles:
        x0, y0, x1, y1 = content["region"]
        assert content["total"] == 9 and content["job"] == job.id and content["ms"] > 0
        assert content["region"] == head["passes"][0]["cores"][content["index"]]
        assert len(buffers) == 1 and len(buffers[0]) == (x1 - x0) * (y1 - y0) * 4
        rgba = np.frombuffer(buffers[0], dtype=np.uint8).reshape(y1 - y0, x1 - x0, 4)
        assert (rgba[..., 3] == 255).all()
        # a tile is the model's output before blending: close to the final pixels it owns
        diff = np.abs(rgba[..., :3].astype(int) - result[y0:y1, x0:x1].astype(int))
        assert diff.mean() < 2.0, diff.mean()
        covered[y0:y1, x0:x1] += 1
    assert (covered == 1).all(), "tile regions must partition the output"
    done = sink.of(P.RUN_DONE)[0][0]
    assert done["id"] == "req-1" and done["record"]["model"]["id"] == "esrgan-slim-x2"
    assert sink.state["status"] == "done" and sink.state["error"] == {}
    assert sink.state["progress"]["done"] == sink.state["progress"]["total"] == 9
    png = Image.open(io.BytesIO(sink.state["result_png"]))
    assert png.size == (320, 240) and np.array_equal(np.asarray(png.convert("RGB")), result)
    assert sink.state["last_run"]["provider"] == "CPUExecutionProvider"
    assert sink.state["last_run"]["load_ms"] == done["record"]["load_ms"] >= 0  # shown in the figures


def test_one_job_at_a_time_and_cancel_mid_run_then_a_new_run_works() -> None:
    sink = Sink()
    ctl = Controller(sink)
    cancelled_at: list[float] = []

    def cancel_after_two(content: dict[str, Any]) -> None:
        if content["index"] == 1:
            # Cancel arrives from another thread, as it does from the kernel's comm handler
            def cancel() -> None:
                cancelled_at.append(time.perf_counter())
                assert ctl.cancel("req-cancel")

            threading.Thread(target=cancel).start()

    sink.on_tile = cancel_after_two
    # the default x4 model in 64 px tiles
    opts = JobOptions(task="upscale", scale=4, tile=64, overlap=16)
    job = ctl.start("req-run", SAMPLE, opts, SIZE)
    assert job is not None
    assert ctl.start("req-again", SAMPLE, opts, SIZE) is None
    rejected = sink.of(P.REJECTED)[0][0]
    assert rejected["id"] == "req-again" and rejected["request"] == P.RUN and "running" in rejected["reason"]
    assert ctl.wait(120)
    stopped = time.perf_counter()
    assert not ctl.busy and ctl.result is None
    assert sink.state["status"] == "cancelled"
    cancel_msg = sink.of(P.RUN_CANCELLED)[0][0]
    assert cancel_msg["job"] == job.id and cancel_msg["id"] == "req-run"
    tiles = len(sink.of(P.TILE))
    assert 2 <= tiles <= 4 and cancel_msg["after_tiles"] == tiles, tiles
    from enhance_widget import plan_for

    total = plan_for(SIZE, "upscale", 4, None, 64, 16).total_tiles
    assert sink.state["progress"]["total"] == total and sink.state["progress"]["done"] == tiles
    mean_tile_s = sum(c["ms"] for c, _ in sink.of(P.TILE)) / tiles / 1000
    assert stopped - cancelled_at[0] < max(2.0, 2 * mean_tile_s), "cancel must stop within one tile"
    # idle again: a new run completes
    sink.on_tile = None
    assert ctl.start("req-next", SAMPLE, SLIM, SIZE) is not None
    assert ctl.wait(120)
    assert sink.state["status"] == "done" and ctl.result.size == (320, 240)
    assert sink.kinds()[-1] == P.RUN_DONE


def test_cancel_when_idle_is_rejected() -> None:
    sink = Sink()
    assert Controller(sink).cancel("c1") is False
    assert sink.of(P.REJECTED)[0][0] == {
        "kind": P.REJECTED,
        "id": "c1",
        "request": P.CANCEL,
        "reason": "idle",
    }


@pytest.mark.parametrize(
    ("source", "options", "error_type"),
    [
        (b"definitely not an image", SLIM, "ImageDecodeError"),
        (SAMPLE, JobOptions(task="upscale", scale=2, model="no-such-model"), "ModelNotFoundError"),
        (SAMPLE, JobOptions(task="upscale", scale=3), "ModelNotFoundError"),
    ],
)
def test_an_error_sets_the_error_state_and_the_controller_stays_usable(
    source: Any, options: JobOptions, error_type: str
) -> None:
    sink = Sink()
    ctl = Controller(sink)
    size = None if isinstance(source, bytes) else SIZE
    assert ctl.start("bad", source, options, size) is not None
    assert ctl.wait(60) and not ctl.busy
    assert sink.state["status"] == "error"
    assert sink.state["error"]["type"] == error_type and sink.state["error"]["message"]
    err = sink.of(P.RUN_ERROR)[0][0]
    assert (
        err["type"] == error_type and err["id"] == "bad" and err["message"] == sink.state["error"]["message"]
    )
    assert ctl.result is None
    assert ctl.start("good", SAMPLE, SLIM, SIZE) is not None
    assert ctl.wait(120)
    assert sink.state["status"] == "done" and sink.state["error"] == {}


def test_a_view_rendered_mid_run_gets_the_running_jobs_tiles_again() -> None:
    sink = Sink()
    ctl = Controller(sink)
    seen = threading.Event()
    sink.on_tile = lambda c: seen.set() if c["index"] >= 2 else None
    assert ctl.start("r", SAMPLE, JobOptions(task="upscale", scale=4, tile=64), SIZE) is not None
    assert seen.wait(60)
    sink.on_tile = None
    before = len(sink.messages)
    ctl.replay()
    replayed = sink.messages[before:]
    ctl.cancel()
    ctl.wait(60)
    kinds = [c["kind"] for c, _ in replayed]
    assert kinds[0] == P.RUN_STARTED and kinds.count(P.TILE) >= 3
    first_tiles = [c for c, _ in sink.messages[:before] if c["kind"] == P.TILE][: kinds.count(P.TILE)]
    assert [c for c, _ in replayed[1:]][: len(first_tiles)] == first_tiles


def test_tile_message_checks_its_region(tmp_path: Path) -> None:
    pixels = np.full((3, 5, 3), 0.5, dtype=np.float32)
    content, buffers = P.tile_message(7, 2, 9, 0, 1, (10, 20, 15, 23), (100, 80), 12.345, pixels)
    assert content["region"] == [10, 20, 15, 23] and content["ms"] == 12.35 and content["job"] == 7
    assert buffers[0] == bytes([128, 128, 128, 255]) * 15
    with pytest.raises(ValueError, match="region"):
        P.tile_message(7, 2, 9, 0, 1, (10, 20, 16, 23), (100, 80), 1.0, pixels)


def test_browser_engine_assets_travel_in_pieces_of_at_most_one_mib() -> None:
    """A page's first colorize run asks for the worker, the WASM build (14 MB) and the 10 MB
    model: each goes in order, in messages of at most 1 MiB (one kernel message is one main-thread
    task in the page), which put together give the files' bytes; nothing lacking: one message."""
    import hashlib

    from enhance_widget.widget.browser import ASSET_CHUNK, STATIC, WASM_FILE

    sink = Sink()
    ctl = Controller(sink)
    opts = JobOptions(task="colorize", tile=64, provider="wasm")
    job = ctl.start_browser("r1", SAMPLE.read_bytes(), opts, SIZE)
    assert job is not None
    card = next(c for c, _ in sink.messages if c["kind"] == P.ENGINE_RUN)["cards"][0]
    need = {"kind": P.ENGINE_NEED, "job": job.id, "view": "v", "worker": True, "wasm": True}
    ctl.engine_message({**need, "models": [card["sha256"]]}, [])
    pieces = [(c, b) for c, b in sink.messages if c["kind"] == P.ENGINE_ASSETS]
    names = ["worker", "wasm", card["sha256"]]
    assert all(c["names"] == names and c["view"] == "v" and len(b) == 1 for c, b in pieces)
    assert max(len(b[0]) for _, b in pieces) <= ASSET_CHUNK
    joined: dict[str, bytes] = {}
    for c, b in pieces:
        assert c["offset"] == len(joined.get(c["name"], b"")), c  # in order, none missing
        joined[c["name"]] = joined.get(c["name"], b"") + bytes(b[0])
        assert c["size"] == c["offset"] + len(b[0]) or len(b[0]) == ASSET_CHUNK
    assert list(joined) == names
    assert joined["wasm"] == (STATIC / WASM_FILE).read_bytes()
    assert hashlib.sha256(joined[card["sha256"]]).hexdigest() == card["sha256"]
    assert len(pieces) >= len(joined[card["sha256"]]) // ASSET_CHUNK + 2
    # the page lacks nothing: one message without buffers, so it starts the run
    sink.messages.clear()
    ctl.engine_message({"kind": P.ENGINE_NEED, "job": job.id, "view": "v", "models": []}, [])
    assert [(c["names"], b) for c, b in sink.messages if c["kind"] == P.ENGINE_ASSETS] == [([], [])]
    ctl.cancel()


def test_browser_engine_run_message_carries_extra_inputs_tta_provider_and_image_kind(tmp_path: Path) -> None:
    sink = Sink()
    ctl = Controller(sink)
    opts = JobOptions(
        task="restore", model="ffdnet-color", tile=64, controls={"strength": 30}, provider="webgpu"
    )
    job = ctl.start_browser("r1", SAMPLE.read_bytes(), opts, SIZE, {"gray": True, "alpha": False})
    assert job is not None and sink.state["status"] == "running"
    run = next(c for c, _ in sink.messages if c["kind"] == P.ENGINE_RUN)
    assert run["cards"][0]["extra"] == [{"name": "sigma", "value": 30 * (1 / 255), "shape": [1, 1, 1, 1]}]
    assert (run["provider"], run["tta"], run["image"]) == ("webgpu", False, {"gray": True, "alpha": False})
    # the page asks for the WebGPU build: served from the wheel's static files
    ctl.engine_message({"kind": P.ENGINE_NEED, "job": job.id, "view": "v", "wasm_webgpu": True}, [])
    names, buffers = next((c["names"], b) for c, b in sink.messages if c["kind"] == P.ENGINE_ASSETS)
    assert names == ["wasm-webgpu"] and buffers[0][:4] == b"\0asm"
    ctl.cancel()
    ctl.engine_message({"kind": P.ENGINE_CANCELLED, "job": job.id, "after_tiles": 0}, [])
    # quality "best" runs test-time augmentation in the page too
    job = ctl.start_browser("r2", SAMPLE.read_bytes(), JobOptions(scale=2, quality="best", tile=64), SIZE)
    assert job is not None
    run = [c for c, _ in sink.messages if c["kind"] == P.ENGINE_RUN][-1]
    assert run["tta"] is True and run["provider"] == "auto" and run["cards"][0]["extra"] == []
    ctl.cancel()
    ctl.engine_message({"kind": P.ENGINE_CANCELLED, "job": job.id, "after_tiles": 0}, [])
    # colorize's whole-image Lab pass runs in the page too: its pipeline and strength go along,
    # and a grey input is written in colour (as the kernel engine does)
    opts = JobOptions(task="colorize", tile=64, controls={"strength": 0.5})
    job = ctl.start_browser("r3", SAMPLE.read_bytes(), opts, SIZE, {"gray": True, "alpha": True})
    assert job is not None and sink.state["status"] == "running"
    run = [c for c, _ in sink.messages if c["kind"] == P.ENGINE_RUN][-1]
    card = run["cards"][0]
    assert (card["id"], card["pipeline"], card["strength"]) == ("colorize-unet", "global-lab", 0.5)
    assert (card["input_name"], card["output_name"]) == ("L", "ab")
    assert run["image"] == {"gray": False, "alpha": True}
    assert run["plan"]["strategy"] == "global" and len(run["plan"]["passes"][0]["tiles"]) == 1
    ctl.cancel()
    ctl.engine_message({"kind": P.ENGINE_CANCELLED, "job": job.id, "after_tiles": 0}, [])
    # a strength outside 0..1.5 is refused before anything reaches the page, as the kernel does
    ctl.start_browser("r3b", SAMPLE.read_bytes(), JobOptions(task="colorize", controls={"strength": 2}), SIZE)
    assert sink.state["status"] == "error"
    assert sink.state["error"] == {"type": "ValueError", "message": "strength must be within 0..1.5, got 2.0"}
    # a bad provider is refused before anything reaches the page
    ctl.start_browser("r4", SAMPLE.read_bytes(), JobOptions(scale=2, tile=64, provider="cuda"), SIZE)
    assert sink.state["error"]["message"] == "provider must be one of auto, webgpu, wasm; got 'cuda'"


def test_png_kind_reads_grey_and_alpha_as_pillow_does() -> None:
    from enhance_widget.widget.browser import png_kind

    def png(mode: str, **info: Any) -> bytes:
        out = io.BytesIO()
        im = Image.new(mode, (4, 3))
        if mode == "P":
            im.putpalette([0, 0, 0, 255, 255, 255])
        im.save(out, format="PNG", **info)
        return out.getvalue()

    assert png_kind(png("L")) == {"gray": True, "alpha": False}
    assert png_kind(png("LA")) == {"gray": True, "alpha": True}
    assert png_kind(png("RGB")) == {"gray": False, "alpha": False}
    assert png_kind(png("RGBA")) == {"gray": False, "alpha": True}
    assert png_kind(png("P")) == {"gray": False, "alpha": False}
    assert png_kind(png("P", transparency=0)) == {"gray": False, "alpha": True}


def test_browser_engine_is_told_the_digest_of_the_bytes_it_gets(tmp_path: Path) -> None:
    """A model file an older recipe built (its digest listed in ``alt_sha256``) is accepted by the
    kernel; the browser engine keys models by digest and checks the bytes, so the card it gets and
    the asset it asks for must name that file's digest, not the manifest's."""
    from dataclasses import replace

    from enhance_widget.catalog import catalog
    from enhance_widget.errors import EnhanceError, ModelIntegrityError
    from enhance_widget.model_integrity import sha256_of
    from enhance_widget.widget.browser import asset_bytes, engine_card

    card = catalog().get("esrgan-slim-x2")
    assert card.path is not None
    shipped = card.path.read_bytes()
    assert engine_card(card)["sha256"] == card.sha256
    assert asset_bytes(card.sha256, [card]) == shipped
    older = tmp_path / "esrgan-slim-x2.onnx"
    older.write_bytes(shipped + b"older build")
    digest = sha256_of(older.read_bytes())
    alt = replace(card, path=older, alt_sha256=(digest,))
    assert engine_card(alt)["sha256"] == digest
    assert asset_bytes(digest, [alt]) == older.read_bytes()
    with pytest.raises(EnhanceError, match="no model with sha256"):
        asset_bytes(card.sha256, [alt])
    older.write_bytes(b"tampered")  # a changed file: its new digest is no accepted one
    with pytest.raises(ModelIntegrityError, match="damaged"):
        asset_bytes(engine_card(alt)["sha256"], [alt])
