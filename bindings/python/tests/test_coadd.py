"""parallax.coadd and parallax.reproject_and_coadd against independent references: Debian's python3-reproject 0.10
(``reproject_and_coadd(..., reproject_function=reproject_interp)``) for WCS mappings, on synthetic TAN and TAN-SIP
inputs and on real FITS images shipped by Debian's python3-astropy and python3-reproject split into overlapping
tiles; a numpy evaluation of reproject's interpolation rules (scipy map_coordinates orders 0 and 1 with edge
padding) for affine and homography matrices; numpy reductions of per-input reprojections for the combines reproject
0.10 lacks (min, max, median, first, last).

Tolerances: 1e-6 relative where the footprint is > 0 (the library computes in double, the outputs are float32 and
float64 inputs are read as float32), 1e-5 with a SIP distortion (astropy inverts SIP iteratively, to ~1e-7 pixel);
NaN masks identical; footprints to 1e-6."""
import ctypes
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import parallax
from parallax import _abi, _library

fits = pytest.importorskip("astropy.io.fits")
pytest.importorskip("reproject")
from astropy.wcs import WCS  # noqa: E402
from reproject import reproject_exact, reproject_interp  # noqa: E402
from reproject.mosaicking import reproject_and_coadd as reference_and_coadd  # noqa: E402

RTOL = 1e-6
SIP_RTOL = 1e-5
DIST = Path("/usr/lib/python3/dist-packages")


@pytest.fixture(scope="module")
def crt(profile):
    """A CPU runtime on the 2-CPU profile, shared by the module's tests."""
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


# ---------------------------------------------------------------------------------------------------------------
# Inputs and references
# ---------------------------------------------------------------------------------------------------------------

def tan_header(nx, ny, crval, crpix, scale, rot_deg, cd=True, frame=("RA---TAN", "DEC--TAN")):
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"], h["NAXIS2"] = nx, ny
    h["CTYPE1"], h["CTYPE2"] = frame
    h["CRVAL1"], h["CRVAL2"] = crval
    h["CRPIX1"], h["CRPIX2"] = crpix
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    if cd:
        h["CD1_1"], h["CD1_2"] = -scale[0] * c, scale[1] * s
        h["CD2_1"], h["CD2_2"] = scale[0] * s, scale[1] * c
    else:
        h["CDELT1"], h["CDELT2"] = -scale[0], scale[1]
        h["PC1_1"], h["PC1_2"], h["PC2_1"], h["PC2_2"] = c, s, -s, c
    return h


def smooth_image(rng, ny, nx, dtype=np.float64, level=100.0):
    y, x = np.mgrid[0:ny, 0:nx]
    a = level + 10 * np.sin(x / 5.0) * np.cos(y / 7.0) + 0.3 * x - 0.2 * y + rng.normal(0, 1, (ny, nx))
    return a.astype(dtype)


@pytest.fixture(scope="module")
def mosaic():
    """Three TAN inputs (CD with rotation, CDELT + PC with non-square pixels, another centre rotated by 95 degrees),
    NaN pixels, float64 and float32 data, pixel weights (one NaN), and an 80 x 80 TAN output."""
    rng = np.random.default_rng(42)
    h1 = tan_header(50, 60, (150.02, 2.01), (25.3, 30.7), (0.010, 0.010), 17.0)
    h2 = tan_header(70, 40, (149.97, 1.99), (35.5, 20.5), (0.012, 0.0115), -31.0, cd=False)
    h3 = tan_header(45, 45, (150.21, 2.18), (20.0, 24.0), (0.009, 0.009), 95.0)
    out = tan_header(80, 80, (150.0, 2.0), (40.5, 40.5), (0.011, 0.011), 0.0)
    a1 = smooth_image(rng, 60, 50)
    a1[10, 10] = np.nan
    a1[33, 20:23] = np.nan
    a2 = smooth_image(rng, 40, 70, np.float32, level=80.0)
    a3 = smooth_image(rng, 45, 45, level=120.0)
    a3[:3, :] = np.nan  # a NaN edge
    w1 = np.full((60, 50), 2.0)
    w1[:, :5] = 0.5
    w2 = (1.0 + 0.01 * np.arange(70)[None, :] * np.ones((40, 1))).astype(np.float32)
    w2[5, 5] = np.nan  # reproject: nan_to_num -> 0
    w3 = 1.0 + rng.random((45, 45))
    return {"inputs": [(a1, h1), (a2, h2), (a3, h3)], "weights": [w1, w2, w3], "out": out}


