"""Finds and loads libparallax, checks that it can serve this binding, and
declares every exported function's argtypes and restype. Every function that
returns a plx_status_t raises the matching :class:`parallax.Error` on failure,
with the message read right after the call on the calling thread."""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from ctypes import POINTER, byref, c_char, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32, c_void_p
from pathlib import Path
from typing import Any, Callable, List, Tuple

from . import _abi
from .errors import BufferTooSmallError, LibraryNotFoundError, LibraryVersionError, error_for_status

ENV_VAR = "PARALLAX_LIBRARY"
SONAME = "libparallax.so.0"

_STATUS = object()  # restype marker: returns plx_status_t, raises on failure
SIGNATURES = {
    "plx_version": (c_uint32, []),
    "plx_version_string": (c_char_p, []),
    "plx_abi_compatible": (c_int, [c_int, c_int]),
    "plx_status_string": (c_char_p, [_abi.plx_status_t]),
    "plx_last_error_message": (c_char_p, []),
    "plx_last_error_status": (_abi.plx_status_t, []),
    "plx_runtime_options_init": (_STATUS, [POINTER(_abi.plx_runtime_options_t), c_size_t]),
    "plx_runtime_create": (_STATUS, [POINTER(_abi.plx_runtime_options_t), POINTER(_abi.plx_runtime_p)]),
    "plx_runtime_destroy": (None, [_abi.plx_runtime_p]),
    "plx_runtime_describe_json": (_STATUS, [_abi.plx_runtime_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "plx_caps_get": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_caps_t)]),
    "plx_device_info_get": (_STATUS, [_abi.plx_runtime_p, c_int32, POINTER(_abi.plx_device_info_t)]),
    "plx_workload_init": (_STATUS, [POINTER(_abi.plx_workload_t), c_size_t]),
    "plx_plan_create": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_workload_t), POINTER(_abi.plx_plan_p)]),
    "plx_plan_destroy": (None, [_abi.plx_plan_p]),
    "plx_plan_get": (_STATUS, [_abi.plx_plan_p, POINTER(_abi.plx_plan_info_t)]),
    "plx_plan_device_get": (_STATUS, [_abi.plx_plan_p, c_int32, POINTER(_abi.plx_plan_device_t)]),
    "plx_plan_describe_json": (_STATUS, [_abi.plx_plan_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "plx_run_options_init": (_STATUS, [POINTER(_abi.plx_run_options_t), c_size_t]),
    "plx_parallel_for": (_STATUS, [_abi.plx_runtime_p, _abi.plx_plan_p, c_int64, c_int64, _abi.plx_range_fn, c_void_p,
                                   POINTER(_abi.plx_run_options_t)]),
    "plx_reduce_desc_init": (_STATUS, [POINTER(_abi.plx_reduce_desc_t), c_size_t]),
    "plx_parallel_reduce": (_STATUS, [_abi.plx_runtime_p, _abi.plx_plan_p, c_int64, c_int64,
                                      POINTER(_abi.plx_reduce_desc_t), c_void_p, POINTER(_abi.plx_run_options_t)]),
    "plx_tasks_run": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_task_t), c_int64, POINTER(_abi.plx_run_options_t),
                                POINTER(_abi.plx_task_result_t)]),
    "plx_cancel_token_create": (_STATUS, [POINTER(_abi.plx_cancel_token_p)]),
    "plx_cancel_token_cancel": (None, [_abi.plx_cancel_token_p]),
    "plx_cancel_token_is_cancelled": (c_int, [_abi.plx_cancel_token_p]),
    "plx_cancel_token_destroy": (None, [_abi.plx_cancel_token_p]),
    "plx_parallel_for_async": (_STATUS, [_abi.plx_runtime_p, _abi.plx_plan_p, c_int64, c_int64, _abi.plx_range_fn,
                                         c_void_p, POINTER(_abi.plx_run_options_t), POINTER(_abi.plx_job_p)]),
    "plx_tasks_submit": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_task_t), c_int64,
                                   POINTER(_abi.plx_run_options_t), POINTER(_abi.plx_task_result_t),
                                   POINTER(_abi.plx_job_p)]),
    "plx_job_wait": (_STATUS, [_abi.plx_job_p, c_int64]),
    "plx_job_poll": (_STATUS, [_abi.plx_job_p, POINTER(c_int)]),
    "plx_job_cancel": (_STATUS, [_abi.plx_job_p]),
    "plx_job_destroy": (None, [_abi.plx_job_p]),
    "plx_kernel_create": (_STATUS, [_abi.plx_runtime_p, c_char_p, c_char_p, c_char_p, POINTER(_abi.plx_kernel_p)]),
    "plx_kernel_destroy": (None, [_abi.plx_kernel_p]),
    "plx_kernel_devices": (_STATUS, [_abi.plx_kernel_p, POINTER(c_int32), c_int32, POINTER(c_int32)]),
    "plx_rows_desc_init": (_STATUS, [POINTER(_abi.plx_rows_desc_t), c_size_t]),
    "plx_kernel_run_rows": (_STATUS, [_abi.plx_kernel_p, _abi.plx_plan_p, POINTER(_abi.plx_rows_desc_t),
                                      POINTER(_abi.plx_run_options_t)]),
    "plx_buffer_create": (_STATUS, [_abi.plx_runtime_p, c_int32, c_int64, POINTER(_abi.plx_buffer_p)]),
    "plx_buffer_write": (_STATUS, [_abi.plx_buffer_p, c_int64, c_void_p, c_int64]),
    "plx_buffer_read": (_STATUS, [_abi.plx_buffer_p, c_int64, c_void_p, c_int64]),
    "plx_buffer_destroy": (None, [_abi.plx_buffer_p]),
    "plx_kernel_run": (_STATUS, [_abi.plx_kernel_p, c_int32, POINTER(_abi.plx_kernel_arg_t), c_int32, c_int32,
                                 POINTER(c_int64), POINTER(c_int64)]),
    "plx_device_measure": (_STATUS, [_abi.plx_runtime_p, c_int32, c_int64, c_int64,
                                     POINTER(_abi.plx_device_figures_t)]),
    "plx_stack_desc_init": (_STATUS, [POINTER(_abi.plx_stack_desc_t), c_size_t]),
    "plx_stack_result_init": (_STATUS, [POINTER(_abi.plx_stack_result_t), c_size_t]),
    "plx_stack": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_stack_desc_t), POINTER(_abi.plx_stack_result_t)]),
    "plx_stack_plan": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_stack_desc_t), POINTER(_abi.plx_plan_p)]),
    "plx_coadd_input_init": (_STATUS, [POINTER(_abi.plx_coadd_input_t), c_size_t]),
    "plx_coadd_desc_init": (_STATUS, [POINTER(_abi.plx_coadd_desc_t), c_size_t]),
    "plx_coadd_result_init": (_STATUS, [POINTER(_abi.plx_coadd_result_t), c_size_t]),
    "plx_coadd": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_coadd_desc_t), POINTER(_abi.plx_coadd_result_t)]),
    "plx_gemm_desc_init": (_STATUS, [POINTER(_abi.plx_gemm_desc_t), c_size_t]),
    "plx_gemm": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_gemm_desc_t), POINTER(_abi.plx_gemm_result_t)]),
    "plx_gemm_batched_strided": (_STATUS, [_abi.plx_runtime_p, POINTER(_abi.plx_gemm_desc_t), c_int64, c_int64,
                                           c_int64, c_int64, POINTER(_abi.plx_gemm_result_t)]),
    "plx_gemm_tune_options_init": (_STATUS, [POINTER(_abi.plx_gemm_tune_options_t), c_size_t]),
    "plx_gemm_tune": (_STATUS, [_abi.plx_runtime_p, c_int32, POINTER(_abi.plx_gemm_tune_options_t),
                                POINTER(_abi.plx_gemm_tune_result_t)]),
}


