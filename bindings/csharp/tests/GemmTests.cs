// Runtime.Gemm and GemmBatchedStrided against a naive C# reference: both
// layouts, every transpose, alpha and beta, leading dimensions, beta = 0 not
// reading C, the BLAS edge cases, batches, and the error paths. CPU only.
using System;
using NUnit.Framework;
using Parallax;
using Parallax.Interop;

namespace Parallax.Tests
{
    [TestFixture]
    public class GemmTests
    {
        Runtime rt;

        [TestFixtureSetUp] public void Open() { rt = Env.Tiny(); }
        [TestFixtureTearDown] public void Close() { rt.Dispose(); }

        static double At(double[] x, long i, long j, long ld, bool row) { return row ? x[i * ld + j] : x[i + j * ld]; }

        /// <summary>C = alpha op(A) op(B) + beta C, naively, in double; C not read when beta = 0.</summary>
        static double[] Reference(double[] a, double[] b, double[] c, long m, long n, long k, GemmOptions o,
                                  long lda, long ldb, long ldc)
        {
            bool row = o.Layout == MatrixLayout.RowMajor;
            var r = (double[])c.Clone();
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++)
                {
                    double s = 0;
                    for (long p = 0; p < k; p++)
                    {
                        double av = o.TransA == Transpose.Trans ? At(a, p, i, lda, row) : At(a, i, p, lda, row);
                        double bv = o.TransB == Transpose.Trans ? At(b, j, p, ldb, row) : At(b, p, j, ldb, row);
                        s += av * bv;
                    }
                    long ci = row ? i * ldc + j : i + j * ldc;
                    r[ci] = o.Alpha * s + (o.Beta == 0 ? 0 : o.Beta * c[ci]);
                }
            return r;
        }

        static double[] Random(long count, int seed)
        {
            var random = new Random(seed);
            var x = new double[count];
            for (long i = 0; i < count; i++) x[i] = random.NextDouble() * 2 - 1;
            return x;
        }

        static float[] Single(double[] x) { return Array.ConvertAll(x, v => (float)v); }
        static double[] Double(float[] x) { return Array.ConvertAll(x, v => (double)v); }

        static GemmOptions Cpu(MatrixLayout layout, Transpose ta, Transpose tb, double alpha = 1, double beta = 0)
        {
            return new GemmOptions { Layout = layout, TransA = ta, TransB = tb, Alpha = alpha, Beta = beta, Device = DevicePreference.Cpu };
        }