def reference(inputs, out, shape_out=None, combine="mean", order="bilinear", weights=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reference_and_coadd(list(inputs), out, shape_out=shape_out, input_weights=weights,
                                   combine_function=combine, reproject_function=reproject_interp, order=order)


def assert_matches(image, footprint, ref, ref_fp, rtol=RTOL):
    """NaN masks identical, footprints to 1e-6, values to rtol (relative) where the footprint is > 0 and equal
    (0 or NaN) elsewhere."""
    assert image.shape == ref.shape and footprint.shape == ref_fp.shape
    np.testing.assert_array_equal(np.isnan(image), np.isnan(ref), err_msg="NaN masks differ")
    np.testing.assert_allclose(footprint, ref_fp, rtol=1e-6, atol=1e-6, err_msg="footprints differ")
    covered = ref_fp > 0
    assert covered.any()
    np.testing.assert_allclose(image[covered], ref[covered], rtol=rtol, atol=0, equal_nan=True)
    np.testing.assert_array_equal(image[~covered], ref[~covered])


def header_text(h):
    return h.tostring()


MAPPING_FORMS = {"header": lambda h: h, "wcs": lambda h: WCS(h), "text": header_text,
                 "lines": lambda h: h.tostring(sep="\n")}


# ---------------------------------------------------------------------------------------------------------------
# WCS mappings against reproject
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["bilinear", "nearest-neighbor"])
@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_tan_mosaic_matches_reproject(crt, mosaic, combine, order):
    ref, ref_fp = reference(mosaic["inputs"], mosaic["out"], combine=combine, order=order)
    interpolation = "nearest" if order != "bilinear" else "bilinear"
    image, footprint, info = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], combine=combine,
                                            interpolation=interpolation, runtime=crt, return_info=True)
    assert image.dtype == np.float32 and footprint.dtype == np.float32 and image.shape == (80, 80)
    assert_matches(image, footprint, ref, ref_fp)
    assert info.native_wcs == 3 and info.grid_wcs == 0
    assert info.covered == int((ref_fp > 0).sum())
    assert info.copied_inputs == 2  # the float64 inputs; the float32 one is read in place
    # Overlaps, NaN holes and uncovered pixels are all there.
    assert (ref_fp >= 2).sum() > 500 and (ref_fp == 0).sum() > 100
    assert np.isnan(ref).sum() > 100 if combine == "mean" else not np.isnan(ref).any()


@pytest.mark.parametrize("form", sorted(MAPPING_FORMS))
def test_mapping_forms_agree(crt, mosaic, form):
    """A Header, a WCS object, header text and header text with one card per line give the same mosaic; the output
    shape defaults to the output header's NAXIS."""
    make = MAPPING_FORMS[form]
    inputs = [(a, make(h)) for a, h in mosaic["inputs"]]
    image, footprint = parallax.coadd(inputs, None, make(mosaic["out"]) if form != "wcs" else WCS(mosaic["out"]),
                                      runtime=crt)
    ref, ref_fp = reference(mosaic["inputs"], mosaic["out"])
    assert_matches(image, footprint, ref, ref_fp)


def test_weighted_mean_and_sum_with_a_nan_weight_match_reproject(crt, mosaic):
    for combine in ("mean", "sum"):
        ref, ref_fp = reference(mosaic["inputs"], mosaic["out"], combine=combine, weights=mosaic["weights"])
        image, footprint = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], combine=combine,
                                          input_weights=mosaic["weights"], runtime=crt)
        assert_matches(image, footprint, ref, ref_fp)
        assert np.unique(np.round(ref_fp, 3)).size > 20  # fractional footprints


def test_reproject_and_coadd_is_a_drop_in(crt, mosaic, tmp_path):
    inputs, out, weights = mosaic["inputs"], mosaic["out"], mosaic["weights"]
    for combine in ("mean", "sum"):
        for order in ("bilinear", "nearest-neighbor", 0, 1):
            ref, ref_fp = reference(inputs, out, combine=combine, order=order, weights=weights)
            image, footprint = parallax.reproject_and_coadd(inputs, out, input_weights=weights,
                                                            reproject_function=reproject_interp,
                                                            combine_function=combine, order=order, runtime=crt)
            assert image.dtype == np.float64 and footprint.dtype == np.float64
            assert_matches(image, footprint, ref, ref_fp)
    # HDUs, an HDUList with hdu_in, FITS files, NDData, WCS objects with shape_out, weights as HDUs.
    from astropy.nddata import NDData

    hdus = [fits.ImageHDU(np.asarray(a), h) for a, h in inputs]
    paths = []
    for i, hdu in enumerate(hdus):
        paths.append(str(tmp_path / f"in{i}.fits"))
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(paths[-1])
    forms = [hdus, [fits.HDUList([fits.PrimaryHDU(), hdu]) for hdu in hdus], paths,
             [NDData(np.asarray(a), wcs=WCS(h)) for a, h in inputs]]
    ref, ref_fp = reference(inputs, out, weights=weights)
    for form in forms:
        image, footprint = parallax.reproject_and_coadd(form, WCS(out), shape_out=(80, 80), hdu_in=1,
                                                        input_weights=[fits.ImageHDU(w) for w in weights],
                                                        runtime=crt)
        assert_matches(image, footprint, ref, ref_fp)
    out_path = str(tmp_path / "out.fits")
    fits.PrimaryHDU(np.zeros((80, 80), np.float32), out).writeto(out_path)
    image, footprint = parallax.reproject_and_coadd(inputs, out_path, input_weights=weights, runtime=crt)
    assert_matches(image, footprint, ref, ref_fp)
    # The header's NAXISn win over shape_out, as in reproject.
    image, _ = parallax.reproject_and_coadd(inputs, out, shape_out=(10, 10), runtime=crt)
    assert image.shape == (80, 80)


def test_reproject_and_coadd_refuses_what_it_does_not_implement(mosaic):
    inputs, out = mosaic["inputs"], mosaic["out"]
    with pytest.raises(ValueError, match="combine_function"):
        parallax.reproject_and_coadd(inputs, out, combine_function="average")
    with pytest.raises(parallax.UnsupportedError, match="reproject_interp"):
        parallax.reproject_and_coadd(inputs, out, reproject_function=reproject_exact)
    with pytest.raises(parallax.UnsupportedError, match="B-spline"):
        parallax.reproject_and_coadd(inputs, out, order="bicubic")
    with pytest.raises(parallax.UnsupportedError, match="match_background"):
        parallax.reproject_and_coadd(inputs, out, match_background=True)
    with pytest.raises(TypeError, match="return_type"):
        parallax.reproject_and_coadd(inputs, out, return_type="numpy")
    with pytest.raises(ValueError, match="shape_out"):
        parallax.reproject_and_coadd(inputs, WCS(out))
    with pytest.raises(TypeError, match="input_data"):
        parallax.reproject_and_coadd([inputs[0][0]], out)


