"""Re-create the bundled evaluation images from scikit-image's own data folder.

Run: ``python models/eval/make_eval.py`` (needs ``scikit-image==0.26.0``; no network).
The crops are 256x256 so that tests and notebooks stay fast; ``sample.png`` is the
small photo that ``enhance-widget demo`` and the quickstart notebook open.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data as data
from PIL import Image

HERE = Path(__file__).resolve().parent

# name -> (loader, top, left) of a 256x256 crop
CROPS = {
    "astronaut": (data.astronaut, 0, 128),
    "coffee": (data.coffee, 60, 150),
    "chelsea": (data.chelsea, 20, 100),
    "rocket": (data.rocket, 100, 190),
}


def main() -> None:
    for name, (load, top, left) in CROPS.items():
        arr = np.asarray(load())[top : top + 256, left : left + 256, :3]
        Image.fromarray(arr).save(HERE / f"{name}.png", optimize=True)
    cat = np.asarray(data.chelsea())[40:160, 150:310, :3]  # 160x120, the cat's face
    Image.fromarray(cat).save(HERE.parent / "sample.png", optimize=True)


if __name__ == "__main__":
    main()
