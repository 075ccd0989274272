//! Matrix multiply (`plx_gemm`, `plx_gemm_batched_strided`, `plx_gemm_tune`):
//! `C = alpha op(A) op(B) + beta C` on slices of `f32` or `f64`, as BLAS xGEMM
//! does, on the CPU (OpenBLAS with the runtime's thread count) or an OpenCL
//! device through CLBlast.
//!
//! ```no_run
//! use parallax::{Gemm, Runtime};
//!
//! # fn main() -> parallax::Result<()> {
//! let rt = Runtime::new()?;
//! let (m, n, k) = (2, 2, 3);
//! let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3, row-major
//! let b = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 x 2
//! let mut c = [0.0f32; 4];
//! let info = rt.gemm(&Gemm::new(&a, &b, m, n, k), &mut c)?;
//! assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
//! println!("{} in {:.3} ms", info.path, info.seconds * 1e3);
//! # Ok(())
//! # }
//! ```
//!
//! Semantics are BLAS's: `beta = 0` (the default) does not read C, so NaN or
//! garbage there does not propagate; `alpha = 0` or `k = 0` gives `beta C`
//! without reading A or B. Every argument is checked by the library before any
//! matrix is touched (its message names the field); the binding only checks
//! beforehand that each slice holds the elements the call would read or write.

use std::ffi::CStr;
use std::os::raw::c_void;

use parallax_sys as sys;

use crate::callback::{init_struct, sized};
use crate::error::{check, Error, Result};
use crate::plan::DevicePreference;
use crate::runtime::Runtime;

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// An element type of [`Runtime::gemm`]: `f32` or `f64` (`plx_precision_t`).
pub trait GemmScalar: private::Sealed + Copy {
    /// The `plx_precision_t` of this type.
    const PRECISION: i32;
}
impl GemmScalar for f32 {
    const PRECISION: i32 = sys::PLX_PRECISION_F32;
}
impl GemmScalar for f64 {
    const PRECISION: i32 = sys::PLX_PRECISION_F64;
}

/// Element type of [`Runtime::gemm_tune`] (`plx_precision_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    F32 = 0,
    /// Devices need cl_khr_fp64.
    F64 = 1,
}

/// How A, B and C are stored (`plx_matrix_layout_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatrixLayout {
    /// Element (i, j) at i x ld + j.
    #[default]
    RowMajor = 0,
    /// Element (i, j) at i + j x ld (BLAS, Fortran).
    ColMajor = 1,
}

/// One product `C = alpha op(A) op(B) + beta C` over slices (`plx_gemm_desc_t`): op(A) is
/// m x k, op(B) is k x n, C (given to [`Runtime::gemm`]) is m x n.
#[derive(Debug, Clone)]
pub struct Gemm<'a, T: GemmScalar> {
    a: &'a [T],
    b: &'a [T],
    m: i64,
    n: i64,
    k: i64,
    layout: MatrixLayout,
    trans_a: bool,
    trans_b: bool,
    alpha: f64,
    beta: f64,
    lda: Option<i64>,
    ldb: Option<i64>,
    ldc: Option<i64>,
    device: DevicePreference,
    workers: Option<i32>,
}

impl<'a, T: GemmScalar> Gemm<'a, T> {
    /// The product of `a` (m x k, or k x m with [`Gemm::trans_a`]) and `b` (k x n, or n x k with
    /// [`Gemm::trans_b`]), row-major with packed rows, alpha 1, beta 0, device AUTO.
    pub fn new(a: &'a [T], b: &'a [T], m: i64, n: i64, k: i64) -> Gemm<'a, T> {
        Gemm {
            a,
            b,
            m,
            n,
            k,
            layout: MatrixLayout::RowMajor,
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
            lda: None,
            ldb: None,
            ldc: None,
            device: DevicePreference::Auto,
            workers: None,
        }
    }
    /// The layout of A, B and C (default row-major).
    pub fn layout(mut self, layout: MatrixLayout) -> Self {
        self.layout = layout;
        self
    }
    /// Use the transpose of A: `a` holds a k x m matrix.
    pub fn trans_a(mut self, on: bool) -> Self {
        self.trans_a = on;
        self
    }
    /// Use the transpose of B: `b` holds an n x k matrix.
    pub fn trans_b(mut self, on: bool) -> Self {
        self.trans_b = on;
        self
    }
    /// Scales the product (default 1); NaN propagates.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Scales C (default 0: C is not read).
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }
    /// Leading dimension of A in elements (default: its stored row, or column, length).
    pub fn lda(mut self, ld: i64) -> Self {
        self.lda = Some(ld);
        self
    }
    /// Leading dimension of B.
    pub fn ldb(mut self, ld: i64) -> Self {
        self.ldb = Some(ld);
        self
    }
    /// Leading dimension of C.
    pub fn ldc(mut self, ld: i64) -> Self {
        self.ldc = Some(ld);
        self
    }
    /// Where it runs (default AUTO: a GPU only when it is estimated to win; see plx_gemm).
    pub fn device(mut self, device: DevicePreference) -> Self {
        self.device = device;
        self
    }
    /// Threads of the CPU path (default: the runtime's CPUs).
    pub fn workers(mut self, n: i32) -> Self {
        self.workers = Some(n);
        self
    }

    /// (rows, cols) as stored, of A, B and C.
    fn stored(&self) -> [(i64, i64); 3] {
        let a = if self.trans_a { (self.k, self.m) } else { (self.m, self.k) };
        let b = if self.trans_b { (self.n, self.k) } else { (self.k, self.n) };
        [a, b, (self.m, self.n)]
    }

    fn default_ld(&self, (rows, cols): (i64, i64)) -> i64 {
        match self.layout {
            MatrixLayout::RowMajor => cols.max(1),
            MatrixLayout::ColMajor => rows.max(1),
        }
    }

    /// Elements one stored matrix spans, or None when the library refuses the sizes anyway.
    fn extent(&self, (rows, cols): (i64, i64), ld: i64) -> Option<u128> {
        if rows < 0 || cols < 0 || ld < 1 {
            return None;
        }
        if rows == 0 || cols == 0 {
            return Some(0);
        }
        let (outer, inner) = match self.layout {
            MatrixLayout::RowMajor => (rows, cols),
            MatrixLayout::ColMajor => (cols, rows),
        };
        if ld < inner {
            return None;
        }
        Some((outer as u128 - 1) * ld as u128 + inner as u128)
    }
}

