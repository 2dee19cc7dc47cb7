"""The kernel side of the browser engine: the plan and model cards sent to the page, the assets
it asks for (engine worker code, one of onnxruntime-web's two builds: WASM, or WebGPU where the
page has an adapter; model bytes: once per page), and the result it sends back (PNG bytes in the
input's kind: grey stays grey, except that colorize writes colour; alpha is kept; a
:class:`~enhance_widget.Result` where numpy and Pillow exist). The page runs tiled passes and
colorize's whole-image ``global-lab`` pass.

Pure Python at import time, so it also runs under Pyodide (JupyterLite), where the browser
engine is the only engine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnhanceError
from ..planning import plan_for as plan_for  # the one model choice and planner (pure Python)

STATIC = Path(__file__).resolve().parent.parent / "static"
WORKER_FILE = "engine-worker.js"
WASM_FILE = "ort-wasm-simd-threaded.wasm"
WASM_WEBGPU_FILE = "ort-wasm-simd-threaded.asyncify.wasm"
"""onnxruntime-web's WebGPU build (``onnxruntime-web/webgpu``); it also runs the wasm provider."""
ASSET_FILES = {"worker": WORKER_FILE, "wasm": WASM_FILE, "wasm-webgpu": WASM_WEBGPU_FILE}
ENGINES = ("kernel", "browser")
PROVIDERS = ("auto", "webgpu", "wasm")
ASSET_CHUNK = 1 << 20
"""Assets travel to the page in messages of at most this many bytes: the page's main thread
receives each kernel message in one task (the websocket frame, JupyterLab's deserializing), so
a 10-25 MB message in one piece stalls it for hundreds of milliseconds; 1 MiB pieces take a few."""
"""Browser-engine providers: ``auto`` is WebGPU where the page has a hardware adapter (not a
software one such as SwiftShader, slower than WASM), else WASM; ``webgpu`` takes any adapter."""


def kernel_engine_available() -> bool:
    """numpy and onnxruntime importable (never under Pyodide)."""
    if sys.platform == "emscripten":
        return False
    for name in ("numpy", "onnxruntime"):
        if sys.modules.get(name, 0) is None:  # blocked (tests simulate Pyodide this way)
            return False
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def default_engine() -> str:
    return "kernel" if kernel_engine_available() else "browser"


def engine_card(card: Any, controls: dict[str, float] | None = None) -> dict[str, Any]:
    """What the browser engine needs to know about one pass's model (``controls`` fill its
    extra inputs, as ``engine.extra_feeds`` does: ``value * scale``, a constant float32 tensor;
    a ``global-lab`` pass (colorize) takes its ``strength``, as ``engine.run_global_lab`` does)."""
    if card.pipeline not in ("tiled", "global-lab"):
        raise EnhanceError(
            f"model {card.id!r} needs the kernel engine (the browser engine runs tiled and "
            f"global-lab passes; {card.id!r} is a {card.pipeline!r} pass)"
        )
    if not card.sha256:
        raise EnhanceError(f"model {card.id!r} has no sha256 in its card; refusing to load it")
    from ..model_integrity import file_sha256

    controls = controls or {}
    strength = 1.0
    if card.pipeline == "global-lab":
        strength = float(controls.get("strength", 1.0))
        if not 0.0 <= strength <= 1.5:  # colorize.colorize_array's check, before the page runs
            raise ValueError(f"strength must be within 0..1.5, got {strength}")
    return {
        "id": card.id,
        "sha256": file_sha256(card),  # the bytes this kernel sends (an accepted alternative too)
        "scale": card.scale,
        "layout": card.layout,
        "value_range": card.value_range,
        "input_name": card.input_name,
        "output_name": card.output_name,
        "pad_mode": card.size_rule.pad_mode,
        "extra": [
            {
                "name": e.name,
                "value": float(controls.get(e.control, e.default)) * e.scale,
                "shape": [int(n) for n in e.shape],
            }
            for e in card.extra_inputs
        ],
        "pipeline": card.pipeline,
        "strength": strength,
    }


def engine_run(job: int, plan: Any, cards: list[Any], options: Any, image: dict[str, bool]) -> dict[str, Any]:
    """The ``engine-run`` message: the plan, each pass's card, how to write the result
    (``image``: grey, alpha; colorize writes colour, as ``images.with_colour_output``), test-time
    augmentation and the provider asked for."""
    from . import protocol as P

    if options.provider not in PROVIDERS:
        raise EnhanceError(f"provider must be one of {', '.join(PROVIDERS)}; got {options.provider!r}")
    return {
        "kind": P.ENGINE_RUN,
        "job": job,
        "plan": plan.to_dict(),
        "cards": [engine_card(c, dict(options.controls)) for c in cards],
        "image": {
            "gray": bool(image.get("gray")) and not any(c.pipeline == "global-lab" for c in cards),
            "alpha": bool(image.get("alpha")),
        },
        "tta": bool(plan.tta),
        "provider": options.provider,
    }


@dataclass(frozen=True)
class SiteAsset:
    """A model the JupyterLite site serves (``card.site_url``): the page fetches it itself, so its
    bytes are downloaded only when a task first runs with it (the worker checks its sha256)."""

    url: str
    size: int


