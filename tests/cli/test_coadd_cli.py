"""`parallax coadd` as a user runs it: FITS images with celestial WCS written by
astropy, mosaics compared with reproject.mosaicking (reproject_and_coadd with
reproject_interp, find_optimal_celestial_wcs) — ctest passes PARALLAX_CLI."""
import glob
import json
import os
import signal
import subprocess
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

reproject = pytest.importorskip("reproject")
from reproject import reproject_interp  # noqa: E402
from reproject.mosaicking import find_optimal_celestial_wcs, reproject_and_coadd  # noqa: E402

from cli_tty import run_with_tty_stderr

CLI = os.environ.get("PARALLAX_CLI", "parallax")
RTOL = 1e-6

# astropy's notes on old-style headers (the DSS test image's) are expected.
pytestmark = [pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
              pytest.mark.filterwarnings("ignore::astropy.io.fits.verify.VerifyWarning")]


def run(*args, timeout=120):
    return subprocess.run([CLI, "coadd", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def run_ok(*args):
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    return json.loads(result.stdout)


def leftovers(directory):
    return glob.glob(os.path.join(directory, "*.tmp-*"))


def read(path):
    with fits.open(path) as f:
        return np.array(f[0].data), f[0].header


# ---- inputs ------------------------------------------------------------------------


def tan_header(crval, crpix, scale, rotation_deg, form="cd", aspect=1.0, frame=None):
    """A TAN header: a CD matrix, or CDELT + PC (pixels `aspect` times taller)."""
    h = fits.Header()
    if frame == "galactic":
        h["CTYPE1"], h["CTYPE2"] = "GLON-TAN", "GLAT-TAN"
    else:
        h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
        if frame:
            h["RADESYS"] = frame
            if frame == "FK5":
                h["EQUINOX"] = 2000.0
    h["CRVAL1"], h["CRVAL2"] = crval
    h["CRPIX1"], h["CRPIX2"] = crpix
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    if form == "cd":
        h["CD1_1"], h["CD1_2"] = -scale * c, scale * aspect * s
        h["CD2_1"], h["CD2_2"] = scale * s, scale * aspect * c
    else:
        h["CDELT1"], h["CDELT2"] = -scale, scale * aspect
        h["PC1_1"], h["PC1_2"], h["PC2_1"], h["PC2_2"] = c, -s, s, c
    return h


def sky(shape, seed, stars=12):
    """Smooth sky, noise and a few stars: positive, so relative errors mean something."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    image = 100 + 0.3 * x + 0.2 * y + rng.normal(0, 3, shape)
    for _ in range(stars):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        image += rng.uniform(50, 400) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 4)
    return image


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """Three overlapping images around RA 150, Dec 2 with different TAN
    projections (centre, rotation, scale, CD vs PC, square vs tall pixels), one
    with NaN pixels, one int16 with BSCALE/BZERO and BLANK; a reference grid."""
    d = tmp_path_factory.mktemp("field")
    paths = [d / "a.fits", d / "b.fits", d / "c.fits"]
    a = sky((60, 50), 1).astype(np.float32)
    a[10, 10] = np.nan
    a[33, 20:23] = np.nan
    fits.PrimaryHDU(a, tan_header((150.0, 2.0), (25.5, 30.5), 0.010, 17)).writeto(paths[0])
    b = sky((40, 70), 2).astype(np.float32)
    fits.PrimaryHDU(b, tan_header((150.25, 2.12), (35.0, 20.0), 0.012, -31, form="pc", aspect=1.1)).writeto(paths[1])
    c = sky((45, 45), 3)
    hdu = fits.PrimaryHDU(np.round((c - 100) / 0.5).astype(np.int16),
                          tan_header((149.9, 2.25), (23.0, 22.0), 0.0095, 64))
    hdu.data[5, 5] = -32768
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.5, 100.0, -32768
    hdu.writeto(paths[2])
    reference = d / "reference.fits"
    fits.PrimaryHDU(np.zeros((80, 90), np.float32), tan_header((150.1, 2.1), (45.5, 40.5), 0.011, 0)).writeto(reference)
    return {"dir": d, "inputs": [str(p) for p in paths], "reference": str(reference)}


def expected_mosaic(inputs, reference, weights=None, **kwargs):
    header = fits.getheader(reference)
    hdus = [fits.open(p)[0] for p in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 where nothing covers: NaN is meant
        image, footprint = reproject_and_coadd(hdus, WCS(header), shape_out=(header["NAXIS2"], header["NAXIS1"]),
                                               input_weights=weights, reproject_function=reproject_interp, **kwargs)
    return image, footprint


def assert_mosaic(image, footprint, expected, expected_footprint, rtol=RTOL, min_covered=0.1):
    assert image.shape == expected.shape and footprint.shape == expected_footprint.shape
    ours, theirs = np.isnan(image), np.isnan(expected)
    assert np.array_equal(ours, theirs), (f"NaN here only: {np.argwhere(ours & ~theirs)[:8].tolist()} "
                                          f"({(ours & ~theirs).sum()}); NaN in reproject's only: "
                                          f"{np.argwhere(theirs & ~ours)[:8].tolist()} ({(theirs & ~ours).sum()})")
    covered = expected_footprint > 0
    assert covered.sum() > min_covered * covered.size
    np.testing.assert_allclose(image[covered], expected[covered], rtol=rtol, atol=0)
    np.testing.assert_allclose(footprint, expected_footprint, rtol=rtol, atol=1e-12)


# ---- results against reproject --------------------------------------------------------


def test_mean_matches_reproject_and_coadd(field, tmp_path):
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    doc = run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, *field["inputs"])
    expected, expected_fp = expected_mosaic(field["inputs"], field["reference"], combine_function="mean")
    image, header = read(out)
    footprint, _ = read(fp)
    assert header["BITPIX"] == -32 and image.shape == (80, 90)
    assert_mosaic(image, footprint, expected, expected_fp)
    assert footprint.max() == 3  # somewhere all three overlap
    assert doc["covered"] == int((expected_fp > 0).sum())
    assert leftovers(tmp_path) == []


def test_nearest_matches_reproject_order_0(field, tmp_path):
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, "--interp", "nearest", *field["inputs"])
    expected, expected_fp = expected_mosaic(field["inputs"], field["reference"], order=0)
    assert_mosaic(read(out)[0], read(fp)[0], expected, expected_fp)


def test_sum_matches_reproject(field, tmp_path):
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, "--combine", "sum", *field["inputs"])
    expected, expected_fp = expected_mosaic(field["inputs"], field["reference"], combine_function="sum")
    image = read(out)[0]
    assert not np.isnan(image).any()  # 0 where nothing covers
    assert (image[expected_fp == 0] == 0).all()
    assert_mosaic(image, read(fp)[0], expected, expected_fp)


def test_weight_maps_match_reproject(field, tmp_path):
    rng = np.random.default_rng(7)
    weights, paths = [], []
    for j, path in enumerate(field["inputs"]):
        shape = fits.getdata(path).shape
        w = rng.uniform(0.2, 3.0, shape).astype(np.float32)
        if j == 1:
            w[5, 5] = np.nan  # reproject: nan_to_num over the whole map
            w[:, :3] = 0  # a strip that counts for nothing
        weights.append(w)
        paths.append(tmp_path / f"w{j}.fits")
        fits.PrimaryHDU(w).writeto(paths[-1])
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    doc = run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, "--weights", *paths, "--",
                 *field["inputs"])
    expected, expected_fp = expected_mosaic(field["inputs"], field["reference"], weights=weights)
    assert_mosaic(read(out)[0], read(fp)[0], expected, expected_fp)
    assert doc["options"]["weights"] == [str(p) for p in paths]
    assert [i["weights"] for i in doc["input_files"]] == [str(p) for p in paths]


def test_auto_frame_matches_find_optimal_celestial_wcs(field, tmp_path):
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    doc = run_ok("-o", out, "--auto-frame", "--footprint", fp, *field["inputs"])
    hdus = [fits.open(p)[0] for p in field["inputs"]]
    wcs, shape = find_optimal_celestial_wcs(hdus)
    image, header = read(out)
    assert image.shape == shape
    ours = WCS(header)
    np.testing.assert_allclose(ours.wcs.crval, wcs.wcs.crval, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.wcs.crpix, wcs.wcs.crpix, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.wcs.cdelt, wcs.wcs.cdelt, rtol=0, atol=1e-12)
    assert list(ours.wcs.ctype) == list(wcs.wcs.ctype) and header["RADESYS"] == "ICRS"
    assert doc["options"]["frame"] == "auto" and doc["options"]["reference"] is None
    np.testing.assert_allclose(doc["wcs"]["crval"], wcs.wcs.crval, atol=1e-9)
    np.testing.assert_allclose(doc["wcs"]["crpix"], wcs.wcs.crpix, atol=1e-9)
    np.testing.assert_allclose(doc["wcs"]["cd"], np.diag(wcs.wcs.cdelt), atol=1e-15)
    assert (doc["width"], doc["height"]) == (shape[1], shape[0])
    # ... and the mosaic on that frame is reproject's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected, expected_fp = reproject_and_coadd(hdus, wcs, shape_out=shape, reproject_function=reproject_interp)
    assert_mosaic(image, read(fp)[0], expected, expected_fp)
    assert expected_fp[0, :].any() or expected_fp[:, 0].any()  # the frame is tight


def test_auto_frame_in_galactic_and_across_longitude_zero(tmp_path):
    paths = []
    for j, (crval, rotation) in enumerate([((359.8, 0.3), 12), ((0.15, 0.35), -20)]):
        paths.append(tmp_path / f"g{j}.fits")
        fits.PrimaryHDU(sky((30, 40), 20 + j).astype(np.float32),
                        tan_header(crval, (20.5, 15.5), 0.01, rotation, frame="galactic")).writeto(paths[-1])
    out = tmp_path / "mosaic.fits"
    doc = run_ok("-o", out, "--auto-frame", *paths)
    wcs, shape = find_optimal_celestial_wcs([fits.open(p)[0] for p in paths])
    header = read(out)[1]
    assert header["CTYPE1"] == "GLON-TAN" and header["CTYPE2"] == "GLAT-TAN"
    assert (header["NAXIS2"], header["NAXIS1"]) == shape
    np.testing.assert_allclose([header["CRVAL1"], header["CRVAL2"]], wcs.wcs.crval, atol=1e-9)
    np.testing.assert_allclose([header["CRPIX1"], header["CRPIX2"]], wcs.wcs.crpix, atol=1e-9)
    assert doc["wcs"]["frame"] == "Galactic"


def test_inputs_in_another_frame_than_the_reference(field, tmp_path):
    """An FK5 (J2000) input on an ICRS grid: a rotation of 1e-7 rad or so."""
    data = sky((40, 40), 30).astype(np.float32)
    fk5 = tmp_path / "fk5.fits"
    fits.PrimaryHDU(data, tan_header((150.1, 2.1), (20.5, 20.5), 0.011, 10, frame="FK5")).writeto(fk5)
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, fk5)
    expected, expected_fp = expected_mosaic([str(fk5)], field["reference"])
    assert_mosaic(read(out)[0], read(fp)[0], expected, expected_fp)


def test_tan_sip_input_matches_reproject(tmp_path):
    """A real CCD image with a TAN-SIP header (astropy's test data)."""
    sip = "/usr/lib/python3/dist-packages/astropy/nddata/tests/data/sip-wcs.fits"
    if not os.path.exists(sip):
        pytest.skip("astropy's sip-wcs.fits is not installed")
    header = fits.getheader(sip)
    reference = tmp_path / "grid.fits"
    grid = tan_header((header["CRVAL1"], header["CRVAL2"]), (40.5, 35.5), 0.00014, 8)
    fits.PrimaryHDU(np.zeros((70, 80), np.float32), grid).writeto(reference)
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    doc = run_ok("-o", out, "--reference", reference, "--footprint", fp, sip)
    expected, expected_fp = expected_mosaic([sip], str(reference))
    assert_mosaic(read(out)[0], read(fp)[0], expected, expected_fp)
    assert doc["native_wcs"] + doc["grid_wcs"] == 1


DSS = "/usr/lib/python3/dist-packages/astropy/wcs/tests/data/dss.14.29.56-62.41.05.fits.gz"


def projection_header(kind):
    """Input headers for the mapping test: (header, image shape, pixel tolerance)."""
    if kind == "dss":  # a DSS plate solution: wcslib reads it as TAN + a TPD distortion
        if not os.path.exists(DSS):
            pytest.skip("astropy's DSS test image is not installed")
        header = fits.getheader(DSS)
        for key in ("DATAMIN", "DATAMAX", "BSCALE", "BZERO"):
            header.pop(key, None)
        return header, (100, 100), 2e-3
    h = tan_header((217.48, -62.68), (50.5, 50.5), 0.00047, 20)
    if kind == "tan-sip":  # computed natively: astropy's fixed point to ~1e-7 pixel
        h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
        h["A_ORDER"], h["B_ORDER"] = 2, 2
        h["A_2_0"], h["A_1_1"], h["B_0_2"] = 2e-5, -1e-5, 1.5e-5
        return h, (100, 100), 1e-5
    h["CTYPE1"], h["CTYPE2"] = f"RA---{kind.upper()}", f"DEC--{kind.upper()}"
    if kind == "tpv":  # SCAMP's polynomial: wcslib reads it as TAN + a TPD distortion
        h["PV1_1"], h["PV1_4"], h["PV2_1"], h["PV2_6"] = 1.0, 0.002, 1.0, -0.003
    return h, (100, 100), 2e-3  # through a wcslib grid, refined to 1e-3 pixel


@pytest.mark.parametrize("kind", ["sin", "zea", "tan-sip", "tpv", "dss"])
def test_mapping_of_other_projections_and_distortions(tmp_path, kind):
    """Images whose values are their own x or y pixel coordinate: bilinear
    interpolation gives back the input position each output pixel maps to, to
    compare with reproject's. Through wcslib the exact transforms agree with
    astropy's to 1e-10 pixel; what is left is the grid's linear interpolation
    (measured: 1e-4 pixel for TPV, 1e-5 for DSS, 3e-7 for SIN and ZEA). TPV
    and DSS are wcslib distortions, evaluated in scratch space inside the
    wcsprm: with the workers sharing one wcsprm a few pixels came out up to a
    pixel off or NaN, now and then (each worker has its own copy now)."""
    header, (ny, nx), tolerance = projection_header(kind)
    lon, lat = WCS(header).all_pix2world(nx / 2, ny / 2, 0)
    grid = tmp_path / "grid.fits"
    fits.PrimaryHDU(np.zeros((110, 120), np.float32),
                    tan_header((float(lon), float(lat)), (60.5, 55.5), 0.00047, 5)).writeto(grid)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    got, want = {}, {}
    for axis, ramp in (("x", xx), ("y", yy)):
        path, out = tmp_path / f"{axis}.fits", tmp_path / f"out_{axis}.fits"
        fits.PrimaryHDU(ramp, header).writeto(path)
        run_ok("-o", out, "--reference", grid, path)
        got[axis] = read(out)[0].astype(np.float64)
        want[axis] = expected_mosaic([str(path)], str(grid))[0]
    # Inside the input (the edge half pixels repeat the edge value, not the position).
    inside = (want["x"] > 0.01) & (want["x"] < nx - 1.01) & (want["y"] > 0.01) & (want["y"] < ny - 1.01)
    assert inside.sum() > 1000
    error = np.hypot(got["x"] - want["x"], got["y"] - want["y"])[inside]
    # float32 output: 100 * 6e-8 = 6e-6 pixel of rounding
    assert np.nanmax(error) < tolerance + 1e-5, f"{kind}: mapped up to {np.nanmax(error):.3g} pixel off reproject"
    assert np.array_equal(np.isnan(got["x"]), np.isnan(want["x"]))


@pytest.mark.parametrize("combine", ["min", "max", "median", "first", "last"])
def test_other_combine_modes(field, tmp_path, combine):
    """Per input reproject_interp onto the whole grid (for TAN inputs its valid
    pixels lie inside reproject_and_coadd's corner box), then numpy."""
    header = fits.getheader(field["reference"])
    shape = (header["NAXIS2"], header["NAXIS1"])
    values, feet = [], []
    for path in field["inputs"]:
        v, f = reproject_interp(fits.open(path)[0], WCS(header), shape_out=shape)
        values.append(np.where(f > 0, v, np.nan))
        feet.append(f)
    values, feet = np.array(values), np.array(feet)
    covered = np.isfinite(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        expected = {"min": np.nanmin(values, axis=0), "max": np.nanmax(values, axis=0),
                    "median": np.nanmedian(values, axis=0)}.get(combine)
    if combine in ("first", "last"):
        order = range(len(values)) if combine == "first" else reversed(range(len(values)))
        expected = np.full(shape, np.nan)
        for j in order:
            take = np.isnan(expected) & covered[j]
            expected[take] = values[j][take]
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, "--combine", combine, *field["inputs"])
    image, footprint = read(out)[0], read(fp)[0]
    assert np.array_equal(np.isnan(image), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(image[ok], expected[ok], rtol=RTOL)
    # The footprint is the sum of the weights (plx_coadd's rule for every mode).
    np.testing.assert_allclose(footprint, feet.sum(axis=0), rtol=RTOL)


@pytest.mark.parametrize("interp", ["bicubic", "lanczos3"])
def test_higher_order_kernels_keep_a_flat_image_flat(field, tmp_path, interp):
    """Keys' cubic and the normalised Lanczos kernel reproduce a constant
    exactly; their NaN holes are local (unlike scipy's B-spline)."""
    flat = tmp_path / "flat.fits"
    data = np.full((60, 50), 7.25, np.float32)
    data[30, 25] = np.nan
    fits.PrimaryHDU(data, fits.getheader(field["inputs"][0])).writeto(flat)
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, "--interp", interp, flat)
    image, footprint = read(out)[0], read(fp)[0]
    covered = footprint > 0
    np.testing.assert_allclose(image[covered], 7.25, rtol=1e-6)
    bilinear = expected_mosaic([str(flat)], field["reference"])[1] > 0
    # Covered where bilinear is, less a few pixels around the NaN and the edges.
    assert covered.sum() > 0.9 * bilinear.sum()
    assert np.isnan(image[~covered]).all()


def test_compressed_input_and_image_extension(field, tmp_path):
    """A tile-compressed image and an image extension after an empty primary
    give what the plain files give."""
    a, b, c = field["inputs"]
    header = fits.getheader(c)
    for key in ("BSCALE", "BZERO", "BLANK"):
        del header[key]
    packed = tmp_path / "c_packed.fits"  # lossless: GZIP without quantization
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(fits.getdata(c).astype(np.float32), header,
                                                       compression_type="GZIP_1", quantize_level=0.0)]).writeto(packed)
    extension = tmp_path / "b_ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(fits.getdata(b), fits.getheader(b))]).writeto(extension)
    plain, other = tmp_path / "plain.fits", tmp_path / "other.fits"
    run_ok("-o", plain, "--reference", field["reference"], a, b, c)
    run_ok("-o", other, "--reference", field["reference"], a, extension, packed)
    np.testing.assert_array_equal(read(other)[0], read(plain)[0])


def test_text_header_as_reference(field, tmp_path):
    """A Montage-style text header (astropy's Header.totextfile) gives the grid."""
    header = fits.getheader(field["reference"])
    text = tmp_path / "grid.hdr"
    header.totextfile(text)
    from_fits, from_text = tmp_path / "a.fits", tmp_path / "b.fits"
    run_ok("-o", from_fits, "--reference", field["reference"], *field["inputs"])
    run_ok("-o", from_text, "--reference", text, *field["inputs"])
    np.testing.assert_array_equal(read(from_text)[0], read(from_fits)[0])


# ---- the output file and the report ---------------------------------------------------


def test_header_json_and_history(field, tmp_path):
    out, fp = tmp_path / "mosaic.fits", tmp_path / "fp.fits"
    doc = run_ok("-o", out, "--reference", field["reference"], "--footprint", fp, *field["inputs"])
    image, header = read(out)
    reference = fits.getheader(field["reference"])
    for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        assert header[key] == reference[key], key
    assert header["NAXIS1"] == 90 and header["NAXIS2"] == 80 and header["NCOMBINE"] == 3
    assert "BSCALE" not in header and "BZERO" not in header
    history = "\n".join(str(h) for h in header["HISTORY"])
    assert "parallax coadd of 3 images" in history
    for path in field["inputs"]:
        assert os.path.basename(path) in history
    assert "interpolation bilinear, combine mean" in history and "covered" in history
    fp_header = read(fp)[1]
    assert "Footprint" in "\n".join(str(h) for h in fp_header["HISTORY"])
    assert WCS(fp_header).wcs.compare(WCS(header).wcs)

    # JSON: the fields of plx_coadd_result_t, the sizes and the outputs.
    for key in ("covered", "samples", "tile_rows", "tiles", "device_index", "workers", "native_wcs", "grid_wcs",
                "seconds"):
        assert isinstance(doc[key], (int, float)), key
    covered = int((read(fp)[0] > 0).sum())
    assert doc["covered"] == covered
    assert doc["covered_percent"] == pytest.approx(100 * covered / (80 * 90))
    assert (doc["inputs"], doc["width"], doc["height"], doc["pixels"]) == (3, 90, 80, 7200)
    assert doc["native_wcs"] == 3 and doc["grid_wcs"] == 0
    assert doc["samples"] >= covered and doc["tiles"] >= 1 and doc["tile_rows"] >= 1 and doc["workers"] >= 1
    assert doc["device"] == "cpu" and doc["device_index"] == -1
    assert doc["seconds"] >= 0 and doc["total_s"] >= doc["coadd_s"] >= 0
    assert doc["options"] == {"interp": "bilinear", "combine": "mean", "frame": "reference",
                              "reference": field["reference"], "weights": None}
    assert doc["outputs"] == {"image": str(out), "footprint": str(fp)}
    assert [i["path"] for i in doc["input_files"]] == field["inputs"]
    assert doc["wcs"]["ctype"] == ["RA---TAN", "DEC--TAN"] and doc["wcs"]["frame"] == "ICRS"


def test_summary_and_progress_bar_on_a_terminal(field, tmp_path):
    out = tmp_path / "mosaic.fits"
    result, tty_text = run_with_tty_stderr(
        [CLI, "coadd", "-o", str(out), "--reference", field["reference"], *field["inputs"]])
    assert result.returncode == 0, tty_text
    assert "%" in tty_text and "reading inputs" in tty_text
    summary = result.stdout
    assert f"Co-added 3 images into {out}: 90 x 80 (7,200 pixels)" in summary
    assert "% covered" in summary and "read " in summary and "co-add " in summary and "write " in summary


# ---- errors: a message naming the file, a non-zero exit, nothing left behind -------------


def assert_fails(tmp_path, args, *needles, out=None):
    out = out or tmp_path / "out.fits"
    fp = tmp_path / "fp.fits"
    result = run("-o", out, "--footprint", fp, *args)
    assert result.returncode != 0
    message = result.stderr
    for needle in needles:
        assert str(needle) in message, message
    assert not out.exists() and not fp.exists()
    assert leftovers(tmp_path) == [] and leftovers(os.path.dirname(str(out))) == []
    return message


def test_missing_file(field, tmp_path):
    missing = tmp_path / "nope.fits"
    message = assert_fails(tmp_path, ["--reference", field["reference"], *field["inputs"], missing], "no such file",
                           f"({missing})")
    assert message.count("\n") == 1
    assert_fails(tmp_path, ["--reference", tmp_path / "grid.fits", *field["inputs"]], "no such file",
                 tmp_path / "grid.fits")


def test_non_image_hdu(field, tmp_path):
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="x", format="E", array=np.arange(3.0))])]).writeto(table)
    assert_fails(tmp_path, ["--reference", field["reference"], field["inputs"][0], table], "no image",
                 "binary table", f"({table})")
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((3, 6, 8), np.float32)).writeto(cube)
    assert_fails(tmp_path, ["--reference", field["reference"], cube], "NAXIS = 3", "2-D", cube)
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file at all\n")
    assert_fails(tmp_path, ["--reference", field["reference"], text], "not a readable FITS file", text)


