"""`parallax stack` as a user runs it: FITS files written by astropy, results
compared with astropy.stats.sigma_clip and numpy (ctest passes PARALLAX_CLI)."""
import glob
import gzip
import json
import os
import pathlib
import resource
import signal
import subprocess
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

from cli_tty import run_with_tty_stderr

CLI = os.environ.get("PARALLAX_CLI", "parallax")
RTOL = 1e-6


def run(*args, cwd=None, preexec_fn=None, timeout=120):
    return subprocess.run([CLI, "stack", *args], capture_output=True, text=True, cwd=cwd, preexec_fn=preexec_fn,
                          timeout=timeout)


def run_ok(*args, **kwargs):
    result = run(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    return json.loads(result.stdout)


def leftovers(directory):
    return glob.glob(os.path.join(directory, "*.tmp-*"))


def frames_data(n, shape, seed=1, outliers=True):
    """Sky + noise with hot samples and a few cold ones, float32."""
    rng = np.random.default_rng(seed)
    data = (100 + 5 * rng.standard_normal((n, *shape))).astype(np.float32)
    if outliers:
        flat = data.reshape(n, -1)
        for j in range(n):
            hot = rng.choice(flat.shape[1], size=max(1, flat.shape[1] // 20), replace=False)
            flat[j, hot] += rng.uniform(50, 500, size=hot.size).astype(np.float32)
            cold = rng.choice(flat.shape[1], size=2, replace=False)
            flat[j, cold] -= 200
    return data


def write(path, data, header=None, bitpix=-32, bscale=1.0, bzero=0.0):
    """Writes one frame with the given BITPIX (NaN as BLANK in integer frames);
    returns the pixel values the file holds (float64, NaN where missing)."""
    if bitpix in (-32, -64):
        fits.PrimaryHDU(data.astype(np.float32 if bitpix == -32 else np.float64), header=header).writeto(path)
        with fits.open(path) as f:
            return np.array(f[0].data, dtype=np.float64)
    kind = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64}[bitpix]
    info = np.iinfo(kind)
    missing = np.isnan(data)
    raw = np.round((np.nan_to_num(data.astype(np.float64), nan=bzero) - bzero) / bscale)
    raw = np.clip(raw, info.min + 1, info.max).astype(kind)
    raw[missing] = info.min
    hdu = fits.PrimaryHDU(raw, header=header)
    hdu.header["BSCALE"] = bscale
    hdu.header["BZERO"] = bzero
    if missing.any():
        hdu.header["BLANK"] = int(info.min)
    hdu.writeto(path)
    with fits.open(path, do_not_scale_image_data=True) as f:
        assert f[0].header["BITPIX"] == bitpix
        stored = np.array(f[0].data)
        values = stored.astype(np.float64) * f[0].header["BSCALE"] + f[0].header["BZERO"]
    values[stored == info.min] = np.nan if missing.any() else values[stored == info.min]
    return values


def as_read(values):
    """What parallax reads: cfitsio converts to float32."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def reference_sigma_clip(stack, sigma_low=3.0, sigma_high=3.0, maxiters=5):
    """astropy's sigma_clip over frames, with Parallax's documented rule: where
    fewer than 3 samples are finite, nothing is rejected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Input data contains invalid values": NaN is meant
        clipped, lower, upper = sigma_clip(stack, sigma_lower=sigma_low, sigma_upper=sigma_high, maxiters=maxiters,
                                           cenfunc="median", stdfunc="std", axis=0, return_bounds=True)
    finite = np.isfinite(stack)
    few = finite.sum(axis=0) < 3
    keep = ~np.ma.getmaskarray(clipped) & finite
    keep[:, few] = finite[:, few]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(keep, stack, 0).sum(axis=0) / keep.sum(axis=0)
    rejected = finite & ~keep
    low = (rejected & (stack < lower)).sum(axis=0)
    high = (rejected & (stack > upper)).sum(axis=0)
    low = low + np.isneginf(stack).sum(axis=0)
    high = high + np.isposinf(stack).sum(axis=0)
    return mean, keep.sum(axis=0), low, high


def assert_close(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=RTOL, atol=1e-9)


def read(path):
    with fits.open(path) as f:
        return f[0].data, f[0].header


# ---- results ----------------------------------------------------------------


def test_sigma_clip_over_every_bitpix_matches_astropy(tmp_path):
    n, shape = 12, (23, 31)
    data = frames_data(n, shape)
    data[:, 0, 0] = np.nan  # a pixel missing everywhere
    data[2:, 0, 1] = np.nan  # a pixel with 2 finite samples: no rejection
    data[3, 5, 5] = np.nan  # a BLANK pixel in an int16 frame
    kinds = [(-32, 1.0, 0.0), (-64, 1.0, 0.0), (16, 0.25, 100.0), (8, 4.0, -100.0), (32, 1.0, 0.0), (64, 2.0, 0.5)]
    paths, read_back = [], []
    for j in range(n):
        bitpix, bscale, bzero = kinds[j % len(kinds)]
        paths.append(str(tmp_path / f"f{j:02d}_{bitpix}.fits"))
        read_back.append(write(paths[-1], data[j], bitpix=bitpix, bscale=bscale, bzero=bzero))
    assert np.isnan(read_back[3][5, 5])
    stack = as_read(np.stack(read_back))
    out, count = tmp_path / "out.fits", tmp_path / "count.fits"
    low, high = tmp_path / "low.fits", tmp_path / "high.fits"
    doc = run_ok("-o", str(out), *paths, "--reject", "sigma", "--count", str(count),
                 "--rejected", f"{low},{high}")
    mean, kept, rej_low, rej_high = reference_sigma_clip(stack)
    image, header = read(out)
    assert header["BITPIX"] == -32
    assert_close(image, mean)
    assert np.isnan(image[0, 0])
    counts, count_header = read(count)
    assert count_header["BITPIX"] == 32
    np.testing.assert_array_equal(counts, kept)
    # Rejection maps where every sample is finite (see the test below for NaN).
    finite = np.isfinite(stack).all(axis=0)
    np.testing.assert_array_equal(read(low)[0][finite], rej_low[finite])
    np.testing.assert_array_equal(read(high)[0][finite], rej_high[finite])
    assert rej_high.sum() > 0 and rej_low.sum() > 0
    assert doc["frames"] == n and (doc["width"], doc["height"], doc["channels"]) == (31, 23, 1)
    assert doc["kept"] == kept.sum()
    assert doc["samples"] == stack.size
    assert doc["rejected"] == doc["rejected_low"] + doc["rejected_high"]
    assert doc["rejected_percent"] == pytest.approx(100 * doc["rejected"] / (doc["kept"] + doc["rejected"]))
    for key in ("read_s", "compute_s", "write_s", "setup_s", "total_s", "read_thread_s"):
        assert doc[key] >= 0
    parts = doc["read_s"] + doc["compute_s"] + doc["write_s"] + doc["setup_s"]
    assert parts == pytest.approx(doc["total_s"], rel=1e-9, abs=1e-9)  # the summary's split adds up
    assert doc["device"] == "cpu" and doc["simd_target"]
    assert doc["outputs"] == {"image": str(out), "count": str(count), "rejected_low": str(low),
                              "rejected_high": str(high)}
    assert leftovers(tmp_path) == []


def test_missing_samples_are_not_counted_as_rejected(tmp_path):
    data = frames_data(6, (4, 9), seed=13)
    data[:, 0, 0] = np.nan
    data[3:, 1, 1] = np.nan
    paths = []
    for j in range(6):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    stack = as_read(data)
    low, high = tmp_path / "low.fits", tmp_path / "high.fits"
    doc = run_ok("-o", str(tmp_path / "out.fits"), *paths, "--reject", "sigma", "--rejected", f"{low},{high}")
    _, kept, rej_low, rej_high = reference_sigma_clip(stack)
    np.testing.assert_array_equal(read(high)[0], rej_high)
    np.testing.assert_array_equal(read(low)[0], rej_low)
    assert doc["missing"] == np.isnan(stack).sum()
    assert doc["rejected"] == rej_low.sum() + rej_high.sum()


def test_infinite_samples_are_rejected_not_missing(tmp_path):
    """+-inf in a float frame is a sample, always rejected (counted in the maps), as through the API; cfitsio's
    null check would have made it NaN, missing. BLANK in an integer frame is still missing."""
    paths = []
    for j, v in enumerate([np.inf, -np.inf, 1.0, 2.0]):
        d = np.full((2, 2), 10.0 + j, np.float32)
        d[0, 0] = v
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], d)
    blank = fits.PrimaryHDU(np.full((2, 2), 12, np.int16))
    blank.header["BLANK"] = -32768
    blank.data[1, 1] = -32768
    paths.append(str(tmp_path / "blank.fits"))
    blank.writeto(paths[-1])
    low, high = tmp_path / "low.fits", tmp_path / "high.fits"
    doc = run_ok("-o", str(tmp_path / "out.fits"), *paths, "--reject", "sigma", "--rejected", f"{low},{high}")
    assert (read(low)[0][0, 0], read(high)[0][0, 0]) == (1, 1)
    assert doc["missing"] == 1 and doc["rejected"] >= 2


