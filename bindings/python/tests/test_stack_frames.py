"""How parallax.stack takes its frames beyond native float32 arrays: interleaved colour refused with the way to pass
it, masks of numpy and astropy containers honoured, frames the library cannot read in place (other dtypes and byte
orders, misaligned frames, masked samples) converted block by block within the memory budget with the same bits,
and the clipping bounds given as astropy gives them."""
import tracemalloc

import numpy as np
import pytest

import parallax


@pytest.fixture(scope="module")
def srt(profile):
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


def _bits_equal(a, b, label=None):
    np.testing.assert_array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32), err_msg=label)


OPTIONS = dict(reject="sigma_clip", sigma=2.5, return_rejected=True)


def _cube(seed, shape):
    rng = np.random.default_rng(seed)
    cube = rng.normal(100, 10, shape).astype(np.float32)
    cube[rng.random(shape) < 0.05] = 1e4
    cube[rng.random(shape) < 0.03] = np.nan
    return cube


# ---------------------------------------------------------------------------------------------------------------
# Interleaved colour
# ---------------------------------------------------------------------------------------------------------------

def test_interleaved_colour_frames_are_refused_with_the_way_to_pass_them(srt):
    rgb = _cube(1, (4, 20, 30, 3))  # (N, H, W, C), as rawpy, PIL and OpenCV give frames
    with pytest.raises(parallax.InvalidArgumentError, match=r"\(4, 20, 30, 3\).*interleaved.*"
                                                            r"np\.moveaxis\(frames, -1, 1\)") as info:
        parallax.stack(rgb, runtime=srt)
    assert isinstance(info.value, ValueError)
    with pytest.raises(parallax.InvalidArgumentError, match=r"interleaved.*np\.moveaxis\(f, -1, 0\) for f in frames"):
        parallax.stack(list(rgb), runtime=srt)
    with pytest.raises(parallax.InvalidArgumentError, match="interleaved.*shape=\\(N, C, H, W\\)"):
        parallax.stack(lambda *a: None, shape=rgb.shape, runtime=srt)
    rgba = np.zeros((2, 1080, 1920, 4), np.uint8)[..., :1].repeat(4, axis=-1)  # broadcast-sized, no pixels read
    with pytest.raises(parallax.InvalidArgumentError, match="interleaved"):
        parallax.stack(rgba, runtime=srt)
    # The planar cube the message names stacks each colour on its own.
    planar = parallax.stack(np.moveaxis(rgb, -1, 1), runtime=srt, **OPTIONS)
    assert planar.image.shape == (3, 20, 30)
    for c in range(3):
        _bits_equal(planar.image[c], parallax.stack(rgb[..., c], runtime=srt, **OPTIONS).image)


def test_too_many_channels_names_the_planar_layout(srt):
    with pytest.raises(parallax.InvalidArgumentError, match=r"100 channels; stack takes 1 to 64 planar channels, "
                                                            r"frames of shape \(C, H, W\)"):
        parallax.stack(np.zeros((2, 100, 8, 9), np.float32), runtime=srt)
    # Few channels, or narrow frames with few channels, are planar as given.
    assert parallax.stack(np.zeros((2, 4, 8, 3), np.float32), runtime=srt).image.shape == (4, 8, 3)
    assert parallax.stack(np.zeros((2, 64, 8, 9), np.float32), runtime=srt).image.shape == (64, 8, 9)


# ---------------------------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------------------------