/// What a [`Runtime::gemm`] call did (`plx_gemm_result_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct GemmInfo {
    /// The OpenCL device that multiplied; None: the CPU.
    pub device_index: Option<i32>,
    /// CPU threads of the CPU path (0 on a device).
    pub workers: i32,
    /// Device: tiles of C (x k tiles) run; 0 on the CPU.
    pub tiles: i64,
    /// Device: times tiles were halved after running out of memory.
    pub splits: i32,
    /// A device failed and the CPU path did (the rest of) the work.
    pub fallback: bool,
    /// Wall time of the call.
    pub seconds: f64,
    /// 2 m n k x batch / seconds / 1e9.
    pub gflops: f64,
    /// "openblas", "blocked", "clblast" or "scale".
    pub path: String,
}

fn c_chars(chars: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Options of [`Runtime::gemm_tune`] (`plx_gemm_tune_options_t`); unset fields take the library's
/// defaults (F32, XGEMM | XGEMM_DIRECT, size 1024, fraction 1/64).
#[derive(Debug, Clone, Default)]
pub struct GemmTuneOptions {
    precision: Option<Precision>,
    kernels: Option<i32>,
    size: Option<i64>,
    fraction: Option<f64>,
}

impl GemmTuneOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = Some(precision);
        self
    }
    /// A mask of `sys::PLX_TUNE_XGEMM`, `PLX_TUNE_XGEMM_DIRECT` and `PLX_TUNE_HELPERS`.
    pub fn kernels(mut self, mask: i32) -> Self {
        self.kernels = Some(mask);
        self
    }
    /// m = n = k of the problem tuned on, 64 .. 8192.
    pub fn size(mut self, size: i64) -> Self {
        self.size = Some(size);
        self
    }
    /// Share of each kernel's search space tried, in (0, 1].
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction);
        self
    }
}

/// What [`Runtime::gemm_tune`] did (`plx_gemm_tune_result_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct GemmTuneResult {
    pub kernels_tuned: i32,
    pub seconds: f64,
    pub default_gflops: f64,
    pub tuned_gflops: f64,
    pub cpu_gflops: f64,
    pub upload_gbps: f64,
    /// The file the parameters were stored in.
    pub path: String,
}

fn too_small(what: &str, len: usize, need: u128) -> Error {
    Error::invalid(format!("{what} has {len} elements but the call reaches {need}"))
}

impl Runtime {
    /// `C = alpha op(A) op(B) + beta C` (`plx_gemm`), `c` an m x n matrix in the descriptor's
    /// layout, updated in place.
    pub fn gemm<T: GemmScalar>(&self, g: &Gemm<'_, T>, c: &mut [T]) -> Result<GemmInfo> {
        self.gemm_impl("Runtime::gemm", g, c, None)
    }

    /// `batch_count` products of `g` (`plx_gemm_batched_strided`): product i reads A at element
    /// i x stride_a of `a`, B at i x stride_b, and writes C at i x stride_c of `c`. A stride of 0
    /// for A or B shares one matrix between the products.
    pub fn gemm_batched_strided<T: GemmScalar>(
        &self,
        g: &Gemm<'_, T>,
        c: &mut [T],
        batch_count: i64,
        stride_a: i64,
        stride_b: i64,
        stride_c: i64,
    ) -> Result<GemmInfo> {
        self.gemm_impl("Runtime::gemm_batched_strided", g, c, Some((batch_count, stride_a, stride_b, stride_c)))
    }