def asset_bytes(name: str, cards: list[Any]) -> bytes | SiteAsset:
    """The bytes of one asset a view asked for: the worker, a wasm build or a model (by sha256);
    a model the site serves: where the page fetches it."""
    if name in ASSET_FILES:
        path = STATIC / ASSET_FILES[name]
        if not path.is_file():
            raise EnhanceError(f"{path.name} is missing: build the front end (npm run build in js/)")
        return path.read_bytes()
    from ..catalog import read_verified
    from ..model_integrity import file_sha256

    for card in cards:
        if file_sha256(card) == name:
            if card.site_url is not None and (card.path is None or not card.path.is_file()):
                return SiteAsset(card.site_url, int(card.size_bytes or 0))
            return read_verified(card)
    raise EnhanceError(f"no model with sha256 {name[:16]}... in this job")


def asset_messages(
    job: int, view: str, names: list[str], blobs: list[bytes | SiteAsset]
) -> list[tuple[dict[str, Any], list[bytes]]]:
    """The ``engine-assets`` messages for ``names``: each asset in pieces of at most
    :data:`ASSET_CHUNK` bytes, in order, one buffer a message (the page puts them together); one
    message without buffers where the page lacks nothing (it starts the run on that answer)."""
    from . import protocol as P

    if not names:
        return [({"kind": P.ENGINE_ASSETS, "job": job, "view": view, "names": []}, [])]
    out: list[tuple[dict[str, Any], list[bytes]]] = []
    for name, data in zip(names, blobs, strict=True):
        if isinstance(data, SiteAsset):  # no bytes: the page fetches it from the site (relative URL)
            base = {"kind": P.ENGINE_ASSETS, "job": job, "view": view, "names": names, "name": name}
            out.append(({**base, "offset": 0, "size": data.size, "url": data.url}, []))
            continue
        for offset in range(0, max(len(data), 1), ASSET_CHUNK):
            content = {
                "kind": P.ENGINE_ASSETS,
                "job": job,
                "view": view,
                "names": names,
                "name": name,
                "offset": offset,
                "size": len(data),
            }
            out.append((content, [data[offset : offset + ASSET_CHUNK]]))
    return out


def png_kind(png: bytes) -> dict[str, bool]:
    """Grey and alpha of a PNG as Pillow (and so the kernel engine) reads it, from its header."""
    from ..sniff import sniff

    png_size(png)
    info = sniff(png)
    return {"gray": info.gray, "alpha": info.alpha}


@dataclass
class PngResult:
    """A browser-engine result where numpy/Pillow are missing (Pyodide): PNG bytes and record."""

    png: bytes
    record: dict[str, Any]
    size: tuple[int, int]

    def save(self, path: str | Path, overwrite: bool = True) -> Path:
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        target.write_bytes(self.png)
        return target


def browser_record(
    opts: Any,
    plan_summary: dict[str, Any],
    cards: list[Any],
    content: dict[str, Any],
    total_ms: float,
    out_size: tuple[int, int],
) -> dict[str, Any]:
    """The provenance record of a run the page executed (``content``: the page's run-done message),
    built by the same function as the kernel engine's (``provenance.run_record``), so ``replay``
    re-runs it in a kernel. The page hashes the pixels it decoded and wrote, as the kernel does."""
    from ..catalog import catalog
    from ..provenance import run_record

    return run_record(
        engine="browser",
        plan=plan_summary,
        card=catalog().get(str(plan_summary.get("model_id", cards[0].id))),
        pass_cards=cards,
        options={
            "tile": opts.tile,
            "overlap": opts.overlap,
            "controls": dict(opts.controls),
            "threads": 1,
            "quality": opts.quality,
            "provider": opts.provider,
        },
        runtime={
            "name": "onnxruntime-web",
            "version": str(content.get("version", "")),
            "provider": str(content.get("provider", "")),
            "provider_note": str(content.get("provider_note", "")),
            "deterministic": content.get("provider") == "wasm",
        },
        tile_ms=[float(t) for t in content.get("tile_ms", [])],
        pass_ms=[float(t) for t in content.get("pass_ms", [])],
        load_ms=float(content.get("load_ms", 0.0)),
        total_ms=total_ms,
        input={
            "size": plan_summary.get("in_size"),
            "pixels_sha256": content.get("input_sha256"),
        },
        output={
            "size": list(out_size),
            "mode": str(content.get("mode") or "RGB"),
            "dtype": "uint8",
            "pixels_sha256": content.get("output_sha256"),
        },
    )


def make_result(png: bytes, record: dict[str, Any], raw_source: Any, max_pixels: int | None = None) -> Any:
    """A :class:`~enhance_widget.Result` from the PNG where numpy and Pillow exist, else a PngResult."""
    size = png_size(png)
    try:
        import numpy as np
        from PIL import Image

        from ..images import load_image
        from ..provenance import pixels_sha256
        from ..result import Result
    except ImportError:
        return PngResult(png=png, record=record, size=size)
    with Image.open(io.BytesIO(png)) as im:
        # the page wrote the input's kind: L, LA, RGB or RGBA, 8 bits
        array = np.asarray(im if im.mode in ("L", "LA", "RGB", "RGBA") else im.convert("RGB"))
    source = load_image(raw_source, max_pixels)
    record["output"]["pixels_sha256"] = pixels_sha256(np.ascontiguousarray(array).tobytes())
    record["input"]["pixels_sha256"] = pixels_sha256(np.ascontiguousarray(source.rgb).tobytes())
    return Result(array=array, record=record, source=source)


def png_size(png: bytes) -> tuple[int, int]:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise EnhanceError("the browser engine sent something that is not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
