"""The ctypes mirror of include/parallax.h (header 0.1): handles, structs, the
log callback type and the enum values the binding names. Nothing here calls
the library."""
from __future__ import annotations

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint64, c_void_p)

#: The header version this binding was written for.
HEADER_MAJOR, HEADER_MINOR = 0, 1

PLX_UNLIMITED = -1
plx_status_t = c_int


class plx_runtime(Structure):
    """Opaque; only pointers to it exist."""


class plx_plan(Structure):
    """Opaque; only pointers to it exist."""


class plx_cancel_token(Structure):
    """Opaque; only pointers to it exist."""


class plx_job(Structure):
    """Opaque; only pointers to it exist."""


class plx_kernel(Structure):
    """Opaque; only pointers to it exist."""


class plx_buffer(Structure):
    """Opaque; only pointers to it exist."""


plx_runtime_p = POINTER(plx_runtime)
plx_plan_p = POINTER(plx_plan)
plx_cancel_token_p = POINTER(plx_cancel_token)
plx_job_p = POINTER(plx_job)
plx_kernel_p = POINTER(plx_kernel)
plx_buffer_p = POINTER(plx_buffer)

#: void (*plx_log_fn)(void* user_data, plx_log_level_t level, const char* message)
plx_log_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class plx_runtime_options_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_cpu_workers", c_int32),
        ("reserve_cpus", c_int32),
        ("ram_fraction", c_double),
        ("vram_fraction", c_double),
        ("device_policy", c_int32),
        ("log_level", c_int32),
        ("log_callback", plx_log_fn),
        ("log_user_data", c_void_p),
        ("machine_profile", c_char_p),
        ("sysroot", c_char_p),
        ("device_filter", c_char_p),
        ("device_types", c_int32),
        ("fault_injection", c_char_p),
        ("cache_dir", c_char_p),
        ("device_memory_limit_bytes", c_int64),
        ("device_replicas", c_int32),
        ("reserved0", c_int32),
    ]


class plx_caps_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("cpu_logical", c_int32),
        ("cpu_physical", c_int32),
        ("cpu_usable", c_int32),
        ("cpu_affinity", c_int32),
        ("cpu_quota", c_double),
        ("numa_nodes", c_int32),
        ("device_count", c_int32),
        ("memory_total_bytes", c_int64),
        ("memory_available_bytes", c_int64),
        ("memory_limit_bytes", c_int64),
        ("memory_usage_bytes", c_int64),
        ("memory_budget_bytes", c_int64),
        ("cache_l1d_bytes", c_int64),
        ("cache_l2_bytes", c_int64),
        ("cache_l3_bytes", c_int64),
        ("cgroup_version", c_int32),
        ("from_profile", c_int32),
    ]


class plx_device_info_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("index", c_int32),
        ("type", c_int32),
        ("name", c_char * 128),
        ("vendor", c_char * 128),
        ("platform", c_char * 128),
        ("driver_version", c_char * 64),
        ("opencl_c_version", c_char * 64),
        ("compute_units", c_int32),
        ("max_clock_mhz", c_int32),
        ("global_memory_bytes", c_int64),
        ("max_alloc_bytes", c_int64),
        ("local_memory_bytes", c_int64),
        ("fp64", c_int32),
        ("unified_memory", c_int32),
        ("usable", c_int32),
        ("simulated", c_int32),
        ("measured_gbps", c_double),
    ]


class plx_workload_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("name", c_char_p),
        ("kind", c_int32),
        ("layout", c_int32),
        ("items", c_int64),
        ("bytes_per_item", c_int64),
        ("rows", c_int64),
        ("bytes_per_row", c_int64),
        ("working_set_factor", c_double),
        ("per_worker_bytes", c_int64),
        ("max_workers", c_int32),
        ("preferred_device", c_int32),
    ]


