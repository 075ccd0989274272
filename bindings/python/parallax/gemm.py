"""Matrix multiply (plx_gemm): ``alpha op(a) @ op(b) + beta c`` on NumPy arrays, in single or double precision, on the
CPU (OpenBLAS with the runtime's thread count) or an OpenCL device through CLBlast.

>>> import numpy as np, parallax
>>> a = np.random.rand(1000, 500).astype(np.float32)
>>> b = np.random.rand(500, 300).astype(np.float32)
>>> c = parallax.gemm(a, b)                                    # a @ b, a new float32 array
>>> parallax.gemm(a, b.T, c, alpha=2, beta=1, trans_b=True)    # c = 2 a @ b + c, in place
>>> batch = parallax.gemm(np.random.rand(8, 64, 32), np.random.rand(32, 16))   # 8 products, b shared

Arrays are read in place (zero-copy) when they are float32 or float64, native and aligned, with one unit stride: a
C-ordered array, a Fortran-ordered one (read as the transpose of a C-ordered one, which costs nothing), or a slice of
either with rows (or columns) further apart. Anything else (integers, a mix of float32 and float64, views with two
non-unit strides, negative strides) is copied once, before the call; ``return_info=True`` says how many were.

Semantics are BLAS's: ``beta = 0`` (the default) does not read ``c``, so NaN or garbage there does not propagate;
``alpha = 0`` or an inner dimension of 0 gives ``beta c`` without reading ``a`` or ``b``. Single-precision products
are accumulated in single precision, so they agree with ``numpy.matmul`` to about 1e-6 relative, not to the bit.

``parallax.gemm`` is the function; :class:`GemmInfo` comes with ``from parallax.gemm import GemmInfo``.
"""
from __future__ import annotations

from ctypes import byref, pointer, sizeof
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from . import _abi, _args
from ._handle import running
from ._library import lib
from .errors import InvalidArgumentError
from .execution import _nonnegative
from .runtime import Runtime
from .stack import _runtime

