"""Write (or refresh) deblur-naflite's card and deblur's task defaults in models/manifest.json.

    python -m training.deblur.manifest_entry [--quality JSON] [--int8]

Re-reads the manifest right before writing and changes only these entries (the file keeps its
2-space JSON layout). Cost figures come from benchmarks/calibrate.py --write afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from training.deblur.model import MULTIPLE, receptive_field

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "models" / "manifest.json"
MODEL_ID = "deblur-naflite"
LICENSE = (
    "weights: ours (MIT like this project's code), trained on BSDS500 train+test and Sun-Hays 80 "
    "photos, which are distributed for research use without an explicit licence (see "
    "training/deblur/CARD.md): treat the weights as research / non-commercial"
)


def card(file: str, model_id: str, title: str, params: int, extra: dict[str, Any]) -> dict[str, Any]:
    data = (ROOT / "models" / file).read_bytes()
    c: dict[str, Any] = {
        "id": model_id,
        "title": title,
        "task": "deblur",
        "scale": 1,
        "file": file,
        "bundled": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "params": params,
        "layout": "NCHW",
        "value_range": 1.0,
        "input_name": "input",
        "output_name": "output",
        "size_rule": {"multiple_of": MULTIPLE, "minimum": MULTIPLE, "fixed": None, "pad_mode": "reflect"},
        "dynamic_hw": True,
        "tiling": True,
        "extra_inputs": [],
        "cost": {"bytes_per_px": 0, "ms_per_mpx": 0, "load_ms": 0},
        "license": LICENSE,
        "source": {
            "registry": "ours",
            "package": "training/deblur",
            "version": (
                "run 1 (seed 0, 13,000 steps) + run 2 fine-tune "
                "(2,337 of 2,400 steps, half blur-only), 2026-12-04"
            ),
            "path": "training/deblur/train.py",
        },
        "recipe": "bash training/deblur/build.sh {out}",
        "receptive_field_px": receptive_field(),
    }
    c.update(extra)
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quality", type=json.loads, default={})
    ap.add_argument("--int8-quality", type=json.loads, default=None)
    a = ap.parse_args()
    m = json.loads(MANIFEST.read_text())
    old = {c["id"]: c for c in m["models"]}
    notes = (
        "Our compact NAFNet-style U-Net (no global pooling, so tiles agree with the whole image): "
        "motion, defocus, Gaussian and box blur with mild noise and JPEG. Default deblur model; "
        "MAXIM stays as the optional large model."
    )
    fp32 = card("deblur-naflite.onnx", MODEL_ID, "NAFLite deblur (ours, 4.7 MB)", 1146699, {"notes": notes})
    new = [fp32]
    if a.int8_quality is not None:
        new.append(
            card(
                "deblur-naflite-int8.onnx",
                MODEL_ID + "-int8",
                "NAFLite deblur, INT8 (fast)",
                1146699,
                {
                    "notes": "INT8 weights and activations (static QDQ) of deblur-naflite.",
                    "quality": a.int8_quality,
                },
            )
        )
        new[-1]["source"] = {
            "registry": "derived",
            "package": MODEL_ID,
            "version": "onnxruntime static QDQ per-channel",
            "path": "",
        }
        new[-1]["recipe"] = "bash training/deblur/build.sh {out}"
    for c in new:
        if c["id"] in old and old[c["id"]].get("cost", {}).get("ms_per_mpx"):
            c["cost"] = old[c["id"]]["cost"]  # keep measured figures
        if c["id"] in old and "quality" in old[c["id"]] and "quality" not in c:
            c["quality"] = old[c["id"]]["quality"]
    if a.quality:
        fp32["quality"] = a.quality
    ids = {c["id"] for c in new}
    models = [c for c in m["models"] if c["id"] not in ids]
    at = next(i for i, c in enumerate(models) if c["id"] == "maxim-deblurring-256")
    m["models"] = models[:at] + new + models[at:]
    fast = MODEL_ID + "-int8" if a.int8_quality is not None else MODEL_ID
    m["tasks"]["deblur"]["default"] = {"1": MODEL_ID}
    m["tasks"]["deblur"]["modes"] = {
        "1": {
            "fast": {"model": fast},
            "balanced": {"model": MODEL_ID},
            "best": {"model": MODEL_ID, "tta": True},
        }
    }
    MANIFEST.write_text(json.dumps(m, indent=2) + "\n")
    print(json.dumps(new, indent=1)[:2000])


if __name__ == "__main__":
    main()