def sip_header(nx, ny, crval, crpix, scale, rot_deg):
    h = tan_header(nx, ny, crval, crpix, scale, rot_deg)
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["A_ORDER"] = h["B_ORDER"] = 3
    for key, value in {"A_2_0": 2e-4, "A_1_1": -1.5e-4, "A_0_2": 1e-4, "A_3_0": 3e-6, "A_1_2": -2e-6,
                       "B_2_0": -1e-4, "B_1_1": 2e-4, "B_0_2": 1.2e-4, "B_0_3": -3e-6, "B_2_1": 1e-6}.items():
        h[key] = value
    return h


@pytest.mark.parametrize("sip_side", ["input", "output", "both"])
def test_tan_sip_matches_reproject(crt, sip_side):
    """SIP distortion (a few pixels at the corners) on an input, the output or both: to 1e-5, as astropy inverts
    SIP by a fixed-point iteration stopped at 1e-4 pixel over the whole call."""
    rng = np.random.default_rng(7)
    h_in = (sip_header if sip_side != "output" else tan_header)(64, 48, (10.02, -30.01), (32.5, 24.5),
                                                                (0.005, 0.005), 12.0)
    h_in2 = tan_header(40, 40, (9.96, -29.98), (20.0, 20.0), (0.006, 0.006), -20.0)
    out = (sip_header if sip_side != "input" else tan_header)(90, 70, (10.0, -30.0), (45.0, 35.0),
                                                              (0.005, 0.005), 0.0)
    inputs = [(smooth_image(rng, 48, 64), h_in), (smooth_image(rng, 40, 40, np.float32), h_in2)]
    sip = WCS(h_in if sip_side != "output" else out)
    corner = np.array([[0.0, 0.0]])
    distortion = np.hypot(*(sip.sip_pix2foc(corner, 0) - (corner + 1 - sip.wcs.crpix))[0])
    assert distortion > 0.5  # in pixels, at a corner
    for combine in ("mean", "sum"):
        ref, ref_fp = reference(inputs, out, combine=combine)
        for form in (lambda h: h, WCS):  # the header's cards, and astropy's to_header(relax=True)
            image, footprint, info = parallax.coadd([(a, form(h)) for a, h in inputs], output_wcs=form(out),
                                                    combine=combine, runtime=crt, return_info=True)
            assert_matches(image, footprint, ref, ref_fp, rtol=SIP_RTOL)
            assert info.native_wcs == 2


def test_galactic_output_from_icrs_inputs_matches_reproject(crt, mosaic):
    """ICRS inputs onto a Galactic grid: the rotation between the frames, as astropy's SkyCoord does it."""
    out = tan_header(80, 80, (236.52, 42.30), (40.5, 40.5), (0.011, 0.011), 5.0, frame=("GLON-TAN", "GLAT-TAN"))
    inputs = [(a, h.copy()) for a, h in mosaic["inputs"]]
    for _, h in inputs:
        h["RADESYS"] = "ICRS"
    ref, ref_fp = reference(inputs, out)
    assert (ref_fp > 0).sum() > 1000
    image, footprint = parallax.coadd(inputs, output_wcs=out, runtime=crt)
    assert_matches(image, footprint, ref, ref_fp)


# ---------------------------------------------------------------------------------------------------------------
# Real FITS images split into overlapping tiles
# ---------------------------------------------------------------------------------------------------------------

FITS_IMAGES = [
    ("astropy/nddata/tests/data/sip-wcs.fits", SIP_RTOL),  # 50 x 100 uint16, TAN-SIP, FK5
    ("astropy/modeling/tests/data/1904-66_AZP.fits", RTOL),  # 192 x 192 big-endian float32, AZP, NaN outside
    ("reproject/tests/data/galactic_2d.fits", RTOL),  # 43 x 43 big-endian float32, GLON-CAR
]


