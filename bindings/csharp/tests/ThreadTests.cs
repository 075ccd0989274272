// Thread safety as the C API promises it: concurrent use from host threads
// and tasks gives the same results as sequential use, errors stay on their
// thread, and disposal while other threads call is clean.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Parallax;
using SysTask = System.Threading.Tasks.Task;

namespace Parallax.Tests
{
    [TestFixture]
    public class ThreadTests
    {
        static readonly string[] Profiles =
        {
            "container-64c-quota2-2g", "laptop-8c-16g", "server-128c-2numa-512g-4gpu", "tiny-2c-4g",
            "workstation-32c-128g-1gpu",
        };

        static Workload Frames()
        {
            return new Workload
            {
                Items = 13000, BytesPerItem = 24883200, Rows = 1080, BytesPerRow = 23040, Kind = WorkloadKind.Mixed,
                Layout = WorkloadLayout.RowsAcrossItems, WorkingSetFactor = 2,
            };
        }

        static string Fingerprint(Plan p)
        {
            return string.Join(",", p.CpuWorkers, p.UseGpu, p.DeviceCount, p.RowsPerChunk, p.MaxChunkBytes, p.ChunkCount,
                               string.Join(";", p.Devices.Select(d => d.DeviceIndex + ":" + d.Share)), p.DescribeJson());
        }

