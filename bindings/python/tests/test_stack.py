"""parallax.stack and parallax.sigma_clipped_mean against independent references: astropy's sigma_clip (the
library's definition of sigma clipping), numpy's nan-reductions, percentiles and averages, small numpy
re-implementations of the header's winsorized and min/max rules, synthetic frames with known normalization, and
real FITS images shipped by Debian's python3-astropy and python3-reproject.

The library's documented departures from raw astropy are built into the references: nothing is rejected where
fewer than 3 samples are finite, and +-inf is always rejected and counted in rejected_low / rejected_high.
Masks (count and rejection maps) are compared exactly except at pixels with a finite sample within 1e-9
(relative) of a clipping bound of any iteration — bounds are taken from astropy itself, run with maxiters = 1,
2, ... — where double-precision rounding may legitimately decide either way; means to 1e-6 relative."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import parallax

astropy_stats = pytest.importorskip("astropy.stats")
from astropy.utils.exceptions import AstropyUserWarning  # noqa: E402

MASK_TOL = 1e-9
MEAN_RTOL = 1e-6


@pytest.fixture(scope="module")
def srt(profile):
    """A CPU runtime on the 2-CPU profile, shared by the module's tests."""
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


# ---------------------------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------------------------

def _astropy(d64, sl, su, maxiters, cenfunc="median"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return astropy_stats.sigma_clip(d64, axis=0, sigma_lower=sl, sigma_upper=su, maxiters=maxiters,
                                        cenfunc=cenfunc, stdfunc="std", return_bounds=True)


def _near(d64, lo, hi, sl, su):
    """Pixels with a finite sample within MASK_TOL (relative) of one of the bounds lo, hi. Not where the spread is 0,
    nor on the side of a sigma of 0: such a bound is the centre itself, which both sides compute exactly (a constant
    pixel keeps every sample)."""
    spread = np.abs(hi - lo) / max(sl + su, 1e-300)
    with np.errstate(invalid="ignore"):
        near = np.zeros(d64.shape[1:], bool)
        for bound in [b for b, sigma in ((lo, sl), (hi, su)) if sigma > 0]:
            tol = MASK_TOL * (np.abs(bound) + spread)
            near |= np.any(np.isfinite(d64) & (np.abs(d64 - bound) <= tol), axis=0)
    return near & (spread > 0)


def sigma_clip_reference(data, sl, su, maxiters, cenfunc="median"):
    """What plx_stack(reject=SIGMA_CLIP, combine=MEAN) must give: astropy's sigma_clip(...).mean(axis=0), except that
    pixels with fewer than 3 finite samples are not clipped. Returns a dict of expected maps and the ambiguous
    pixels (a sample within MASK_TOL of a bound of some iteration)."""
    d = np.asarray(data, np.float32).astype(np.float64)
    # astropy reads a sigma of 0 as "not given" (sigma_lower or sigma); 1e-300 puts that bound on the centre.
    a_sl, a_su = sl or 1e-300, su or 1e-300
    clipped, lo, hi = _astropy(d, a_sl, a_su, maxiters, cenfunc)
    lo, hi = np.broadcast_to(lo, d.shape[1:]), np.broadcast_to(hi, d.shape[1:])
    mask = np.ma.getmaskarray(clipped)
    finite = np.isfinite(d)
    few = finite.sum(axis=0) < 3
    mask = np.where(few, ~finite, mask)
    lo, hi = np.where(few, -np.inf, lo), np.where(few, np.inf, hi)

    # Ambiguous pixels: bounds of every iteration, from astropy run with maxiters = 1, 2, ...
    ambiguous = np.zeros(d.shape[1:], bool)
    previous = None
    for k in range(1, (maxiters if maxiters is not None else 100) + 1):
        _, lo_k, hi_k = _astropy(d, a_sl, a_su, k, cenfunc)
        ambiguous |= _near(d, np.broadcast_to(lo_k, lo.shape), np.broadcast_to(hi_k, hi.shape), sl, su)
        if previous is not None and np.array_equal(previous[0], lo_k, equal_nan=True) and \
                np.array_equal(previous[1], hi_k, equal_nan=True):
            break  # converged: later iterations change nothing
        previous = (lo_k, hi_k)
    ambiguous &= ~few

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.asarray(np.ma.filled(np.ma.array(d, mask=mask).mean(axis=0), np.nan), np.float64)
    with np.errstate(invalid="ignore"):
        low = (d == -np.inf).sum(0) + (finite & mask & (d < lo)).sum(0)
        high = (d == np.inf).sum(0) + (finite & mask & (d > hi)).sum(0)
    return dict(mean=mean, count=(~mask).sum(0), low=low, high=high, ambiguous=ambiguous,
                frame_rejected=(mask & ~np.isnan(d)).reshape(d.shape[0], -1).sum(1))


def assert_close(actual, expected, rtol=MEAN_RTOL, where=None, scale=None):
    """|actual - expected| <= rtol * max(|expected|, scale), NaN matching NaN, at the pixels ``where``."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if where is not None:
        actual, expected = actual[where], expected[where]
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    bound = rtol * np.maximum(np.abs(expected[ok]), 0 if scale is None else scale)
    diff = np.abs(actual[ok] - expected[ok])
    worst = np.argmax(diff - bound) if diff.size else 0
    assert np.all(diff <= bound), f"worst: {actual[ok][worst]} vs {expected[ok][worst]}"


def check_sigma_clip(r, ref, data, *, max_ambiguous=0.01):
    """r (a StackResult with count and rejection maps) against sigma_clip_reference."""
    exact = ~ref["ambiguous"]
    assert ref["ambiguous"].mean() <= max_ambiguous, "too many ambiguous pixels for the test to mean anything"
    np.testing.assert_array_equal(r.count[exact], ref["count"][exact])
    np.testing.assert_array_equal(r.rejected_low[exact], ref["low"][exact])
    np.testing.assert_array_equal(r.rejected_high[exact], ref["high"][exact])
    # Scale for the NaN-free comparison: a mean near 0 is compared to the data's spread.
    finite = np.asarray(data, np.float64)[np.isfinite(data)]
    scale = float(np.median(np.abs(finite))) if finite.size else 1.0
    assert_close(r.image, ref["mean"], where=exact, scale=scale * 1e-3)
    if not ref["ambiguous"].any():
        np.testing.assert_array_equal(r.frame_rejected, ref["frame_rejected"])
    d = np.asarray(data, np.float32)
    assert r.samples == d.size
    assert r.missing == np.isnan(d).sum()
    assert r.kept + r.rejected + r.missing == r.samples
    assert r.kept == r.count.sum()
    assert r.rejected == r.rejected_low.sum() + r.rejected_high.sum()


def nasty_cube(rng, n, h, w, *, integer=False):
    """Frames with outliers (up to 1e30), NaN, +-inf, ties and constant pixels."""
    if integer:
        d = np.round(rng.normal(10, 2, (n, h, w)))
    else:
        d = rng.normal(100, 10, (n, h, w))
    out = rng.random(d.shape) < 0.06
    d[out] += rng.choice([-1, 1], out.sum()) * rng.uniform(30, 1e4, out.sum())
    d[rng.random(d.shape) < 0.04] = np.nan
    d[rng.random(d.shape) < 0.01] = np.inf
    d[rng.random(d.shape) < 0.01] = -np.inf
    d[:, 0, 0] = 7.0  # constant: zero spread
    d[:, 0, 1] = 7.0
    d[n // 2, 0, 1] = 1e30  # one huge outlier over a constant
    if h > 1:
        d[:, 1, 0] = np.nan  # nothing at all
    return d.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Sigma clipping vs astropy
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 32, 1000])
@pytest.mark.parametrize("integer", [False, True], ids=["normal", "integers"])
@pytest.mark.parametrize("sigma", [1.3, 3.0])  # with 5 samples or fewer, nothing is ever 3 sigma away
def test_sigma_clip_matches_astropy(srt, n, integer, sigma):
    rng = np.random.default_rng(n * 7 + integer)
    h, w = (3, 11) if n == 1000 else (7, 13)
    data = nasty_cube(rng, n, h, w, integer=integer)
    r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma=sigma, max_iters=5, return_rejected=True)
    check_sigma_clip(r, sigma_clip_reference(data, sigma, sigma, 5), data)


@pytest.mark.parametrize("sl, su, maxiters", [(2.0, 4.0, 5), (4.0, 1.5, 5), (3.0, 3.0, 1), (2.5, 2.5, 10),
                                              (1.5, 2.0, None), (0.0, 3.0, 3), (0.3, 3.0, 5)])
def test_sigma_clip_asymmetric_and_iterations(srt, sl, su, maxiters):
    rng = np.random.default_rng(int(sl * 10 + su))
    data = nasty_cube(rng, 24, 9, 17)
    r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sl, sigma_high=su, max_iters=maxiters,
                       return_rejected=True)
    check_sigma_clip(r, sigma_clip_reference(data, sl, su, maxiters), data)


def test_sigma_clip_with_mean_centre_matches_astropy(srt):
    data = nasty_cube(np.random.default_rng(5), 16, 8, 15)
    r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma=2.5, centre="mean", return_rejected=True)
    check_sigma_clip(r, sigma_clip_reference(data, 2.5, 2.5, 5, cenfunc="mean"), data)


def test_sigma_clip_keeps_samples_exactly_on_a_bound(srt):
    # Bounds that fall exactly on samples, computed exactly by both sides: median 0 and population std 1 (sigma
    # 1: bounds +-1), median 0 and std 2 (sigma 1.5: bounds +-3), median 10 and std 2 (sigma_low 1: lower bound 8).
    cases = [([-1, -1, 1, 1], 1.0, 1.0), ([-3, 3, -3, 3, 0, 0, 0, 0, 0], 1.5, 1.5), ([8, 12, 8, 12], 1.0, 5.0)]
    for samples, sl, su in cases:
        data = np.array(samples, np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
        r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sl, sigma_high=su,
                           return_rejected=True)
        ref = sigma_clip_reference(data, sl, su, 5)
        assert (ref["count"] == len(samples)).all() and (r.count == len(samples)).all(), samples
        # A hair tighter and the samples on the bounds go (for [-1, -1, 1, 1]: all of them, so that the next
        # bounds are NaN and, as in astropy, nothing is rejected in the end).
        r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sl * 0.999, sigma_high=su * 0.999)
        ref = sigma_clip_reference(data, sl * 0.999, su * 0.999, 5)
        np.testing.assert_array_equal(r.count, ref["count"])
        assert (r.count < len(samples)).all() or samples == [-1, -1, 1, 1]


@pytest.mark.parametrize("cenfunc", ["median", "mean"])
def test_survivors_far_from_the_median_of_all_samples(srt, cenfunc):
    """Sky 100 +- 0.01 with saturated hits in half the frames or more: the survivors lie far from the median of all
    samples for their spread, where the sums about that median have lost their digits (such pixels kept every hit).
    And wider ranges: 100 next to 1e19-1e20, values from 1e-40 to 1e36."""
    rng = np.random.default_rng(23)
    n, h, w = 8, 30, 40
    sky = 100 + rng.uniform(-0.01, 0.01, (n, h, w))
    hit = (np.arange(n)[:, None, None] + np.arange(w)[None, None, :]) % 2 == 0
    hit = hit | (rng.random((n, h, w)) < 0.1)
    data = np.where(hit, rng.uniform(30000, 60000, (n, h, w)), sky).astype(np.float32)
    for sl, su in ((3, 1.5), (2.5, 1.2)):
        r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sl, sigma_high=su, max_iters=10,
                           centre=cenfunc, return_rejected=True)
        check_sigma_clip(r, sigma_clip_reference(data, sl, su, 10, cenfunc), data, max_ambiguous=0.02)
    wide = np.array([[100, 101, 7.3e19, 4.06e20], [98.57, 99.74, 4.17e29, 1.06e30],
                     [1.07e-40, 1.08e-22, 0.836, 1.06e36]], np.float32).T[:, :, None]
    for sl, su, it in ((2, 0, 5), (3, 1, 10), (0.5, 0.5, None)):
        r = parallax.stack(wide, runtime=srt, reject="sigma_clip", sigma_low=sl, sigma_high=su, max_iters=it,
                           centre=cenfunc, return_rejected=True)
        check_sigma_clip(r, sigma_clip_reference(wide, sl, su, it, cenfunc), wide, max_ambiguous=1)


def test_samples_exactly_on_a_bound_as_astropy(srt):
    """Counts put samples exactly on a bound (0, 0, 1, 2, 0 at sigma_upper 2.5: the bound is 2), and two survivors
    lie on their own bounds at sigma 1: kept, as astropy keeps them, in every pixel (no tolerance here). Before,
    the variance's rounding rejected such samples in one pixel of ten, and left NaN where two survived."""
    rng = np.random.default_rng(11)
    cases = [(rng.poisson(0.6, (5, 40, 50)), 3, 2.5), (rng.poisson(5, (9, 40, 50)), 2, 2),
             (rng.normal(0, 1, (6, 40, 50)), 1, 1), (rng.normal(1000, 30, (7, 40, 50)), 1, 1)]
    for data, sl, su in cases:
        data = data.astype(np.float32)
        clipped = _astropy(data.astype(np.float64), sl, su, 5)[0]
        r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sl, sigma_high=su, max_iters=5)
        np.testing.assert_array_equal(r.count, clipped.count(axis=0))
        assert_close(r.image, np.ma.filled(clipped.mean(axis=0), np.nan), scale=1e-3)
    # Centre "mean": bounds exactly on samples (the upper bound 0 of 0, 0, 0, -3, 0; the lower -2 of 13 survivors).
    for samples, sigma, maxiters in (([6, 0, 0, -3, 0, 6, 6, 6, 6, 0], (3, 0.5), 2),
                                     ([-2, -1, 1, -2, 0, -1, 6, -1, -1, 2, 2, 4, 2, 4, -2, -1, 1, 3, 1, 2, 0, 4, 4, -1,
                                       -1, -2, 3, -1, 3, 0, 3, 2, -1], (1.5, 1.5), None)):
        data = np.array(samples, np.float32)[:, None, None]
        clipped = _astropy(data.astype(np.float64), *sigma, maxiters, "mean")[0]
        r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=sigma[0], sigma_high=sigma[1],
                           max_iters=maxiters, centre="mean")
        assert r.count[0, 0] == clipped.count(axis=0)[0, 0] == (5 if len(samples) == 10 else 13)


