"""parallax.compat.ccdproc.Combiner against the real ccdproc.Combiner (Debian's python3-ccdproc) on the same frames:
random frames with outliers, NaN, masks, weights and scaling; data, mask and uncertainty to 1e-6 relative. Frames
are float32-representable so that Parallax (which reads float32) sees exactly ccdproc's samples. Each test also
checks which path ran (Parallax's stack, fused or not, or the numpy reference) by counting parallax.stack calls."""
import warnings

import numpy as np
import pytest

import parallax
from parallax.compat import ccdproc as compat

ccdproc = pytest.importorskip("ccdproc")
from astropy.nddata import CCDData  # noqa: E402
from astropy.utils.exceptions import AstropyUserWarning  # noqa: E402

RTOL = 1e-6
N, H, W = 9, 24, 31


@pytest.fixture(scope="module")
def crt(profile):
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


@pytest.fixture
def calls(monkeypatch):
    """Counts parallax.stack calls made by the Combiner, with their options."""
    seen = []
    real = compat.Combiner._stack

    def spy(self, data, combine, **reject):
        seen.append((combine, reject))
        return real(self, data, combine, **reject)

    monkeypatch.setattr(compat.Combiner, "_stack", spy)
    return seen


def frames(seed=1, n=N, nan=True, masks=True, outliers=True):
    rng = np.random.default_rng(seed)
    data = rng.normal(1000, 20, (n, H, W)).astype(np.float32)
    if outliers:
        hits = rng.random((n, H, W)) < 0.03
        data[hits] += rng.choice([-1, 1], hits.sum()) * rng.uniform(200, 5000, hits.sum()).astype(np.float32)
    if nan:
        data[rng.random((n, H, W)) < 0.02] = np.nan
        data[:, 0, 0] = np.nan  # a pixel with no sample
    mask = rng.random((n, H, W)) < 0.05 if masks else None
    if masks:
        mask[:, 1, 1] = True  # a pixel every mask covers
    return data.astype(np.float64), mask


def ccds(data, mask):
    return [CCDData(d, mask=None if mask is None else m, unit="adu")
            for d, m in zip(data, mask if mask is not None else [None] * len(data))]


def both(data, mask, crt, setup=lambda c: None):
    ref = ccdproc.Combiner(ccds(data, mask))
    ours = compat.Combiner(ccds(data, mask), runtime=crt)
    setup(ref)
    setup(ours)
    return ref, ours


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=0)


def same_result(ref, ours, uncertainty=True):
    assert isinstance(ours, CCDData) and ours.unit == ref.unit
    close(ref.data, ours.data)
    assert np.array_equal(ref.mask, ours.mask)
    assert ours.meta["NCOMBINE"] == ref.meta["NCOMBINE"]
    assert ours.data.dtype == ref.data.dtype
    if uncertainty:
        close(ref.uncertainty.array, ours.uncertainty.array)


def quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", AstropyUserWarning)
    return ctx


@pytest.fixture(autouse=True)
def _quiet():
    ctx = quiet()
    yield
    ctx.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------------------------
# Combines without rejection
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["average_combine", "median_combine", "sum_combine"])
def test_plain_combines_match_ccdproc(crt, calls, method):
    data, mask = frames()
    ref, ours = both(data, mask, crt)
    same_result(getattr(ref, method)(), getattr(ours, method)())
    assert calls and all(not reject for _, reject in calls)  # combined by parallax.stack


@pytest.mark.parametrize("method", ["average_combine", "sum_combine"])
@pytest.mark.parametrize("shape", ["frames", "pixels"])
def test_weights_match_ccdproc(crt, calls, method, shape):
    data, mask = frames(seed=2)
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.2, 3, N) if shape == "frames" else rng.uniform(0.2, 3, (N, H, W))

    def setup(c):
        c.weights = weights

    ref, ours = both(data, mask, crt, setup)
    same_result(getattr(ref, method)(), getattr(ours, method)())
    assert calls[0][0] == "sum"  # the weighted sum w x by parallax.stack


@pytest.mark.parametrize("method", ["average_combine", "median_combine", "sum_combine"])
def test_scaling_and_scale_to_match_ccdproc(crt, method):
    data, mask = frames(seed=3)
    factors = np.linspace(0.5, 2, N)
    ref, ours = both(data, mask, crt, lambda c: setattr(c, "scaling", factors))
    same_result(getattr(ref, method)(), getattr(ours, method)())
    same_result(getattr(ref, method)(scale_to=2.5), getattr(ours, method)(scale_to=2.5))
    ref, ours = both(data, mask, crt, lambda c: setattr(c, "scaling", lambda a: 1.0 / np.ma.median(a)))
    assert ours.scaling.shape == (N, 1, 1)
    np.testing.assert_allclose(ours.scaling, ref.scaling, rtol=1e-12)
    same_result(getattr(ref, method)(), getattr(ours, method)())