def _candidates() -> List[str]:
    """Where to look, in order. PARALLAX_LIBRARY, when set, is the only place."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [env]
    built = (d / "build" / "src" / SONAME for d in Path(__file__).resolve().parents)
    found = next((str(p) for p in built if p.is_file()), None)
    system = ctypes.util.find_library("parallax")
    return list(dict.fromkeys(name for name in (found, system, SONAME) if name))


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate), candidate
        except OSError as exc:
            tried.append(f"  {candidate}: {exc}")
    if not os.environ.get(ENV_VAR):
        tried.insert(0, f"  (no build/src/{SONAME} in any parent of {Path(__file__).resolve().parent})")
    raise LibraryNotFoundError(
        "cannot load libparallax; tried:\n" + "\n".join(tried) +
        f"\nSet {ENV_VAR} to the full path of {SONAME} (e.g. build/src/{SONAME} after `cmake --build build`).",
        status_name="PLX_ERR_IO")


def _check(result: int, func: Any, _args: Any) -> int:
    if result != 0:
        message = lib.plx_last_error_message().decode("utf-8", "replace")
        raise error_for_status(result, message or f"{func.__name__} failed")
    return result


def _declare(dll: ctypes.CDLL, where: str) -> ctypes.CDLL:
    def declare(name: str) -> None:
        restype, argtypes = SIGNATURES[name]
        try:
            fn = getattr(dll, name)
        except AttributeError:
            raise LibraryVersionError(f"{where} does not export {name}: it is not a libparallax "
                                      f"{_abi.HEADER_MAJOR}.x this binding can use; set {ENV_VAR} to one",
                                      status_name="PLX_ERR_VERSION") from None
        fn.argtypes = argtypes
        if restype is _STATUS:
            fn.restype, fn.errcheck = _abi.plx_status_t, _check
        else:
            fn.restype = restype

    for name in ("plx_version", "plx_version_string", "plx_abi_compatible"):
        declare(name)
    version = dll.plx_version()
    if not dll.plx_abi_compatible(_abi.HEADER_MAJOR, _abi.HEADER_MINOR) or version // 10000 != _abi.HEADER_MAJOR:
        raise LibraryVersionError(
            f"{where} is libparallax {dll.plx_version_string().decode()} (plx_version {version}), which cannot serve "
            f"this binding, written for header {_abi.HEADER_MAJOR}.{_abi.HEADER_MINOR}: it needs a library "
            f"{_abi.HEADER_MAJOR}.x with x >= {_abi.HEADER_MINOR}. Install one or set {ENV_VAR} to it.",
            status_name="PLX_ERR_VERSION")
    for name in SIGNATURES:
        declare(name)
    return dll


_dll, path = _load()
lib = _declare(_dll, path)


def json_out(fn: Callable[..., int], handle: Any) -> Any:
    """Calls one of the snprintf-like ``*_describe_json`` functions: asks for the size, fills a buffer of that
    size (again if the text grew in between), and parses the JSON."""
    required = c_size_t(0)
    fn(handle, None, 0, byref(required))
    for _ in range(3):
        buffer = ctypes.create_string_buffer(required.value)
        try:
            fn(handle, buffer, len(buffer), byref(required))
        except BufferTooSmallError:
            continue
        return json.loads(buffer.value.decode("utf-8"))
    raise BufferTooSmallError(f"{fn.__name__}: the text kept growing between calls")
