//! Raw declarations of libparallax's C API, mirroring `include/parallax.h`
//! exactly: the same names, the same field order, the same sizes (checked at
//! compile time against the sizes pinned in `src/api/struct_io.hpp` and
//! `tests/unit/api_layout_test.cpp`).
//!
//! Everything here is `unsafe` to use; the `parallax` crate is the safe
//! wrapper. The build script links `libparallax` (see `build.rs` for where it
//! is looked for) and exports the directory it found as `DEP_PARALLAX_LIB_DIR`
//! to crates that depend on this one.
//!
//! Layout: enums of the header are `c_int` type aliases with `pub const`
//! values (a C enum is an `int`, and the library may return values this crate
//! does not know); opaque handles are zero-sized `#[repr(C)]` structs used
//! only behind pointers.
//!
//! The GEMM API (`plx_gemm*`) is declared in its own module (`gemm`),
//! re-exported here.
#![allow(non_camel_case_types)]
#![allow(clippy::upper_case_acronyms)]

use std::os::raw::{c_char, c_int, c_void};

mod gemm;
pub use gemm::*;

// ===========================================================================
//  Versions
// ===========================================================================

pub const PLX_VERSION_MAJOR: c_int = 0;
pub const PLX_VERSION_MINOR: c_int = 1;
pub const PLX_VERSION_PATCH: c_int = 0;
/// Packed version of the header: major * 10000 + minor * 100 + patch.
pub const PLX_VERSION_NUMBER: u32 = (PLX_VERSION_MAJOR * 10000 + PLX_VERSION_MINOR * 100 + PLX_VERSION_PATCH) as u32;
pub const PLX_VERSION_STRING: &str = "0.1.0";

// ===========================================================================
//  Status codes
// ===========================================================================

pub type plx_status_t = i32;

pub const PLX_OK: plx_status_t = 0;
pub const PLX_ERR_INVALID_ARGUMENT: plx_status_t = 1;
pub const PLX_ERR_OUT_OF_MEMORY: plx_status_t = 2;
pub const PLX_ERR_DEVICE: plx_status_t = 3;
pub const PLX_ERR_NO_DEVICE: plx_status_t = 4;
pub const PLX_ERR_CANCELLED: plx_status_t = 5;
pub const PLX_ERR_TASK_FAILED: plx_status_t = 6;
pub const PLX_ERR_UNSUPPORTED: plx_status_t = 7;
pub const PLX_ERR_VERSION: plx_status_t = 8;
pub const PLX_ERR_IO: plx_status_t = 9;
pub const PLX_ERR_INTERNAL: plx_status_t = 10;
pub const PLX_ERR_BUFFER_TOO_SMALL: plx_status_t = 11;
pub const PLX_ERR_TIMEOUT: plx_status_t = 12;

// ===========================================================================
//  Handles (opaque)
// ===========================================================================

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
opaque!(plx_runtime, plx_plan, plx_cancel_token, plx_job, plx_kernel, plx_buffer);
pub type plx_runtime_t = plx_runtime;
pub type plx_plan_t = plx_plan;
pub type plx_cancel_token_t = plx_cancel_token;
pub type plx_job_t = plx_job;
pub type plx_kernel_t = plx_kernel;
pub type plx_buffer_t = plx_buffer;

// ===========================================================================
//  Enumerations
// ===========================================================================

pub type plx_log_level_t = c_int;
pub const PLX_LOG_OFF: plx_log_level_t = 0;
pub const PLX_LOG_ERROR: plx_log_level_t = 1;
pub const PLX_LOG_WARN: plx_log_level_t = 2;
pub const PLX_LOG_INFO: plx_log_level_t = 3;
pub const PLX_LOG_DEBUG: plx_log_level_t = 4;

pub type plx_device_policy_t = c_int;
pub const PLX_DEVICE_AUTO: plx_device_policy_t = 0;
pub const PLX_DEVICE_CPU_ONLY: plx_device_policy_t = 1;
pub const PLX_DEVICE_GPU_REQUIRED: plx_device_policy_t = 2;

pub type plx_device_type_t = c_int;
pub const PLX_DEVICE_TYPE_CPU: plx_device_type_t = 1;
pub const PLX_DEVICE_TYPE_GPU: plx_device_type_t = 2;
pub const PLX_DEVICE_TYPE_ACCELERATOR: plx_device_type_t = 4;
pub const PLX_DEVICE_TYPE_ANY: plx_device_type_t = 7;

pub type plx_workload_kind_t = c_int;
pub const PLX_WORKLOAD_CPU: plx_workload_kind_t = 0;
pub const PLX_WORKLOAD_MEMORY: plx_workload_kind_t = 1;
pub const PLX_WORKLOAD_IO: plx_workload_kind_t = 2;
pub const PLX_WORKLOAD_GPU: plx_workload_kind_t = 3;
pub const PLX_WORKLOAD_MIXED: plx_workload_kind_t = 4;

pub type plx_workload_layout_t = c_int;
pub const PLX_LAYOUT_ITEMS: plx_workload_layout_t = 0;
pub const PLX_LAYOUT_ROWS_ACROSS_ITEMS: plx_workload_layout_t = 1;

