"""parallax.sigma_clipped_mean where its samples are pooled (axis=None, axis tuples, long 1-D data) and clipped in
numpy (parallax._pooled): the same bits as plx_stack on the same samples, astropy's sigma_clip(...).mean() on
large inputs, memory about the input's size; and its astropy-ordered arguments and their messages."""
import importlib
import os
import warnings

import numpy as np
import pytest

import parallax
from parallax import _pooled

stack_module = importlib.import_module("parallax.stack")  # the module: parallax.stack is the function

astropy_stats = pytest.importorskip("astropy.stats")


@pytest.fixture(scope="module")
def srt(profile):
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def _samples(rng, n, p, kind):
    """n samples at each of p positions, (n, p): outliers up to 1e30, NaN, +-inf, -0, ties, constants."""
    if kind == "normal":
        x = rng.normal(100, 10, (n, p))
    elif kind == "integers":  # ties, and sums the library takes exactly
        x = np.round(rng.normal(10, 2, (n, p)))
    elif kind == "mostly outliers":  # ranges far from the median of all samples: sums taken again about their own
        x = rng.normal(0, 1, (n, p))
        x[rng.random(x.shape) < 0.6] = 1e30
    elif kind == "three values":
        x = rng.integers(0, 3, (n, p)).astype(float)
    else:
        x = rng.standard_cauchy((n, p)) * 1e20
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf
    x[rng.random(x.shape) < 0.02] = -np.inf
    x[rng.random(x.shape) < 0.02] = -0.0
    return x.astype(np.float32)


KINDS = ["normal", "integers", "mostly outliers", "three values", "cauchy"]