def fits_image(relative):
    path = DIST / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (from Debian's python3-astropy / python3-reproject)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdus:
            return np.array(hdus[0].data), hdus[0].header.copy()


def split(data, header, parts=(2, 3), overlap=6):
    """Overlapping tiles of the image, each a crop (a view) with its header (NAXIS and CRPIX moved)."""
    ny, nx = data.shape
    rows = np.linspace(0, ny, parts[0] + 1).astype(int)
    cols = np.linspace(0, nx, parts[1] + 1).astype(int)
    tiles = []
    for i in range(parts[0]):
        for j in range(parts[1]):
            y0, y1 = max(0, rows[i] - overlap), min(ny, rows[i + 1] + overlap)
            x0, x1 = max(0, cols[j] - overlap), min(nx, cols[j + 1] + overlap)
            h = header.copy()
            h["NAXIS1"], h["NAXIS2"] = x1 - x0, y1 - y0
            h["CRPIX1"], h["CRPIX2"] = header["CRPIX1"] - x0, header["CRPIX2"] - y0
            tiles.append((data[y0:y1, x0:x1], h))
    return tiles


@pytest.mark.parametrize("relative, rtol", FITS_IMAGES, ids=[Path(p).name for p, _ in FITS_IMAGES])
def test_real_fits_tiles_match_reproject(crt, relative, rtol):
    data, header = fits_image(relative)
    out = header.copy()  # the image's own grid, moved by a fraction of a pixel (no sample sits on a pixel edge)
    out["CRPIX1"], out["CRPIX2"] = header["CRPIX1"] + 0.37, header["CRPIX2"] - 0.21
    native = np.ascontiguousarray(data, dtype=np.float32)  # crops of it are read in place (row stride)
    for source, copied in ((data, True), (native, False)):
        tiles = split(source, header)
        for combine in ("mean", "sum"):
            ref, ref_fp = reference(tiles, out, combine=combine)
            assert (ref_fp >= 2).sum() > 100  # the overlaps
            image, footprint, info = parallax.coadd(tiles, output_wcs=out, combine=combine, runtime=crt,
                                                    return_info=True)
            assert_matches(image, footprint, ref, ref_fp, rtol=rtol)
            assert (info.copied_inputs == len(tiles)) == copied and (info.copied_inputs == 0) != copied


@pytest.mark.parametrize("relative, rtol", FITS_IMAGES, ids=[Path(p).name for p, _ in FITS_IMAGES])
def test_real_fits_tiles_onto_a_tan_grid_match_reproject(crt, relative, rtol):
    """The same tiles onto a TAN grid rotated by 7 degrees with 5% larger pixels: TAN-SIP natively, AZP and CAR
    through wcslib on a grid."""
    data, header = fits_image(relative)
    w = WCS(header)
    ny, nx = data.shape
    centre = tuple(float(v) for v in w.all_pix2world([[nx / 2, ny / 2]], 0)[0])
    scale = float(np.sqrt(abs(np.linalg.det(w.wcs.get_pc() * w.wcs.get_cdelt()[:, None])))) * 1.05
    galactic = header["CTYPE1"].startswith("GLON")
    out = tan_header(nx + 10, ny + 6, centre, ((nx + 10) / 2 + 0.3, (ny + 6) / 2 - 0.2), (scale, scale), 7.0,
                     frame=("GLON-TAN", "GLAT-TAN") if galactic else ("RA---TAN", "DEC--TAN"))
    if not galactic:
        out["RADESYS"], out["EQUINOX"] = "FK5", 2000.0
    tiles = split(data, header)
    ref, ref_fp = reference(tiles, out)
    image, footprint, info = parallax.coadd(tiles, output_wcs=out, runtime=crt, return_info=True)
    assert_matches(image, footprint, ref, ref_fp, rtol=rtol)
    sip = "SIP" in header["CTYPE1"]
    assert (info.native_wcs, info.grid_wcs) == ((len(tiles), 0) if sip else (0, len(tiles)))


# ---------------------------------------------------------------------------------------------------------------
# Matrices and callables against numpy
# ---------------------------------------------------------------------------------------------------------------

def numpy_interp(a, xi, yi, order):
    """reproject's interpolation (scipy map_coordinates order 0 / 1 on the edge-padded image), in numpy."""
    a = np.asarray(a, np.float32).astype(np.float64)
    ny, nx = a.shape
    p = np.pad(a, 1, mode="edge")
    with np.errstate(invalid="ignore"):
        valid = (yi >= -0.5) & (yi <= ny - 0.5) & (xi >= -0.5) & (xi <= nx - 0.5)
    out = np.full(xi.shape, np.nan)
    cy, cx = yi[valid] + 1.0, xi[valid] + 1.0
    if order == 0:
        out[valid] = p[np.floor(cy + 0.5).astype(int), np.floor(cx + 0.5).astype(int)]
        return out
    iy, ix = np.floor(cy).astype(int), np.floor(cx).astype(int)
    wy0 = 1.0 - (cy - iy)
    wx0 = 1.0 - (cx - ix)
    wy1, wx1 = 1.0 - wy0, 1.0 - wx0
    with np.errstate(invalid="ignore"):
        out[valid] = (p[iy, ix] * wy0 * wx0 + p[iy, ix + 1] * wy0 * wx1 + p[iy + 1, ix] * wy1 * wx0
                      + p[iy + 1, ix + 1] * wy1 * wx1)
    return out


def numpy_coords(matrix, shape):
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    m = np.asarray(matrix, np.float64)
    xi = m[0, 0] * x + m[0, 1] * y + m[0, 2]
    yi = m[1, 0] * x + m[1, 1] * y + m[1, 2]
    if m.shape == (3, 3):
        w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xi, yi = np.where(w != 0, xi / w, np.nan), np.where(w != 0, yi / w, np.nan)
    return xi, yi


def numpy_values(inputs, shape, order=1):
    """Per input: (value, f) on the output grid, f = 1 where the value is finite, reproject's way."""
    values = []
    for a, m in inputs:
        v = numpy_interp(a, *numpy_coords(m, shape), order)
        values.append((np.where(np.isnan(v), 0.0, v), (~np.isnan(v)).astype(np.float64)))
    return values


def numpy_mean(values):
    f = sum(fi for _, fi in values)
    s = sum(v * fi for v, fi in values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / f, f


@pytest.fixture(scope="module")
def planar():
    rng = np.random.default_rng(3)
    a = rng.normal(50, 10, (37, 53)).astype(np.float32)
    a[5, 7] = np.nan
    a[20, 30:33] = np.nan
    b = rng.normal(60, 5, (41, 29)).astype(np.float32)
    c = rng.normal(40, 8, (30, 30))
    return a, b, c


def test_integer_shift_is_an_exact_copy(crt, planar):
    a = np.nan_to_num(planar[0], nan=1.0)
    dx, dy = 7, 4
    image, footprint = parallax.coadd([(a, [[1, 0, -dx], [0, 1, -dy]])], (50, 70), runtime=crt)
    expected = np.full((50, 70), np.nan, np.float32)
    expected[dy:dy + a.shape[0], dx:dx + a.shape[1]] = a
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(footprint, np.where(np.isnan(expected), 0, 1).astype(np.float32))
    # sum: 0 where nothing contributes
    image, _ = parallax.coadd([(a, [[1, 0, -dx], [0, 1, -dy]])], (50, 70), combine="sum", runtime=crt)
    np.testing.assert_array_equal(image, np.nan_to_num(expected, nan=0.0))


def test_identity_homography_is_the_input(crt, planar):
    a = planar[0]
    for interpolation in ("bilinear", "nearest"):
        image, footprint = parallax.coadd([(a, np.eye(3))], a.shape, interpolation=interpolation, runtime=crt)
        expected = a if interpolation == "nearest" else \
            numpy_interp(a, *numpy_coords(np.eye(3), a.shape), 1).astype(np.float32)  # NaN spreads up and left
        np.testing.assert_array_equal(image, expected)
        np.testing.assert_array_equal(footprint, (~np.isnan(expected)).astype(np.float32))
        if interpolation == "bilinear":  # the 2 x 2 window rule: a NaN spreads one pixel up and left
            assert np.isnan(image[4:6, 6:8]).all() and not np.isnan(image[[3, 6], 7]).any()


@pytest.mark.parametrize("order", [0, 1])
def test_affine_and_homography_match_numpy(crt, planar, order):
    a, b, c = planar
    th = math.radians(23.0)
    affine = [[0.9 * math.cos(th), -0.9 * math.sin(th), 12.31], [0.8 * math.sin(th), 0.8 * math.cos(th), -7.77]]
    homography = [[1.05, 0.02, -3.3], [-0.03, 0.97, 2.2], [1.2e-3, -0.8e-3, 1.0]]
    shift = [[1.0, 0.0, -10.5], [0.0, 1.0, 5.25]]  # half pixels: round half up in nearest
    inputs = [(a, affine), (b, homography), (c, shift)]
    shape = (45, 60)
    ref, ref_fp = numpy_mean(numpy_values(inputs, shape, order))
    image, footprint = parallax.coadd(inputs, shape, interpolation="nearest" if order == 0 else "bilinear",
                                      runtime=crt)
    assert_matches(image, footprint, ref, ref_fp)
    assert (ref_fp >= 2).sum() > 100


@pytest.mark.parametrize("interpolation, taps", [("bicubic", 4), ("lanczos3", 6)])
def test_local_kernels_keep_samples_and_constants(crt, planar, interpolation, taps):
    """Keys' cubic and Lanczos-3 (no reference implementation to match): samples at integer positions come back,
    constants stay constant, and a NaN spoils exactly the taps x taps window of output pixels that read it."""
    a = np.nan_to_num(planar[0], nan=50.0)
    image, footprint = parallax.coadd([(a, np.eye(3))], a.shape, interpolation=interpolation, runtime=crt)
    np.testing.assert_allclose(image, a, rtol=RTOL)
    assert (footprint == 1).all()
    constant = np.full((30, 40), 7.25, np.float32)
    image, _ = parallax.coadd([(constant, [[0.9, 0.1, 2.3], [-0.1, 0.95, 1.7]])], (30, 40),
                              interpolation=interpolation, runtime=crt)
    inside = ~np.isnan(image)
    assert inside.sum() > 800
    np.testing.assert_allclose(image[inside], 7.25, rtol=RTOL)
    holed = a.copy()
    holed[10, 20] = np.nan
    image, footprint = parallax.coadd([(holed, [[1, 0, 0.5], [0, 1, 0.5]])], a.shape, interpolation=interpolation,
                                      runtime=crt)
    low = 10 - taps // 2  # output x reads input columns floor(x + 0.5) - taps/2 + 1 .. floor(x + 0.5) + taps/2
    expected = np.zeros(a.shape, bool)
    expected[low:low + taps, low + 10:low + 10 + taps] = True
    np.testing.assert_array_equal(np.isnan(image), expected)
    np.testing.assert_array_equal(footprint == 0, expected)


def test_coordinate_map_equals_the_same_affine(crt, planar):
    a, b, _ = planar
    m1 = np.array([[0.93, -0.31, 4.4], [0.29, 0.95, -3.1]])
    m2 = np.array([[1.1, 0.05, -2.0], [-0.02, 0.9, 6.0]])
    calls = []

    def as_map(m):
        def fn(x, y):
            assert x.dtype == np.float64 and y.dtype == np.float64 and x.shape == y.shape and x.ndim == 1
            calls.append(x.size)
            return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]
        return fn

    for interpolation in ("bilinear", "nearest"):
        for combine in ("mean", "sum", "max"):
            by_matrix = parallax.coadd([(a, m1), (b, m2)], (40, 50), interpolation=interpolation, combine=combine,
                                       runtime=crt)
            by_callable = parallax.coadd([(a, as_map(m1)), (b, as_map(m2))], (40, 50), interpolation=interpolation,
                                         combine=combine, runtime=crt)
            np.testing.assert_array_equal(by_callable[0], by_matrix[0])
            np.testing.assert_array_equal(by_callable[1], by_matrix[1])
    assert calls and sum(calls) >= 40 * 50
    # A map may return NaN (no counterpart) or scalars (broadcast).
    image, footprint = parallax.coadd([(a, lambda x, y: (np.where(x < 10, np.nan, x), 3.0))], (5, 20), runtime=crt)
    assert np.isnan(image[:, :10]).all() and (footprint[:, :10] == 0).all()
    np.testing.assert_array_equal(image[:, 10:], np.broadcast_to(a[3, 10:20], (5, 10)))


# ---------------------------------------------------------------------------------------------------------------
# Combines, weights and backgrounds
# ---------------------------------------------------------------------------------------------------------------

def per_input(mosaic, weights=None):
    """Each input reprojected alone by reproject (its box, its NaN), with its weights: (values, f) per input."""
    values = []
    for i, (a, h) in enumerate(mosaic["inputs"]):
        v, f = reference([(a, h)], mosaic["out"], weights=None if weights is None else [weights[i]])
        values.append((v, f))
    return values


@pytest.mark.parametrize("combine", ["min", "max", "median", "first", "last"])
def test_other_combines_match_numpy(crt, mosaic, combine):
    values = per_input(mosaic)
    v = np.array([np.where(f > 0, x, np.nan) for x, f in values])
    f = np.array([fi for _, fi in values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if combine in ("min", "max", "median"):
            expected = {"min": np.nanmin, "max": np.nanmax, "median": np.nanmedian}[combine](v, axis=0)
        else:
            order = range(len(v)) if combine == "first" else reversed(range(len(v)))
            expected = np.full(v.shape[1:], np.nan)
            for i in order:
                expected = np.where(np.isnan(expected) & (f[i] > 0), v[i], expected)
    image, footprint = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], combine=combine, runtime=crt)
    assert_matches(image, footprint, expected, f.sum(axis=0))
    assert ((f > 0).sum(axis=0) == 3).sum() > 50  # pixels with three inputs: the median is the middle one


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(crt):
    a = [np.full((4, 4), v, np.float32) for v in (1.0, 7.0, 3.0, 100.0)]
    image, footprint = parallax.coadd([(x, np.eye(3)) for x in a], (4, 4), combine="median", runtime=crt)
    np.testing.assert_array_equal(image, np.full((4, 4), 5.0, np.float32))
    np.testing.assert_array_equal(footprint, np.full((4, 4), 4.0, np.float32))


def test_scalar_weights_and_backgrounds(crt, mosaic):
    """weights = a constant pixel weight map; backgrounds = subtracted from the data before everything else."""
    weights, offsets = [2.0, 0.5, 1.5], [10.0, -3.0, 0.25]
    maps = [np.full(a.shape, w) for (a, _), w in zip(mosaic["inputs"], weights)]
    shifted = [(np.asarray(a, np.float64) - b, h) for (a, h), b in zip(mosaic["inputs"], offsets)]
    ref, ref_fp = reference(shifted, mosaic["out"], weights=maps)
    image, footprint = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], weights=weights,
                                      backgrounds=offsets, runtime=crt)
    assert_matches(image, footprint, ref, ref_fp)
    # A weight of 0 removes an input from every combine.
    for combine in ("mean", "min", "first"):
        without = parallax.coadd(mosaic["inputs"][:1] + mosaic["inputs"][2:], output_wcs=mosaic["out"],
                                 combine=combine, runtime=crt)
        zero = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], weights=[1, 0, 1], combine=combine,
                              runtime=crt)
        np.testing.assert_array_equal(zero[0], without[0])
        np.testing.assert_array_equal(zero[1], without[1])


