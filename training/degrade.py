"""Synthetic degradations for restoration training: blur kernels, sensor noise, JPEG.

Needs numpy and Pillow only (no torch, no scipy), so tests, benchmarks and the GPU machine's data
workers share one implementation. Every random choice comes from the ``numpy.random.Generator``
passed in: the same seed gives the same kernel and the same degraded image.

Kernels are 2-D float64 arrays of odd size that sum to 1:

* ``motion_kernel``: a camera-shake trajectory (a random walk with momentum, sampled finely and
  splatted bilinearly), arc length ``length`` px (training draws 5..31);
* ``disc_kernel``: a defocus disc of radius ``radius`` (anti-aliased by 8x8 super-sampling; 1..6);
* ``gaussian_kernel``: isotropic Gaussian, ``sigma`` 0.5..3, truncated at 3.5 sigma;
* ``box_kernel``: a square box, or ``line_kernel``: a straight 1-D box at an angle (length 3..21).

``degrade`` applies one random kernel (or none, 5 %), then signal-dependent Gaussian noise
(read sigma <= 2.5/255, shot <= 0.004 x signal) and, with probability 0.8, JPEG at quality 60..95.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Kernel = NDArray[np.float64]

MOTION_LENGTH = (5.0, 31.0)
DISC_RADIUS = (1.0, 6.0)
GAUSS_SIGMA = (0.5, 3.0)
BOX_SIZE = (3, 9)
LINE_LENGTH = (3, 21)
KIND_P = {"motion": 0.40, "disc": 0.18, "gaussian": 0.17, "box": 0.06, "line": 0.14, "none": 0.05}
READ_SIGMA_MAX = 2.5 / 255
SHOT_MAX = 0.004
JPEG_P = 0.8
JPEG_QUALITY = (60, 95)


def _odd(n: float) -> int:
    k = int(np.ceil(n))
    return k + 1 - k % 2


def _normalise(k: Kernel) -> Kernel:
    """Trim all-zero borders symmetrically (keeping the size odd and centred) and divide by the sum."""
    k = np.asarray(k, dtype=np.float64)
    while k.shape[0] > 1 and not k[0].any() and not k[-1].any():
        k = k[1:-1]
    while k.shape[1] > 1 and not k[:, 0].any() and not k[:, -1].any():
        k = k[:, 1:-1]
    return k / k.sum()


def motion_kernel(rng: np.random.Generator, length: float) -> Kernel:
    """A random shake trajectory of arc length ``length`` px, centred on its centre of mass."""
    if length <= 0:
        raise ValueError(f"motion length must be positive, got {length}")
    n = 256
    turn = rng.uniform(0.0, 0.25)  # how much the direction wanders per step
    angle = rng.uniform(0.0, 2 * np.pi) + np.cumsum(rng.normal(0.0, turn, n) + rng.normal(0.0, turn / 8))
    speed = np.clip(1.0 + 0.5 * rng.standard_normal(n), 0.1, None)
    steps = np.stack([np.cos(angle), np.sin(angle)], 1) * speed[:, None]
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps, 0)])
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()
    pts = pts * (length / seg)
    pts -= pts.mean(0)  # centre of mass at the kernel centre: no image shift
    size = _odd(2 * np.abs(pts).max() + 3)
    c = size // 2
    k = np.zeros((size, size))
    # exposure is spread along the path by arc length
    dense = np.linspace(0, 1, 8 * n)
    t = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    t /= t[-1]
    xs = np.interp(dense, t, pts[:, 0]) + c
    ys = np.interp(dense, t, pts[:, 1]) + c
    _splat(k, xs, ys)
    return _normalise(k)


def _splat(k: Kernel, xs: np.ndarray, ys: np.ndarray) -> None:
    """Add unit weight at each (x, y) point of a path to ``k``, split bilinearly over its 4 neighbours."""
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(k, (y0 + dy, x0 + dx), w)


def disc_kernel(radius: float) -> Kernel:
    """A uniform disc (defocus) of ``radius`` px, anti-aliased by 8x8 super-sampling."""
    if radius <= 0:
        raise ValueError(f"disc radius must be positive, got {radius}")
    size = _odd(2 * radius + 1)
    c = size // 2
    sub = (np.arange(size * 8) + 0.5) / 8 - 0.5 - c
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    return _normalise(inside.reshape(size, 8, size, 8).mean((1, 3)))


def gaussian_kernel(sigma: float) -> Kernel:
    """Isotropic Gaussian truncated at 3.5 sigma."""
    if sigma <= 0:
        raise ValueError(f"gaussian sigma must be positive, got {sigma}")
    r = int(np.ceil(3.5 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return _normalise(np.outer(g, g))


def box_kernel(size: int) -> Kernel:
    """A square ``size`` x ``size`` box (odd size)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"box size must be a positive odd number, got {size}")
    return np.full((size, size), 1.0 / size**2)


def line_kernel(length: int, angle_deg: float = 0.0) -> Kernel:
    """A 1-D box of ``length`` px along ``angle_deg`` (0 = horizontal), anti-aliased."""
    if length < 1:
        raise ValueError(f"line length must be positive, got {length}")
    if angle_deg % 180 == 0:
        return np.full((1, length), 1.0 / length) if length % 2 else _line_even(length).T
    if angle_deg % 180 == 90:
        return np.full((length, 1), 1.0 / length) if length % 2 else _line_even(length)
    size = _odd(length + 2)
    c = size // 2
    s = np.linspace(-(length - 1) / 2, (length - 1) / 2, 16 * length)
    a = np.deg2rad(angle_deg)
    xs, ys = c + s * np.cos(a), c - s * np.sin(a)
    k = np.zeros((size, size))
    _splat(k, xs, ys)
    return _normalise(k)


