#!/usr/bin/python3
"""Cuts overlapping mosaic tiles out of a real sky image for `make demo`: the
Digitized Sky Survey plate scan that Debian's python3-astropy ships as WCS test
data (100 x 100 pixels of 1.7 arcsec near RA 14h30m, Dec -62.7), each tile in a
TAN projection of its own (its own centre, rotation and a slightly different
pixel scale), resampled from the original with reproject_interp.

    make_mosaic_tiles.py OUTDIR [--tiles 5] [--size 56]

OUTDIR gets original.fits (the image, float32, with its header's linear TAN
solution: CRVAL, CRPIX and the CD matrix; the DSS plate-solution polynomial,
which wcslib reads as a distortion, is left out so that the original, the tiles
and the mosaic share one exact sky model), tiles/tile_N.fits (NaN where a tile
reaches past the original) and tiles.json (what each tile is)."""
import argparse
import json
import os
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from reproject import reproject_interp

# Centre (original pixel x, y), rotation (degrees) and pixel scale (times the
# original's) of each tile: they overlap around the middle and reach the edges.
# Scales of 1 or finer keep the original's detail; a coarser tile loses some.
LAYOUT = [((28, 28), 0.0, 1.00), ((71, 30), 17.0, 0.96), ((30, 72), -23.0, 0.93), ((70, 70), 31.0, 1.03),
          ((50, 50), -9.0, 0.90), ((50, 20), 45.0, 0.97)]
LINEAR_TAN = ("CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2")


def find_dss():
    import astropy.wcs
    path = os.path.join(os.path.dirname(astropy.wcs.__file__), "tests", "data", "dss.14.29.56-62.41.05.fits.gz")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: install Debian's python3-astropy (it ships the DSS test image)")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--tiles", type=int, default=5, choices=range(2, len(LAYOUT) + 1))
    parser.add_argument("--size", type=int, default=56, help="tile width and height in pixels")
    args = parser.parse_args()
    os.makedirs(os.path.join(args.outdir, "tiles"), exist_ok=True)
    warnings.simplefilter("ignore", FITSFixedWarning)

    source = find_dss()
    with fits.open(source) as f:
        data = f[0].data.astype(np.float32)
        raw = f[0].header
    header = fits.Header()
    for key in LINEAR_TAN:
        header[key] = raw[key]
    header["RADESYS"], header["EQUINOX"] = "FK5", 2000.0
    header["OBJECT"] = raw.get("OBJECT", "")
    header["COMMENT"] = f"Pixels of {os.path.basename(source)} (DSS, UK Schmidt plate {raw.get('PLATEID', '?')})"
    header["COMMENT"] = "with its linear TAN solution only (no plate-solution polynomial)"
    original = os.path.join(args.outdir, "original.fits")
    fits.PrimaryHDU(data, header).writeto(original, overwrite=True)

    wcs = WCS(header)
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))))
    n = args.size
    tiles = []
    for j, ((cx, cy), rotation, factor) in enumerate(LAYOUT[:args.tiles]):
        ra, dec = wcs.wcs_pix2world(cx, cy, 0)
        t = fits.Header()
        t["CTYPE1"], t["CTYPE2"] = "RA---TAN", "DEC--TAN"
        t["CRVAL1"], t["CRVAL2"] = float(ra), float(dec)
        t["CRPIX1"], t["CRPIX2"] = (n + 1) / 2, (n + 1) / 2
        c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
        step = scale * factor
        t["CD1_1"], t["CD1_2"], t["CD2_1"], t["CD2_2"] = -step * c, step * s, step * s, step * c
        t["RADESYS"], t["EQUINOX"] = "FK5", 2000.0
        tile, footprint = reproject_interp((data, header), t, shape_out=(n, n))
        tile[footprint == 0] = np.nan
        path = os.path.join(args.outdir, "tiles", f"tile_{j + 1}.fits")
        fits.PrimaryHDU(tile.astype(np.float32), t).writeto(path, overwrite=True)
        tiles.append({"path": path, "centre_pixel": [cx, cy], "crval": [float(ra), float(dec)],
                      "rotation_deg": rotation, "scale_arcsec": step * 3600,
                      "covered_percent": float(100 * footprint.mean())})
        print(f"  tile {j + 1}: {n} x {n} at RA {float(ra):.5f}, Dec {float(dec):.5f}, rotated {rotation:+5.1f} deg, "
              f"{step * 3600:.3f} arcsec/pixel, {100 * footprint.mean():5.1f}% on the original")
    with open(os.path.join(args.outdir, "tiles.json"), "w") as f:
        json.dump({"source": source, "original": original, "tiles": tiles}, f, indent=2)
    print(f"Wrote {original} ({data.shape[1]} x {data.shape[0]}, {scale * 3600:.3f} arcsec/pixel) and "
          f"{len(tiles)} tiles to {os.path.join(args.outdir, 'tiles')}")


if __name__ == "__main__":
    main()