@pytest.mark.parametrize("block", [None, 7], ids=["blocks of 65536", "blocks of 7"])
def test_pooled_rule_gives_the_librarys_bits(srt, monkeypatch, block):
    """_pooled against plx_stack with the samples as frames: counts of 1 to 400 samples (below 3: no clipping),
    both centres, asymmetric and zero bounds, 1 to 5 iterations or until nothing changes, and reject NONE."""
    if block is not None:  # the running sums are kept every _BLOCK samples: their joins, exercised
        monkeypatch.setattr(_pooled, "_BLOCK", block)
    rng = np.random.default_rng(41)
    for trial in range(150):
        n, p = int(rng.integers(1, 400)), int(rng.integers(1, 4))
        x = _samples(rng, n, p, KINDS[trial % len(KINDS)])
        low, high = float(rng.choice([0, 0.5, 1.3, 2.5, 3])), float(rng.choice([0, 1, 1.3, 3]))
        iterations = [None, -1, 1, 2, 5][trial % 5]
        centre = ["median", "mean"][trial // 5 % 2]
        library = parallax.stack(x.reshape(n, 1, p), runtime=srt, reject="none" if iterations is None else "sigma",
                                 sigma_low=low, sigma_high=high, max_iters=iterations, centre=centre).image[0]
        pooled = _pooled.clipped_means(x.T, low, high, iterations, centre == "mean")
        np.testing.assert_array_equal(_bits(pooled), _bits(library), err_msg=f"trial {trial}")


def test_pooled_rule_keeps_samples_on_a_bound_as_the_library(srt):
    """Small counts put samples exactly on bounds, where only the same arithmetic gives the same decision: nine 0
    and one 1 at sigma 3 (centre mean: the bound is exactly 1), and Poisson counts at both centres."""
    rng = np.random.default_rng(43)
    cases = [(np.array([0.0] * 9 + [1.0]), 3, 3), (np.array([2, 0, 3, 2, 3, 0, 2, 2, 10, 3, 0, 3, 9, 8, 3, 0, 9.0]), 1.5, 0.5)]
    cases += [(rng.poisson(0.6, 5 + trial % 16).astype(float), [3, 1.5, 1, 2.5][trial % 4], [3, 0.5, 1, 2][trial // 4 % 4])
              for trial in range(200)]
    for x, low, high in cases:
        for centre in ("median", "mean"):
            library = parallax.stack(x.reshape(-1, 1, 1), runtime=srt, reject="sigma", sigma_low=low, sigma_high=high,
                                     max_iters=5, centre=centre).image[0]
            pooled = _pooled.clipped_means(x.reshape(1, -1), low, high, 5, centre == "mean")
            np.testing.assert_array_equal(_bits(pooled), _bits(library), err_msg=f"{centre} {low} {high} {x}")


@pytest.mark.parametrize("kwargs", [dict(axis=None), dict(axis=(0, 2)), dict(axis=(2, 0), sigma=1.5),
                                    dict(axis=None, maxiters=-1), dict(axis=(1, 2), maxiters=None, cenfunc="mean"),
                                    dict(axis=1, sigma_lower=2, sigma_upper=4)])
def test_numpy_and_library_paths_agree(srt, monkeypatch, kwargs):
    """The same call on small cubes, pooled in numpy or stacked by the library: the same bits."""
    cube = _samples(np.random.default_rng(42), 7 * 5 * 9, 1, "normal").reshape(7, 5, 9)
    results = {}
    for in_numpy in (False, True):
        monkeypatch.setattr(stack_module, "_pooled_in_numpy", lambda frames, positions, flag=in_numpy: flag)
        results[in_numpy] = parallax.sigma_clipped_mean(cube, runtime=srt, **kwargs)
    assert np.shape(results[True]) == np.shape(results[False])
    np.testing.assert_array_equal(_bits(results[True]), _bits(results[False]))


def _astropy_mean(data, axis, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped, low, high = astropy_stats.sigma_clip(data.astype(np.float64), axis=axis, cenfunc="median",
                                                      stdfunc="std", return_bounds=True, **kwargs)
    return np.ma.filled(clipped.mean(axis=axis), np.nan), low, high


@pytest.mark.parametrize("shape, axis", [((300, 300), None), ((3, 250, 200), (1, 2)), ((60000,), 0)])
@pytest.mark.parametrize("kind", ["normal", "integers"])
def test_pooled_samples_match_astropy(srt, shape, axis, kind):
    """Inputs large enough for the numpy path, with outliers, NaN, +-inf and ties: astropy's means to float32
    rounding. One sample kept or clipped otherwise would move a mean by some 1e-5 relative, so equal means are
    equal masks; no sample is within 1e-9 (relative) of a final bound, where double rounding may decide either
    way."""
    rng = np.random.default_rng(43)
    data = (rng.normal(100, 10, shape) if kind == "normal" else np.round(rng.normal(10, 2, shape)))
    out = rng.random(shape) < 0.05
    data[out] += rng.choice([-1, 1], out.sum()) * rng.uniform(30, 1e4, out.sum())
    data[rng.random(shape) < 0.03] = np.nan
    data[rng.random(shape) < 0.005] = np.inf
    data[rng.random(shape) < 0.005] = -np.inf
    data = data.astype(np.float32)
    positions = int(np.prod([s for a, s in enumerate(shape) if axis is not None and a not in np.atleast_1d(axis)]))
    assert stack_module._pooled_in_numpy(data.size // positions, positions)
    got = parallax.sigma_clipped_mean(data, sigma=2.5, maxiters=10, axis=axis, runtime=srt)
    expected, low, high = _astropy_mean(data, axis, sigma=2.5, maxiters=10)
    assert np.shape(got) == np.shape(expected)
    d = data.astype(np.float64)
    for bound in (low, high):
        bound = np.reshape(bound, np.shape(bound) + (1,) * (d.ndim - np.ndim(bound)))  # against each sample
        assert not np.any(np.abs(d - bound) <= 1e-9 * np.abs(bound)), "a sample on a bound: pick another seed"
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=2 ** -23)


def _peak_rss_bytes():
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs")
def test_pooled_memory_is_about_the_input(srt):
    """A million samples pooled: memory of the order of the input (4 MB), where plx_stack, with a frame per sample,
    took 1.6 GB."""
    data = np.random.default_rng(44).normal(0, 1, 1_000_000).astype(np.float32)
    parallax.sigma_clipped_mean(data[:10], runtime=srt)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak RSS starts again from the current RSS
    before = _peak_rss_bytes()
    got = parallax.sigma_clipped_mean(data, runtime=srt)
    assert _peak_rss_bytes() - before < 8 * data.nbytes
    expected, _, _ = _astropy_mean(data, None)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------------------------
# astropy's arguments, in astropy's order
# ---------------------------------------------------------------------------------------------------------------

def test_arguments_follow_astropys_order(srt):
    cube = np.random.default_rng(45).normal(0, 1, (8, 6, 5)).astype(np.float32)
    cube[2, 1, 1] = 40
    by_keyword = parallax.sigma_clipped_mean(cube, sigma=2, sigma_lower=1.5, sigma_upper=3, maxiters=3,
                                             cenfunc="mean", stdfunc="std", axis=1, runtime=srt)
    positional = parallax.sigma_clipped_mean(cube, 2, 1.5, 3, 3, "mean", "std", 1, runtime=srt)
    np.testing.assert_array_equal(_bits(positional), _bits(by_keyword))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = astropy_stats.sigma_clip(cube.astype(np.float64), 2, 1.5, 3, 3, "mean", "std", 1).mean(axis=1)
    np.testing.assert_allclose(positional, expected.filled(np.nan), rtol=1e-6)
    # sigma is the second parameter, as astropy's; the axis stays 0 by default.
    np.testing.assert_array_equal(_bits(parallax.sigma_clipped_mean(cube, 1.5, runtime=srt)),
                                  _bits(parallax.sigma_clipped_mean(cube, sigma=1.5, axis=0, runtime=srt)))
    assert parallax.sigma_clipped_mean(cube, 1.5, runtime=srt).shape == (6, 5)
    with pytest.raises(TypeError):
        parallax.sigma_clipped_mean(cube, 3, None, None, 5, "median", "std", 0, srt)  # runtime is keyword-only


def test_only_the_librarys_centres_and_spread(srt):
    cube = np.ones((4, 3), np.float32)
    for kwargs, message in ((dict(cenfunc="mode"), "cenfunc must be 'median' or 'mean'"),
                            (dict(cenfunc=np.nanmedian), "cenfunc must be 'median' or 'mean'"),
                            (dict(stdfunc="mad_std"), "stdfunc must be 'std'")):
        with pytest.raises(parallax.InvalidArgumentError, match=message):
            parallax.sigma_clipped_mean(cube, runtime=srt, **kwargs)


def test_messages_name_the_argument(srt):
    cube = np.random.default_rng(46).normal(10, 1, (5, 4, 6)).astype(np.float32)
    with pytest.raises(TypeError, match="maxiters must be an integer, not str"):
        parallax.sigma_clipped_mean(cube, maxiters="5", runtime=srt)
    with pytest.raises(TypeError, match="sigma must be a real number, not NoneType"):
        parallax.sigma_clipped_mean(cube, sigma=None, runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="sigma_lower = -1"):
        parallax.sigma_clipped_mean(cube, sigma_lower=-1, runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="sigma_upper = inf"):
        parallax.sigma_clipped_mean(cube, sigma_upper=np.inf, runtime=srt)
    with pytest.raises(TypeError, match="axis must be an integer, not float"):
        parallax.sigma_clipped_mean(cube, axis=1.0, runtime=srt)
    # sigma needs not be given where both bounds are (astropy's `sigma_lower or sigma`).
    both = parallax.sigma_clipped_mean(cube, sigma=None, sigma_lower=2, sigma_upper=2, runtime=srt)
    np.testing.assert_array_equal(_bits(both), _bits(parallax.sigma_clipped_mean(cube, sigma=2, runtime=srt)))
    # numpy scalars and 0-d arrays are numbers, as numpy reductions return them.
    for sigma in (np.array(2.0), np.float32(2), np.int64(2)):
        np.testing.assert_array_equal(_bits(parallax.sigma_clipped_mean(cube, sigma=sigma, runtime=srt)),
                                      _bits(both))


def test_masked_frames_count_as_missing(srt):
    """Masks of a list of np.ma frames, of astropy Masked arrays and of CCDData: honoured, as stack honours them."""
    Masked = pytest.importorskip("astropy.utils.masked").Masked
    CCDData = pytest.importorskip("astropy.nddata").CCDData
    data = np.random.default_rng(47).normal(100, 1, (6, 3, 4)).astype(np.float32)
    data[2, 1, 1] = 1e6
    mask = data > 1e5
    expected = parallax.sigma_clipped_mean(np.where(mask, np.nan, data), runtime=srt)
    assert abs(expected[1, 1] - 100) < 2
    for label, cube in (("list of np.ma", [np.ma.array(d, mask=m) for d, m in zip(data, mask)]),
                        ("np.ma cube", np.ma.array(data, mask=mask)),
                        ("Masked cube", Masked(data, mask=mask)),
                        ("list of Masked", list(Masked(data, mask=mask))),
                        ("list of CCDData", [CCDData(d, mask=m, unit="adu") for d, m in zip(data, mask)])):
        got = parallax.sigma_clipped_mean(cube, runtime=srt)
        np.testing.assert_array_equal(_bits(got), _bits(expected), err_msg=label)
        if isinstance(cube, list):
            np.testing.assert_array_equal(_bits(parallax.stack(cube, runtime=srt).image),
                                          _bits(parallax.stack(np.where(mask, np.nan, data), runtime=srt).image),
                                          err_msg=label)