__all__ = ["gemm", "GemmInfo"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class GemmInfo:
    """What a :func:`gemm` call did (plx_gemm_result_t), returned with ``return_info=True``."""

    device_index: Optional[int]  #: the OpenCL device that multiplied; None: the CPU
    workers: int  #: CPU threads of the CPU path (0 on a device)
    tiles: int  #: device: tiles of C (times k tiles) multiplied
    splits: int  #: device: times the tiles were halved after running out of memory
    fallback: bool  #: a device failed and the CPU did (the rest of) the work
    seconds: float
    gflops: float
    path: str  #: "openblas", "blocked", "clblast" or "scale"
    copied: int  #: operands the binding copied (layout or dtype) before the call


def _layout(x: np.ndarray) -> Optional[Tuple[bool, int]]:
    """(row_major, ld) of a 2-D array the library can read in place, or None."""
    if x.dtype not in _FLOATS or not x.dtype.isnative or not x.flags.aligned:
        return None
    rows, cols = x.shape
    size = x.itemsize
    if x.strides[0] % size or x.strides[1] % size:
        return None
    s0, s1 = x.strides[0] // size, x.strides[1] // size
    if cols <= 1 or s1 == 1:  # rows contiguous
        ld = s0 if rows > 1 else max(cols, 1)
        if ld >= max(cols, 1):
            return True, ld
    if rows <= 1 or s0 == 1:  # columns contiguous
        ld = s1 if cols > 1 else max(rows, 1)
        if ld >= max(rows, 1):
            return False, ld
    return None


def _matrix_stride(x: np.ndarray) -> int:
    """Elements between the matrices of a 3-D array (0 for a 2-D one, shared by every product)."""
    if x.ndim == 2:
        return 0
    if x.strides[0] % x.itemsize or x.strides[0] < 0:
        return -1
    return x.strides[0] // x.itemsize if x.shape[0] > 1 else 0


def _placement(x: np.ndarray) -> Optional[Tuple[bool, int, int]]:
    """(row_major, ld, stride between matrices) of a 2-D or 3-D array the library can read in place, or None."""
    rows, cols = x.shape[-2:]
    stride = _matrix_stride(x)
    if stride < 0:
        return None
    if x.size == 0:  # nothing is read: any consistent layout
        return True, max(cols, 1), 0
    layout = _layout(x if x.ndim == 2 else x[0])
    return None if layout is None else (layout[0], layout[1], stride)


class _Operand:
    """An input as the call reads it: the array (maybe a copy), its layout and the stride between batch items."""

    def __init__(self, name: str, value: Any, dtype: np.dtype) -> None:
        array, copied = _args.real_array(name, value, "matrix multiply")
        if array.ndim not in (2, 3):
            raise InvalidArgumentError(f"{name} must be a matrix (2-D) or a stack of matrices (3-D); got an array of "
                                       f"shape {array.shape}")
        self.copied = int(copied)
        if array.dtype != dtype:
            array, self.copied = array.astype(dtype), 1
        placement = _placement(array)
        if placement is None:
            array, self.copied = np.ascontiguousarray(array), 1
            placement = _placement(array)
        self.array = array
        self.row_major, self.ld, self.stride = placement
        self.batch = array.shape[0] if array.ndim == 3 else None
        self.shape = array.shape[-2:]


def gemm(a: Any, b: Any, c: Optional[np.ndarray] = None, alpha: float = 1.0, beta: float = 0.0,
         trans_a: bool = False, trans_b: bool = False, *, device: str = "auto", runtime: Optional[Runtime] = None,
         workers: Optional[int] = None, return_info: bool = False) -> Any:
    """``alpha op(a) @ op(b) + beta c`` (plx_gemm; plx_gemm_batched_strided for stacks of matrices).

    :param a: an (m, k) matrix, or (k, m) with ``trans_a``; or a stack (batch, m, k) of them.
    :param b: a (k, n) matrix, or (n, k) with ``trans_b``; or a stack (batch, k, n). A 2-D operand is shared by every
        product of a stack.
    :param c: the (m, n) result (a stack (batch, m, n) for stacks), updated in place and returned: a writable array of
        the result's dtype with one unit stride (C or Fortran order, or a slice of one). None (default): a new
        C-ordered array (``beta`` must then be 0).
    :param alpha: scales the product; NaN propagates.
    :param beta: scales ``c`` (0: ``c`` is not read).
    :param trans_a: use the transpose of each ``a`` (no copy is made).
    :param trans_b: use the transpose of each ``b``.
    :param device: "auto" (default: a GPU when it is estimated to win, see plx_gemm), "cpu" or "gpu".
    :param runtime: the :class:`Runtime`; None = :func:`parallax.stack.default_runtime`.
    :param workers: CPU threads of the CPU path; None = the runtime's CPUs.
    :param return_info: also return a :class:`GemmInfo`.
    :returns: ``c`` (then the :class:`GemmInfo` with ``return_info``). The dtype is float32 when ``a`` and ``b`` are
        both float32, else float64 (integers are read as float64).
    :raises InvalidArgumentError: shapes that do not multiply, a ``c`` of the wrong shape, dtype or layout, an unknown
        device name (and whatever the library refuses, its message naming the field).
    :raises NoDeviceError: ``device="gpu"`` without a usable OpenCL device (with double precision, for float64).
    """
    rt = _runtime(runtime)
    if not isinstance(trans_a, (bool, np.bool_)) or not isinstance(trans_b, (bool, np.bool_)):
        raise TypeError("trans_a and trans_b must be bools")
    dtypes = []
    for name, value in (("a", a), ("b", b)):
        array = np.asarray(value) if not np.ma.isMaskedArray(value) else value
        _args.check_real_dtype(name, array.dtype, "matrix multiply")
        dtypes.append(array.dtype)
    dtype = np.dtype(np.float32) if all(d == np.float32 for d in dtypes) else np.dtype(np.float64)
    A, B = _Operand("a", a, dtype), _Operand("b", b, dtype)
    m, k = A.shape[::-1] if trans_a else A.shape
    kb, n = B.shape[::-1] if trans_b else B.shape
    if k != kb:
        raise InvalidArgumentError(f"op(a) is {m} x {k} but op(b) is {kb} x {n}: the inner dimensions differ")
    batches = {x.batch for x in (A, B) if x.batch is not None}
    if len(batches) > 1:
        raise InvalidArgumentError(f"a and b are stacks of {A.batch} and {B.batch} matrices: give stacks of one length "
                                   "(or one matrix, shared)")
    batch = batches.pop() if batches else None
    out_shape = (m, n) if batch is None else (batch, m, n)
    if c is None:
        if beta != 0:
            raise InvalidArgumentError(f"beta = {beta} scales c, but c is None: pass c, or beta = 0")
        c = np.empty(out_shape, dtype)
    elif not isinstance(c, np.ndarray):
        raise InvalidArgumentError(f"c must be a NumPy array (updated in place), not {type(c).__name__}")
    if c.shape != out_shape:
        raise InvalidArgumentError(f"c has shape {c.shape} but the product is {out_shape}")
    if c.dtype != dtype:
        raise InvalidArgumentError(f"c has dtype {c.dtype} but the product of {dtypes[0]} and {dtypes[1]} is {dtype}: "
                                   f"pass a {dtype} c (it is updated in place)")
    if not c.flags.writeable:
        raise InvalidArgumentError("c is read-only: it is updated in place")
    placement = _placement(c) if c.dtype.isnative else None
    if placement is None or (batch is not None and batch > 1 and c.size and placement[2] == 0):
        raise InvalidArgumentError("c must have one unit stride (C or Fortran order, or a slice of one) and its "
                                   "matrices apart: it is updated in place, a copy would not be")
    row_major, ldc, c_stride = placement

    desc = _abi.plx_gemm_desc_t()
    lib.plx_gemm_desc_init(byref(desc), sizeof(desc))
    desc.precision = _abi.PLX_PRECISION_F32 if dtype == np.float32 else _abi.PLX_PRECISION_F64
    desc.layout = _abi.PLX_ROW_MAJOR if row_major else _abi.PLX_COL_MAJOR
    # An operand stored in the other layout is, in c's layout, its own transpose: flip its flag, keep the bytes.
    desc.trans_a = int(bool(trans_a) != (A.row_major != row_major))
    desc.trans_b = int(bool(trans_b) != (B.row_major != row_major))
    desc.m, desc.n, desc.k = m, n, k
    desc.alpha, desc.beta = float(alpha), float(beta)
    desc.a, desc.lda = A.array.ctypes.data, A.ld
    desc.b, desc.ldb = B.array.ctypes.data, B.ld
    desc.c, desc.ldc = c.ctypes.data, ldc
    desc.device = _args.choice("device", device, _abi.PREFERENCES)
    options = None
    if workers is not None:
        options = _abi.plx_run_options_t()
        lib.plx_run_options_init(byref(options), sizeof(options))
        options.workers = _nonnegative("workers", workers, 32)
        desc.run_options = pointer(options)
    result = _abi.plx_gemm_result_t(struct_size=sizeof(_abi.plx_gemm_result_t))
    with rt._use("gemm") as handle, running():
        if batch is None:
            lib.plx_gemm(handle, byref(desc), byref(result))
        else:
            lib.plx_gemm_batched_strided(handle, byref(desc), batch, A.stride, B.stride, c_stride, byref(result))
    copied = A.copied + B.copied
    del A, B  # alive until here: the library read them during the call
    if not return_info:
        return c
    info = GemmInfo(device_index=None if result.device_index < 0 else result.device_index, workers=result.workers,
                    tiles=result.tiles, splits=result.splits, fallback=bool(result.fallback), seconds=result.seconds,
                    gflops=result.gflops, path=result.path.decode(), copied=copied)
    return c, info
