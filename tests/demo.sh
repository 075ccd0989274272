#!/usr/bin/env bash
# `make demo`: what Parallax sees on this machine, and how it would run the
# workload that motivated it — stacking a night of Seestar S50 frames
# (13,000 frames of 1080 x 1920 x 3 float32, sigma clipping) — here and on two
# shipped machine profiles; then a real stack of synthetic FITS frames
# (PLX_DEMO_FRAMES, PLX_DEMO_HEIGHT, PLX_DEMO_WIDTH: default 48 of 1080 x 1920);
# last, a mosaic of tiles cut from a real sky image (parallax coadd).
#   demo.sh PATH/TO/parallax
set -euo pipefail
parallax=${1:-parallax}
here=$(cd "$(dirname "$0")/.." && pwd)

banner() { printf '\n\033[1m== %s\033[0m\n\n' "$*"; }

# One frame: 1080 rows of 1920 x 3 float32. Sigma clipping holds each sample as
# float plus a double working copy: working set 3 bytes per input byte.
stack_args=(--name seestar-stack --kind mixed --items 13000 --bytes-per-item 24883200
            --rows 1080 --bytes-per-row 23040 --layout across --working-set 3)

banner "parallax info: this machine as this process may use it"
"$parallax" info

banner "parallax plan: stack 13,000 Seestar frames (301 GiB) with sigma clipping, on this machine"
"$parallax" plan "${stack_args[@]}"

banner "the same plan in a container limited to 2 CPUs and 2 GiB (profiles/container-64c-quota2-2g.json)"
"$parallax" plan "${stack_args[@]}" --profile "$here/profiles/container-64c-quota2-2g.json"

banner "the same plan on a workstation with a 24 GiB GPU (profiles/workstation-32c-128g-1gpu.json)"
"$parallax" plan "${stack_args[@]}" --profile "$here/profiles/workstation-32c-128g-1gpu.json"

# A real stack: a synthetic night of registered frames (sky, noise, stars,
# satellite trails, hot pixels) written as FITS to a temporary directory,
# stacked with sigma clipping, then one frame against the stack.
python=${PYTHON:-/usr/bin/python3}
frames=${PLX_DEMO_FRAMES:-48}
height=${PLX_DEMO_HEIGHT:-1080}
width=${PLX_DEMO_WIDTH:-1920}
work=$(mktemp -d "${TMPDIR:-/tmp}/parallax-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

banner "parallax stack: $frames synthetic frames of $width x $height, sigma clipping (files in $work)"
"$python" "$here/tests/demo/make_stack_frames.py" "$work/night" --frames "$frames" --height "$height" --width "$width"
echo
"$parallax" stack --list "$work/night/frames.txt" -o "$work/stack.fits" --reject sigma \
    --count "$work/count.fits" --rejected "$work/low.fits,$work/high.fits"
"$parallax" stack --list "$work/night/frames.txt" -o "$work/mean.fits" --json > "$work/mean.json"

banner "before and after: one frame, a plain mean, and the sigma-clipped stack"
"$python" "$here/tests/demo/stack_report.py" "$work/night" "$work/stack.fits" "$work/mean.fits" \
    "$work/high.fits" "$work/mean.json"

# A mosaic: overlapping tiles cut from a real sky image (the DSS plate scan in
# Debian's python3-astropy test data), each in a TAN projection of its own,
# co-added back onto the original's grid; the result against the original and
# against reproject_and_coadd.
banner "parallax coadd: a mosaic of tiles cut from a DSS image, back onto its grid (files in $work/mosaic)"
"$python" "$here/tests/demo/make_mosaic_tiles.py" "$work/mosaic"
echo
"$parallax" coadd -o "$work/mosaic/mosaic.fits" --reference "$work/mosaic/original.fits" \
    --footprint "$work/mosaic/fp.fits" "$work/mosaic"/tiles/*.fits
"$parallax" coadd -o "$work/mosaic/mosaic.fits" --reference "$work/mosaic/original.fits" \
    --footprint "$work/mosaic/fp.fits" --overwrite --json "$work/mosaic"/tiles/*.fits > "$work/mosaic/mosaic.json"

banner "the mosaic against the original image and against reproject"
"$python" "$here/tests/demo/mosaic_report.py" "$work/mosaic" "$work/mosaic/mosaic.fits" "$work/mosaic/fp.fits" \
    "$work/mosaic/mosaic.json"
