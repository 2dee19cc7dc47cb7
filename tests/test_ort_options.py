"""CPU session options of the onnxruntime runtime: thread spinning is off unless ENHANCE_WIDGET_SPIN=1
asks for it, the session really gets the setting, and the pixels do not depend on it."""

from __future__ import annotations

import numpy as np
import pytest

from enhance_widget.catalog import catalog
from enhance_widget.engine import to_tensor
from enhance_widget.runtimes.ort import OrtRuntime, RuntimeOptions


def _spin_entry(rt: OrtRuntime) -> str:
    value: str = rt.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    return value


@pytest.mark.parametrize(("env", "expected"), [(None, False), ("1", True), ("0", False), ("no", False)])
def test_spinning_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str | None, expected: bool
) -> None:
    if env is None:
        monkeypatch.delenv("ENHANCE_WIDGET_SPIN", raising=False)
    else:
        monkeypatch.setenv("ENHANCE_WIDGET_SPIN", env)
    assert RuntimeOptions.from_env().spinning is expected


def test_session_gets_the_spinning_setting_and_pixels_do_not_change(small_rgb: np.ndarray) -> None:
    card = catalog().get("esrgan-slim-x2")
    feeds = {card.input_name: to_tensor(small_rgb.astype(np.float32) / 255.0, card)}
    outs = []
    for spinning in (False, True):
        rt = OrtRuntime(card, RuntimeOptions(intra_op_threads=2, spinning=spinning))
        assert _spin_entry(rt) == ("1" if spinning else "0")
        outs.append(rt.run(feeds))
    np.testing.assert_array_equal(outs[0], outs[1])