    fn gemm_impl<T: GemmScalar>(
        &self,
        what: &str,
        g: &Gemm<'_, T>,
        c: &mut [T],
        batch: Option<(i64, i64, i64, i64)>,
    ) -> Result<GemmInfo> {
        let rt = self.ptr(what)?;
        let [sa, sb, sc] = g.stored();
        let lda = g.lda.unwrap_or_else(|| g.default_ld(sa));
        let ldb = g.ldb.unwrap_or_else(|| g.default_ld(sb));
        let ldc = g.ldc.unwrap_or_else(|| g.default_ld(sc));
        // Slices long enough for what the call reads and writes. Sizes the library refuses (negative,
        // too small a leading dimension) are left to it: it checks every argument before any access.
        let (count, strides) = match batch {
            None => (1i64, [0i64; 3]),
            Some((n, s_a, s_b, s_c)) => (n, [s_a, s_b, s_c]),
        };
        if count >= 0 && strides.iter().all(|&s| s >= 0) {
            let reads_ab = g.k != 0 && g.alpha != 0.0 && g.m != 0 && g.n != 0;
            let checks = [
                ("a", g.a.len(), sa, lda, strides[0], reads_ab),
                ("b", g.b.len(), sb, ldb, strides[1], reads_ab),
                ("c", c.len(), sc, ldc, strides[2], true),
            ];
            for (name, len, dims, ld, stride, used) in checks {
                if !used || count == 0 {
                    continue;
                }
                if let Some(extent) = g.extent(dims, ld) {
                    if extent == 0 {
                        continue;
                    }
                    let need = (count as u128 - 1) * stride as u128 + extent;
                    if need > len as u128 {
                        return Err(too_small(&format!("{what}: {name}"), len, need));
                    }
                }
            }
        }
        let mut options: sys::plx_run_options_t = init_struct(sys::plx_run_options_init)?;
        let mut desc: sys::plx_gemm_desc_t = init_struct(sys::plx_gemm_desc_init)?;
        desc.precision = T::PRECISION;
        desc.layout = g.layout as i32;
        desc.trans_a = if g.trans_a { sys::PLX_TRANS } else { sys::PLX_NO_TRANS };
        desc.trans_b = if g.trans_b { sys::PLX_TRANS } else { sys::PLX_NO_TRANS };
        desc.m = g.m;
        desc.n = g.n;
        desc.k = g.k;
        desc.alpha = g.alpha;
        desc.beta = g.beta;
        desc.a = g.a.as_ptr() as *const c_void;
        desc.lda = lda;
        desc.b = g.b.as_ptr() as *const c_void;
        desc.ldb = ldb;
        desc.c = c.as_mut_ptr() as *mut c_void;
        desc.ldc = ldc;
        desc.device = g.device as i32;
        if let Some(w) = g.workers {
            options.workers = w;
            desc.run_options = &options;
        }
        let mut r: sys::plx_gemm_result_t = sized();
        // SAFETY: the slices hold every element the call reads or writes (checked above, or the
        // library refuses the sizes before touching them); they and `options` outlive the call, and
        // `c` is borrowed mutably, so it overlaps neither a nor b.
        let status = unsafe {
            match batch {
                None => sys::plx_gemm(rt, &desc, &mut r),
                Some((n, s_a, s_b, s_c)) => sys::plx_gemm_batched_strided(rt, &desc, n, s_a, s_b, s_c, &mut r),
            }
        };
        check(status)?;
        Ok(GemmInfo {
            device_index: if r.device_index < 0 { None } else { Some(r.device_index) },
            workers: r.workers,
            tiles: r.tiles,
            splits: r.splits,
            fallback: r.fallback != 0,
            seconds: r.seconds,
            gflops: r.gflops,
            path: c_chars(&r.path),
        })
    }

    /// Runs CLBlast's tuners for OpenCL device `device_index` and stores the best parameters in
    /// the runtime's cache dir (`plx_gemm_tune`); later runtimes apply them. Minutes to hours.
    pub fn gemm_tune(&self, device_index: i32, options: &GemmTuneOptions) -> Result<GemmTuneResult> {
        let rt = self.ptr("Runtime::gemm_tune")?;
        let mut o: sys::plx_gemm_tune_options_t = init_struct(sys::plx_gemm_tune_options_init)?;
        if let Some(p) = options.precision {
            o.precision = p as i32;
        }
        if let Some(k) = options.kernels {
            o.kernels = k;
        }
        if let Some(s) = options.size {
            o.size = s;
        }
        if let Some(f) = options.fraction {
            o.fraction = f;
        }
        let mut r: sys::plx_gemm_tune_result_t = sized();
        // SAFETY: plain structs that live through the call.
        check(unsafe { sys::plx_gemm_tune(rt, device_index, &o, &mut r) })?;
        Ok(GemmTuneResult {
            kernels_tuned: r.kernels_tuned,
            seconds: r.seconds,
            default_gflops: r.default_gflops,
            tuned_gflops: r.tuned_gflops,
            cpu_gflops: r.cpu_gflops,
            upload_gbps: r.upload_gbps,
            path: unsafe { CStr::from_ptr(r.path.as_ptr()) }.to_string_lossy().into_owned(),
        })
    }
}
