#!/usr/bin/python3
"""The mosaic of `make demo` against the image its tiles were cut from, and
against reproject.mosaicking.reproject_and_coadd (reproject_interp, mean) on
the same tiles and grid, with its time against ours.

    mosaic_report.py DIR MOSAIC.fits FOOTPRINT.fits [MOSAIC.json]

DIR is what make_mosaic_tiles.py wrote (original.fits, tiles/*.fits);
MOSAIC.json is `parallax coadd --json` of the same mosaic (for its times)."""
import glob
import json
import os
import sys
import time
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from reproject import reproject_interp
from reproject.mosaicking import reproject_and_coadd


def stats(name, diff, scale):
    rms = float(np.sqrt(np.mean(diff ** 2)))
    print(f"  {name:<34} mean {np.mean(diff):+8.3f}  rms {rms:7.3f}  max |d| {np.max(np.abs(diff)):8.3f} ADU"
          f"   (rms {100 * rms / scale:.2f}% of the image's spread)")


def main():
    directory, mosaic_path, footprint_path = sys.argv[1:4]
    doc = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
    warnings.simplefilter("ignore", FITSFixedWarning)
    original = fits.getdata(os.path.join(directory, "original.fits")).astype(np.float64)
    header = fits.getheader(os.path.join(directory, "original.fits"))
    mosaic = fits.getdata(mosaic_path).astype(np.float64)
    footprint = fits.getdata(footprint_path).astype(np.float64)
    tiles = sorted(glob.glob(os.path.join(directory, "tiles", "*.fits")))
    covered = footprint > 0
    spread = float(np.percentile(original, 99) - np.percentile(original, 1))

    print(f"Mosaic of {len(tiles)} tiles on the original's {original.shape[1]} x {original.shape[0]} grid: "
          f"{100 * covered.mean():.1f}% covered, up to {int(footprint.max())} tiles deep")
    print("Against the original image (original -> tile -> mosaic is two bilinear resamplings: they smooth the\n"
          "stars, and reproject's mosaic of the same tiles has the same residuals, see below):")
    stats("where the footprint > 0", (mosaic - original)[covered], spread)
    deep = footprint >= 2
    if deep.any():
        stats("where 2 or more tiles overlap", (mosaic - original)[deep], spread)
    sky = covered & (original < np.percentile(original, 50))
    stats("sky pixels (below the median)", (mosaic - original)[sky], spread)

    # reproject_and_coadd on the same tiles, in memory; best of 3.
    hdus = [fits.open(p)[0] for p in tiles]
    for hdu in hdus:
        hdu.data  # read before timing
    best = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 where nothing covers
        for _ in range(3):
            t0 = time.perf_counter()
            theirs, theirs_fp = reproject_and_coadd(hdus, WCS(header), shape_out=original.shape,
                                                    reproject_function=reproject_interp, combine_function="mean")
            best = min(best, time.perf_counter() - t0)
    same_mask = np.array_equal(np.isnan(mosaic), np.isnan(theirs))
    both = covered & (theirs_fp > 0)
    relative = np.abs(mosaic[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1e-30)
    print("Against reproject_and_coadd(reproject_interp, mean) on the same tiles and grid:")
    print(f"  largest relative difference {relative.max():.2e} (float32 output: ~6e-8), NaN masks "
          f"{'identical' if same_mask else 'DIFFERENT'}, footprints "
          f"{'identical' if np.array_equal(footprint, theirs_fp) else 'differ by up to %.2e' % np.abs(footprint - theirs_fp).max()}")
    line = f"  reproject_and_coadd {1e3 * best:8.2f} ms (in memory, best of 3)"
    if doc:
        line += (f"; parallax coadd {1e3 * doc['seconds']:.2f} ms in plx_coadd ({best / max(doc['seconds'], 1e-9):.0f}x), "
                 f"{1e3 * doc['total_s']:.1f} ms for the whole command (reading and writing FITS included), "
                 f"{doc['workers']} workers")
    print(line)
    if not same_mask or relative.max() > 1e-5:
        print("  MISMATCH: the mosaic does not match reproject's")
        sys.exit(1)


if __name__ == "__main__":
    main()