def test_fewer_than_three_finite_samples_are_not_clipped(srt):
    # Astropy with sigma_low = 0.5 clips the lower of two samples; the library keeps both (documented).
    data = np.array([[[1.0, 1.0, np.nan]], [[5.0, np.nan, np.nan]], [[np.nan, np.inf, 2.0]]], np.float32)
    r = parallax.stack(data, runtime=srt, reject="sigma_clip", sigma_low=0.5, sigma_high=3, return_rejected=True)
    np.testing.assert_array_equal(r.count, [[2, 1, 1]])
    np.testing.assert_array_equal(r.image, np.array([[3.0, 1.0, 2.0]], np.float32))
    np.testing.assert_array_equal(r.rejected_high, [[0, 1, 0]])  # +inf is rejected all the same
    raw = np.ma.getmaskarray(_astropy(data.astype(np.float64), 0.5, 3, 5)[0])
    assert raw[0, 0, 0], "astropy itself clips one of two samples (the documented difference)"


def test_infinities_are_rejected_and_counted(srt):
    data = np.zeros((6, 1, 3), np.float32)
    data[:, 0, 0] = [1, 2, 3, np.inf, -np.inf, -np.inf]
    data[:, 0, 1] = [np.inf] * 6
    data[:, 0, 2] = [np.nan, 1, np.inf, np.nan, 1, 1]
    for reject in ("none", "sigma_clip", "percentile", "minmax", "winsorized_sigma_clip"):
        r = parallax.stack(data, runtime=srt, reject=reject, n_low=0, n_high=0, percentile=(0, 100),
                           return_rejected=True)
        np.testing.assert_array_equal(r.rejected_low[0], [2, 0, 0], err_msg=reject)
        np.testing.assert_array_equal(r.rejected_high[0], [1, 6, 1], err_msg=reject)
        np.testing.assert_array_equal(r.count[0], [3, 0, 3], err_msg=reject)
        np.testing.assert_array_equal(r.image[0], np.array([2, np.nan, 1], np.float32), err_msg=reject)
        assert r.missing == 2


