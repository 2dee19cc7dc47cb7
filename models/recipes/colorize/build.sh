#!/usr/bin/env bash
# Re-create models/colorize-unet.onnx (issue 8): an ensemble of two trained networks (run 3 and run 4)
# whose posteriors are averaged before the minimum-expected-CIEDE2000 decoding.
# Usage: bash models/recipes/colorize/build.sh OUT_DIR
# Needs: torch with CUDA (about 8 + 6 minutes on one H100; hours on a CPU), numpy, pillow,
# scikit-image, onnx, onnxruntime; the photos in ../shared/datasets/train-photos and sr-benchmark, the
# Debian wallpaper packages unpacked under /tmp/debbg/x and the ImageNet sample images under
# ${IMAGENET_DIR:-/tmp/imnet} (README.md here says how to get both).
# Writes OUT_DIR/colorize-unet.onnx. cuDNN kernels are not bit-deterministic, so a re-run gives a
# close but not byte-identical model; the shipped bytes and their sha256 are in models/manifest.json.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
data3="$root/.colorize-data/train3-256.npz"
data4="$root/.colorize-data/train4-224.npz"
mkdir -p "$out"
echo "colorize recipe: data prep (~30 s), two trainings (~8 + ~6 min on one H100), exports, decoding rewrite"
[ -f "$data3" ] || python "$here/prepare_data.py" --out "$data3" --val-source bsd100-021-100 \
    --short-side 256 --quality 90 --imagenet-dir none
[ -f "$data4" ] || python "$here/prepare_data.py" --out "$data4" --val-source bsd100-021-100 \
    --imagenet-dir "${IMAGENET_DIR:-/tmp/imnet}"
# member 1 = run 3: 599 photos, 5000 steps, the final EMA weights
python "$here/train.py" --data "$data3" --out "$out/run3" --total-steps 5000 --skip-calib
python "$here/train.py" --data "$data3" --out "$out/raw3" --export-only --weights "$out/run3/final_ema_fp16.pt" \
    --alpha 0 --temperature 1 --scale 1
# member 2 = run 4: 1563 photos (ImageNet samples added), 7500 steps, the lowest-validation-loss EMA weights
python "$here/train.py" --data "$data4" --out "$out/run4" --total-steps 7500 --skip-calib
python "$here/train.py" --data "$data4" --out "$out/raw4" --export-only --weights "$out/run4/best_ema_fp16.pt" \
    --alpha 0 --temperature 1 --scale 1
python "$here/bayes_decode.py" "$out/raw3/colorize-unet.onnx" "$out/colorize-unet.onnx" \
    --member "$out/raw4/colorize-unet.onnx" --fp16-weights --t 1 --tau 0.5 --scale 1 --floor 10