class plx_plan_info_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("cpu_workers", c_int32),
        ("use_gpu", c_int32),
        ("device_count", c_int32),
        ("streaming", c_int32),
        ("items_per_chunk", c_int64),
        ("rows_per_chunk", c_int64),
        ("gpu_rows_per_chunk", c_int64),
        ("gpu_items_per_chunk", c_int64),
        ("max_chunk_bytes", c_int64),
        ("gpu_chunk_bytes", c_int64),
        ("memory_budget_bytes", c_int64),
        ("staging_bytes", c_int64),
        ("chunk_count", c_int64),
        ("total_bytes", c_double),
    ]


class plx_plan_device_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("device_index", c_int32),
        ("reserved0", c_int32),
        ("share", c_double),
        ("chunk_bytes", c_int64),
        ("rows_per_chunk", c_int64),
        ("items_per_chunk", c_int64),
        ("memory_budget_bytes", c_int64),
    ]


# ---- Execution ----

class plx_progress_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("done", c_int64),
        ("total", c_int64),
        ("bytes_done", c_int64),
        ("elapsed_s", c_double),
        ("eta_s", c_double),
    ]


#: int (*plx_progress_fn)(const plx_progress_t* progress, void* user_data)
plx_progress_fn = CFUNCTYPE(c_int, POINTER(plx_progress_t), c_void_p)


class plx_run_report_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("workers", c_int32),
        ("threads", c_int32),
        ("chunks", c_int64),
        ("retries", c_int64),
        ("peak_concurrency", c_int32),
        ("failed", c_int32),
        ("failed_begin", c_int64),
        ("failed_end", c_int64),
        ("callback_code", c_int32),
        ("reserved0", c_int32),
        ("peak_admitted_bytes", c_int64),
        ("wall_s", c_double),
        ("fallback_chunks", c_int64),
        ("chunk_splits", c_int32),
        ("reserved1", c_int32),
        ("device_kernel_s", c_double),
    ]


class plx_run_options_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("name", c_char_p),
        ("workers", c_int32),
        ("progress_interval_ms", c_int32),
        ("grain", c_int64),
        ("progress", plx_progress_fn),
        ("progress_user_data", c_void_p),
        ("cancel", plx_cancel_token_p),
        ("bytes_per_item", c_int64),
        ("report", POINTER(plx_run_report_t)),
        ("max_attempts", c_int32),
        ("fail_fast", c_int32),
        ("backoff_base_s", c_double),
        ("backoff_cap_s", c_double),
        ("grow_after", c_int32),
        ("reserved0", c_int32),
        ("memory_budget_bytes", c_int64),
        ("jitter_seed", c_uint64),
    ]


#: int (*plx_range_fn)(int64_t begin, int64_t end, int32_t worker, void* user_data)
plx_range_fn = CFUNCTYPE(c_int, c_int64, c_int64, c_int32, c_void_p)
#: int (*plx_reduce_range_fn)(int64_t begin, int64_t end, int32_t worker, void* partial, void* user_data)
plx_reduce_range_fn = CFUNCTYPE(c_int, c_int64, c_int64, c_int32, c_void_p, c_void_p)
#: int (*plx_combine_fn)(void* accumulated, const void* partial, void* user_data)
plx_combine_fn = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)


class plx_reduce_desc_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("op", c_int32),
        ("reserved0", c_int32),
        ("range", plx_reduce_range_fn),
        ("combine", plx_combine_fn),
        ("user_data", c_void_p),
        ("value_size", c_size_t),
        ("identity", c_void_p),
        ("grain", c_int64),
    ]


class plx_task_context_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("index", c_int64),
        ("attempt", c_int32),
        ("worker", c_int32),
        ("estimated_bytes", c_int64),
        ("reported_bytes", c_int64),
        ("message", c_char * 256),
    ]


#: plx_status_t (*plx_task_fn)(plx_task_context_t* context, void* user_data)
plx_task_fn = CFUNCTYPE(plx_status_t, POINTER(plx_task_context_t), c_void_p)


