#!/usr/bin/env bash
# `make package`: the three Debian packages, with what each must hold and
# depend on; unpacked together into a scratch root, the -dev files build the
# quick start with pkg-config and the tools run against the packaged library.
#   check_packages.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpack --config "$build/CPackConfig.cmake" -B "$work/packages" >/dev/null
version=$(sed -n 's/^#define PLX_VERSION_STRING "\(.*\)"$/\1/p' "$source/include/parallax.h")
status=0
expect() {  # expect PACKAGE FILE...: the package exists and holds the files
  local deb="$work/packages/$1_${version}_amd64.deb"
  [[ -f $deb ]] || { echo "FAIL: no package $1 (${deb##*/})"; status=1; return; }
  local files; files=$(dpkg-deb -c "$deb" | awk '{print $6}')
  local name=$1; shift
  for f in "$@"; do
    grep -qx "./$f" <<<"$files" || { echo "FAIL: $name lacks $f"; status=1; }
  done
  dpkg-deb -x "$deb" "$work/root"
}
expect libparallax0 usr/lib/libparallax.so.0 "usr/lib/libparallax.so.$version"
expect libparallax-dev usr/include/parallax.h usr/lib/libparallax.so usr/lib/pkgconfig/parallax.pc \
  usr/lib/cmake/Parallax/ParallaxConfig.cmake
expect parallax-tools usr/bin/parallax usr/share/parallax/profiles/tiny-2c-4g.json
[[ $status -eq 0 ]] || exit 1

depends() { dpkg-deb -f "$work/packages/$1_${version}_amd64.deb" Depends; }
grep -q "libparallax0 (= $version)" <<<"$(depends libparallax-dev)" || { echo "FAIL: libparallax-dev does not depend on libparallax0 (= $version)"; exit 1; }
grep -q "libparallax0 (= $version)" <<<"$(depends parallax-tools)" || { echo "FAIL: parallax-tools does not depend on libparallax0 (= $version)"; exit 1; }
grep -q "libtbb12" <<<"$(depends libparallax0)" || { echo "FAIL: libparallax0 lacks its Debian dependencies: $(depends libparallax0)"; exit 1; }

# The unpacked packages work together.
export LD_LIBRARY_PATH="$work/root/usr/lib" PKG_CONFIG_PATH="$work/root/usr/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Werror -o "$work/quickstart" "$source/tests/examples/quickstart.c" $(pkg-config --cflags --libs parallax)
"$work/quickstart" | grep -q "frames per chunk"
"$work/root/usr/bin/parallax" info --profile "$work/root/usr/share/parallax/profiles/tiny-2c-4g.json" | grep -q "usable 2"
echo "OK: libparallax0, libparallax-dev and parallax-tools $version hold, depend on and run what they should"