def test_user_functions_run_ccdproc_s_code(crt, calls):
    data, mask = frames(seed=4)
    ref, ours = both(data, mask, crt)
    same_result(ref.average_combine(scale_func=np.ma.average), ours.average_combine(scale_func=np.ma.average))
    same_result(ref.median_combine(median_func=np.ma.median), ours.median_combine(median_func=np.ma.median))
    same_result(ref.sum_combine(uncertainty_func=np.ma.std), ours.sum_combine(uncertainty_func=np.ma.std))


def test_infinities_fall_back_to_numpy(crt, calls):
    data, mask = frames(seed=6)
    data[2, 5, 5] = np.inf
    ref, ours = both(data, mask, crt)
    calls.clear()
    r = ours.average_combine()
    assert calls == []  # Parallax always rejects inf, ccdproc's nanmean keeps it
    same_result(ref.average_combine(), r)
    assert np.isinf(r.data[5, 5])


# ---------------------------------------------------------------------------------------------------------------
# Rejection
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("func", ["mean", "median"])
@pytest.mark.parametrize("method", ["average_combine", "median_combine", "sum_combine"])
def test_sigma_clipping_is_one_pass_and_matches_ccdproc(crt, calls, func, method):
    data, mask = frames(seed=7)

    def setup(c):
        c.sigma_clipping(low_thresh=2, high_thresh=2.5, func=func)

    ref, ours = both(data, mask, crt, setup)
    same_result(getattr(ref, method)(), getattr(ours, method)())
    assert np.array_equal(ref.data_arr.mask, ours.data_arr.mask)  # the frames' own masks are gone, as in ccdproc
    # The fused path, without uncertainty: one parallax.stack call rejecting and combining.
    ours = compat.Combiner(ccds(data, mask), runtime=crt)
    setup(ours)
    calls.clear()
    fused = getattr(ours, method)(uncertainty_func=None)
    assert len(calls) == 1 and calls[0][1]["reject"] == "sigma_clip" and calls[0][1]["max_iters"] == 1
    assert calls[0][1]["centre"] == func
    reference = getattr(ref, method)()
    close(reference.data, fused.data)
    assert np.array_equal(reference.mask, fused.mask) and fused.uncertainty is None


def test_sigma_clipping_matches_a_one_pass_numpy_model(crt):
    """ccdproc's sigma clipping is one pass: centre and std of every finite sample, then clip once."""
    data, _ = frames(seed=8, masks=False)
    c = compat.Combiner(data, runtime=crt)  # plain arrays: a masked array comes back, fused in parallax.stack
    c.sigma_clipping(low_thresh=1.5, high_thresh=1.5, func="mean")
    got = c.average_combine()
    m, s = np.nanmean(data, axis=0), np.nanstd(data, axis=0)
    kept = np.where((data >= m - 1.5 * s) & (data <= m + 1.5 * s), data, np.nan)
    assert isinstance(got, np.ma.MaskedArray)
    close(np.ma.filled(got, np.nan), np.nanmean(kept, axis=0))
    assert np.array_equal(got.mask, np.isnan(kept).all(axis=0))


def test_sigma_clipping_iterates_with_maxiters(crt, calls):
    data, _ = frames(seed=9)
    from astropy.stats import sigma_clip

    expected = sigma_clip(data, sigma=2.0, maxiters=None, axis=0, cenfunc="median", stdfunc="std")
    c = compat.Combiner(data, runtime=crt)
    c.sigma_clipping(low_thresh=2, high_thresh=2, func="median", maxiters=None)
    got = c.average_combine()
    assert calls[-1][1]["max_iters"] is None
    close(np.ma.filled(got, np.nan), np.ma.filled(expected.mean(axis=0), np.nan))
    assert np.array_equal(c.data_arr.mask, expected.mask)


@pytest.mark.parametrize("kw", [dict(dev_func="mad_std"), dict(low_thresh=0.8, high_thresh=3),
                                dict(func=np.nanmedian), dict(low_thresh=None, high_thresh=None)])
def test_sigma_clipping_without_an_identical_rule_falls_back(crt, calls, kw):
    data, mask = frames(seed=10)
    ref, ours = both(data, mask, crt, lambda c: c.sigma_clipping(**kw))
    calls.clear()
    same_result(ref.average_combine(), ours.average_combine(uncertainty_func=None), uncertainty=False)
    fused = [reject for _, reject in calls if reject]
    if "low_thresh" in kw and kw["low_thresh"] is None:  # None = astropy's sigma (3): Parallax's rule again
        assert fused == [dict(reject="sigma_clip", sigma_low=3.0, sigma_high=3.0, centre="mean", max_iters=1)]
    else:
        assert fused == []