        static void Close(double[] expected, double[] actual, double tolerance, string where)
        {
            Assert.AreEqual(expected.Length, actual.Length, where);
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], actual[i], tolerance * (1 + Math.Abs(expected[i])), where + " [" + i + "]");
        }

        [Test]
        public void EveryLayoutAndTransposeMatchesTheReference()
        {
            const long m = 7, n = 5, k = 9;
            foreach (MatrixLayout layout in new[] { MatrixLayout.RowMajor, MatrixLayout.ColMajor })
                foreach (Transpose ta in new[] { Transpose.NoTrans, Transpose.Trans })
                    foreach (Transpose tb in new[] { Transpose.NoTrans, Transpose.Trans })
                    {
                        bool row = layout == MatrixLayout.RowMajor;
                        long aRows = ta == Transpose.Trans ? k : m, aCols = ta == Transpose.Trans ? m : k;
                        long bRows = tb == Transpose.Trans ? n : k, bCols = tb == Transpose.Trans ? k : n;
                        long lda = row ? aCols : aRows, ldb = row ? bCols : bRows, ldc = row ? n : m;
                        double[] a = Random(m * k, 1), b = Random(k * n, 2), c = Random(m * n, 3);
                        GemmOptions o = Cpu(layout, ta, tb, 1.5, 0.5);
                        double[] expected = Reference(a, b, c, m, n, k, o, lda, ldb, ldc);
                        string where = layout + " " + ta + " " + tb;

                        var cd = (double[])c.Clone();
                        GemmResult r = rt.Gemm(a, b, cd, m, n, k, o);
                        Close(expected, cd, 1e-12, where + " F64");
                        Assert.IsNull(r.DeviceIndex, "CPU");
                        Assert.IsNotNullOrEmpty(r.Path);

                        float[] cf = Single(c);
                        rt.Gemm(Single(a), Single(b), cf, m, n, k, o);
                        double[] expectedF = Reference(Double(Single(a)), Double(Single(b)), Double(Single(c)), m, n, k, o, lda, ldb, ldc);
                        Close(expectedF, Double(cf), 1e-5, where + " F32");
                    }
        }

        [Test]
        public void LeadingDimensionsLargerThanTheRows()
        {
            const long m = 4, n = 3, k = 5, lda = 8, ldb = 6, ldc = 7;
            double[] a = Random(m * lda, 4), b = Random(k * ldb, 5), c = Random(m * ldc, 6);
            GemmOptions o = Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans, 2, 1);
            o.Lda = lda;
            o.Ldb = ldb;
            o.Ldc = ldc;
            double[] expected = Reference(a, b, c, m, n, k, o, lda, ldb, ldc);
            rt.Gemm(a, b, c, m, n, k, o);
            Close(expected, c, 1e-12, "padded");
        }

        [Test]
        public void BetaZeroDoesNotReadC()
        {
            const long m = 3, n = 4, k = 2;
            double[] a = Random(m * k, 7), b = Random(k * n, 8);
            var c = new double[m * n];
            for (int i = 0; i < c.Length; i++) c[i] = double.NaN;
            GemmOptions o = Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans);
            rt.Gemm(a, b, c, m, n, k, o);
            Close(Reference(a, b, new double[m * n], m, n, k, o, k, n, n), c, 1e-12, "beta 0");

            var cf = new float[m * n];
            for (int i = 0; i < cf.Length; i++) cf[i] = float.NaN;
            rt.Gemm(Single(a), Single(b), cf, m, n, k, o);
            foreach (float v in cf) Assert.IsFalse(float.IsNaN(v), "NaN in C does not propagate with beta = 0");

            // With beta != 0 the NaN does propagate.
            o.Beta = 1;
            var c2 = new double[m * n];
            c2[0] = double.NaN;
            rt.Gemm(a, b, c2, m, n, k, o);
            Assert.IsTrue(double.IsNaN(c2[0]), "beta 1 reads C");
            Assert.IsFalse(double.IsNaN(c2[1]));
        }

        [Test]
        public void EdgeCasesFollowBlas()
        {
            // k = 0: C = beta C without reading A or B (null is allowed).
            var c = new double[] { 1, 2, 3, 4 };
            GemmResult r = rt.Gemm((double[])null, null, c, 2, 2, 0, Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans, 1, 3));
            CollectionAssert.AreEqual(new double[] { 3, 6, 9, 12 }, c);
            Assert.AreEqual("scale", r.Path);
            // m = 0: nothing.
            rt.Gemm(new float[0], new float[0], new float[0], 0, 0, 3, Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans));
        }

        [Test]
        public void BadArgumentsThrowWithTheLibrarysMessage()
        {
            double[] a = Random(6, 1), b = Random(6, 2), c = new double[4];
            var negative = Assert.Throws<InvalidArgumentException>(() =>
                rt.Gemm(a, b, c, -1, 2, 3, Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans)));
            Assert.AreEqual(Status.InvalidArgument, negative.Status);
            StringAssert.Contains("m", negative.Message);
            Assert.AreEqual(Library.LastErrorMessage, negative.Message, "the C message");

            GemmOptions o = Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans);
            o.Lda = 2;  // A is 2 x 3 row-major: lda must be >= 3
            var lda = Assert.Throws<InvalidArgumentException>(() => rt.Gemm(a, b, c, 2, 2, 3, o));
            StringAssert.Contains("lda", lda.Message);
            Assert.AreEqual(Library.LastErrorMessage, lda.Message, "the C message");

            var bad = new GemmOptions { Layout = (MatrixLayout)7, Device = DevicePreference.Cpu };
            var layout = Assert.Throws<InvalidArgumentException>(() => rt.Gemm(a, b, c, 2, 2, 3, bad));
            StringAssert.Contains("layout", layout.Message);

            // The binding's own check: an array too short for the sizes.
            var shortC = Assert.Throws<InvalidArgumentException>(() =>
                rt.Gemm(a, b, new double[3], 2, 2, 3, Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans)));
            StringAssert.Contains("c holds 3", shortC.Message);

            var batch = Assert.Throws<InvalidArgumentException>(() =>
                rt.GemmBatchedStrided(a, b, c, 2, 2, 3, -1, 0, 0, 4, Cpu(MatrixLayout.RowMajor, Transpose.NoTrans, Transpose.NoTrans)));
            StringAssert.Contains("batch", batch.Message);
        }

        [Test]
        public void BatchedStridedMatchesEachProduct()
        {
            const long m = 3, n = 4, k = 5, batch = 4;
            foreach (MatrixLayout layout in new[] { MatrixLayout.RowMajor, MatrixLayout.ColMajor })
            {
                bool row = layout == MatrixLayout.RowMajor;
                double[] a = Random(batch * m * k, 11), b = Random(k * n, 12), c = Random(batch * m * n, 13);
                GemmOptions o = Cpu(layout, Transpose.NoTrans, Transpose.Trans, 0.5, 2);
                var cd = (double[])c.Clone();
                float[] cf = Single(c);
                // B (n x k stored, shared: stride 0).
                rt.GemmBatchedStrided(a, b, cd, m, n, k, batch, m * k, 0, m * n, o);
                rt.GemmBatchedStrided(Single(a), Single(b), cf, m, n, k, batch, m * k, 0, m * n, o);
                for (long i = 0; i < batch; i++)
                {
                    var ai = new double[m * k];
                    var ci = new double[m * n];
                    Array.Copy(a, i * m * k, ai, 0, m * k);
                    Array.Copy(c, i * m * n, ci, 0, m * n);
                    double[] expected = Reference(ai, b, ci, m, n, k, o, row ? k : m, row ? k : n, row ? n : m);
                    var got = new double[m * n];
                    Array.Copy(cd, i * m * n, got, 0, m * n);
                    Close(expected, got, 1e-12, layout + " product " + i);
                    var gotF = new double[m * n];
                    Array.Copy(Double(cf), i * m * n, gotF, 0, m * n);
                    Close(expected, gotF, 1e-4, layout + " F32 product " + i);
                }
            }
            // batch 0 does nothing.
            var untouched = new double[] { 1, 2 };
            rt.GemmBatchedStrided(new double[0], new double[0], untouched, 1, 2, 1, 0, 0, 0, 2);
            CollectionAssert.AreEqual(new double[] { 1, 2 }, untouched);
        }

        [Test]
        public void TuneOptionsInitAndBadDevice()
        {
            unsafe
            {
                plx_gemm_tune_options_t o;
                Assert.AreEqual(0, Native.plx_gemm_tune_options_init(&o, StructSizes.Of<plx_gemm_tune_options_t>()));
                Assert.AreEqual(1024, o.size);
                Assert.AreEqual(3, o.kernels);
                plx_gemm_desc_t d;
                Assert.AreEqual(0, Native.plx_gemm_desc_init(&d, StructSizes.Of<plx_gemm_desc_t>()));
                Assert.AreEqual(1.0, d.alpha);
                Assert.AreEqual(0.0, d.beta);
            }
            // The tiny profile has no OpenCL device to tune.
            var e = Assert.Throws(Is.InstanceOf<ParallaxException>(), () => rt.GemmTune(99));
            Assert.IsNotNullOrEmpty(e.Message);
        }
    }
}
