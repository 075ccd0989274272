// Resources are released: 10,000 create/destroy cycles of handles (and of
// whole runs, which pin arrays and allocate C structs) do not grow RSS, by
// Dispose or by the finalizers. A leaked plan or token costs hundreds of
// bytes of C memory, a leaked run more (GCHandles, unmanaged blocks), so
// 10,000 leaked cycles would add megabytes; the bound is 4 MiB.
using System;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class ResourceTests
    {
        const int Cycles = 10000;
        const long Limit = 4L << 20;

        static long Growth(Action<int> cycle, int warmup, int cycles)
        {
            for (int i = 0; i < warmup; i++) cycle(i);
            Env.Collect();
            long before = Env.RssBytes();
            for (int i = 0; i < cycles; i++) cycle(i);
            Env.Collect();
            long growth = Env.RssBytes() - before;
            Console.WriteLine("  {0} cycles: RSS {1:F1} MiB, grew by {2} KiB", cycles, before / 1048576.0, growth / 1024);
            return growth;
        }

        [Test]
        public void TenThousandTokensAndPlansByDispose()
        {
            using (Runtime rt = Env.Tiny(new RuntimeOptions { LogLevel = LogLevel.Off }))
            {
                long growth = Growth(i =>
                {
                    using (var token = new CancelToken())
                    {
                        token.Cancel();
                        Assert.IsTrue(token.IsCancelled);
                    }
                    using (Plan plan = rt.CreatePlan(new Workload(100, 1 << 20))) Assert.AreEqual(2, plan.CpuWorkers);
                }, 1000, Cycles);
                Assert.Less(growth, Limit, "RSS grew by " + growth + " bytes over " + Cycles + " cycles");
            }
        }

        [Test]
        public void TenThousandTokensAndPlansByFinalizers()
        {
            using (Runtime rt = Env.Tiny(new RuntimeOptions { LogLevel = LogLevel.Off }))
            {
                long growth = Growth(i =>
                {
                    new CancelToken();
                    rt.CreatePlan(new Workload(100, 1 << 20));
                    if (i % 1000 == 999) Env.Collect();  // at most 1000 of each awaiting finalization
                }, 1000, Cycles);
                Assert.Less(growth, Limit, "RSS grew by " + growth + " bytes over " + Cycles + " cycles");
            }
        }

        [Test]
        public void TenThousandRunsReleaseWhatTheyPin()
        {
            using (Runtime rt = Env.Tiny(new RuntimeOptions { LogLevel = LogLevel.Off }))
            using (var token = new CancelToken())
            {
                Action<TaskContext> nothing = ctx => { };
                var tasks = new[] { new TaskItem(nothing, 1, "a"), new TaskItem(nothing), new TaskItem(nothing), new TaskItem(nothing) };
                long growth = Growth(i =>
                {
                    var frame = new float[1024];  // pinned by the runs below: a leaked pin would keep 4 KiB each
                    rt.ParallelFor(0, 4, (b, e, w) => { }, options: new RunOptions { Cancel = token, Progress = p => true, Name = "cycle" });
                    rt.RunTasks(tasks);
                    if (i % 2 == 0) rt.Stack(new[] { frame, frame, frame }, 32, 32);
                    else rt.Coadd(new[] { CoaddInput.WithMap(frame, 32, 32, (k, xo, yo, xi, yi) => { Array.Copy(xo, xi, xo.Length); Array.Copy(yo, yi, yo.Length); }) }, 8, 8);
                }, 500, Cycles);
                Assert.Less(growth, Limit, "RSS grew by " + growth + " bytes over " + Cycles + " runs");
            }
        }

        [Test]
        public void RuntimesWithLogHandlersAreReleased()
        {
            string profile = Env.Profile("laptop-8c-16g");
            EventHandler<LogEventArgs> handler = (s, e) => { };
            long growth = Growth(i =>
            {
                using (var rt = new Runtime(new RuntimeOptions { MachineProfile = profile, Log = handler, LogLevel = LogLevel.Debug }))
                using (Plan plan = rt.CreatePlan(new Workload(100, 1 << 20))) Assert.AreEqual(16, plan.CpuWorkers);
            }, 200, 2000);
            Assert.Less(growth, Limit, "RSS grew by " + growth + " bytes over 2000 runtimes");
            // Left to the finalizers: collected every 200 cycles, so that RSS holds at most 200 runtimes awaiting
            // finalization (malloc keeps the peak: a longer wait would measure the peak, not a leak).
            growth = Growth(i =>
            {
                new Runtime(new RuntimeOptions { MachineProfile = profile, Log = handler }).CreatePlan(new Workload(100, 1 << 20));
                if (i % 200 == 199) Env.Collect();
            }, 400, 2000);
            Assert.Less(growth, Limit, "RSS grew by " + growth + " bytes over 2000 runtimes left to the finalizers");
        }
    }
}
