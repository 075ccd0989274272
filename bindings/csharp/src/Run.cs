// One run of host callbacks: the C structs it points to, its callbacks, and
// what they threw.
//
// Every callback the library calls is one of the static delegates in Thunks:
// never collected, so a C function pointer to it stays valid for the whole
// process, whichever thread or finalizer ends a run. C passes back a
// user_data that is a GCHandle of the run (or of one of its inputs), freed
// only once the run has ended. Each thunk catches every exception: nothing
// ever unwinds into C. What a callback threw is recorded on its run and
// becomes the InnerException of the ParallaxException the call then throws
// (after the library returned its non-zero status, on the calling thread).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Parallax.Interop;

namespace Parallax
{
    internal abstract unsafe class Run : IDisposable
    {
        [ThreadStatic] static List<Run> active;  // the runs whose callbacks this thread is inside, innermost last

        internal readonly Pins Pins = new Pins();
        internal readonly IntPtr Self;            // GCHandle of this run: the user_data of its callbacks
        internal readonly plx_run_options_t* Options;
        internal readonly plx_run_report_t* ReportStruct;
        internal readonly Runtime Runtime;
        internal readonly string Name;
        internal bool IsJob;

        readonly ProgressHandler progress;
        readonly object gate = new object();
        readonly List<Failure> failures = new List<Failure>();
        Failure progressFailure;

        struct Failure
        {
            public long Order;
            public string What;
            public Exception Error;
        }

