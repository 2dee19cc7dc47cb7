#!/usr/bin/env bash
# Re-create models/colorize-unet.onnx (issue 8): data -> training -> raw export -> decoding rewrite.
# Usage: bash models/recipes/colorize/build.sh OUT_DIR
# Needs: torch with CUDA (about 8 minutes on one H100; hours on a CPU), numpy, pillow, scikit-image,
# onnx, onnxruntime; the photos in ../shared/datasets/train-photos and sr-benchmark, and the Debian
# wallpaper packages unpacked under /tmp/debbg/x (see README.md here for the apt-get commands).
# Writes OUT_DIR/colorize-unet.onnx. cuDNN kernels are not bit-deterministic, so a re-run gives a
# close but not byte-identical model; the shipped bytes and their sha256 are in models/manifest.json.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
data="$root/.colorize-data/train3-256.npz"
mkdir -p "$out"
echo "colorize recipe: data prep (~15 s), training 5000 steps (~8 min on one H100), export, decoding rewrite"
[ -f "$data" ] || python "$here/prepare_data.py" --out "$data" --val-source bsd100-021-100
python "$here/train.py" --data "$data" --out "$out/run" --total-steps 5000 --calib-final
python "$here/train.py" --data "$data" --out "$out/raw" --export-only --weights "$out/run/final_ema_fp16.pt" \
    --alpha 0 --temperature 1 --scale 1
python "$here/bayes_decode.py" "$out/raw/colorize-unet.onnx" "$out/colorize-unet.onnx" \
    --t 2 --tau 0.5 --scale 1 --floor 10
