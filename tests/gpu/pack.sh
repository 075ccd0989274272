#!/usr/bin/env bash
# Packs a build for a GPU machine that has no package registry (see README.md,
# "On an NVIDIA H100"): the stripped library, CLI, device test suites and
# plx_gpu_stack_sizes, and the shared libraries they load that are not among
# the Debian packages carried beside them (../shared/device/prepare.sh fills
# .device/ with those).
# Run from the repository root after `make build`; fills .gpu/, which
# .git/info/exclude keeps out of git.
set -euo pipefail
build=${1:-build}
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/bin .gpu/fallback
binaries="$build/src/cli/parallax $build/tests/plx_unit_stack_device $build/tests/plx_unit_coadd_device
$build/tests/plx_unit_gemm_device $build/tests/plx_gpu_stack_sizes"
for f in $binaries; do strip -o ".gpu/bin/$(basename "$f")" "$f"; done
strip -o .gpu/bin/libparallax.so.0 "$build/src/libparallax.so.0"
# Everything they load but the C runtime and what .device/ brings.
ldd $binaries | awk '/=>/ {print $1, $3}' | sort -u |
  grep -vE '^(libparallax|libc\.|libm\.|libpthread|libdl\.|librt\.|libresolv|ld-linux|libstdc\+\+|libgcc_s|libtbb|libhwloc|libOpenCL|libclblast|libcfitsio|libwcs|libhwy|libopenblas)' |
  while read -r name path; do cp -L "$path" ".gpu/fallback/$name"; done
cp tests/gpu/env.sh tests/gpu/run.sh .gpu/
echo "ready: .gpu/ ($(du -sh .gpu | cut -f1)); carry .device and .gpu, and run: bash .gpu/run.sh"
