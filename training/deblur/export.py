"""Export trained NAFLite weights to the shipped ONNX file.

    python -m training.deblur.export --weights .deblur-data/final/weights.pt --out models/deblur-naflite.onnx

``--weights`` takes ``weights.pt`` (a state dict) or a training ``checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from training.deblur.model import NAFLite, count_params
from training.export import export


def load_weights(path: Path) -> NAFLite:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "model" in state and "opt" in state:
        state = state["model"]
    model = NAFLite()
    model.load_state_dict(state)
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    model = load_weights(a.weights)
    info = export(model, a.out)
    info["params"] = count_params(model)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
