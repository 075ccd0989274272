"""Parallax: plans heavy image-processing loops for the machine this process
may really use (CPUs, memory budgets, OpenCL devices).

A ctypes binding of libparallax's C API. The library is $PARALLAX_LIBRARY
when that is set; otherwise the first of build/src/libparallax.so.0 in a
directory above this package, then the system's libparallax.so.0.

>>> import parallax
>>> with parallax.Runtime() as rt:
...     plan = rt.plan(items=13000, bytes_per_item=24883200)
...     print(plan.cpu_workers, plan.items_per_chunk, plan.reasons)
...     rt.parallel_for(lambda begin, end, worker: load(begin, end), 13000, plan=plan)

Runtime.parallel_for, parallel_reduce, run_tasks and their async forms run Python
callbacks on the runtime's threads; those callbacks hold the GIL, so they are for
orchestration, progress and I/O-bound work (see parallax.execution).

Runtime.kernel builds OpenCL C for the runtime's devices; Kernel.run_rows runs it over
rows of NumPy arrays of any size, zero-copy (see parallax.device):

>>> with parallax.Runtime(device_types=["cpu", "gpu", "accelerator"]) as rt, rt.kernel(AXPB, "axpb") as k:
...     k.run_rows([x], [y], [np.float32(2), np.float32(1)])

parallax.stack combines N registered frames (an (N, H, W) or (N, C, H, W) array, a list of frames, or a callable
making pixels on demand) with outlier rejection, in C++ across all CPUs or on a GPU; sigma_clipped_mean is a
drop-in for astropy's sigma_clip(...).mean(axis=0) (see parallax.stack):

>>> r = parallax.stack(cube, reject="sigma_clip", sigma=3, return_rejected=True)
>>> r.image, r.count, r.rejected_high
>>> mean = parallax.sigma_clipped_mean(cube, axis=0, sigma=3, maxiters=5)

parallax.coadd resamples images onto one output grid and combines them (a mosaic), each input given with a WCS or
FITS header, an affine or homography matrix, or a Python coordinate map; reproject_and_coadd is a drop-in for
reproject's function of that name with reproject_interp (see parallax.coadd):

>>> image, footprint = parallax.coadd([(a, header_a), (b, wcs_b)], output_wcs=mosaic_header, combine="mean")
>>> image, footprint = parallax.reproject_and_coadd([hdu_a, hdu_b], mosaic_header)

parallax.gemm multiplies NumPy matrices (float32 or float64, C or Fortran order without copies), C = alpha op(A) op(B)
+ beta C, on the CPU through OpenBLAS or on an OpenCL device through CLBlast (see parallax.gemm):

>>> c = parallax.gemm(a, b)                                  # a @ b
>>> parallax.gemm(a, b, c, alpha=2, beta=1, trans_b=True)    # c = 2 a @ b.T + c, in place
"""
import logging as _logging

from .errors import (BufferTooSmallError, CancelledError, DeviceError, Error, InternalError, InvalidArgumentError,
                     IoError, LibraryNotFoundError, LibraryVersionError, NoDeviceError, OutOfMemoryError, TaskError,
                     TaskFailedError, TimeoutError, UnsupportedError, VersionError)
from .versions import VersionInfo, abi_compatible, status_string, version, version_info
from .plan import Plan, PlanDevice
from .execution import CancelToken, Job, Progress, RunReport, Task, TaskContext, TaskResult, TaskResults
from .device import Buffer, DeviceFigures, Kernel, Local, RowsProvider
from .runtime import Caps, Device, Runtime
from .stack import StackResult, sigma_clipped_mean, stack, stack_plan
from .coadd import CoaddInfo, coadd, reproject_and_coadd
from .gemm import GemmInfo, gemm

__version__ = "0.1.0"

# A library logs nothing by default: the application configures handlers.
_logging.getLogger("parallax").addHandler(_logging.NullHandler())

__all__ = [
    "Runtime", "Caps", "Device", "Plan", "PlanDevice",
    "Kernel", "Buffer", "RowsProvider", "Local", "DeviceFigures",
    "stack", "stack_plan", "sigma_clipped_mean", "StackResult",
    "coadd", "reproject_and_coadd", "CoaddInfo",
    "gemm", "GemmInfo",
    "RunReport", "Progress", "Task", "TaskContext", "TaskResult", "TaskResults", "CancelToken", "Job",
    "version", "version_info", "VersionInfo", "abi_compatible", "status_string",
    "Error", "InvalidArgumentError", "OutOfMemoryError", "DeviceError", "NoDeviceError", "CancelledError",
    "TaskError", "TaskFailedError", "UnsupportedError", "VersionError", "IoError", "InternalError",
    "BufferTooSmallError", "TimeoutError", "LibraryNotFoundError", "LibraryVersionError",
]
