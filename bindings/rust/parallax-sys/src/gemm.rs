//! Matrix multiply (`plx_gemm*`): the "Matrix multiply" section of
//! include/parallax.h, re-exported by the crate root.

use std::os::raw::{c_char, c_int};

use crate::{plx_buffer_t, plx_run_options_t, plx_runtime_t, plx_status_t};

pub type plx_precision_t = c_int;
pub const PLX_PRECISION_F32: plx_precision_t = 0;
pub const PLX_PRECISION_F64: plx_precision_t = 1;

pub type plx_matrix_layout_t = c_int;
pub const PLX_ROW_MAJOR: plx_matrix_layout_t = 0;
pub const PLX_COL_MAJOR: plx_matrix_layout_t = 1;

pub type plx_transpose_t = c_int;
pub const PLX_NO_TRANS: plx_transpose_t = 0;
pub const PLX_TRANS: plx_transpose_t = 1;

pub type plx_gemm_tune_kernels_t = c_int;
pub const PLX_TUNE_XGEMM: plx_gemm_tune_kernels_t = 1;
pub const PLX_TUNE_XGEMM_DIRECT: plx_gemm_tune_kernels_t = 2;
pub const PLX_TUNE_HELPERS: plx_gemm_tune_kernels_t = 4;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_gemm_desc_t {
    pub struct_size: usize,
    pub precision: i32,
    pub layout: i32,
    pub trans_a: i32,
    pub trans_b: i32,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub alpha: f64,
    pub beta: f64,
    pub a: *const std::os::raw::c_void,
    pub lda: i64,
    pub b: *const std::os::raw::c_void,
    pub ldb: i64,
    pub c: *mut std::os::raw::c_void,
    pub ldc: i64,
    pub a_buffer: *mut plx_buffer_t,
    pub b_buffer: *mut plx_buffer_t,
    pub c_buffer: *mut plx_buffer_t,
    pub a_offset: i64,
    pub b_offset: i64,
    pub c_offset: i64,
    pub device: i32,
    pub reserved0: i32,
    pub run_options: *const plx_run_options_t,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_gemm_result_t {
    pub struct_size: usize,
    pub device_index: i32,
    pub workers: i32,
    pub tiles: i64,
    pub splits: i32,
    pub fallback: i32,
    pub seconds: f64,
    pub gflops: f64,
    pub path: [c_char; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_gemm_tune_options_t {
    pub struct_size: usize,
    pub precision: i32,
    pub kernels: i32,
    pub size: i64,
    pub fraction: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plx_gemm_tune_result_t {
    pub struct_size: usize,
    pub kernels_tuned: i32,
    pub reserved0: i32,
    pub seconds: f64,
    pub default_gflops: f64,
    pub tuned_gflops: f64,
    pub cpu_gflops: f64,
    pub upload_gbps: f64,
    pub path: [c_char; 256],
}

// src/api/struct_io.hpp: PLX_FIRST_RELEASE_SIZE
const _: () = assert!(std::mem::size_of::<plx_gemm_desc_t>() == 176, "size of plx_gemm_desc_t");
const _: () = assert!(std::mem::size_of::<plx_gemm_result_t>() == 64, "size of plx_gemm_result_t");
const _: () = assert!(std::mem::size_of::<plx_gemm_tune_options_t>() == 32, "size of plx_gemm_tune_options_t");
const _: () = assert!(std::mem::size_of::<plx_gemm_tune_result_t>() == 312, "size of plx_gemm_tune_result_t");

extern "C" {
    pub fn plx_gemm_desc_init(desc: *mut plx_gemm_desc_t, struct_size: usize) -> plx_status_t;
    pub fn plx_gemm(
        runtime: *mut plx_runtime_t,
        desc: *const plx_gemm_desc_t,
        result: *mut plx_gemm_result_t,
    ) -> plx_status_t;
    pub fn plx_gemm_batched_strided(
        runtime: *mut plx_runtime_t,
        desc: *const plx_gemm_desc_t,
        batch_count: i64,
        stride_a: i64,
        stride_b: i64,
        stride_c: i64,
        result: *mut plx_gemm_result_t,
    ) -> plx_status_t;
    pub fn plx_gemm_tune_options_init(options: *mut plx_gemm_tune_options_t, struct_size: usize) -> plx_status_t;
    pub fn plx_gemm_tune(
        runtime: *mut plx_runtime_t,
        device_index: i32,
        options: *const plx_gemm_tune_options_t,
        result: *mut plx_gemm_tune_result_t,
    ) -> plx_status_t;
}

#[cfg(test)]
mod layout {
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

    #[test]
    fn gemm_offsets_match_the_c_header() {
        assert_eq!(offset!(plx_gemm_desc_t, m), 24);
        assert_eq!(offset!(plx_gemm_desc_t, alpha), 48);
        assert_eq!(offset!(plx_gemm_desc_t, a), 64);
        assert_eq!(offset!(plx_gemm_desc_t, a_buffer), 112);
        assert_eq!(offset!(plx_gemm_desc_t, device), 160);
        assert_eq!(offset!(plx_gemm_desc_t, run_options), 168);
        assert_eq!(offset!(plx_gemm_result_t, tiles), 16);
        assert_eq!(offset!(plx_gemm_result_t, seconds), 32);
        assert_eq!(offset!(plx_gemm_result_t, path), 48);
        assert_eq!(offset!(plx_gemm_tune_options_t, fraction), 24);
        assert_eq!(offset!(plx_gemm_tune_result_t, path), 56);
    }

    #[test]
    fn gemm_init_functions_accept_these_sizes() {
        unsafe {
            let mut d = MaybeUninit::<plx_gemm_desc_t>::zeroed();
            assert_eq!(plx_gemm_desc_init(d.as_mut_ptr(), std::mem::size_of::<plx_gemm_desc_t>()), crate::PLX_OK);
            let d = d.assume_init();
            assert_eq!((d.alpha, d.beta, d.precision, d.layout), (1.0, 0.0, PLX_PRECISION_F32, PLX_ROW_MAJOR));
            let mut t = MaybeUninit::<plx_gemm_tune_options_t>::zeroed();
            let size = std::mem::size_of::<plx_gemm_tune_options_t>();
            assert_eq!(plx_gemm_tune_options_init(t.as_mut_ptr(), size), crate::PLX_OK);
            let t = t.assume_init();
            assert_eq!((t.kernels, t.size), (PLX_TUNE_XGEMM | PLX_TUNE_XGEMM_DIRECT, 1024));
        }
    }
}
