// RunTasks (admission, retries, failures with their messages) and async jobs
// (wait, timeout, poll, cancel, dispose, finalizers).
using System;
using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class TaskTests
    {
        Runtime rt;

        [TestFixtureSetUp] public void Open() { rt = Env.Tiny(); }
        [TestFixtureTearDown] public void Close() { rt.Dispose(); }

        static RunOptions Fast(RunOptions o = null)
        {
            o = o ?? new RunOptions();
            o.BackoffBaseSeconds = 0.001;
            o.BackoffCapSeconds = 0.01;
            o.JitterSeed = 1;
            return o;
        }

        [Test]
        public void ResultsComeBackInTaskOrder()
        {
            var values = new int[20];
            var tasks = new List<TaskItem>();
            for (int i = 0; i < 20; i++)
            {
                int index = i;
                tasks.Add(new TaskItem(ctx =>
                {
                    Assert.AreEqual(index, ctx.Index);
                    Assert.AreEqual(1, ctx.Attempt);
                    Thread.Sleep(7 * index % 5);
                    values[index] = index * 10;
                }, estimatedBytes: 1000));
            }
            TaskResults results = rt.RunTasks(tasks, new RunOptions { Workers = 2 });
            Assert.IsTrue(results.AllOk);
            Assert.AreEqual(20, results.Count);
            for (int i = 0; i < 20; i++)
            {
                Assert.AreEqual(i * 10, values[i]);
                Assert.AreEqual(Status.Ok, results[i].Status);
                Assert.AreEqual("PLX_OK", results[i].StatusName);
                Assert.AreEqual(1, results[i].Attempts);
                Assert.AreEqual("", results[i].Message);
            }
            Assert.AreEqual(20, results.Report.Chunks);
            Assert.AreEqual(2, results.Report.Workers);
            Assert.AreEqual(0, rt.RunTasks(new TaskItem[0]).Count);
        }

        [Test]
        public void AFailingTaskCarriesItsMessageAndIsTheInnerException()
        {
            Action<TaskContext> ok = ctx => { };
            var tasks = new[]
            {
                new TaskItem(ok), new TaskItem(ok),
                new TaskItem(ctx => { throw new FormatException("bad input " + ctx.Index); }, name: "parse"),
                new TaskItem(ok),
            };
            var e = Assert.Throws<TaskFailedException>(() => rt.RunTasks(tasks, new RunOptions { Workers = 2 }));
            Assert.IsInstanceOf<FormatException>(e.InnerException);
            Assert.AreEqual("bad input 2", e.InnerException.Message);
            StringAssert.Contains("1 of 4 tasks failed", e.Message);
            Assert.IsNotNull(e.Results);
            Assert.AreEqual(new[] { true, true, false, true }, new[] { e.Results[0].Ok, e.Results[1].Ok, e.Results[2].Ok, e.Results[3].Ok });
            Assert.AreEqual(Status.TaskFailed, e.Results[2].Status);
            Assert.AreEqual("FormatException: bad input 2", e.Results[2].Message);
            Assert.AreSame(e.InnerException, e.Results[2].Exception);
            Assert.AreEqual(1, e.Report.Failed);

            TaskResults unchecked_ = rt.RunTasks(tasks, new RunOptions { Workers = 2 }, throwOnFailure: false);
            Assert.IsFalse(unchecked_.AllOk);
            Assert.AreEqual("FormatException: bad input 2", unchecked_[2].Message);
        }

        [Test]
        public void TheContextMessageAndReportedBytes()
        {
            var results = rt.RunTasks(new[]
            {
                new TaskItem(ctx =>
                {
                    ctx.Message = "frame 17: NaN header \u2717" + new string('x', 400);
                    throw new Exception("ignored: the message was set");
                }),
            }, throwOnFailure: false);
            StringAssert.StartsWith("frame 17: NaN header \u2717", results[0].Message);
            Assert.AreEqual(255, System.Text.Encoding.UTF8.GetByteCount(results[0].Message));

            var estimates = new List<long>();
            TaskResults grown = rt.RunTasks(new[]
            {
                new TaskItem(ctx =>
                {
                    lock (estimates) estimates.Add(ctx.EstimatedBytes);
                    if (ctx.Attempt == 1)
                    {
                        ctx.ReportedBytes = 5000;
                        throw new Exception("needed more");
                    }
                }, estimatedBytes: 1000),
            }, Fast());
            Assert.IsTrue(grown.AllOk);
            Assert.AreEqual(new List<long> { 1000, 5000 }, estimates, "retried with the reported estimate");
        }

        [Test]
        public void OutOfMemoryIsRetried()
        {
            var attempts = new List<int>();
            TaskResults results = rt.RunTasks(new[]
            {
                new TaskItem(ctx =>
                {
                    lock (attempts) attempts.Add(ctx.Attempt);
                    if (ctx.Attempt == 1) throw new OutOfMemoryException("not now");
                }),
                new TaskItem(ctx => { if (ctx.Attempt == 1) throw new ParallaxOutOfMemoryException("device full"); }),
                new TaskItem(ctx => { }),
            }, Fast());
            Assert.IsTrue(results.AllOk);
            Assert.AreEqual(new[] { 2, 2, 1 }, new[] { results[0].Attempts, results[1].Attempts, results[2].Attempts });
            Assert.AreEqual(2, results.Report.Retries);
            Assert.AreEqual(5, results.Report.Chunks);

            TaskResults hungry = rt.RunTasks(new[] { new TaskItem(ctx => { throw new OutOfMemoryException("40 GiB"); }) },
                                             Fast(new RunOptions { MaxAttempts = 2 }), throwOnFailure: false);
            Assert.AreEqual(Status.OutOfMemory, hungry[0].Status);
            Assert.AreEqual(2, hungry[0].Attempts);
            Assert.IsInstanceOf<OutOfMemoryException>(hungry[0].Exception);
        }

        [Test]
        public void InjectedFaultsAndFailFast()
        {
            using (Runtime faulty = Env.Tiny(new RuntimeOptions { FaultInjection = "task=1@1:out_of_memory;task=3:internal" }))
            {
                int ran = 0;
                var tasks = new List<TaskItem>();
                for (int i = 0; i < 5; i++) tasks.Add(new TaskItem(ctx => Interlocked.Increment(ref ran)));
                TaskResults r = faulty.RunTasks(tasks, Fast(), throwOnFailure: false);
                Assert.IsTrue(r[1].Ok);
                Assert.AreEqual(2, r[1].Attempts);
                Assert.AreEqual(Status.Internal, r[3].Status);
                Assert.IsNull(r[3].Exception, "a library failure, no host exception");
                var e = Assert.Throws<TaskFailedException>(() => faulty.RunTasks(tasks, Fast(new RunOptions { Workers = 1, FailFast = true })));
                Assert.IsNull(e.InnerException);
                Assert.AreEqual(Status.Cancelled, e.Results[4].Status, "not started after the failure");
            }
        }

        [Test]
        public void ACancelledTaskRunSaysWhichTasksDidNotStart()
        {
            using (var token = new CancelToken())
            {
                var tasks = new List<TaskItem>();
                for (int i = 0; i < 10; i++) tasks.Add(new TaskItem(ctx => { if (ctx.Index == 0) token.Cancel(); }));
                var e = Assert.Throws<CancelledException>(() => rt.RunTasks(tasks, new RunOptions { Workers = 1, Cancel = token }));
                Assert.IsNotNull(e.Results);
                Assert.AreEqual(Status.Cancelled, e.Results[9].Status);
                Assert.IsTrue(e.Results[0].Ok);
            }
        }

        // ---- Jobs ---------------------------------------------------------------------------------------

        [Test]
        public void AJobTimesOutThenFinishes()
        {
            var release = new ManualResetEvent(false);
            using (Job<RunReport> job = rt.ParallelForAsync(0, 4, (b, e, w) => release.WaitOne(5000),
                                                            options: new RunOptions { Workers = 2, Name = "blocked" }))
            {
                var t = Assert.Throws<JobTimeoutException>(() => job.Wait(50));
                Assert.AreEqual("PLX_ERR_TIMEOUT", t.StatusName);
                StringAssert.Contains("blocked", t.Message);
                Assert.IsFalse(job.IsDone);
                Assert.Throws<JobTimeoutException>(() => job.Wait(0));
                release.Set();
                RunReport report = job.Wait(5000);
                Assert.AreEqual(4, report.Chunks);
                Assert.AreEqual(2, report.Workers);
                Assert.IsTrue(job.IsDone);
                Assert.AreSame(report, job.Wait());
                job.Dispose();
                Assert.IsTrue(job.IsDisposed);
                Assert.AreSame(report, job.Wait(), "the outcome stays after Dispose");
            }
        }

        [Test]
        public void JobsPollCancelAndThrowWhatTheCallWould()
        {
            Job<RunReport> quick = rt.ParallelForAsync(0, 2, (b, e, w) => Thread.Sleep(5));
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!quick.IsDone) { Assert.Less(DateTime.UtcNow, deadline); Thread.Sleep(2); }
            Assert.AreEqual(2, quick.Wait(0).Chunks);
            quick.Dispose();

            Job<RunReport> slow = rt.ParallelForAsync(0, 100000, (b, e, w) => Thread.Sleep(1), options: new RunOptions { Grain = 1 });
            slow.Cancel();
            Assert.Throws<CancelledException>(() => slow.Wait());
            Assert.Throws<CancelledException>(() => slow.Wait(), "every Wait throws the same");
            slow.Dispose();

            var boom = new DivideByZeroException("in a job");
            using (Job<RunReport> failing = rt.ParallelForAsync(0, 10, (b, e, w) => { throw boom; }))
            {
                var e1 = Assert.Throws<TaskFailedException>(() => failing.Wait());
                Assert.AreSame(boom, e1.InnerException);
                StringAssert.Contains("threw System.DivideByZeroException", e1.Message);
            }

            // Dispose cancels a running job and waits for it.
            int started = 0;
            Job<RunReport> dropped = rt.ParallelForAsync(0, 100000, (b, e, w) => { Interlocked.Increment(ref started); Thread.Sleep(1); },
                                                         options: new RunOptions { Grain = 1 });
            dropped.Dispose();
            int after = started;
            Thread.Sleep(30);
            Assert.AreEqual(after, started, "nothing runs after Dispose returned");
            Assert.Throws<CancelledException>(() => dropped.Wait());
        }

        [Test]
        public void DisposingTheRuntimeCancelsItsJobs()
        {
            Runtime own = Env.Tiny();
            var started = new ManualResetEvent(false);
            Job<RunReport> job = own.ParallelForAsync(0, 100000, (b, e, w) => { started.Set(); Thread.Sleep(1); },
                                                      options: new RunOptions { Grain = 1 });
            Assert.IsTrue(started.WaitOne(10000));
            own.Dispose();  // cancels the job and waits for it
            Assert.IsTrue(job.IsDone);
            Assert.Throws<CancelledException>(() => job.Wait());
            job.Dispose();
        }

        [Test]
        public void SubmittedTasksAndAwait()
        {
            var tasks = new List<TaskItem>();
            long sum = 0;
            for (int i = 1; i <= 10; i++)
            {
                int v = i;
                tasks.Add(new TaskItem(ctx => Interlocked.Add(ref sum, v)));
            }
            using (Job<TaskResults> job = rt.SubmitTasks(tasks))
            {
                TaskResults results = job.WaitAsync().Result;
                Assert.IsTrue(results.AllOk);
                Assert.AreEqual(55, sum);
            }
            tasks.Add(new TaskItem(ctx => { throw new InvalidTimeZoneException("task 10"); }));
            using (Job<TaskResults> job = rt.SubmitTasks(tasks))
            {
                var e = Assert.Throws<TaskFailedException>(() => job.Wait());
                Assert.IsInstanceOf<InvalidTimeZoneException>(e.InnerException);
                Assert.IsFalse(e.Results[10].Ok);
            }
        }

        [Test]
        public void WaitsAndDisposesFromAJobsOwnCallbacksAreRefused()
        {
            Job<RunReport> job = null;
            var ready = new ManualResetEvent(false);
            Exception wait = null, dispose = null, runtimeDispose = null;
            job = rt.ParallelForAsync(0, 1, (b, e, w) =>
            {
                ready.WaitOne(5000);
                try { job.Wait(); } catch (Exception x) { wait = x; }
                try { job.Dispose(); } catch (Exception x) { dispose = x; }
                try { rt.Dispose(); } catch (Exception x) { runtimeDispose = x; }
            });
            ready.Set();
            job.Wait(10000);
            Assert.IsInstanceOf<InvalidOperationException>(wait);
            Assert.IsInstanceOf<InvalidOperationException>(dispose);
            Assert.IsInstanceOf<InvalidOperationException>(runtimeDispose);
            Assert.IsFalse(rt.IsDisposed);
            job.Dispose();
        }

        [Test]
        public void DroppedJobsAreFinishedByTheirFinalizers()
        {
            using (Runtime own = Env.Tiny())
            {
                long count = 0;
                for (int i = 0; i < 20; i++)
                    own.ParallelForAsync(0, 100, (b, e, w) => Interlocked.Add(ref count, e - b));
                Env.Collect();  // their finalizers cancel what still runs, wait, and free the runs' memory
                Assert.LessOrEqual(Interlocked.Read(ref count), 2000);
                Assert.AreEqual(45, own.ParallelSumInt64(0, 10, (b, e, w) => { long s = 0; for (long x = b; x < e; x++) s += x; return s; }));
            }
        }
    }
}
