// ParallelFor, the reductions, progress and cancellation: results equal to
// plain loops, and every exception a callback throws surfaces after the call
// as the InnerException of the status's exception (never unwinding into C).
using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class ExecutionTests
    {
        Runtime rt;

        [TestFixtureSetUp] public void Open() { rt = Env.Tiny(); }
        [TestFixtureTearDown] public void Close() { rt.Dispose(); }

        [Test]
        public void ParallelForVisitsEveryItemOnce()
        {
            const int n = 100003;
            var seen = new int[n];
            var workers = new HashSet<int>();
            RunReport report = rt.ParallelFor(0, n, (b, e, w) =>
            {
                for (long i = b; i < e; i++) Interlocked.Increment(ref seen[i]);
                lock (workers) workers.Add(w);
            });
            foreach (int s in seen) Assert.AreEqual(1, s);
            Assert.AreEqual(2, report.Workers);
            Assert.Greater(report.Chunks, 1);
            Assert.AreEqual(0, report.Failed);
            Assert.IsNull(report.FailedBegin);
            foreach (int w in workers) Assert.That(w, Is.InRange(0, 1));
        }

        [Test]
        public void ParallelForWithAPlanGrainWorkersAndEmptyRanges()
        {
            using (Plan plan = rt.CreatePlan(new Workload(1000, 1 << 20)))
            {
                long total = 0;
                RunReport r = rt.ParallelFor(0, 1000, (b, e, w) => Interlocked.Add(ref total, e - b), plan);
                Assert.AreEqual(1000, total);
                Assert.AreEqual(plan.CpuWorkers, r.Workers);
                Assert.AreEqual(plan.ChunkCount, r.Chunks);
            }
            var chunks = new List<long>();
            RunReport g = rt.ParallelFor(10, 110, (b, e, w) => { lock (chunks) chunks.Add(e - b); },
                                         options: new RunOptions { Grain = 25, Workers = 1, Name = "grained" });
            Assert.AreEqual(4, g.Chunks);
            Assert.AreEqual(1, g.Workers);
            Assert.AreEqual(new List<long> { 25, 25, 25, 25 }, chunks);
            Assert.AreEqual(0, rt.ParallelFor(5, 5, (b, e, w) => Assert.Fail("empty")).Chunks);
            var bad = Assert.Throws<InvalidArgumentException>(() => rt.ParallelFor(10, 5, (b, e, w) => { }));
            StringAssert.Contains("begin", bad.Message);
            Assert.Throws<ArgumentNullException>(() => rt.ParallelFor(0, 1, null));
            Assert.Throws<InvalidArgumentException>(() => rt.ParallelFor(0, 10, (b, e, w) => { }, null,
                                                                         new RunOptions { Workers = -3 }));
        }

        [Test]
        public void AThrowingBodyIsATaskFailureWithTheExceptionInside()
        {
            var boom = new InvalidOperationException("bad item");
            var e = Assert.Throws<TaskFailedException>(() =>
                rt.ParallelFor(0, 1000, (b, end, w) => { if (b <= 500 && 500 < end) throw boom; },
                               options: new RunOptions { Grain = 10, Name = "loop" }));
            Assert.AreSame(boom, e.InnerException);
            Assert.AreEqual(Status.TaskFailed, e.Status);
            StringAssert.Contains("[500, 510)", e.Message, "the C message names the range");
            StringAssert.Contains("System.InvalidOperationException: bad item", e.Message);
            Assert.IsNotNull(e.Report);
            Assert.AreEqual(500, e.Report.FailedBegin);
            Assert.GreaterOrEqual(e.Report.Failed, 1);
            Assert.AreEqual(45, rt.ParallelSumInt64(0, 10, (b, end, w) => { long s = 0; for (long i = b; i < end; i++) s += i; return s; }),
                            "the runtime goes on");
        }

        [Test]
        public void AnInjectedChunkFailureHasOnlyTheLibraryMessage()
        {
            using (Runtime faulty = Env.Tiny(new RuntimeOptions { FaultInjection = "chunk=3:task_failed" }))
            {
                var e = Assert.Throws<TaskFailedException>(() =>
                    faulty.ParallelFor(0, 100, (b, end, w) => { }, options: new RunOptions { Grain = 10 }));
                Assert.IsNull(e.InnerException);
                Assert.AreEqual(30, e.Report.FailedBegin);
            }
        }

        [Test]
        public void NestedLoopsOnTheSameRuntime()
        {
            long total = 0;
            rt.ParallelFor(0, 4, (b, e, w) =>
            {
                for (long i = b; i < e; i++)
                    rt.ParallelFor(0, 100, (b2, e2, w2) => Interlocked.Add(ref total, e2 - b2));
            });
            Assert.AreEqual(400, total);
        }

        // ---- Reductions --------------------------------------------------------------------------------

        static double PlainSum(long b, long e, int worker)
        {
            double s = 0;
            for (long i = b; i < e; i++) s += i * 0.5;
            return s;
        }

        [Test]
        public void SumsEqualPlainLoopsAndDoNotDependOnWorkers()
        {
            const long n = 1000000;
            double d = rt.ParallelSum(0, n, PlainSum);
            Assert.AreEqual(0.5 * n * (n - 1) / 2, d);
            double one = rt.ParallelSum(0, n, PlainSum, options: new RunOptions { Workers = 1 });
            Assert.AreEqual(BitConverter.DoubleToInt64Bits(d), BitConverter.DoubleToInt64Bits(one), "the same bits");
            float f = rt.ParallelSumSingle(0, 1000, (b, e, w) => e - b);
            Assert.AreEqual(1000f, f);
            long i64 = rt.ParallelSumInt64(0, n, (b, e, w) => { long s = 0; for (long i = b; i < e; i++) s += i; return s; });
            Assert.AreEqual(n * (n - 1) / 2, i64);
            Assert.AreEqual(long.MinValue, rt.ParallelSumInt64(0, 2, (b, e, w) => b == 0 ? long.MaxValue : 1, grain: 1),
                            "wraps on overflow");
            Assert.AreEqual(0.0, rt.ParallelSum(3, 3, PlainSum), "an empty range is the identity");
            using (Plan plan = rt.CreatePlan(new Workload(n, 8)))
                Assert.AreEqual(d, rt.ParallelSum(0, n, PlainSum, plan, grain: 1000));
        }

        [Test]
        public void ACustomReductionCombinesInOrder()
        {
            // String concatenation: associative, not commutative: the fixed tree keeps the order.
            string text = rt.ParallelReduce(0, 200, (b, e, w) =>
            {
                var sb = new StringBuilder();
                for (long i = b; i < e; i++) sb.Append((char)('a' + i % 26));
                return sb.ToString();
            }, (x, y) => x + y, "", grain: 7);
            var expected = new StringBuilder();
            for (int i = 0; i < 200; i++) expected.Append((char)('a' + i % 26));
            Assert.AreEqual(expected.ToString(), text);
            Assert.AreEqual("identity", rt.ParallelReduce(5, 5, (b, e, w) => "x", (x, y) => x + y, "identity"));
            var max = rt.ParallelReduce(0, 10000, (b, e, w) =>
            {
                long m = long.MinValue;
                for (long i = b; i < e; i++) m = Math.Max(m, (i * 7919) % 10007);
                return m;
            }, Math.Max, long.MinValue);
            long plain = long.MinValue;
            for (long i = 0; i < 10000; i++) plain = Math.Max(plain, (i * 7919) % 10007);
            Assert.AreEqual(plain, max);
        }

        [Test]
        public void ThrowingReductionCallbacksAreTaskFailures()
        {
            var e = Assert.Throws<TaskFailedException>(() =>
                rt.ParallelSum(0, 100, (b, end, w) => { if (b >= 50) throw new ArgumentException("partial"); return 1.0; },
                               grain: 10));
            Assert.IsInstanceOf<ArgumentException>(e.InnerException);
            StringAssert.Contains("reduction body", e.Message);
            var c = Assert.Throws<TaskFailedException>(() =>
                rt.ParallelReduce(0, 100, (b, end, w) => 1, (x, y) => { throw new FormatException("combine"); }, 0, grain: 10));
            Assert.IsInstanceOf<FormatException>(c.InnerException);
            StringAssert.Contains("combine function", c.Message);
        }

        // ---- Progress and cancellation ------------------------------------------------------------------

        [Test]
        public void ProgressReachesTheTotal()
        {
            var seen = new List<Progress>();
            rt.ParallelFor(0, 1000, (b, e, w) => Thread.Sleep(1), options: new RunOptions
            {
                Grain = 100, ProgressIntervalMs = 1, BytesPerItem = 8,
                Progress = p => { lock (seen) seen.Add(p); return true; },
            });
            Assert.Greater(seen.Count, 0);
            Progress last = seen[seen.Count - 1];
            Assert.AreEqual(1000, last.Done);
            Assert.AreEqual(1000, last.Total);
            Assert.AreEqual(8000, last.BytesDone);
            Assert.AreEqual(1.0, last.Fraction);
            Assert.GreaterOrEqual(last.ElapsedSeconds, 0.0);
        }

        [Test]
        public void AProgressHandlerCancelsByReturningFalseOrThrowing()
        {
            var e = Assert.Throws<CancelledException>(() =>
                rt.ParallelFor(0, 1000, (b, end, w) => Thread.Sleep(2), options: new RunOptions
                {
                    Grain = 10, ProgressIntervalMs = 1, Progress = p => p.Done < 100,
                }));
            Assert.IsNull(e.InnerException);
            Assert.AreEqual(Status.Cancelled, e.Status);
            var boom = new ApplicationException("progress broke");
            var t = Assert.Throws<CancelledException>(() =>
                rt.ParallelFor(0, 1000, (b, end, w) => Thread.Sleep(2), options: new RunOptions
                {
                    Grain = 10, ProgressIntervalMs = 1, Progress = p => { throw boom; },
                }));
            Assert.AreSame(boom, t.InnerException);
            StringAssert.Contains("progress callback threw", t.Message);
            // Chunks that start after the progress callback threw, before the library has seen the cancel, end
            // normally: the run is cancelled, not failed (many short chunks, so that some start in that window).
            for (int round = 0; round < 20; ++round)
            {
                var again = Assert.Throws<CancelledException>(() =>
                    rt.ParallelFor(0, 200000, (b, end, w) => Thread.SpinWait(200), options: new RunOptions
                    {
                        Grain = 10, ProgressIntervalMs = 1, Progress = p => { throw boom; },
                    }));
                Assert.AreSame(boom, again.InnerException);
            }
        }

        [Test]
        public void CancelTokens()
        {
            using (var token = new CancelToken())
            {
                Assert.IsFalse(token.IsCancelled);
                int calls = 0;
                var e = Assert.Throws<CancelledException>(() =>
                    rt.ParallelFor(0, 10000, (b, end, w) =>
                    {
                        if (Interlocked.Increment(ref calls) == 3) token.Cancel();
                    }, options: new RunOptions { Grain = 10, Cancel = token }));
                Assert.IsNull(e.InnerException);
                Assert.IsTrue(token.IsCancelled);
                Assert.Less(calls, 1000, "stopped within a chunk or so per worker");
                Assert.Throws<CancelledException>(() => rt.ParallelFor(0, 10, (b, end, w) => { },
                                                                       options: new RunOptions { Cancel = token }));
                // Cancelled from another thread while the loop runs.
                using (var other = new CancelToken())
                {
                    var canceller = new Thread(() => { Thread.Sleep(50); other.Cancel(); });
                    canceller.Start();
                    Assert.Throws<CancelledException>(() => rt.ParallelFor(0, 100000, (b, end, w) => Thread.Sleep(1),
                                                                           options: new RunOptions { Grain = 1, Cancel = other }));
                    canceller.Join();
                }
            }
            var disposed = new CancelToken();
            disposed.Dispose();
            disposed.Dispose();
            Assert.IsTrue(disposed.IsDisposed);
            Assert.Throws<ObjectDisposedException>(() => disposed.Cancel());
            Assert.Throws<ObjectDisposedException>(() => rt.ParallelFor(0, 10, (b, end, w) => { },
                                                                        options: new RunOptions { Cancel = disposed }));
        }
    }
}
