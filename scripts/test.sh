#!/usr/bin/env bash
# Lint, type-check and run every test (unit, real models, notebooks, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd js && npm run --silent check && npm run --silent build)  # tsc --noEmit, biome; a fresh bundle
.venv/bin/ruff check src tests benchmarks models/recipes training scripts
.venv/bin/ruff format --check src tests benchmarks models/recipes training scripts
.venv/bin/mypy
bash scripts/build_lite.sh  # offline JupyterLite site for tests/lite (PyPI/npm only while building)
.venv/bin/pytest -q "$@"
.venv/bin/pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env notebooks/0[2-9]*.ipynb
