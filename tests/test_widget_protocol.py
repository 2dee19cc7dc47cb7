"""The message kinds in widget/protocol.py and js/src/protocol.ts are the same; the front end
has no base64, no HTML built from strings and no network requests."""

from __future__ import annotations

import re
from pathlib import Path

from enhance_widget.widget import protocol as P

REPO = Path(__file__).resolve().parents[1]
TS = REPO / "js" / "src" / "protocol.ts"
PY = REPO / "src" / "enhance_widget" / "widget" / "protocol.py"


def _ts_constants() -> dict[str, str]:
    return dict(re.findall(r'^export const ([A-Z_]+) = "([^"]+)";$', TS.read_text(), re.M))


def _py_constants() -> dict[str, str]:
    return dict(re.findall(r'^([A-Z_]+): Final = "([^"]+)"$', PY.read_text(), re.M))


def _ts_list(name: str) -> list[str]:
    m = re.search(rf"^export const {name} = \[([^\]]*)\] as const;$", TS.read_text(), re.M)
    assert m, f"{name} not found in protocol.ts"
    return [x.strip() for x in m.group(1).split(",") if x.strip()]


def test_message_kinds_match_between_python_and_typescript() -> None:
    ts, py = _ts_constants(), _py_constants()
    assert len(py) == 21, py
    assert ts == py
    for name, value in py.items():
        assert getattr(P, name) == value
    by_value = {v: k for k, v in py.items()}
    assert _ts_list("TO_KERNEL") == [by_value[v] for v in P.TO_KERNEL]
    assert _ts_list("TO_FRONTEND") == [by_value[v] for v in P.TO_FRONTEND]
    assert len(set(py.values())) == len(py), "kinds must be distinct"


def _sources() -> dict[Path, str]:
    files = list((REPO / "js" / "src").glob("*.ts")) + list(
        (REPO / "src" / "enhance_widget" / "widget").glob("*.py")
    )
    return {f: f.read_text() for f in files}


def test_no_base64_anywhere_in_the_widget() -> None:
    for path, text in _sources().items():
        for word in ("base64", "btoa(", "atob(", "b64encode", "b64decode"):
            assert word not in text, f"{word} in {path}"


def test_front_end_never_builds_html_from_strings_or_reaches_the_network() -> None:
    banned = (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "EventSource",
        "sendBeacon",
        "import(",
        "http://",
        "https://",
    )
    # the one exception: engine/site.ts fetches a model the JupyterLite site serves, from the
    # page's own origin only (it refuses any other)
    guard = "models are read only from this page's own site"
    site = (REPO / "js" / "src" / "engine" / "site.ts").read_text()
    assert site.count("fetch(") == 1 and "where.origin !== window.location.origin" in site and guard in site
    for path, text in _sources().items():
        if path.suffix != ".ts":
            continue
        for word in banned:
            assert word not in text, f"{word} in {path}"
    bundle = REPO / "src" / "enhance_widget" / "static" / "widget.js"
    if bundle.exists():
        text = bundle.read_text()
        assert text.count("fetch(") <= 1 and (guard in text or "fetch(" not in text)
        text = text.replace("fetch(", "")
        for word in ("innerHTML", "fetch(", "XMLHttpRequest", "http://", "https://"):
            assert word not in text, f"{word} in the built bundle"
