#!/usr/bin/env bash
# Builds router.wasm from router.js with ComponentizeJS (`npm install` in this folder first:
# package.json names @bytecodealliance/componentize-js). `-d http -d fetch-event` leaves out
# the WASI HTTP imports, which the broker does not provide; stdio, random and clocks stay (the
# broker links them; stdio carries console output and uncaught errors to its log).
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-router.wasm}"
npx componentize-js router.js --wit ../../../wit -n router-plugin -d http -d fetch-event -o "$out"
