//! What every run shares: [`RunOptions`] (plan, workers, grain, progress
//! closure, cancel token, task retry settings), the [`RunReport`] a run ends
//! with, [`Progress`] reports, and [`CancelToken`].

use std::ffi::CString;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use parallax_sys as sys;

use crate::callback::{c_string, init_struct, lock, opt_ptr, panic_message, sized, Failures, ProgressResult};
use crate::error::{check, Error, Result};
use crate::plan::Plan;

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// What a run did (`plx_run_report_t`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunReport {
    /// Logical workers of the run.
    pub workers: i32,
    /// Threads of the runtime's arena.
    pub threads: i32,
    /// Chunks run (loops) or task attempts (tasks).
    pub chunks: i64,
    /// Task attempts after a first failure.
    pub retries: i64,
    /// Most chunks or tasks running at once.
    pub peak_concurrency: i32,
    /// Failed chunks or tasks.
    pub failed: i32,
    /// First failing range of a loop, (begin, end); None when none.
    pub failed_range: Option<(i64, i64)>,
    /// What the callback returned there; 0 when none.
    pub callback_code: i32,
    /// Tasks: most estimated bytes running at once.
    pub peak_admitted_bytes: i64,
    pub wall_s: f64,
    /// Kernel runs: chunks that failed on a device and ran on the CPU fallback.
    pub fallback_chunks: i64,
    /// Kernel runs: times a device's chunk was halved after running out of memory.
    pub chunk_splits: i32,
    /// Kernel runs: seconds the devices' kernels ran (profiled), without the transfers.
    pub device_kernel_s: f64,
}

impl RunReport {
    /// None when the library never wrote it (the call failed before the run started).
    pub(crate) fn from_raw(r: &sys::plx_run_report_t) -> Option<RunReport> {
        if r.workers <= 0 {
            return None;
        }
        Some(RunReport {
            workers: r.workers,
            threads: r.threads,
            chunks: r.chunks,
            retries: r.retries,
            peak_concurrency: r.peak_concurrency,
            failed: r.failed,
            failed_range: if r.failed_begin < 0 { None } else { Some((r.failed_begin, r.failed_end)) },
            callback_code: r.callback_code,
            peak_admitted_bytes: r.peak_admitted_bytes,
            wall_s: r.wall_s,
            fallback_chunks: r.fallback_chunks,
            chunk_splits: r.chunk_splits,
            device_kernel_s: r.device_kernel_s,
        })
    }
}

/// Progress of a run, passed to a progress closure (`plx_progress_t`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Items (loops) or tasks finished, whether they succeeded or not.
    pub done: i64,
    /// Items or tasks in the run.
    pub total: i64,
    /// done x bytes per item (loops), or the succeeded tasks' estimated bytes.
    pub bytes_done: i64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Estimated seconds left; None until something is done.
    pub eta_s: Option<f64>,
}

impl Progress {
    /// done / total in [0, 1] (1 for an empty run).
    pub fn fraction(&self) -> f64 {
        if self.total > 0 {
            self.done as f64 / self.total as f64
        } else {
            1.0
        }
    }
}

// ---------------------------------------------------------------------------
// Cancel tokens
// ---------------------------------------------------------------------------

struct TokenHandle(NonNull<sys::plx_cancel_token_t>);

impl Drop for TokenHandle {
    fn drop(&mut self) {
        // SAFETY: ours, and the last reference: runs and jobs hold clones while they use it.
        unsafe { sys::plx_cancel_token_destroy(self.0.as_ptr()) }
    }
}

// SAFETY: cancel tokens are thread- and signal-safe by contract.
unsafe impl Send for TokenHandle {}
unsafe impl Sync for TokenHandle {}

/// A flag that stops every run it was given ([`RunOptions::cancel`]) within one chunk or task;
/// the run then ends with [`Error::Cancelled`]. Clones share the flag; cancel it from any thread.
#[derive(Clone)]
pub struct CancelToken {
    handle: Arc<TokenHandle>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

impl CancelToken {
    /// A token, not cancelled (`plx_cancel_token_create`).
    pub fn new() -> Result<CancelToken> {
        crate::version::check_library()?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: an out-pointer.
        check(unsafe { sys::plx_cancel_token_create(&mut raw) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("plx_cancel_token_create gave NULL".into()))?;
        Ok(CancelToken { handle: Arc::new(TokenHandle(raw)) })
    }

    /// Cancels every run given this token, and every later one (`plx_cancel_token_cancel`).
    pub fn cancel(&self) {
        // SAFETY: a live token.
        unsafe { sys::plx_cancel_token_cancel(self.handle.0.as_ptr()) }
    }

    /// Whether [`CancelToken::cancel`] was called (`plx_cancel_token_is_cancelled`).
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: a live token.
        unsafe { sys::plx_cancel_token_is_cancelled(self.handle.0.as_ptr()) != 0 }
    }

