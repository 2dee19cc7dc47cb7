"""Replay: a record re-runs to byte-identical pixels; a changed model or input is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enhance_widget import EnhanceError, ModelIntegrityError, enhance
from enhance_widget.replay import (
    ReplayError,
    ReplayInputMismatchError,
    ReplayModelMismatchError,
    ReplayWarning,
    replay,
    replay_matches,
)

MODEL = "esrgan-slim-x2"


@pytest.fixture(scope="module")
def photo(eval_images: dict[str, np.ndarray]) -> np.ndarray:
    return eval_images["coffee"][80:136, 60:132].copy()  # 72x56


@pytest.fixture(scope="module")
def original(photo: np.ndarray):  # type: ignore[no-untyped-def]
    return enhance(photo, scale=2, model=MODEL, tile=32, overlap=8, threads=1)


def test_record_is_json_and_versioned(original) -> None:  # type: ignore[no-untyped-def]
    rec = original.record
    assert json.loads(json.dumps(rec)) == rec
    assert rec["schema"] == "enhance-widget/record" and rec["schema_version"] >= 1
    opts = rec["options"]
    assert (opts["tile"], opts["overlap"], opts["controls"], opts["threads"]) == (32, 8, {}, 1)


def test_replay_twice_gives_byte_identical_arrays(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    first = replay(original.record, photo)
    second = replay(original.record, photo)
    assert first.array.dtype == second.array.dtype == original.array.dtype
    assert first.array.tobytes() == second.array.tobytes() == original.array.tobytes()
    assert replay_matches(original.record, first) and replay_matches(original.record, second)
    assert first.record["options"] == original.record["options"]
    assert first.record["plan"]["passes"] == original.record["plan"]["passes"]


def test_replay_from_a_saved_png(tmp_path: Path, photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    res = enhance(src, scale=2, model=MODEL, tile="auto", overlap=8)
    out = res.save(tmp_path / "out.png")
    again = replay(out, src)  # the record read back from the PNG's text chunk
    assert replay_matches(res.record, again)
    assert np.array_equal(np.asarray(Image.open(out)), again.array)


def test_replay_of_a_chained_model(small_rgb: np.ndarray, chain_x4: str) -> None:
    res = enhance(small_rgb, scale=4, model=chain_x4, tile=24, overlap=4)
    assert replay_matches(res.record, replay(res.record, small_rgb))


def test_tampered_model_sha_is_refused(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    rec = copy.deepcopy(original.record)
    rec["model"]["sha256"] = "0" * 64
    rec["model"]["passes"][0]["sha256"] = "0" * 64
    with pytest.raises(ReplayModelMismatchError, match="different version of the model") as info:
        replay(rec, photo)
    assert isinstance(info.value, ModelIntegrityError) and isinstance(info.value, EnhanceError)
    assert "000000000000" in str(info.value) and MODEL in str(info.value)


def test_other_pass_list_is_refused(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    rec = copy.deepcopy(original.record)
    rec["model"]["passes"] = [rec["model"]["passes"][0]] * 2
    with pytest.raises(ReplayModelMismatchError, match="passes"):
        replay(rec, photo)


def test_different_source_is_refused(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    other = photo.copy()
    other[0, 0, 0] ^= 1  # one level in one pixel
    with pytest.raises(ReplayInputMismatchError, match="not the recorded input"):
        replay(original.record, other)
    with pytest.raises(ReplayInputMismatchError, match=r"\(56x40\).*\(72x56\)"):
        replay(original.record, photo[:40, :56])


def test_unreadable_records_are_refused(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    newer = dict(original.record, schema_version=original.record["schema_version"] + 1)
    with pytest.raises(ReplayError, match="newer"):
        replay(newer, photo)
    with pytest.raises(ReplayError, match="not an enhance-widget record"):
        replay({"schema": "something else"}, photo)
    incomplete = {k: v for k, v in original.record.items() if k != "input"}
    with pytest.raises(ReplayError, match="'input.pixels_sha256'"):
        replay(incomplete, photo)


def test_replay_warns_when_the_plan_changed(photo: np.ndarray, original) -> None:  # type: ignore[no-untyped-def]
    rec = copy.deepcopy(original.record)
    rec["plan"]["passes"][0]["grid"] = [9, 9]
    with pytest.warns(ReplayWarning, match="differ from the recorded"):
        res = replay(rec, photo)
    assert replay_matches(original.record, res)  # the tiling rules did not really change


def test_replay_matches_is_false_for_other_pixels(original) -> None:  # type: ignore[no-untyped-def]
    changed = copy.copy(original)
    changed.array = original.array.copy()
    changed.array[0, 0, 0] ^= 1
    assert not replay_matches(original.record, changed)
    assert not replay_matches({}, original)


def test_replay_keeps_the_quality_mode(photo: np.ndarray) -> None:
    res = enhance(photo[:32, :40], scale=2, model=MODEL, quality="best", threads=1)
    assert res.record["options"]["tta"] is True
    again = replay(res.record, photo[:32, :40])
    assert again.record["options"]["tta"] is True and replay_matches(res.record, again)


def _installed_with_controls() -> list[str]:
    from enhance_widget import list_models

    return [c.id for c in list_models() if c.installed and c.extra_inputs and c.tiling]


@pytest.mark.parametrize(
    "model_id", _installed_with_controls() or [pytest.param("none", marks=pytest.mark.skip)]
)
def test_replay_uses_the_recorded_controls(photo: np.ndarray, model_id: str) -> None:
    from enhance_widget import list_models

    card = next(c for c in list_models() if c.id == model_id)
    extra = card.extra_inputs[0]
    controls = {extra.control: extra.default * 1.5 + 1}
    res = enhance(photo[:32, :32], task=card.task, model=model_id, controls=controls)
    assert res.record["options"]["controls"] == controls
    assert replay_matches(res.record, replay(res.record, photo[:32, :32]))
    default = enhance(photo[:32, :32], task=card.task, model=model_id)
    assert not replay_matches(res.record, default)  # the control does change the output
