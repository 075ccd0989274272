// Runtime.Coadd on known answers computed here: shifted copies, two
// overlapping tiles under every combine, linear fields under bilinear
// interpolation, coordinate maps equal to the same matrix, TAN WCS tiles, the
// tile delegate, weights and backgrounds, and the error paths.
using System;
using System.Collections.Generic;
using System.Threading;
using NUnit.Framework;
using Parallax;

namespace Parallax.Tests
{
    [TestFixture]
    public class CoaddTests
    {
        Runtime rt;

        [TestFixtureSetUp] public void Open() { rt = Env.Tiny(); }
        [TestFixtureTearDown] public void Close() { rt.Dispose(); }

        /// <summary>A height x width image of f(x, y) + add.</summary>
        static float[] Field(int h, int w, Func<int, int, double> f, double add = 0)
        {
            var a = new float[h * w];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) a[y * w + x] = (float)(f(x, y) + add);
            return a;
        }

        static double Linear(int x, int y) { return 3 + x + 10 * y; }

        [Test]
        public void AnIntegerShiftIsAnExactCopy()
        {
            const int h = 7, w = 9, dx = 4, dy = 2, H = 12, W = 15;
            float[] a = Field(h, w, Linear);
            CoaddResult r = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, -dx, 0, 1, -dy) }, H, W);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    bool inside = x >= dx && x < dx + w && y >= dy && y < dy + h;
                    float v = r.Image[y * W + x];
                    if (inside) Assert.AreEqual(a[(y - dy) * w + x - dx], v, "(" + x + ", " + y + ")");
                    else Assert.IsTrue(float.IsNaN(v), "outside is NaN");
                    Assert.AreEqual(inside ? 1f : 0f, r.Footprint[y * W + x]);
                }
            Assert.AreEqual(h * w, r.Covered);
            Assert.AreEqual(2, r.Workers);
            Assert.IsNull(r.DeviceIndex);
            Assert.IsNotNull(r.Report);
            CoaddResult sum = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, -dx, 0, 1, -dy) }, H, W,
                                       new CoaddOptions { Combine = CoaddCombine.Sum, ReturnFootprint = false });
            Assert.IsNull(sum.Footprint);
            Assert.AreEqual(0f, sum.Image[0], "SUM is 0 where nothing contributes");
            Assert.AreEqual(a[0], sum.Image[dy * W + dx]);
        }

        [Test]
        public void TwoOverlappingTilesUnderEveryCombine()
        {
            // Tile A covers output columns 0..9, tile B columns 6..15, of the same field: A = f + 1, B = f - 1.
            const int h = 8, w = 10, H = 8, W = 16, shift = 6;
            float[] a = Field(h, w, (x, y) => Linear(x, y), 1);
            float[] b = Field(h, w, (x, y) => Linear(x + shift, y), -1);
            var inputs = new[] { CoaddInput.Affine(a, h, w, 1, 0, 0, 0, 1, 0), CoaddInput.Affine(b, h, w, 1, 0, -shift, 0, 1, 0) };
            var expected = new Dictionary<CoaddCombine, Func<double, double>>
            {
                { CoaddCombine.Mean, f => f },
                { CoaddCombine.Sum, f => 2 * f },
                { CoaddCombine.Min, f => f - 1 },
                { CoaddCombine.Max, f => f + 1 },
                { CoaddCombine.Median, f => f },
                { CoaddCombine.First, f => f + 1 },
                { CoaddCombine.Last, f => f - 1 },
            };
            foreach (KeyValuePair<CoaddCombine, Func<double, double>> kv in expected)
            {
                CoaddResult r = rt.Coadd(inputs, H, W, new CoaddOptions { Combine = kv.Key, Interpolation = Interpolation.Nearest });
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                    {
                        double f = Linear(x, y);
                        bool inA = x < w, inB = x >= shift;
                        double want = inA && inB ? kv.Value(f) : inA ? f + 1 : f - 1;
                        Assert.AreEqual((float)want, r.Image[y * W + x], kv.Key + " at (" + x + ", " + y + ")");
                        Assert.AreEqual((inA ? 1 : 0) + (inB ? 1 : 0), r.Footprint[y * W + x]);
                    }
            }
        }

        [Test]
        public void BilinearInterpolationOfALinearFieldIsExactInside()
        {
            const int h = 10, w = 12;
            float[] a = Field(h, w, Linear);
            // Output (x, y) reads input (x + 0.25, y + 0.5).
            CoaddResult r = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, 0.25, 0, 1, 0.5) }, h, w);
            for (int y = 0; y < h - 1; y++)
                for (int x = 0; x < w - 1; x++)
                    Assert.AreEqual(3 + (x + 0.25) + 10 * (y + 0.5), r.Image[y * w + x], 1e-4, "(" + x + ", " + y + ")");
            // The identity homography with nearest interpolation is the input itself.
            CoaddResult same = rt.Coadd(new[] { CoaddInput.Homography(a, h, w, 1, 0, 0, 0, 1, 0, 0, 0, 1) }, h, w,
                                        new CoaddOptions { Interpolation = Interpolation.Nearest });
            Assert.AreEqual(a, same.Image);
            foreach (Interpolation i in new[] { Interpolation.Bicubic, Interpolation.Lanczos3 })
            {
                CoaddResult k = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, 0, 0, 1, 0) }, h, w, new CoaddOptions { Interpolation = i });
                for (int p = 0; p < h * w; p++) Assert.AreEqual(a[p], k.Image[p], 1e-4, i + ": samples at integer positions come back");
            }
        }

        [Test]
        public void ACoordinateMapEqualsTheSameAffine()
        {
            const int h = 20, w = 24;
            float[] a = Field(h, w, (x, y) => Math.Sin(x * 0.3) + Math.Cos(y * 0.2) * 5);
            double[] m = { 0.93, -0.31, 4.4, 0.29, 0.95, -3.1 };
            CoaddResult byMatrix = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, m) }, 25, 30);
            long points = 0;
            var threads = new HashSet<int>();
            CoaddResult byMap = rt.Coadd(new[]
            {
                CoaddInput.WithMap(a, h, w, (input, xo, yo, xi, yi) =>
                {
                    Assert.AreEqual(0, input);
                    Assert.IsTrue(double.IsNaN(xi[0]), "the outputs start as NaN");
                    Interlocked.Add(ref points, xo.Length);
                    lock (threads) threads.Add(Thread.CurrentThread.ManagedThreadId);
                    for (int k = 0; k < xo.Length; k++)
                    {
                        xi[k] = m[0] * xo[k] + m[1] * yo[k] + m[2];
                        yi[k] = m[3] * xo[k] + m[4] * yo[k] + m[5];
                    }
                }),
            }, 25, 30);
            Assert.Greater(points, 0);
            for (int p = 0; p < byMatrix.Image.Length; p++)
            {
                Assert.AreEqual(BitConverter.GetBytes(byMatrix.Image[p]), BitConverter.GetBytes(byMap.Image[p]), "pixel " + p);
                Assert.AreEqual(byMatrix.Footprint[p], byMap.Footprint[p]);
            }
        }

        static string Tan(int nx, int ny, double crpix1, double crpix2)
        {
            return new FitsHeader().Add("NAXIS", 2).Add("NAXIS1", nx).Add("NAXIS2", ny)
                .Add("CTYPE1", "RA---TAN").Add("CTYPE2", "DEC--TAN").Add("CRVAL1", 150.0).Add("CRVAL2", 2.0)
                .Add("CRPIX1", crpix1).Add("CRPIX2", crpix2).Add("CD1_1", -2.0e-4).Add("CD1_2", 0.0)
                .Add("CD2_1", 0.0).Add("CD2_2", 2.0e-4).ToString();
        }

        [Test]
        public void TanWcsTilesLandAtTheirOffsets()
        {
            const int h = 10, w = 12, H = 16, W = 26;
            float[] a = Field(h, w, Linear);
            float[] b = Field(h, w, (x, y) => Linear(x + 14, y + 6));
            string output = Tan(W, H, 1.0, 1.0);
            // Tile A's pixel (0, 0) is output (0, 0); tile B's is output (14, 6): its CRPIX is 14 and 6 less.
            var inputs = new[] { CoaddInput.Wcs(a, h, w, Tan(w, h, 1.0, 1.0)), CoaddInput.Wcs(b, h, w, Tan(w, h, -13.0, -5.0)) };
            CoaddResult r = rt.Coadd(inputs, H, W, new CoaddOptions { OutputWcsHeader = output });
            Assert.AreEqual(2, r.NativeWcs);
            Assert.AreEqual(0, r.GridWcs);
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    bool inA = x < w && y < h, inB = x >= 14 && y >= 6;
                    float v = r.Image[y * W + x];
                    if (inA || inB) Assert.AreEqual(Linear(x, y), v, 1e-4, "(" + x + ", " + y + ")");
                    else Assert.IsTrue(float.IsNaN(v));
                }
            // One card per line is accepted as well.
            string lines = output.Replace("END" + new string(' ', 77), "END");
            var text = new System.Text.StringBuilder();
            for (int i = 0; i < lines.Length; i += 80) text.Append(lines.Substring(i, Math.Min(80, lines.Length - i)).TrimEnd()).Append('\n');
            CoaddResult again = rt.Coadd(inputs, H, W, new CoaddOptions { OutputWcsHeader = text.ToString() });
            Assert.AreEqual(r.Image, again.Image);
        }

        [Test]
        public void TheTileDelegateAssemblesTheSameImage()
        {
            const int h = 30, w = 20;
            float[] a = Field(h, w, (x, y) => x * y % 7);
            CoaddResult whole = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, 0.5, 0, 1, -0.5) }, h, w);
            var image = new float[h * w];
            var rows = new int[h];
            CoaddResult tiled = rt.Coadd(new[] { CoaddInput.Affine(a, h, w, 1, 0, 0.5, 0, 1, -0.5) }, h, w, new CoaddOptions
            {
                Tile = (row0, count, pixels, footprint) =>
                {
                    Assert.AreEqual(count * w, pixels.Length);
                    Array.Copy(pixels, 0, image, row0 * w, pixels.Length);
                    for (long r = row0; r < row0 + count; r++) rows[r]++;
                },
                Run = new RunOptions { MemoryBudgetBytes = 4096 },
            });
            Assert.IsNull(tiled.Image);
            Assert.Greater(tiled.Tiles, 1, "a small budget cuts the output into tiles");
            foreach (int n in rows) Assert.AreEqual(1, n, "every row exactly once");
            Assert.AreEqual(whole.Image, image);
        }

        [Test]
        public void WeightsAndBackgrounds()
        {
            const int h = 6, w = 6;
            float[] a = Field(h, w, (x, y) => 10);
            float[] b = Field(h, w, (x, y) => 20);
            var first = CoaddInput.Affine(a, h, w, 1, 0, 0, 0, 1, 0);
            var second = CoaddInput.Affine(b, h, w, 1, 0, 0, 0, 1, 0);
            second.Weight = 3;
            second.Background = 4;
            CoaddResult r = rt.Coadd(new[] { first, second }, h, w);
            Assert.AreEqual((1 * 10 + 3 * 16) / 4f, r.Image[7]);
            Assert.AreEqual(4f, r.Footprint[7]);
            var map = new float[h * w];
            for (int p = 0; p < map.Length; p++) map[p] = p % 2 == 0 ? 0 : 1;
            first.Weights = map;
            CoaddResult m = rt.Coadd(new[] { first, second }, h, w, new CoaddOptions { Interpolation = Interpolation.Nearest });
            Assert.AreEqual(16f, m.Image[2 * w + 2], "weight 0 there: only the second input");
            Assert.AreEqual((10 + 3 * 16) / 4f, m.Image[2 * w + 3]);
        }

        [Test]
        public void ErrorsCarryTheirMessages()
        {
            float[] a = Field(5, 5, Linear);
            var nan = Assert.Throws<InvalidArgumentException>(() =>
                rt.Coadd(new[] { CoaddInput.Affine(a, 5, 5, 1, 0, double.NaN, 0, 1, 0) }, 5, 5));
            StringAssert.Contains("matrix", nan.Message);
            var noHeader = Assert.Throws<InvalidArgumentException>(() =>
                rt.Coadd(new[] { CoaddInput.Wcs(a, 5, 5, Tan(5, 5, 1, 1)) }, 5, 5));
            StringAssert.Contains("output_wcs_header", noHeader.Message);
            Assert.Throws<InvalidArgumentException>(() =>
                rt.Coadd(new[] { CoaddInput.Wcs(a, 5, 5, "NOT A HEADER") }, 5, 5, new CoaddOptions { OutputWcsHeader = Tan(5, 5, 1, 1) }));
            var shortData = Assert.Throws<InvalidArgumentException>(() => rt.Coadd(new[] { CoaddInput.Affine(a, 6, 5, 1, 0, 0, 0, 1, 0) }, 5, 5));
            StringAssert.Contains("inputs[0].Data", shortData.Message);
            Assert.Throws<InvalidArgumentException>(() => rt.Coadd(new[] { CoaddInput.Affine(a, 5, 5, 1, 0, 0) }, 5, 5), "3 values");
            Assert.Throws<InvalidArgumentException>(() => rt.Coadd(new CoaddInput[0], 5, 5), "no input");
            Assert.Throws<InvalidArgumentException>(() => rt.Coadd(new[] { CoaddInput.Affine(a, 5, 5, 1, 0, 0, 0, 1, 0) }, 0, 5));
            var boom = new ArithmeticException("projection failed");
            var map = Assert.Throws<TaskFailedException>(() =>
                rt.Coadd(new[] { CoaddInput.WithMap(a, 5, 5, (i, xo, yo, xi, yi) => { throw boom; }) }, 5, 5));
            Assert.AreSame(boom, map.InnerException);
            StringAssert.Contains("coordinate map of inputs[0]", map.Message);
            var tile = Assert.Throws<TaskFailedException>(() =>
                rt.Coadd(new[] { CoaddInput.Affine(a, 5, 5, 1, 0, 0, 0, 1, 0) }, 5, 5,
                         new CoaddOptions { Tile = (row0, rows, img, fp) => { throw new OverflowException("disk full"); } }));
            Assert.IsInstanceOf<OverflowException>(tile.InnerException);
            StringAssert.Contains("tile function", tile.Message);
            Assert.Throws<InvalidArgumentException>(() => new FitsHeader().Add("TOOLONGKEY", 1));
            Assert.Throws<InvalidArgumentException>(() => rt.Coadd(new[] { CoaddInput.Wcs(a, 5, 5, "CTYPE1 = '\u00e9'") }, 5, 5,
                                                                   new CoaddOptions { OutputWcsHeader = Tan(5, 5, 1, 1) }));
        }

        [Test]
        public void ProgressAndCancel()
        {
            float[] a = Field(50, 50, Linear);
            var seen = new List<Progress>();
            rt.Coadd(new[] { CoaddInput.Affine(a, 50, 50, 1, 0, 0, 0, 1, 0) }, 50, 50, new CoaddOptions
            {
                Run = new RunOptions { ProgressIntervalMs = 1, Progress = p => { lock (seen) seen.Add(p); return true; } },
            });
            Assert.AreEqual(50, seen[seen.Count - 1].Total, "items are output rows");
            Assert.AreEqual(50, seen[seen.Count - 1].Done);
            using (var token = new CancelToken())
            {
                token.Cancel();
                Assert.Throws<CancelledException>(() => rt.Coadd(new[] { CoaddInput.Affine(a, 50, 50, 1, 0, 0, 0, 1, 0) }, 50, 50,
                                                                  new CoaddOptions { Run = new RunOptions { Cancel = token } }));
            }
        }
    }
}
