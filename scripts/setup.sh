#!/usr/bin/env bash
# Create .venv (if missing) and install the package with its development tools.
# The widget's front end is built from js/ (npm packages pinned by js/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "setup: npm (Node.js 18+) is needed to build the widget's front end from js/" >&2
  exit 1
fi
if [ ! -d js/node_modules ] || [ js/package-lock.json -nt js/node_modules/.package-lock.json ]; then
  (cd js && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
