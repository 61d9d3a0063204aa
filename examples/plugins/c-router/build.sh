#!/usr/bin/env bash
# Builds router.wasm from router.c with Debian's clang and wasi-libc
# (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32), linked into a component by
# `wasm-component-ld`, which the Rust toolchain ships. The bindings in bindings/ were made
# with `wit-bindgen c ../../../wit --world router-plugin --out-dir bindings` (wit-bindgen-cli
# 0.63.0) and are committed: rebuilding needs no wit-bindgen.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-router.wasm}"
linker="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld"
if [ ! -x "$linker" ]; then
  echo "build.sh: no wasm-component-ld at $linker (it comes with Rust 1.82 or later)" >&2
  exit 1
fi
# A reactor: no main; the broker calls the exports.
clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
  -fuse-ld="$linker" -Wl,--wasi-adapter=reactor \
  -o "$out" router.c bindings/router_plugin.c bindings/router_plugin_component_type.o
