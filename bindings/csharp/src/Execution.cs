// Loops and reductions of C# delegates on a runtime's threads, with progress
// reports and cancellation.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>A loop body: process items [begin, end) as logical worker <paramref name="worker"/> (stable for
    /// the run, in [0, workers)). Throwing stops the loop; the call then throws TaskFailedException with it as
    /// the InnerException.</summary>
    public delegate void RangeBody(long begin, long end, int worker);

    /// <summary>A reduction body: the partial result of items [begin, end).</summary>
    public delegate T ReduceBody<T>(long begin, long end, int worker);

    /// <summary>Receives a run's progress, from any thread, never twice at once for one run, at most every
    /// ProgressIntervalMs and once at the end. Return true to go on, false to cancel the run (it then throws
    /// CancelledException; an exception thrown here cancels it too, as its InnerException).</summary>
    public delegate bool ProgressHandler(Progress progress);

    /// <summary>Options of every run (plx_run_options_t); null leaves the library's default.</summary>
    public sealed class RunOptions
    {
        /// <summary>For log lines and messages.</summary>
        public string Name { get; set; }
        /// <summary>Logical workers; 0 = the plan's cpu_workers, or the runtime's usable CPUs.</summary>
        public int? Workers { get; set; }
        /// <summary>Minimum milliseconds between progress calls (default 200).</summary>
        public int? ProgressIntervalMs { get; set; }
        /// <summary>Items per chunk; 0 = the plan's, else about 8 chunks per worker.</summary>
        public long? Grain { get; set; }
        public ProgressHandler Progress { get; set; }
        /// <summary>Checked between chunks and tasks.</summary>
        public CancelToken Cancel { get; set; }
        /// <summary>Bytes of one item for progress; 0 = the plan's.</summary>
        public long? BytesPerItem { get; set; }
        /// <summary>Tasks: attempts per task before it fails for good (default 3).</summary>
        public int? MaxAttempts { get; set; }
        /// <summary>Tasks: start no task after the first fails for good (the rest end Cancelled).</summary>
        public bool? FailFast { get; set; }
        /// <summary>Tasks: backoff before a retry, base x 2^(attempt-1) (default 0.05 s), at most the cap (5 s).</summary>
        public double? BackoffBaseSeconds { get; set; }
        public double? BackoffCapSeconds { get; set; }
        /// <summary>Tasks: successes in a row after which a halved concurrency grows back by one (default 4).</summary>
        public int? GrowAfter { get; set; }
        /// <summary>Memory the tasks' estimates (or a stack's or coadd's tiles) may add up to; 0 = the plan's or the runtime's budget.</summary>
        public long? MemoryBudgetBytes { get; set; }
        /// <summary>Tasks: seed of the backoff jitter; 0 = random.</summary>
        public ulong? JitterSeed { get; set; }
    }

    /// <summary>Progress of a run (plx_progress_t).</summary>
    public sealed class Progress
    {
        internal unsafe Progress(plx_progress_t* p)
        {
            Done = p->done;
            Total = p->total;
            BytesDone = p->bytes_done;
            ElapsedSeconds = p->elapsed_s;
            EtaSeconds = p->eta_s < 0 ? null : (double?)p->eta_s;
        }

        /// <summary>Items (loops) or tasks finished.</summary>
        public long Done { get; private set; }
        public long Total { get; private set; }
        public long BytesDone { get; private set; }
        public double ElapsedSeconds { get; private set; }
        /// <summary>Estimated seconds left; null until something is done.</summary>
        public double? EtaSeconds { get; private set; }
        /// <summary>Done / Total, in [0, 1] (1 for an empty run).</summary>
        public double Fraction { get { return Total > 0 ? (double)Done / Total : 1.0; } }
    }

    /// <summary>What a run did (plx_run_report_t).</summary>
    public sealed class RunReport
    {
        internal unsafe RunReport(plx_run_report_t* r)
        {
            Workers = r->workers;
            Threads = r->threads;
            Chunks = r->chunks;
            Retries = r->retries;
            PeakConcurrency = r->peak_concurrency;
            Failed = r->failed;
            FailedBegin = r->failed_begin < 0 ? null : (long?)r->failed_begin;
            FailedEnd = r->failed_end < 0 ? null : (long?)r->failed_end;
            CallbackCode = r->callback_code;
            PeakAdmittedBytes = r->peak_admitted_bytes;
            WallSeconds = r->wall_s;
            FallbackChunks = r->fallback_chunks;
            ChunkSplits = r->chunk_splits;
            DeviceKernelSeconds = r->device_kernel_s;
        }

        public int Workers { get; private set; }
        /// <summary>Threads of the runtime's arena.</summary>
        public int Threads { get; private set; }
        /// <summary>Chunks run (loops) or task attempts (tasks).</summary>
        public long Chunks { get; private set; }
        public long Retries { get; private set; }
        public int PeakConcurrency { get; private set; }
        public int Failed { get; private set; }
        /// <summary>The first failing range of a loop; null when none.</summary>
        public long? FailedBegin { get; private set; }
        public long? FailedEnd { get; private set; }
        public int CallbackCode { get; private set; }
        public long PeakAdmittedBytes { get; private set; }
        public double WallSeconds { get; private set; }
        /// <summary>Kernel runs: chunks that failed on a device and ran on the CPU fallback.</summary>
        public long FallbackChunks { get; private set; }
        /// <summary>Kernel runs: times a device's chunk was halved after running out of memory.</summary>
        public int ChunkSplits { get; private set; }
        /// <summary>Kernel runs: seconds the devices' kernels ran (profiled), without the transfers.</summary>
        public double DeviceKernelSeconds { get; private set; }
    }

    /// <summary>
    /// A flag that stops every run it is given (RunOptions.Cancel) within one chunk or task: the run then throws
    /// CancelledException. <see cref="Cancel"/> may be called from any thread. Disposing it while a run uses it is
    /// safe: it is destroyed once that run has ended.
    /// </summary>
    public sealed class CancelToken : IDisposable
    {
        internal readonly CancelTokenHandle Handle;

        /// <summary>A new token, not cancelled (plx_cancel_token_create).</summary>
        public CancelToken() : this(Library.Loaded()) { }

        // Compiled only once the library is loaded (see Library.ReadVersion).
        CancelToken(bool loaded)
        {
            CancelTokenHandle h;
            Library.Check(Native.plx_cancel_token_create(out h));
            Handle = h;
        }

        /// <summary>Cancels every run given this token, and every later one (plx_cancel_token_cancel).</summary>
        public void Cancel() { Native.plx_cancel_token_cancel(Handle); }

        /// <summary>Whether Cancel was called (plx_cancel_token_is_cancelled).</summary>
        public bool IsCancelled { get { return Native.plx_cancel_token_is_cancelled(Handle) != 0; } }

        public bool IsDisposed { get { return Handle.IsClosed; } }

        /// <summary>Destroys the token once no run uses it (plx_cancel_token_destroy). Idempotent.</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    internal sealed unsafe class LoopRun : Run
    {
        internal static readonly plx_range_fn Range = OnRange;
        internal static readonly IntPtr RangePtr = Marshal.GetFunctionPointerForDelegate(Range);

        readonly RangeBody body;

        internal LoopRun(Runtime runtime, string name, RangeBody body, RunOptions options) : base(runtime, name, options)
        {
            this.body = body;
        }

        static int OnRange(long begin, long end, int worker, IntPtr userData)
        {
            try
            {
                var run = (LoopRun)From(userData);
                if (run.Failed) return 1;
                run.Enter();
                try
                {
                    run.body(begin, end, worker);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(begin, string.Format("the loop body (items [{0}, {1}), worker {2})", begin, end, worker), e);
                    return -1;
                }
                finally { run.Leave(); }
            }
            catch (Exception) { return -1; }  // nothing may unwind into C
        }
    }

    internal sealed unsafe class ReduceRun : Run
    {
        internal static readonly plx_reduce_range_fn Range = OnRange;
        internal static readonly IntPtr RangePtr = Marshal.GetFunctionPointerForDelegate(Range);
        internal static readonly plx_combine_fn Combine = OnCombine;
        internal static readonly IntPtr CombinePtr = Marshal.GetFunctionPointerForDelegate(Combine);

        internal readonly plx_reduce_desc_t* Desc;
        internal Action<long, long, int, IntPtr> Body;      // computes a partial into C memory
        internal Action<IntPtr, IntPtr> Merge;              // custom: *accumulated = *accumulated (+) *partial

        internal ReduceRun(Runtime runtime, int op, long grain, RunOptions options) : base(runtime, "parallel_reduce", options)
        {
            try
            {
                Desc = (plx_reduce_desc_t*)Pins.Alloc(sizeof(plx_reduce_desc_t));
                Library.Check(Native.plx_reduce_desc_init(Desc, StructSizes.Of<plx_reduce_desc_t>()));
                Desc->op = op;
                Desc->grain = grain;
                Desc->range = RangePtr;
                Desc->user_data = Self;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        static int OnRange(long begin, long end, int worker, IntPtr partial, IntPtr userData)
        {
            try
            {
                var run = (ReduceRun)From(userData);
                if (run.Failed) return 1;
                run.Enter();
                try
                {
                    run.Body(begin, end, worker, partial);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(begin, string.Format("the reduction body (items [{0}, {1}), worker {2})", begin, end, worker), e);
                    return -1;
                }
                finally { run.Leave(); }
            }
            catch (Exception) { return -1; }
        }

        static int OnCombine(IntPtr accumulated, IntPtr partial, IntPtr userData)
        {
            try
            {
                var run = (ReduceRun)From(userData);
                if (run.Failed) return 1;
                run.Enter();
                try
                {
                    run.Merge(accumulated, partial);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(long.MaxValue - 1, "the combine function", e);
                    return -1;
                }
                finally { run.Leave(); }
            }
            catch (Exception) { return -1; }
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// Runs <paramref name="body"/> over [begin, end) in chunks on the runtime's threads (and the calling
        /// thread), concurrently for different chunks, and returns when every chunk is done (plx_parallel_for).
        /// </summary>
        /// <param name="plan">supplies workers and chunk size (optional).</param>
        /// <exception cref="TaskFailedException">the body threw (its InnerException); the message names the range.</exception>
        /// <exception cref="CancelledException">the token or the progress handler cancelled the run.</exception>
        /// <exception cref="InvalidArgumentException">begin > end, a bad option.</exception>
        public unsafe RunReport ParallelFor(long begin, long end, RangeBody body, Plan plan = null, RunOptions options = null)
        {
            if (body == null) throw new ArgumentNullException("body");
            Guard("Runtime.ParallelFor");
            using (var run = new LoopRun(this, "parallel_for", body, options))
            {
                IntPtr planPointer = run.HoldPlan(plan);
                int status = Native.plx_parallel_for(Handle, planPointer, begin, end, LoopRun.RangePtr, run.Self, run.Options);
                run.Finish(status);
                return run.Report();
            }
        }

        /// <summary>The sum over [begin, end) of the partial sums <paramref name="body"/> returns, in double, the
        /// same bits for any workers and plan (plx_parallel_reduce, PLX_REDUCE_SUM_DOUBLE).</summary>
        /// <param name="grain">items per chunk, fixed so that the result never depends on the workers; 0 = ceil(n / 4096).</param>
        public unsafe double ParallelSum(long begin, long end, ReduceBody<double> body, Plan plan = null,
                                         RunOptions options = null, long grain = 0)
        {
            if (body == null) throw new ArgumentNullException("body");
            double result = 0;
            Reduce(0, begin, end, plan, options, grain, (b, e, w, p) => *(double*)p = body(b, e, w), null, &result);
            return result;
        }

        /// <summary>As <see cref="ParallelSum"/> in single precision (PLX_REDUCE_SUM_FLOAT).</summary>
        public unsafe float ParallelSumSingle(long begin, long end, ReduceBody<float> body, Plan plan = null,
                                              RunOptions options = null, long grain = 0)
        {
            if (body == null) throw new ArgumentNullException("body");
            float result = 0;
            Reduce(1, begin, end, plan, options, grain, (b, e, w, p) => *(float*)p = body(b, e, w), null, &result);
            return result;
        }

        /// <summary>As <see cref="ParallelSum"/> in 64-bit integers, wrapping on overflow (PLX_REDUCE_SUM_INT64).</summary>
        public unsafe long ParallelSumInt64(long begin, long end, ReduceBody<long> body, Plan plan = null,
                                            RunOptions options = null, long grain = 0)
        {
            if (body == null) throw new ArgumentNullException("body");
            long result = 0;
            Reduce(2, begin, end, plan, options, grain, (b, e, w, p) => *(long*)p = body(b, e, w), null, &result);
            return result;
        }

        /// <summary>
        /// A custom reduction (PLX_REDUCE_CUSTOM): the partials <paramref name="body"/> returns are combined by
        /// <paramref name="combine"/> (associative) in a fixed pairwise tree on the calling thread, so the result
        /// is the same for any workers. An empty range gives <paramref name="identity"/>.
        /// </summary>
        public unsafe T ParallelReduce<T>(long begin, long end, ReduceBody<T> body, Func<T, T, T> combine, T identity,
                                          Plan plan = null, RunOptions options = null, long grain = 0)
        {
            if (body == null) throw new ArgumentNullException("body");
            if (combine == null) throw new ArgumentNullException("combine");
            // The C partials are 8-byte keys into this table; key 0 (all zeros, what C starts every partial
            // with) is the identity.
            var table = new Dictionary<long, T> { { 0, identity } };
            long next = 0;
            Action<long, long, int, IntPtr> store = (b, e, w, p) =>
            {
                T value = body(b, e, w);
                long key = Interlocked.Increment(ref next);
                lock (table) table[key] = value;
                *(long*)p = key;
            };
            Action<IntPtr, IntPtr> merge = (acc, part) =>
            {
                long into = *(long*)acc, take = *(long*)part;
                T a, b;
                lock (table)
                {
                    a = table[into];
                    b = table[take];
                }
                T value = combine(a, b);
                lock (table)
                {
                    if (into == 0) into = Interlocked.Increment(ref next);  // never overwrite the identity
                    table[into] = value;
                    if (take != 0) table.Remove(take);
                }
                *(long*)acc = into;
            };
            long result = 0;
            Reduce(3, begin, end, plan, options, grain, store, merge, &result);
            lock (table) return table[result];
        }

        unsafe void Reduce(int op, long begin, long end, Plan plan, RunOptions options, long grain,
                           Action<long, long, int, IntPtr> body, Action<IntPtr, IntPtr> merge, void* result)
        {
            Guard("Runtime.ParallelReduce");
            using (var run = new ReduceRun(this, op, grain, options))
            {
                run.Body = body;
                if (merge != null)
                {
                    run.Merge = merge;
                    run.Desc->combine = ReduceRun.CombinePtr;
                    run.Desc->value_size = (UIntPtr)8u;
                }
                IntPtr planPointer = run.HoldPlan(plan);
                int status = Native.plx_parallel_reduce(Handle, planPointer, begin, end, run.Desc, result, run.Options);
                run.Finish(status);
            }
        }
    }
}
