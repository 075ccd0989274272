// Custom OpenCL kernels on PoCL (the CPU OpenCL device every test machine
// has): RunRows over pinned arrays, providers, CPU fallbacks; buffers with
// Kernel.Run; measuring; release. One runtime and one build per source for
// the fixture (PoCL builds cost seconds), with a disk cache in the build tree.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class KernelTests
    {
        const string RowsSource = @"
__kernel void axpb(__global const float* x, __global float* y, float a, float b, long first, long rows) {
  size_t i = get_global_id(1);
  y[i] = a * x[i] + b;
}
__kernel void twice(__global int* v, int add) { size_t i = get_global_id(0); v[i] = 2 * v[i] + add; }
__kernel void group_sums(__global const int* in, __global int* out, __local int* scratch) {
  size_t l = get_local_id(0), n = get_local_size(0);
  scratch[l] = in[get_global_id(0)];
  barrier(CLK_LOCAL_MEM_FENCE);
  if (l == 0) { int s = 0; for (size_t i = 0; i < n; ++i) s += scratch[i]; out[get_group_id(0)] = s; }
}
";

        Runtime drt;
        Kernel axpb;
        string cache;

        [TestFixtureSetUp]
        public void Open()
        {
            cache = Path.Combine(Env.OutDir, "plx-cache");
            drt = new Runtime(new RuntimeOptions { DeviceTypes = DeviceTypes.Any, CacheDir = cache });
            if (drt.GetCaps().DeviceCount == 0)
            {
                drt.Dispose();
                drt = null;
                return;
            }
            axpb = drt.CreateKernel(RowsSource, "axpb");
        }

        [TestFixtureTearDown]
        public void Close()
        {
            if (drt != null) drt.Dispose();
        }

        void NeedDevice()
        {
            if (drt == null) Assert.Ignore("no OpenCL device (install pocl-opencl-icd: make deps)");
        }

        static float[] Ramp(int n)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = i % 4099;
            return x;
        }

        [Test]
        public void AxpbOverAMillionRowsEqualsThePlainLoop()
        {
            NeedDevice();
            Assert.AreEqual("axpb", axpb.Name);
            int[] devices = axpb.Devices;
            Assert.Greater(devices.Length, 0);
            Assert.Less(devices[0], drt.GetCaps().DeviceCount);
            float[] x = Ramp(1000003);
            var y = new float[x.Length];
            RunReport report = axpb.RunRows(new RowsRun(x.Length).Input(x).Output(y).Scalar(2.0f).Scalar(1.0f));
            for (int i = 0; i < x.Length; i++)
                if (y[i] != 2f * x[i] + 1f) Assert.Fail("y[{0}] = {1}", i, y[i]);
            Assert.GreaterOrEqual(report.Chunks, 1);
            Assert.AreEqual(0, report.Failed);
            Assert.AreEqual(0, report.FallbackChunks);
            var none = new float[0];
            axpb.RunRows(new RowsRun(0).Input(none, 4).Output(none, 4).Scalar(2.0f).Scalar(1.0f));
        }

        [Test]
        public void AProviderWritesEachRowOnceAndProgressCounts()
        {
            NeedDevice();
            const int n = 20000;
            var provided = new int[n];
            var y = new float[n];
            var seen = new List<Progress>();
            RunReport report = axpb.RunRows(new RowsRun(n)
            {
                RowsPerChunk = 1000,
            }.Input((first, rows, dst) =>
            {
                Assert.AreEqual(4, dst.BytesPerRow);
                Assert.IsTrue(dst.Writable);
                for (long r = 0; r < rows; r++)
                {
                    dst.SetSingle(r, (first + r) % 1000);
                    Interlocked.Increment(ref provided[first + r]);
                }
            }, 4).Output(y).Scalar(3.0f).Scalar(-1.0f), options: new RunOptions
            {
                ProgressIntervalMs = 1, Progress = p => { lock (seen) seen.Add(p); return true; },
            });
            for (int i = 0; i < n; i++)
            {
                Assert.AreEqual(1, provided[i]);
                Assert.AreEqual(3f * (i % 1000) - 1f, y[i]);
            }
            Assert.AreEqual(20, report.Chunks);
            Assert.AreEqual(n, seen[seen.Count - 1].Done);
        }

        [Test]
        public void AThrowingProviderFailsTheRunWithItsException()
        {
            NeedDevice();
            var y = new float[5000];
            var e = Assert.Throws<TaskFailedException>(() => axpb.RunRows(new RowsRun(5000) { RowsPerChunk = 1000 }
                .Input((first, rows, dst) => { if (first >= 2000) throw new IOException("disk gone"); dst.CopyFrom(new float[rows]); }, 4)
                .Output(y).Scalar(1.0f).Scalar(0.0f)));
            Assert.IsInstanceOf<IOException>(e.InnerException);
            StringAssert.Contains("row provider of inputs[0]", e.Message);
        }

        [Test]
        public void ACpuOnlyRuntimeRunsTheFallback()
        {
            using (var cpu = new Runtime(new RuntimeOptions { DevicePolicy = DevicePolicy.CpuOnly, MachineProfile = Env.Profile("tiny-2c-4g") }))
            using (Kernel k = cpu.CreateKernel(RowsSource, "axpb"))
            {
                Assert.AreEqual(0, k.Devices.Length);
                float[] x = Ramp(10000);
                var y = new float[x.Length];
                RunReport r = k.RunRows(new RowsRun(x.Length)
                {
                    CpuFallback = (first, rows, ins, outs) =>
                    {
                        Assert.IsFalse(ins[0].Writable);
                        Assert.Throws<InvalidOperationException>(() => ins[0].SetSingle(0, 1));
                        var chunk = new float[rows];
                        ins[0].CopyTo(chunk);
                        for (long i = 0; i < rows; i++) outs[0].SetSingle(i, 2f * chunk[i] + 1f);
                    },
                }.Input(x).Output(y).Scalar(2.0f).Scalar(1.0f));
                for (int i = 0; i < x.Length; i++) Assert.AreEqual(2f * x[i] + 1f, y[i]);
                Assert.Greater(r.Chunks, 0);
                var e = Assert.Throws<TaskFailedException>(() => k.RunRows(new RowsRun(100)
                {
                    CpuFallback = (first, rows, ins, outs) => { throw new NotImplementedException("cpu path"); },
                }.Input(new float[100]).Output(new float[100]).Scalar(1.0f).Scalar(1.0f)));
                Assert.IsInstanceOf<NotImplementedException>(e.InnerException);
                StringAssert.Contains("CPU fallback", e.Message);
                Assert.Throws<NoDeviceException>(() => k.RunRows(new RowsRun(10).Input(new float[10]).Output(new float[10])
                                                                 .Scalar(1.0f).Scalar(1.0f)), "no device, no fallback");
            }
        }

        [Test]
        public void BadRowRunsAreRefused()
        {
            NeedDevice();
            var shortArray = Assert.Throws<InvalidArgumentException>(() => new RowsRun(10).Input(new float[5], 4));
            StringAssert.Contains("inputs[0]", shortArray.Message);
            Assert.Throws<InvalidArgumentException>(() => new RowsRun(3).Output(new float[10]), "10 floats do not split into 3 rows");
            Assert.Throws<InvalidArgumentException>(() => new RowsRun(1).Input(new object[1]));
            Assert.Throws<InvalidArgumentException>(() => axpb.RunRows(new RowsRun(10).Input(new float[10])), "no output");
            var wrong = Assert.Throws<InvalidArgumentException>(() =>
                axpb.RunRows(new RowsRun(10).Input(new float[10]).Output(new float[10]).Scalar(1.0f).Scalar(2.0f),
                             options: new RunOptions { Workers = -1 }));
            StringAssert.Contains("workers", wrong.Message);
        }

        [Test]
        public void BuildErrorsAndWrongNames()
        {
            NeedDevice();
            var e = Assert.Throws<DeviceException>(() => drt.CreateKernel("__kernel void broken( { }", "broken"));
            StringAssert.Contains("error", e.Message.ToLowerInvariant());
            var n = Assert.Throws<InvalidArgumentException>(() => drt.CreateKernel(RowsSource, "no_such_kernel"));
            StringAssert.Contains("no_such_kernel", n.Message);
        }

        [Test]
        public void BuffersRoundTripAndKernelRunComputes()
        {
            NeedDevice();
            int device = axpb.Devices[0];
            using (Kernel twice = drt.CreateKernel(RowsSource, "twice"))
            using (DeviceBuffer buffer = drt.CreateBuffer(device, 64 * 4))
            {
                Assert.AreEqual(256, buffer.Bytes);
                Assert.AreEqual(device, buffer.Device);
                var v = new int[64];
                for (int i = 0; i < 64; i++) v[i] = i;
                buffer.Write(v);
                twice.Run(device, new[] { KernelArg.Buffer(buffer), KernelArg.Scalar(5) }, new long[] { 64 });
                var o = new int[64];
                buffer.Read(o);
                for (int i = 0; i < 64; i++) Assert.AreEqual(2 * i + 5, o[i]);
                var part = new int[4];
                buffer.Read(part, 0, 16, 16);  // bytes 16..32: elements 4..7
                Assert.AreEqual(new[] { 13, 15, 17, 19 }, part);
                buffer.Write(new int[] { -1, -2 }, 0, 8, 248);
                buffer.Read(part, 0, 8, 248);
                Assert.AreEqual(-1, part[0]);
                Assert.Throws<InvalidArgumentException>(() => buffer.Write(new int[100]), "past the end of the buffer");
                Assert.Throws<InvalidArgumentException>(() => buffer.Read(part, 8, 16, 0), "past the end of the array");
                Assert.Throws<InvalidArgumentException>(() => twice.Run(device, new[] { KernelArg.Buffer(buffer) }, new long[] { 64 }, new long[] { 8, 8 }));
            }
            using (Kernel sums = drt.CreateKernel(RowsSource, "group_sums"))
            using (DeviceBuffer input = drt.CreateBuffer(device, 64 * 4))
            using (DeviceBuffer output = drt.CreateBuffer(device, 8 * 4))
            {
                var v = new int[64];
                for (int i = 0; i < 64; i++) v[i] = i;
                input.Write(v);
                sums.Run(device, new[] { KernelArg.Buffer(input), KernelArg.Buffer(output), KernelArg.Local(8 * 4) },
                         new long[] { 64 }, new long[] { 8 });
                var o = new int[8];
                output.Read(o);
                for (int g = 0; g < 8; g++) Assert.AreEqual(64 * g + 28, o[g]);
            }
        }

        [Test]
        public void MeasuringADevice()
        {
            NeedDevice();
            string dir = Env.TempDir("measure");
            try
            {
                Measure(dir);
            }
            finally { Env.RemoveDir(dir); }
        }

        static void Measure(string dir)
        {
            using (var rt = new Runtime(new RuntimeOptions { DeviceTypes = DeviceTypes.Any, CacheDir = dir }))
            {
                DeviceFigures f = rt.MeasureDevice(0, 1 << 20, 4 << 20);
                Assert.AreEqual(0, f.Device);
                Assert.Greater(f.H2dPinnedGbps, 0);
                Assert.Greater(f.StreamGbps, 0);
                Assert.Greater(f.LaunchMicroseconds, 0);
                Assert.Greater(f.TransferBytes, 0);
                Assert.Throws<InvalidArgumentException>(() => rt.MeasureDevice(99));
            }
            using (var later = new Runtime(new RuntimeOptions { DeviceTypes = DeviceTypes.Any, CacheDir = dir }))
                Assert.IsNotNull(later.GetDevice(0).MeasuredGbps, "the figures are cached for later runtimes");
            using (var sim = new Runtime(new RuntimeOptions { MachineProfile = Env.Profile("server-128c-2numa-512g-4gpu") }))
                Assert.Throws<UnsupportedException>(() => sim.MeasureDevice(0));
        }

        [Test]
        public void DisposingTheRuntimeDisposesItsKernelsAndBuffers()
        {
            NeedDevice();
            var rt = new Runtime(new RuntimeOptions { DeviceTypes = DeviceTypes.Any, CacheDir = cache });
            Kernel k = rt.CreateKernel(RowsSource, "twice");
            DeviceBuffer b = rt.CreateBuffer(0, 16);
            rt.Dispose();
            Assert.IsTrue(k.IsDisposed);
            Assert.IsTrue(b.IsDisposed);
            Assert.Throws<ObjectDisposedException>(() => { var d = k.Devices; });
            Assert.Throws<ObjectDisposedException>(() => b.Write(new int[4]));

            // A kernel alone keeps its runtime's C side alive until it goes.
            var rt2 = new Runtime(new RuntimeOptions { DeviceTypes = DeviceTypes.Any, CacheDir = cache });
            Kernel k2 = rt2.CreateKernel(RowsSource, "axpb");
            var y = new float[10];
            rt2 = null;
            Env.Collect();
            k2.RunRows(new RowsRun(10).Input(Ramp(10)).Output(y).Scalar(1.0f).Scalar(1.0f));
            Assert.AreEqual(2f, y[1]);
            k2.Dispose();
        }
    }
}