# ---------------------------------------------------------------------------------------------------------------
# Real FITS images
# ---------------------------------------------------------------------------------------------------------------

DIST = Path("/usr/lib/python3/dist-packages")
FITS_IMAGES = [
    ("reproject/tests/data/aia_171_level1.fits", 0),  # SDO/AIA, 128 x 128 float64
    ("astropy/wcs/tests/data/dss.14.29.56-62.41.05.fits.gz", 0),  # DSS plate, 100 x 100 big-endian int16
    ("astropy/modeling/tests/data/1904-66_AZP.fits", 0),  # 192 x 192 float32 with NaN outside the projection
]


def _fits_image(relative, hdu):
    fits = pytest.importorskip("astropy.io.fits")
    path = DIST / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (from Debian's python3-astropy / python3-reproject)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdus:
            data = np.array(hdus[hdu].data)  # a copy, in the file's dtype (big-endian)
    assert data.ndim == 2
    return data


@pytest.mark.parametrize("relative, hdu", FITS_IMAGES, ids=[Path(p).name for p, _ in FITS_IMAGES])
def test_real_fits_frames_match_astropy(srt, relative, hdu):
    image = _fits_image(relative, hdu)
    rng = np.random.default_rng(16)
    frames = []
    finite = image[np.isfinite(image)].astype(np.float64)
    hot = float(finite.max()) * 10 + 1000
    for j in range(16):
        frame = np.roll(image, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1)).astype(np.float64)
        frame += rng.normal(0, 0.01 * float(finite.std()) + 1e-3, frame.shape)
        hot_pixels = rng.random(frame.shape) < 0.003
        frame[hot_pixels] = hot
        frames.append(frame)
    rows, cols = np.indices(image.shape)
    frames[5][np.abs(rows - (0.5 * cols + 10)) < 1] = hot / 3  # a satellite trail
    cube = np.array(frames)  # float64: converted by the binding
    r = parallax.stack(cube, runtime=srt, reject="sigma_clip", sigma=3, max_iters=5, return_rejected=True)
    assert r.copied_frames == 16
    ref = sigma_clip_reference(cube, 3, 3, 5)
    check_sigma_clip(r, ref, cube.astype(np.float32))
    assert (r.rejected_high > 0).mean() > 0.04  # hot pixels (0.3% of 16 samples) and the image's own structure
    trail = (np.abs(rows - (0.5 * cols + 10)) < 1) & (np.isfinite(cube).sum(0) >= 8)  # not where the image is NaN
    assert trail.sum() > 50 and (r.rejected_high[trail] >= 1).mean() > 0.9
    # The image as it came from the file (big-endian, integer or float) gives the same bits as its float32 cast.
    with_file_dtype = parallax.stack([np.roll(image, k, axis=1) for k in range(4)], runtime=srt)
    as_float32 = parallax.stack(np.array([np.roll(image, k, axis=1) for k in range(4)], np.float32), runtime=srt)
    np.testing.assert_array_equal(with_file_dtype.image, as_float32.image)


# ---------------------------------------------------------------------------------------------------------------
# Other rejections and combines
# ---------------------------------------------------------------------------------------------------------------

def _finite_or_nan(data):
    d = np.asarray(data, np.float32).astype(np.float64)
    return np.where(np.isfinite(d), d, np.nan)


@pytest.mark.parametrize("combine, reduce", [("median", np.nanmedian), ("min", np.nanmin), ("max", np.nanmax),
                                             ("sum", np.nansum), ("mean", np.nanmean)])
