"""The UpscalerJS models that ``upscalerjs_layers.py`` re-creates as ONNX: where each lives in which
pinned npm package, and the sha256 its conversion (and fold) must produce.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model: where it lives in which npm package, and what the conversion must produce."""

    package: str  # npm spec with exact version, e.g. "@upscalerjs/models@0.9.0"
    path: str  # path of the model file inside the package (below the tarball's "package/" folder)
    scale: int
    sha256: str | None  # expected sha256 of the ONNX file (None: unknown, report only)
    keep: tuple[str, ...] = ()  # duplicate nodes that tf2onnx's merge must keep (see pin_duplicate_survivors)
    # Expected sha256 after fold_upsample.py (nearest upsample + conv -> low-res conv + depth-to-space,
    # same weights re-arranged, exact); None: the conversion is shipped as it is.
    folded_sha256: str | None = None


MODELS: dict[str, ModelSpec] = {
    # The .h5 beside the psnr-small model.json holds the float32 weights; the model.json's weights are
    # uint8-quantised (the research file, and this table, use the float .h5).
    "idealo-psnr-small-x2": ModelSpec(
        "@upscalerjs/models@0.9.0",
        "models/idealo/psnr-small-quant-uint8/image-super-resolution-psnr-small.h5",
        2,
        "6d1b7932d7aa188dba34e77ca54c37578dad4c5d0b66778ecd27da727e88e0a9",
        keep=("Shape__825", "const_axes__385", "const_empty_float__393"),
    ),
    "idealo-gans-x4": ModelSpec(
        "@upscalerjs/models@0.9.0",
        "models/idealo/gans/model.json",
        4,
        "fbaf20c7a44db2ee1331d2115927862bfdd89556635ff70a38bc0d944dd686c2",
        keep=("generator/multiply_beta_411/mul/y",),
    ),
    # The research file (404229401b02...) is not at hand to read its surviving duplicate names from;
    # these pins were read off our own first conversion (max|TF - ORT| 9.5e-7) and make it byte-stable.
    "esrgan-thick-x4": ModelSpec(
        "@upscalerjs/esrgan-thick@1.0.0",
        "models/x4/model.json",
        4,
        "6b98ec89e59f9a2d92f3fa44e4cd161a8bd232611d0790da3734c1f07d09bf25",
        keep=("generator/multiply_beta_11/mul/y",),
    ),
    "esrgan-slim-x2": ModelSpec(
        "@upscalerjs/esrgan-slim@1.0.0",
        "models/x2/model.json",
        2,
        "3be01c120a546425e60fd2440c76ec60d14e65696429a6e5f1225852d5dee05a",
        keep=("Shape__106", "const_zero__103", "const_empty_float__105"),
        folded_sha256="6163684c6cc182f37fa80e4e17ac6be714b9ede2fdefd043c7c16b9f98a727a6",
    ),
    "esrgan-slim-x4": ModelSpec(
        "@upscalerjs/esrgan-slim@1.0.0",
        "models/x4/model.json",
        4,
        "806fc1181be43c2365ddafc2acdf7146b4c4871bf01577670ceefc0834d16696",
        keep=("Shape__106", "const_zero__103", "roi__98"),
        folded_sha256="3cf9bbc5c93512ab718dda51b38556acdf6e446056f1c5316c251fbd83b736cc",
    ),
}