def test_header_without_celestial_wcs(field, tmp_path):
    bare = tmp_path / "bare.fits"
    fits.PrimaryHDU(np.ones((10, 12), np.float32)).writeto(bare)
    assert_fails(tmp_path, ["--reference", field["reference"], field["inputs"][0], bare], "no WCS", f"({bare})")
    linear = tmp_path / "linear.fits"
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"], h["CRPIX1"], h["CRPIX2"], h["CDELT1"], h["CDELT2"] = "X", "Y", 1.0, 1.0, 1.0, 1.0
    fits.PrimaryHDU(np.ones((10, 12), np.float32), h).writeto(linear)
    assert_fails(tmp_path, ["--reference", field["reference"], linear], "not celestial", f"({linear})")
    broken = tmp_path / "broken.fits"
    h = tan_header((150, 2), (5, 5), 0.01, 0)
    h["CTYPE1"] = "RA---XYZ"
    fits.PrimaryHDU(np.ones((10, 12), np.float32), h).writeto(broken, output_verify="ignore")
    assert_fails(tmp_path, ["--reference", field["reference"], broken], f"({broken})")
    # The reference too.
    assert_fails(tmp_path, ["--reference", linear, field["inputs"][0]], "not celestial", f"({linear})")


def test_weights_count_and_shape(field, tmp_path):
    w = tmp_path / "w.fits"
    fits.PrimaryHDU(np.ones((60, 50), np.float32)).writeto(w)
    assert_fails(tmp_path, ["--reference", field["reference"], "--weights", w, "--", *field["inputs"]],
                 "1 weight maps for 3 inputs", w)
    wrong = tmp_path / "wrong.fits"
    fits.PrimaryHDU(np.ones((7, 7), np.float32)).writeto(wrong)
    assert_fails(tmp_path, ["--reference", field["reference"], "--weights", w, wrong, "--", *field["inputs"][:2]],
                 "7 x 7", f"({wrong})")
    assert_fails(tmp_path, ["--reference", field["reference"], "--weights", w, tmp_path / "nope.fits", "--",
                            *field["inputs"][:2]], "no such file", tmp_path / "nope.fits")


