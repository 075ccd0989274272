// Matrix multiply (plx_gemm, plx_gemm_batched_strided, plx_gemm_tune):
// C = alpha op(A) op(B) + beta C in single (float[]) or double (double[])
// precision, with BLAS's semantics. Matrices are arrays read (A, B) and
// written (C) in place: pinned for the call, never copied. Their layout,
// transposes and leading dimensions are GemmOptions; the binding checks that
// every array holds the elements its sizes reach, the library checks the rest
// (its message names the field).
using System;
using System.Runtime.InteropServices;
using Parallax.Interop;

namespace Parallax.Interop
{
    [StructLayout(LayoutKind.Sequential)]
    public struct plx_gemm_desc_t
    {
        public UIntPtr struct_size;
        public int precision;
        public int layout;
        public int trans_a;
        public int trans_b;
        public long m;
        public long n;
        public long k;
        public double alpha;
        public double beta;
        public IntPtr a;                   // const void*
        public long lda;
        public IntPtr b;                   // const void*
        public long ldb;
        public IntPtr c;                   // void*
        public long ldc;
        public IntPtr a_buffer;            // plx_buffer_t*
        public IntPtr b_buffer;
        public IntPtr c_buffer;
        public long a_offset;
        public long b_offset;
        public long c_offset;
        public int device;
        public int reserved0;
        public IntPtr run_options;         // const plx_run_options_t*
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_gemm_result_t
    {
        public UIntPtr struct_size;
        public int device_index;
        public int workers;
        public long tiles;
        public int splits;
        public int fallback;
        public double seconds;
        public double gflops;
        public fixed byte path[16];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_gemm_tune_options_t
    {
        public UIntPtr struct_size;
        public int precision;
        public int kernels;
        public long size;
        public double fraction;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_gemm_tune_result_t
    {
        public UIntPtr struct_size;
        public int kernels_tuned;
        public int reserved0;
        public double seconds;
        public double default_gflops;
        public double tuned_gflops;
        public double cpu_gflops;
        public double upload_gbps;
        public fixed byte path[256];
    }

    public static unsafe partial class Native
    {
        // ---- Matrix multiply --------------------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_gemm_desc_init(plx_gemm_desc_t* desc, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_gemm(RuntimeHandle runtime, plx_gemm_desc_t* desc, plx_gemm_result_t* result);
        [DllImport(Lib)] public static extern int plx_gemm_batched_strided(RuntimeHandle runtime, plx_gemm_desc_t* desc,
                                                                          long batch_count, long stride_a, long stride_b,
                                                                          long stride_c, plx_gemm_result_t* result);
        [DllImport(Lib)] public static extern int plx_gemm_tune_options_init(plx_gemm_tune_options_t* options, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_gemm_tune(RuntimeHandle runtime, int device_index,
                                                               plx_gemm_tune_options_t* options, plx_gemm_tune_result_t* result);
    }
}

namespace Parallax
{
    /// <summary>Element type of the matrices (plx_precision_t).</summary>
    public enum Precision { F32 = 0, F64 = 1 }

    /// <summary>How A, B and C are stored (plx_matrix_layout_t).</summary>
    public enum MatrixLayout
    {
        /// <summary>Element (i, j) at i x ld + j.</summary>
        RowMajor = 0,
        /// <summary>Element (i, j) at i + j x ld (BLAS, Fortran).</summary>
        ColMajor = 1,
    }

    /// <summary>op(X) of a matrix (plx_transpose_t).</summary>
    public enum Transpose { NoTrans = 0, Trans = 1 }

    /// <summary>Which CLBlast kernels <see cref="Runtime.GemmTune"/> tunes, as bits of a mask (plx_gemm_tune_kernels_t).</summary>
    [Flags]
    public enum GemmTuneKernels
    {
        /// <summary>The library's default (Xgemm | XgemmDirect).</summary>
        Default = 0,
        Xgemm = 1,
        XgemmDirect = 2,
        Helpers = 4,
    }

    /// <summary>Options of a matrix product (plx_gemm_desc_t); null leaves the library's default.</summary>
    public sealed class GemmOptions
    {
        /// <summary>Layout of A, B and C (default RowMajor).</summary>
        public MatrixLayout Layout { get; set; }
        public Transpose TransA { get; set; }
        public Transpose TransB { get; set; }
        /// <summary>Scales op(A) op(B) (default 1); NaN propagates.</summary>
        public double Alpha { get; set; }
        /// <summary>Scales C (default 0: C is not read, so NaN in it does not propagate).</summary>
        public double Beta { get; set; }
        /// <summary>Leading dimensions in elements; 0 = the stored row (RowMajor) or column (ColMajor) length.</summary>
        public long Lda { get; set; }
        public long Ldb { get; set; }
        public long Ldc { get; set; }
        /// <summary>Where it runs (default Auto: a GPU only when estimated faster).</summary>
        public DevicePreference? Device { get; set; }
        /// <summary>Workers of the CPU path, memory budget, name (progress and cancellation are not offered).</summary>
        public RunOptions Run { get; set; }

        public GemmOptions() { Alpha = 1; }
    }

    /// <summary>What a matrix product did (plx_gemm_result_t).</summary>
    public sealed class GemmResult
    {
        /// <summary>The OpenCL device that multiplied; null for the CPU.</summary>
        public int? DeviceIndex { get; internal set; }
        /// <summary>CPU threads of the CPU path; 0 on a device.</summary>
        public int Workers { get; internal set; }
        public long Tiles { get; internal set; }
        public int Splits { get; internal set; }
        /// <summary>A device failed and the CPU path did (the rest of) the work.</summary>
        public bool Fallback { get; internal set; }
        public double Seconds { get; internal set; }
        public double Gflops { get; internal set; }
        /// <summary>"openblas", "blocked", "clblast" or "scale" (k = 0 or alpha = 0).</summary>
        public string Path { get; internal set; }

        internal static unsafe GemmResult From(plx_gemm_result_t* r)
        {
            return new GemmResult
            {
                DeviceIndex = r->device_index < 0 ? null : (int?)r->device_index,
                Workers = r->workers,
                Tiles = r->tiles,
                Splits = r->splits,
                Fallback = r->fallback != 0,
                Seconds = r->seconds,
                Gflops = r->gflops,
                Path = Library.Utf8(r->path, 16),
            };
        }
    }

    /// <summary>Options of <see cref="Runtime.GemmTune"/> (plx_gemm_tune_options_t); null leaves the library's default.</summary>
    public sealed class GemmTuneOptions
    {
        public Precision? Precision { get; set; }
        public GemmTuneKernels Kernels { get; set; }
        /// <summary>m = n = k of the problem tuned on, 64 .. 8192 (default 1024).</summary>
        public long? Size { get; set; }
        /// <summary>Share of each kernel's search space tried, in (0, 1] (default 1/64).</summary>
        public double? Fraction { get; set; }
    }

    /// <summary>What <see cref="Runtime.GemmTune"/> did (plx_gemm_tune_result_t).</summary>
    public sealed class GemmTuneResult
    {
        public int KernelsTuned { get; internal set; }
        public double Seconds { get; internal set; }
        public double DefaultGflops { get; internal set; }
        public double TunedGflops { get; internal set; }
        public double CpuGflops { get; internal set; }
        public double UploadGbps { get; internal set; }
        /// <summary>The file the parameters were stored in.</summary>
        public string Path { get; internal set; }
    }

    internal sealed unsafe class GemmRun : Run
    {
        internal readonly plx_gemm_desc_t* Desc;

        internal GemmRun(Runtime runtime, Precision precision, Array a, Array b, Array c, long m, long n, long k,
                         long batch, long strideA, long strideB, long strideC, GemmOptions o)
            : base(runtime, "gemm", o.Run)
        {
            try
            {
                Desc = (plx_gemm_desc_t*)Pins.Alloc(sizeof(plx_gemm_desc_t));
                Library.Check(Native.plx_gemm_desc_init(Desc, StructSizes.Of<plx_gemm_desc_t>()));
                Desc->precision = (int)precision;
                Desc->layout = (int)o.Layout;
                Desc->trans_a = (int)o.TransA;
                Desc->trans_b = (int)o.TransB;
                Desc->m = m;
                Desc->n = n;
                Desc->k = k;
                Desc->alpha = o.Alpha;
                Desc->beta = o.Beta;
                bool row = o.Layout == MatrixLayout.RowMajor;
                bool ta = o.TransA == Transpose.Trans, tb = o.TransB == Transpose.Trans;
                // Stored shapes: A is m x k (k x m transposed), B k x n (n x k), C m x n.
                Desc->lda = Ld(o.Lda, ta ? k : m, ta ? m : k, row);
                Desc->ldb = Ld(o.Ldb, tb ? n : k, tb ? k : n, row);
                Desc->ldc = Ld(o.Ldc, m, n, row);
                bool sized = m >= 0 && n >= 0 && k >= 0 && batch >= 0 && strideA >= 0 && strideB >= 0 && strideC >= 0;
                if (sized)
                {
                    bool readsAB = m > 0 && n > 0 && k > 0 && o.Alpha != 0;
                    if (readsAB)
                    {
                        CheckLength("a", a, Need(ta ? k : m, ta ? m : k, Desc->lda, row, batch, strideA));
                        CheckLength("b", b, Need(tb ? n : k, tb ? k : n, Desc->ldb, row, batch, strideB));
                    }
                    if (m > 0 && n > 0) CheckLength("c", c, Need(m, n, Desc->ldc, row, batch, strideC));
                }
                Desc->a = Pins.Pin(a);
                Desc->b = Pins.Pin(b);
                Desc->c = Pins.Pin(c);
                if (o.Device.HasValue) Desc->device = (int)o.Device.Value;
                Desc->run_options = (IntPtr)Options;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>The leading dimension given, else that of a tight matrix (at least 1).</summary>
        static long Ld(long given, long rows, long cols, bool row)
        {
            if (given != 0) return given;
            return Math.Max(1, row ? cols : rows);
        }

        /// <summary>Elements a batch of stored rows x cols matrices reaches; -1 when the library will refuse the
        /// leading dimension (it names the field), or the sizes overflow (likewise).</summary>
        static long Need(long rows, long cols, long ld, bool row, long batch, long stride)
        {
            if (rows == 0 || cols == 0 || batch == 0) return 0;
            if (ld < (row ? cols : rows)) return -1;
            try
            {
                long one = row ? checked((rows - 1) * ld + cols) : checked((cols - 1) * ld + rows);
                return checked((batch - 1) * stride + one);
            }
            catch (OverflowException) { return -1; }
        }

        static void CheckLength(string name, Array array, long need)
        {
            if (need <= 0) return;
            if (array == null) throw new ArgumentNullException(name);
            if (array.LongLength < need)
                throw new InvalidArgumentException(string.Format(
                    "{0} holds {1} elements; these sizes, leading dimension and strides reach {2}",
                    name, array.LongLength, need));
        }

        internal GemmResult Execute(Runtime runtime, long batch, long strideA, long strideB, long strideC, bool batched)
        {
            plx_gemm_result_t res = default(plx_gemm_result_t);
            res.struct_size = StructSizes.Of<plx_gemm_result_t>();
            int status = batched
                ? Native.plx_gemm_batched_strided(runtime.Handle, Desc, batch, strideA, strideB, strideC, &res)
                : Native.plx_gemm(runtime.Handle, Desc, &res);
            Finish(status);
            return GemmResult.From(&res);
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// C = alpha op(A) op(B) + beta C in single precision (plx_gemm_desc_init, plx_gemm): op(A) is m x k, op(B)
        /// k x n, C m x n, stored as <see cref="GemmOptions.Layout"/> says. The arrays are pinned and read (A, B)
        /// or written (C) in place. BLAS semantics: m or n = 0 does nothing; k = 0 or alpha = 0 gives C = beta C;
        /// beta = 0 does not read C.
        /// </summary>
        /// <exception cref="InvalidArgumentException">an array too short, negative sizes, a leading dimension too
        /// small, an unknown enum (the library's message names the field).</exception>
        /// <exception cref="NoDeviceException">Device = Gpu without a usable device.</exception>
        public GemmResult Gemm(float[] a, float[] b, float[] c, long m, long n, long k, GemmOptions options = null)
        {
            return GemmCall(Precision.F32, a, b, c, m, n, k, 1, 0, 0, 0, false, options);
        }

        /// <summary><see cref="Gemm(float[], float[], float[], long, long, long, GemmOptions)"/> in double precision.</summary>
        public GemmResult Gemm(double[] a, double[] b, double[] c, long m, long n, long k, GemmOptions options = null)
        {
            return GemmCall(Precision.F64, a, b, c, m, n, k, 1, 0, 0, 0, false, options);
        }

        /// <summary>
        /// <paramref name="batchCount"/> products (plx_gemm_batched_strided): product i reads A at element
        /// i x <paramref name="strideA"/> of <paramref name="a"/>, B likewise, and writes C at i x
        /// <paramref name="strideC"/>. A stride of 0 for A or B shares one matrix; C's products must not overlap.
        /// </summary>
        public GemmResult GemmBatchedStrided(float[] a, float[] b, float[] c, long m, long n, long k, long batchCount,
                                             long strideA, long strideB, long strideC, GemmOptions options = null)
        {
            return GemmCall(Precision.F32, a, b, c, m, n, k, batchCount, strideA, strideB, strideC, true, options);
        }

        /// <summary><see cref="GemmBatchedStrided(float[], float[], float[], long, long, long, long, long, long, long, GemmOptions)"/>
        /// in double precision.</summary>
        public GemmResult GemmBatchedStrided(double[] a, double[] b, double[] c, long m, long n, long k, long batchCount,
                                             long strideA, long strideB, long strideC, GemmOptions options = null)
        {
            return GemmCall(Precision.F64, a, b, c, m, n, k, batchCount, strideA, strideB, strideC, true, options);
        }

        GemmResult GemmCall(Precision precision, Array a, Array b, Array c, long m, long n, long k, long batch,
                            long strideA, long strideB, long strideC, bool batched, GemmOptions options)
        {
            options = options ?? new GemmOptions();
            string what = batched ? "Runtime.GemmBatchedStrided" : "Runtime.Gemm";
            Guard(what);
            using (var run = new GemmRun(this, precision, a, b, c, m, n, k, batch, strideA, strideB, strideC, options))
                return run.Execute(this, batch, strideA, strideB, strideC, batched);
        }

        /// <summary>
        /// Runs CLBlast's tuners for OpenCL device <paramref name="deviceIndex"/> and stores the best parameters in
        /// the runtime's cache directory (plx_gemm_tune_options_init, plx_gemm_tune); later runtimes apply them.
        /// Minutes to hours.
        /// </summary>
        /// <exception cref="InvalidArgumentException">a bad device or option.</exception>
        /// <exception cref="UnsupportedException">a simulated device.</exception>
        /// <exception cref="IoException">no cache directory, or it cannot be written.</exception>
        public unsafe GemmTuneResult GemmTune(int deviceIndex, GemmTuneOptions options = null)
        {
            options = options ?? new GemmTuneOptions();
            Guard("Runtime.GemmTune");
            plx_gemm_tune_options_t o;
            Library.Check(Native.plx_gemm_tune_options_init(&o, StructSizes.Of<plx_gemm_tune_options_t>()));
            if (options.Precision.HasValue) o.precision = (int)options.Precision.Value;
            if (options.Kernels != GemmTuneKernels.Default) o.kernels = (int)options.Kernels;
            if (options.Size.HasValue) o.size = options.Size.Value;
            if (options.Fraction.HasValue) o.fraction = options.Fraction.Value;
            plx_gemm_tune_result_t r = default(plx_gemm_tune_result_t);
            r.struct_size = StructSizes.Of<plx_gemm_tune_result_t>();
            Library.Check(Native.plx_gemm_tune(Handle, deviceIndex, &o, &r));
            return new GemmTuneResult
            {
                KernelsTuned = r.kernels_tuned,
                Seconds = r.seconds,
                DefaultGflops = r.default_gflops,
                TunedGflops = r.tuned_gflops,
                CpuGflops = r.cpu_gflops,
                UploadGbps = r.upload_gbps,
                Path = Library.Utf8(r.path, 256),
            };
        }
    }
}
