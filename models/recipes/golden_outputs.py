"""Golden outputs: each model's output on one small fixed input, for a regression test.

    python models/recipes/golden_outputs.py write [--models ID ...] [--extra-dir DIR]   # (re)create
    python models/recipes/golden_outputs.py check [--models ID ...] [--extra-dir DIR] [--threads N]

Input: the top-left 32x32 crop of ``models/eval/chelsea.png`` (MAXIM: the whole 256x256 photo, its fixed
tile size), RGB uint8 / 255 as float32, in the card's layout (NHWC or NCHW); FFDNet also gets
``sigma`` = 25/255 as a (1, 1, 1, 1) float32 tensor. The model runs directly in onnxruntime (no tiling,
no padding: the crops already satisfy every size rule).

Each ``golden/<id>.npz`` holds:
``model_id``, ``file_sha256`` (the model file the output came from), ``image`` (path from the repository
root), ``crop`` = [top, left, height, width], ``layout``, ``sigma_255`` (FFDNet's strength, else nan),
``output`` (float16, HxWx3, 0..1 scale, not clipped; every ``output_stride``-th pixel of the model's output
in both directions, 1 except MAXIM: 4, to stay under 100 KB), ``atol`` (max |output - golden| allowed),
``onnxruntime`` (the version that wrote it).

Tolerances: float16 storage alone rounds by up to 2.4e-4 on 0..1 values (half a float16 step below 0.5
... 1.0); on top of that we measured the spread of the outputs between onnxruntime 1.26 and 1.32 and
between 1 thread and the default (``check`` prints it). FP32 models: ``atol`` 2e-3. INT8 models: 2e-2:
their integer kernels differ between CPUs (AVX-512 VNNI, AVX2, ARM), where a rounding flip in one
activation moves the output by a quantisation step.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_eval import MODELS_DIR, REPO, SPECS, ModelSpec, feeds, load_rgb

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
IMAGE = MODELS_DIR / "eval" / "chelsea.png"
CROP = 32
SIGMA = 25.0
ATOL_FP32 = 2e-3
ATOL_INT8 = 2e-2
MODELS = (
    "span-x2",
    "span-x4",
    "idealo-psnr-small-x2",
    "idealo-psnr-small-x2-int8",
    "esrgan-slim-x2",
    "esrgan-slim-x4",
    "idealo-gans-x4",
    "esrgan-thick-x4",
    "ffdnet-color",
    "ffdnet-color-int8",
    "maxim-deblurring-256",
    "maxim-denoising-256",
    "deblur-naflite",
    "deblur-naflite-int8",
)


def golden_input(spec: ModelSpec) -> tuple[np.ndarray, list[int]]:
    side = spec.fixed or CROP
    crop = [0, 0, side, side]
    rgb = load_rgb(IMAGE)[:side, :side] / np.float32(255.0)
    return rgb.astype(np.float32), crop


def model_output(spec: ModelSpec, path: Path, threads: int = 0) -> tuple[np.ndarray, list[int]]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rgb, crop = golden_input(spec)
    y = sess.run(None, feeds(spec, rgb, SIGMA))[0][0]
    return (y.transpose(1, 2, 0) if spec.layout == "NCHW" else y), crop


def locate(spec: ModelSpec, extra_dirs: list[Path]) -> Path | None:
    return next((d / spec.file for d in [MODELS_DIR, *extra_dirs] if (d / spec.file).is_file()), None)


def write(model_id: str, path: Path) -> None:
    spec = SPECS[model_id]
    y, crop = model_output(spec, path)
    stride = 4 if spec.fixed else 1
    GOLDEN_DIR.mkdir(exist_ok=True)
    out = GOLDEN_DIR / f"{model_id}.npz"
    np.savez_compressed(
        out,
        model_id=model_id,
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        image=str(IMAGE.relative_to(REPO)),
        crop=np.array(crop),
        layout=spec.layout,
        sigma_255=np.float32(SIGMA if spec.sigma_input else np.nan),
        output=y[::stride, ::stride].astype(np.float16),
        output_stride=stride,
        atol=np.float32(ATOL_INT8 if model_id.endswith("-int8") else ATOL_FP32),
        onnxruntime=ort.__version__,
    )
    print(
        f"[{model_id}] {out.relative_to(REPO)}: {out.stat().st_size:,} bytes, output {y.shape} stride {stride}"
    )


def check(model_id: str, path: Path, threads: int) -> bool:
    spec = SPECS[model_id]
    golden = np.load(GOLDEN_DIR / f"{model_id}.npz")
    y, _ = model_output(spec, path, threads)
    stride = int(golden["output_stride"])
    diff = float(np.abs(y[::stride, ::stride] - golden["output"].astype(np.float32)).max())
    atol = float(golden["atol"])
    same_file = hashlib.sha256(path.read_bytes()).hexdigest() == str(golden["file_sha256"])
    print(
        f"[{model_id}] max|out - golden| = {diff:.2e} (atol {atol:.0e}; golden by onnxruntime "
        f"{golden['onnxruntime']}, now {ort.__version__}, threads {threads or 'default'})"
        + ("" if same_file else " [model file differs from the golden's]")
    )
    return diff <= atol


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--extra-dir", type=Path, action="append", default=[])
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    ok = True
    for model_id in args.models:
        path = locate(SPECS[model_id], args.extra_dir)
        if path is None:
            print(f"[{model_id}] model file not found, skipped")
            continue
        if args.action == "write":
            write(model_id, path)
        else:
            ok &= check(model_id, path, args.threads)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
