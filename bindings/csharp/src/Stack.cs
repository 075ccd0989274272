// Image stacking (plx_stack): N registered frames of H x W float pixels (C
// planar channels of them) combined pixel by pixel after rejecting outliers.
// Frames are float[] arrays read in place (pinned for the call, no copies),
// one contiguous cube, or pixels made on demand by a provider delegate.
using System;
using System.Runtime.InteropServices;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>Writes pixels [row0, row0 + rows) x [col0, col0 + cols) of channel <paramref name="channel"/> of
    /// frame <paramref name="frame"/> into <paramref name="dst"/>. Called from several threads, in any order,
    /// possibly more than once for the same pixels: it must write the same values each time. Throwing fails the
    /// stack (TaskFailedException).</summary>
    public delegate void StackProvider(long frame, long row0, long rows, long col0, long cols, int channel, PixelBlock dst);

    /// <summary>A block of float pixels the library lends a provider (rows x cols, rows <see cref="Stride"/>
    /// floats apart), valid during the call only.</summary>
    public sealed unsafe class PixelBlock
    {
        float* pixels;

        internal PixelBlock(IntPtr pixels, long rows, long cols, long stride)
        {
            this.pixels = (float*)pixels;
            Rows = rows;
            Cols = cols;
            Stride = stride;
        }

        public long Rows { get; private set; }
        public long Cols { get; private set; }
        /// <summary>Floats from a row to the next.</summary>
        public long Stride { get; private set; }

        internal void Invalidate() { pixels = null; }

        float* At(long row, long col)
        {
            if (pixels == null) throw new ObjectDisposedException("PixelBlock", "the block is valid only during its callback");
            if (row < 0 || row >= Rows || col < 0 || col >= Cols)
                throw new ArgumentOutOfRangeException("row", string.Format("({0}, {1}) is outside {2} x {3}", row, col, Rows, Cols));
            return pixels + row * Stride + col;
        }

        public float this[long row, long col]
        {
            get { return *At(row, col); }
            set { *At(row, col) = value; }
        }

        /// <summary>Copies <see cref="Cols"/> floats of <paramref name="source"/> from <paramref name="sourceIndex"/> into row <paramref name="row"/>.</summary>
        public void SetRow(long row, float[] source, long sourceIndex)
        {
            if (source == null) throw new ArgumentNullException("source");
            if (sourceIndex < 0 || sourceIndex + Cols > source.LongLength)
                throw new ArgumentOutOfRangeException("sourceIndex");
            if (Cols == 0) return;
            float* dst = At(row, 0);
            fixed (float* src = source)
                Buffer.MemoryCopy(src + sourceIndex, dst, Cols * 4, Cols * 4);
        }
    }

    /// <summary>Options of a stack (plx_stack_desc_t); null leaves the library's default.</summary>
    public sealed class StackOptions
    {
        /// <summary>Planar channels of every frame, 1 .. 64 (default 1).</summary>
        public int? Channels { get; set; }
        public StackCombine? Combine { get; set; }
        public StackReject? Reject { get; set; }
        public StackCentre? Centre { get; set; }
        public double? SigmaLow { get; set; }
        public double? SigmaHigh { get; set; }
        /// <summary>Clipping iterations, >= 1, or -1 = until nothing changes (default 5).</summary>
        public int? MaxIters { get; set; }
        public int? NLow { get; set; }
        public int? NHigh { get; set; }
        public double? PercentileLow { get; set; }
        public double? PercentileHigh { get; set; }
        /// <summary>Given frame weights (one per frame): sets Weights = Given.</summary>
        public double[] FrameWeights { get; set; }
        /// <summary>NoiseVariance for 1 / sigma^2 weights; Given is implied by FrameWeights.</summary>
        public StackWeights? Weights { get; set; }
        public StackNormalize? Normalize { get; set; }
        public long? ReferenceFrame { get; set; }
        public DevicePreference? Device { get; set; }
        /// <summary>Floats from a row to the next in the frames (0 = width).</summary>
        public long RowStride { get; set; }
        /// <summary>Floats from a channel plane to the next (0 = height x row stride).</summary>
        public long ChannelStride { get; set; }
        /// <summary>Fill StackResult.Count (default true).</summary>
        public bool ReturnCount { get; set; }
        /// <summary>Fill RejectedLow, RejectedHigh and FrameRejected.</summary>
        public bool ReturnRejected { get; set; }
        /// <summary>Fill FrameScale, FrameOffset and FrameWeight.</summary>
        public bool ReturnFrameStats { get; set; }
        /// <summary>Progress (items = row units), cancellation, workers, memory budget, name.</summary>
        public RunOptions Run { get; set; }

        public StackOptions() { ReturnCount = true; }
    }

    /// <summary>What <see cref="Runtime.Stack(float[][], long, long, StackOptions)"/> returns (plx_stack_result_t):
    /// planar C x H x W arrays.</summary>
    public sealed class StackResult
    {
        public float[] Image { get; internal set; }
        /// <summary>Samples kept per pixel (null unless ReturnCount).</summary>
        public int[] Count { get; internal set; }
        public int[] RejectedLow { get; internal set; }
        public int[] RejectedHigh { get; internal set; }
        /// <summary>N: samples rejected per frame.</summary>
        public long[] FrameRejected { get; internal set; }
        /// <summary>N x C (frame-major): normalization scale, offset and weight used.</summary>
        public double[] FrameScale { get; internal set; }
        public double[] FrameOffset { get; internal set; }
        public double[] FrameWeight { get; internal set; }
        public long Samples { get; internal set; }
        public long Missing { get; internal set; }
        public long Kept { get; internal set; }
        public long Rejected { get; internal set; }
        /// <summary>The device that stacked; null for the CPU.</summary>
        public int? DeviceIndex { get; internal set; }
        public int Workers { get; internal set; }
        public long TileRows { get; internal set; }
        public long Tiles { get; internal set; }
        public double FrameStatsSeconds { get; internal set; }
        public double StackSeconds { get; internal set; }
        /// <summary>The instruction set of the pixel loops ("AVX3", "AVX2", "SSE4", ...).</summary>
        public string SimdTarget { get; internal set; }
        public RunReport Report { get; internal set; }
    }

    internal sealed unsafe class StackRun : Run
    {
        internal static readonly plx_stack_provider_fn Provide = OnProvide;
        internal static readonly IntPtr ProvidePtr = Marshal.GetFunctionPointerForDelegate(Provide);

        internal readonly plx_stack_desc_t* Desc;
        internal readonly long N, H, W;
        internal readonly int C;
        readonly StackProvider provider;

        StackRun(Runtime runtime, long n, long h, long w, StackOptions o) : base(runtime, "stack", o.Run)
        {
            try
            {
                N = n;
                H = h;
                W = w;
                C = o.Channels ?? 1;
                Desc = (plx_stack_desc_t*)Pins.Alloc(sizeof(plx_stack_desc_t));
                Library.Check(Native.plx_stack_desc_init(Desc, StructSizes.Of<plx_stack_desc_t>()));
                Desc->frames = n;
                Desc->height = h;
                Desc->width = w;
                if (o.Channels.HasValue) Desc->channels = o.Channels.Value;
                if (o.Combine.HasValue) Desc->combine = (int)o.Combine.Value;
                if (o.Reject.HasValue) Desc->reject = (int)o.Reject.Value;
                if (o.Centre.HasValue) Desc->centre = (int)o.Centre.Value;
                if (o.SigmaLow.HasValue) Desc->sigma_low = o.SigmaLow.Value;
                if (o.SigmaHigh.HasValue) Desc->sigma_high = o.SigmaHigh.Value;
                if (o.MaxIters.HasValue) Desc->max_iters = o.MaxIters.Value;
                if (o.NLow.HasValue) Desc->n_low = o.NLow.Value;
                if (o.NHigh.HasValue) Desc->n_high = o.NHigh.Value;
                if (o.PercentileLow.HasValue) Desc->percentile_low = o.PercentileLow.Value;
                if (o.PercentileHigh.HasValue) Desc->percentile_high = o.PercentileHigh.Value;
                if (o.FrameWeights != null)
                {
                    if (o.FrameWeights.LongLength != n)
                        throw new InvalidArgumentException(string.Format(
                            "FrameWeights has {0} weights for {1} frames: give one per frame", o.FrameWeights.LongLength, n));
                    Desc->frame_weights = Pins.Pin(o.FrameWeights);
                    Desc->weights = (int)StackWeights.Given;
                }
                if (o.Weights.HasValue) Desc->weights = (int)o.Weights.Value;
                if (o.Normalize.HasValue) Desc->normalize = (int)o.Normalize.Value;
                if (o.ReferenceFrame.HasValue) Desc->reference_frame = o.ReferenceFrame.Value;
                if (o.Device.HasValue) Desc->device = (int)o.Device.Value;
                Desc->run_options = (IntPtr)Options;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Frames as separate arrays, each read in place.</summary>
        internal StackRun(Runtime runtime, float[][] frames, long h, long w, StackOptions o)
            : this(runtime, Frames(frames), h, w, o)
        {
            try
            {
                var pointers = (IntPtr*)Pins.Alloc((long)frames.Length * sizeof(IntPtr));
                long need = Extent(h, w, o);
                for (int i = 0; i < frames.Length; i++)
                {
                    if (frames[i] == null) throw new ArgumentNullException("frames", "frames[" + i + "] is null");
                    if (frames[i].LongLength < need)
                        throw new InvalidArgumentException(string.Format(
                            "frames[{0}] holds {1} floats; {2} x {3} pixels x {4} channels with these strides need {5}",
                            i, frames[i].LongLength, h, w, C, need));
                    pointers[i] = Pins.Pin(frames[i]);
                }
                SetLayout(pointers, o);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>One N x C x H x W cube (frame stride C x channel stride), read in place.</summary>
        internal StackRun(Runtime runtime, float[] cube, long n, long h, long w, StackOptions o)
            : this(runtime, n, h, w, o)
        {
            try
            {
                if (cube == null) throw new ArgumentNullException("cube");
                long frame = FrameStride(h, w, o);
                long need = n <= 0 ? 0 : (n - 1) * frame + Extent(h, w, o);
                if (n > 0 && (cube.LongLength < need || frame <= 0))
                    throw new InvalidArgumentException(string.Format(
                        "cube holds {0} floats; {1} frames of {2} x {3} pixels x {4} channels need {5}",
                        cube.LongLength, n, h, w, C, need));
                var pointers = (IntPtr*)Pins.Alloc(Math.Max(n, 1) * sizeof(IntPtr));
                float* first = (float*)Pins.Pin(cube);
                for (long i = 0; i < n; i++) pointers[i] = (IntPtr)(first + i * frame);
                SetLayout(pointers, o);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Pixels made on demand.</summary>
        internal StackRun(Runtime runtime, StackProvider provider, long n, long h, long w, StackOptions o)
            : this(runtime, n, h, w, o)
        {
            if (provider == null)
            {
                Dispose();
                throw new ArgumentNullException("provider");
            }
            this.provider = provider;
            Desc->provider = ProvidePtr;
            Desc->provider_user_data = Self;
        }

        static long Frames(float[][] frames)
        {
            if (frames == null) throw new ArgumentNullException("frames");
            return frames.Length;
        }

        void SetLayout(IntPtr* pointers, StackOptions o)
        {
            Desc->frame_data = (IntPtr)pointers;
            Desc->row_stride = o.RowStride;
            Desc->channel_stride = o.ChannelStride;
        }

        long RowStride(long w, StackOptions o) { return o.RowStride > 0 ? o.RowStride : w; }

        long ChannelStride(long h, long w, StackOptions o)
        {
            return o.ChannelStride > 0 ? o.ChannelStride : h * RowStride(w, o);
        }

        /// <summary>Floats a frame spans from its first pixel (bounds of a frame's array).</summary>
        long Extent(long h, long w, StackOptions o)
        {
            if (h <= 0 || w <= 0 || C <= 0) return 0;  // the library refuses the sizes
            return (C - 1) * ChannelStride(h, w, o) + (h - 1) * RowStride(w, o) + w;
        }

        long FrameStride(long h, long w, StackOptions o) { return C * ChannelStride(h, w, o); }

        static int OnProvide(IntPtr userData, long frame, long row0, long rows, long col0, long cols, int channel,
                             IntPtr dst, long stride)
        {
            try
            {
                var run = (StackRun)From(userData);
                if (run.Failed) return 1;
                var block = new PixelBlock(dst, rows, cols, stride);
                run.Enter();
                try
                {
                    run.provider(frame, row0, rows, col0, cols, channel, block);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(frame, string.Format("the frame provider (frame {0}, rows [{1}, {2}), columns [{3}, {4}), " +
                                                    "channel {5})", frame, row0, row0 + rows, col0, col0 + cols, channel), e);
                    return -1;
                }
                finally
                {
                    block.Invalidate();
                    run.Leave();
                }
            }
            catch (Exception) { return -1; }
        }

        internal StackResult Execute(Runtime runtime, StackOptions o)
        {
            long pixels = checked(C * H * W);
            var r = new StackResult
            {
                Image = new float[pixels],
                Count = o.ReturnCount ? new int[pixels] : null,
                RejectedLow = o.ReturnRejected ? new int[pixels] : null,
                RejectedHigh = o.ReturnRejected ? new int[pixels] : null,
                FrameRejected = o.ReturnRejected ? new long[N] : null,
                FrameScale = o.ReturnFrameStats ? new double[N * C] : null,
                FrameOffset = o.ReturnFrameStats ? new double[N * C] : null,
                FrameWeight = o.ReturnFrameStats ? new double[N * C] : null,
            };
            plx_stack_result_t res;
            Library.Check(Native.plx_stack_result_init(&res, StructSizes.Of<plx_stack_result_t>()));
            res.image = Pins.Pin(r.Image);
            res.count = Pins.Pin(r.Count);
            res.rejected_low = Pins.Pin(r.RejectedLow);
            res.rejected_high = Pins.Pin(r.RejectedHigh);
            res.frame_rejected = Pins.Pin(r.FrameRejected);
            res.frame_scale = Pins.Pin(r.FrameScale);
            res.frame_offset = Pins.Pin(r.FrameOffset);
            res.frame_weight = Pins.Pin(r.FrameWeight);
            int status = Native.plx_stack(runtime.Handle, Desc, &res);
            Finish(status);
            r.Samples = res.samples;
            r.Missing = res.missing;
            r.Kept = res.kept;
            r.Rejected = res.rejected;
            r.DeviceIndex = res.device_index < 0 ? null : (int?)res.device_index;
            r.Workers = res.workers;
            r.TileRows = res.tile_rows;
            r.Tiles = res.tiles;
            r.FrameStatsSeconds = res.frame_stats_s;
            r.StackSeconds = res.stack_s;
            r.SimdTarget = Library.Utf8(res.simd_target, 16);
            r.Report = Report();
            return r;
        }

        internal Plan MakePlan(Runtime runtime)
        {
            PlanHandle plan;
            int status = Native.plx_stack_plan(runtime.Handle, Desc, out plan);
            Finish(status);
            return new Plan(plan, "stack");
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// Stacks N frames (each C x H x W floats, planar, read in place) into one image: rejects outliers among
        /// each pixel's finite samples, then combines the survivors (plx_stack_desc_init, plx_stack_result_init,
        /// plx_stack). NaN marks a missing sample; +-inf is always rejected. The same bits for any workers.
        /// </summary>
        /// <exception cref="InvalidArgumentException">a frame too short, a bad option (the message names the field).</exception>
        /// <exception cref="ParallaxOutOfMemoryException">not even one row through all frames fits the budget.</exception>
        public StackResult Stack(float[][] frames, long height, long width, StackOptions options = null)
        {
            options = options ?? new StackOptions();
            Guard("Runtime.Stack");
            using (var run = new StackRun(this, frames, height, width, options)) return run.Execute(this, options);
        }

        /// <summary><see cref="Stack(float[][], long, long, StackOptions)"/> of one contiguous cube of
        /// <paramref name="frames"/> x C x H x W floats, read in place.</summary>
        public StackResult Stack(float[] cube, long frames, long height, long width, StackOptions options = null)
        {
            options = options ?? new StackOptions();
            Guard("Runtime.Stack");
            using (var run = new StackRun(this, cube, frames, height, width, options)) return run.Execute(this, options);
        }

        /// <summary><see cref="Stack(float[][], long, long, StackOptions)"/> of frames whose pixels
        /// <paramref name="provider"/> makes on demand, so they never need to be in memory at once.</summary>
        public StackResult Stack(StackProvider provider, long frames, long height, long width, StackOptions options = null)
        {
            options = options ?? new StackOptions();
            Guard("Runtime.Stack");
            using (var run = new StackRun(this, provider, frames, height, width, options)) return run.Execute(this, options);
        }

        /// <summary>The plan a stack of these frames would follow (plx_stack_plan): workers, bands of rows,
        /// streaming, devices; no pixel is read.</summary>
        public Plan StackPlan(float[][] frames, long height, long width, StackOptions options = null)
        {
            options = options ?? new StackOptions();
            Guard("Runtime.StackPlan");
            using (var run = new StackRun(this, frames, height, width, options)) return run.MakePlan(this);
        }

        /// <summary>The plan of a stack of <paramref name="frames"/> made by a provider (nothing is called).</summary>
        public Plan StackPlan(StackProvider provider, long frames, long height, long width, StackOptions options = null)
        {
            options = options ?? new StackOptions();
            Guard("Runtime.StackPlan");
            using (var run = new StackRun(this, provider, frames, height, width, options)) return run.MakePlan(this);
        }
    }
}
