// Independent tasks with memory admission control and retries, and async
// jobs (a loop or a task run that the caller waits for later).
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Parallax.Interop;
using SysTask = System.Threading.Tasks.Task;

namespace Parallax
{
    /// <summary>
    /// A task for <see cref="Runtime.RunTasks"/>: a body with an estimate of its peak memory. It starts only when
    /// the estimate fits what is left of the budget (one larger than the whole budget runs alone); 0 = negligible.
    /// The body succeeds by returning; ParallaxOutOfMemoryException or System.OutOfMemoryException is an
    /// out-of-memory failure (retried after a backoff with the concurrency halved); any other exception fails the
    /// task for good.
    /// </summary>
    public sealed class TaskItem
    {
        public TaskItem(Action<TaskContext> body, long estimatedBytes = 0, string name = null)
        {
            if (body == null) throw new ArgumentNullException("body");
            Body = body;
            EstimatedBytes = estimatedBytes;
            Name = name;
        }

        public Action<TaskContext> Body { get; private set; }
        public long EstimatedBytes { get; private set; }
        /// <summary>For messages; null = "task INDEX".</summary>
        public string Name { get; private set; }
    }

    /// <summary>What a task sees of its run (plx_task_context_t), valid during its call.</summary>
    public sealed class TaskContext
    {
        internal TaskContext(long index, int attempt, int worker, long estimated)
        {
            Index = index;
            Attempt = attempt;
            Worker = worker;
            EstimatedBytes = estimated;
            Message = "";
        }

        /// <summary>The task's position in the tasks given.</summary>
        public long Index { get; private set; }
        /// <summary>1 for the first run, 2 for the first retry...</summary>
        public int Attempt { get; private set; }
        public int Worker { get; private set; }
        /// <summary>The current estimate of its peak memory.</summary>
        public long EstimatedBytes { get; private set; }
        /// <summary>The real peak when the estimate proved too small: a failed attempt reporting more than its
        /// estimate is retried like an out-of-memory failure, with this as the new estimate.</summary>
        public long ReportedBytes { get; set; }
        /// <summary>Why the task failed (at most 255 bytes of UTF-8 are kept); default: the exception's text.</summary>
        public string Message { get; set; }
    }

    /// <summary>How one task ended (plx_task_result_t), with the exception its last attempt threw.</summary>
    public sealed class TaskResult
    {
        internal unsafe TaskResult(plx_task_result_t* r, Exception error)
        {
            Status = (Status)r->status;
            Attempts = r->attempts;
            Message = Library.Utf8(r->message, 256);
            Exception = Status == Status.Ok ? null : error;
        }

        /// <summary>Ok, the task's last status, or Cancelled when it never started.</summary>
        public Status Status { get; private set; }
        public string StatusName { get { return ParallaxException.NameOf((int)Status); } }
        public int Attempts { get; private set; }
        /// <summary>"" on success.</summary>
        public string Message { get; private set; }
        public bool Ok { get { return Status == Status.Ok; } }
        /// <summary>What the task's last attempt threw (null on success).</summary>
        public Exception Exception { get; private set; }
    }

    /// <summary>The results of a task run, one per task in task order, with the run's report.</summary>
    public sealed class TaskResults : ReadOnlyCollection<TaskResult>
    {
        internal TaskResults(IList<TaskResult> results, RunReport report) : base(results) { Report = report; }
        public RunReport Report { get; private set; }
        /// <summary>Whether every task succeeded.</summary>
        public bool AllOk
        {
            get
            {
                foreach (TaskResult r in this) if (!r.Ok) return false;
                return true;
            }
        }
    }

    internal sealed unsafe class TaskRun : Run
    {
        internal static readonly plx_task_fn Fn = OnTask;
        internal static readonly IntPtr FnPtr = Marshal.GetFunctionPointerForDelegate(Fn);

        readonly TaskItem[] items;
        readonly Exception[] errors;
        internal readonly plx_task_t* Tasks;
        internal readonly plx_task_result_t* Results;
        internal readonly long Count;
        internal readonly bool Check;

