#!/usr/bin/env bash
# Build an offline JupyterLite site with this project's wheel (recipe: shared/JUPYTERLITE.md).
# Output: build/lite/site (served by tests/lite/). Nothing in the site loads from a CDN.
# Network is used only here (PyPI, npm registry); the site itself runs offline.
# The site opens on welcome.ipynb; enhance-widget and the pure wheels it needs are in the Pyodide
# lock and loaded with the kernel (loadPyodideOptions.packages), so no notebook needs `%pip`.
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
# the JupyterLite variant of the wheel: the models stay out of it (site-models.json names them) and
# the site serves them, so the page fetches a model only when a task first runs with it
ENHANCE_WIDGET_WHEEL_MODELS=site "$ROOT/.venv/bin/python" -m pip wheel -q --no-deps -w dist "$ROOT"
cp dist/enhance_widget-*.whl lite/static/pyodide/
rm -rf site-models && mkdir -p site-models
venv/bin/python - dist/enhance_widget-*.whl "$ROOT/models" site-models <<'PY'
import json, shutil, sys, zipfile
from pathlib import Path
listing = json.loads(zipfile.ZipFile(sys.argv[1]).read("enhance_widget/_bundled/site-models.json"))
for name in listing["files"]:
    shutil.copyfile(Path(sys.argv[2]) / name, Path(sys.argv[3]) / name)
PY
[ -f wheels/.pyodide-deps ] || {
  venv/bin/pip download -q -d wheels/pyodide --only-binary=:all: --platform pyemscripten_2026_0_wasm32 \
    --python-version 3.14 --implementation cp --abi none ipython comm jedi "anywidget==0.11.0" "ipywidgets==8.1.9"
  touch wheels/.pyodide-deps
}
cp wheels/pyodide/*.whl lite/pypi/

# the kernel installs ipykernel, comm, ipython, jedi itself; these load with Pyodide, before it
PRELOAD="anywidget psygnal typing_extensions ipywidgets jupyterlab_widgets"
for name in $PRELOAD; do cp wheels/pyodide/$name-[0-9]*.whl lite/static/pyodide/; done

# 4. prune the lock to the files present (their sha256 differ from PyPI's); add the preloaded wheels
venv/bin/python - lite/static/pyodide <<'PY'
import hashlib, json, sys, zipfile
from pathlib import Path
d = Path(sys.argv[1]); lock = json.loads((d / "pyodide-lock.json").read_text()); keep = {}
for name, e in lock["packages"].items():
    f = d / e["file_name"]
    if f.exists():
        e["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest(); keep[name] = e
for whl in sorted(d.glob("*-py3-none-any.whl")) + sorted(d.glob("*-py2.py3-none-any.whl")):
    dist, version = whl.name.split("-")[:2]
    name = dist.lower().replace("_", "-")
    if name in keep:
        continue
    tops = {n.split("/")[0] for n in zipfile.ZipFile(whl).namelist() if not n.split("/")[0].endswith(".dist-info")}
    keep[name] = {"name": name, "version": version, "file_name": whl.name, "install_dir": "site",
                  "sha256": hashlib.sha256(whl.read_bytes()).hexdigest(), "package_type": "package",
                  "imports": sorted(t.removesuffix(".py") for t in tops if t.isidentifier() or t.endswith(".py")),
                  "depends": [], "unvendored_tests": False}
lock["packages"] = keep
(d / "pyodide-lock.json").write_text(json.dumps(lock))
PY

# 5. content: the welcome notebook; config (packages loaded with the kernel); build
cp "$ROOT/scripts/lite/welcome.ipynb" lite/files/
cat > lite/jupyter-lite.json <<'JSON'
{"jupyter-lite-schema-version": 0, "jupyter-config-data": {"exposeAppInBrowser": true,
 "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {"disablePyPIFallback": true,
   "loadPyodideOptions": {"packages": ["enhance-widget", "anywidget", "psygnal", "typing-extensions",
                                       "ipywidgets", "jupyterlab-widgets"]}}}}}
JSON
rm -rf site
(cd lite && ../venv/bin/jupyter lite build --output-dir ../site >/dev/null)
cp -r site-models site/static/enhance-widget-models  # hatch_build.SITE_MODELS_DIR
# the site opens on the welcome notebook (the root page keeps its config: the apps read it)
venv/bin/python - site/index.html <<'PY'
import sys
from pathlib import Path
p = Path(sys.argv[1]); html = p.read_text()
go = '<script>location.replace("lab/index.html?path=welcome.ipynb")</script>\n    <script type="module">'
assert html.count('<script type="module">') == 1
p.write_text(html.replace('<script type="module">', go))
PY
echo "site: $OUT/site ($(du -sh site | cut -f1))"