def test_three_plane_cubes_stack_each_plane(tmp_path):
    n, shape = 9, (3, 17, 13)  # NAXIS3 = 3 planes (channels)
    data = frames_data(n, shape, seed=2)
    paths = []
    for j in range(n):
        paths.append(str(tmp_path / f"c{j}.fits"))
        write(paths[-1], data[j])
    out = tmp_path / "out.fits"
    doc = run_ok("-o", str(out), *paths, "--reject", "sigma", "--sigma-low", "2.5", "--sigma-high", "2",
                 "--max-iters", "3")
    assert doc["channels"] == 3
    mean, _, _, _ = reference_sigma_clip(as_read(data), 2.5, 2.0, 3)
    image, header = read(out)
    assert header["NAXIS"] == 3 and header["NAXIS3"] == 3
    assert_close(image, mean)


def test_cube_of_one_plane_and_image_extensions(tmp_path):
    """A primary with no pixels and the image in an extension, a 1-plane cube,
    and a tile-compressed image are all frames of the same shape."""
    data = frames_data(6, (11, 14), seed=3)
    paths = []
    for j in range(6):
        path = str(tmp_path / f"e{j}.fits")
        if j % 3 == 0:  # the first frame too: its header is copied from a compressed HDU
            header = fits.Header([("OBJECT", "packed")])
            fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data[j], header=header, compression_type="GZIP_1",
                                                              quantize_level=0)]).writeto(path)
        elif j % 3 == 1:
            fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data[j], name="SCI")]).writeto(path)
        else:
            fits.PrimaryHDU(data[j][None]).writeto(path)
        paths.append(path)
    out = tmp_path / "out.fits"
    run_ok("-o", str(out), *paths, "--combine", "median")
    image, header = read(out)
    assert header["OBJECT"] == "packed" and header["NAXIS"] == 2 and header["BITPIX"] == -32
    assert "ZIMAGE" not in header and "ZBITPIX" not in header and "TFORM1" not in header
    back = []
    for path in paths:
        with fits.open(path) as f:
            back.append(next(h.data for h in f if h.data is not None).reshape(11, 14))
    assert_close(image, np.median(as_read(back), axis=0))