# ---------------------------------------------------------------------------------------------------------------
# Invariance, tiles, layouts, progress
# ---------------------------------------------------------------------------------------------------------------

def test_same_bits_for_any_worker_count_and_tiling(crt, mosaic, profile):
    kwargs = dict(output_wcs=mosaic["out"], input_weights=mosaic["weights"])
    one = parallax.coadd(mosaic["inputs"], runtime=crt, workers=1, **kwargs)
    two = parallax.coadd(mosaic["inputs"], runtime=crt, workers=2, return_info=True, **kwargs)
    assert two[2].workers == 2
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g"), max_cpu_workers=1) as single:
        alone = single.coadd(mosaic["inputs"], **kwargs)
    np.testing.assert_array_equal(alone[0], one[0])
    np.testing.assert_array_equal(alone[1], one[1])
    # A tiny memory budget: many output tiles, the same bits.
    small, small_fp, info = parallax.coadd(mosaic["inputs"], runtime=crt, memory_budget_bytes=64 * 1024,
                                           return_info=True, **kwargs)
    assert info.tiles > 1
    np.testing.assert_array_equal(small, one[0])
    np.testing.assert_array_equal(small_fp, one[1])


def test_tile_callback_assembles_the_same_image(crt, mosaic):
    whole, whole_fp = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], runtime=crt)
    image = np.full((80, 80), -1.0, np.float32)
    footprint = np.full((80, 80), -1.0, np.float32)
    seen = []

    def tile(row0, pixels, weights):
        assert pixels.dtype == np.float32 and pixels.shape[1] == 80 and weights.shape == pixels.shape
        seen.append((row0, pixels.shape[0]))
        image[row0:row0 + pixels.shape[0]] = pixels
        footprint[row0:row0 + pixels.shape[0]] = weights

    result = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], runtime=crt, tile=tile,
                            memory_budget_bytes=64 * 1024, return_info=True)
    assert result[:2] == (None, None) and result[2].tiles == len(seen) > 1
    assert sorted(r for r, _ in seen)[0] == 0 and sum(n for _, n in seen) == 80
    np.testing.assert_array_equal(image, whole)
    np.testing.assert_array_equal(footprint, whole_fp)


