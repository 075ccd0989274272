//! Parallax from Rust: plans heavy loops for the machine this process may
//! really use (CPUs, memory budgets, OpenCL devices) and runs them — Rust
//! closures on the runtime's threads, OpenCL kernels over rows of any size,
//! and the built-in image stacking and mosaic co-addition.
//!
//! A safe wrapper over `parallax-sys` (the raw declarations of
//! include/parallax.h), std only.
//!
//! ```no_run
//! use parallax::{Runtime, RunOptions, Workload, StackDesc, Reject};
//!
//! # fn main() -> parallax::Result<()> {
//! let rt = Runtime::builder().ram_fraction(0.5).build()?;
//! let plan = rt.plan(&Workload::new(13_000, 24_883_200).name("calibrate"))?;
//! println!("{} workers, {} frames per chunk", plan.info().cpu_workers, plan.info().items_per_chunk);
//!
//! let sum: f64 = rt.parallel_sum(0..1_000_000, &RunOptions::new().plan(&plan), |items, _worker, acc: &mut f64| {
//!     for i in items {
//!         *acc += i as f64;
//!     }
//! })?;
//!
//! let (a, b, c) = (vec![1.0f32; 64], vec![2.0f32; 64], vec![9.0f32; 64]);
//! let frames = [&a[..], &b[..], &c[..]];
//! let stacked = rt.stack(&StackDesc::new(&frames, 8, 8).reject(Reject::SigmaClip).sigma(3.0))?;
//! # let _ = (sum, stacked);
//! # Ok(())
//! # }
//! ```
//!
//! Conventions:
//! - Every fallible call returns [`Result`]; [`Error`] has one variant per `plx_status_t`, with
//!   the library's message read on the calling thread right after the failing call.
//! - Handles free themselves on drop: [`Runtime`], [`Plan`], [`CancelToken`], [`Job`],
//!   [`Kernel`] and [`Buffer`]. Kernels and buffers borrow their runtime; plans, tokens and jobs
//!   do not (jobs hold clones of their plan and token until they end).
//! - Callbacks (loop bodies, providers, CPU fallbacks, coordinate maps, tile and progress
//!   functions) never unwind into C: a panic is caught where the library calls in and ends the
//!   call with [`Error::TaskFailed`], whose message has the panic's text.
//! - The loaded library is checked when a runtime or token is created: a library of another major
//!   version (or too old a minor) is refused with [`Error::Version`] and a message saying what is
//!   needed.
//!
//! Finding the library: the build script of `parallax-sys` links libparallax from
//! `$PARALLAX_LIB_DIR`, else the repository's `build/src`, else `pkg-config --libs parallax`, and
//! gives test and example binaries an rpath to it.

mod callback;
mod coadd;
mod device;
mod error;
mod exec;
mod gemm;
mod json;
mod plan;
mod run;
mod runtime;
mod stack;
mod version;

pub use callback::{CallbackResult, ProgressResult};
pub use coadd::{fits_cards, CoaddCombine, CoaddDesc, CoaddInfo, CoaddInput, CoaddResult, Interpolation};
pub use device::{Buffer, CpuRows, DeviceFigures, Element, Kernel, KernelArg, Rows, Scalar};
pub use error::{last_error, Error, Result};
pub use exec::{Job, SumValue, Task, TaskContext, TaskResult, TaskResults, TaskReturn};
pub use gemm::{Gemm, GemmInfo, GemmScalar, GemmTuneOptions, GemmTuneResult, MatrixLayout, Precision};
pub use plan::{DevicePreference, Layout, Plan, PlanDevice, PlanInfo, Workload, WorkloadKind};
pub use run::{CancelToken, Progress, RunOptions, RunReport};
pub use runtime::{Caps, DeviceInfo, DevicePolicy, DeviceTypes, LogLevel, Runtime, RuntimeBuilder};
pub use stack::{Centre, Combine, FrameBlock, Normalize, Reject, StackDesc, StackResult, Weights};
pub use version::{
    abi_compatible, check_compatible, check_library, status_string, version, version_string, Version, HEADER_VERSION,
};

/// The raw declarations, for what the safe API does not cover.
pub use parallax_sys as sys;
