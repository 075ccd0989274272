//! Handing loops to the runtime: [`Runtime::parallel_for`], deterministic
//! reductions ([`Runtime::parallel_sum`], [`Runtime::parallel_reduce`]),
//! tasks with memory admission and retries ([`Runtime::run_tasks`]), and the
//! async forms returning a [`Job`].
//!
//! Callbacks run on the calling thread and on the runtime's threads,
//! concurrently for different chunks, so loop bodies are `Fn + Sync`. Nothing
//! they do unwinds into C: a panic is caught where the library calls in, turns
//! into a non-zero return (the chunk or task fails), and the call returns
//! [`Error::TaskFailed`] with the panic's message.

use std::marker::PhantomData;
use std::ops::Range;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallax_sys as sys;

use crate::callback::{
    c_string, guard, init_struct, len_i64, lock, opt_ptr, panic_message, sized, text_of, write_text, CallbackResult,
    Failures,
};
use crate::error::{Error, Result};
use crate::run::{status_error, RawRun, RunOptions, RunReport};
use crate::runtime::Runtime;

// ---------------------------------------------------------------------------
// Loops
// ---------------------------------------------------------------------------

struct LoopCtx<B> {
    body: B,
    failures: Arc<Failures>,
}

unsafe extern "C" fn range_trampoline<B, R>(begin: i64, end: i64, worker: i32, user_data: *mut c_void) -> c_int
where
    B: Fn(Range<i64>, i32) -> R,
    R: CallbackResult,
{
    // SAFETY: user_data is the run's LoopCtx<B>, alive until the run has ended.
    let ctx = &*(user_data as *const LoopCtx<B>);
    guard(
        &ctx.failures,
        begin,
        || format!("the loop body for items [{begin}, {end}) on worker {worker}"),
        || (ctx.body)(begin..end, worker),
    )
}

impl Runtime {
    /// Runs `body(range, worker)` over `range` in chunks on the runtime's threads
    /// (`plx_parallel_for`) with default options; see [`Runtime::parallel_for_with`].
    pub fn parallel_for<F, R>(&self, range: Range<i64>, body: F) -> Result<RunReport>
    where
        F: Fn(Range<i64>, i32) -> R + Sync,
        R: CallbackResult,
    {
        self.parallel_for_with(range, &RunOptions::new(), body)
    }