@pytest.mark.parametrize("n", [1, 2, 5, 33])
def test_combines_match_numpy(srt, combine, reduce, n):
    data = nasty_cube(np.random.default_rng(n), n, 6, 9)
    r = parallax.stack(data, runtime=srt, combine=combine, return_rejected=True)
    d = _finite_or_nan(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = reduce(d, axis=0)
    count = np.isfinite(d).sum(0)
    expected = np.where(count > 0, expected, np.nan)
    np.testing.assert_array_equal(r.count, count)
    if combine in ("min", "max"):
        np.testing.assert_array_equal(r.image, expected.astype(np.float32))
    else:
        assert_close(r.image, expected, scale=1.0)


def test_percentile_rejection_matches_numpy(srt):
    data = nasty_cube(np.random.default_rng(11), 21, 8, 12, integer=True)
    for low, high in ((10, 90), (0, 100), (25, 60), (33.3, 33.3)):
        r = parallax.stack(data, runtime=srt, reject="percentile", percentile=(low, high), return_rejected=True)
        d = _finite_or_nan(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanpercentile(d, low, axis=0, method="linear")
            hi = np.nanpercentile(d, high, axis=0, method="linear")
        few = np.isfinite(d).sum(0) < 3
        lo, hi = np.where(few, -np.inf, lo), np.where(few, np.inf, hi)
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(d) & (d >= lo) & (d <= hi)
            low_rej = (data == -np.inf).sum(0) + (np.isfinite(d) & (d < lo)).sum(0)
            high_rej = (data == np.inf).sum(0) + (np.isfinite(d) & (d > hi)).sum(0)
        np.testing.assert_array_equal(r.count, keep.sum(0), err_msg=f"{low}, {high}")
        np.testing.assert_array_equal(r.rejected_low, low_rej)
        np.testing.assert_array_equal(r.rejected_high, high_rej)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert_close(r.image, np.nanmean(np.where(keep, d, np.nan), axis=0), scale=1.0)


def winsorized_reference(data, sl, su, maxiters):
    """The header's WINSORIZED_SIGMA_CLIP, one pixel at a time: each iteration clamps the survivors to their 5th
    and 95th percentiles (numpy, linear), takes median and population std of the clamped values, and rejects the
    (unclamped) survivors outside [median - sl std, median + su std]; until nothing changes or maxiters; then every
    finite sample is tested against the last bounds. Fewer than 3 finite samples: nothing rejected."""
    d = _finite_or_nan(data)
    n, h, w = d.shape
    keep = np.isfinite(d)
    for y in range(h):
        for x in range(w):
            v = d[:, y, x]
            finite = np.isfinite(v)
            if finite.sum() < 3:
                continue
            alive = finite.copy()
            lo = hi = np.nan
            iteration = 0
            while maxiters is None or iteration < maxiters:
                iteration += 1
                s = v[alive]
                if s.size:
                    p5, p95 = np.percentile(s, [5, 95], method="linear")
                    c = np.clip(s, p5, p95)
                    centre, std = np.median(c), c.std()
                    lo, hi = centre - sl * std, centre + su * std
                else:
                    lo = hi = np.nan
                with np.errstate(invalid="ignore"):
                    out = alive & ((v < lo) | (v > hi))
                if not out.any():
                    break
                alive &= ~out
            with np.errstate(invalid="ignore"):
                keep[:, y, x] = finite & ~((v < lo) | (v > hi))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return keep, np.nanmean(np.where(keep, d, np.nan), axis=0)


@pytest.mark.parametrize("n, sl, su, maxiters", [(5, 2.0, 2.0, 5), (12, 1.5, 2.5, 5), (40, 2.0, 2.0, None),
                                                 (9, 3.0, 1.0, 1)])
def test_winsorized_sigma_clip_matches_reference(srt, n, sl, su, maxiters):
    data = nasty_cube(np.random.default_rng(n), n, 5, 8)
    r = parallax.stack(data, runtime=srt, reject="winsorized_sigma_clip", sigma_low=sl, sigma_high=su,
                       max_iters=maxiters, return_rejected=True)
    keep, mean = winsorized_reference(data, sl, su, maxiters)
    np.testing.assert_array_equal(r.count, keep.sum(0))
    assert_close(r.image, mean, scale=1.0)


def minmax_reference(data, n_low, n_high):
    """Drop the n_low lowest and n_high highest finite samples of each pixel, ties ranked by frame index (lower
    first); nothing where that leaves no sample or fewer than 3 are finite. Returns the kept mask."""
    d = _finite_or_nan(data)
    n = d.shape[0]
    keep = np.isfinite(d)
    frames = np.arange(n)
    for index in np.ndindex(d.shape[1:]):
        v = d[(slice(None), *index)]
        finite = np.flatnonzero(np.isfinite(v))
        if finite.size < 3 or n_low + n_high >= finite.size:
            continue
        order = finite[np.lexsort((frames[finite], v[finite]))]
        dropped = np.concatenate([order[:n_low], order[order.size - n_high:]])
        keep[(dropped, *index)] = False
    return keep


@pytest.mark.parametrize("n, n_low, n_high", [(3, 1, 1), (4, 1, 1), (7, 2, 1), (7, 0, 3), (10, 5, 5), (33, 3, 2)])
def test_minmax_matches_sort_reference(srt, n, n_low, n_high):
    data = nasty_cube(np.random.default_rng(n + n_low), n, 6, 7, integer=True)  # integers: many ties
    r = parallax.stack(data, runtime=srt, reject="minmax", n_low=n_low, n_high=n_high, return_rejected=True)
    keep = minmax_reference(data, n_low, n_high)
    np.testing.assert_array_equal(r.count, keep.sum(0))
    d = _finite_or_nan(data)
    # Which samples were dropped (ties ranked by frame index) shows in the per-frame counts.
    np.testing.assert_array_equal(r.frame_rejected, (~keep & ~np.isnan(np.asarray(data))).reshape(n, -1).sum(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_close(r.image, np.nanmean(np.where(keep, d, np.nan), axis=0), scale=1.0)


# ---------------------------------------------------------------------------------------------------------------
# Weights and normalization
# ---------------------------------------------------------------------------------------------------------------

def test_given_weights_match_numpy_average(srt):
    rng = np.random.default_rng(3)
    data = rng.normal(50, 5, (9, 8, 10)).astype(np.float32)
    data[rng.random(data.shape) < 0.1] = np.nan
    weights = rng.uniform(0.1, 3, 9)
    weights[2] = 0
    r = parallax.stack(data, runtime=srt, combine="weighted_mean", weights=weights, return_frame_stats=True)
    np.testing.assert_array_equal(r.frame_weight, weights[:, None])
    np.testing.assert_array_equal(r.frame_scale, 1)
    np.testing.assert_array_equal(r.frame_offset, 0)
    d = np.ma.masked_invalid(data.astype(np.float64))
    expected = np.ma.average(d, axis=0, weights=np.broadcast_to(weights[:, None, None], d.shape)).filled(np.nan)
    assert_close(r.image, expected)
    # "wmean" is the same combine; a tuple is a sequence like any other.
    again = parallax.stack(data, runtime=srt, combine="wmean", weights=tuple(weights))
    np.testing.assert_array_equal(again.image, r.image)


def test_weights_whose_sum_overflows(srt):
    """Finite weights are accepted; their sum may overflow a double, the weighted mean must not (it was NaN)."""
    data = np.arange(10, 15, dtype=np.float32)[:, None, None] * np.ones((1, 3, 4), np.float32)
    r = parallax.stack(data, runtime=srt, combine="weighted_mean", weights=[1e308] * 5, return_frame_stats=True)
    np.testing.assert_array_equal(r.image, 12)
    np.testing.assert_array_equal(r.frame_weight, 1e308)
    r = parallax.stack(data, runtime=srt, combine="weighted_mean", weights=[1e308, 1e-308, 0, 1e308, 1e308])
    assert_close(r.image, np.full((3, 4), (10 + 13 + 14) / 3))


def test_kept_samples_far_from_the_median_of_all(srt):
    """The mean, sum and weighted mean of kept samples far from the median of all finite samples keep their digits:
    MINMAX keeping the lowest of 4, a percentile keeping zeros below values of 1e37."""
    s = np.array([-50.1083, 0.0, 2.53e15, 5.39e28], np.float32)[:, None, None]
    for combine in ("mean", "sum"):
        r = parallax.stack(s, runtime=srt, reject="minmax", n_low=0, n_high=3, combine=combine)
        assert r.image[0, 0] == s[0, 0, 0]
    s = np.array([0, 0, 0, 1.0e37, 1.1e37, 1.2e37, 1.3e37], np.float32)[:, None, None]
    for combine in ("mean", "sum", "weighted_mean"):
        weights = [0.3, 0.7, 1.9, 1, 1, 1, 1] if combine == "weighted_mean" else None
        r = parallax.stack(s, runtime=srt, reject="percentile", percentile=(0, 40), combine=combine, weights=weights)
        assert (r.image[0, 0], r.count[0, 0]) == (0, 3)


def test_noise_weights_beyond_the_float_range(srt):
    """Deviations from a frame's median beyond FLT_MAX count in its MAD, as in astropy's mad_std."""
    frames = np.array([[[1, 2, 3, 4, 5, 6, 7]], [[-3e38, -3e38, -3e38, 1e38, 2e38, 3e38, 3e38]]], np.float32)
    r = parallax.stack(frames, runtime=srt, combine="weighted_mean", weights="noise", return_frame_stats=True)
    expected = 1 / np.array([astropy_stats.mad_std(f.astype(np.float64)) for f in frames]) ** 2
    assert_close(r.frame_weight[:, 0], expected)


def test_noise_weights_follow_inverse_variance(srt):
    rng = np.random.default_rng(4)
    sky = rng.normal(200, 20, (64, 64))
    sigmas = np.array([1.0, 2.0, 4.0, 0.5])
    data = np.array([sky + rng.normal(0, s, sky.shape) for s in sigmas], np.float32)
    r = parallax.stack(data, runtime=srt, combine="weighted_mean", weights="noise", return_frame_stats=True)
    w = r.frame_weight[:, 0]
    # The weights are 1 / sigma^2 with sigma from the MAD of each frame (astropy's mad_std: same definition) ...
    expected = 1 / np.array([astropy_stats.mad_std(frame.astype(np.float64)) for frame in data]) ** 2
    assert_close(w, expected)
    # With a structured sky the MAD measures sky and noise together; on pure noise the weights follow 1 / variance.
    flat = np.array([rng.normal(0, s, (96, 96)) for s in sigmas], np.float32)  # pure noise: ratio ~ 1/var ratio
    rf = parallax.stack(flat, runtime=srt, combine="wmean", weights="noise", return_frame_stats=True)
    ratio = rf.frame_weight[:, 0] / rf.frame_weight[0, 0]
    np.testing.assert_allclose(ratio, (sigmas[0] / sigmas) ** 2, rtol=0.1)
    # The stack is the weighted average with the weights it reports.
    assert_close(rf.image, np.average(flat.astype(np.float64), axis=0, weights=rf.frame_weight[:, 0]), scale=0.1)
    assert_close(r.image, np.average(data.astype(np.float64), axis=0, weights=w))


@pytest.mark.parametrize("normalize", ["additive", "multiplicative", "linear_fit"])
def test_normalization_recovers_known_scales_and_offsets(srt, normalize):
    rng = np.random.default_rng(8)
    ref = rng.normal(1000, 100, (40, 50))
    a = np.array([1.0, 0.5, 2.0, 1.25, 0.8])
    b = np.array([0.0, 30.0, -200.0, 7.5, 100.0])
    if normalize == "additive":
        a = np.ones_like(a)
    elif normalize == "multiplicative":
        b = np.zeros_like(b)
    frames = np.array([aj * ref + bj for aj, bj in zip(a, b)], np.float32)
    r = parallax.stack(frames, runtime=srt, normalize=normalize, reference_frame=0, return_frame_stats=True,
                       sigma=3, reject="sigma_clip")
    # x' = scale x + offset maps frame j back onto the reference: scale = 1 / a, offset = -b / a.
    np.testing.assert_allclose(r.frame_scale[:, 0], 1 / a, rtol=1e-5)
    np.testing.assert_allclose(r.frame_offset[:, 0], -b / a, rtol=1e-5, atol=1e-3)
    assert (r.frame_scale[0, 0], r.frame_offset[0, 0]) == (1.0, 0.0)
    assert_close(r.image, ref, rtol=1e-5)
    assert (r.count == 5).all()


def test_normalization_to_another_reference_frame(srt):
    ref = np.random.default_rng(9).normal(10, 1, (8, 8))
    frames = np.array([ref + 5, ref, ref - 3], np.float32)
    r = parallax.stack(frames, runtime=srt, normalize="additive", reference_frame=1, return_frame_stats=True)
    np.testing.assert_allclose(r.frame_offset[:, 0], [-5, 0, 3], atol=1e-5)
    assert_close(r.image, ref, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# How frames are passed: zero-copy layouts, conversions, channels, providers
# ---------------------------------------------------------------------------------------------------------------

def _bits_equal(a, b):
    np.testing.assert_array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))


OPTIONS = dict(reject="sigma_clip", sigma_low=2.5, sigma_high=3.0, return_rejected=True)


def test_strided_views_and_lists_are_read_in_place(srt):
    big = nasty_cube(np.random.default_rng(12), 20, 30, 40)
    views = {
        "crop": big[:, 3:25, 5:31],  # row stride 40 > width 26
        "every other frame": big[::2],  # frame stride 2 frames
        "reversed frames": big[::-1],
        "every other row": big[:, ::2, :],  # row stride 80
        "list": [np.array(frame) for frame in big],  # separate allocations
        "list of crops": [frame[3:25, 5:31] for frame in big],
    }
    for label, frames in views.items():
        contiguous = np.ascontiguousarray(np.array(frames))
        r = parallax.stack(frames, runtime=srt, **OPTIONS)
        assert r.copied_frames == 0, label
        expected = parallax.stack(contiguous, runtime=srt, **OPTIONS)
        assert expected.copied_frames == 0
        _bits_equal(r.image, expected.image)
        np.testing.assert_array_equal(r.count, expected.count)
        np.testing.assert_array_equal(r.rejected_low, expected.rejected_low)
    generated = parallax.stack((frame for frame in big), runtime=srt, **OPTIONS)  # a generator of frames
    assert generated.copied_frames == 0
    _bits_equal(generated.image, parallax.stack(big, runtime=srt, **OPTIONS).image)


def _unaligned(array):
    raw = np.empty(array.nbytes + 1, np.uint8)[1:].view(array.dtype).reshape(array.shape)
    raw[...] = array
    assert not raw.flags.aligned
    return raw


def test_layouts_that_need_a_copy_give_the_same_result(srt):
    cube = nasty_cube(np.random.default_rng(13), 10, 12, 14)
    expected = parallax.stack(cube, runtime=srt, **OPTIONS)
    variants = {
        "float64": (cube.astype(np.float64), 10),
        "big-endian": (cube.astype(">f4"), 10),
        "Fortran order": (np.asfortranarray(cube), 10),
        "transposed pixels": (np.swapaxes(np.swapaxes(cube, 1, 2).copy(), 1, 2), 10),
        "columns strided": (np.repeat(cube, 2, axis=2)[:, :, ::2], 10),
        # One frame the library cannot read in place: the binding's provider reads them all.
        "mixed list": ([cube[0].astype(np.float64)] + list(cube[1:]), 10),
        "list with one crop": ([np.pad(cube[0], 2)[2:-2, 2:-2]] + [np.array(f) for f in cube[1:]], 10),
        "nested lists": (cube.tolist(), 10),
        "rows reversed": (np.ascontiguousarray(cube[:, ::-1])[:, ::-1], 10),
        "unaligned": (_unaligned(cube), 10),
    }
    for label, (frames, copies) in variants.items():
        r = parallax.stack(frames, runtime=srt, **OPTIONS)
        assert r.copied_frames == copies, label
        _bits_equal(r.image, expected.image)
        np.testing.assert_array_equal(r.count, expected.count, err_msg=label)


def test_broadcast_frames_share_memory(srt):
    frame = nasty_cube(np.random.default_rng(25), 1, 6, 8)[0]
    r = parallax.stack(np.broadcast_to(frame, (7, 6, 8)), runtime=srt, return_rejected=True)  # frame stride 0
    assert r.copied_frames == 0
    finite = np.isfinite(frame)
    np.testing.assert_array_equal(r.image, np.where(finite, frame, np.nan))
    np.testing.assert_array_equal(r.count, 7 * finite)
    np.testing.assert_array_equal(r.rejected_high, 7 * (frame == np.inf))


def test_integer_and_masked_frames(srt):
    ints = np.random.default_rng(14).integers(0, 1000, (6, 5, 7)).astype(np.int16)
    r = parallax.stack(ints, runtime=srt, combine="median")
    np.testing.assert_array_equal(r.image, np.median(ints.astype(np.float64), axis=0).astype(np.float32))
    masked = np.ma.masked_greater(ints, 900)
    r = parallax.stack(masked, runtime=srt)
    np.testing.assert_array_equal(r.count, (~np.ma.getmaskarray(masked)).sum(0))
    assert_close(r.image, masked.astype(np.float64).mean(axis=0).filled(np.nan))
    assert r.copied_frames == 6
    as_list = parallax.stack(list(masked), runtime=srt)
    assert as_list.copied_frames == 6
    _bits_equal(as_list.image, r.image)


def test_channels_equal_per_channel_stacks(srt):
    rng = np.random.default_rng(15)
    cube = np.stack([nasty_cube(rng, 12, 9, 11) * (c + 1) for c in range(3)], axis=1)  # (N, C, H, W)
    r = parallax.stack(cube, runtime=srt, return_rejected=True, return_frame_stats=True, normalize="additive",
                       **{k: v for k, v in OPTIONS.items() if k != "return_rejected"})
    assert r.image.shape == (3, 9, 11) and r.count.shape == (3, 9, 11) and r.frame_scale.shape == (12, 3)
    frame_rejected = np.zeros(12, np.int64)
    for c in range(3):
        one = parallax.stack(cube[:, c], runtime=srt, normalize="additive", return_frame_stats=True, **OPTIONS)
        assert one.image.shape == (9, 11) and one.frame_offset.shape == (12, 1)
        _bits_equal(r.image[c], one.image)
        np.testing.assert_array_equal(r.count[c], one.count)
        np.testing.assert_array_equal(r.rejected_high[c], one.rejected_high)
        np.testing.assert_array_equal(r.frame_offset[:, c], one.frame_offset[:, 0])
        frame_rejected += one.frame_rejected
    np.testing.assert_array_equal(r.frame_rejected, frame_rejected)  # all channels
    # Channel views read in place (a channel stride of two planes), lists of (C, H, W) frames, and channels=.
    sub = cube[:, ::2]
    r2 = parallax.stack(sub, runtime=srt, channels=2, normalize="additive", **OPTIONS)
    assert r2.copied_frames == 0
    _bits_equal(r2.image[1], r.image[2])
    r3 = parallax.stack(list(cube), runtime=srt, normalize="additive", **OPTIONS)
    assert r3.copied_frames == 0
    _bits_equal(r3.image, r.image)
    one_channel = parallax.stack(cube[:, :1], runtime=srt, **OPTIONS)
    assert one_channel.image.shape == (1, 9, 11)


def test_provider_gives_the_same_bits_as_arrays(srt):
    rng = np.random.default_rng(17)
    cube = np.stack([nasty_cube(rng, 9, 13, 10) + c for c in range(2)], axis=1)  # (N, C, H, W)
    calls = []

    def provide(frame, row0, rows, col0, cols, channel):
        calls.append((frame, channel))
        return cube[frame, channel, row0:row0 + rows, col0:col0 + cols].astype(np.float64)  # converted back

    options = dict(OPTIONS, normalize="linear_fit", return_frame_stats=True)
    r = parallax.stack(provide, shape=cube.shape, runtime=srt, **options)
    expected = parallax.stack(cube, runtime=srt, **options)
    _bits_equal(r.image, expected.image)
    np.testing.assert_array_equal(r.count, expected.count)
    np.testing.assert_array_equal(r.frame_scale, expected.frame_scale)
    assert {f for f, _ in calls} == set(range(9)) and {c for _, c in calls} == {0, 1}
    # A single-channel provider: shape (N, H, W) gives (H, W) maps; channels=2 with it adds the channel axis.
    single = parallax.stack(lambda f, r0, n, c0, m, ch: cube[f, 0, r0:r0 + n, c0:c0 + m], shape=(9, 13, 10),
                            runtime=srt, **OPTIONS)
    assert single.image.shape == (13, 10)
    _bits_equal(single.image, parallax.stack(cube[:, 0], runtime=srt, **OPTIONS).image)
    two = parallax.stack(provide, shape=(9, 13, 10), channels=2, runtime=srt, **OPTIONS)
    _bits_equal(two.image, parallax.stack(cube, runtime=srt, **OPTIONS).image)


def test_provider_rows_sets_the_rows_of_each_call(srt):
    rng = np.random.default_rng(18)
    cube = nasty_cube(rng, 7, 40, 11)
    rows_asked = []

    def provide(frame, row0, rows, col0, cols, channel):
        rows_asked.append(rows)
        return cube[frame, row0:row0 + rows, col0:col0 + cols]

    expected = parallax.stack(cube, runtime=srt, **OPTIONS)
    whole = parallax.stack(provide, shape=cube.shape, runtime=srt, **OPTIONS)  # default: the plan's bands
    _bits_equal(whole.image, expected.image)
    assert max(rows_asked) == whole.tile_rows
    for rows in (0, 1, 3):
        rows_asked.clear()
        r = parallax.stack(provide, shape=cube.shape, runtime=srt, provider_rows=rows, **OPTIONS)
        _bits_equal(r.image, expected.image)
        np.testing.assert_array_equal(r.count, expected.count)
        assert max(rows_asked) == r.tile_rows <= (rows or whole.tile_rows)
    with pytest.raises(parallax.InvalidArgumentError, match="provider_rows"):
        parallax.stack(provide, shape=cube.shape, runtime=srt, provider_rows=-2)
    with pytest.raises(parallax.InvalidArgumentError, match="provider_rows"):
        parallax.stack(provide, shape=cube.shape, runtime=srt, provider_rows=1 << 63)


def test_provider_exception_surfaces(srt):
    class Broken(Exception):
        pass

    def provide(frame, row0, rows, col0, cols, channel):
        if frame == 3:
            raise Broken("disk on fire")
        return np.zeros((rows, cols))

    with pytest.raises(parallax.TaskError, match="frame 3.*disk on fire|disk on fire.*frame 3") as info:
        parallax.stack(provide, shape=(5, 6, 7), runtime=srt)
    assert isinstance(info.value.__cause__, Broken)
    # A wrong shape is refused inside the provider, and surfaces the same way.
    with pytest.raises(parallax.TaskError, match="shape") as info:
        parallax.stack(lambda *a: np.zeros((2, 2)), shape=(5, 6, 7), runtime=srt)
    assert isinstance(info.value.__cause__, parallax.InvalidArgumentError)
    with pytest.raises(parallax.TaskError) as info:
        parallax.stack(lambda *a: np.zeros((a[2], a[4]), complex), shape=(3, 4, 4), runtime=srt)
    assert "complex" in str(info.value.__cause__)
    # The runtime is still usable.
    assert parallax.stack(np.ones((3, 4, 4), np.float32), runtime=srt).image.sum() == 16


SMALL_BUDGET = 512 * 1024  # a few rows through all frames at a time


def test_workers_and_tiles_do_not_change_a_bit(srt):
    data = nasty_cube(np.random.default_rng(18), 40, 64, 256)
    options = dict(reject="sigma_clip", sigma=2.5, return_rejected=True, normalize="linear_fit",
                   combine="weighted_mean", weights="noise", return_frame_stats=True)
    one = parallax.stack(data, runtime=srt, workers=1, **options)
    two = parallax.stack(data, runtime=srt, workers=2, **options)
    small = parallax.stack(data, runtime=srt, workers=2, memory_budget_bytes=SMALL_BUDGET, **options)
    assert (one.workers, two.workers) == (1, 2)
    assert small.tiles > two.tiles >= 1
    for other in (two, small):
        _bits_equal(other.image, one.image)
        np.testing.assert_array_equal(other.count, one.count)
        np.testing.assert_array_equal(other.rejected_low, one.rejected_low)
        np.testing.assert_array_equal(other.frame_rejected, one.frame_rejected)
        np.testing.assert_array_equal(other.frame_weight, one.frame_weight)


def test_outputs_on_request(srt):
    data = np.random.default_rng(19).normal(0, 1, (4, 3, 5)).astype(np.float32)
    r = parallax.stack(data, runtime=srt, return_count=False)
    assert r.count is None and r.rejected_low is None and r.frame_rejected is None and r.frame_scale is None
    assert r.image.dtype == np.float32 and r.image.flags.c_contiguous
    assert (r.samples, r.missing, r.kept, r.rejected) == (60, 0, 60, 0)
    assert r.device_index is None and r.workers >= 1 and r.tiles >= 1 and r.tile_rows >= 1
    assert r.simd_target and r.simd_target.isascii() and r.stack_s >= 0 and r.frame_stats_s >= 0
    assert r.report is not None and r.report.workers == r.workers
    r = parallax.stack(data, runtime=srt, return_rejected=True, return_frame_stats=True)
    assert r.count.dtype == np.int32 and r.rejected_high.dtype == np.int32
    assert r.frame_rejected.dtype == np.int64 and r.frame_rejected.shape == (4,)
    assert r.frame_weight.dtype == np.float64 and r.frame_weight.shape == (4, 1)


def test_progress_cancel_and_plan(srt):
    data = np.random.default_rng(20).normal(0, 1, (8, 64, 32)).astype(np.float32)
    seen = []
    parallax.stack(data, runtime=srt, progress=seen.append, progress_interval_ms=0)
    assert seen and seen[-1].done == seen[-1].total > 0
    with pytest.raises(parallax.CancelledError):  # one worker: see test_coadd's test_progress_and_cancel
        parallax.stack(data, runtime=srt, progress=lambda p: True, progress_interval_ms=0, workers=1)
    with parallax.CancelToken() as token:
        token.cancel()
        with pytest.raises(parallax.CancelledError):
            parallax.stack(data, runtime=srt, cancel=token)
    with pytest.raises(ZeroDivisionError):
        parallax.stack(data, runtime=srt, progress=lambda p: 1 / 0, progress_interval_ms=0)
    with parallax.stack_plan(data, runtime=srt, reject="sigma_clip", memory_budget_bytes=SMALL_BUDGET) as plan:
        assert plan.cpu_workers >= 1 and plan.rows_per_chunk >= 1
        small = parallax.stack(data, runtime=srt, memory_budget_bytes=SMALL_BUDGET)
        assert small.tile_rows == plan.rows_per_chunk


def test_progress_counts_row_units(srt):
    # items = row units: channels x column tiles x height (one column tile here)
    seen = []
    parallax.stack(np.zeros((3, 2, 4, 12), np.float32), runtime=srt, progress=seen.append, progress_interval_ms=0)
    assert seen[-1].total == 2 * 4
    assert seen[-1].done == seen[-1].total
    # Normalization measures the 3 frames first, and reports that pass, counting frames, to its end.
    seen = []
    data = np.random.default_rng(22).normal(100, 1, (3, 2, 4, 12)).astype(np.float32)
    parallax.stack(data, runtime=srt, normalize="additive", progress=seen.append, progress_interval_ms=0)
    frames = [p for p in seen if p.total == 3]
    assert frames and frames[-1].done == 3 and seen.index(frames[-1]) < len(seen) - 1
    assert seen[-1].total == 2 * 4 and seen[-1].done == 2 * 4


def test_default_runtime_and_runtime_method(srt):
    data = np.random.default_rng(21).normal(0, 1, (5, 4, 6)).astype(np.float32)
    expected = parallax.stack(data, runtime=srt, device="cpu")
    _bits_equal(parallax.stack(data, device="cpu").image, expected.image)
    _bits_equal(srt.stack(data, device="cpu").image, expected.image)
    from parallax.stack import default_runtime

    assert default_runtime() is default_runtime()


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------

def test_bad_frames_are_refused_clearly(srt):
    ok = np.zeros((3, 4, 5), np.float32)
    cases = [
        (np.zeros((4, 5), np.float32), r"\(N, H, W\).*shape \(4, 5\)"),
        (np.zeros((2, 3, 4, 5, 6), np.float32), r"shape \(2, 3, 4, 5, 6\)"),
        (np.zeros((0, 4, 5), np.float32), "empty"),
        ([], "empty"),
        ([ok[0], ok[1], np.zeros((4, 6))], r"frames\[2\] has shape \(4, 6\) but frames\[0\] has \(4, 5\)"),
        ([np.zeros(3)], r"frame of shape \(3,\)"),
        (ok.astype(np.complex64), "complex64.*real numbers"),
        (np.array([[["a"]]]), "<U1"),
        (np.empty((2, 2, 2), object), "object"),
        (np.zeros((3, 0, 5), np.float32), "no pixels"),
    ]
    for frames, message in cases:
        with pytest.raises(parallax.InvalidArgumentError, match=message):
            parallax.stack(frames, runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="shape=") as info:
        parallax.stack(lambda *a: None, runtime=srt)
    assert isinstance(info.value, ValueError)
    with pytest.raises(parallax.InvalidArgumentError, match="callable"):
        parallax.stack(ok, shape=(3, 4, 5), runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="channels = 3.*1 channel"):
        parallax.stack(ok, channels=3, runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="2147483648 channels; stack takes 1 to 64"):
        parallax.stack(lambda *a: 0, shape=(3, 2 ** 31, 1, 1), runtime=srt)


def test_bad_options_are_refused_clearly(srt):
    ok = np.ones((3, 4, 5), np.float32)
    for option, value, choice in (("combine", "avg", "'mean'"), ("reject", "kappa", "'sigma_clip'"),
                                  ("centre", "mode", "'median'"), ("normalize", "scale", "'linear_fit'"),
                                  ("device", "tpu", "'gpu'")):
        with pytest.raises(ValueError, match=f"{option} must be one of .*{choice}.*got '{value}'"):
            parallax.stack(ok, runtime=srt, **{option: value})
    with pytest.raises(parallax.InvalidArgumentError, match="3 real numbers.*shape \\(2,\\)"):
        parallax.stack(ok, runtime=srt, combine="wmean", weights=[1, 2])
    with pytest.raises(parallax.InvalidArgumentError, match="'noise'"):
        parallax.stack(ok, runtime=srt, combine="wmean", weights="loud")
    # Clipping bounds are checked by the binding, which names the argument that gave the value.
    for options, message in ((dict(reject="sigma_clip", sigma=-1), "sigma = -1"),
                             (dict(reject="sigma_clip", sigma_high=float("nan")), "sigma_high = nan"),
                             (dict(sigma=3, sigma_low=float("inf")), "sigma_low = inf")):
        with pytest.raises(parallax.InvalidArgumentError, match=message):
            parallax.stack(ok, runtime=srt, **options)
    # What the library checks: its message names the field.
    library_checks = [
        (dict(combine="wmean"), "WEIGHTED_MEAN"),
        (dict(weights=[1, 1, 1]), "WEIGHTED_MEAN"),
        (dict(combine="wmean", weights=[1, -1, 1]), r"frame_weights\[1\]"),
        (dict(combine="wmean", weights=[0, 0, 0]), "all 0"),
        (dict(max_iters=0), "max_iters"),
        (dict(percentile=(50, 10)), "percentile_high"),
        (dict(n_low=-1), "n_low"),
        (dict(reference_frame=3), "reference_frame"),
    ]
    for options, message in library_checks:
        with pytest.raises(parallax.InvalidArgumentError, match=message) as info:
            parallax.stack(ok, runtime=srt, **options)
        assert info.value.status_name == "PLX_ERR_INVALID_ARGUMENT"
    with pytest.raises(parallax.NoDeviceError):  # the 2-CPU profile has no device
        parallax.stack(ok, runtime=srt, device="gpu")
    with pytest.raises(TypeError):
        parallax.stack(ok, runtime="not a runtime")
    closed = parallax.Runtime()
    closed.close()
    with pytest.raises(parallax.InvalidArgumentError, match="closed"):
        parallax.stack(ok, runtime=closed)


# ---------------------------------------------------------------------------------------------------------------
# sigma_clipped_mean
# ---------------------------------------------------------------------------------------------------------------

def _astropy_mean(cube, axis, sigma, maxiters, sl=None, su=None):
    moved = np.moveaxis(np.asarray(cube, np.float32), axis, 0)
    ref = sigma_clip_reference(moved, sigma if sl is None else sl, sigma if su is None else su, maxiters)
    return ref["mean"], ref["ambiguous"]


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_sigma_clipped_mean_matches_astropy_along_any_axis(srt, axis):
    cube = np.moveaxis(nasty_cube(np.random.default_rng(22), 17, 6, 9), 0, axis)
    got = parallax.sigma_clipped_mean(cube, axis=axis, sigma=2.5, maxiters=5, runtime=srt)
    expected, ambiguous = _astropy_mean(cube, axis, 2.5, 5)
    assert got.dtype == np.float32 and got.shape == expected.shape == (6, 9)
    assert_close(got, expected, where=~ambiguous, scale=0.1)
    # The documented drop-in: astropy's own call, on pixels with at least 3 finite samples.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = astropy_stats.sigma_clip(cube.astype(np.float64), axis=axis, sigma=2.5, maxiters=5, cenfunc="median",
                                       stdfunc="std").mean(axis=axis).filled(np.nan)
    enough = (np.isfinite(cube).sum(axis=axis) >= 3) & ~ambiguous
    assert_close(got, raw, where=enough, scale=0.1)


def test_sigma_clipped_mean_shapes_and_options(srt):
    rng = np.random.default_rng(23)
    line = rng.normal(5, 1, 50)
    line[[3, 17]] = [100, -80]
    got = parallax.sigma_clipped_mean(line, runtime=srt)
    assert isinstance(got, np.float32)
    expected = astropy_stats.sigma_clip(line.astype(np.float32).astype(np.float64), sigma=3, maxiters=5,
                                        cenfunc="median", stdfunc="std").mean()
    assert abs(float(got) - expected) <= MEAN_RTOL * abs(expected)
    cube = nasty_cube(rng, 11, 4, 6).reshape(11, 2, 2, 6)  # 4-D: positions are reshaped to rows
    got = parallax.sigma_clipped_mean(cube, axis=0, sigma=3, sigma_lower=2, sigma_upper=4, maxiters=None,
                                      runtime=srt)
    expected, ambiguous = _astropy_mean(cube.reshape(11, 4, 6), 0, 3, None, sl=2, su=4)
    assert got.shape == (2, 2, 6)
    assert_close(got.reshape(4, 6), expected, where=~ambiguous, scale=0.1)
    flat = parallax.sigma_clipped_mean(cube, axis=None, runtime=srt)
    expected, _ = _astropy_mean(cube.reshape(-1), 0, 3, 5)
    assert abs(float(flat) - float(expected)) <= MEAN_RTOL * abs(float(expected))
    everything_missing = parallax.sigma_clipped_mean(np.full((4, 3), np.nan), runtime=srt)
    assert np.isnan(everything_missing).all() and everything_missing.shape == (3,)
    with pytest.raises(parallax.InvalidArgumentError, match="axis 3"):
        parallax.sigma_clipped_mean(np.zeros((2, 3, 4)), axis=3, runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="distinct axes"):
        parallax.sigma_clipped_mean(np.zeros((2, 3, 4)), axis=(1, -2), runtime=srt)


def test_sigma_clipped_mean_takes_astropys_arguments(srt):
    """Axis tuples pool their samples; sigma_lower=0 and maxiters=0 mean what astropy's `or` makes them mean
    (sigma, and until nothing changes); maxiters=-1 is until nothing changes along axes, no clipping with axis=None."""
    cube = nasty_cube(np.random.default_rng(25), 7, 5, 9)
    for kwargs in (dict(axis=(0, 2)), dict(axis=(2, 0), sigma=2.0), dict(axis=0, sigma=2.0, sigma_lower=0),
                   dict(axis=0, maxiters=0), dict(axis=(0, 1, 2)), dict(axis=0, maxiters=-1),
                   dict(axis=None, maxiters=-1, sigma=1.0)):
        got = parallax.sigma_clipped_mean(cube, runtime=srt, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = astropy_stats.sigma_clip(cube.astype(np.float64), cenfunc="median", stdfunc="std",
                                           **kwargs).mean(axis=kwargs["axis"])
        raw = np.ma.filled(raw, np.nan)
        assert np.shape(got) == np.shape(raw), kwargs
        np.testing.assert_allclose(np.asarray(got, np.float64), raw, rtol=MEAN_RTOL, err_msg=str(kwargs))
    with pytest.raises(parallax.InvalidArgumentError, match="maxiters = -3"):
        parallax.sigma_clipped_mean(cube, runtime=srt, maxiters=-3)


# ---------------------------------------------------------------------------------------------------------------
# The OpenCL path (PoCL, the CPU OpenCL device every test machine has)
# ---------------------------------------------------------------------------------------------------------------

def test_opencl_path_agrees_with_the_cpu(srt, tmp_path_factory):
    with parallax.Runtime(device_types=["cpu", "gpu", "accelerator"],
                          cache_dir=tmp_path_factory.mktemp("stack-cache")) as drt:
        if not any(d.usable and d.fp64 for d in drt.caps().devices):
            pytest.skip("no usable OpenCL device with double precision")
        data = nasty_cube(np.random.default_rng(24), 12, 16, 20)
        for options in (dict(reject="sigma_clip", sigma=2.5), dict(reject="minmax", combine="median"),
                        dict(reject="percentile", combine="sum")):
            on_device = parallax.stack(data, runtime=drt, device="gpu", return_rejected=True, **options)
            on_cpu = parallax.stack(data, runtime=srt, device="cpu", return_rejected=True, **options)
            assert on_device.device_index is not None
            np.testing.assert_array_equal(on_device.count, on_cpu.count)
            assert_close(on_device.image, on_cpu.image, scale=1.0)