def test_masks_of_astropy_containers_count_as_missing(srt):
    Masked = pytest.importorskip("astropy.utils.masked").Masked
    nddata = pytest.importorskip("astropy.nddata")
    data = _cube(2, (5, 6, 7))
    data[2, 1, 1] = 1e6  # a hot pixel the user has masked
    mask = np.zeros(data.shape, bool)
    mask[2, 1, 1] = True
    mask[0, :2] = True
    expected = parallax.stack(np.where(mask, np.nan, data), runtime=srt, **OPTIONS)
    for label, frames in (("list of CCDData", [nddata.CCDData(d, mask=m, unit="adu") for d, m in zip(data, mask)]),
                          ("list of NDData", [nddata.NDData(d, mask=m) for d, m in zip(data, mask)]),
                          ("Masked cube", Masked(data, mask=mask)),
                          ("list of Masked", list(Masked(data, mask=mask))),
                          ("np.ma cube", np.ma.array(data, mask=mask)),
                          ("generator of np.ma", (f for f in np.ma.array(data, mask=mask)))):
        r = parallax.stack(frames, runtime=srt, **OPTIONS)
        _bits_equal(r.image, expected.image, label)
        np.testing.assert_array_equal(r.count, expected.count, err_msg=label)
        assert r.copied_frames == 5, label
    # A mask with nothing masked leaves the frames to be read in place; one that does not fit the data is refused.
    assert parallax.stack(np.ma.array(data, mask=np.zeros_like(mask)), runtime=srt).copied_frames == 0
    assert parallax.stack([nddata.NDData(d) for d in data], runtime=srt).copied_frames == 0
    with pytest.raises(parallax.InvalidArgumentError, match=r"frames\[0\] has a mask of shape \(2,\)"):
        parallax.stack([nddata.NDData(d, mask=np.zeros(2, bool)) for d in data], runtime=srt)


# ---------------------------------------------------------------------------------------------------------------
# Frames the library cannot read in place
# ---------------------------------------------------------------------------------------------------------------

def _peak_numpy_bytes(fn):
    """Peak bytes numpy (and Python) allocated while fn ran: numpy reports its buffers to tracemalloc; the
    library's own memory is not counted."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_conversions_stay_within_the_budget_with_the_same_bits(srt):
    """Big-endian (FITS), float64, integer and masked cubes: converted block by block as the library reads them,
    not copied whole, to the bits of the float32 cube."""
    cube = _cube(3, (64, 128, 128))  # 4 MiB as float32; the outputs, 64 KiB a map
    budget = 1 << 20
    expected = parallax.stack(cube, runtime=srt, memory_budget_bytes=budget, **OPTIONS)
    masked = np.ma.masked_greater(cube, 1e3)
    variants = {
        "big-endian": (cube.astype(">f4"), cube),
        "float64": (cube.astype(np.float64), cube),
        "masked": (masked, masked.filled(np.nan)),
        "int16": (np.nan_to_num(cube).astype(np.int16), np.nan_to_num(cube).astype(np.int16).astype(np.float32)),
    }
    for label, (frames, as_float32) in variants.items():
        reference = expected if as_float32 is cube else parallax.stack(as_float32, runtime=srt, **OPTIONS)
        results = []
        peak = _peak_numpy_bytes(lambda: results.append(
            parallax.stack(frames, runtime=srt, memory_budget_bytes=budget, **OPTIONS)))
        r = results[0]
        assert r.copied_frames == 64 and r.tiles > 1, label
        assert peak < cube.nbytes / 4, f"{label}: {peak} bytes allocated converting a {cube.nbytes}-byte cube"
        _bits_equal(r.image, reference.image, label)
        np.testing.assert_array_equal(r.count, reference.count, err_msg=label)
        np.testing.assert_array_equal(r.rejected_high, reference.rejected_high, err_msg=label)
    # stack_plan reads no pixel, and converts none either.
    big_endian = variants["big-endian"][0]
    assert _peak_numpy_bytes(lambda: parallax.stack_plan(big_endian, runtime=srt).close()) < cube.nbytes / 4


def test_a_frame_stride_of_partial_floats_is_read_through_a_copy(srt):
    """Frame 0 aligned, the others not (a frame stride of 4 H W + 2 bytes): never passed to the library as
    misaligned float pointers."""
    n, h, w = 5, 6, 8
    data = _cube(4, (n, h, w))
    raw = np.zeros(n * (4 * h * w + 2) + 8, np.uint8)
    frames = np.lib.stride_tricks.as_strided(raw, shape=(n, 4 * h * w), strides=(4 * h * w + 2, 1))
    frames[...] = data.reshape(n, -1).view(np.uint8)
    cube = np.lib.stride_tricks.as_strided(raw[:4 * h * w].view(np.float32), shape=(n, h, w),
                                           strides=(4 * h * w + 2, 4 * w, 4))
    assert cube[0].flags.aligned and not cube[1].flags.aligned
    r = parallax.stack(cube, runtime=srt, **OPTIONS)
    assert r.copied_frames == n
    _bits_equal(r.image, parallax.stack(data, runtime=srt, **OPTIONS).image)


# ---------------------------------------------------------------------------------------------------------------
# Clipping bounds
# ---------------------------------------------------------------------------------------------------------------

def test_explicit_bounds_win_over_sigma(srt):
    """As astropy's sigma_lower / sigma_upper over sigma: stack(sigma=2, sigma_high=4) clips at 2 below, 4 above."""
    cube = np.random.default_rng(5).normal(0, 1, (50, 30, 30)).astype(np.float32)
    options = dict(reject="sigma_clip", return_rejected=True)
    both = parallax.stack(cube, runtime=srt, sigma_low=2, sigma_high=4, **options)
    for given in (dict(sigma=2, sigma_high=4), dict(sigma=4, sigma_low=2), dict(sigma=9, sigma_low=2, sigma_high=4)):
        r = parallax.stack(cube, runtime=srt, **given, **options)
        _bits_equal(r.image, both.image, str(given))
        np.testing.assert_array_equal(r.rejected_high, both.rejected_high, err_msg=str(given))
    assert both.rejected_high.sum() < parallax.stack(cube, runtime=srt, sigma=2, **options).rejected_high.sum()
    default = parallax.stack(cube, runtime=srt, **options)  # 3 on both sides
    _bits_equal(default.image, parallax.stack(cube, runtime=srt, sigma_low=3, sigma_high=3, **options).image)
    with parallax.stack_plan(cube, runtime=srt, reject="sigma_clip", sigma=2, sigma_high=4) as plan:
        assert plan.cpu_workers >= 1