@pytest.mark.parametrize("combine", ["mean", "sum", "median", "min", "max"])
def test_combines_without_rejection_match_numpy(tmp_path, combine):
    data = frames_data(7, (8, 9), seed=4)
    paths = []
    for j in range(7):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    out = tmp_path / "out.fits"
    run_ok("-o", str(out), *paths, "--combine", combine)
    expected = getattr(np, combine)(data.astype(np.float64), axis=0)
    assert_close(read(out)[0], expected)


def test_percentile_and_minmax_rejection(tmp_path):
    data = frames_data(10, (6, 7), seed=5)
    paths = []
    for j in range(10):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    d = data.astype(np.float64)
    out = tmp_path / "p.fits"
    run_ok("-o", str(out), *paths, "--reject", "percentile", "--percentile-low", "20", "--percentile-high", "80")
    lo, hi = np.percentile(d, 20, axis=0), np.percentile(d, 80, axis=0)
    keep = (d >= lo) & (d <= hi)
    assert_close(read(out)[0], np.where(keep, d, 0).sum(0) / keep.sum(0))
    out = tmp_path / "m.fits"
    run_ok("-o", str(out), *paths, "--reject", "minmax", "--minmax-low", "2", "--minmax-high", "1")
    s = np.sort(d, axis=0)
    assert_close(read(out)[0], s[2:-1].mean(axis=0))


def test_additive_normalization(tmp_path):
    data = frames_data(5, (9, 10), seed=6, outliers=False)
    data += np.arange(5, dtype=np.float32)[:, None, None] * 10
    paths = []
    for j in range(5):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    out = tmp_path / "out.fits"
    run_ok("-o", str(out), *paths, "--normalize", "add", "--reference", "2")
    d = data.astype(np.float64)
    med = np.median(d.reshape(5, -1), axis=1)
    norm = (d + (med[1] - med)[:, None, None]).astype(np.float32).astype(np.float64)
    assert_close(read(out)[0], norm.mean(axis=0))


def test_multiplicative_and_linear_normalization(tmp_path):
    data = frames_data(5, (9, 10), seed=16, outliers=False)
    data *= np.linspace(0.8, 1.2, 5, dtype=np.float32)[:, None, None]
    paths = []
    for j in range(5):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    out = tmp_path / "mul.fits"
    run_ok("-o", str(out), *paths, "--normalize", "mul")
    d = data.astype(np.float64)
    med = np.median(d.reshape(5, -1), axis=1)
    norm = (d * (med[0] / med)[:, None, None]).astype(np.float32).astype(np.float64)
    assert_close(read(out)[0], norm.mean(axis=0))
    out = tmp_path / "linear.fits"
    doc = run_ok("-o", str(out), *paths, "--normalize", "linear", "--reject", "sigma", "--weights", "noise")
    assert doc["options"]["normalize"] == "linear" and doc["frame_stats_s"] > 0
    assert np.isfinite(read(out)[0]).all()


def test_weights_file(tmp_path):
    data = frames_data(4, (5, 6), seed=7)
    paths = []
    for j in range(4):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    weights = tmp_path / "w.txt"
    weights.write_text("# weight per frame\n1\n\n2.5\n0\n  4  \n")
    out = tmp_path / "out.fits"
    doc = run_ok("-o", str(out), *paths, "--weights", str(weights))
    assert doc["options"]["combine"] == "wmean"
    expected = np.average(data.astype(np.float64), axis=0, weights=[1, 2.5, 0, 4])
    assert_close(read(out)[0], expected)
    doc = run_ok("-o", str(tmp_path / "noise.fits"), *paths, "--weights", "noise")
    assert doc["options"]["weights"] == "noise"