        protected Run(Runtime runtime, string name, RunOptions options)
        {
            Runtime = runtime;
            options = options ?? new RunOptions();
            Name = options.Name ?? name;
            Self = Pins.Handle(this);
            try
            {
                Options = (plx_run_options_t*)Pins.Alloc(sizeof(plx_run_options_t));
                Library.Check(Native.plx_run_options_init(Options, StructSizes.Of<plx_run_options_t>()));
                ReportStruct = (plx_run_report_t*)Pins.Alloc(sizeof(plx_run_report_t));
                ReportStruct->struct_size = StructSizes.Of<plx_run_report_t>();
                Options->report = (IntPtr)ReportStruct;
                Options->name = Pins.Text(options.Name, "RunOptions.Name");
                if (options.Workers.HasValue) Options->workers = options.Workers.Value;
                if (options.ProgressIntervalMs.HasValue) Options->progress_interval_ms = options.ProgressIntervalMs.Value;
                if (options.Grain.HasValue) Options->grain = options.Grain.Value;
                if (options.BytesPerItem.HasValue) Options->bytes_per_item = options.BytesPerItem.Value;
                if (options.MaxAttempts.HasValue) Options->max_attempts = options.MaxAttempts.Value;
                if (options.FailFast.HasValue) Options->fail_fast = options.FailFast.Value ? 1 : 0;
                if (options.BackoffBaseSeconds.HasValue) Options->backoff_base_s = options.BackoffBaseSeconds.Value;
                if (options.BackoffCapSeconds.HasValue) Options->backoff_cap_s = options.BackoffCapSeconds.Value;
                if (options.GrowAfter.HasValue) Options->grow_after = options.GrowAfter.Value;
                if (options.MemoryBudgetBytes.HasValue) Options->memory_budget_bytes = options.MemoryBudgetBytes.Value;
                if (options.JitterSeed.HasValue) Options->jitter_seed = options.JitterSeed.Value;
                if (options.Progress != null)
                {
                    progress = options.Progress;
                    Options->progress = Thunks.ProgressPtr;
                    Options->progress_user_data = Self;
                }
                if (options.Cancel != null) Options->cancel = Pins.Hold(options.Cancel.Handle);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Holds <paramref name="plan"/> for the run; its pointer (Zero for null).</summary>
        internal IntPtr HoldPlan(Plan plan) { return plan == null ? IntPtr.Zero : Pins.Hold(plan.Handle); }

        public void Dispose() { Pins.Dispose(); }

        internal static Run From(IntPtr userData) { return (Run)GCHandle.FromIntPtr(userData).Target; }

        // ---- Inside callbacks --------------------------------------------------------------------------

        internal void Enter()
        {
            if (active == null) active = new List<Run>();
            active.Add(this);
        }

        internal void Leave()
        {
            if (active != null && active.Count > 0) active.RemoveAt(active.Count - 1);
        }

        /// <summary>Whether the calling thread is inside a callback of <paramref name="run"/>.</summary>
        internal static bool Inside(Run run) { return active != null && active.Contains(run); }

        /// <summary>Whether the calling thread is inside a callback of a job of <paramref name="runtime"/>.</summary>
        internal static bool InsideJobOf(Runtime runtime)
        {
            if (active == null) return false;
            foreach (Run r in active)
                if (r.IsJob && r.Runtime == runtime) return true;
            return false;
        }

        /// <summary>Whether a body, provider or task callback already threw (the others then stop early by
        /// failing too). A progress callback that threw is not counted: it cancelled the run, and a chunk
        /// already under way must end normally, or the run would end as a task failure instead of cancelled.</summary>
        internal bool Failed { get { lock (gate) return failures.Count > 0; } }

        /// <summary>Records what a callback threw; <paramref name="order"/> ranks failures (e.g. the first item).</summary>
        internal void Record(long order, string what, Exception error)
        {
            lock (gate) failures.Add(new Failure { Order = order, What = what, Error = error });
        }

        internal int OnProgress(plx_progress_t* p)
        {
            if (progress == null) return 0;
            Enter();
            try
            {
                return progress(new Progress(p)) ? 0 : 1;
            }
            catch (Exception e)
            {
                lock (gate)
                {
                    if (progressFailure.Error == null)
                        progressFailure = new Failure { Order = long.MaxValue, What = "the progress callback", Error = e };
                }
                return 1;
            }
            finally { Leave(); }
        }

        // ---- After the run -----------------------------------------------------------------------------

        /// <summary>The run's report, or null when the call failed before the run started.</summary>
        internal RunReport Report()
        {
            return ReportStruct->workers > 0 ? new RunReport(ReportStruct) : null;
        }

        /// <summary>
        /// Throws what the run ended with: the exception of the C status (with the C message, read now: call
        /// right after the C call, on its thread), whose InnerException is what a callback threw.
        /// </summary>
        internal void Finish(int status)
        {
            ParallaxException error = Outcome(status, Library.MessageAfter(status));
            if (error != null) throw error;
        }

        /// <summary>The exception of a run that ended with <paramref name="status"/> and C message, or null.</summary>
        internal ParallaxException Outcome(int status, string message)
        {
            Failure first = FirstFailure();
            if (status == 0 && first.Error == null) return null;
            var text = new StringBuilder();
            if (status != 0) text.Append(string.IsNullOrEmpty(message) ? ParallaxException.NameOf(status) : message);
            if (first.Error != null)
            {
                if (text.Length > 0) text.Append("; ");
                text.Append(Name).Append(": ").Append(first.What).Append(" threw ").Append(first.Error.GetType().FullName);
                if (!string.IsNullOrEmpty(first.Error.Message)) text.Append(": ").Append(first.Error.Message);
            }
            // A callback that threw after the library had succeeded (a last progress call): a task failure.
            int code = status != 0 ? status : (int)Status.TaskFailed;
            ParallaxException error = ParallaxException.FromStatus(code, text.ToString(), first.Error);
            error.Report = Report();
            Complete(error);
            return error;
        }

        /// <summary>What a subclass adds to a failure (the tasks' results).</summary>
        protected virtual void Complete(ParallaxException error) { }

        Failure FirstFailure()
        {
            lock (gate)
            {
                if (failures.Count == 0) return progressFailure;
                long failedBegin = ReportStruct->workers > 0 ? ReportStruct->failed_begin : -1;
                Failure best = failures[0];
                foreach (Failure f in failures)
                {
                    if (f.Order == failedBegin) return f;  // the range the library names in its message
                    if (f.Order < best.Order) best = f;
                }
                return best;
            }
        }
    }

    /// <summary>The static callbacks every run goes through (see Run).</summary>
    internal static unsafe class Thunks
    {
        internal static readonly plx_log_fn Log = OnLog;
        internal static readonly IntPtr LogPtr = Marshal.GetFunctionPointerForDelegate(Log);
        internal static readonly plx_progress_fn Progress = OnProgress;
        internal static readonly IntPtr ProgressPtr = Marshal.GetFunctionPointerForDelegate(Progress);

        static void OnLog(IntPtr userData, int level, IntPtr message)
        {
            try
            {
                var sink = (LogSink)GCHandle.FromIntPtr(userData).Target;
                sink.Raise(level, Library.Utf8(message) ?? "");
            }
            catch (Exception) { }  // nothing may unwind into C
        }

        static int OnProgress(plx_progress_t* progress, IntPtr userData)
        {
            try { return Run.From(userData).OnProgress(progress); }
            catch (Exception) { return 1; }
        }
    }
}
