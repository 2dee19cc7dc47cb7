#!/usr/bin/env bash
# Build an offline JupyterLite site with this project's wheel (recipe: shared/JUPYTERLITE.md).
# Output: build/lite/site (served by tests/lite/). Nothing in the site loads from a CDN.
# Network is used only here (PyPI, npm registry); the site itself runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${LITE_BUILD:-$ROOT/build/lite}
PYODIDE_VERSION=314.0.6
LITE_VERSION=0.8.6
mkdir -p "$OUT"
cd "$OUT"

# 1. build tools (a venv of their own; anywidget must match the one Pyodide installs)
if [ ! -x venv/bin/jupyter-lite ]; then
  python3 -m venv venv
  venv/bin/pip install -q "jupyterlite-core==$LITE_VERSION" "jupyterlite-pyodide-kernel==$LITE_VERSION" \
    jupyter_server "anywidget==0.11.0" "ipywidgets==8.1.9"
fi
KERNEL_PYODIDE=$(venv/bin/python -c "from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION as v; print(v)")
[ "$KERNEL_PYODIDE" = "$PYODIDE_VERSION" ] || { echo "pyodide kernel wants $KERNEL_PYODIDE" >&2; exit 1; }

# 2. Pyodide core from npm
if [ ! -f "package/pyodide.asm.wasm" ]; then
  npm pack --silent "pyodide@$PYODIDE_VERSION" >/dev/null
  tar xzf "pyodide-$PYODIDE_VERSION.tgz"
fi
rm -rf lite && mkdir -p lite/static/pyodide lite/pypi lite/files
cp package/{pyodide.mjs,pyodide.js,pyodide.asm.mjs,pyodide.asm.wasm,python_stdlib.zip,pyodide-lock.json,package.json} \
  lite/static/pyodide/

# 3. wheels: micropip for the lock, the project wheel and pure deps for piplite
mkdir -p wheels
[ -n "$(ls wheels/micropip-*.whl 2>/dev/null)" ] || venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.14 -d wheels micropip==0.11.1 packaging==26.1
cp wheels/micropip-*.whl wheels/packaging-*.whl lite/static/pyodide/
rm -f dist/enhance_widget-*.whl
"$ROOT/.venv/bin/python" -m pip wheel -q --no-deps -w dist "$ROOT"
cp dist/enhance_widget-*.whl lite/pypi/
[ -f wheels/.pyodide-deps ] || {
  venv/bin/pip download -q -d wheels/pyodide --only-binary=:all: --platform pyemscripten_2026_0_wasm32 \
    --python-version 3.14 --implementation cp --abi none ipython comm jedi "anywidget==0.11.0" "ipywidgets==8.1.9"
  touch wheels/.pyodide-deps
}
cp wheels/pyodide/*.whl lite/pypi/

# 4. prune the lock to the files present (their sha256 differ from PyPI's)
venv/bin/python - lite/static/pyodide <<'PY'
import hashlib, json, sys
from pathlib import Path
d = Path(sys.argv[1]); lock = json.loads((d / "pyodide-lock.json").read_text()); keep = {}
for name, e in lock["packages"].items():
    f = d / e["file_name"]
    if f.exists():
        e["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest(); keep[name] = e
lock["packages"] = keep
(d / "pyodide-lock.json").write_text(json.dumps(lock))
PY

# 5. content: the Lite notebook and the sample; config; build
cp "$ROOT/tests/lite/lite_engine.ipynb" lite/files/
cp "$ROOT/models/sample.png" lite/files/sample.png
cat > lite/jupyter-lite.json <<'JSON'
{"jupyter-lite-schema-version": 0, "jupyter-config-data": {"exposeAppInBrowser": true,
 "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {"disablePyPIFallback": true}}}}
JSON
rm -rf site
(cd lite && ../venv/bin/jupyter lite build --output-dir ../site >/dev/null)
echo "site: $OUT/site"