class plx_task_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("fn", plx_task_fn),
        ("user_data", c_void_p),
        ("estimated_bytes", c_int64),
        ("name", c_char_p),
    ]


class plx_task_result_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("status", plx_status_t),
        ("attempts", c_int32),
        ("message", c_char * 256),
    ]


# ---- Devices and custom kernels ----

#: int (*plx_rows_provider_fn)(int64_t first_row, int64_t rows, void* dst, void* user_data)
plx_rows_provider_fn = CFUNCTYPE(c_int, c_int64, c_int64, c_void_p, c_void_p)
#: int (*plx_rows_cpu_fn)(int64_t first_row, int64_t rows, const void* const* inputs, void* const* outputs,
#:                        void* user_data)
plx_rows_cpu_fn = CFUNCTYPE(c_int, c_int64, c_int64, POINTER(c_void_p), POINTER(c_void_p), c_void_p)


class plx_rows_input_t(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("bytes_per_row", c_int64),
        ("provider", plx_rows_provider_fn),
        ("provider_user_data", c_void_p),
    ]


class plx_rows_output_t(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("bytes_per_row", c_int64),
    ]


class plx_kernel_scalar_t(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("size", c_size_t),
    ]


class plx_rows_desc_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("rows", c_int64),
        ("inputs", POINTER(plx_rows_input_t)),
        ("input_count", c_int32),
        ("output_count", c_int32),
        ("outputs", POINTER(plx_rows_output_t)),
        ("scalars", POINTER(plx_kernel_scalar_t)),
        ("scalar_count", c_int32),
        ("reserved0", c_int32),
        ("work_items_per_row", c_int64),
        ("rows_per_chunk", c_int64),
        ("cpu_fallback", plx_rows_cpu_fn),
        ("cpu_user_data", c_void_p),
    ]


class plx_kernel_arg_t(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("reserved0", c_int32),
        ("buffer", plx_buffer_p),
        ("data", c_void_p),
        ("size", c_size_t),
    ]


class plx_device_figures_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("h2d_pinned_gbps", c_double),
        ("h2d_pageable_gbps", c_double),
        ("d2h_pinned_gbps", c_double),
        ("device_copy_gbps", c_double),
        ("launch_us", c_double),
        ("launch_roundtrip_us", c_double),
        ("stream_gbps", c_double),
        ("transfer_bytes", c_int64),
        ("stream_bytes", c_int64),
    ]


plx_stack_provider_fn = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, c_int64, c_int64, c_int64, c_int32,
                                  POINTER(c_float), c_int64)


class plx_stack_desc_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("frames", c_int64),
        ("height", c_int64),
        ("width", c_int64),
        ("channels", c_int32),
        ("combine", c_int32),
        ("frame_data", POINTER(c_void_p)),
        ("row_stride", c_int64),
        ("channel_stride", c_int64),
        ("provider", plx_stack_provider_fn),
        ("provider_user_data", c_void_p),
        ("reject", c_int32),
        ("centre", c_int32),
        ("sigma_low", c_double),
        ("sigma_high", c_double),
        ("max_iters", c_int32),
        ("n_low", c_int32),
        ("n_high", c_int32),
        ("weights", c_int32),
        ("percentile_low", c_double),
        ("percentile_high", c_double),
        ("frame_weights", POINTER(c_double)),
        ("normalize", c_int32),
        ("device", c_int32),
        ("reference_frame", c_int64),
        ("run_options", POINTER(plx_run_options_t)),
        ("provider_rows", c_int64),
    ]