@pytest.mark.parametrize("nlow,nhigh", [(1, 1), (2, 0), (0, 3), (2, 2)])
@pytest.mark.parametrize("method", ["average_combine", "median_combine", "sum_combine"])
def test_clip_extrema_matches_ccdproc(crt, calls, nlow, nhigh, method):
    data, _ = frames(seed=11, nan=False, masks=False)
    ref, ours = both(data, None, crt, lambda c: c.clip_extrema(nlow=nlow, nhigh=nhigh))
    same_result(getattr(ref, method)(), getattr(ours, method)())
    ours = compat.Combiner(ccds(data, None), runtime=crt)
    ours.clip_extrema(nlow=nlow, nhigh=nhigh)
    calls.clear()
    fused = getattr(ours, method)(uncertainty_func=None)
    assert calls == [(method.split("_")[0].replace("average", "mean"),
                      dict(reject="minmax", n_low=nlow, n_high=nhigh))]
    close(getattr(ref, method)().data, fused.data)
    assert np.array_equal(ref.data_arr.mask, ours.data_arr.mask)


def test_clip_extrema_ranks_masked_and_nan_samples_as_ccdproc(crt, calls):
    data, mask = frames(seed=12)
    ref, ours = both(data, mask, crt, lambda c: c.clip_extrema(nlow=1, nhigh=2))
    calls.clear()
    got = ours.average_combine(uncertainty_func=None)
    assert all(not reject for _, reject in calls)  # numpy's ranking, then the combine in parallax.stack
    same_result(ref.average_combine(), got, uncertainty=False)
    assert np.array_equal(ref.data_arr.mask, ours.data_arr.mask)


def test_minmax_clipping_then_sigma_then_extrema_chain(crt):
    data, mask = frames(seed=13)

    def setup(c):
        c.minmax_clipping(min_clip=950, max_clip=1060)
        c.clip_extrema(nlow=1, nhigh=1)
        c.sigma_clipping(low_thresh=3, high_thresh=3, func="median")  # replaces the mask, as in ccdproc
        c.minmax_clipping(max_clip=1040)

    ref, ours = both(data, mask, crt, setup)
    for method in ("average_combine", "median_combine", "sum_combine"):
        same_result(getattr(ref, method)(), getattr(ours, method)())
    assert np.array_equal(ref.data_arr.mask, ours.data_arr.mask)


def test_weights_with_rejection_keep_ccdproc_s_denominator(crt):
    data, mask = frames(seed=14)
    weights = np.random.default_rng(3).uniform(0.5, 2, N)

    def setup(c):
        c.clip_extrema(nlow=1, nhigh=1)
        c.weights = weights

    ref, ours = both(data, mask, crt, setup)
    same_result(ref.average_combine(), ours.average_combine())
    same_result(ref.sum_combine(), ours.sum_combine())


def test_inputs_arrays_masked_arrays_and_ccds_agree(crt):
    data, mask = frames(seed=15)
    as_ccd = compat.Combiner(ccds(data, mask), runtime=crt).average_combine(uncertainty_func=None)
    as_ma = compat.Combiner([np.ma.MaskedArray(d, m) for d, m in zip(data, mask)], runtime=crt).average_combine()
    as_arrays = compat.Combiner(list(np.where(mask, np.nan, data)), runtime=crt).average_combine()
    close(as_ccd.data, np.ma.filled(as_ma, np.nan))
    close(as_ccd.data, np.ma.filled(as_arrays, np.nan))
    assert np.array_equal(as_ccd.mask, as_ma.mask) and np.array_equal(as_ma.mask, as_arrays.mask)


def test_dtype_float32_results(crt):
    data, mask = frames(seed=16)
    ref = ccdproc.Combiner(ccds(data, mask), dtype=np.float32)
    ours = compat.Combiner(ccds(data, mask), dtype=np.float32, runtime=crt)
    assert ours.dtype == np.float32 and ours.data_arr.dtype == np.float32
    same_result(ref.median_combine(), ours.median_combine())


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors(crt):
    with pytest.raises(ValueError, match="empty"):
        compat.Combiner([], runtime=crt)
    with pytest.raises(parallax.InvalidArgumentError, match="same shape"):
        compat.Combiner([np.zeros((4, 4)), np.zeros((4, 5))], runtime=crt)
    with pytest.raises(ValueError, match="2-D"):
        compat.Combiner([np.zeros((2, 4, 4))], runtime=crt)
    with pytest.raises(ValueError, match="units"):
        compat.Combiner([CCDData(np.zeros((3, 3)), unit="adu"), CCDData(np.zeros((3, 3)), unit="electron")])
    with pytest.raises(ValueError, match="mask"):
        compat.Combiner([CCDData(np.zeros((3, 3)), unit="adu", mask=np.zeros((2, 2), bool))])
    with pytest.raises(ValueError, match="real numbers"):
        compat.Combiner([np.array([["a", "b"]])])
    with pytest.raises(TypeError):
        compat.Combiner(None)
    c = compat.Combiner([np.ones((3, 3))] * 3, runtime=crt)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        c.weights = [1, 2, 3]
    with pytest.raises(ValueError, match="Length of weights"):
        c.weights = np.ones(4)
    with pytest.raises(ValueError, match="1D weights"):
        c.weights = np.ones((3, 3))
    with pytest.raises(TypeError, match="scaling"):
        c.scaling = 3.0
    with pytest.raises(TypeError, match="axis"):
        c.sigma_clipping(axis=1)
