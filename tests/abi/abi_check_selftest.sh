#!/usr/bin/env bash
# The ABI check itself, on a tiny library built here in versions that change
# its header the ways a release might: it must accept appended struct_size
# fields, added enumerators and added functions, and refuse a reordered
# field, a struct without struct_size that grows, a changed enumerator value
# and a removed function.
#   abi_check_selftest.sh path/to/abi_check.py
set -euo pipefail
check=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > v1.h <<'H'
#include <stddef.h>
typedef enum kind { KIND_ONE = 0, KIND_TWO = 1 } kind_t;
typedef struct opts { size_t struct_size; int a; double b; } opts_t;
typedef struct pair { int x; int y; } pair_t;
int use(const opts_t* o, kind_t k);
int use_pair(pair_t* p);
int old_function(void);
H
cat > lib.c <<'C'
#include "t.h"
int use(const opts_t* o, kind_t k) { return o->a + (int)k; }
int use_pair(pair_t* p) { return p->x; }
#ifndef REMOVED
int old_function(void) { return 1; }
#endif
#ifdef ADDED
int new_function(void) { return 2; }
#endif
C

# version NAME SED-EXPRESSION [CFLAGS]: the library with the header changed.
version() {
  mkdir -p "$1"
  sed -e "$2" v1.h > "$1/t.h"
  cc -g -shared -fPIC -I"$PWD/$1" ${3:-} lib.c -o "$1/libt.so"
}
version base 's/^//'
abidw --headers-dir "$PWD/base" --drop-private-types --short-locs --no-corpus-path --no-comp-dir-path base/libt.so > base.abi

status=0
expect() {  # expect pass|fail NAME
  local got=pass
  /usr/bin/python3 "$check" base.abi "$2/libt.so" "$PWD/$2" "$2/t.h" > "$2.log" 2>&1 || got=fail
  if [[ $got != "$1" ]]; then
    echo "FAIL: $2: the check says $got, expected $1:"; cat "$2.log"; status=1
  else
    echo "ok: $2 -> $got"
  fi
}
version moved 's/^typedef enum/\n\n\/* lines moved *\/\ntypedef enum/'
version appended 's/double b; }/double b; int c; }/' -DADDED
version new_enumerator 's/KIND_TWO = 1 }/KIND_TWO = 1, KIND_THREE = 2 }/'
version reordered 's/int a; double b;/double b; int a;/'
version reordered_and_appended 's/int a; double b;/double b; int a; int c;/'
version pair_grew 's/int x; int y; }/int x; int y; int z; }/'
version enumerator_value 's/KIND_TWO = 1/KIND_TWO = 2/'
version removed_function 's/^//' -DREMOVED
expect pass base
expect pass moved
expect pass appended
expect pass new_enumerator
expect fail reordered
expect fail reordered_and_appended
expect fail pair_grew
expect fail enumerator_value
expect fail removed_function
exit $status