def _line_even(length: int) -> Kernel:
    """A vertical even-length box centred on an odd grid (half weight at both ends)."""
    k = np.ones((length + 1, 1))
    k[0] = k[-1] = 0.5
    return k / k.sum()


def random_kernel(rng: np.random.Generator) -> tuple[str, Kernel | None]:
    """One kernel drawn from the training mixture (``KIND_P``); ``None`` for "no blur"."""
    kinds = list(KIND_P)
    kind = kinds[int(rng.choice(len(kinds), p=list(KIND_P.values())))]
    if kind == "motion":
        return kind, motion_kernel(rng, rng.uniform(*MOTION_LENGTH))
    if kind == "disc":
        return kind, disc_kernel(rng.uniform(*DISC_RADIUS))
    if kind == "gaussian":
        return kind, gaussian_kernel(rng.uniform(*GAUSS_SIGMA))
    if kind == "box":
        return kind, box_kernel(int(rng.choice(np.arange(BOX_SIZE[0], BOX_SIZE[1] + 1, 2))))
    if kind == "line":
        angle = float(rng.choice([0.0, 90.0])) if rng.random() < 0.5 else rng.uniform(0, 180)
        return kind, line_kernel(int(rng.integers(LINE_LENGTH[0], LINE_LENGTH[1] + 1)), angle)
    return kind, None


def blur(img: np.ndarray, kernel: Kernel) -> NDArray[np.float64]:
    """Convolve an (H, W, C) or (H, W) image with ``kernel``; borders edge-replicated. Float out."""
    a = np.asarray(img, dtype=np.float64)
    squeeze = a.ndim == 2
    if squeeze:
        a = a[..., None]
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel sides must be odd, got {kernel.shape}")
    ph, pw = kh // 2, kw // 2
    p = np.pad(a, ((ph, ph), (pw, pw), (0, 0)), mode="edge")
    h, w = p.shape[:2]
    fh, fw = h + kh - 1, w + kw - 1
    spec = np.fft.rfft2(p, s=(fh, fw), axes=(0, 1)) * np.fft.rfft2(kernel, s=(fh, fw))[..., None]
    full = np.fft.irfft2(spec, s=(fh, fw), axes=(0, 1))
    out = full[kh - 1 : kh - 1 + a.shape[0], kw - 1 : kw - 1 + a.shape[1]]
    return out[..., 0] if squeeze else out


def blur_uint8(img: np.ndarray, kernel: Kernel) -> NDArray[np.uint8]:
    """``blur`` rounded back to uint8 (the benchmark's degradation)."""
    return np.clip(np.rint(blur(img, kernel)), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Degradation:
    """What ``degrade`` did (for logs and tests)."""

    kind: str
    kernel_shape: tuple[int, int]
    read_sigma: float
    shot: float
    jpeg_quality: int | None


def add_noise(x: np.ndarray, rng: np.random.Generator, read_sigma: float, shot: float) -> NDArray[np.float64]:
    """Signal-dependent Gaussian noise on a 0..1 image: variance read_sigma^2 + shot * x."""
    std = np.sqrt(read_sigma**2 + shot * np.clip(x, 0, 1))
    return np.asarray(x + std * rng.standard_normal(x.shape))


def jpeg(img: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def degrade(
    clean: NDArray[np.uint8],
    rng: np.random.Generator,
    kernel: Kernel | None = None,
    kind: str = "given",
    clean_p: float = 0.0,
) -> tuple[NDArray[np.uint8], Degradation]:
    """Blur (a random training kernel unless ``kernel`` is given), then noise and JPEG: uint8 out.

    With probability ``clean_p`` the noise and JPEG steps are skipped (blur only)."""
    if clean.ndim != 3 or clean.shape[2] != 3 or clean.dtype != np.uint8:
        raise ValueError(f"degrade needs an (H, W, 3) uint8 image, got {clean.shape} {clean.dtype}")
    if kernel is None and kind == "given":
        kind, kernel = random_kernel(rng)
    x = clean.astype(np.float64) / 255.0
    if kernel is not None:
        x = blur(x, kernel)
    if clean_p and rng.random() < clean_p:
        out = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
        shape = (1, 1) if kernel is None else (int(kernel.shape[0]), int(kernel.shape[1]))
        return out, Degradation(kind, shape, 0.0, 0.0, None)
    read = rng.uniform(0.0, READ_SIGMA_MAX)
    shot = rng.uniform(0.0, SHOT_MAX) ** 2 / SHOT_MAX  # mostly mild
    x = add_noise(x, rng, read, shot)
    out = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    q: int | None = None
    if rng.random() < JPEG_P:
        q = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        out = jpeg(out, q)
    shape = (1, 1) if kernel is None else (int(kernel.shape[0]), int(kernel.shape[1]))
    return out, Degradation(kind, shape, float(read), float(shot), q)


def benchmark_kernels() -> dict[str, Kernel]:
    """The deblur benchmark's fixed kernels (seeded: the same arrays on every machine)."""
    return {
        "box-h9": line_kernel(9, 0.0),
        "motion-a": motion_kernel(np.random.default_rng(1001), 11.0),
        "motion-b": motion_kernel(np.random.default_rng(1002), 17.0),
        "motion-c": motion_kernel(np.random.default_rng(1003), 25.0),
        "gaussian-s2": gaussian_kernel(2.0),
        "defocus-r3": disc_kernel(3.0),
    }
