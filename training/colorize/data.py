"""Training data: the prepared ``.npz`` (JPEG bytes) and the on-GPU crop/flip/exposure augmenter."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load_npz(path: Path) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    z = np.load(path)
    data, off = z["jpeg"], z["offsets"]

    def dec(i: int) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data[off[i] : off[i + 1]].tobytes())).convert("RGB"))

    with ThreadPoolExecutor(8) as ex:
        imgs = list(ex.map(dec, range(len(off) - 1)))
    return imgs, z["is_val"].astype(bool), [str(n) for n in z["names"]]


class GpuAugmenter:
    """All training images on the device in one zero-padded canvas; crops via grid_sample.

    Random square crop of ``scale_min``..100 % of the short side (scale jitter), horizontal flip (no
    vertical flip: skies belong at the top), resampled to ``crop`` px; optional exposure/gamma jitter
    that is the same for the three channels (keeps hue).
    """

    def __init__(
        self,
        imgs: list[np.ndarray],
        device: torch.device,
        crop: int,
        gen: torch.Generator,
        scale_min: float = 0.6,
        photometric: bool = False,
    ) -> None:
        self.scale_min, self.photometric = scale_min, photometric
        hm = max(i.shape[0] for i in imgs)
        wm = max(i.shape[1] for i in imgs)
        canvas = torch.zeros(len(imgs), 3, hm, wm, dtype=torch.uint8)
        for k, im in enumerate(imgs):
            canvas[k, :, : im.shape[0], : im.shape[1]] = torch.from_numpy(im.copy()).permute(2, 0, 1)
        self.canvas = canvas.to(device)
        self.hw = torch.tensor([[i.shape[0], i.shape[1]] for i in imgs], dtype=torch.float32, device=device)
        self.crop, self.gen, self.device = crop, gen, device
        self.t = (torch.arange(crop, device=device, dtype=torch.float32) + 0.5) / crop

    def batch(self, n: int) -> torch.Tensor:
        g, dev = self.gen, self.device
        idx = torch.randint(0, self.canvas.shape[0], (n,), generator=g, device=dev)
        h, w = self.hw[idx, 0], self.hw[idx, 1]
        frac = self.scale_min + (1 - self.scale_min) * torch.rand(n, generator=g, device=dev)
        side = torch.minimum(h, w) * frac
        y0 = (h - side) * torch.rand(n, generator=g, device=dev)
        x0 = (w - side) * torch.rand(n, generator=g, device=dev)
        flip = torch.rand(n, generator=g, device=dev) < 0.5
        tx = torch.where(flip[:, None], 1.0 - self.t[None], self.t[None])
        px = x0[:, None] + tx * side[:, None]
        py = y0[:, None] + self.t[None] * side[:, None]
        hc, wc = self.canvas.shape[2], self.canvas.shape[3]
        gx = (2 * px / wc - 1)[:, None, :].expand(n, self.crop, self.crop)
        gy = (2 * py / hc - 1)[:, :, None].expand(n, self.crop, self.crop)
        src = self.canvas[idx].float() / 255.0
        out = F.grid_sample(
            src, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=False
        )
        if self.photometric:
            gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=g, device=dev) - 0.5) * 0.45)
            gain = 0.85 + 0.3 * torch.rand(n, 1, 1, 1, generator=g, device=dev)
            out = (out.clamp(0, 1) ** gamma * gain).clamp(0, 1)
        return out
