"""Colorization inference math (numpy + Pillow only, runtime-agnostic).

The colorization model (``models/colorize-unet.onnx``, recipe in ``training/colorize/``)
predicts the CIELab chroma channels *a* and *b* from the lightness *L*:

* input  ``"L"``:  float32 ``N x 1 x h x w``, CIELab ``L / 100`` (0..1); ``h`` and ``w`` multiples
  of :data:`MULTIPLE_OF` (16);
* output ``"ab"``: float32 ``N x 2 x h x w``, CIELab ``a / 128`` and ``b / 128``.

This module holds everything around the network that does not depend on the runtime: the sRGB
<-> CIELab (D65) conversion, the resize of L to the model's working size, the upsampling of the
predicted chroma to full resolution and its recombination with the photo's own full-resolution L.
The caller supplies ``run_model`` (for example a closure over an ``onnxruntime`` session), so the
same code serves onnxruntime, onnxruntime-web mirrors and tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "AB_SCALE",
    "DEFAULT_WORKING_SIZE",
    "MULTIPLE_OF",
    "colorize_array",
    "colourfulness",
    "lab_to_rgb",
    "rgb_to_lab",
    "working_shape",
]

FloatArray = npt.NDArray[np.float32]
ModelRunner = Callable[[FloatArray], FloatArray]

#: Model output unit: the network returns ``a / AB_SCALE`` and ``b / AB_SCALE``.
AB_SCALE: float = 128.0
#: The model's spatial sizes must be multiples of this (four 2x downsamplings).
MULTIPLE_OF: int = 16
#: Short side, in pixels, at which the model was trained and evaluated.
DEFAULT_WORKING_SIZE: int = 256

# sRGB (linear) -> CIE XYZ, D65 white (IEC 61966-2-1).
_RGB_TO_XYZ: npt.NDArray[np.float64] = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
_XYZ_TO_RGB: npt.NDArray[np.float64] = np.asarray(np.linalg.inv(_RGB_TO_XYZ), dtype=np.float64)
# Reference white = XYZ of sRGB (1, 1, 1), so that white maps to a = b = 0 exactly.
_WHITE: npt.NDArray[np.float64] = _RGB_TO_XYZ.sum(axis=1)
_DELTA: float = 6.0 / 29.0


def _srgb_to_linear(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    c = np.clip(c, 0.0, None)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)


def rgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """Convert sRGB (``..., 3``, values 0..1) to CIELab (D65, 2 degree observer).

    Returns float32 ``..., 3`` with L in 0..100 and a, b roughly in -128..127.
    The arithmetic is done in float64.
    """
    c = np.asarray(rgb, dtype=np.float64)
    if c.shape[-1] != 3:
        raise ValueError(f"expected a last axis of 3 channels, got shape {c.shape}")
    xyz = _srgb_to_linear(c) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _DELTA**3, np.cbrt(xyz), xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    lab = np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
    return lab.astype(np.float32)


def lab_to_rgb(lab: npt.ArrayLike, clip: bool = True) -> FloatArray:
    """Convert CIELab (D65; ``..., 3``; L 0..100) back to sRGB in 0..1.

    With ``clip`` (the default) out-of-gamut colours are clipped per channel to 0..1.
    """
    v = np.asarray(lab, dtype=np.float64)
    if v.shape[-1] != 3:
        raise ValueError(f"expected a last axis of 3 channels, got shape {v.shape}")
    fy = (v[..., 0] + 16.0) / 116.0
    f = np.stack([fy + v[..., 1] / 500.0, fy, fy - v[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0)) * _WHITE
    rgb = _linear_to_srgb(xyz @ _XYZ_TO_RGB.T)
    if clip:
        rgb = np.clip(rgb, 0.0, 1.0)
    return rgb.astype(np.float32)


def colourfulness(rgb: npt.ArrayLike) -> float:
    """Hasler-Suesstrunk (2003) colourfulness of an sRGB image given in 0..1.

    Computed on the 0..255 scale, as in the paper (grey images give 0; vivid photos 50-100).
    """
    c = np.asarray(rgb, dtype=np.float64) * 255.0
    rg = c[..., 0] - c[..., 1]
    yb = 0.5 * (c[..., 0] + c[..., 1]) - c[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def working_shape(height: int, width: int, working_size: int, multiple: int = MULTIPLE_OF) -> tuple[int, int]:
    """Model input size for a ``height x width`` photo.

    The short side is scaled to ``working_size``, the long side keeps the aspect ratio, and each
    side is rounded to the nearest multiple of ``multiple`` (at least one multiple).
    """
    if height <= 0 or width <= 0:
        raise ValueError("image sides must be positive")
    if working_size < multiple:
        raise ValueError(f"working_size must be at least {multiple}")
    scale = working_size / min(height, width)

    def _round(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return _round(height), _round(width)


def _resize_plane(
    plane: npt.NDArray[np.float32], height: int, width: int, resample: Image.Resampling
) -> FloatArray:
    """Resize one float32 plane with Pillow's 32-bit float ('F') mode."""
    if plane.shape == (height, width):
        return plane.astype(np.float32, copy=True)
    im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(im.resize((width, height), resample=resample), dtype=np.float32)


def colorize_array(
    rgb: npt.NDArray[np.floating],
    run_model: ModelRunner,
    working_size: int = DEFAULT_WORKING_SIZE,
    strength: float = 1.0,
) -> FloatArray:
    """Colorize a photo, keeping its own full-resolution lightness.

    Args:
        rgb: ``H x W x 3`` sRGB in 0..1 (a colour photo is desaturated first: only its L is used).
            ``H x W`` or ``H x W x 1`` grey images are accepted too.
        run_model: maps the model input (float32 ``1 x 1 x h x w``, ``L / 100``) to the model
            output (float32 ``1 x 2 x h x w``, ``ab / 128``), e.g.
            ``lambda x: session.run(["ab"], {"L": x})[0]`` for an onnxruntime session.
        working_size: short side of the model input; each side is rounded to a multiple of 16.
        strength: scale of the predicted chroma, 0 (grey) .. 1.5 (more saturated than predicted).

    Returns:
        ``H x W x 3`` float32 sRGB in 0..1.  Its CIELab L equals the input's, except where the
        recombined colour falls outside the sRGB gamut and is clipped.
    """
    if not 0.0 <= strength <= 1.5:
        raise ValueError(f"strength must be within 0..1.5, got {strength}")
    img = np.asarray(rgb, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"expected an H x W x 3 image, got shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.clip(img, 0.0, 1.0)
    height, width = img.shape[:2]

    lum = rgb_to_lab(img)[..., 0]  # full-resolution L, 0..100
    h, w = working_shape(height, width, working_size)
    small = _resize_plane(lum, h, w, Image.Resampling.BICUBIC)
    x = np.clip(small / 100.0, 0.0, 1.0).astype(np.float32)[None, None]

    ab_small = np.asarray(run_model(x), dtype=np.float32)
    if ab_small.shape != (1, 2, h, w):
        raise ValueError(f"model returned shape {ab_small.shape}, expected {(1, 2, h, w)}")
    ab_small = ab_small[0] * np.float32(AB_SCALE * strength)

    lab = np.empty((height, width, 3), dtype=np.float32)
    lab[..., 0] = lum
    for i in (0, 1):
        lab[..., 1 + i] = _resize_plane(ab_small[i], height, width, Image.Resampling.BILINEAR)
    return lab_to_rgb(lab, clip=True)