        static string Fingerprint(string profile)
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile(profile) }))
            using (Plan plan = rt.CreatePlan(Frames()))
            {
                Caps c = rt.GetCaps();
                return c.CpuUsable + "/" + c.MemoryBudgetBytes + "/" + c.DeviceCount + "|" + Fingerprint(plan);
            }
        }

        [Test]
        public void ManyThreadsCreateRuntimesAndPlans()
        {
            var expected = Profiles.ToDictionary(p => p, Fingerprint);
            Assert.AreEqual(Profiles.Length, expected.Values.Distinct().Count(), "the profiles plan differently");
            int done = 0;
            Env.Parallel(8, index =>
            {
                for (int i = 0; i < 10; i++)
                {
                    string profile = Profiles[(index + i) % Profiles.Length];
                    Assert.AreEqual(expected[profile], Fingerprint(profile));
                    Interlocked.Increment(ref done);
                }
            });
            Assert.AreEqual(80, done);
        }

        [Test]
        public void OneRuntimeSharedByThreadsAndTasks()
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("server-128c-2numa-512g-4gpu") }))
            {
                string expected;
                using (Plan p = rt.CreatePlan(Frames())) expected = Fingerprint(p);
                Env.Parallel(8, index =>
                {
                    for (int i = 0; i < 8; i++)
                        using (Plan p = rt.CreatePlan(Frames())) Assert.AreEqual(expected, Fingerprint(p));
                });
            }
            // Loops and reductions from several tasks at once on one runtime.
            using (Runtime rt = Env.Tiny())
            {
                var tasks = new List<System.Threading.Tasks.Task<long>>();
                for (int t = 0; t < 6; t++)
                {
                    long n = 10000 + t;
                    tasks.Add(SysTask.Run(() =>
                    {
                        long viaFor = 0;
                        rt.ParallelFor(0, n, (b, e, w) => { long s = 0; for (long i = b; i < e; i++) s += i; Interlocked.Add(ref viaFor, s); });
                        long viaSum = rt.ParallelSumInt64(0, n, (b, e, w) => { long s = 0; for (long i = b; i < e; i++) s += i; return s; });
                        Assert.AreEqual(viaFor, viaSum);
                        return viaSum;
                    }));
                }
                for (int t = 0; t < 6; t++)
                {
                    long n = 10000 + t;
                    Assert.AreEqual(n * (n - 1) / 2, tasks[t].Result);
                }
            }
        }

        [Test]
        public void ErrorMessagesStayOnTheirThread()
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("laptop-8c-16g") }))
            {
                var items = new List<string>();
                var factors = new List<string>();
                int ok = 0;
                var stop = new ManualResetEvent(false);
                var others = new[]
                {
                    new Thread(() =>
                    {
                        while (!stop.WaitOne(0))
                        {
                            try { rt.CreatePlan(new Workload(10, 1000) { WorkingSetFactor = double.NaN }); }
                            catch (InvalidArgumentException e) { lock (factors) factors.Add(e.Message); }
                        }
                    }),
                    new Thread(() =>
                    {
                        while (!stop.WaitOne(0))
                            using (Plan p = rt.CreatePlan(new Workload(10, 1000)))
                                if (p.CpuWorkers == 16) Interlocked.Increment(ref ok);
                    }),
                };
                foreach (Thread t in others) t.Start();
                try
                {
                    // 300 failures here, and until the other threads have done some of their own.
                    DateTime deadline = DateTime.UtcNow.AddSeconds(30);
                    while (items.Count < 300 || Volatile.Read(ref ok) < 50 || Count(factors) < 50)
                    {
                        try { rt.CreatePlan(new Workload(0, 1000)); }
                        catch (InvalidArgumentException e) { items.Add(e.Message); }
                        Assert.Less(DateTime.UtcNow, deadline);
                    }
                }
                finally
                {
                    stop.Set();
                    foreach (Thread t in others) t.Join();
                }
                Assert.GreaterOrEqual(items.Count, 300);
                Assert.IsTrue(items.All(m => m.Contains("workload.items") && !m.Contains("working_set_factor")));
                Assert.IsTrue(factors.All(m => m.Contains("working_set_factor") && !m.Contains("workload.items")));
            }
        }

        static int Count(List<string> list) { lock (list) return list.Count; }

        [Test]
        public void DisposeWhileOtherThreadsCall()
        {
            var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("laptop-8c-16g") });
            var outcomes = new List<string>[4];
            var start = new Barrier(5);
            var threads = new Thread[4];
            for (int t = 0; t < 4; t++)
            {
                int index = t;
                outcomes[t] = new List<string>();
                threads[t] = new Thread(() =>
                {
                    start.SignalAndWait();
                    while (outcomes[index].Count < 100000)
                    {
                        try
                        {
                            using (Plan p = rt.CreatePlan(new Workload(10, 1000))) outcomes[index].Add(p.CpuWorkers.ToString());
                        }
                        catch (ObjectDisposedException)
                        {
                            outcomes[index].Add("disposed");
                            break;
                        }
                    }
                });
                threads[t].Start();
            }
            start.SignalAndWait();
            Thread.Sleep(20);
            rt.Dispose();
            foreach (Thread t in threads) Assert.IsTrue(t.Join(30000));
            foreach (List<string> o in outcomes)
            {
                Assert.AreEqual("disposed", o[o.Count - 1]);
                Assert.IsTrue(o.Take(o.Count - 1).All(s => s == "16"), "calls in flight finished normally");
            }
        }

        [Test]
        public void CallbacksRunOnLibraryThreads()
        {
            using (Runtime rt = Env.Tiny())
            {
                int caller = Thread.CurrentThread.ManagedThreadId;
                var threads = new HashSet<int>();
                // Each chunk waits (up to 10 s) for a second thread to have run one: on a loaded
                // machine one lane could otherwise take all chunks before the other starts.
                rt.ParallelFor(0, 40, (b, e, w) =>
                {
                    lock (threads)
                    {
                        threads.Add(Thread.CurrentThread.ManagedThreadId);
                        Monitor.PulseAll(threads);
                        var until = DateTime.UtcNow.AddSeconds(10);
                        while (threads.Count < 2 && DateTime.UtcNow < until) Monitor.Wait(threads, 100);
                    }
                }, options: new RunOptions { Grain = 1, Workers = 2 });
                Assert.GreaterOrEqual(threads.Count, 2, "the calling thread and a library thread");
                Assert.IsTrue(threads.Any(t => t != caller));
            }
        }

        [Test]
        public void RuntimesMadeAndDisposedInsideCallbacks()
        {
            using (Runtime rt = Env.Tiny())
            {
                long total = 0;
                rt.ParallelFor(0, 16, (b, e, w) =>
                {
                    using (Runtime inner = Env.Tiny(new RuntimeOptions { LogLevel = LogLevel.Off }))
                        Interlocked.Add(ref total, inner.ParallelSumInt64(0, 100, (b2, e2, w2) => e2 - b2));
                }, options: new RunOptions { Grain = 1 });
                Assert.AreEqual(1600, total);
            }
        }
    }
}