def test_unwritable_output(field, tmp_path):
    nowhere = tmp_path / "no" / "such" / "dir" / "out.fits"
    assert_fails(tmp_path, ["--reference", field["reference"], *field["inputs"]], "does not exist", nowhere,
                 out=nowhere)
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    assert_fails(tmp_path, ["--reference", field["reference"], *field["inputs"]], a_file / "out.fits",
                 out=a_file / "out.fits")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            assert_fails(tmp_path, ["--reference", field["reference"], *field["inputs"]], locked / "out.fits",
                         out=locked / "out.fits")
        finally:
            locked.chmod(0o755)


def test_grid_options(field, tmp_path):
    assert_fails(tmp_path, [*field["inputs"]], "no output grid", "--auto-frame")
    assert_fails(tmp_path, ["--auto-frame", "--reference", field["reference"], *field["inputs"]], "--reference")
    assert_fails(tmp_path, ["--reference", field["reference"]], "no input images")
    assert_fails(tmp_path, ["--reference", field["reference"], "--interp", "cubic", *field["inputs"]], "--interp")
    assert_fails(tmp_path, ["--reference", field["reference"], "--combine", "average", *field["inputs"]], "--combine")


def test_auto_frame_needs_one_frame(field, tmp_path):
    galactic = tmp_path / "gal.fits"
    fits.PrimaryHDU(np.ones((10, 12), np.float32), tan_header((236.9, 42.0), (5, 5), 0.01, 0,
                                                              frame="galactic")).writeto(galactic)
    assert_fails(tmp_path, ["--auto-frame", field["inputs"][0], galactic], "Galactic", "ICRS", f"({galactic})")