def test_layouts_and_dtypes_give_the_same_bits(crt, planar):
    a = planar[0]
    m = [[0.97, 0.1, 3.3], [-0.1, 0.97, 1.7]]
    base, base_fp, info = parallax.coadd([(a, m)], (40, 50), runtime=crt, return_info=True)
    assert info.copied_inputs == 0
    big = np.full((90, 80), 123.0, np.float32)
    big[5:5 + a.shape[0], 9:9 + a.shape[1]] = a
    view = big[5:5 + a.shape[0], 9:9 + a.shape[1]]  # a crop: row stride 80
    forms = [(view, 0), (a.astype(">f4"), 1), (a.astype(np.float64), 1), (np.asfortranarray(a), 1),
             (np.ma.masked_invalid(a.astype(np.float64)), 1), (big[5:5 + 2 * a.shape[0]:2, 9:9 + a.shape[1]], None)]
    for data, copied in forms[:5]:
        image, footprint, info = parallax.coadd([(data, m)], (40, 50), runtime=crt, return_info=True)
        np.testing.assert_array_equal(image, base)
        np.testing.assert_array_equal(footprint, base_fp)
        assert info.copied_inputs == copied, type(data)
    # Every other row of a larger array: read in place with row stride 160.
    _, _, info = parallax.coadd([(forms[5][0], m)], (40, 50), runtime=crt, return_info=True)
    assert info.copied_inputs == 0
    # Integer data are converted exactly; weights with another layout than their data are both made contiguous.
    ints = np.arange(20 * 30, dtype=np.int16).reshape(20, 30)
    by_int = parallax.coadd([(ints, np.eye(3))], (20, 30), runtime=crt)
    np.testing.assert_array_equal(by_int[0], ints.astype(np.float32))
    w = np.linspace(0.5, 2, a.size).reshape(a.shape)
    plain = parallax.coadd([(a, m)], (40, 50), input_weights=[w.astype(np.float32)], runtime=crt)
    mixed = parallax.coadd([(view, m)], (40, 50), input_weights=[w], runtime=crt)
    np.testing.assert_array_equal(mixed[0], plain[0])
    np.testing.assert_array_equal(mixed[1], plain[1])


