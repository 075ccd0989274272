// Runtime.Stack against plain C# references computed here (combines with NaN,
// astropy's sigma_clip semantics, min/max, percentile, weights), the three
// ways of giving frames, channels and strides, and the error paths.
using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class StackTests
    {
        const int N = 9, H = 13, W = 11;
        Runtime rt;
        float[][] frames;

        [TestFixtureSetUp]
        public void Open()
        {
            rt = Env.Tiny();
            var random = new Random(7);
            frames = new float[N][];
            for (int f = 0; f < N; f++)
            {
                frames[f] = new float[H * W];
                for (int p = 0; p < H * W; p++) frames[f][p] = (float)(100 + 5 * Normal(random));
            }
            frames[3][10] = 1e6f;            // a cosmic ray
            frames[5][10] = -400f;           // a dead pixel
            frames[2][20] = float.NaN;       // missing samples
            frames[4][20] = float.NaN;
            for (int f = 0; f < N - 2; f++) frames[f][30] = float.NaN;  // two finite samples: no rejection
            frames[N - 1][30] = 5000f;
            frames[6][40] = float.PositiveInfinity;
        }

        [TestFixtureTearDown] public void Close() { rt.Dispose(); }

        static double Normal(Random r)
        {
            return Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
        }

        double[] Samples(int p)
        {
            var s = new double[N];
            for (int f = 0; f < N; f++) s[f] = frames[f][p];
            return s;
        }

        static double[] Finite(IEnumerable<double> v) { return v.Where(x => !double.IsNaN(x) && !double.IsInfinity(x)).ToArray(); }

        static double Median(double[] v)
        {
            double[] s = v.OrderBy(x => x).ToArray();
            int n = s.Length;
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        }

        static double Std(double[] v)
        {
            double mean = v.Average();
            return Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Sum() / v.Length);
        }

        /// <summary>numpy.percentile with linear interpolation.</summary>
        static double Percentile(double[] v, double q)
        {
            double[] s = v.OrderBy(x => x).ToArray();
            double pos = (s.Length - 1) * q / 100;
            int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, s.Length - 1);
            return s[lo] + (s[hi] - s[lo]) * (pos - lo);
        }

        /// <summary>astropy's sigma_clip(maxiters, cenfunc='median', stdfunc='std') of one pixel: the kept samples.</summary>
        static double[] SigmaClip(double[] samples, double low, double high, int maxiters)
        {
            double[] finite = Finite(samples);
            if (finite.Length < 3) return finite;
            double[] kept = finite;
            double lo = double.NegativeInfinity, hi = double.PositiveInfinity;
            for (int it = 0; it < maxiters; it++)
            {
                double c = Median(kept), s = Std(kept);
                lo = c - low * s;
                hi = c + high * s;
                double l = lo, h = hi;
                double[] next = kept.Where(x => x >= l && x <= h).ToArray();
                bool same = next.Length == kept.Length;
                kept = next;
                if (same) break;
            }
            double fl = lo, fh = hi;
            return finite.Where(x => x >= fl && x <= fh).ToArray();
        }

        static void Near(double expected, float actual, string where)
        {
            if (double.IsNaN(expected)) { Assert.IsTrue(float.IsNaN(actual), where + ": NaN expected, got " + actual); return; }
            Assert.AreEqual((float)expected, actual, 1e-6 * Math.Abs(expected) + 1e-6, where);
        }

        [Test]
        public void CombinesEqualPlainCode()
        {
            var combines = new Dictionary<StackCombine, Func<double[], double>>
            {
                { StackCombine.Mean, v => v.Length == 0 ? double.NaN : v.Average() },
                { StackCombine.Sum, v => v.Length == 0 ? double.NaN : v.Sum() },
                { StackCombine.Min, v => v.Length == 0 ? double.NaN : v.Min() },
                { StackCombine.Max, v => v.Length == 0 ? double.NaN : v.Max() },
                { StackCombine.Median, v => v.Length == 0 ? double.NaN : Median(v) },
            };
            foreach (KeyValuePair<StackCombine, Func<double[], double>> kv in combines)
            {
                StackResult r = rt.Stack(frames, H, W, new StackOptions { Combine = kv.Key });
                Assert.AreEqual(H * W, r.Image.Length);
                for (int p = 0; p < H * W; p++)
                {
                    double[] kept = Finite(Samples(p));
                    if (p == 40) continue;  // +inf is rejected: checked below
                    Near(kv.Value(kept), r.Image[p], kv.Key + " pixel " + p);
                    Assert.AreEqual(kept.Length, r.Count[p], "count at " + p);
                }
                Assert.AreEqual((long)N * H * W, r.Samples);
                Assert.AreEqual(2 + (N - 2), r.Missing);
                Assert.AreEqual(1, r.Rejected, "the infinity");
                Assert.AreEqual(2, r.Workers);
                Assert.IsNull(r.DeviceIndex);
                Assert.IsNotEmpty(r.SimdTarget);
                Assert.IsNotNull(r.Report);
            }
        }

        [Test]
        public void ACubeAndAProviderGiveTheSameBitsAsSeparateFrames()
        {
            var options = new StackOptions { Reject = StackReject.SigmaClip, Combine = StackCombine.Mean };
            StackResult reference = rt.Stack(frames, H, W, options);
            var cube = new float[N * H * W];
            for (int f = 0; f < N; f++) Array.Copy(frames[f], 0, cube, f * H * W, H * W);
            StackResult fromCube = rt.Stack(cube, N, H, W, options);
            int calls = 0;
            StackResult fromProvider = rt.Stack((frame, row0, rows, col0, cols, channel, dst) =>
            {
                System.Threading.Interlocked.Increment(ref calls);
                Assert.AreEqual(0, channel);
                for (long r = 0; r < rows; r++)
                    dst.SetRow(r, frames[frame], (row0 + r) * W + col0);
            }, N, H, W, options);
            Assert.Greater(calls, 0);
            StackResult oneWorker = rt.Stack(frames, H, W, new StackOptions
            {
                Reject = StackReject.SigmaClip, Run = new RunOptions { Workers = 1 },
            });
            for (int p = 0; p < H * W; p++)
            {
                Assert.AreEqual(BitConverter.GetBytes(reference.Image[p]), BitConverter.GetBytes(fromCube.Image[p]));
                Assert.AreEqual(BitConverter.GetBytes(reference.Image[p]), BitConverter.GetBytes(fromProvider.Image[p]));
                Assert.AreEqual(BitConverter.GetBytes(reference.Image[p]), BitConverter.GetBytes(oneWorker.Image[p]));
            }
            Assert.AreEqual(1, oneWorker.Workers);
        }

        [Test]
        public void SigmaClipEqualsAstropysSemantics()
        {
            foreach (var bounds in new[] { new[] { 3.0, 3.0 }, new[] { 2.0, 1.5 } })
            {
                StackResult r = rt.Stack(frames, H, W, new StackOptions
                {
                    Reject = StackReject.SigmaClip, SigmaLow = bounds[0], SigmaHigh = bounds[1], MaxIters = 5,
                    ReturnRejected = true,
                });
                long rejectedLow = 0, rejectedHigh = 0;
                for (int p = 0; p < H * W; p++)
                {
                    double[] kept = SigmaClip(Samples(p), bounds[0], bounds[1], 5);
                    Near(kept.Length == 0 ? double.NaN : kept.Average(), r.Image[p], "pixel " + p);
                    Assert.AreEqual(kept.Length, r.Count[p], "count at " + p);
                    rejectedLow += r.RejectedLow[p];
                    rejectedHigh += r.RejectedHigh[p];
                }
                Assert.AreEqual(r.Rejected, rejectedLow + rejectedHigh);
                Assert.AreEqual(r.Rejected, r.FrameRejected.Sum());
                Assert.GreaterOrEqual(r.RejectedHigh[10], 1, "the cosmic ray");
                Assert.GreaterOrEqual(r.RejectedLow[10], 1, "the dead pixel");
                Assert.AreEqual(2, r.Count[30], "two finite samples are never clipped");
                Assert.GreaterOrEqual(r.RejectedHigh[40], 1, "+inf is always rejected");
            }
        }

        [Test]
        public void MinMaxAndPercentileRejection()
        {
            StackResult mm = rt.Stack(frames, H, W, new StackOptions { Reject = StackReject.MinMax, NLow = 2, NHigh = 1 });
            StackResult pc = rt.Stack(frames, H, W, new StackOptions
            {
                Reject = StackReject.Percentile, PercentileLow = 10, PercentileHigh = 90,
            });
            for (int p = 0; p < H * W; p++)
            {
                double[] finite = Finite(Samples(p));
                double[] sorted = finite.OrderBy(x => x).ToArray();
                double[] kept = finite.Length < 3 || finite.Length <= 2 + 1 ? finite : sorted.Skip(2).Take(sorted.Length - 3).ToArray();
                Near(kept.Average(), mm.Image[p], "minmax pixel " + p);
                if (finite.Length >= 3)
                {
                    double lo = Percentile(finite, 10), hi = Percentile(finite, 90);
                    kept = finite.Where(x => x >= lo && x <= hi).ToArray();
                }
                Near(kept.Average(), pc.Image[p], "percentile pixel " + p);
            }
        }

        [Test]
        public void GivenAndNoiseWeights()
        {
            var weights = new double[N];
            for (int f = 0; f < N; f++) weights[f] = 1 + f % 3;
            StackResult r = rt.Stack(frames, H, W, new StackOptions
            {
                Combine = StackCombine.WeightedMean, FrameWeights = weights, ReturnFrameStats = true,
            });
            for (int p = 0; p < H * W; p++)
            {
                if (p == 40) continue;
                double sw = 0, swx = 0;
                for (int f = 0; f < N; f++)
                {
                    double x = frames[f][p];
                    if (double.IsNaN(x)) continue;
                    sw += weights[f];
                    swx += weights[f] * x;
                }
                Near(swx / sw, r.Image[p], "pixel " + p);
            }
            Assert.AreEqual(weights, r.FrameWeight);
            Assert.AreEqual(Enumerable.Repeat(1.0, N).ToArray(), r.FrameScale);
            var e = Assert.Throws<InvalidArgumentException>(() => rt.Stack(frames, H, W, new StackOptions
            {
                Combine = StackCombine.WeightedMean, FrameWeights = new double[] { 1, 2 },
            }));
            StringAssert.Contains("FrameWeights", e.Message);
            StackResult noise = rt.Stack(frames, H, W, new StackOptions
            {
                Combine = StackCombine.WeightedMean, Weights = StackWeights.NoiseVariance, ReturnFrameStats = true,
            });
            Assert.IsTrue(noise.FrameWeight.All(w => w > 0 && !double.IsInfinity(w)));
        }

        [Test]
        public void AdditiveNormalizationRecoversTheOffsets()
        {
            var shifted = new float[4][];
            var offsets = new[] { 0f, 10f, -20f, 5.5f };
            for (int f = 0; f < 4; f++)
            {
                shifted[f] = new float[H * W];
                for (int p = 0; p < H * W; p++) shifted[f][p] = 100 + p % 17 + offsets[f];
            }
            StackResult r = rt.Stack(shifted, H, W, new StackOptions
            {
                Normalize = StackNormalize.Additive, ReturnFrameStats = true, ReferenceFrame = 0,
            });
            for (int f = 0; f < 4; f++) Assert.AreEqual(-offsets[f], r.FrameOffset[f], 1e-9);
            for (int p = 0; p < H * W; p++) Assert.AreEqual(100 + p % 17, r.Image[p], 1e-4);
        }

        [Test]
        public void ChannelsAndStridesEqualPerChannelStacks()
        {
            const int C = 2, stride = W + 3;  // padded rows
            var planes = new float[N][];
            for (int f = 0; f < N; f++)
            {
                planes[f] = new float[C * H * stride];
                for (int c = 0; c < C; c++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++)
                            planes[f][c * H * stride + y * stride + x] = frames[f][y * W + x] * (c + 1);
            }
            StackResult r = rt.Stack(planes, H, W, new StackOptions
            {
                Channels = C, RowStride = stride, Combine = StackCombine.Median,
            });
            Assert.AreEqual(C * H * W, r.Image.Length);
            StackResult plain = rt.Stack(frames, H, W, new StackOptions { Combine = StackCombine.Median });
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    int p = y * W + x;
                    if (p == 40) continue;
                    Near(plain.Image[p], r.Image[p], "channel 0");
                    Near(2.0 * plain.Image[p], r.Image[H * W + p], "channel 1");
                }
        }

        [Test]
        public void ErrorsCarryTheirMessages()
        {
            var e = Assert.Throws<InvalidArgumentException>(() => rt.Stack(frames, H, W, new StackOptions { SigmaLow = double.NaN }));
            StringAssert.Contains("sigma_low", e.Message);
            var shortFrame = Assert.Throws<InvalidArgumentException>(() => rt.Stack(frames, H + 1, W));
            StringAssert.Contains("frames[0]", shortFrame.Message);
            var none = Assert.Throws<InvalidArgumentException>(() => rt.Stack(new float[0][], H, W));
            StringAssert.Contains("frames", none.Message);
            Assert.Throws<InvalidArgumentException>(() => rt.Stack(new float[10], 2, 2, 3), "a cube too short");
            Assert.Throws<ArgumentNullException>(() => rt.Stack((float[][])null, H, W));
            Assert.Throws<ArgumentNullException>(() => rt.Stack(new[] { frames[0], null }, H, W));
            var boom = new KeyNotFoundException("frame file missing");
            var p = Assert.Throws<TaskFailedException>(() => rt.Stack((frame, row0, rows, col0, cols, channel, dst) =>
            {
                if (frame == 4) throw boom;
                for (long r = 0; r < rows; r++) dst.SetRow(r, frames[frame], (row0 + r) * W + col0);
            }, N, H, W));
            Assert.AreSame(boom, p.InnerException);
            StringAssert.Contains("frame provider (frame 4", p.Message);
            PixelBlock kept = null;
            rt.Stack((frame, row0, rows, col0, cols, channel, dst) => { kept = dst; dst[0, 0] = 1; }, 1, 1, 1);
            Assert.Throws<ObjectDisposedException>(() => { float v = kept[0, 0]; }, "valid during the call only");
        }

        [Test]
        public void StackPlanProgressAndCancel()
        {
            using (Plan plan = rt.StackPlan(frames, H, W, new StackOptions { Reject = StackReject.SigmaClip }))
            {
                Assert.AreEqual(2, plan.CpuWorkers);
                Assert.Greater(plan.RowsPerChunk, 0);
            }
            using (Plan plan = rt.StackPlan((f, r0, rows, c0, cols, ch, dst) => { Assert.Fail("never called"); }, 13000, 1080, 1920))
                Assert.GreaterOrEqual(plan.CpuWorkers, 1);
            var seen = new List<Progress>();
            rt.Stack(frames, H, W, new StackOptions
            {
                Run = new RunOptions { ProgressIntervalMs = 1, Progress = p => { lock (seen) seen.Add(p); return true; } },
            });
            Assert.AreEqual(seen[seen.Count - 1].Total, seen[seen.Count - 1].Done);
            using (var token = new CancelToken())
            {
                token.Cancel();
                Assert.Throws<CancelledException>(() => rt.Stack(frames, H, W, new StackOptions { Run = new RunOptions { Cancel = token } }));
            }
        }
    }
}
