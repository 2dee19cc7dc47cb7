"""Shared helpers of the model recipes' measurements: model specs, feeding ONNX models, test images, metrics.

Only numpy, Pillow, scipy and onnxruntime (plus scikit-image for SSIM) are needed; nothing here imports
the project's package, so the recipes measure the files exactly as the engine will feed them
(``src/enhance_widget/engine.py``): tile padded on the right/bottom to the size rule, RGB float32 in
``0..value_range``, NHWC or NCHW, extra inputs as ``np.full(shape, control * scale)``, output cropped
back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
EVAL_DIR = MODELS_DIR / "eval"
TRAIN_PHOTOS = REPO.parent / "shared" / "datasets" / "train-photos"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to feed one ONNX file: the facts of its model card that the measurements need."""

    id: str
    file: str
    task: Literal["upscale", "restore", "deblur"]
    scale: int = 1
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    input_name: str = "input"
    multiple_of: int = 1
    fixed: int | None = None
    pad_mode: Literal["edge", "reflect"] = "edge"
    sigma_input: str | None = None  # FFDNet: name of the (N,1,1,1) noise-level input, fed sigma/255


SPECS: dict[str, ModelSpec] = {
    s.id: s
    for s in (
        ModelSpec("span-x2", "span-x2.onnx", "upscale", 2, "NCHW"),
        ModelSpec("span-x4", "span-x4.onnx", "upscale", 4, "NCHW"),
        ModelSpec("span-x2-int8", "span-x2-int8.onnx", "upscale", 2, "NCHW"),
        ModelSpec("span-x4-int8", "span-x4-int8.onnx", "upscale", 4, "NCHW"),
        ModelSpec("idealo-psnr-small-x2", "idealo-psnr-small-x2.onnx", "upscale", 2),
        ModelSpec("idealo-psnr-small-x2-int8", "idealo-psnr-small-x2-int8.onnx", "upscale", 2),
        ModelSpec("esrgan-slim-x2", "esrgan-slim-x2.onnx", "upscale", 2),
        ModelSpec("esrgan-slim-x4", "esrgan-slim-x4.onnx", "upscale", 4),
        ModelSpec("idealo-gans-x4", "idealo-gans-x4.onnx", "upscale", 4),
        ModelSpec("esrgan-thick-x4", "esrgan-thick-x4.onnx", "upscale", 4),
        ModelSpec(
            "ffdnet-color", "ffdnet-color.onnx", "restore", 1, "NCHW", multiple_of=2, sigma_input="sigma"
        ),
        ModelSpec(
            "ffdnet-color-int8",
            "ffdnet-color-int8.onnx",
            "restore",
            1,
            "NCHW",
            multiple_of=2,
            sigma_input="sigma",
        ),
        ModelSpec(
            "deblur-naflite", "deblur-naflite.onnx", "deblur", 1, "NCHW", multiple_of=8, pad_mode="reflect"
        ),
        ModelSpec(
            "deblur-naflite-int8",
            "deblur-naflite-int8.onnx",
            "deblur",
            1,
            "NCHW",
            multiple_of=8,
            pad_mode="reflect",
        ),
        ModelSpec(
            "maxim-deblurring-256",
            "maxim-deblurring-256.onnx",
            "deblur",
            input_name="xs_0",
            fixed=256,
            pad_mode="reflect",
        ),
        ModelSpec(
            "maxim-denoising-256",
            "maxim-denoising-256.onnx",
            "restore",
            input_name="xs_0",
            fixed=256,
            pad_mode="reflect",
        ),
    )
}


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session with onnxruntime's defaults (``threads=0``: one per core)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def fit(n: int, spec: ModelSpec) -> int:
    if spec.fixed is not None:
        return spec.fixed
    return -(-n // spec.multiple_of) * spec.multiple_of


def pad_to(rgb: F32, height: int, width: int, mode: str) -> F32:
    """Pad HxWx3 on the right/bottom (the engine's ``pad_to``: reflect only where it is possible)."""
    ph, pw = height - rgb.shape[0], width - rgb.shape[1]
    if ph <= 0 and pw <= 0:
        return rgb
    np_mode = "reflect" if mode == "reflect" and ph < rgb.shape[0] and pw < rgb.shape[1] else "edge"
    return np.pad(rgb, ((0, max(ph, 0)), (0, max(pw, 0)), (0, 0)), mode=np_mode)  # type: ignore[call-overload, no-any-return]


def feeds(spec: ModelSpec, rgb: F32, sigma: float = 25.0) -> dict[str, np.ndarray]:
    """Model inputs for one HxWx3 float image in 0..1 that already fits the size rule."""
    x = rgb[None]
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    out: dict[str, np.ndarray] = {spec.input_name: np.ascontiguousarray(x, dtype=np.float32)}
    if spec.sigma_input:
        out[spec.sigma_input] = np.full((1, 1, 1, 1), sigma / 255.0, np.float32)
    return out


def run(sess: ort.InferenceSession, spec: ModelSpec, rgb: F32, sigma: float = 25.0) -> F32:
    """Run on an HxWx3 float 0..1 image (padded to the size rule, cropped back); HxWx3 float32 out."""
    h, w = rgb.shape[:2]
    padded = pad_to(rgb, fit(h, spec), fit(w, spec), spec.pad_mode)
    y = sess.run(None, feeds(spec, padded, sigma))[0][0]
    if spec.layout == "NCHW":
        y = y.transpose(1, 2, 0)
    return np.asarray(y[: h * spec.scale, : w * spec.scale], dtype=np.float32)


def _forward(a: F32, k: int, flip: bool) -> F32:
    return np.rot90(a[:, ::-1] if flip else a, k)


def _inverse(a: F32, k: int, flip: bool) -> F32:
    b = np.rot90(a, -k)
    return b[:, ::-1] if flip else b


# the 8 flips/rotations of the dihedral group, as (k quarter turns, mirrored first)
DIHEDRAL: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


def run_tta(sess: ort.InferenceSession, spec: ModelSpec, rgb: F32, sigma: float = 25.0) -> F32:
    """Test-time augmentation: mean of the 8 flipped/rotated runs, each transformed back."""
    acc = np.zeros((rgb.shape[0] * spec.scale, rgb.shape[1] * spec.scale, 3), np.float64)
    for k, flip in DIHEDRAL:
        acc += _inverse(run(sess, spec, np.ascontiguousarray(_forward(rgb, k, flip)), sigma), k, flip)
    return (acc / len(DIHEDRAL)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------


def load_rgb(path: Path) -> NDArray[np.uint8]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def eval_images() -> dict[str, NDArray[np.uint8]]:
    """The bundled 256x256 evaluation photos (models/eval/*.png), by name, in sorted order."""
    return {p.stem: load_rgb(p) for p in sorted(EVAL_DIR.glob("*.png"))}


def bicubic(rgb: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


def calibration_crops(count: int, side: int, seed: int = 0) -> Iterator[NDArray[np.uint8]]:
    """``count`` random ``side``² RGB crops: every eval photo once, the rest from the training photos.

    Deterministic for a given seed: files sorted by path, choices from ``np.random.default_rng(seed)``.
    The training photos (``../shared/datasets/train-photos``) are never copied into the project.
    """
    rng = np.random.default_rng(seed)
    pool = sorted(TRAIN_PHOTOS.rglob("*.jpg"))
    if not pool:
        raise SystemExit(f"no training photos under {TRAIN_PHOTOS}")
    files = sorted(EVAL_DIR.glob("*.png"))[:count]
    files += [pool[i] for i in rng.choice(len(pool), size=count - len(files), replace=False)]
    for f in files:
        im = load_rgb(f)
        top = int(rng.integers(0, im.shape[0] - side + 1))
        left = int(rng.integers(0, im.shape[1] - side + 1))
        yield im[top : top + side, left : left + side]


# --------------------------------------------------------------------------------------------------
# metrics (0..255 scale)
# --------------------------------------------------------------------------------------------------


def to_u8_float(rgb01: F32) -> F64:
    """Model output in 0..1 -> what the engine saves: clipped, rounded 0..255 values (as float64)."""
    out: F64 = np.clip(np.asarray(rgb01, np.float64) * 255.0, 0, 255).round()
    return out


def y_channel(rgb: np.ndarray) -> F64:
    a = rgb.astype(np.float64)
    y: F64 = 16.0 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0
    return y


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on 0..255 data (2-D: one channel; 3-D: channels averaged), scikit-image's defaults."""
    from skimage.metrics import structural_similarity

    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    channel_axis = 2 if a64.ndim == 3 else None
    return float(structural_similarity(a64, b64, data_range=255.0, channel_axis=channel_axis))  # type: ignore[no-untyped-call]


def shave(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border > 0 else a


def add_noise(rgb: NDArray[np.uint8], sigma: float, rng: np.random.Generator) -> F64:
    """Additive white Gaussian noise on the 0..255 scale, clipped to 0..255 (not rounded)."""
    return np.clip(rgb.astype(np.float64) + rng.normal(0.0, sigma, rgb.shape), 0, 255)


def box_blur_h9(rgb: NDArray[np.uint8]) -> F64:
    """9-pixel horizontal box blur (kernel np.ones((1, 9)) / 9), 'reflect' borders (scipy: d c b a | a b c d),
    rounded to 0..255 integers like a saved image."""
    from scipy.ndimage import convolve

    kernel = np.ones((1, 9)) / 9.0
    a = rgb.astype(np.float64)
    out = np.stack([convolve(a[..., c], kernel, mode="reflect") for c in range(3)], axis=-1)
    blurred: F64 = np.clip(out, 0, 255).round()
    return blurred