class plx_stack_result_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("image", c_void_p),
        ("count", c_void_p),
        ("rejected_low", c_void_p),
        ("rejected_high", c_void_p),
        ("frame_rejected", c_void_p),
        ("frame_scale", c_void_p),
        ("frame_offset", c_void_p),
        ("frame_weight", c_void_p),
        ("samples", c_int64),
        ("missing", c_int64),
        ("kept", c_int64),
        ("rejected", c_int64),
        ("device_index", c_int32),
        ("workers", c_int32),
        ("tile_rows", c_int64),
        ("tiles", c_int64),
        ("frame_stats_s", c_double),
        ("stack_s", c_double),
        ("simd_target", c_char * 16),
    ]


# ---- Mosaic co-addition ----

#: int (*plx_coordinate_map_fn)(void* user_data, int64_t input, int64_t n, const double* x_out, const double* y_out,
#:                              double* x_in, double* y_in)
plx_coordinate_map_fn = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, POINTER(c_double), POINTER(c_double),
                                  POINTER(c_double), POINTER(c_double))
#: int (*plx_coadd_tile_fn)(void* user_data, int64_t row0, int64_t rows, const float* image, const float* footprint)
plx_coadd_tile_fn = CFUNCTYPE(c_int, c_void_p, c_int64, c_int64, POINTER(c_float), POINTER(c_float))


class plx_coadd_input_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("data", c_void_p),
        ("height", c_int64),
        ("width", c_int64),
        ("row_stride", c_int64),
        ("weights", c_void_p),
        ("weight", c_double),
        ("background", c_double),
        ("mapping", c_int32),
        ("matrix", c_double * 9),
        ("wcs_header", c_char_p),
        ("map", plx_coordinate_map_fn),
        ("map_user_data", c_void_p),
    ]


class plx_coadd_desc_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("inputs", POINTER(plx_coadd_input_t)),
        ("count", c_int64),
        ("height", c_int64),
        ("width", c_int64),
        ("output_wcs_header", c_char_p),
        ("interpolation", c_int32),
        ("combine", c_int32),
        ("device", c_int32),
        ("reserved", c_int32),
        ("tile", plx_coadd_tile_fn),
        ("tile_user_data", c_void_p),
        ("run_options", POINTER(plx_run_options_t)),
    ]


class plx_coadd_result_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("image", c_void_p),
        ("footprint", c_void_p),
        ("covered", c_int64),
        ("samples", c_int64),
        ("tile_rows", c_int64),
        ("tiles", c_int64),
        ("device_index", c_int32),
        ("workers", c_int32),
        ("native_wcs", c_int32),
        ("grid_wcs", c_int32),
        ("seconds", c_double),
    ]


# ---- Matrix multiply ----

class plx_gemm_desc_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("precision", c_int32),
        ("layout", c_int32),
        ("trans_a", c_int32),
        ("trans_b", c_int32),
        ("m", c_int64),
        ("n", c_int64),
        ("k", c_int64),
        ("alpha", c_double),
        ("beta", c_double),
        ("a", c_void_p),
        ("lda", c_int64),
        ("b", c_void_p),
        ("ldb", c_int64),
        ("c", c_void_p),
        ("ldc", c_int64),
        ("a_buffer", plx_buffer_p),
        ("b_buffer", plx_buffer_p),
        ("c_buffer", plx_buffer_p),
        ("a_offset", c_int64),
        ("b_offset", c_int64),
        ("c_offset", c_int64),
        ("device", c_int32),
        ("reserved0", c_int32),
        ("run_options", POINTER(plx_run_options_t)),
    ]


class plx_gemm_result_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("device_index", c_int32),
        ("workers", c_int32),
        ("tiles", c_int64),
        ("splits", c_int32),
        ("fallback", c_int32),
        ("seconds", c_double),
        ("gflops", c_double),
        ("path", c_char * 16),
    ]


class plx_gemm_tune_options_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("precision", c_int32),
        ("kernels", c_int32),
        ("size", c_int64),
        ("fraction", c_double),
    ]


class plx_gemm_tune_result_t(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("kernels_tuned", c_int32),
        ("reserved0", c_int32),
        ("seconds", c_double),
        ("default_gflops", c_double),
        ("tuned_gflops", c_double),
        ("cpu_gflops", c_double),
        ("upload_gbps", c_double),
        ("path", c_char * 256),
    ]