pub type plx_device_preference_t = c_int;
pub const PLX_PREFER_AUTO: plx_device_preference_t = 0;
pub const PLX_PREFER_CPU: plx_device_preference_t = 1;
pub const PLX_PREFER_GPU: plx_device_preference_t = 2;

/// Value of memory_limit_bytes when no limit applies.
pub const PLX_UNLIMITED: i64 = -1;

pub type plx_reduce_op_t = c_int;
pub const PLX_REDUCE_SUM_DOUBLE: plx_reduce_op_t = 0;
pub const PLX_REDUCE_SUM_FLOAT: plx_reduce_op_t = 1;
pub const PLX_REDUCE_SUM_INT64: plx_reduce_op_t = 2;
pub const PLX_REDUCE_CUSTOM: plx_reduce_op_t = 3;

pub type plx_kernel_arg_kind_t = c_int;
pub const PLX_ARG_BUFFER: plx_kernel_arg_kind_t = 0;
pub const PLX_ARG_SCALAR: plx_kernel_arg_kind_t = 1;
pub const PLX_ARG_LOCAL: plx_kernel_arg_kind_t = 2;

pub type plx_stack_combine_t = c_int;
pub const PLX_COMBINE_MEAN: plx_stack_combine_t = 0;
pub const PLX_COMBINE_WEIGHTED_MEAN: plx_stack_combine_t = 1;
pub const PLX_COMBINE_SUM: plx_stack_combine_t = 2;
pub const PLX_COMBINE_MEDIAN: plx_stack_combine_t = 3;
pub const PLX_COMBINE_MIN: plx_stack_combine_t = 4;
pub const PLX_COMBINE_MAX: plx_stack_combine_t = 5;

pub type plx_stack_reject_t = c_int;
pub const PLX_REJECT_NONE: plx_stack_reject_t = 0;
pub const PLX_REJECT_SIGMA_CLIP: plx_stack_reject_t = 1;
pub const PLX_REJECT_WINSORIZED_SIGMA_CLIP: plx_stack_reject_t = 2;
pub const PLX_REJECT_PERCENTILE: plx_stack_reject_t = 3;
pub const PLX_REJECT_MINMAX: plx_stack_reject_t = 4;

pub type plx_stack_centre_t = c_int;
pub const PLX_CENTRE_MEDIAN: plx_stack_centre_t = 0;
pub const PLX_CENTRE_MEAN: plx_stack_centre_t = 1;

pub type plx_stack_weights_t = c_int;
pub const PLX_WEIGHTS_NONE: plx_stack_weights_t = 0;
pub const PLX_WEIGHTS_GIVEN: plx_stack_weights_t = 1;
pub const PLX_WEIGHTS_NOISE_VARIANCE: plx_stack_weights_t = 2;

pub type plx_stack_normalize_t = c_int;
pub const PLX_NORMALIZE_NONE: plx_stack_normalize_t = 0;
pub const PLX_NORMALIZE_ADDITIVE: plx_stack_normalize_t = 1;
pub const PLX_NORMALIZE_MULTIPLICATIVE: plx_stack_normalize_t = 2;
pub const PLX_NORMALIZE_LINEAR_FIT: plx_stack_normalize_t = 3;

pub type plx_coadd_mapping_t = c_int;
pub const PLX_MAPPING_AFFINE: plx_coadd_mapping_t = 0;
pub const PLX_MAPPING_HOMOGRAPHY: plx_coadd_mapping_t = 1;
pub const PLX_MAPPING_WCS: plx_coadd_mapping_t = 2;
pub const PLX_MAPPING_COORDINATE_MAP: plx_coadd_mapping_t = 3;

pub type plx_interpolation_t = c_int;
pub const PLX_INTERP_NEAREST: plx_interpolation_t = 0;
pub const PLX_INTERP_BILINEAR: plx_interpolation_t = 1;
pub const PLX_INTERP_BICUBIC: plx_interpolation_t = 2;
pub const PLX_INTERP_LANCZOS3: plx_interpolation_t = 3;

pub type plx_coadd_combine_t = c_int;
pub const PLX_COADD_MEAN: plx_coadd_combine_t = 0;
pub const PLX_COADD_SUM: plx_coadd_combine_t = 1;
pub const PLX_COADD_MIN: plx_coadd_combine_t = 2;
pub const PLX_COADD_MAX: plx_coadd_combine_t = 3;
pub const PLX_COADD_MEDIAN: plx_coadd_combine_t = 4;
pub const PLX_COADD_FIRST: plx_coadd_combine_t = 5;
pub const PLX_COADD_LAST: plx_coadd_combine_t = 6;

// ===========================================================================
//  Callbacks
// ===========================================================================

pub type plx_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: plx_log_level_t, message: *const c_char)>;
pub type plx_progress_fn =
    Option<unsafe extern "C" fn(progress: *const plx_progress_t, user_data: *mut c_void) -> c_int>;