def test_bounds_are_numbers_named_by_their_argument(srt):
    cube = np.random.default_rng(6).normal(0, 1, (9, 4, 5)).astype(np.float32)
    expected = parallax.stack(cube, runtime=srt, reject="sigma_clip", sigma=2).image
    for sigma in (np.array(2.0), np.float32(2), np.int8(2), 2):
        _bits_equal(parallax.stack(cube, runtime=srt, reject="sigma_clip", sigma=sigma).image, expected)
    for options, error, message in ((dict(sigma="3"), TypeError, "sigma must be a real number, not str"),
                                    (dict(sigma_low=None, sigma_high=[3]), TypeError, "sigma_high must be a real"),
                                    (dict(sigma_low=-1), parallax.InvalidArgumentError, "sigma_low = -1"),
                                    (dict(sigma=10 ** 400), parallax.InvalidArgumentError, "sigma is beyond"),
                                    (dict(max_iters="5"), TypeError, "max_iters must be an integer, not str"),
                                    (dict(n_low=2.5), TypeError, "n_low must be an integer, not float")):
        with pytest.raises(error, match=message):
            parallax.stack(cube, runtime=srt, reject="sigma_clip", **options)


# ---------------------------------------------------------------------------------------------------------------
# What the docstrings promise
# ---------------------------------------------------------------------------------------------------------------

def test_minmax_rejects_nothing_where_it_would_take_every_finite_sample(srt):
    cube = np.array([1, 2, 3, 500, 1000, np.nan], np.float32).reshape(6, 1, 1)  # 5 finite samples
    for n_low, n_high, kept in ((1, 1, 3), (2, 2, 1), (3, 2, 5), (3, 3, 5), (10, 0, 5)):
        r = parallax.stack(cube, runtime=srt, reject="minmax", n_low=n_low, n_high=n_high)
        assert r.count[0, 0] == kept, (n_low, n_high)
    assert "as many as its finite samples or more" in parallax.stack.__doc__


def test_float64_and_int64_samples_are_rounded_to_float32(srt):
    exact = np.full((3, 1, 1), 2 ** 24 + 1, np.int64)  # not a float32
    assert parallax.stack(exact, runtime=srt).image[0, 0] == 2 ** 24
    assert parallax.sigma_clipped_mean(exact.astype(np.float64), runtime=srt)[0, 0] == 2 ** 24
    for function in (parallax.stack, parallax.sigma_clipped_mean):
        assert "float64 and int64 samples are rounded to float32" in function.__doc__
