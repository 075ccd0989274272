#!/bin/sh
# Runs cargo for the Rust binding's ctest entries (tests.cmake): the cargo CMake found when it
# configured the build ($PLX_CARGO), else the first on PATH (installed since, e.g. by `make deps`).
# Without one the test fails, saying what to do; it is never skipped.
cargo=${PLX_CARGO:-}
if [ -z "$cargo" ] || [ ! -x "$cargo" ]; then
  cargo=$(command -v cargo 2>/dev/null || true)
fi
if [ -z "$cargo" ]; then
  echo "rust: cargo (and rustc) not found: run \`make deps\`, which installs Debian's rustc and cargo" \
       "unless a toolchain is already on PATH, then run the tests again" >&2
  exit 1
fi
exec "$cargo" "$@"
