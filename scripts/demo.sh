#!/usr/bin/env bash
# Set up a virtual environment, run the default model on the bundled sample image, then open the
# widget's quickstart notebook in JupyterLab (skipped with --no-lab, under CI or without a terminal).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/enhance-widget demo -o enhance-demo
if [ "${1:-}" = "--no-lab" ] || [ -n "${CI:-}" ] || [ ! -t 0 ]; then
  echo "widget: .venv/bin/jupyter lab notebooks/01_quickstart.ipynb"
  exit 0
fi
exec .venv/bin/jupyter lab notebooks/01_quickstart.ipynb
