"""INT8 variant of deblur-naflite (onnxruntime static quantisation, QDQ, per-channel weights).

    python -m training.deblur.quantize --data .deblur-data/photos.npz --out models/deblur-naflite-int8.onnx

The same settings as models/recipes/quantize_int8.py (uint8 activations, int8 symmetric weights,
99.99th-percentile calibration); calibration inputs are 32 training crops of 128 px degraded by the
training pipeline (seed 0).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from training import data, degrade


class Reader(CalibrationDataReader):
    def __init__(self, photos: list[np.ndarray], n: int = 32, crop: int = 128) -> None:
        def deg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return degrade.degrade(img, rng)[0]

        self.items = iter(
            {
                "input": (data.pair(photos, i, 0, crop, deg)[0].astype(np.float32) / 255).transpose(2, 0, 1)[
                    None
                ]
            }
            for i in range(n)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--src", type=Path, default=Path("models/deblur-naflite.onnx"))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    photos = data.load(a.data, "train")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(a.src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(a.out),
            Reader(photos),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.99},
        )
    print(a.out, hashlib.sha256(a.out.read_bytes()).hexdigest(), a.out.stat().st_size)


if __name__ == "__main__":
    main()