    pub(crate) fn raw(&self) -> *mut sys::plx_cancel_token_t {
        self.handle.0.as_ptr()
    }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

type ProgressFn<'a> = dyn FnMut(&Progress) -> bool + Send + 'a;

/// Options of a run (`plx_run_options_t`) and the plan it follows; everything unset takes the
/// library's default. One value may serve many runs (the progress closure is shared by them).
///
/// For async runs ([`crate::Runtime::parallel_for_async`], [`crate::Runtime::submit_tasks`]) the
/// options are `RunOptions<'static>`: the progress closure then owns what it uses.
#[derive(Default, Clone)]
pub struct RunOptions<'a> {
    plan: Option<Plan>,
    name: Option<String>,
    workers: Option<i32>,
    progress_interval_ms: Option<i32>,
    grain: Option<i64>,
    bytes_per_item: Option<i64>,
    progress: Option<Arc<Mutex<Box<ProgressFn<'a>>>>>,
    cancel: Option<CancelToken>,
    max_attempts: Option<i32>,
    fail_fast: Option<bool>,
    backoff_base_s: Option<f64>,
    backoff_cap_s: Option<f64>,
    grow_after: Option<i32>,
    memory_budget_bytes: Option<i64>,
    jitter_seed: Option<u64>,
}

impl<'a> RunOptions<'a> {
    /// Defaults: the runtime's usable CPUs, about 8 chunks per worker, no progress, no token.
    pub fn new() -> Self {
        RunOptions::default()
    }
    /// Follow this plan: its workers and chunk size (its workers only, for a reduction).
    pub fn plan(mut self, plan: &Plan) -> Self {
        self.plan = Some(plan.clone());
        self
    }
    /// For log lines and messages (default: the function's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Logical workers (0 = the plan's, else the runtime's usable CPUs).
    pub fn workers(mut self, n: i32) -> Self {
        self.workers = Some(n);
        self
    }
    /// Minimum milliseconds between progress calls (default 200).
    pub fn progress_interval_ms(mut self, ms: i32) -> Self {
        self.progress_interval_ms = Some(ms);
        self
    }
    /// Items per chunk (0 = the plan's, else about 8 chunks per worker).
    pub fn grain(mut self, items: i64) -> Self {
        self.grain = Some(items);
        self
    }
    /// Bytes of one item, for progress (0 = the plan's).
    pub fn bytes_per_item(mut self, bytes: i64) -> Self {
        self.bytes_per_item = Some(bytes);
        self
    }
    /// Called with the run's [`Progress`] at most every progress_interval_ms, from any thread but
    /// never twice at once, and once at the end. Return `()` to go on, or
    /// `ControlFlow::Break(())` to cancel the run ([`Error::Cancelled`]). A panic is caught and
    /// ends the run with [`Error::TaskFailed`].
    pub fn progress<F, R>(mut self, mut f: F) -> Self
    where
        F: FnMut(&Progress) -> R + Send + 'a,
        R: ProgressResult,
    {
        self.progress = Some(Arc::new(Mutex::new(Box::new(move |p: &Progress| f(p).keep_going()))));
        self
    }
    /// Checked between chunks and tasks; the run ends with [`Error::Cancelled`] once it is cancelled.
    pub fn cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }
    /// Tasks: attempts per task before it fails for good (default 3).
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = Some(n);
        self
    }
    /// Tasks: start no task after the first one fails for good (the rest end cancelled).
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = Some(on);
        self
    }
    /// Tasks: backoff before a retry, base x 2^(attempt-1) capped, times a jitter in [0.5, 1]
    /// (defaults 0.05 s and 5 s).
    pub fn backoff(mut self, base_s: f64, cap_s: f64) -> Self {
        self.backoff_base_s = Some(base_s);
        self.backoff_cap_s = Some(cap_s);
        self
    }
    /// Tasks: successes in a row after which a halved concurrency grows back by one (default 4).
    pub fn grow_after(mut self, n: i32) -> Self {
        self.grow_after = Some(n);
        self
    }
    /// Memory the tasks' estimates may add up to (0 = the plan's budget, or the runtime's).
    pub fn memory_budget_bytes(mut self, bytes: i64) -> Self {
        self.memory_budget_bytes = Some(bytes);
        self
    }
    /// Seed of the backoff jitter (0 = random).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }
}

struct ProgressCtx<'a> {
    f: Arc<Mutex<Box<ProgressFn<'a>>>>,
    failures: Arc<Failures>,
    panicked: std::sync::atomic::AtomicBool,
}