    /// Runs `body(items, worker)` over `range` in chunks (the options' grain, else the plan's
    /// items_per_chunk), concurrently on the calling thread and the runtime's threads; `worker` is
    /// a stable index in [0, workers) for per-worker scratch. Returns the [`RunReport`] when every
    /// chunk succeeded.
    ///
    /// `body` returns `()`, an `i32` code or a `Result<(), E>`; a non-zero code, an error or a
    /// panic stops the loop, which ends with [`Error::TaskFailed`] naming the first failing range
    /// (and the panic's or error's text). Cancelled runs end with [`Error::Cancelled`].
    pub fn parallel_for_with<F, R>(&self, range: Range<i64>, options: &RunOptions<'_>, body: F) -> Result<RunReport>
    where
        F: Fn(Range<i64>, i32) -> R + Sync,
        R: CallbackResult,
    {
        let rt = self.ptr("Runtime::parallel_for")?;
        let run = RawRun::new(options)?;
        let ctx = LoopCtx { body: &body, failures: run.failures.clone() };
        // SAFETY: ctx, the options and what they point to live through the call; the trampoline
        // matches ctx's type.
        let status = unsafe {
            sys::plx_parallel_for(
                rt,
                run.plan(),
                range.start,
                range.end,
                Some(range_trampoline::<&F, R>),
                &ctx as *const LoopCtx<&F> as *mut c_void,
                run.options(),
            )
        };
        let error = status_error(status);
        run.finish(error)
    }

    /// [`Runtime::parallel_for_with`] without waiting (`plx_parallel_for_async`): the run starts on
    /// a thread of its own that joins the runtime's threads, and the [`Job`] gives its report.
    /// The closure and options are owned by the job until it has ended; dropping the job cancels
    /// the run and waits for it.
    pub fn parallel_for_async<F, R>(
        &self,
        range: Range<i64>,
        options: RunOptions<'static>,
        body: F,
    ) -> Result<Job<RunReport>>
    where
        F: Fn(Range<i64>, i32) -> R + Send + Sync + 'static,
        R: CallbackResult + 'static,
    {
        let rt = self.ptr("Runtime::parallel_for_async")?;
        let run = RawRun::new(&options)?;
        let state =
            Box::new(LoopJob::<F, R> { ctx: LoopCtx { body, failures: run.failures.clone() }, run, _r: PhantomData });
        let mut job = std::ptr::null_mut();
        // SAFETY: the state is boxed (its address is stable) and owned by the Job, which destroys
        // the C job (waiting for it) before dropping the state.
        let status = unsafe {
            sys::plx_parallel_for_async(
                rt,
                state.run.plan(),
                range.start,
                range.end,
                Some(range_trampoline::<F, R>),
                &state.ctx as *const LoopCtx<F> as *mut c_void,
                state.run.options(),
                &mut job,
            )
        };
        crate::error::check(status)?;
        Job::new(job, state, "parallel_for_async")
    }
}

struct LoopJob<F, R> {
    ctx: LoopCtx<F>,
    run: RawRun<'static>,
    _r: PhantomData<fn() -> R>,
}

impl<F: Send + Sync, R> JobState<RunReport> for LoopJob<F, R> {
    fn outcome(&self, error: Option<Error>) -> Result<RunReport> {
        self.run.finish(error)
    }
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

/// The value types of the library's built-in sums: `f64` (PLX_REDUCE_SUM_DOUBLE), `f32`
/// (SUM_FLOAT) and `i64` (SUM_INT64, wrapping).
pub trait SumValue: Copy + Default + Send + Sync + 'static {
    #[doc(hidden)]
    const OP: i32;
}
impl SumValue for f64 {
    const OP: i32 = sys::PLX_REDUCE_SUM_DOUBLE;
}
impl SumValue for f32 {
    const OP: i32 = sys::PLX_REDUCE_SUM_FLOAT;
}
impl SumValue for i64 {
    const OP: i32 = sys::PLX_REDUCE_SUM_INT64;
}

struct ReduceCtx<'c, T, F, C> {
    body: &'c F,
    combine: Option<&'c C>,
    failures: Arc<Failures>,
    _t: PhantomData<T>,
}

unsafe extern "C" fn reduce_trampoline<T, F, C, R>(
    begin: i64,
    end: i64,
    worker: i32,
    partial: *mut c_void,
    user_data: *mut c_void,
) -> c_int
where
    T: Copy,
    F: Fn(Range<i64>, i32, &mut T) -> R,
    R: CallbackResult,
{
    // SAFETY: user_data is the call's ReduceCtx; partial holds a T (the library copies the
    // identity into it), possibly unaligned.
    let ctx = &*(user_data as *const ReduceCtx<T, F, C>);
    guard(
        &ctx.failures,
        begin,
        || format!("the reduction body for items [{begin}, {end}) on worker {worker}"),
        || {
            let mut value = std::ptr::read_unaligned(partial as *const T);
            let result = (ctx.body)(begin..end, worker, &mut value);
            std::ptr::write_unaligned(partial as *mut T, value);
            result
        },
    )
}

unsafe extern "C" fn combine_trampoline<T, F, C>(
    accumulated: *mut c_void,
    partial: *const c_void,
    user_data: *mut c_void,
) -> c_int
where
    T: Copy,
    C: Fn(&mut T, &T),
{
    // SAFETY: as reduce_trampoline; both point at values of T.
    let ctx = &*(user_data as *const ReduceCtx<T, F, C>);
    let combine = match ctx.combine {
        Some(c) => c,
        None => return -1,
    };
    guard(
        &ctx.failures,
        i64::MAX - 1,
        || "the combine function".to_string(),
        || {
            let mut into = std::ptr::read_unaligned(accumulated as *const T);
            let other = std::ptr::read_unaligned(partial as *const T);
            combine(&mut into, &other);
            std::ptr::write_unaligned(accumulated as *mut T, into);
        },
    )
}

