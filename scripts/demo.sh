#!/usr/bin/env bash
# Set up a virtual environment and run the default model on the bundled sample image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/enhance-widget demo -o enhance-demo