def test_header_copied_with_history(tmp_path):
    header = fits.Header()
    header["OBJECT"] = "M31"
    header["EXPTIME"] = (10.0, "seconds")
    header["BUNIT"] = "adu"
    header["DATAMIN"] = 0
    header["CTYPE1"] = "RA---TAN"
    header["COMMENT"] = "from the camera"
    data = frames_data(3, (4, 5), seed=8, outliers=False)
    paths = []
    for j in range(3):
        paths.append(str(tmp_path / f"f{j}.fits"))
        h = header.copy()
        h["FRAME"] = j
        write(paths[-1], data[j], header=h, bitpix=16, bscale=0.01, bzero=100.0)
    out, count = tmp_path / "out.fits", tmp_path / "count.fits"
    run_ok("-o", str(out), *paths, "--reject", "sigma", "--count", str(count))
    _, h = read(out)
    assert h["BITPIX"] == -32 and h["NAXIS"] == 2
    assert h["OBJECT"] == "M31" and h["EXPTIME"] == 10.0 and h["CTYPE1"] == "RA---TAN"
    assert h["FRAME"] == 0 and h["BUNIT"] == "adu"
    assert "from the camera" in str(h["COMMENT"])
    for key in ("BSCALE", "BZERO", "BLANK", "DATAMIN", "CHECKSUM"):
        assert key not in h
    history = "\n".join(str(v) for v in h["HISTORY"])
    assert "Parallax" in history and "3 frames" in history
    assert "reject sigma (low 3, high 3, max 5 iterations, centre median)" in history
    assert "normalize none" in history and "weights none" in history
    assert h["NCOMBINE"] == 3 and "DATE" in h
    counts, ch = read(count)
    assert ch["BITPIX"] == 32 and "BUNIT" not in ch and ch["OBJECT"] == "M31"
    assert (counts == 3).all()
    # A header is ASCII: a first frame named in UTF-8 keeps its bytes, escaped.
    accented = str(tmp_path / "caf\u00e9.fits")
    os.rename(paths[0], accented)
    run_ok("-o", str(out), accented, *paths[1:], "--overwrite")
    history = "".join(str(v) for v in read(out)[1]["HISTORY"])
    assert "caf\\xC3\\xA9.fits" in history, history


# ---- inputs -----------------------------------------------------------------


def test_list_with_comments_and_relative_paths(tmp_path):
    frames = tmp_path / "night" / "frames"
    frames.mkdir(parents=True)
    data = frames_data(5, (6, 6), seed=9)
    names = []
    for j in range(5):
        names.append(f"frames/f{j}.fits")
        write(str(tmp_path / "night" / names[-1]), data[j])
    extra = tmp_path / "extra.fits"
    write(str(extra), data[0])
    listing = tmp_path / "night" / "frames.txt"
    listing.write_text("# tonight's frames\n\n" + "\n".join(names[:3]) + "\r\n   \n  # skipped\n" +
                       "\n".join(names[3:]) + "\n")
    out = tmp_path / "out.fits"
    # Run from elsewhere: the list's paths are relative to the list.
    doc = run_ok("-o", str(out), "--list", str(listing), str(extra), cwd="/")
    assert doc["frames"] == 6 and doc["files"] == 6
    expected = np.concatenate([data, data[:1]]).astype(np.float64).mean(axis=0)
    assert_close(read(out)[0], expected)


def write_fast(path, frame, header_bytes):
    """A small float32 FITS file without astropy's per-file overhead."""
    body = frame.astype(">f4").tobytes()
    with open(path, "wb") as f:
        f.write(header_bytes + body + b"\0" * (-len(body) % 2880))


def test_thousands_of_inputs_with_few_open_files(tmp_path):
    n, shape = 1100, (12, 10)
    data = frames_data(n, shape, seed=10, outliers=False)
    header = fits.PrimaryHDU(data[0]).header.tostring().encode()
    listing = []
    for j in range(n):
        write_fast(str(tmp_path / f"f{j:04d}.fits"), data[j], header)
        listing.append(f"f{j:04d}.fits")
    (tmp_path / "all.txt").write_text("\n".join(listing))

    def few_files():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    expected = data.astype(np.float64).mean(axis=0)
    out = tmp_path / "out.fits"
    doc = run_ok("-o", str(out), "--list", str(tmp_path / "all.txt"), preexec_fn=few_files)
    assert doc["frames"] == n
    assert doc["open_files_peak"] <= doc["open_files_limit"] < 256
    assert doc["file_opens"] >= n
    assert_close(read(out)[0], expected)
    # A pool of 3 handles for 1100 files, shared by the workers.
    out = tmp_path / "out3.fits"
    doc = run_ok("-o", str(out), "--list", str(tmp_path / "all.txt"), "--max-open-files", "3", "--reject", "sigma",
                 preexec_fn=few_files)
    assert doc["open_files_peak"] <= 3
    assert_close(read(out)[0], reference_sigma_clip(as_read(data))[0])


def test_same_file_twice_is_two_frames(tmp_path):
    data = frames_data(2, (5, 5), seed=11)
    a, b = str(tmp_path / "a.fits"), str(tmp_path / "b.fits")
    write(a, data[0])
    write(b, data[1])
    out = tmp_path / "out.fits"
    doc = run_ok("-o", str(out), a, b, a, os.path.relpath(a))
    assert doc["frames"] == 4 and doc["files"] == 2
    d = data.astype(np.float64)
    assert_close(read(out)[0], (3 * d[0] + d[1]) / 4)


