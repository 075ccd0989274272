#!/usr/bin/env bash
# The Python package installs offline with pip from the source tree (Debian's
# pip and setuptools, no index) and works from where it was installed.
#   check_pip.sh SOURCE_DIR LIBRARY
set -euo pipefail
source=$1 library=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$source/bindings/python" "$work/src"  # pip builds in the tree: keep the source clean
/usr/bin/python3 -m pip install --quiet --no-build-isolation --no-deps --no-index --target "$work/site" "$work/src" \
  2> >(grep -v "Running pip as the 'root' user" >&2)
cd "$work"
PYTHONPATH="$work/site" PARALLAX_LIBRARY="$library" /usr/bin/python3 - <<'PY'
import numpy as np
import parallax
from parallax.compat import ccdproc, reproject, zemosaic  # noqa: F401 (the drop-in layers are installed too)
assert parallax.__file__.startswith(__import__("os").getcwd()), parallax.__file__
cube = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
result = parallax.stack(cube, combine="median")
assert np.array_equal(result.image, cube[1]), result.image
print("OK: pip installed parallax", parallax.version(), "at", parallax.__file__)
PY
