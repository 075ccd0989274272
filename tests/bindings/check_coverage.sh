#!/usr/bin/env bash
# Every function plugin.def exports has a wrapper in every binding: its name
# appears in the binding's sources (Python ctypes prototypes, Rust extern
# declarations, Go cgo calls C.plx_..., C# DllImport entry points).
#   check_coverage.sh SOURCE_DIR
set -euo pipefail
source=$1
symbols=$(grep -E '^[[:space:]]+plx_[A-Za-z0-9_]+[[:space:]]*$' "$source/plugin.def" | tr -d ' \t')
declare -A sources=(
  [python]="bindings/python/parallax"
  [rust]="bindings/rust/parallax-sys bindings/rust/parallax/src"
  [go]="bindings/go/parallax"
  [csharp]="bindings/csharp/src"
)
status=0
for binding in python rust go csharp; do
  dirs=()
  for d in ${sources[$binding]}; do dirs+=("$source/$d"); done
  missing=()
  for sym in $symbols; do
    grep -rqw --include='*.py' --include='*.rs' --include='*.go' --include='*.cs' "$sym" "${dirs[@]}" 2>/dev/null ||
      missing+=("$sym")
  done
  if ((${#missing[@]})); then
    echo "FAIL: the $binding binding does not wrap: ${missing[*]}"
    status=1
  else
    echo "ok: $binding wraps all $(wc -w <<<"$symbols") functions of plugin.def"
  fi
done
exit $status