# ---- failures: a clear message naming the file, and no output left -------------


@pytest.fixture
def two_frames(tmp_path):
    data = frames_data(2, (6, 8), seed=12)
    paths = [str(tmp_path / "a.fits"), str(tmp_path / "b.fits")]
    for path, frame in zip(paths, data):
        write(path, frame)
    return paths


def assert_fails(tmp_path, args, *needles, out=None):
    out = out or tmp_path / "out.fits"
    result = run("-o", str(out), *args)
    assert result.returncode != 0
    message = result.stderr
    for needle in needles:
        assert needle in message, message
    assert not out.exists()
    assert leftovers(tmp_path) == []
    return message


def test_missing_file(tmp_path, two_frames):
    missing = str(tmp_path / "nope.fits")
    message = assert_fails(tmp_path, [*two_frames, missing], "parallax stack: no such file", f"({missing})")
    assert message.count("\n") == 1


def test_different_shapes(tmp_path, two_frames):
    other = str(tmp_path / "big.fits")
    write(other, np.zeros((7, 8), np.float32))
    assert_fails(tmp_path, [*two_frames, other], "different shape", "8 x 7", "8 x 6", f"({other})")
    cube = str(tmp_path / "cube.fits")
    write(cube, np.zeros((3, 6, 8), np.float32))
    assert_fails(tmp_path, [*two_frames, cube], "different shape", "8 x 6 x 3", cube)