pub type plx_range_fn =
    Option<unsafe extern "C" fn(begin: i64, end: i64, worker: i32, user_data: *mut c_void) -> c_int>;
pub type plx_reduce_range_fn = Option<
    unsafe extern "C" fn(begin: i64, end: i64, worker: i32, partial: *mut c_void, user_data: *mut c_void) -> c_int,
>;
pub type plx_combine_fn =
    Option<unsafe extern "C" fn(accumulated: *mut c_void, partial: *const c_void, user_data: *mut c_void) -> c_int>;
pub type plx_task_fn =
    Option<unsafe extern "C" fn(context: *mut plx_task_context_t, user_data: *mut c_void) -> plx_status_t>;
pub type plx_rows_provider_fn =
    Option<unsafe extern "C" fn(first_row: i64, rows: i64, dst: *mut c_void, user_data: *mut c_void) -> c_int>;
pub type plx_rows_cpu_fn = Option<
    unsafe extern "C" fn(
        first_row: i64,
        rows: i64,
        inputs: *const *const c_void,
        outputs: *const *mut c_void,
        user_data: *mut c_void,
    ) -> c_int,
>;
pub type plx_stack_provider_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        frame: i64,
        row0: i64,
        rows: i64,
        col0: i64,
        cols: i64,
        channel: i32,
        dst: *mut f32,
        dst_stride: i64,
    ) -> c_int,
>;
pub type plx_coordinate_map_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        input: i64,
        n: i64,
        x_out: *const f64,
        y_out: *const f64,
        x_in: *mut f64,
        y_in: *mut f64,
    ) -> c_int,
>;
pub type plx_coadd_tile_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        row0: i64,
        rows: i64,
        image: *const f32,
        footprint: *const f32,
    ) -> c_int,
>;

