// Runtime: options, capabilities, devices, describe, lifetime, the Log event;
// plans: numbers, devices, describe, errors.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class RuntimeTests
    {
        [Test]
        public void CapsOfThisMachine()
        {
            using (var rt = new Runtime())
            {
                Caps caps = rt.GetCaps();
                Assert.IsFalse(caps.FromProfile);
                Assert.GreaterOrEqual(caps.CpuUsable, 1);
                Assert.GreaterOrEqual(caps.CpuLogical, caps.CpuAffinity);
                Assert.Greater(caps.MemoryBudgetBytes, 0);
                Assert.LessOrEqual(caps.MemoryAvailableBytes, caps.MemoryTotalBytes);
                Assert.AreEqual(caps.DeviceCount, caps.Devices.Count);
                string json = rt.DescribeJson();
                StringAssert.Contains("\"cpu\"", json);
                StringAssert.Contains("\"memory\"", json);
                StringAssert.Contains("\"usable\":" + caps.CpuUsable, json.Replace(" ", ""));
            }
        }

        [Test]
        public void ProfileCapsAndOptions()
        {
            var options = new RuntimeOptions
            {
                MachineProfile = Env.Profile("container-64c-quota2-2g"),
                RamFraction = 0.5,
                MaxCpuWorkers = 1,
                LogLevel = LogLevel.Off,
            };
            using (var rt = new Runtime(options))
            {
                Caps caps = rt.GetCaps();
                Assert.IsTrue(caps.FromProfile);
                Assert.AreEqual(128, caps.CpuLogical);
                Assert.AreEqual(64, caps.CpuPhysical);
                Assert.AreEqual(2, caps.CpuUsable);
                Assert.AreEqual(2.0, caps.CpuQuota);
                Assert.AreEqual(2L << 30, caps.MemoryLimitBytes);
                Assert.AreEqual((long)(0.5 * (2L << 30)), caps.MemoryBudgetBytes);
                Assert.AreEqual(2, caps.CgroupVersion);
                Assert.AreEqual(50331648, caps.CacheL3Bytes);
                StringAssert.Contains("\"ram_fraction\":0.5", rt.DescribeJson().Replace(" ", ""));
                using (Plan plan = rt.CreatePlan(new Workload(100, 1 << 20)))
                    Assert.AreEqual(1, plan.CpuWorkers, "MaxCpuWorkers caps every plan");
            }
        }

        [Test]
        public void SimulatedDevicesOfAProfile()
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("server-128c-2numa-512g-4gpu") }))
            {
                Caps caps = rt.GetCaps();
                Assert.AreEqual(4, caps.DeviceCount);
                DeviceInfo d = rt.GetDevice(2);
                Assert.AreEqual(2, d.Index);
                Assert.AreEqual("NVIDIA H100 80GB HBM3", d.Name);
                Assert.AreEqual("NVIDIA Corporation", d.Vendor);
                Assert.AreEqual("NVIDIA CUDA", d.Platform);
                Assert.AreEqual(DeviceTypes.Gpu, d.Type);
                Assert.AreEqual(132, d.ComputeUnits);
                Assert.AreEqual(85899345920L, d.GlobalMemoryBytes);
                Assert.IsTrue(d.Fp64 && d.Simulated && d.Usable);
                var e = Assert.Throws<InvalidArgumentException>(() => rt.GetDevice(4));
                StringAssert.Contains("4", e.Message);
                Assert.Throws<UnsupportedException>(() => rt.CreateBuffer(0, 1024).Dispose(), "a simulated device has no memory");
            }
        }

        [Test]
        public void BadOptionsCarryTheLibraryMessage()
        {
            var e = Assert.Throws<InvalidArgumentException>(() => new Runtime(new RuntimeOptions { RamFraction = 2.0 }));
            StringAssert.Contains("ram_fraction", e.Message);
            Assert.AreEqual(Status.InvalidArgument, e.Status);
            Assert.AreEqual("PLX_ERR_INVALID_ARGUMENT", e.StatusName);
            Assert.Throws<InvalidArgumentException>(() => new Runtime(new RuntimeOptions { DevicePolicy = (DevicePolicy)7 }));
            var io = Assert.Throws<IoException>(() => new Runtime(new RuntimeOptions { MachineProfile = "/nonexistent/profile.json" }));
            StringAssert.Contains("/nonexistent/profile.json", io.Message);
            var bad = Assert.Throws<InvalidArgumentException>(() => new Runtime(new RuntimeOptions { MachineProfile = "{\"cpu\": 3" }));
            Assert.IsNotEmpty(bad.Message);
            Assert.Throws<InvalidArgumentException>(() => new Runtime(new RuntimeOptions { FaultInjection = "task=x:nonsense" }));
            var nul = Assert.Throws<InvalidArgumentException>(() => new Runtime(new RuntimeOptions { DeviceFilter = "a\0b" }));
            StringAssert.Contains("DeviceFilter", nul.Message);
            var none = Assert.Throws<NoDeviceException>(() => new Runtime(new RuntimeOptions
            {
                DevicePolicy = DevicePolicy.GpuRequired, DeviceFilter = "no such device anywhere", DeviceTypes = DeviceTypes.Any,
            }));
            Assert.AreEqual(Status.NoDevice, none.Status);
        }

        [Test]
        public void DisposeIsIdempotentAndLaterCallsThrowObjectDisposed()
        {
            Runtime rt = Env.Tiny();
            Plan plan = rt.CreatePlan(new Workload(10, 1000));
            rt.Dispose();
            rt.Dispose();
            Assert.IsTrue(rt.IsDisposed);
            Assert.Throws<ObjectDisposedException>(() => rt.GetCaps());
            Assert.Throws<ObjectDisposedException>(() => rt.CreatePlan(new Workload(10, 1000)));
            Assert.Throws<ObjectDisposedException>(() => rt.ParallelFor(0, 10, (b, e, w) => { }));
            StringAssert.Contains("reasons", plan.DescribeJson(), "a plan outlives its runtime");
            plan.Dispose();
            plan.Dispose();
            Assert.IsTrue(plan.IsDisposed);
            Assert.AreEqual(1, plan.CpuWorkers > 0 ? 1 : 0, "its numbers stay readable");
            Assert.Throws<ObjectDisposedException>(() => plan.DescribeJson());
        }

        // ---- The Log event ------------------------------------------------------------------------------

        [Test]
        public void LogLinesReachTheEventFromCreationOn()
        {
            var lines = new List<LogEventArgs>();
            object sender = null;
            EventHandler<LogEventArgs> handler = (s, e) => { lock (lines) { lines.Add(e); sender = s; } };
            using (Runtime rt = Env.Tiny(new RuntimeOptions { Log = handler, LogLevel = LogLevel.Debug }))
            {
                lock (lines)
                {
                    Assert.IsTrue(lines.Exists(l => l.Message.Contains("\"event\":\"runtime_summary\"") && l.Level == LogLevel.Info),
                                  "the creation's summary");
                    Assert.AreSame(rt, sender);
                }
                int before;
                lock (lines) before = lines.Count;
                rt.CreatePlan(new Workload(100, 1000)).Dispose();
                rt.ParallelFor(0, 100, (b, e, w) => { });
                lock (lines)
                {
                    List<LogEventArgs> later = lines.GetRange(before, lines.Count - before);
                    Assert.IsTrue(later.Exists(l => l.Message.Contains("parallel_plan_summary")));
                    Assert.IsTrue(later.Exists(l => l.Message.Contains("parallel_run_summary")));
                }
                // Unsubscribed: nothing more.
                rt.Log -= handler;
                lock (lines) before = lines.Count;
                rt.CreatePlan(new Workload(100, 1000)).Dispose();
                lock (lines) Assert.AreEqual(before, lines.Count);
                var added = new List<string>();
                rt.Log += (s, e) => { lock (added) added.Add(e.Message); };
                rt.CreatePlan(new Workload(100, 1000)).Dispose();
                lock (added) Assert.IsTrue(added.Exists(m => m.Contains("parallel_plan_summary")), "subscribed later");
            }
        }

        [Test]
        public void TheLogLevelFiltersAndOffInstallsNothing()
        {
            var lines = new List<string>();
            EventHandler<LogEventArgs> handler = (s, e) => { lock (lines) lines.Add(e.Message); };
            using (Runtime rt = Env.Tiny(new RuntimeOptions { Log = handler, LogLevel = LogLevel.Warn }))
            {
                rt.CreatePlan(new Workload(100, 1000)).Dispose();
                lock (lines) Assert.IsFalse(lines.Exists(l => l.Contains("summary")), "no INFO lines at WARN");
            }
            using (Runtime rt = Env.Tiny(new RuntimeOptions { Log = handler, LogLevel = LogLevel.Off }))
            {
                rt.CreatePlan(new Workload(100, 1000)).Dispose();
                lock (lines) Assert.AreEqual(0, lines.Count);
            }
        }

        [Test]
        public void AThrowingOrReenteringHandlerNeverReachesTheLibrary()
        {
            Exception reentry = null;
            int calls = 0;
            Runtime rt = null;
            EventHandler<LogEventArgs> reenter = (s, e) =>
            {
                Interlocked.Increment(ref calls);
                if (rt == null) return;
                try { rt.CreatePlan(new Workload(10, 10)); }
                catch (Exception x) { reentry = x; }
            };
            TextWriter stderr = Console.Error;
            var captured = new StringWriter();
            Console.SetError(captured);
            try
            {
                using (rt = Env.Tiny(new RuntimeOptions { Log = reenter }))
                {
                    rt.Log += (s, e) => { throw new InvalidOperationException("handler failure"); };
                    rt.CreatePlan(new Workload(100, 1000)).Dispose();
                    Assert.IsInstanceOf<InvalidOperationException>(reentry, "calling the runtime from its own Log handler");
                    StringAssert.Contains("own Log handler", reentry.Message);
                    Assert.Greater(calls, 1);
                    Assert.AreEqual(10, rt.ParallelSumInt64(0, 10, (b, e, w) => e - b), "the runtime still works");
                }
            }
            finally { Console.SetError(stderr); }
            StringAssert.Contains("handler failure", captured.ToString());
        }

        // ---- Plans --------------------------------------------------------------------------------------

        [Test]
        public void PlansOfAProfile()
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("laptop-8c-16g") }))
            using (Plan plan = rt.CreatePlan(new Workload(13000, 24883200) { Name = "frames" }))
            {
                Assert.AreEqual("frames", plan.Name);
                Assert.AreEqual(16, plan.CpuWorkers);
                Assert.IsFalse(plan.UseGpu);
                Assert.Greater(plan.ItemsPerChunk, 0);
                Assert.Greater(plan.ChunkCount, 0);
                Assert.AreEqual(13000.0 * 24883200, plan.TotalBytes, 1.0);
                Assert.LessOrEqual(plan.MaxChunkBytes, plan.MemoryBudgetBytes);
                string json = plan.DescribeJson();
                StringAssert.Contains("\"reasons\"", json);
                StringAssert.Contains("\"cpu_workers\":16", json.Replace(" ", ""));
                StringAssert.Contains("frames", plan.ToString());
            }
        }

        [Test]
        public void APlanWithDevices()
        {
            using (var rt = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("server-128c-2numa-512g-4gpu") }))
            using (Plan plan = rt.CreatePlan(new Workload
            {
                Items = 13000, BytesPerItem = 24883200, Rows = 1080, BytesPerRow = 23040, Kind = WorkloadKind.Mixed,
                Layout = WorkloadLayout.RowsAcrossItems, WorkingSetFactor = 2,
            }))
            {
                Assert.IsTrue(plan.UseGpu);
                Assert.AreEqual(4, plan.DeviceCount);
                Assert.AreEqual(4, plan.Devices.Count);
                double share = 0;
                foreach (PlanDevice d in plan.Devices)
                {
                    share += d.Share;
                    Assert.Greater(d.ChunkBytes, 0);
                    Assert.Greater(d.RowsPerChunk, 0);
                    Assert.Greater(d.MemoryBudgetBytes, 0);
                }
                Assert.AreEqual(1.0, share, 1e-9);
                Assert.Greater(plan.GpuRowsPerChunk, 0);
            }
        }

        [Test]
        public void BadWorkloadsCarryTheLibraryMessage()
        {
            using (Runtime rt = Env.Tiny())
            {
                var e = Assert.Throws<InvalidArgumentException>(() => rt.CreatePlan(new Workload(0, 1000)));
                StringAssert.Contains("workload.items", e.Message);
                var f = Assert.Throws<InvalidArgumentException>(() => rt.CreatePlan(new Workload(10, 100) { WorkingSetFactor = double.NaN }));
                StringAssert.Contains("working_set_factor", f.Message);
                var m = Assert.Throws<ParallaxOutOfMemoryException>(() => rt.CreatePlan(new Workload(10, 100) { PerWorkerBytes = 1L << 50 }));
                Assert.AreEqual(Status.OutOfMemory, m.Status);
                Assert.Throws<ArgumentNullException>(() => rt.CreatePlan(null));
            }
        }
    }
}
