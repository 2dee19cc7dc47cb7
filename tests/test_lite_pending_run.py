"""A browser-engine run asked for before any view exists (``w = EnhanceWidget(...); w.run()`` in
the cell that first shows ``w``, as in JupyterLite) starts when a view appears: the view's hello
gets the ``engine-run`` again, until a view claims the job."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
for name in ("numpy", "PIL", "onnxruntime", "png"):
    sys.modules[name] = None  # as under Pyodide
from enhance_widget import EnhanceWidget
from enhance_widget.data import sample
from enhance_widget.widget import protocol as P
w = EnhanceWidget(sample().read_bytes(), scale=2, tile=64)
sent = []
w.send = lambda content, buffers=None: sent.append(content["kind"])
job = w.run()  # no view yet: this engine-run reaches nobody
print(sent.count(P.ENGINE_RUN))
w._on_custom(w, {"kind": P.HELLO}, [])  # the view appears
print(sent.count(P.ENGINE_RUN))
w._on_custom(w, {"kind": P.ENGINE_NEED, "job": job, "view": "v1", "worker": False, "wasm": False,
                 "models": []}, [])
w._on_custom(w, {"kind": P.HELLO}, [])  # a second view: the job is claimed, not run twice
print(sent.count(P.ENGINE_RUN), w.status)
"""


def test_a_run_asked_for_before_a_view_exists_starts_when_one_appears() -> None:
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "2", "2", "running"]