impl Runtime {
    /// A deterministic parallel sum (`plx_parallel_reduce` with a built-in op): `body(items,
    /// worker, partial)` adds items to `*partial`, which starts at 0; partials are combined in a
    /// fixed pairwise tree, so the result is bit-identical for any workers and any run.
    pub fn parallel_sum<T, F, R>(&self, range: Range<i64>, options: &RunOptions<'_>, body: F) -> Result<T>
    where
        T: SumValue,
        F: Fn(Range<i64>, i32, &mut T) -> R + Sync,
        R: CallbackResult,
    {
        self.reduce::<T, F, fn(&mut T, &T), R>(range, options, T::default(), T::OP, body, None)
    }

    /// A deterministic parallel reduction of any plain value (`plx_parallel_reduce`,
    /// PLX_REDUCE_CUSTOM): `body(items, worker, partial)` folds items into `*partial`, which starts
    /// as `identity`; `combine(accumulated, partial)` merges two partials, on the calling thread,
    /// in a fixed pairwise tree (the result does not depend on the workers). `T` is copied
    /// bytewise by the library (1 to 4096 bytes).
    pub fn parallel_reduce<T, F, C, R>(
        &self,
        range: Range<i64>,
        options: &RunOptions<'_>,
        identity: T,
        body: F,
        combine: C,
    ) -> Result<T>
    where
        T: Copy + Send + Sync,
        F: Fn(Range<i64>, i32, &mut T) -> R + Sync,
        C: Fn(&mut T, &T) + Sync,
        R: CallbackResult,
    {
        self.reduce::<T, F, C, R>(range, options, identity, sys::PLX_REDUCE_CUSTOM, body, Some(&combine))
    }

    fn reduce<T, F, C, R>(
        &self,
        range: Range<i64>,
        options: &RunOptions<'_>,
        identity: T,
        op: i32,
        body: F,
        combine: Option<&C>,
    ) -> Result<T>
    where
        T: Copy,
        F: Fn(Range<i64>, i32, &mut T) -> R + Sync,
        C: Fn(&mut T, &T) + Sync,
        R: CallbackResult,
    {
        let rt = self.ptr("Runtime::parallel_reduce")?;
        let run = RawRun::new(options)?;
        let ctx = ReduceCtx::<T, F, C> { body: &body, combine, failures: run.failures.clone(), _t: PhantomData };
        let mut desc: sys::plx_reduce_desc_t = init_struct(sys::plx_reduce_desc_init)?;
        desc.op = op;
        desc.range = Some(reduce_trampoline::<T, F, C, R>);
        desc.user_data = &ctx as *const ReduceCtx<T, F, C> as *mut c_void;
        if combine.is_some() {
            desc.combine = Some(combine_trampoline::<T, F, C>);
            desc.value_size = std::mem::size_of::<T>();
            desc.identity = &identity as *const T as *const c_void;
        }
        let mut result = identity;
        // SAFETY: desc, ctx, identity and result live through the call; result is a T.
        let status = unsafe {
            sys::plx_parallel_reduce(
                rt,
                run.plan(),
                range.start,
                range.end,
                &desc,
                &mut result as *mut T as *mut c_void,
                run.options(),
            )
        };
        let error = status_error(status);
        run.finish(error)?;
        Ok(result)
    }
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

/// What a task body may return: `()`, or `Result<(), Error>`. `Err(Error::OutOfMemory(..))`
/// asks for a retry (with backoff and halved concurrency); any other error fails the task with
/// its status, its message copied to the task's result.
pub trait TaskReturn {
    #[doc(hidden)]
    fn into_task_result(self) -> Result<()>;
}
impl TaskReturn for () {
    fn into_task_result(self) -> Result<()> {
        Ok(())
    }
}
impl TaskReturn for Result<()> {
    fn into_task_result(self) -> Result<()> {
        self
    }
}

type TaskFn<'a> = dyn Fn(&mut TaskContext<'_>) -> Result<()> + Send + Sync + 'a;

/// An independent task for [`Runtime::run_tasks`] (`plx_task_t`): a closure with an estimate of
/// its peak memory. A task starts only when its estimate fits what is left of the memory budget.
pub struct Task<'a> {
    body: Box<TaskFn<'a>>,
    estimated_bytes: i64,
    name: Option<String>,
}