// ===========================================================================
//  Structs
// ===========================================================================

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_runtime_options_t {
    pub struct_size: usize,
    pub max_cpu_workers: i32,
    pub reserve_cpus: i32,
    pub ram_fraction: f64,
    pub vram_fraction: f64,
    pub device_policy: i32,
    pub log_level: i32,
    pub log_callback: plx_log_fn,
    pub log_user_data: *mut c_void,
    pub machine_profile: *const c_char,
    pub sysroot: *const c_char,
    pub device_filter: *const c_char,
    pub device_types: i32,
    pub fault_injection: *const c_char,
    pub cache_dir: *const c_char,
    pub device_memory_limit_bytes: i64,
    pub device_replicas: i32,
    pub reserved0: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_caps_t {
    pub struct_size: usize,
    pub cpu_logical: i32,
    pub cpu_physical: i32,
    pub cpu_usable: i32,
    pub cpu_affinity: i32,
    pub cpu_quota: f64,
    pub numa_nodes: i32,
    pub device_count: i32,
    pub memory_total_bytes: i64,
    pub memory_available_bytes: i64,
    pub memory_limit_bytes: i64,
    pub memory_usage_bytes: i64,
    pub memory_budget_bytes: i64,
    pub cache_l1d_bytes: i64,
    pub cache_l2_bytes: i64,
    pub cache_l3_bytes: i64,
    pub cgroup_version: i32,
    pub from_profile: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct plx_device_info_t {
    pub struct_size: usize,
    pub index: i32,
    pub type_: i32,
    pub name: [c_char; 128],
    pub vendor: [c_char; 128],
    pub platform: [c_char; 128],
    pub driver_version: [c_char; 64],
    pub opencl_c_version: [c_char; 64],
    pub compute_units: i32,
    pub max_clock_mhz: i32,
    pub global_memory_bytes: i64,
    pub max_alloc_bytes: i64,
    pub local_memory_bytes: i64,
    pub fp64: i32,
    pub unified_memory: i32,
    pub usable: i32,
    pub simulated: i32,
    pub measured_gbps: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_workload_t {
    pub struct_size: usize,
    pub name: *const c_char,
    pub kind: i32,
    pub layout: i32,
    pub items: i64,
    pub bytes_per_item: i64,
    pub rows: i64,
    pub bytes_per_row: i64,
    pub working_set_factor: f64,
    pub per_worker_bytes: i64,
    pub max_workers: i32,
    pub preferred_device: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_plan_info_t {
    pub struct_size: usize,
    pub cpu_workers: i32,
    pub use_gpu: i32,
    pub device_count: i32,
    pub streaming: i32,
    pub items_per_chunk: i64,
    pub rows_per_chunk: i64,
    pub gpu_rows_per_chunk: i64,
    pub gpu_items_per_chunk: i64,
    pub max_chunk_bytes: i64,
    pub gpu_chunk_bytes: i64,
    pub memory_budget_bytes: i64,
    pub staging_bytes: i64,
    pub chunk_count: i64,
    pub total_bytes: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_plan_device_t {
    pub struct_size: usize,
    pub device_index: i32,
    pub reserved0: i32,
    pub share: f64,
    pub chunk_bytes: i64,
    pub rows_per_chunk: i64,
    pub items_per_chunk: i64,
    pub memory_budget_bytes: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_progress_t {
    pub struct_size: usize,
    pub done: i64,
    pub total: i64,
    pub bytes_done: i64,
    pub elapsed_s: f64,
    pub eta_s: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_run_report_t {
    pub struct_size: usize,
    pub workers: i32,
    pub threads: i32,
    pub chunks: i64,
    pub retries: i64,
    pub peak_concurrency: i32,
    pub failed: i32,
    pub failed_begin: i64,
    pub failed_end: i64,
    pub callback_code: i32,
    pub reserved0: i32,
    pub peak_admitted_bytes: i64,
    pub wall_s: f64,
    pub fallback_chunks: i64,
    pub chunk_splits: i32,
    pub reserved1: i32,
    pub device_kernel_s: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_run_options_t {
    pub struct_size: usize,
    pub name: *const c_char,
    pub workers: i32,
    pub progress_interval_ms: i32,
    pub grain: i64,
    pub progress: plx_progress_fn,
    pub progress_user_data: *mut c_void,
    pub cancel: *mut plx_cancel_token_t,
    pub bytes_per_item: i64,
    pub report: *mut plx_run_report_t,
    pub max_attempts: i32,
    pub fail_fast: i32,
    pub backoff_base_s: f64,
    pub backoff_cap_s: f64,
    pub grow_after: i32,
    pub reserved0: i32,
    pub memory_budget_bytes: i64,
    pub jitter_seed: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_reduce_desc_t {
    pub struct_size: usize,
    pub op: i32,
    pub reserved0: i32,
    pub range: plx_reduce_range_fn,
    pub combine: plx_combine_fn,
    pub user_data: *mut c_void,
    pub value_size: usize,
    pub identity: *const c_void,
    pub grain: i64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct plx_task_context_t {
    pub struct_size: usize,
    pub index: i64,
    pub attempt: i32,
    pub worker: i32,
    pub estimated_bytes: i64,
    pub reported_bytes: i64,
    pub message: [c_char; 256],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_task_t {
    pub struct_size: usize,
    pub fn_: plx_task_fn,
    pub user_data: *mut c_void,
    pub estimated_bytes: i64,
    pub name: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct plx_task_result_t {
    pub struct_size: usize,
    pub status: plx_status_t,
    pub attempts: i32,
    pub message: [c_char; 256],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_rows_input_t {
    pub data: *const c_void,
    pub bytes_per_row: i64,
    pub provider: plx_rows_provider_fn,
    pub provider_user_data: *mut c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_rows_output_t {
    pub data: *mut c_void,
    pub bytes_per_row: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_kernel_scalar_t {
    pub data: *const c_void,
    pub size: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_rows_desc_t {
    pub struct_size: usize,
    pub rows: i64,
    pub inputs: *const plx_rows_input_t,
    pub input_count: i32,
    pub output_count: i32,
    pub outputs: *const plx_rows_output_t,
    pub scalars: *const plx_kernel_scalar_t,
    pub scalar_count: i32,
    pub reserved0: i32,
    pub work_items_per_row: i64,
    pub rows_per_chunk: i64,
    pub cpu_fallback: plx_rows_cpu_fn,
    pub cpu_user_data: *mut c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_kernel_arg_t {
    pub kind: i32,
    pub reserved0: i32,
    pub buffer: *mut plx_buffer_t,
    pub data: *const c_void,
    pub size: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_device_figures_t {
    pub struct_size: usize,
    pub h2d_pinned_gbps: f64,
    pub h2d_pageable_gbps: f64,
    pub d2h_pinned_gbps: f64,
    pub device_copy_gbps: f64,
    pub launch_us: f64,
    pub launch_roundtrip_us: f64,
    pub stream_gbps: f64,
    pub transfer_bytes: i64,
    pub stream_bytes: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_stack_desc_t {
    pub struct_size: usize,
    pub frames: i64,
    pub height: i64,
    pub width: i64,
    pub channels: i32,
    pub combine: i32,
    pub frame_data: *const *const f32,
    pub row_stride: i64,
    pub channel_stride: i64,
    pub provider: plx_stack_provider_fn,
    pub provider_user_data: *mut c_void,
    pub reject: i32,
    pub centre: i32,
    pub sigma_low: f64,
    pub sigma_high: f64,
    pub max_iters: i32,
    pub n_low: i32,
    pub n_high: i32,
    pub weights: i32,
    pub percentile_low: f64,
    pub percentile_high: f64,
    pub frame_weights: *const f64,
    pub normalize: i32,
    pub device: i32,
    pub reference_frame: i64,
    pub run_options: *const plx_run_options_t,
    pub provider_rows: i64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_stack_result_t {
    pub struct_size: usize,
    pub image: *mut f32,
    pub count: *mut i32,
    pub rejected_low: *mut i32,
    pub rejected_high: *mut i32,
    pub frame_rejected: *mut i64,
    pub frame_scale: *mut f64,
    pub frame_offset: *mut f64,
    pub frame_weight: *mut f64,
    pub samples: i64,
    pub missing: i64,
    pub kept: i64,
    pub rejected: i64,
    pub device_index: i32,
    pub workers: i32,
    pub tile_rows: i64,
    pub tiles: i64,
    pub frame_stats_s: f64,
    pub stack_s: f64,
    pub simd_target: [c_char; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_coadd_input_t {
    pub struct_size: usize,
    pub data: *const f32,
    pub height: i64,
    pub width: i64,
    pub row_stride: i64,
    pub weights: *const f32,
    pub weight: f64,
    pub background: f64,
    pub mapping: i32,
    pub matrix: [f64; 9],
    pub wcs_header: *const c_char,
    pub map: plx_coordinate_map_fn,
    pub map_user_data: *mut c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_coadd_desc_t {
    pub struct_size: usize,
    pub inputs: *const plx_coadd_input_t,
    pub count: i64,
    pub height: i64,
    pub width: i64,
    pub output_wcs_header: *const c_char,
    pub interpolation: i32,
    pub combine: i32,
    pub device: i32,
    pub reserved: i32,
    pub tile: plx_coadd_tile_fn,
    pub tile_user_data: *mut c_void,
    pub run_options: *const plx_run_options_t,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_coadd_result_t {
    pub struct_size: usize,
    pub image: *mut f32,
    pub footprint: *mut f32,
    pub covered: i64,
    pub samples: i64,
    pub tile_rows: i64,
    pub tiles: i64,
    pub device_index: i32,
    pub workers: i32,
    pub native_wcs: i32,
    pub grid_wcs: i32,
    pub seconds: f64,
}

// ===========================================================================
//  Sizes, checked at compile time (LP64)
// ===========================================================================

/// Fails the build when `size_of::<$t>()` differs from the size pinned in
/// tests/unit/api_layout_test.cpp (the first release's, src/api/struct_io.hpp,
/// for every struct that has not grown since).
macro_rules! pin_size {
    ($($t:ty => $size:expr),* $(,)?) => {$(
        const _: () = assert!(std::mem::size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
    )*};
}
const _: () = assert!(std::mem::size_of::<*const c_void>() == 8, "the pinned layouts are for LP64 targets");
pin_size! {
    // src/api/struct_io.hpp: PLX_FIRST_RELEASE_SIZE
    plx_runtime_options_t => 120,
    plx_workload_t => 80,
    plx_caps_t => 112,
    plx_device_info_t => 584,
    plx_plan_info_t => 104,
    plx_plan_device_t => 56,
    plx_run_options_t => 120,
    plx_run_report_t => 104, // 96 in the first release, then device_kernel_s
    plx_rows_desc_t => 88,
    plx_device_figures_t => 80,
    plx_reduce_desc_t => 64,
    plx_task_t => 40,
    plx_task_result_t => 272,
    plx_stack_desc_t => 176, // 168 in the first release, then provider_rows
    plx_stack_result_t => 160,
    plx_coadd_input_t => 168,
    plx_coadd_desc_t => 88,
    plx_coadd_result_t => 80,
    // tests/unit/api_layout_test.cpp: structs whose layout is frozen (no struct_size)
    plx_progress_t => 48,
    plx_task_context_t => 296,
    plx_rows_input_t => 32,
    plx_rows_output_t => 16,
    plx_kernel_scalar_t => 16,
    plx_kernel_arg_t => 32,
}

// ===========================================================================
//  Functions
// ===========================================================================

extern "C" {
    // Versions
    pub fn plx_version() -> u32;
    pub fn plx_version_string() -> *const c_char;
    pub fn plx_abi_compatible(major: c_int, minor: c_int) -> c_int;

    // Status and errors
    pub fn plx_status_string(status: plx_status_t) -> *const c_char;
    pub fn plx_last_error_message() -> *const c_char;
    pub fn plx_last_error_status() -> plx_status_t;

    // Runtime
    pub fn plx_runtime_options_init(options: *mut plx_runtime_options_t, struct_size: usize) -> plx_status_t;
    pub fn plx_runtime_create(options: *const plx_runtime_options_t, runtime: *mut *mut plx_runtime_t) -> plx_status_t;
    pub fn plx_runtime_destroy(runtime: *mut plx_runtime_t);
    pub fn plx_runtime_describe_json(
        runtime: *mut plx_runtime_t,
        buffer: *mut c_char,
        buffer_size: usize,
        required_size: *mut usize,
    ) -> plx_status_t;
    pub fn plx_caps_get(runtime: *mut plx_runtime_t, caps: *mut plx_caps_t) -> plx_status_t;
    pub fn plx_device_info_get(runtime: *mut plx_runtime_t, index: i32, info: *mut plx_device_info_t) -> plx_status_t;

    // Planning
    pub fn plx_workload_init(workload: *mut plx_workload_t, struct_size: usize) -> plx_status_t;
    pub fn plx_plan_create(
        runtime: *mut plx_runtime_t,
        workload: *const plx_workload_t,
        plan: *mut *mut plx_plan_t,
    ) -> plx_status_t;
    pub fn plx_plan_destroy(plan: *mut plx_plan_t);
    pub fn plx_plan_get(plan: *const plx_plan_t, info: *mut plx_plan_info_t) -> plx_status_t;
    pub fn plx_plan_device_get(plan: *const plx_plan_t, index: i32, device: *mut plx_plan_device_t) -> plx_status_t;
    pub fn plx_plan_describe_json(
        plan: *const plx_plan_t,
        buffer: *mut c_char,
        buffer_size: usize,
        required_size: *mut usize,
    ) -> plx_status_t;

    // Execution
    pub fn plx_run_options_init(options: *mut plx_run_options_t, struct_size: usize) -> plx_status_t;
    pub fn plx_parallel_for(
        runtime: *mut plx_runtime_t,
        plan: *const plx_plan_t,
        begin: i64,
        end: i64,
        fn_: plx_range_fn,
        user_data: *mut c_void,
        options: *const plx_run_options_t,
    ) -> plx_status_t;
    pub fn plx_reduce_desc_init(desc: *mut plx_reduce_desc_t, struct_size: usize) -> plx_status_t;
    pub fn plx_parallel_reduce(
        runtime: *mut plx_runtime_t,
        plan: *const plx_plan_t,
        begin: i64,
        end: i64,
        desc: *const plx_reduce_desc_t,
        result: *mut c_void,
        options: *const plx_run_options_t,
    ) -> plx_status_t;
    pub fn plx_tasks_run(
        runtime: *mut plx_runtime_t,
        tasks: *const plx_task_t,
        count: i64,
        options: *const plx_run_options_t,
        results: *mut plx_task_result_t,
    ) -> plx_status_t;
    pub fn plx_cancel_token_create(token: *mut *mut plx_cancel_token_t) -> plx_status_t;
    pub fn plx_cancel_token_cancel(token: *mut plx_cancel_token_t);
    pub fn plx_cancel_token_is_cancelled(token: *const plx_cancel_token_t) -> c_int;
    pub fn plx_cancel_token_destroy(token: *mut plx_cancel_token_t);
    pub fn plx_parallel_for_async(
        runtime: *mut plx_runtime_t,
        plan: *const plx_plan_t,
        begin: i64,
        end: i64,
        fn_: plx_range_fn,
        user_data: *mut c_void,
        options: *const plx_run_options_t,
        job: *mut *mut plx_job_t,
    ) -> plx_status_t;
    pub fn plx_tasks_submit(
        runtime: *mut plx_runtime_t,
        tasks: *const plx_task_t,
        count: i64,
        options: *const plx_run_options_t,
        results: *mut plx_task_result_t,
        job: *mut *mut plx_job_t,
    ) -> plx_status_t;
    pub fn plx_job_wait(job: *mut plx_job_t, timeout_ms: i64) -> plx_status_t;
    pub fn plx_job_poll(job: *mut plx_job_t, done: *mut c_int) -> plx_status_t;
    pub fn plx_job_cancel(job: *mut plx_job_t) -> plx_status_t;
    pub fn plx_job_destroy(job: *mut plx_job_t);

    // Devices and custom kernels
    pub fn plx_kernel_create(
        runtime: *mut plx_runtime_t,
        source: *const c_char,
        kernel_name: *const c_char,
        build_options: *const c_char,
        kernel: *mut *mut plx_kernel_t,
    ) -> plx_status_t;
    pub fn plx_kernel_destroy(kernel: *mut plx_kernel_t);
    pub fn plx_kernel_devices(
        kernel: *const plx_kernel_t,
        devices: *mut i32,
        capacity: i32,
        count: *mut i32,
    ) -> plx_status_t;
    pub fn plx_rows_desc_init(desc: *mut plx_rows_desc_t, struct_size: usize) -> plx_status_t;
    pub fn plx_kernel_run_rows(
        kernel: *mut plx_kernel_t,
        plan: *const plx_plan_t,
        desc: *const plx_rows_desc_t,
        options: *const plx_run_options_t,
    ) -> plx_status_t;
    pub fn plx_buffer_create(
        runtime: *mut plx_runtime_t,
        device_index: i32,
        bytes: i64,
        buffer: *mut *mut plx_buffer_t,
    ) -> plx_status_t;
    pub fn plx_buffer_write(buffer: *mut plx_buffer_t, offset: i64, src: *const c_void, bytes: i64) -> plx_status_t;
    pub fn plx_buffer_read(buffer: *const plx_buffer_t, offset: i64, dst: *mut c_void, bytes: i64) -> plx_status_t;
    pub fn plx_buffer_destroy(buffer: *mut plx_buffer_t);
    pub fn plx_kernel_run(
        kernel: *mut plx_kernel_t,
        device_index: i32,
        args: *const plx_kernel_arg_t,
        arg_count: i32,
        dims: i32,
        global_size: *const i64,
        local_size: *const i64,
    ) -> plx_status_t;
    pub fn plx_device_measure(
        runtime: *mut plx_runtime_t,
        device_index: i32,
        transfer_bytes: i64,
        stream_bytes: i64,
        figures: *mut plx_device_figures_t,
    ) -> plx_status_t;

    // Image stacking
    pub fn plx_stack_desc_init(desc: *mut plx_stack_desc_t, struct_size: usize) -> plx_status_t;
    pub fn plx_stack_result_init(result: *mut plx_stack_result_t, struct_size: usize) -> plx_status_t;
    pub fn plx_stack(
        runtime: *mut plx_runtime_t,
        desc: *const plx_stack_desc_t,
        result: *mut plx_stack_result_t,
    ) -> plx_status_t;
    pub fn plx_stack_plan(
        runtime: *mut plx_runtime_t,
        desc: *const plx_stack_desc_t,
        plan: *mut *mut plx_plan_t,
    ) -> plx_status_t;

    // Mosaic co-addition
    pub fn plx_coadd_input_init(input: *mut plx_coadd_input_t, struct_size: usize) -> plx_status_t;
    pub fn plx_coadd_desc_init(desc: *mut plx_coadd_desc_t, struct_size: usize) -> plx_status_t;
    pub fn plx_coadd_result_init(result: *mut plx_coadd_result_t, struct_size: usize) -> plx_status_t;
    pub fn plx_coadd(
        runtime: *mut plx_runtime_t,
        desc: *const plx_coadd_desc_t,
        result: *mut plx_coadd_result_t,
    ) -> plx_status_t;
}

#[cfg(test)]
mod layout {
    //! Offsets of the fields pinned in tests/unit/api_layout_test.cpp (offset_of! is newer than rustc 1.63,
    //! so they are measured at run time from an uninitialised value).
    use super::*;
    use std::mem::MaybeUninit;

    macro_rules! offset {
        ($t:ty, $field:ident) => {{
            let value = MaybeUninit::<$t>::uninit();
            let base = value.as_ptr();
            // SAFETY: addr_of! computes a field address without reading or creating a reference.
            let field = unsafe { std::ptr::addr_of!((*base).$field) };
            field as usize - base as usize
        }};
    }
    macro_rules! pin {
        ($t:ty { $($field:ident: $offset:expr),* $(,)? }) => {$(
            assert_eq!(offset!($t, $field), $offset, concat!(stringify!($t), ".", stringify!($field)));
        )*};
    }

    #[test]
    fn offsets_match_the_c_header() {
        pin!(plx_runtime_options_t {
            struct_size: 0,
            max_cpu_workers: 8,
            reserve_cpus: 12,
            ram_fraction: 16,
            vram_fraction: 24,
            device_policy: 32,
            log_level: 36,
            log_callback: 40,
            log_user_data: 48,
            machine_profile: 56,
            sysroot: 64,
            device_filter: 72,
            device_types: 80,
            fault_injection: 88,
            cache_dir: 96,
            device_memory_limit_bytes: 104,
            device_replicas: 112,
            reserved0: 116
        });
        pin!(plx_workload_t {
            name: 8,
            kind: 16,
            layout: 20,
            items: 24,
            bytes_per_item: 32,
            rows: 40,
            bytes_per_row: 48,
            working_set_factor: 56,
            per_worker_bytes: 64,
            max_workers: 72,
            preferred_device: 76
        });
        pin!(plx_caps_t {
            cpu_logical: 8,
            cpu_quota: 24,
            numa_nodes: 32,
            memory_total_bytes: 40,
            memory_budget_bytes: 72,
            cache_l3_bytes: 96,
            cgroup_version: 104,
            from_profile: 108
        });
        pin!(plx_device_info_t {
            index: 8,
            type_: 12,
            name: 16,
            vendor: 144,
            platform: 272,
            driver_version: 400,
            opencl_c_version: 464,
            compute_units: 528,
            global_memory_bytes: 536,
            local_memory_bytes: 552,
            simulated: 572,
            measured_gbps: 576
        });
        pin!(plx_plan_info_t {
            cpu_workers: 8,
            streaming: 20,
            items_per_chunk: 24,
            max_chunk_bytes: 56,
            chunk_count: 88,
            total_bytes: 96
        });
        pin!(plx_plan_device_t { device_index: 8, share: 16, memory_budget_bytes: 48 });
        pin!(plx_run_options_t {
            name: 8,
            workers: 16,
            progress_interval_ms: 20,
            grain: 24,
            progress: 32,
            progress_user_data: 40,
            cancel: 48,
            bytes_per_item: 56,
            report: 64,
            max_attempts: 72,
            fail_fast: 76,
            backoff_base_s: 80,
            backoff_cap_s: 88,
            grow_after: 96,
            reserved0: 100,
            memory_budget_bytes: 104,
            jitter_seed: 112
        });
        pin!(plx_run_report_t {
            workers: 8,
            threads: 12,
            chunks: 16,
            retries: 24,
            peak_concurrency: 32,
            failed: 36,
            failed_begin: 40,
            failed_end: 48,
            callback_code: 56,
            peak_admitted_bytes: 64,
            wall_s: 72,
            fallback_chunks: 80,
            chunk_splits: 88,
            reserved1: 92,
            device_kernel_s: 96
        });
        pin!(plx_progress_t { done: 8, total: 16, bytes_done: 24, elapsed_s: 32, eta_s: 40 });
        pin!(plx_reduce_desc_t {
            op: 8,
            range: 16,
            combine: 24,
            user_data: 32,
            value_size: 40,
            identity: 48,
            grain: 56
        });
        pin!(plx_task_context_t {
            index: 8,
            attempt: 16,
            worker: 20,
            estimated_bytes: 24,
            reported_bytes: 32,
            message: 40
        });
        pin!(plx_task_t { fn_: 8, user_data: 16, estimated_bytes: 24, name: 32 });
        pin!(plx_task_result_t { status: 8, attempts: 12, message: 16 });
        pin!(plx_rows_desc_t {
            rows: 8,
            inputs: 16,
            input_count: 24,
            output_count: 28,
            outputs: 32,
            scalars: 40,
            scalar_count: 48,
            reserved0: 52,
            work_items_per_row: 56,
            rows_per_chunk: 64,
            cpu_fallback: 72,
            cpu_user_data: 80
        });
        pin!(plx_rows_input_t { data: 0, bytes_per_row: 8, provider: 16, provider_user_data: 24 });
        pin!(plx_rows_output_t { data: 0, bytes_per_row: 8 });
        pin!(plx_kernel_scalar_t { data: 0, size: 8 });
        pin!(plx_kernel_arg_t { kind: 0, reserved0: 4, buffer: 8, data: 16, size: 24 });
        pin!(plx_stack_desc_t {
            struct_size: 0,
            frames: 8,
            height: 16,
            width: 24,
            channels: 32,
            combine: 36,
            frame_data: 40,
            row_stride: 48,
            channel_stride: 56,
            provider: 64,
            provider_user_data: 72,
            reject: 80,
            centre: 84,
            sigma_low: 88,
            sigma_high: 96,
            max_iters: 104,
            n_low: 108,
            n_high: 112,
            weights: 116,
            percentile_low: 120,
            percentile_high: 128,
            frame_weights: 136,
            normalize: 144,
            device: 148,
            reference_frame: 152,
            run_options: 160,
            provider_rows: 168
        });
        pin!(plx_stack_result_t {
            struct_size: 0,
            image: 8,
            count: 16,
            rejected_low: 24,
            rejected_high: 32,
            frame_rejected: 40,
            frame_scale: 48,
            frame_offset: 56,
            frame_weight: 64,
            samples: 72,
            missing: 80,
            kept: 88,
            rejected: 96,
            device_index: 104,
            workers: 108,
            tile_rows: 112,
            tiles: 120,
            frame_stats_s: 128,
            stack_s: 136,
            simd_target: 144
        });
        // plx_coadd_*: offsets from the header's field order (not pinned in the C++ tests).
        pin!(plx_coadd_input_t {
            data: 8,
            height: 16,
            width: 24,
            row_stride: 32,
            weights: 40,
            weight: 48,
            background: 56,
            mapping: 64,
            matrix: 72,
            wcs_header: 144,
            map: 152,
            map_user_data: 160
        });
        pin!(plx_coadd_desc_t {
            inputs: 8,
            count: 16,
            height: 24,
            width: 32,
            output_wcs_header: 40,
            interpolation: 48,
            combine: 52,
            device: 56,
            reserved: 60,
            tile: 64,
            tile_user_data: 72,
            run_options: 80
        });
        pin!(plx_coadd_result_t {
            image: 8,
            footprint: 16,
            covered: 24,
            samples: 32,
            tile_rows: 40,
            tiles: 48,
            device_index: 56,
            workers: 60,
            native_wcs: 64,
            grid_wcs: 68,
            seconds: 72
        });
    }

    #[test]
    fn init_functions_accept_these_sizes() {
        // The library checks struct_size against its own pinned sizes: a mismatch would fail here.
        unsafe {
            let mut o = MaybeUninit::<plx_runtime_options_t>::zeroed();
            assert_eq!(plx_runtime_options_init(o.as_mut_ptr(), std::mem::size_of::<plx_runtime_options_t>()), PLX_OK);
            assert_eq!(o.assume_init().ram_fraction, 0.75);
            let mut r = MaybeUninit::<plx_run_options_t>::zeroed();
            assert_eq!(plx_run_options_init(r.as_mut_ptr(), std::mem::size_of::<plx_run_options_t>()), PLX_OK);
            assert_eq!(r.assume_init().max_attempts, 3);
            let mut s = MaybeUninit::<plx_stack_desc_t>::zeroed();
            assert_eq!(plx_stack_desc_init(s.as_mut_ptr(), std::mem::size_of::<plx_stack_desc_t>()), PLX_OK);
            assert_eq!(s.assume_init().sigma_low, 3.0);
            let mut c = MaybeUninit::<plx_coadd_input_t>::zeroed();
            assert_eq!(plx_coadd_input_init(c.as_mut_ptr(), std::mem::size_of::<plx_coadd_input_t>()), PLX_OK);
            assert_eq!(c.assume_init().matrix, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
            assert_eq!(plx_version(), PLX_VERSION_NUMBER);
        }
    }
}