def test_progress_and_cancel(crt, mosaic):
    seen = []
    parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], runtime=crt, progress=seen.append,
                   progress_interval_ms=0)
    assert seen and seen[-1].total == 80 and all(p.done <= p.total for p in seen)
    # One worker: with two, the other could run every chunk while the first
    # waits for the GIL to call back (seen under load), leaving nothing to cancel.
    with pytest.raises(parallax.CancelledError):
        parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], runtime=crt, progress=lambda p: True,
                       progress_interval_ms=0, memory_budget_bytes=64 * 1024, workers=1)
    with parallax.CancelToken() as token:
        token.cancel()
        with pytest.raises(parallax.CancelledError):
            parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], runtime=crt, cancel=token)


def test_runtime_method_and_default_runtime(crt, planar):
    a = planar[0]
    by_method = crt.coadd([(a, np.eye(3))], a.shape, combine="sum")
    from parallax.stack import default_runtime

    try:
        by_function = parallax.coadd([(a, np.eye(3))], a.shape, combine="sum")  # the default runtime
    finally:
        default_runtime().close()  # its threads would outlive this module (test_exec_resources counts them)
    np.testing.assert_array_equal(by_method[0], by_function[0])


def test_init_functions_fill_the_library_defaults():
    lib = _library.lib
    s = _abi.plx_coadd_input_t()
    lib.plx_coadd_input_init(ctypes.byref(s), ctypes.sizeof(s))
    assert (s.struct_size, s.data, s.weights, s.weight, s.background, s.mapping, s.row_stride) == (
        168, None, None, 1.0, 0.0, _abi.PLX_MAPPING_AFFINE, 0)
    assert list(s.matrix) == [1, 0, 0, 0, 1, 0, 0, 0, 1] and s.wcs_header is None and not s.map
    d = _abi.plx_coadd_desc_t()
    lib.plx_coadd_desc_init(ctypes.byref(d), ctypes.sizeof(d))
    assert (d.struct_size, d.count, d.interpolation, d.combine, d.device, d.reserved) == (88, 0, 1, 0, 0, 0)
    assert not d.inputs and not d.tile and not d.run_options and d.output_wcs_header is None
    r = _abi.plx_coadd_result_t()
    lib.plx_coadd_result_init(ctypes.byref(r), ctypes.sizeof(r))
    assert (r.struct_size, r.image, r.footprint) == (80, None, None)


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------

def test_bad_arrays_and_options_are_refused_by_the_binding(crt, planar, mosaic):
    a = planar[0]
    cases = [
        (dict(inputs=[(a.astype(np.complex64), np.eye(3))], shape_out=(5, 5)), "complex64"),
        (dict(inputs=[(np.array([["x"]]), np.eye(3))], shape_out=(5, 5)), "dtype"),
        (dict(inputs=[(a[0], np.eye(3))], shape_out=(5, 5)), "2-D"),
        (dict(inputs=[(a[None], np.eye(3))], shape_out=(5, 5)), "2-D"),
        (dict(inputs=[(a[:0], np.eye(3))], shape_out=(5, 5)), "no pixels"),
        (dict(inputs=[(a, np.eye(2))], shape_out=(5, 5)), "2 x 3"),
        (dict(inputs=[(a, object())], shape_out=(5, 5)), "mapping"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, 5), input_weights=[a[:3]]), "shape"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, 5), weights=[1, 2]), "2 values for 1 inputs"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, 5), interpolation="cubic"), "'bilinear'"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, 5), combine="average"), "'median'"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, 5), device="tpu"), "device"),
        (dict(inputs=[(a, np.eye(3))]), "shape_out"),
        (dict(inputs=[], shape_out=(5, 5)), "empty"),
        (dict(inputs=[mosaic["inputs"][0]], shape_out=(5, 5)), "output_wcs"),
        (dict(inputs=[(a, np.eye(3))], shape_out=(5, -1)), "shape_out"),
    ]
    for kwargs, text in cases:
        with pytest.raises(parallax.InvalidArgumentError, match=text):
            parallax.coadd(runtime=crt, **kwargs)
    with pytest.raises(TypeError):
        parallax.coadd([(a, np.eye(3))], (5, 5), weights=["1"], runtime=crt)