impl<'a> Task<'a> {
    /// A task running `f(context)`; called on the runtime's threads, once per attempt.
    pub fn new<F, R>(f: F) -> Task<'a>
    where
        F: Fn(&mut TaskContext<'_>) -> R + Send + Sync + 'a,
        R: TaskReturn,
    {
        Task {
            body: Box::new(move |ctx: &mut TaskContext<'_>| f(ctx).into_task_result()),
            estimated_bytes: 0,
            name: None,
        }
    }
    /// Estimated peak memory (0 = negligible; one larger than the whole budget runs alone).
    pub fn estimated_bytes(mut self, bytes: i64) -> Self {
        self.estimated_bytes = bytes;
        self
    }
    /// For messages (default "task <index>").
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl std::fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("name", &self.name).field("estimated_bytes", &self.estimated_bytes).finish()
    }
}

/// What a task sees of its run (`plx_task_context_t`), valid during its call.
pub struct TaskContext<'c> {
    raw: &'c mut sys::plx_task_context_t,
    message_set: bool,
}

impl TaskContext<'_> {
    /// The task's index in the tasks given.
    pub fn index(&self) -> i64 {
        self.raw.index
    }
    /// 1 for the first run, 2 for the first retry...
    pub fn attempt(&self) -> i32 {
        self.raw.attempt
    }
    /// Logical worker, in [0, workers).
    pub fn worker(&self) -> i32 {
        self.raw.worker
    }
    /// The current estimate of the task's peak memory.
    pub fn estimated_bytes(&self) -> i64 {
        self.raw.estimated_bytes
    }
    /// Reports the task's real peak memory when its estimate proved too small: a failed attempt
    /// that reports more than its estimate is retried like an out-of-memory failure.
    pub fn report_bytes(&mut self, bytes: i64) {
        self.raw.reported_bytes = bytes;
    }
    /// Why the task failed (copied to its result; at most 255 bytes of UTF-8 are kept). Without
    /// it, a failed task's message is its error's.
    pub fn set_message(&mut self, message: &str) {
        write_text(&mut self.raw.message, message);
        self.message_set = true;
    }
}

unsafe extern "C" fn task_trampoline(
    context: *mut sys::plx_task_context_t,
    user_data: *mut c_void,
) -> sys::plx_status_t {
    // SAFETY: user_data is the Task, alive until the run has ended; context is valid during the call.
    let task = &*(user_data as *const Task);
    let mut ctx = TaskContext { raw: &mut *context, message_set: false };
    let outcome = catch_unwind(AssertUnwindSafe(|| (task.body)(&mut ctx)));
    let (status, message) = match outcome {
        Ok(Ok(())) => (sys::PLX_OK, None),
        Ok(Err(e)) => (e.status(), Some(e.message().to_string())),
        Err(payload) => (sys::PLX_ERR_TASK_FAILED, Some(format!("the task panicked: {}", panic_message(&*payload)))),
    };
    if let Some(message) = message {
        if !ctx.message_set {
            write_text(&mut ctx.raw.message, &message);
        }
    }
    status
}

/// How one task ended (`plx_task_result_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    /// PLX_OK (0), the task's last status, or PLX_ERR_CANCELLED when it never started.
    pub status: i32,
    /// Runs, including retries.
    pub attempts: i32,
    /// "" on success.
    pub message: String,
}

impl TaskResult {
    pub fn is_ok(&self) -> bool {
        self.status == sys::PLX_OK
    }
    /// The task's failure as an [`Error`]; None when it succeeded.
    pub fn error(&self) -> Option<Error> {
        if self.is_ok() {
            None
        } else {
            Some(Error::from_status(self.status, self.message.clone()))
        }
    }
}

/// The results of a task run, one per task in task order, with the run's report.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResults {
    pub results: Vec<TaskResult>,
    /// None when the run never started.
    pub report: Option<RunReport>,
}

impl TaskResults {
    /// Whether every task succeeded.
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(TaskResult::is_ok)
    }
}

/// The C arrays of a task run.
struct RawTasks {
    tasks: Vec<sys::plx_task_t>,
    results: Vec<sys::plx_task_result_t>,
    _names: Vec<Option<std::ffi::CString>>,
    count: i64,
}