        internal TaskRun(Runtime runtime, string name, IEnumerable<TaskItem> tasks, RunOptions options, bool check)
            : base(runtime, name, options)
        {
            try
            {
                var list = new List<TaskItem>();
                foreach (TaskItem t in tasks)
                {
                    if (t == null) throw new ArgumentNullException("tasks", "tasks[" + list.Count + "] is null");
                    list.Add(t);
                }
                items = list.ToArray();
                errors = new Exception[items.Length];
                Count = items.Length;
                Check = check;
                int n = Math.Max(items.Length, 1);
                Tasks = (plx_task_t*)Pins.Alloc((long)n * sizeof(plx_task_t));
                Results = (plx_task_result_t*)Pins.Alloc((long)n * sizeof(plx_task_result_t));
                for (int i = 0; i < n; i++)
                {
                    Tasks[i].struct_size = StructSizes.Of<plx_task_t>();
                    Results[i].struct_size = StructSizes.Of<plx_task_result_t>();
                }
                for (int i = 0; i < items.Length; i++)
                {
                    Tasks[i].fn = FnPtr;
                    Tasks[i].user_data = Self;
                    Tasks[i].estimated_bytes = items[i].EstimatedBytes;
                    Tasks[i].name = Pins.Text(items[i].Name, "tasks[" + i + "].Name");
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        static int OnTask(plx_task_context_t* c, IntPtr userData)
        {
            try
            {
                var run = (TaskRun)From(userData);
                return run.Call(c);
            }
            catch (Exception) { return (int)Status.TaskFailed; }  // nothing may unwind into C
        }

        int Call(plx_task_context_t* c)
        {
            long index = c->index;
            var context = new TaskContext(index, c->attempt, c->worker, c->estimated_bytes);
            int status;
            string message;
            Enter();
            try
            {
                items[index].Body(context);
                status = 0;
                message = "";
                errors[index] = null;
            }
            catch (Exception e)
            {
                errors[index] = e;
                status = e is System.OutOfMemoryException || e is ParallaxOutOfMemoryException
                    ? (int)Status.OutOfMemory : (int)Status.TaskFailed;
                message = string.IsNullOrEmpty(context.Message) ? e.GetType().Name + ": " + e.Message : context.Message;
            }
            finally { Leave(); }
            c->reported_bytes = context.ReportedBytes;
            WriteMessage(c->message, message ?? "");
            return status;
        }

        /// <summary>At most 255 bytes of UTF-8, cut on a character boundary, then a NUL.</summary>
        static void WriteMessage(byte* dst, string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text.Replace('\0', ' '));
            int n = Math.Min(bytes.Length, 255);
            while (n > 0 && n < bytes.Length && (bytes[n] & 0xC0) == 0x80) n--;
            for (int i = 0; i < n; i++) dst[i] = bytes[i];
            dst[n] = 0;
        }

        internal TaskResults Collect()
        {
            var list = new List<TaskResult>(items.Length);
            for (int i = 0; i < items.Length; i++) list.Add(new TaskResult(&Results[i], errors[i]));
            return new TaskResults(list, Report());
        }

        /// <summary>The outcome of a finished task run (C status and message): its results, or the exception.</summary>
        internal TaskResults TaskOutcome(int status, string message)
        {
            if (status != 0 && status != (int)Status.TaskFailed && status != (int)Status.Cancelled)
                throw ParallaxException.FromStatus(status, message);  // refused before the run
            TaskResults results = Collect();
            if (status == 0 || !Check) return results;
            Exception first = null;
            foreach (TaskResult r in results)
                if (!r.Ok && r.Exception != null && r.Status != Status.Cancelled) { first = r.Exception; break; }
            ParallaxException error = ParallaxException.FromStatus(status, message, first);
            error.Report = results.Report;
            error.Results = results;
            throw error;
        }
    }

    /// <summary>
    /// A run started without waiting (<see cref="Runtime.ParallelForAsync"/>, <see cref="Runtime.SubmitTasks"/>).
    /// <see cref="Wait"/> returns what the synchronous call returns, or throws what it throws; <see cref="Cancel"/>
    /// asks the run to stop; Dispose cancels the run if it still goes on, waits for it, and frees the job. The job
    /// keeps its delegates and C structs alive until the run has ended, even when dropped without Dispose (its
    /// finalizer then cancels and waits).
    /// </summary>
    public sealed class Job<T> : IDisposable
    {
        readonly JobHandle handle;
        readonly Run run;
        readonly Func<int, string, T> outcome;  // (status, C message) -> result, or throws
        readonly Runtime runtime;                // alive while the job is: its finalizer would cancel the job
        readonly object gate = new object();
        volatile bool settled;
        T result;
        Exception failure;

        internal Job(JobHandle handle, Run run, Func<int, string, T> outcome)
        {
            this.handle = handle;
            this.run = run;
            this.outcome = outcome;
            runtime = run.Runtime;
            Name = run.Name;
        }

        public string Name { get; private set; }

        /// <summary>
        /// Waits for the run to end (plx_job_wait) and returns its result, or throws its exception; every later
        /// call returns (or throws) the same. A negative timeout waits as long as it takes.
        /// </summary>
        /// <exception cref="JobTimeoutException">the run did not end within the timeout; it goes on.</exception>
        public T Wait(int timeoutMilliseconds = -1)
        {
            if (!settled)
            {
                if (timeoutMilliseconds < 0 && Run.Inside(run))
                    throw new InvalidOperationException("Job.Wait: job '" + Name + "' waited for from one of its " +
                                                        "own callbacks, which would never return; give a timeout");
                using (new HandleUse(handle))  // the run's memory stays until the outcome is read
                {
                    int status = Native.plx_job_wait(handle, timeoutMilliseconds);
                    string message = Library.MessageAfter(status);
                    if (status == (int)Status.Timeout) throw new JobTimeoutException(message);
                    lock (gate)
                    {
                        if (!settled)
                        {
                            try { result = outcome(status, message); }
                            catch (Exception e) { failure = e; }
                            settled = true;
                        }
                    }
                }
            }
            if (failure != null) throw Rethrow(failure);
            return result;
        }

        static Exception Rethrow(Exception e)
        {
            // A fresh exception of the same class and content for every Wait (one thrown object per throw).
            var p = e as ParallaxException;
            if (p == null) return e;
            ParallaxException copy = ParallaxException.FromStatus((int)p.Status, p.Message, p.InnerException);
            copy.Report = p.Report;
            copy.Results = p.Results;
            return copy;
        }

        /// <summary>Waits on a thread-pool thread, for await.</summary>
        public System.Threading.Tasks.Task<T> WaitAsync()
        {
            return SysTask.Run(() => Wait());
        }

        /// <summary>Whether the run has ended (plx_job_poll).</summary>
        public bool IsDone
        {
            get
            {
                if (settled) return true;
                int done;
                Library.Check(Native.plx_job_poll(handle, out done));
                return done != 0;
            }
        }

        /// <summary>Asks the run to stop: it then ends with CancelledException, unless it already ended (plx_job_cancel).</summary>
        public void Cancel()
        {
            if (settled || handle.IsClosed) return;
            Library.Check(Native.plx_job_cancel(handle));
        }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>Cancels the run if it still goes on, waits for it to end and frees the job (plx_job_destroy);
        /// <see cref="Wait"/> still gives the outcome afterwards. Refused from the job's own callbacks. Idempotent.</summary>
        public void Dispose()
        {
            if (handle.IsClosed) return;
            if (Run.Inside(run))
                throw new InvalidOperationException("Job.Dispose: job '" + Name + "' disposed from one of its own " +
                                                    "callbacks, which would wait for itself; call Cancel() there");
            if (!settled)
            {
                try
                {
                    Cancel();
                    Wait();
                }
                catch (ParallaxException) { }  // kept: Wait() throws it again
                catch (ObjectDisposedException) { }  // disposed meanwhile on another thread
            }
            handle.Dispose();
            GC.KeepAlive(runtime);
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// Runs independent tasks with memory admission control and retries (plx_tasks_run) and returns one
        /// result per task in task order. With <paramref name="throwOnFailure"/> (default), a failed task throws
        /// TaskFailedException (Results: every result; InnerException: the first failed task's exception) and a
        /// cancelled run CancelledException.
        /// </summary>
        public unsafe TaskResults RunTasks(IEnumerable<TaskItem> tasks, RunOptions options = null, bool throwOnFailure = true)
        {
            if (tasks == null) throw new ArgumentNullException("tasks");
            Guard("Runtime.RunTasks");
            using (var run = new TaskRun(this, "tasks_run", tasks, options, throwOnFailure))
            {
                int status = Native.plx_tasks_run(Handle, run.Tasks, run.Count, run.Options, run.Results);
                return run.TaskOutcome(status, Library.MessageAfter(status));
            }
        }

        /// <summary><see cref="RunTasks"/> without waiting (plx_tasks_submit): Wait() returns the results or throws.</summary>
        public unsafe Job<TaskResults> SubmitTasks(IEnumerable<TaskItem> tasks, RunOptions options = null,
                                                    bool throwOnFailure = true)
        {
            if (tasks == null) throw new ArgumentNullException("tasks");
            Guard("Runtime.SubmitTasks");
            var run = new TaskRun(this, "tasks_submit", tasks, options, throwOnFailure) { IsJob = true };
            try
            {
                JobHandle job;
                Library.Check(Native.plx_tasks_submit(Handle, run.Tasks, run.Count, run.Options, run.Results, out job));
                job.SetResources(run);
                return new Job<TaskResults>(job, run, run.TaskOutcome);
            }
            catch
            {
                run.Dispose();
                throw;
            }
        }

        /// <summary><see cref="ParallelFor"/> without waiting (plx_parallel_for_async): the run starts on a thread of
        /// its own; Wait() returns the RunReport or throws what ParallelFor throws.</summary>
        public unsafe Job<RunReport> ParallelForAsync(long begin, long end, RangeBody body, Plan plan = null,
                                                      RunOptions options = null)
        {
            if (body == null) throw new ArgumentNullException("body");
            Guard("Runtime.ParallelForAsync");
            var run = new LoopRun(this, "parallel_for_async", body, options) { IsJob = true };
            try
            {
                IntPtr planPointer = run.HoldPlan(plan);
                JobHandle job;
                Library.Check(Native.plx_parallel_for_async(Handle, planPointer, begin, end, LoopRun.RangePtr, run.Self,
                                                            run.Options, out job));
                job.SetResources(run);
                return new Job<RunReport>(job, run, (status, message) =>
                {
                    ParallaxException error = run.Outcome(status, message);
                    if (error != null) throw error;
                    return run.Report();
                });
            }
            catch
            {
                run.Dispose();
                throw;
            }
        }
    }
}