#: Every public struct, for layout checks.
STRUCTS = (plx_runtime_options_t, plx_caps_t, plx_device_info_t, plx_workload_t, plx_plan_info_t,
           plx_plan_device_t, plx_progress_t, plx_run_report_t, plx_run_options_t, plx_reduce_desc_t,
           plx_task_context_t, plx_task_t, plx_task_result_t, plx_rows_input_t, plx_rows_output_t,
           plx_kernel_scalar_t, plx_rows_desc_t, plx_kernel_arg_t, plx_device_figures_t, plx_stack_desc_t,
           plx_stack_result_t, plx_coadd_input_t, plx_coadd_desc_t, plx_coadd_result_t, plx_gemm_desc_t,
           plx_gemm_result_t, plx_gemm_tune_options_t, plx_gemm_tune_result_t)

# Enum values by the names the Python API uses.
PLX_LOG_OFF, PLX_LOG_ERROR, PLX_LOG_WARN, PLX_LOG_INFO, PLX_LOG_DEBUG = range(5)
DEVICE_POLICIES = {"auto": 0, "cpu": 1, "gpu": 2}
DEVICE_TYPES = {"cpu": 1, "gpu": 2, "accelerator": 4}
WORKLOAD_KINDS = {"cpu": 0, "memory": 1, "io": 2, "gpu": 3, "mixed": 4}
LAYOUTS = {"items": 0, "across": 1, "rows_across_items": 1}
PREFERENCES = {"auto": 0, "cpu": 1, "gpu": 2}
STACK_COMBINES = {"mean": 0, "weighted_mean": 1, "wmean": 1, "sum": 2, "median": 3, "min": 4, "max": 5}
# The CLI's short names too (sigma, add, mul, linear).
STACK_REJECTS = {"none": 0, "sigma_clip": 1, "sigma": 1, "winsorized_sigma_clip": 2, "winsorized": 2,
                 "percentile": 3, "minmax": 4}
STACK_CENTRES = {"median": 0, "mean": 1}
STACK_NORMALIZES = {"none": 0, "additive": 1, "add": 1, "multiplicative": 2, "mul": 2, "linear_fit": 3,
                    "linear": 3}
PLX_WEIGHTS_NONE, PLX_WEIGHTS_GIVEN, PLX_WEIGHTS_NOISE_VARIANCE = 0, 1, 2
PLX_MAPPING_AFFINE, PLX_MAPPING_HOMOGRAPHY, PLX_MAPPING_WCS, PLX_MAPPING_COORDINATE_MAP = 0, 1, 2, 3
# reproject's names for orders 0 and 1 too.
INTERPOLATIONS = {"nearest": 0, "nearest-neighbor": 0, "nearest_neighbor": 0, "bilinear": 1, "bicubic": 2,
                  "lanczos3": 3, "lanczos": 3}
COADD_COMBINES = {"mean": 0, "sum": 1, "min": 2, "max": 3, "median": 4, "first": 5, "last": 6}
REDUCE_OPS = {"sum_double": 0, "sum_float": 1, "sum_int64": 2}
PLX_REDUCE_CUSTOM = 3
PLX_OK, PLX_ERR_OUT_OF_MEMORY, PLX_ERR_CANCELLED, PLX_ERR_TASK_FAILED, PLX_ERR_TIMEOUT = 0, 2, 5, 6, 12
PLX_ERR_IO = 9
PLX_ARG_BUFFER, PLX_ARG_SCALAR, PLX_ARG_LOCAL = 0, 1, 2
PLX_PRECISION_F32, PLX_PRECISION_F64 = 0, 1
PLX_ROW_MAJOR, PLX_COL_MAJOR = 0, 1
PLX_NO_TRANS, PLX_TRANS = 0, 1