impl RawTasks {
    fn new(tasks: &[Task<'_>]) -> Result<RawTasks> {
        let count = len_i64("tasks", tasks.len())?;
        let names = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| t.name.as_deref().map(|n| c_string(&format!("tasks[{i}] name"), n)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let mut raw: Vec<sys::plx_task_t> = tasks
            .iter()
            .zip(&names)
            .map(|(t, name)| {
                let mut r: sys::plx_task_t = sized();
                r.fn_ = Some(task_trampoline);
                r.user_data = t as *const Task as *mut c_void;
                r.estimated_bytes = t.estimated_bytes;
                r.name = opt_ptr(name);
                r
            })
            .collect();
        if raw.is_empty() {
            raw.push(sized()); // the library reads tasks[0].struct_size even for no task
        }
        let results = (0..raw.len()).map(|_| sized()).collect();
        Ok(RawTasks { tasks: raw, results, _names: names, count })
    }

    fn results(&self, report: Option<RunReport>) -> TaskResults {
        let results = self.results[..self.count as usize]
            .iter()
            .map(|r| TaskResult { status: r.status, attempts: r.attempts, message: text_of(&r.message) })
            .collect();
        TaskResults { results, report }
    }
}

/// The outcome of a task run. `strict`: any failed task is an error; else the results are
/// returned whatever the tasks did (a refusal before the run, or a panicking progress callback,
/// is still an error).
fn task_outcome(run: &RawRun<'_>, raw: &RawTasks, error: Option<Error>, strict: bool) -> Result<TaskResults> {
    let results = raw.results(run.report());
    match error {
        Some(e) if strict => Err(run.failures.explain(e)),
        Some(e) if !matches!(e, Error::TaskFailed(_) | Error::Cancelled(_)) => Err(e),
        other => {
            if run.failures.any() {
                run.failures.finish(other)?;
            }
            Ok(results)
        }
    }
}

impl Runtime {
    /// Runs independent tasks with memory admission control (`plx_tasks_run`): a task starts only
    /// when its estimate fits the remaining budget; one that fails with [`Error::OutOfMemory`] is
    /// retried after a backoff with the concurrency halved, at most `max_attempts` times. Returns
    /// every task's result in task order, or [`Error::TaskFailed`] (one or more tasks failed, their
    /// messages in the library's) / [`Error::Cancelled`]; see [`Runtime::run_tasks_results`] to get
    /// the results of failed runs too.
    pub fn run_tasks(&self, tasks: &[Task<'_>], options: &RunOptions<'_>) -> Result<TaskResults> {
        self.tasks_run(tasks, options, true)
    }

    /// [`Runtime::run_tasks`], returning the results (which say how each task ended) even when tasks
    /// failed or the run was cancelled; errors only for a run refused before it started.
    pub fn run_tasks_results(&self, tasks: &[Task<'_>], options: &RunOptions<'_>) -> Result<TaskResults> {
        self.tasks_run(tasks, options, false)
    }

    fn tasks_run(&self, tasks: &[Task<'_>], options: &RunOptions<'_>, strict: bool) -> Result<TaskResults> {
        let rt = self.ptr("Runtime::run_tasks")?;
        let run = RawRun::new(options)?;
        let mut raw = RawTasks::new(tasks)?;
        // SAFETY: the tasks (user_data), names, options and results outlive the call.
        let status =
            unsafe { sys::plx_tasks_run(rt, raw.tasks.as_ptr(), raw.count, run.options(), raw.results.as_mut_ptr()) };
        let error = status_error(status);
        task_outcome(&run, &raw, error, strict)
    }

    /// [`Runtime::run_tasks`] without waiting (`plx_tasks_submit`): the job owns the tasks and
    /// options until it has ended; [`Job::wait`] gives what `run_tasks` would return.
    pub fn submit_tasks(&self, tasks: Vec<Task<'static>>, options: RunOptions<'static>) -> Result<Job<TaskResults>> {
        let rt = self.ptr("Runtime::submit_tasks")?;
        let run = RawRun::new(&options)?;
        let mut state = Box::new(TaskJob { raw: RawTasks::new(&tasks)?, tasks, run });
        // The user_data pointers of RawTasks point at the tasks in the Vec, which moved into the
        // box without reallocating: its heap buffer is the same.
        let results = state.raw.results.as_mut_ptr();
        let mut job = std::ptr::null_mut();
        // SAFETY: everything the C job points to is owned by the boxed state, which the Job drops
        // only after destroying the C job.
        let status = unsafe {
            sys::plx_tasks_submit(rt, state.raw.tasks.as_ptr(), state.raw.count, state.run.options(), results, &mut job)
        };
        crate::error::check(status)?;
        Job::new(job, state, "submit_tasks")
    }
}

struct TaskJob {
    raw: RawTasks,
    #[allow(dead_code)] // pointed to by raw.tasks[i].user_data
    tasks: Vec<Task<'static>>,
    run: RawRun<'static>,
}

// SAFETY: the C arrays point into data this state owns; the tasks are Send + Sync.
unsafe impl Send for TaskJob {}
unsafe impl Sync for TaskJob {}

impl JobState<TaskResults> for TaskJob {
    fn outcome(&self, error: Option<Error>) -> Result<TaskResults> {
        task_outcome(&self.run, &self.raw, error, true)
    }
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

trait JobState<T>: Send + Sync {
    /// What the run gives once it has ended with `error` (None: PLX_OK).
    fn outcome(&self, error: Option<Error>) -> Result<T>;
}

/// A run started without waiting (`plx_job_t`). [`Job::wait`] returns what the synchronous call
/// would; [`Job::cancel`] asks the run to stop. Dropping the job cancels the run if it still goes
/// on and waits for it to end (`plx_job_destroy`). Dropping the runtime also cancels and waits
/// for its jobs (their handles stay valid). A job must not be dropped, nor waited for without a
/// timeout, from its own callbacks: that would wait for itself.
pub struct Job<T> {
    raw: NonNull<sys::plx_job_t>,
    state: Option<Box<dyn JobState<T>>>,
    outcome: Mutex<Option<Result<T>>>,
    name: &'static str,
}

// SAFETY: job functions are thread-safe; the state is Send + Sync.
unsafe impl<T: Send> Send for Job<T> {}
unsafe impl<T: Send> Sync for Job<T> {}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        // SAFETY: ours; cancels the run if it still goes on and waits for it, so nothing uses the
        // state once this returns.
        unsafe { sys::plx_job_destroy(self.raw.as_ptr()) };
        self.state.take();
    }
}

impl<T> std::fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("name", &self.name).field("raw", &self.raw).finish()
    }
}

impl<T: Clone> Job<T> {
    fn new<S: JobState<T> + 'static>(raw: *mut sys::plx_job_t, state: Box<S>, name: &'static str) -> Result<Job<T>> {
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal(format!("{name}: the library gave a NULL job")))?;
        Ok(Job { raw, state: Some(state), outcome: Mutex::new(None), name })
    }

