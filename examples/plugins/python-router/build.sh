#!/usr/bin/env bash
# Builds router.wasm from router.py with componentize-py (pip install componentize-py).
# The WIT is the repository's wit/ folder; the world is router-plugin.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-router.wasm}"
componentize-py -d ../../../wit -w router-plugin componentize router -o "$out"