def test_an_output_beyond_the_memory_budget_is_refused_before_any_file(field, tmp_path):
    """The command holds the output and footprint in memory: 80 x 90 x 2 floats (57.6 kB) against a budget of
    1e-7 x the available memory (under 57 kB below 570 GB) are refused up front, naming the sizes."""
    assert_fails(tmp_path, ["--reference", field["reference"], *field["inputs"], "--ram-fraction", "1e-7"],
                 "the output grid, 90 x 80 pixels, needs", "with its footprint", "more than the memory budget",
                 f"({field['reference']})")


def test_outputs_exist_or_are_inputs(field, tmp_path):
    out = tmp_path / "out.fits"
    out.write_text("precious")
    result = run("-o", out, "--reference", field["reference"], *field["inputs"])
    assert result.returncode != 0 and "the output exists" in result.stderr and str(out) in result.stderr
    assert out.read_text() == "precious"
    run_ok("-o", out, "--reference", field["reference"], *field["inputs"], "--overwrite")
    assert read(out)[0].shape == (80, 90)
    copy = tmp_path / "copy.fits"
    copy.write_bytes(open(field["inputs"][0], "rb").read())
    result = run("-o", copy, "--reference", field["reference"], copy, "--overwrite")
    assert result.returncode != 0 and "the output is also an input" in result.stderr
    assert leftovers(tmp_path) == []


