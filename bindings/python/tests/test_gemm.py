"""parallax.gemm against numpy: dtypes, C and Fortran order without copies, transposes, slices, alpha / beta edge
cases (beta = 0 does not read c), stacks of matrices, the OpenCL path on PoCL, and refusals."""
import numpy as np
import pytest

import parallax
from parallax.gemm import GemmInfo

RNG = np.random.default_rng(5)
TOL = {np.float32: 1e-4, np.float64: 1e-12}


def rand(*shape, dtype=np.float64, order="C"):
    return np.asarray(RNG.uniform(-1, 1, shape), dtype=dtype, order=order)


def close(got, want, dtype):
    """Within TOL of the largest |want|: float32 sums are float32."""
    scale = max(float(np.max(np.abs(want))), 1e-30) if want.size else 1
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * scale)


@pytest.fixture
def cpu_rt():
    with parallax.Runtime(device_policy="cpu") as runtime:
        yield runtime


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order_a", ["C", "F"])
@pytest.mark.parametrize("order_b", ["C", "F"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_layouts_and_transposes_without_copies(cpu_rt, dtype, order_a, order_b, trans_a, trans_b):
    m, n, k = 37, 23, 41
    a = rand(*((k, m) if trans_a else (m, k)), dtype=dtype, order=order_a)
    b = rand(*((n, k) if trans_b else (k, n)), dtype=dtype, order=order_b)
    c, info = parallax.gemm(a, b, trans_a=trans_a, trans_b=trans_b, runtime=cpu_rt, return_info=True)
    assert isinstance(info, GemmInfo) and info.copied == 0 and info.device_index is None
    assert c.dtype == dtype and c.flags.c_contiguous
    close(c, (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64), dtype)


@pytest.mark.parametrize("order_c", ["C", "F"])
def test_c_updated_in_place_with_alpha_and_beta(cpu_rt, order_c):
    a, b = rand(30, 20), rand(20, 10)
    c = rand(30, 10, order=order_c)
    want = 2.5 * a @ b - 0.5 * c
    out = parallax.gemm(a, b, c, alpha=2.5, beta=-0.5, runtime=cpu_rt)
    assert out is c
    close(c, want, np.float64)


def test_slices_are_read_in_place_and_odd_views_copied(cpu_rt):
    big = rand(100, 80, dtype=np.float32)
    a = big[3:50:2, 5:40]  # rows further apart: read in place
    b = rand(35, 12, dtype=np.float32)[:, ::-1]  # negative stride: copied
    c, info = parallax.gemm(a, b, runtime=cpu_rt, return_info=True)
    assert info.copied == 1
    close(c, a.astype(np.float64) @ b.astype(np.float64), np.float32)
    out = np.full((60, 30), np.nan, np.float32)
    view = out[5:29, 2:14]  # a slice of c, written in place; the rest untouched
    parallax.gemm(a, b, view, runtime=cpu_rt)
    close(view, a.astype(np.float64) @ b.astype(np.float64), np.float32)
    assert np.isnan(out[:5]).all() and np.isnan(out[:, 14:]).all()


def test_dtypes(cpu_rt):
    a32, b32 = rand(8, 6, dtype=np.float32), rand(6, 4, dtype=np.float32)
    assert parallax.gemm(a32, b32, runtime=cpu_rt).dtype == np.float32
    c, info = parallax.gemm(a32, rand(6, 4), runtime=cpu_rt, return_info=True)  # mixed: float64, a copied
    assert c.dtype == np.float64 and info.copied == 1
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(parallax.gemm(ints, ints.T, runtime=cpu_rt), ints @ ints.T)
    with pytest.raises(parallax.InvalidArgumentError, match="real numbers"):
        parallax.gemm(a32.astype(np.complex64), b32, runtime=cpu_rt)


def test_blas_edge_cases(cpu_rt):
    a, b = rand(5, 4), rand(4, 3)
    c = np.full((5, 3), np.nan)
    close(parallax.gemm(a, b, c, beta=0.0, runtime=cpu_rt), a @ b, np.float64)  # beta = 0: NaN in c not read
    c = rand(5, 3)
    a_nan = np.full((5, 4), np.nan)
    close(parallax.gemm(a_nan, b, c.copy(), alpha=0.0, beta=2.0, runtime=cpu_rt), 2 * c, np.float64)  # alpha = 0
    close(parallax.gemm(rand(5, 0), rand(0, 3), c.copy(), beta=3.0, runtime=cpu_rt), 3 * c, np.float64)  # k = 0
    assert parallax.gemm(rand(0, 4), b, runtime=cpu_rt).shape == (0, 3)
    a[1, 2] = np.nan
    out = parallax.gemm(a, b, runtime=cpu_rt)
    assert np.isnan(out[1]).all() and not np.isnan(np.delete(out, 1, axis=0)).any()
    assert np.isnan(parallax.gemm(rand(2, 2), rand(2, 2), alpha=np.nan, runtime=cpu_rt)).all()


def test_stacks_of_matrices(cpu_rt):
    a, b = rand(6, 9, 7, dtype=np.float32), rand(7, 5, dtype=np.float32)  # b shared
    close(parallax.gemm(a, b, runtime=cpu_rt), a.astype(np.float64) @ b.astype(np.float64), np.float32)
    b3 = rand(6, 5, 7)
    c = rand(6, 9, 5)
    want = a.astype(np.float64) @ np.swapaxes(b3, 1, 2) + c
    out = parallax.gemm(a.astype(np.float64), b3, c, beta=1.0, trans_b=True, runtime=cpu_rt)
    close(out, want, np.float64)
    columns = np.swapaxes(rand(4, 3, 5), 1, 2)  # each matrix column-major: read in place
    b2 = rand(3, 2)
    out, info = parallax.gemm(columns, b2, runtime=cpu_rt, return_info=True)
    assert info.copied == 0
    close(out, columns @ b2, np.float64)


def test_workers_and_refusals(cpu_rt):
    a, b = rand(50, 40), rand(40, 30)
    _, info = parallax.gemm(a, b, workers=1, runtime=cpu_rt, return_info=True)
    assert info.workers == 1 and info.path in ("openblas", "blocked")
    with pytest.raises(parallax.InvalidArgumentError, match="inner dimensions"):
        parallax.gemm(rand(3, 4), rand(5, 2), runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="c has shape"):
        parallax.gemm(a, b, np.zeros((50, 31)), runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="c has dtype"):
        parallax.gemm(a, b, np.zeros((50, 30), np.float32), runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="beta"):
        parallax.gemm(a, b, beta=1.0, runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="one unit stride"):
        parallax.gemm(a, b, np.zeros((100, 60))[::2, ::2], runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="device"):
        parallax.gemm(a, b, device="tpu", runtime=cpu_rt)
    with pytest.raises(parallax.InvalidArgumentError, match="stacks of 3 and 4"):
        parallax.gemm(rand(3, 2, 2), rand(4, 2, 2), runtime=cpu_rt)
    with pytest.raises(parallax.NoDeviceError, match="GPU"):
        parallax.gemm(a, b, device="gpu", runtime=cpu_rt)


def test_on_the_pocl_device():
    with parallax.Runtime(device_types=["cpu"]) as rt:
        if rt.caps().device_count == 0:
            pytest.skip("no OpenCL device (PoCL is installed by make deps)")
        a, b = rand(33, 20, dtype=np.float32, order="F"), rand(20, 17, dtype=np.float32)
        c, info = parallax.gemm(a, b, device="gpu", runtime=rt, return_info=True)
        assert info.device_index == 0 and info.path == "clblast" and info.copied == 0
        close(c, a.astype(np.float64) @ b.astype(np.float64), np.float32)
        _, auto = parallax.gemm(a, b, runtime=rt, return_info=True)
        assert auto.device_index is None  # AUTO never picks a CPU OpenCL device
