#!/usr/bin/env bash
# The main job: set up, build, and serve the demo with the default model on 127.0.0.1 (PORT, default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-browser
bash scripts/build.sh
exec node scripts/serve.mjs --port "${PORT:-8080}"