def test_gpu_required_without_a_device(field, tmp_path):
    result = run("-o", tmp_path / "out.fits", "--reference", field["reference"], *field["inputs"], "--device", "gpu",
                 "--device-filter", "no-such-device")
    assert result.returncode != 0 and "parallax coadd:" in result.stderr
    assert not (tmp_path / "out.fits").exists() and leftovers(tmp_path) == []


def test_opencl_path_agrees_with_the_cpu(field, tmp_path):
    """--device gpu on PoCL (a CPU OpenCL device, --device-types cpu) gives the CPU path's mosaic."""
    on_cpu, on_device = tmp_path / "cpu.fits", tmp_path / "device.fits"
    fp_cpu, fp_device = tmp_path / "fp_cpu.fits", tmp_path / "fp_device.fits"
    run_ok("-o", on_cpu, "--footprint", fp_cpu, "--reference", field["reference"], *field["inputs"], "--device", "cpu")
    result = run("-o", on_device, "--footprint", fp_device, "--reference", field["reference"], *field["inputs"],
                 "--device", "gpu", "--device-types", "cpu", "--json")
    if result.returncode != 0 and "PLX_ERR_NO_DEVICE" in result.stderr:
        pytest.skip("no OpenCL device with double precision: " + result.stderr.strip())
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["device_index"] >= 0 and doc["device"] != "cpu"
    np.testing.assert_array_equal(read(on_device)[0], read(on_cpu)[0])
    np.testing.assert_array_equal(read(fp_device)[0], read(fp_cpu)[0])


def test_interrupt_removes_the_temporary_outputs(tmp_path):
    """Ctrl-C while co-adding: exit 130, no output, no temporary file."""
    big = tmp_path / "big.fits"
    fits.PrimaryHDU(np.random.default_rng(5).normal(100, 5, (1500, 1500)).astype(np.float32),
                    tan_header((150.0, 2.0), (750.5, 750.5), 0.0002, 5)).writeto(big)
    out, fp = tmp_path / "out.fits", tmp_path / "fp.fits"
    process = subprocess.Popen([CLI, "coadd", "-o", str(out), "--footprint", str(fp), "--auto-frame",
                                *[str(big)] * 24], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:  # finished before the signal: nothing to check
        pytest.skip("the co-addition ended before it could be interrupted")
    assert process.returncode == 130, stderr
    assert "interrupted; no output written" in stderr
    assert not out.exists() and not fp.exists()
    assert leftovers(tmp_path) == []