def test_table_or_no_image(tmp_path, two_frames):
    table = str(tmp_path / "table.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="x", format="E", array=np.arange(3.0))])]).writeto(table)
    assert_fails(tmp_path, [*two_frames, table], "no image", "binary table", f"({table})")
    cube = str(tmp_path / "cube5.fits")
    write(cube, np.zeros((5, 6, 8), np.float32))
    assert_fails(tmp_path, [cube, *two_frames], "cube of 5 planes", cube)
    text = tmp_path / "notes.fits"
    text.write_text("not a FITS file at all\n")
    assert_fails(tmp_path, [*two_frames, str(text)], "not a readable FITS file", str(text))


def test_unreadable_list(tmp_path, two_frames):
    listing = str(tmp_path / "missing.txt")
    assert_fails(tmp_path, ["--list", listing], "cannot read the list of frames", f"({listing})")
    assert_fails(tmp_path, ["--list", str(tmp_path)], "list of frames is a directory", str(tmp_path))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert_fails(tmp_path, ["--list", str(empty)], "no input frames", str(empty))
    bad = tmp_path / "bad.txt"
    bad.write_text("a.fits\n# the next frame:\nzzz.fits\n")
    # In a list of thousands, the line is what the user looks for.
    assert_fails(tmp_path, ["--list", str(bad)], "no such file", f"({tmp_path / 'zzz.fits'}, line 3 of {bad})")


def test_list_from_the_standard_input_or_a_pipe(tmp_path, two_frames):
    """Names read from - or a pipe are relative to the working directory, not to /dev/fd."""
    names = "\n".join(os.path.basename(p) for p in two_frames) + "\n"
    out = tmp_path / "out.fits"
    result = subprocess.run([CLI, "stack", "-o", str(out), "--list", "-", "--json"], input=names,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["frames"] == 2
    result = subprocess.run(f"{CLI} stack -o {out} --overwrite --list <(printf '{names}')", shell=True,
                            executable="/bin/bash", capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([CLI, "stack", "-o", str(tmp_path / "x.fits"), "--list", "-"], input="a.fits\nzz.fits\n",
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0 and "(zz.fits, line 2 of the standard input)" in result.stderr, result.stderr


def test_pipes_and_unpadded_files_are_refused_at_the_check(tmp_path, two_frames):
    # A named pipe would block the check (or be read once); say so instead.
    fifo = tmp_path / "pipe.fits"
    os.mkfifo(fifo)
    assert_fails(tmp_path, [*two_frames, str(fifo)], "is a pipe", f"({fifo})")
    os.unlink(fifo)
    # Complete pixels without the padding FITS requires: cfitsio cannot read the
    # last block, so this is found before stacking, not midway.
    whole = open(two_frames[1], "rb").read()
    header = fits.getheader(two_frames[1])
    unpadded = tmp_path / "unpadded.fits"
    unpadded.write_bytes(whole[:whole.index(b"END" + b" " * 77) // 2880 * 2880 + 2880 + 6 * 8 * abs(header["BITPIX"]) // 8])
    assert_fails(tmp_path, [two_frames[0], str(unpadded)], "not padded to a multiple of 2880", f"({unpadded})")


def test_compressed_inputs_stay_open_only_as_many_as_the_budget_holds(tmp_path):
    """cfitsio holds an open .gz input decompressed in memory: 1 MiB frames against a quarter of a
    budget of 0.0001 x the available memory (under 1 MiB below 40 GB) leave one open at a time."""
    data = frames_data(3, (512, 512), seed=4)
    paths = []
    for j, frame in enumerate(data):
        plain = tmp_path / f"f{j}.fits"
        write(str(plain), frame)
        paths.append(str(plain) + ".gz")
        pathlib.Path(paths[-1]).write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
        plain.unlink()
    out = tmp_path / "out.fits"
    result = run("-o", str(out), *paths, "--ram-fraction", "0.0001", "--json")
    assert result.returncode == 0, result.stderr
    assert "3 inputs are compressed" in result.stderr and "gunzip" in result.stderr, result.stderr
    doc = json.loads(result.stdout)
    assert doc["open_files_limit"] == 1 and doc["file_opens"] > 3
    np.testing.assert_allclose(fits.getdata(out), np.mean(data, axis=0), rtol=RTOL)


def test_bad_weights(tmp_path, two_frames):
    weights = tmp_path / "w.txt"
    weights.write_text("1\n2\n3\n")
    assert_fails(tmp_path, [*two_frames, "--weights", str(weights)], "3 weights for 2 frames", str(weights))
    weights.write_text("1\nlots\n")
    assert_fails(tmp_path, [*two_frames, "--weights", str(weights)], "line 2", str(weights))
    assert_fails(tmp_path, [*two_frames, "--weights", str(tmp_path / "none.txt")], "weights file",
                 str(tmp_path / "none.txt"))
    assert_fails(tmp_path, [*two_frames, "--combine", "wmean"], "--combine wmean needs frame weights")
    assert_fails(tmp_path, [*two_frames, "--combine", "median", "--weights", "noise"], "wmean only")


@pytest.mark.parametrize("args, needle", [
    (["--combine", "average"], "--combine"),
    (["--reject", "clip"], "--reject"),
    (["--normalize", "yes"], "--normalize"),
    (["--sigma-low", "-1"], "--sigma-low"),
    (["--max-iters", "0"], "--max-iters"),
    (["--rejected", "only.fits"], "--rejected takes two files"),
    (["--device", "tpu"], "--device"),
    (["--reference", "3"], "--reference 3"),
    (["--reference", "0"], "--reference: must be a number >= 1, got '0'"),
    (["--max-open-files", "100000000"], "--max-open-files"),
    (["--reject", "percentile", "--percentile-low", "80", "--percentile-high", "20"],
     "--percentile-high must be from --percentile-low (80)"),
])
def test_bad_option_values(tmp_path, two_frames, args, needle):
    message = assert_fails(tmp_path, [*two_frames, *args], needle)
    assert "e+" not in message and "179769" not in message  # no range printed with all of a double's digits


def test_a_frame_the_library_refuses_is_named_by_its_file(tmp_path, two_frames):
    """The library counts frames from 0 and names its own options; the command names the file, its place in the
    list (from 1, as --reference) and the command's options."""
    const = str(tmp_path / "const.fits")
    write(const, np.full((6, 8), 5, np.float32))
    message = assert_fails(tmp_path, [two_frames[0], const, "--normalize", "linear"], "const.fits (frame 2) is constant")
    assert "--normalize add or mul" in message and "counting from 0" not in message and "plx_stack" not in message
    message = assert_fails(tmp_path, [two_frames[0], const, "--weights", "noise"], "const.fits (frame 2) has no noise")
    assert "--weights FILE" in message and "NOISE_VARIANCE" not in message


def test_outputs_exist_or_are_inputs(tmp_path, two_frames):
    out = tmp_path / "out.fits"
    out.write_text("precious")
    result = run("-o", str(out), *two_frames)
    assert result.returncode != 0 and "the output exists" in result.stderr and str(out) in result.stderr
    assert "--overwrite" in result.stderr
    assert out.read_text() == "precious"
    run_ok("-o", str(out), *two_frames, "--overwrite")
    assert read(out)[0].shape == (6, 8)
    for overwrite in ([], ["--overwrite"]):  # not told to pass --overwrite, which would not help
        result = run("-o", two_frames[0], *two_frames, *overwrite)
        assert result.returncode != 0 and "the output is also an input (" in result.stderr, result.stderr
        assert "--overwrite" not in result.stderr
    assert read(two_frames[0])[0].shape == (6, 8)
    assert_fails(tmp_path, [*two_frames], "directory", out=tmp_path / "no" / "such" / "out.fits")
    assert_fails(tmp_path, [*two_frames], "outputs are written uncompressed", out=tmp_path / "out.fits.gz")
    assert leftovers(tmp_path) == []


def test_truncated_frame_is_found_while_checking(tmp_path, two_frames):
    """The header is fine, the pixels are not all there: found with the inputs'
    check (a header promising 3.6 GB of pixels once made the output grow that
    large before failing), the message names the file, nothing is written."""
    bad = tmp_path / "cut.fits"
    write(str(bad), np.zeros((6, 8), np.float32))
    with open(bad, "r+b") as f:
        f.truncate(2880)
    message = assert_fails(tmp_path, [*two_frames, str(bad)], "the file is truncated", f"({bad})")
    assert "needs 3072 bytes" in message and "has 2880" in message
    cards = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    2",
             "NAXIS1  =                30000", "NAXIS2  =                30000", "END"]
    huge = tmp_path / "header-only.fits"
    huge.write_text("".join(card.ljust(80) for card in cards).ljust(2880))
    started = time.monotonic()
    assert_fails(tmp_path, [str(huge)], "the file is truncated", f"({huge})")
    assert time.monotonic() - started < 10
    gzipped = tmp_path / "cut.fits.gz"  # read through memory: its size is the decompressed one
    gzipped.write_bytes(gzip.compress(bad.read_bytes()))
    assert_fails(tmp_path, [*two_frames, str(gzipped)], "the file is truncated", f"({gzipped})")


def test_damaged_frame_fails_while_reading(tmp_path, two_frames):
    """A tile-compressed frame whose tiles are garbage passes the check (its
    header and sizes are fine) and fails in the tile reader: the message names
    the file and the rows, nothing is written."""
    bad = tmp_path / "damaged.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.ones((6, 8), np.float32), compression_type="GZIP_1",
                                                      quantize_level=0)]).writeto(bad)
    with fits.open(bad, disable_image_compression=True) as f:
        heap = f[1].header["THEAP"] if "THEAP" in f[1].header else f[1].header["NAXIS1"] * f[1].header["NAXIS2"]
        start = f[1]._data_offset + heap
    raw = bytearray(bad.read_bytes())
    raw[start:start + 40] = b"\x55" * 40
    bad.write_bytes(bytes(raw))
    assert_fails(tmp_path, [*two_frames, str(bad)], "reading rows", "of frame 3", f"({bad})", "damaged")


def test_compressed_unsigned_first_frame(tmp_path):
    """astropy's tile-compressed uint16 (BITPIX 16, BZERO 32768 in the table's
    header, before the compression keywords) as the first frame: its header is
    the output's, less the scaling."""
    data = (30000 + 100 * np.random.default_rng(30).standard_normal((3, 9, 7))).astype(np.uint16)
    paths = []
    for j, frame in enumerate(data):
        path = tmp_path / f"u{j}.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(frame, header=fits.Header([("FILTER", "R")]))]).writeto(path)
        paths.append(str(path))
    out = tmp_path / "out.fits"
    run_ok("-o", str(out), *paths)
    image, header = read(out)
    assert header["FILTER"] == "R" and header["BITPIX"] == -32
    assert "BZERO" not in header and "BSCALE" not in header and "XTENSION" not in header
    assert_close(image, data.astype(np.float64).mean(axis=0))


def test_extension_image_inherits_the_primary_keywords(tmp_path):
    """An image in an extension after a primary without pixels: the output has
    the primary's keywords it lacks (FITS's INHERIT convention), its own win;
    none with INHERIT = F."""
    frame = np.ones((4, 5), np.float32)
    primary = fits.PrimaryHDU(header=fits.Header([("TELESCOP", "S50"), ("DATE-OBS", "2024-01-01"),
                                                  ("OBJECT", "primary")]))
    mef = tmp_path / "mef.fits"
    fits.HDUList([primary, fits.ImageHDU(frame, header=fits.Header([("OBJECT", "M31")]))]).writeto(mef)
    out = tmp_path / "out.fits"
    run_ok("-o", str(out), str(mef))
    _, header = read(out)
    assert header["TELESCOP"] == "S50" and header["DATE-OBS"] == "2024-01-01" and header["OBJECT"] == "M31"
    assert list(header.keys()).count("OBJECT") == 1 and "INHERIT" not in header
    alone = tmp_path / "alone.fits"
    fits.HDUList([primary, fits.ImageHDU(frame, header=fits.Header([("INHERIT", False)]))]).writeto(alone)
    run_ok("-o", str(out), str(alone), "--overwrite")
    _, header = read(out)
    assert "TELESCOP" not in header and "INHERIT" not in header
    again = tmp_path / "again.fits"
    run_ok("-o", str(again), str(out))  # a frame cfitsio wrote: its COMMENT cards citing FITS are not doubled
    _, header = read(again)
    assert sum("Flexible Image Transport System" in card for card in header["COMMENT"]) == 1


def test_outputs_through_links_and_devices(tmp_path, two_frames):
    """A link as the output: its target is replaced and the link kept (the temporary file goes beside the
    target). A device (-o /dev/null): refused, since renaming over it would replace it with a file."""
    target = tmp_path / "elsewhere" / "target.fits"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.fits"
    link.symlink_to(target)
    run_ok("-o", str(link), *two_frames, "--overwrite")
    assert link.is_symlink() and fits.getdata(target).shape == (6, 8)
    assert leftovers(tmp_path) == [] and leftovers(target.parent) == []
    result = run("-o", "/dev/null", *two_frames, "--overwrite")
    assert result.returncode != 0 and "not a regular file" in result.stderr, result.stderr
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    dangling = tmp_path / "dangling.fits"
    dangling.symlink_to(tmp_path / "nowhere" / "x.fits")
    result = run("-o", str(dangling), *two_frames)
    assert result.returncode != 0 and "symbolic link to nothing" in result.stderr, result.stderr


def test_same_output_spelled_two_ways(tmp_path, two_frames):
    (tmp_path / "d").mkdir()
    assert_fails(tmp_path, [*two_frames, "--count", str(tmp_path / "d" / ".." / "out.fits")],
                 "the same output is given twice")
    message = assert_fails(tmp_path, [*two_frames, "--reject", "sigma", "--rejected",
                                      f"{tmp_path}/lo.fits,{tmp_path}/./lo.fits"], "the same output is given twice")
    assert not (tmp_path / "lo.fits").exists(), message


def test_list_with_a_byte_order_mark_and_non_utf8_names(tmp_path, two_frames):
    listing = tmp_path / "bom.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + "\n".join(os.path.basename(p) for p in two_frames).encode() + b"\n")
    run_ok("-o", str(tmp_path / "out.fits"), "--list", str(listing))
    latin1 = os.path.join(os.fsencode(tmp_path), b"out\xe9.fits")  # not UTF-8: JSON says U+FFFD
    result = subprocess.run([os.fsencode(CLI), b"stack", b"-o", latin1, *map(os.fsencode, two_frames), b"--json"],
                            capture_output=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["image"].endswith("out\ufffd.fits")
    assert os.path.exists(latin1)


def test_minmax_rejecting_every_sample_is_refused(tmp_path, two_frames):
    assert_fails(tmp_path, [*two_frames, "--reject", "minmax", "--minmax-low", "1", "--minmax-high", "1"],
                 "reject 2 samples of each pixel, but there are 2 frames")


def test_gpu_required_without_a_device(tmp_path, two_frames):
    result = run("-o", str(tmp_path / "out.fits"), *two_frames, "--device", "gpu", "--device-filter", "no-such-device")
    assert result.returncode != 0 and "parallax stack:" in result.stderr
    assert not (tmp_path / "out.fits").exists() and leftovers(tmp_path) == []


def test_opencl_path_agrees_with_the_cpu(tmp_path):
    """--device gpu on PoCL (a CPU OpenCL device, --device-types cpu) gives the CPU path's image."""
    data = frames_data(15, (3, 21, 33), seed=15)
    paths = []
    for j in range(15):
        paths.append(str(tmp_path / f"f{j}.fits"))
        write(paths[-1], data[j])
    on_cpu, on_device = tmp_path / "cpu.fits", tmp_path / "device.fits"
    count_cpu, count_device = tmp_path / "count_cpu.fits", tmp_path / "count_device.fits"
    run_ok("-o", str(on_cpu), *paths, "--reject", "sigma", "--device", "cpu", "--count", str(count_cpu))
    result = run("-o", str(on_device), *paths, "--reject", "sigma", "--device", "gpu", "--device-types", "cpu",
                 "--count", str(count_device), "--json")
    if result.returncode != 0 and "PLX_ERR_NO_DEVICE" in result.stderr:
        pytest.skip("no OpenCL device with double precision: " + result.stderr.strip())
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["device_index"] >= 0 and doc["device"] != "cpu"
    assert_close(read(on_device)[0], read(on_cpu)[0].astype(np.float64))
    np.testing.assert_array_equal(read(count_device)[0], read(count_cpu)[0])


@pytest.mark.parametrize("signals, status", [((signal.SIGINT,), 130), ((signal.SIGTERM,), 143),
                                             ((signal.SIGINT, signal.SIGINT), 130)])
def test_interrupt_removes_the_temporary_outputs(tmp_path, signals, status):
    """Ctrl-C or SIGTERM while stacking: exit 128 + the signal, no output, no temporary file; a second signal
    ("again to kill at once") ends the process at once and removes them too."""
    write(str(tmp_path / "one.fits"), frames_data(1, (64, 64), seed=14)[0])
    (tmp_path / "many.txt").write_text("one.fits\n" * 40000)
    out = tmp_path / "out.fits"
    process = subprocess.Popen([CLI, "stack", "--list", str(tmp_path / "many.txt"), "-o", str(out), "--reject",
                                "sigma", "--count", str(tmp_path / "count.fits")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    for sig in signals:
        process.send_signal(sig)
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:  # finished before the signal: nothing to check
        pytest.skip("the stack ended before it could be interrupted")
    assert process.returncode == status, stderr
    assert "again to kill at once" in stderr
    if len(signals) == 1:
        assert "interrupted; no output written" in stderr
    assert not out.exists() and not (tmp_path / "count.fits").exists()
    assert leftovers(tmp_path) == []


# ---- the terminal ---------------------------------------------------------------


def test_summary_and_progress_bar_on_a_terminal(tmp_path, two_frames):
    out = tmp_path / "out.fits"
    result, tty_text = run_with_tty_stderr([CLI, "stack", "-o", str(out), *two_frames, "--reject", "sigma"])
    assert result.returncode == 0
    assert "%" in tty_text and ("stacking" in tty_text or "checking inputs" in tty_text)
    # Normalization measures the frames first: that phase, then the stack's, each under its own label.
    result, tty_text = run_with_tty_stderr(
        [CLI, "stack", "-o", str(out), "--overwrite", *two_frames, "--normalize", "add"])
    assert result.returncode == 0, result.stderr
    assert "measuring frames [" in tty_text and "stacking [" in tty_text, tty_text
    assert tty_text.rindex("measuring frames [") < tty_text.index("stacking ["), tty_text
    summary = result.stdout
    assert "Stacked 2 frames of 8 x 6 (48 pixels) into" in summary
    assert "samples rejected" in summary
    assert "read " in summary and "compute " in summary and "write " in summary