def library_error(excinfo, status_class):
    """The exception is the library's: its class, status and message (the thread's last error)."""
    exc = excinfo.value
    assert type(exc) is status_class and exc.status == status_class.status
    assert str(exc) == exc.message and exc.message
    return exc.message


def test_bad_values_are_refused_by_the_library_with_its_message(crt, planar, mosaic):
    a, b, _ = planar
    with pytest.raises(parallax.InvalidArgumentError) as excinfo:
        parallax.coadd([(a, np.eye(3)), (b, [[1, 0, np.nan], [0, 1, 0]])], (5, 5), runtime=crt)
    message = library_error(excinfo, parallax.InvalidArgumentError)
    assert "matrix" in message and "1" in message
    with pytest.raises(parallax.InvalidArgumentError) as excinfo:
        parallax.coadd([(a, np.eye(3))], (5, 5), weights=[np.nan], runtime=crt)
    assert "weight" in library_error(excinfo, parallax.InvalidArgumentError)
    with pytest.raises(parallax.InvalidArgumentError) as excinfo:
        parallax.coadd([(a, np.eye(3))], (5, 5), backgrounds=[np.inf], runtime=crt)
    assert "background" in library_error(excinfo, parallax.InvalidArgumentError)
    no_wcs = fits.Header()
    no_wcs["NAXIS"], no_wcs["NAXIS1"], no_wcs["NAXIS2"] = 2, a.shape[1], a.shape[0]
    no_wcs["OBJECT"] = "M31"
    for bad_in, bad_out in ((no_wcs, mosaic["out"]), (mosaic["inputs"][0][1], no_wcs),
                            ("SIMPLE  = T" + " " * 69 + "garbage", mosaic["out"])):
        with pytest.raises(parallax.InvalidArgumentError) as excinfo:
            parallax.coadd([(a, bad_in)], (20, 20), bad_out, runtime=crt)
        assert "WCS" in library_error(excinfo, parallax.InvalidArgumentError) or "wcs" in excinfo.value.message


def test_a_raising_map_fails_the_call_with_the_library_error(crt, planar):
    a = planar[0]

    class Boom(Exception):
        pass

    def bad(x, y):
        raise Boom("no coordinates today")

    for mapping, cause in ((bad, Boom), (lambda x, y: (x[:3], y), ValueError), (lambda x, y: x, TypeError),
                           (lambda x, y: (x.astype(complex), y), TypeError)):
        with pytest.raises(parallax.TaskError) as excinfo:
            parallax.coadd([(a, np.eye(3)), (a, mapping)], (30, 30), runtime=crt)
        library_error(excinfo, parallax.TaskError)
        assert isinstance(excinfo.value.__cause__, cause)
    # The runtime is still usable, and the callback's arrays were released.
    image, _ = parallax.coadd([(a, lambda x, y: (x, y))], a.shape, runtime=crt)
    np.testing.assert_array_equal(np.isnan(image), np.isnan(numpy_interp(a, *numpy_coords(np.eye(3), a.shape), 1)))


def test_a_failing_tile_function_fails_the_call(crt, planar):
    a = planar[0]

    def boom(row0, image, footprint):
        raise RuntimeError("disk full")

    with pytest.raises(parallax.TaskError) as excinfo:
        parallax.coadd([(a, np.eye(3))], a.shape, tile=boom, runtime=crt)
    library_error(excinfo, parallax.TaskError)
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    with pytest.raises(parallax.TaskError) as excinfo:
        parallax.coadd([(a, np.eye(3))], a.shape, tile=lambda *args: 3, runtime=crt)
    assert excinfo.value.__cause__ is None


# ---------------------------------------------------------------------------------------------------------------
# The OpenCL path (PoCL, the CPU OpenCL device every test machine has)
# ---------------------------------------------------------------------------------------------------------------

def test_opencl_path_matches_reproject_and_the_cpu(crt, mosaic, tmp_path_factory):
    """device="gpu" on PoCL: the same reproject match as the CPU path, and the CPU path's bits for every
    combine (the two paths share every operation), with weight maps."""
    with parallax.Runtime(device_types=["cpu", "gpu", "accelerator"],
                          cache_dir=tmp_path_factory.mktemp("coadd-cache")) as drt:
        if not any(d.usable and d.fp64 for d in drt.caps().devices):
            pytest.skip("no usable OpenCL device with double precision")
        ref, ref_fp = reference(mosaic["inputs"], mosaic["out"], weights=mosaic["weights"])
        image, footprint, info = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], device="gpu",
                                                input_weights=mosaic["weights"], runtime=drt, return_info=True)
        assert info.device_index is not None
        assert_matches(image, footprint, ref, ref_fp)
        for combine in ("sum", "min", "max", "median", "first", "last"):
            on_device = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], combine=combine, device="gpu",
                                       interpolation="bicubic", runtime=drt)
            on_cpu = parallax.coadd(mosaic["inputs"], output_wcs=mosaic["out"], combine=combine, device="cpu",
                                    interpolation="bicubic", runtime=crt)
            for a, b in zip(on_device, on_cpu):
                np.testing.assert_array_equal(a, b, err_msg=combine)