    /// Waits for the run to end (`plx_job_wait`) and returns what the synchronous call returns.
    /// Every later call returns the same.
    pub fn wait(&self) -> Result<T> {
        self.wait_ms(-1)
    }

    /// [`Job::wait`] for at most `timeout`: [`Error::Timeout`] when the run goes on.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T> {
        self.wait_ms(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
    }

    fn wait_ms(&self, timeout_ms: i64) -> Result<T> {
        if let Some(outcome) = &*lock(&self.outcome) {
            return outcome.clone();
        }
        // SAFETY: a live job.
        let status = unsafe { sys::plx_job_wait(self.raw.as_ptr(), timeout_ms) };
        let error = status_error(status);
        if status == sys::PLX_ERR_TIMEOUT {
            return Err(error.unwrap_or_else(|| Error::Timeout(format!("{}: still running", self.name))));
        }
        let mut slot = lock(&self.outcome);
        if slot.is_none() {
            let state = self.state.as_ref().expect("a job's state lives until it is dropped");
            *slot = Some(state.outcome(error));
        }
        slot.clone().expect("just set")
    }

    /// Whether the run has ended (`plx_job_poll`).
    pub fn is_done(&self) -> Result<bool> {
        let mut done: c_int = 0;
        // SAFETY: a live job and an out-int.
        crate::error::check(unsafe { sys::plx_job_poll(self.raw.as_ptr(), &mut done) })?;
        Ok(done != 0)
    }

    /// Asks the run to stop (`plx_job_cancel`); it then ends with [`Error::Cancelled`] unless it
    /// already ended.
    pub fn cancel(&self) -> Result<()> {
        // SAFETY: a live job.
        crate::error::check(unsafe { sys::plx_job_cancel(self.raw.as_ptr()) })
    }
}