unsafe extern "C" fn progress_trampoline(p: *const sys::plx_progress_t, user_data: *mut c_void) -> c_int {
    // SAFETY: user_data is the run's ProgressCtx, alive until the run has ended.
    let ctx = &*(user_data as *const ProgressCtx);
    if ctx.panicked.load(std::sync::atomic::Ordering::Acquire) {
        return 1; // not called again after a panic (the run is being cancelled)
    }
    let p = &*p;
    let progress = Progress {
        done: p.done,
        total: p.total,
        bytes_done: p.bytes_done,
        elapsed_s: p.elapsed_s,
        eta_s: if p.eta_s < 0.0 { None } else { Some(p.eta_s) },
    };
    match catch_unwind(AssertUnwindSafe(|| (lock(&ctx.f))(&progress))) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(payload) => {
            ctx.panicked.store(true, std::sync::atomic::Ordering::Release);
            ctx.failures.record(i64::MAX, format!("the progress callback panicked: {}", panic_message(&*payload)));
            1
        }
    }
}

/// A run's C options and everything they point to (name, progress context, report, token and
/// plan), with the failures its callbacks record. The C structs are boxed: moving this value
/// keeps the pointers valid.
pub(crate) struct RawRun<'a> {
    options: Box<sys::plx_run_options_t>,
    report: Box<sys::plx_run_report_t>,
    _name: Option<CString>,
    _progress: Option<Box<ProgressCtx<'a>>>,
    _cancel: Option<CancelToken>,
    plan: Option<Plan>,
    pub(crate) failures: Arc<Failures>,
}

// SAFETY: the raw pointers point into the boxes this value owns (or into the token and plan it
// holds), and the progress closure is Send and behind a mutex.
unsafe impl Send for RawRun<'_> {}
unsafe impl Sync for RawRun<'_> {}

impl<'a> RawRun<'a> {
    pub(crate) fn new(o: &RunOptions<'a>) -> Result<RawRun<'a>> {
        let mut options: Box<sys::plx_run_options_t> = Box::new(init_struct(sys::plx_run_options_init)?);
        let mut report: Box<sys::plx_run_report_t> = Box::new(sized());
        let name = o.name.as_deref().map(|n| c_string("run name", n)).transpose()?;
        options.name = opt_ptr(&name);
        if let Some(v) = o.workers {
            options.workers = v;
        }
        if let Some(v) = o.progress_interval_ms {
            options.progress_interval_ms = v;
        }
        if let Some(v) = o.grain {
            options.grain = v;
        }
        if let Some(v) = o.bytes_per_item {
            options.bytes_per_item = v;
        }
        if let Some(v) = o.max_attempts {
            options.max_attempts = v;
        }
        if let Some(v) = o.fail_fast {
            options.fail_fast = v as i32;
        }
        if let Some(v) = o.backoff_base_s {
            options.backoff_base_s = v;
        }
        if let Some(v) = o.backoff_cap_s {
            options.backoff_cap_s = v;
        }
        if let Some(v) = o.grow_after {
            options.grow_after = v;
        }
        if let Some(v) = o.memory_budget_bytes {
            options.memory_budget_bytes = v;
        }
        if let Some(v) = o.jitter_seed {
            options.jitter_seed = v;
        }
        if let Some(token) = &o.cancel {
            options.cancel = token.raw();
        }
        options.report = &mut *report;
        let failures = Arc::new(Failures::default());
        let progress = o
            .progress
            .as_ref()
            .map(|f| Box::new(ProgressCtx { f: f.clone(), failures: failures.clone(), panicked: Default::default() }));
        if let Some(ctx) = &progress {
            options.progress = Some(progress_trampoline);
            options.progress_user_data = &**ctx as *const ProgressCtx as *mut c_void;
        }
        Ok(RawRun {
            options,
            report,
            _name: name,
            _progress: progress,
            _cancel: o.cancel.clone(),
            plan: o.plan.clone(),
            failures,
        })
    }

    pub(crate) fn options(&self) -> *const sys::plx_run_options_t {
        &*self.options
    }

    pub(crate) fn plan(&self) -> *const sys::plx_plan_t {
        self.plan.as_ref().map_or(std::ptr::null(), |p| p.as_raw())
    }

    /// The report, once the run has ended (None when it never started).
    pub(crate) fn report(&self) -> Option<RunReport> {
        RunReport::from_raw(&self.report)
    }

    /// The call's outcome: `status` (its error read right after the call) with what the callbacks
    /// recorded, then the report.
    pub(crate) fn finish(&self, error: Option<Error>) -> Result<RunReport> {
        self.failures.finish(error)?;
        Ok(self.report().unwrap_or_default())
    }
}

/// The error for a status, read now (call right after the failing C call, on the same thread).
pub(crate) fn status_error(status: sys::plx_status_t) -> Option<Error> {
    check(status).err()
}
