// OpenCL devices and custom kernels: a Kernel runs host-provided OpenCL C over
// rows of C# arrays of any size (RunRows: chunks stream through pinned memory
// to every device the kernel was built for, with an optional CPU fallback), or
// once over device-resident DeviceBuffers (Run). Arrays are pinned for the
// call and passed without copies.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>Writes rows [firstRow, firstRow + rows) of an input into <paramref name="dst"/> (the library's
    /// staging memory, valid during the call only). Called from several threads, in any order, possibly again for
    /// the same rows: it must write the same bytes each time. Throwing fails the run (TaskFailedException).</summary>
    public delegate void RowsProvider(long firstRow, long rows, RowsBlock dst);

    /// <summary>The CPU version of a row kernel for rows [firstRow, firstRow + rows): reads
    /// <paramref name="inputs"/> (read-only), writes <paramref name="outputs"/>; blocks valid during the call only.</summary>
    public delegate void RowsCpuFunction(long firstRow, long rows, RowsBlock[] inputs, RowsBlock[] outputs);

    /// <summary>
    /// Rows of memory the library lends a callback (a provider's destination, a CPU fallback's inputs and
    /// outputs): <see cref="Rows"/> rows of <see cref="BytesPerRow"/> bytes at <see cref="Pointer"/>, valid only
    /// during the callback (afterwards every access throws ObjectDisposedException).
    /// </summary>
    public sealed unsafe class RowsBlock
    {
        IntPtr pointer;

        internal RowsBlock(IntPtr pointer, long rows, long bytesPerRow, bool writable)
        {
            this.pointer = pointer;
            Rows = rows;
            BytesPerRow = bytesPerRow;
            Writable = writable;
        }

        public long Rows { get; private set; }
        public long BytesPerRow { get; private set; }
        public long ByteLength { get { return Rows * BytesPerRow; } }
        public bool Writable { get; private set; }

        /// <summary>The first byte (for unsafe code).</summary>
        public IntPtr Pointer
        {
            get
            {
                if (pointer == IntPtr.Zero && ByteLength > 0)
                    throw new ObjectDisposedException("RowsBlock", "the block is valid only during its callback");
                return pointer;
            }
        }

        internal void Invalidate() { pointer = IntPtr.Zero; }

        byte* At(long byteOffset, int size, bool write)
        {
            if (write && !Writable) throw new InvalidOperationException("this block is read-only (an input)");
            if (byteOffset < 0 || byteOffset + size > ByteLength)
                throw new ArgumentOutOfRangeException("index", "outside the block's " + ByteLength + " bytes");
            return (byte*)Pointer + byteOffset;
        }

        public float GetSingle(long index) { return *(float*)At(index * 4, 4, false); }
        public void SetSingle(long index, float value) { *(float*)At(index * 4, 4, true) = value; }
        public int GetInt32(long index) { return *(int*)At(index * 4, 4, false); }
        public void SetInt32(long index, int value) { *(int*)At(index * 4, 4, true) = value; }
        public double GetDouble(long index) { return *(double*)At(index * 8, 8, false); }
        public void SetDouble(long index, double value) { *(double*)At(index * 8, 8, true) = value; }

        /// <summary>Copies the whole block from <paramref name="source"/> (a primitive array), starting at its
        /// byte <paramref name="sourceByteOffset"/>.</summary>
        public void CopyFrom(Array source, long sourceByteOffset = 0)
        {
            if (!Writable) throw new InvalidOperationException("this block is read-only (an input)");
            Copy(source, sourceByteOffset, ByteLength, true);
        }

        /// <summary>Copies the whole block into <paramref name="destination"/> at its byte <paramref name="destinationByteOffset"/>.</summary>
        public void CopyTo(Array destination, long destinationByteOffset = 0)
        {
            Copy(destination, destinationByteOffset, ByteLength, false);
        }

        void Copy(Array array, long offset, long bytes, bool intoBlock)
        {
            long length = Arrays.ByteLength(array, "array");
            if (offset < 0 || offset + bytes > length)
                throw new ArgumentOutOfRangeException("offset", string.Format(
                    "{0} bytes from byte {1} do not fit the array's {2} bytes", bytes, offset, length));
            if (bytes == 0) return;
            GCHandle pin = GCHandle.Alloc(array, GCHandleType.Pinned);
            try
            {
                byte* a = (byte*)pin.AddrOfPinnedObject() + offset;
                byte* b = (byte*)Pointer;
                if (intoBlock) Buffer.MemoryCopy(a, b, bytes, bytes);
                else Buffer.MemoryCopy(b, a, bytes, bytes);
            }
            finally { pin.Free(); }
        }
    }

    internal static class Arrays
    {
        /// <summary>Bytes of a primitive array (float[], int[], byte[], double[]...; multi-dimensional too).</summary>
        internal static long ByteLength(Array array, string name)
        {
            if (array == null) throw new ArgumentNullException(name);
            Type element = array.GetType().GetElementType();
            if (!element.IsPrimitive)
                throw new InvalidArgumentException(name + " is an array of " + element.Name +
                                                   ": pass an array of a primitive type (float, int, double, byte...)");
            return (long)array.LongLength * Marshal.SizeOf(element);
        }

        /// <summary>The bytes of a struct value (a kernel scalar), of its exact unmanaged size.</summary>
        internal static byte[] Bytes<T>(T value, string name) where T : struct
        {
            int size = Marshal.SizeOf(typeof(T));
            if (size < 1 || size > 256)
                throw new InvalidArgumentException(name + " is " + size + " bytes; a kernel scalar has 1 to 256");
            byte[] bytes = new byte[size];
            GCHandle pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            try { Marshal.StructureToPtr(value, pin.AddrOfPinnedObject(), false); }
            finally { pin.Free(); }
            return bytes;
        }
    }

    /// <summary>
    /// A row run of a kernel (plx_rows_desc_t): <see cref="RowCount"/> rows of every input and output, arrays
    /// read and written in place (pinned, no copies), inputs also from providers, scalar arguments, and an
    /// optional CPU fallback. The kernel's arguments are each input, each output (holding the chunk's rows), each
    /// scalar, then <c>long first_row</c> and <c>long rows</c> of the chunk, on the range (WorkItemsPerRow, rows).
    /// </summary>
    public sealed class RowsRun
    {
        internal readonly List<InputSpec> Inputs = new List<InputSpec>();
        internal readonly List<OutputSpec> Outputs = new List<OutputSpec>();
        internal readonly List<byte[]> Scalars = new List<byte[]>();

        internal sealed class InputSpec
        {
            public Array Data;
            public RowsProvider Provider;
            public long BytesPerRow;
        }

        internal sealed class OutputSpec
        {
            public Array Data;
            public long BytesPerRow;
        }

        public RowsRun(long rows)
        {
            if (rows < 0) throw new InvalidArgumentException("RowsRun: rows must be >= 0, got " + rows);
            RowCount = rows;
        }

        public long RowCount { get; private set; }
        /// <summary>Work-items per row (default 1), e.g. the image width.</summary>
        public long WorkItemsPerRow { get; set; }
        /// <summary>Rows per device chunk; 0 (default) sizes them to each device.</summary>
        public long RowsPerChunk { get; set; }
        /// <summary>Runs chunks that failed on a device, every chunk when no device can run the kernel, and beside
        /// the devices for a plan of kind Mixed.</summary>
        public RowsCpuFunction CpuFallback { get; set; }

        long RowBytes(Array data, long bytesPerRow, string name)
        {
            long length = Arrays.ByteLength(data, name);
            if (bytesPerRow <= 0)
            {
                if (RowCount == 0 || length % RowCount != 0)
                    throw new InvalidArgumentException(string.Format(
                        "{0}: {1} bytes do not split into {2} rows; give bytesPerRow", name, length, RowCount));
                bytesPerRow = length / RowCount;
            }
            if (bytesPerRow * RowCount > length)
                throw new InvalidArgumentException(string.Format(
                    "{0} holds {1} bytes, less than {2} rows x {3} bytes", name, length, RowCount, bytesPerRow));
            return bytesPerRow;
        }

        /// <summary>An input array (primitive elements), read in place; bytesPerRow 0 = its bytes / RowCount.</summary>
        public RowsRun Input(Array data, long bytesPerRow = 0)
        {
            string name = "inputs[" + Inputs.Count + "]";
            Inputs.Add(new InputSpec { Data = data, BytesPerRow = RowBytes(data, bytesPerRow, name) });
            return this;
        }

        /// <summary>An input made on demand by <paramref name="provider"/>, <paramref name="bytesPerRow"/> bytes a row.</summary>
        public RowsRun Input(RowsProvider provider, long bytesPerRow)
        {
            if (provider == null) throw new ArgumentNullException("provider");
            if (bytesPerRow < 1) throw new InvalidArgumentException("bytesPerRow must be >= 1, got " + bytesPerRow);
            Inputs.Add(new InputSpec { Provider = provider, BytesPerRow = bytesPerRow });
            return this;
        }

        /// <summary>An output array the library writes in place; bytesPerRow 0 = its bytes / RowCount.</summary>
        public RowsRun Output(Array data, long bytesPerRow = 0)
        {
            string name = "outputs[" + Outputs.Count + "]";
            Outputs.Add(new OutputSpec { Data = data, BytesPerRow = RowBytes(data, bytesPerRow, name) });
            return this;
        }

        /// <summary>A scalar argument of the kernel's type (float, int, long, a struct for a vector type...).</summary>
        public RowsRun Scalar<T>(T value) where T : struct
        {
            Scalars.Add(Arrays.Bytes(value, "scalars[" + Scalars.Count + "]"));
            return this;
        }
    }

    /// <summary>An argument of <see cref="Kernel.Run"/> (plx_kernel_arg_t).</summary>
    public sealed class KernelArg
    {
        internal int Kind;
        internal DeviceBuffer BufferArg;
        internal byte[] Data;
        internal long Size;

        KernelArg() { }

        /// <summary>A device buffer (of the device the kernel runs on).</summary>
        public static KernelArg Buffer(DeviceBuffer buffer)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            return new KernelArg { Kind = 0, BufferArg = buffer };
        }

        /// <summary>A scalar of the kernel argument's exact type.</summary>
        public static KernelArg Scalar<T>(T value) where T : struct
        {
            byte[] bytes = Arrays.Bytes(value, "scalar");
            return new KernelArg { Kind = 1, Data = bytes, Size = bytes.Length };
        }

        /// <summary><paramref name="bytes"/> of __local memory.</summary>
        public static KernelArg Local(long bytes)
        {
            return new KernelArg { Kind = 2, Size = bytes };
        }
    }

    /// <summary>What <see cref="Runtime.MeasureDevice"/> found (plx_device_figures_t).</summary>
    public sealed class DeviceFigures
    {
        internal DeviceFigures(int device, plx_device_figures_t f)
        {
            Device = device;
            H2dPinnedGbps = f.h2d_pinned_gbps;
            H2dPageableGbps = f.h2d_pageable_gbps;
            D2hPinnedGbps = f.d2h_pinned_gbps;
            DeviceCopyGbps = f.device_copy_gbps;
            LaunchMicroseconds = f.launch_us;
            LaunchRoundtripMicroseconds = f.launch_roundtrip_us;
            StreamGbps = f.stream_gbps;
            TransferBytes = f.transfer_bytes;
            StreamBytes = f.stream_bytes;
        }

        public int Device { get; private set; }
        public double H2dPinnedGbps { get; private set; }
        public double H2dPageableGbps { get; private set; }
        public double D2hPinnedGbps { get; private set; }
        public double DeviceCopyGbps { get; private set; }
        public double LaunchMicroseconds { get; private set; }
        public double LaunchRoundtripMicroseconds { get; private set; }
        /// <summary>y = a*x + b over host memory through RunRows: input bytes per second.</summary>
        public double StreamGbps { get; private set; }
        public long TransferBytes { get; private set; }
        public long StreamBytes { get; private set; }
    }

    /// <summary>
    /// A host-provided OpenCL kernel built for the runtime's devices (<see cref="Runtime.CreateKernel"/>). Dispose
    /// it once its runs ended; disposing the runtime disposes it.
    /// </summary>
    public sealed class Kernel : IDisposable
    {
        internal readonly KernelHandle Handle;
        readonly Runtime runtime;

        internal Kernel(Runtime runtime, KernelHandle handle, string name)
        {
            this.runtime = runtime;
            Handle = handle;
            Name = name;
        }

        public string Name { get; private set; }
        public Runtime Runtime { get { return runtime; } }

        /// <summary>The devices the kernel was built for (plx_kernel_devices).</summary>
        public unsafe int[] Devices
        {
            get
            {
                runtime.GuardLog("Kernel.Devices");
                int count;
                Library.Check(Native.plx_kernel_devices(Handle, null, 0, out count));
                int[] devices = new int[count];
                fixed (int* d = devices)
                    Library.Check(Native.plx_kernel_devices(Handle, d, count, out count));
                if (count < devices.Length) Array.Resize(ref devices, count);
                return devices;
            }
        }

        /// <summary>
        /// Runs the kernel over the rows of <paramref name="rows"/> in chunks shared by all its devices
        /// (plx_rows_desc_init, plx_kernel_run_rows). <paramref name="plan"/> caps the chunk size; with a plan of
        /// kind Mixed, CPU workers run the fallback beside the devices.
        /// </summary>
        /// <exception cref="TaskFailedException">a provider or the CPU fallback threw (InnerException).</exception>
        /// <exception cref="NoDeviceException">no device can run it and there is no CPU fallback.</exception>
        public unsafe RunReport RunRows(RowsRun rows, Plan plan = null, RunOptions options = null)
        {
            if (rows == null) throw new ArgumentNullException("rows");
            runtime.GuardLog("Kernel.RunRows");
            using (var run = new KernelRowsRun(runtime, this, rows, options))
            {
                IntPtr planPointer = run.HoldPlan(plan);
                int status = Native.plx_kernel_run_rows(Handle, planPointer, run.Desc, run.Options);
                run.Finish(status);
                return run.Report();
            }
        }

        /// <summary>
        /// Runs the kernel once on device <paramref name="deviceIndex"/> over 1 to 3 dimensions of
        /// <paramref name="globalSize"/> (work-groups of <paramref name="localSize"/>, or null to let the driver
        /// choose), and returns when it is done (plx_kernel_run).
        /// </summary>
        public unsafe void Run(int deviceIndex, KernelArg[] args, long[] globalSize, long[] localSize = null)
        {
            if (args == null) throw new ArgumentNullException("args");
            if (globalSize == null) throw new ArgumentNullException("globalSize");
            if (localSize != null && localSize.Length != globalSize.Length)
                throw new InvalidArgumentException(string.Format("localSize has {0} dimensions, globalSize {1}",
                                                                 localSize.Length, globalSize.Length));
            runtime.GuardLog("Kernel.Run");
            using (var pins = new Pins())
            {
                var c = (plx_kernel_arg_t*)pins.Alloc((long)Math.Max(args.Length, 1) * sizeof(plx_kernel_arg_t));
                for (int i = 0; i < args.Length; i++)
                {
                    KernelArg a = args[i];
                    if (a == null) throw new ArgumentNullException("args", "args[" + i + "] is null");
                    c[i].kind = a.Kind;
                    if (a.BufferArg != null) c[i].buffer = pins.Hold(a.BufferArg.Handle);
                    if (a.Data != null) c[i].data = pins.Pin(a.Data);
                    c[i].size = (UIntPtr)(ulong)Math.Max(a.Size, 0);
                }
                fixed (long* g = globalSize)
                fixed (long* l = localSize)
                    Library.Check(Native.plx_kernel_run(Handle, deviceIndex, c, args.Length, globalSize.Length, g, l));
            }
        }

        public bool IsDisposed { get { return Handle.IsClosed; } }

        /// <summary>Destroys the kernel once the calls in flight end (plx_kernel_destroy). Idempotent.</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>Memory on one device (<see cref="Runtime.CreateBuffer"/>), for <see cref="Kernel.Run"/>.</summary>
    public sealed class DeviceBuffer : IDisposable
    {
        internal readonly BufferHandle Handle;
        readonly Runtime runtime;

        internal DeviceBuffer(Runtime runtime, BufferHandle handle, int device, long bytes)
        {
            this.runtime = runtime;
            Handle = handle;
            Device = device;
            Bytes = bytes;
        }

        public int Device { get; private set; }
        public long Bytes { get; private set; }

        /// <summary>Copies all of <paramref name="source"/> (a primitive array) into the buffer at byte
        /// <paramref name="offset"/>, blocking (plx_buffer_write).</summary>
        public void Write(Array source, long offset = 0)
        {
            Write(source, 0, Arrays.ByteLength(source, "source"), offset);
        }

        /// <summary>Copies <paramref name="bytes"/> of <paramref name="source"/> from its byte
        /// <paramref name="sourceByteOffset"/> into the buffer at <paramref name="offset"/>.</summary>
        public unsafe void Write(Array source, long sourceByteOffset, long bytes, long offset)
        {
            CheckRange(source, sourceByteOffset, bytes, "source");
            runtime.GuardLog("DeviceBuffer.Write");
            GCHandle pin = GCHandle.Alloc(source, GCHandleType.Pinned);
            try
            {
                byte* p = (byte*)pin.AddrOfPinnedObject() + sourceByteOffset;
                Library.Check(Native.plx_buffer_write(Handle, offset, p, bytes));
            }
            finally { pin.Free(); }
        }

        /// <summary>Fills all of <paramref name="destination"/> from the buffer at byte <paramref name="offset"/>,
        /// blocking (plx_buffer_read).</summary>
        public void Read(Array destination, long offset = 0)
        {
            Read(destination, 0, Arrays.ByteLength(destination, "destination"), offset);
        }

        public unsafe void Read(Array destination, long destinationByteOffset, long bytes, long offset)
        {
            CheckRange(destination, destinationByteOffset, bytes, "destination");
            runtime.GuardLog("DeviceBuffer.Read");
            GCHandle pin = GCHandle.Alloc(destination, GCHandleType.Pinned);
            try
            {
                byte* p = (byte*)pin.AddrOfPinnedObject() + destinationByteOffset;
                Library.Check(Native.plx_buffer_read(Handle, offset, p, bytes));
            }
            finally { pin.Free(); }
        }

        static void CheckRange(Array array, long start, long bytes, string name)
        {
            long length = Arrays.ByteLength(array, name);
            if (start < 0 || bytes < 0 || start + bytes > length)
                throw new InvalidArgumentException(string.Format(
                    "{0}: {1} bytes from byte {2} do not fit its {3} bytes", name, bytes, start, length));
        }

        public bool IsDisposed { get { return Handle.IsClosed; } }

        /// <summary>Frees the buffer once the calls in flight end (plx_buffer_destroy). Idempotent.</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    internal sealed unsafe class KernelRowsRun : Run
    {
        internal static readonly plx_rows_provider_fn Provide = OnProvide;
        internal static readonly IntPtr ProvidePtr = Marshal.GetFunctionPointerForDelegate(Provide);
        internal static readonly plx_rows_cpu_fn Cpu = OnCpu;
        internal static readonly IntPtr CpuPtr = Marshal.GetFunctionPointerForDelegate(Cpu);

        internal readonly plx_rows_desc_t* Desc;
        readonly RowsRun spec;

        sealed class Slot
        {
            public KernelRowsRun Run;
            public int Index;
            public RowsProvider Fn;
            public long BytesPerRow;
        }

        internal KernelRowsRun(Runtime runtime, Kernel kernel, RowsRun spec, RunOptions options)
            : base(runtime, "run_rows of kernel '" + kernel.Name + "'", options)
        {
            try
            {
                this.spec = spec;
                if (spec.Outputs.Count == 0) throw new InvalidArgumentException("Kernel.RunRows: give at least one output");
                Desc = (plx_rows_desc_t*)Pins.Alloc(sizeof(plx_rows_desc_t));
                Library.Check(Native.plx_rows_desc_init(Desc, StructSizes.Of<plx_rows_desc_t>()));
                int ni = spec.Inputs.Count, no = spec.Outputs.Count, ns = spec.Scalars.Count;
                var inputs = (plx_rows_input_t*)Pins.Alloc((long)Math.Max(ni, 1) * sizeof(plx_rows_input_t));
                for (int i = 0; i < ni; i++)
                {
                    RowsRun.InputSpec input = spec.Inputs[i];
                    inputs[i].bytes_per_row = input.BytesPerRow;
                    if (input.Provider != null)
                    {
                        inputs[i].provider = ProvidePtr;
                        inputs[i].provider_user_data = Pins.Handle(new Slot { Run = this, Index = i, Fn = input.Provider,
                                                                               BytesPerRow = input.BytesPerRow });
                    }
                    else inputs[i].data = Pins.Pin(input.Data);
                }
                var outputs = (plx_rows_output_t*)Pins.Alloc((long)no * sizeof(plx_rows_output_t));
                for (int j = 0; j < no; j++)
                {
                    outputs[j].data = Pins.Pin(spec.Outputs[j].Data);
                    outputs[j].bytes_per_row = spec.Outputs[j].BytesPerRow;
                }
                var scalars = (plx_kernel_scalar_t*)Pins.Alloc((long)Math.Max(ns, 1) * sizeof(plx_kernel_scalar_t));
                for (int k = 0; k < ns; k++)
                {
                    scalars[k].data = Pins.Pin(spec.Scalars[k]);
                    scalars[k].size = (UIntPtr)(ulong)spec.Scalars[k].Length;
                }
                Desc->rows = spec.RowCount;
                Desc->inputs = (IntPtr)inputs;
                Desc->input_count = ni;
                Desc->outputs = (IntPtr)outputs;
                Desc->output_count = no;
                Desc->scalars = (IntPtr)scalars;
                Desc->scalar_count = ns;
                if (spec.WorkItemsPerRow != 0) Desc->work_items_per_row = spec.WorkItemsPerRow;
                Desc->rows_per_chunk = spec.RowsPerChunk;
                if (spec.CpuFallback != null)
                {
                    Desc->cpu_fallback = CpuPtr;
                    Desc->cpu_user_data = Self;
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        static int OnProvide(long first, long rows, IntPtr dst, IntPtr userData)
        {
            try
            {
                var slot = (Slot)GCHandle.FromIntPtr(userData).Target;
                KernelRowsRun run = slot.Run;
                if (run.Failed) return 1;
                var block = new RowsBlock(dst, rows, slot.BytesPerRow, true);
                run.Enter();
                try
                {
                    slot.Fn(first, rows, block);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(first, string.Format("the row provider of inputs[{0}] (rows [{1}, {2}))", slot.Index,
                                                    first, first + rows), e);
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

        static int OnCpu(long first, long rows, IntPtr inputs, IntPtr outputs, IntPtr userData)
        {
            try
            {
                var run = (KernelRowsRun)From(userData);
                if (run.Failed) return 1;
                RowsRun spec = run.spec;
                var ins = new RowsBlock[spec.Inputs.Count];
                var outs = new RowsBlock[spec.Outputs.Count];
                for (int i = 0; i < ins.Length; i++)
                    ins[i] = new RowsBlock(((IntPtr*)inputs)[i], rows, spec.Inputs[i].BytesPerRow, false);
                for (int j = 0; j < outs.Length; j++)
                    outs[j] = new RowsBlock(((IntPtr*)outputs)[j], rows, spec.Outputs[j].BytesPerRow, true);
                run.Enter();
                try
                {
                    spec.CpuFallback(first, rows, ins, outs);
                    return 0;
                }
                catch (Exception e)
                {
                    run.Record(first, string.Format("the CPU fallback (rows [{0}, {1}))", first, first + rows), e);
                    return -1;
                }
                finally
                {
                    foreach (RowsBlock b in ins) b.Invalidate();
                    foreach (RowsBlock b in outs) b.Invalidate();
                    run.Leave();
                }
            }
            catch (Exception) { return -1; }
        }
    }

    public sealed partial class Runtime
    {
        /// <summary>
        /// Builds OpenCL C <paramref name="source"/> (with <paramref name="buildOptions"/>, e.g. "-D N=4") for every
        /// usable device and returns its __kernel <paramref name="name"/> (plx_kernel_create). Devices whose build
        /// fails are left out (logged); builds are cached in memory and in CacheDir. With no usable device (a
        /// CPU-only runtime) the kernel is created anyway, for runs with a CPU fallback.
        /// </summary>
        /// <exception cref="DeviceException">no device could build it; the message has the build log.</exception>
        /// <exception cref="InvalidArgumentException">no __kernel of that name.</exception>
        public Kernel CreateKernel(string source, string name, string buildOptions = null)
        {
            if (source == null) throw new ArgumentNullException("source");
            if (name == null) throw new ArgumentNullException("name");
            Guard("Runtime.CreateKernel");
            KernelHandle handle;
            Library.Check(Native.plx_kernel_create(Handle, Library.Utf8Z(source, "source"), Library.Utf8Z(name, "name"),
                                                   Library.Utf8Z(buildOptions, "buildOptions"), out handle));
            handle.SetParent(Handle);
            var kernel = new Kernel(this, handle, name);
            Adopt(kernel);
            return kernel;
        }

        /// <summary>Allocates <paramref name="bytes"/> on device <paramref name="deviceIndex"/> (plx_buffer_create).</summary>
        /// <exception cref="ParallaxOutOfMemoryException">the device (or DeviceMemoryLimitBytes) has not that much left.</exception>
        /// <exception cref="UnsupportedException">the device is simulated by a machine profile.</exception>
        public DeviceBuffer CreateBuffer(int deviceIndex, long bytes)
        {
            Guard("Runtime.CreateBuffer");
            BufferHandle handle;
            Library.Check(Native.plx_buffer_create(Handle, deviceIndex, bytes, out handle));
            handle.SetParent(Handle);
            var buffer = new DeviceBuffer(this, handle, deviceIndex, bytes);
            Adopt(buffer);
            return buffer;
        }

        /// <summary>
        /// Measures device <paramref name="deviceIndex"/> (seconds to a minute) and caches the figures in CacheDir,
        /// so that runtimes created afterwards plan with its streaming throughput (plx_device_measure). 0 sizes
        /// mean 256 MiB transfers and 4 GiB streamed, cut to what the device and the budget hold.
        /// </summary>
        /// <exception cref="UnsupportedException">a simulated device.</exception>
        /// <exception cref="IoException">the cache could not be written.</exception>
        public unsafe DeviceFigures MeasureDevice(int deviceIndex, long transferBytes = 0, long streamBytes = 0)
        {
            Guard("Runtime.MeasureDevice");
            plx_device_figures_t f = default(plx_device_figures_t);
            f.struct_size = StructSizes.Of<plx_device_figures_t>();
            Library.Check(Native.plx_device_measure(Handle, deviceIndex, transferBytes, streamBytes, &f));
            return new DeviceFigures(deviceIndex, f);
        }
    }
}
