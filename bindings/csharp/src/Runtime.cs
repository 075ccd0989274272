// The runtime: the machine as this process may use it (or a machine profile),
// its options, its capabilities and devices, and its log bridged to an event.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>Options of a <see cref="Runtime"/>; null leaves the library's default.</summary>
    public sealed class RuntimeOptions
    {
        /// <summary>Most CPU workers any plan may use; 0 = all usable CPUs (default).</summary>
        public int? MaxCpuWorkers { get; set; }
        /// <summary>CPUs left to the host's own threads (default 0).</summary>
        public int? ReserveCpus { get; set; }
        /// <summary>Share of free memory plans may use, in (0, 1] (default 0.75).</summary>
        public double? RamFraction { get; set; }
        /// <summary>Share of each device's memory plans may use, in (0, 1] (default 0.5).</summary>
        public double? VramFraction { get; set; }
        public DevicePolicy? DevicePolicy { get; set; }
        /// <summary>The most verbose lines the Log event receives (default Info); Off installs no log callback.</summary>
        public LogLevel? LogLevel { get; set; }
        /// <summary>A machine profile replacing detection: JSON text (starting with '{') or a JSON file's path.</summary>
        public string MachineProfile { get; set; }
        /// <summary>Root under which /proc and /sys are read (for tests).</summary>
        public string Sysroot { get; set; }
        /// <summary>Only devices whose name, vendor or platform contains this text (case-insensitive).</summary>
        public string DeviceFilter { get; set; }
        /// <summary>Device types the runtime may use; Default = GPU | Accelerator. Add Cpu for PoCL.</summary>
        public DeviceTypes? DeviceTypes { get; set; }
        /// <summary>Fault injection rules for tests, e.g. "task=7@1-2:out_of_memory;chunk=3:task_failed".</summary>
        public string FaultInjection { get; set; }
        /// <summary>Directory of the on-disk program cache and device figures; "" turns the disk cache off.</summary>
        public string CacheDir { get; set; }
        /// <summary>Treat every device as having at most this much memory; 0 = none.</summary>
        public long? DeviceMemoryLimitBytes { get; set; }
        /// <summary>List each OpenCL device this many times (to test sharing work between devices).</summary>
        public int? DeviceReplicas { get; set; }
        /// <summary>Subscribed to <see cref="Runtime.Log"/> before the runtime is created, so that it also
        /// receives the lines logged while creating it (the "runtime_summary").</summary>
        public EventHandler<LogEventArgs> Log { get; set; }
    }

    /// <summary>One line of the library's log.</summary>
    public sealed class LogEventArgs : EventArgs
    {
        internal LogEventArgs(LogLevel level, string message) { Level = level; Message = message; }
        public LogLevel Level { get; private set; }
        /// <summary>A sentence, or a JSON object for summaries ({"event":"parallel_plan_summary",...}).</summary>
        public string Message { get; private set; }
    }

    /// <summary>
    /// A Parallax runtime: reads the machine (or a machine profile) once, plans workloads for it and runs host
    /// callbacks (<see cref="ParallelFor"/>, <see cref="ParallelSum"/>, <see cref="RunTasks"/>, jobs) on its own
    /// threads, runs OpenCL kernels (<see cref="CreateKernel"/>), stacks images (<see cref="Stack(float[][], long, long, StackOptions)"/>)
    /// and co-adds mosaics (<see cref="Coadd"/>). Every method may be called from any thread. Dispose it (or let
    /// the finalizer do it): its kernels and buffers are disposed with it; plans stay valid.
    /// </summary>
    public sealed partial class Runtime : IDisposable
    {
        internal readonly RuntimeHandle Handle;
        readonly LogSink sink;
        readonly List<WeakReference> children = new List<WeakReference>();

        /// <summary>Creates a runtime with <paramref name="options"/> (null: every default).</summary>
        /// <exception cref="InvalidArgumentException">an option out of range, a malformed profile.</exception>
        /// <exception cref="IoException">the profile file cannot be read.</exception>
        /// <exception cref="NoDeviceException">DevicePolicy.GpuRequired and no device matches.</exception>
        public Runtime(RuntimeOptions options = null) : this(Library.Loaded(), options ?? new RuntimeOptions()) { }

        // Compiled only once the library is loaded (see Library.ReadVersion).
        unsafe Runtime(bool loaded, RuntimeOptions options)
        {
            using (var pins = new Pins())
            {
                plx_runtime_options_t o;
                Library.Check(Native.plx_runtime_options_init(&o, StructSizes.Of<plx_runtime_options_t>()));
                if (options.MaxCpuWorkers.HasValue) o.max_cpu_workers = options.MaxCpuWorkers.Value;
                if (options.ReserveCpus.HasValue) o.reserve_cpus = options.ReserveCpus.Value;
                if (options.RamFraction.HasValue) o.ram_fraction = options.RamFraction.Value;
                if (options.VramFraction.HasValue) o.vram_fraction = options.VramFraction.Value;
                if (options.DevicePolicy.HasValue) o.device_policy = (int)options.DevicePolicy.Value;
                if (options.DeviceTypes.HasValue) o.device_types = (int)options.DeviceTypes.Value;
                if (options.DeviceMemoryLimitBytes.HasValue) o.device_memory_limit_bytes = options.DeviceMemoryLimitBytes.Value;
                if (options.DeviceReplicas.HasValue) o.device_replicas = options.DeviceReplicas.Value;
                o.machine_profile = pins.Text(options.MachineProfile, "MachineProfile");
                o.sysroot = pins.Text(options.Sysroot, "Sysroot");
                o.device_filter = pins.Text(options.DeviceFilter, "DeviceFilter");
                o.fault_injection = pins.Text(options.FaultInjection, "FaultInjection");
                o.cache_dir = pins.Text(options.CacheDir, "CacheDir");

                sink = new LogSink(this);
                if (options.Log != null) sink.Add(options.Log);
                GCHandle sinkHandle = default(GCHandle);
                LogLevel level = options.LogLevel ?? (LogLevel)o.log_level;
                if (level != LogLevel.Off)
                {
                    sinkHandle = GCHandle.Alloc(sink);
                    o.log_level = (int)level;
                    o.log_callback = Thunks.LogPtr;
                    o.log_user_data = GCHandle.ToIntPtr(sinkHandle);
                }
                else
                {
                    o.log_level = (int)LogLevel.Off;
                }
                RuntimeHandle handle;
                int status = Native.plx_runtime_create(&o, out handle);
                if (status != 0)
                {
                    ParallaxException error = Library.Failure(status, null);
                    if (sinkHandle.IsAllocated) sinkHandle.Free();
                    throw error;
                }
                if (sinkHandle.IsAllocated) handle.SetLogSink(sinkHandle);
                Handle = handle;
            }
        }

        /// <summary>
        /// The library's log lines (at or above <see cref="RuntimeOptions.LogLevel"/>), raised on whatever thread
        /// logs, one at a time. A handler must not call this runtime (InvalidOperationException); what it throws
        /// is written to stderr, never passed into the library.
        /// </summary>
        public event EventHandler<LogEventArgs> Log
        {
            add { sink.Add(value); }
            remove { sink.Remove(value); }
        }

        /// <summary>Whether <see cref="Dispose"/> was called.</summary>
        public bool IsDisposed { get { return Handle.IsClosed; } }

        /// <summary>
        /// Destroys the runtime once the calls in flight on other threads return: cancels its unfinished jobs and
        /// waits for them, and disposes its kernels and buffers. Idempotent. Refused from a callback of one of its
        /// own jobs (which it would wait for).
        /// </summary>
        public void Dispose()
        {
            if (Run.InsideJobOf(this))
                throw new InvalidOperationException("Runtime.Dispose: called from a callback of one of this runtime's " +
                                                    "jobs, which it would wait for; cancel the job instead");
            List<IDisposable> owned = new List<IDisposable>();
            lock (children)
            {
                foreach (WeakReference w in children)
                {
                    var d = w.Target as IDisposable;
                    if (d != null) owned.Add(d);
                }
                children.Clear();
            }
            foreach (IDisposable d in owned) d.Dispose();
            Handle.Dispose();
        }

        internal void Adopt(IDisposable child)
        {
            lock (children)
            {
                children.RemoveAll(w => !w.IsAlive);
                children.Add(new WeakReference(child));
            }
        }

        /// <summary>Refuses a call from this runtime's own log handler (the C API forbids it), or on a disposed runtime.</summary>
        internal void Guard(string what)
        {
            GuardLog(what);
            if (Handle.IsClosed) throw new ObjectDisposedException("Runtime", what + ": this runtime is disposed");
        }

        /// <summary>Refuses a call (on this runtime, or a kernel or buffer of it) from its own log handler.</summary>
        internal void GuardLog(string what)
        {
            if (LogSink.Current == sink)
                throw new InvalidOperationException(what + ": called from this runtime's own Log handler, which the " +
                                                    "library forbids; use another runtime or defer the call");
        }

        /// <summary>The machine as this runtime sees it, with its OpenCL devices (plx_caps_get, plx_device_info_get).</summary>
        public unsafe Caps GetCaps()
        {
            Guard("Runtime.GetCaps");
            plx_caps_t c = default(plx_caps_t);
            c.struct_size = StructSizes.Of<plx_caps_t>();
            Library.Check(Native.plx_caps_get(Handle, &c));
            var devices = new List<DeviceInfo>();
            for (int i = 0; i < c.device_count; i++) devices.Add(GetDevice(i));
            return new Caps(c, devices.AsReadOnly());
        }

        /// <summary>OpenCL device <paramref name="index"/> (0 .. Caps.DeviceCount - 1) (plx_device_info_get).</summary>
        public unsafe DeviceInfo GetDevice(int index)
        {
            Guard("Runtime.GetDevice");
            plx_device_info_t d = default(plx_device_info_t);
            d.struct_size = StructSizes.Of<plx_device_info_t>();
            Library.Check(Native.plx_device_info_get(Handle, index, &d));
            return new DeviceInfo(&d);
        }

        /// <summary>The machine description as JSON text: cpu, memory, devices, options, sources, warnings
        /// (plx_runtime_describe_json).</summary>
        public unsafe string DescribeJson()
        {
            Guard("Runtime.DescribeJson");
            return Json.Read((byte* buffer, UIntPtr size, UIntPtr* required) =>
                             Native.plx_runtime_describe_json(Handle, buffer, size, required));
        }

        /// <summary>Plans <paramref name="workload"/> on this runtime's machine (plx_workload_init, plx_plan_create).</summary>
        /// <exception cref="InvalidArgumentException">a field out of range; the message names it.</exception>
        /// <exception cref="ParallaxOutOfMemoryException">even the smallest chunk does not fit the budget.</exception>
        public unsafe Plan CreatePlan(Workload workload)
        {
            if (workload == null) throw new ArgumentNullException("workload");
            Guard("Runtime.CreatePlan");
            using (var pins = new Pins())
            {
                plx_workload_t w;
                Library.Check(Native.plx_workload_init(&w, StructSizes.Of<plx_workload_t>()));
                workload.Fill(&w, pins);
                PlanHandle plan;
                Library.Check(Native.plx_plan_create(Handle, &w, out plan));
                return new Plan(plan, workload.Name);
            }
        }
    }

    /// <summary>The machine as a runtime sees it (plx_caps_t), with its devices.</summary>
    public sealed class Caps
    {
        internal Caps(plx_caps_t c, IList<DeviceInfo> devices)
        {
            CpuLogical = c.cpu_logical;
            CpuPhysical = c.cpu_physical;
            CpuUsable = c.cpu_usable;
            CpuAffinity = c.cpu_affinity;
            CpuQuota = c.cpu_quota > 0 ? (double?)c.cpu_quota : null;
            NumaNodes = c.numa_nodes;
            DeviceCount = c.device_count;
            MemoryTotalBytes = c.memory_total_bytes;
            MemoryAvailableBytes = c.memory_available_bytes;
            MemoryLimitBytes = c.memory_limit_bytes < 0 ? null : (long?)c.memory_limit_bytes;
            MemoryUsageBytes = c.memory_usage_bytes;
            MemoryBudgetBytes = c.memory_budget_bytes;
            CacheL1dBytes = c.cache_l1d_bytes;
            CacheL2Bytes = c.cache_l2_bytes;
            CacheL3Bytes = c.cache_l3_bytes;
            CgroupVersion = c.cgroup_version;
            FromProfile = c.from_profile != 0;
            Devices = devices;
        }

        public int CpuLogical { get; private set; }
        public int CpuPhysical { get; private set; }
        /// <summary>min(affinity, ceil(cgroup quota)).</summary>
        public int CpuUsable { get; private set; }
        public int CpuAffinity { get; private set; }
        /// <summary>The cgroup CPU quota in CPUs; null when unlimited.</summary>
        public double? CpuQuota { get; private set; }
        public int NumaNodes { get; private set; }
        /// <summary>OpenCL devices found, usable or not.</summary>
        public int DeviceCount { get; private set; }
        public long MemoryTotalBytes { get; private set; }
        public long MemoryAvailableBytes { get; private set; }
        /// <summary>The cgroup memory limit; null when unlimited.</summary>
        public long? MemoryLimitBytes { get; private set; }
        public long MemoryUsageBytes { get; private set; }
        /// <summary>min(available, limit - usage) x ram_fraction.</summary>
        public long MemoryBudgetBytes { get; private set; }
        public long CacheL1dBytes { get; private set; }
        public long CacheL2Bytes { get; private set; }
        public long CacheL3Bytes { get; private set; }
        /// <summary>0 when none was found, else 1 or 2.</summary>
        public int CgroupVersion { get; private set; }
        public bool FromProfile { get; private set; }
        public IList<DeviceInfo> Devices { get; private set; }
    }

    /// <summary>One OpenCL device, or a machine profile's simulated one (plx_device_info_t).</summary>
    public sealed class DeviceInfo
    {
        internal unsafe DeviceInfo(plx_device_info_t* d)
        {
            Index = d->index;
            Type = (DeviceTypes)d->type;
            Name = Library.Utf8(d->name, 128);
            Vendor = Library.Utf8(d->vendor, 128);
            Platform = Library.Utf8(d->platform, 128);
            DriverVersion = Library.Utf8(d->driver_version, 64);
            OpenCLCVersion = Library.Utf8(d->opencl_c_version, 64);
            ComputeUnits = d->compute_units;
            MaxClockMhz = d->max_clock_mhz;
            GlobalMemoryBytes = d->global_memory_bytes;
            MaxAllocBytes = d->max_alloc_bytes;
            LocalMemoryBytes = d->local_memory_bytes;
            Fp64 = d->fp64 != 0;
            UnifiedMemory = d->unified_memory != 0;
            Usable = d->usable != 0;
            Simulated = d->simulated != 0;
            MeasuredGbps = d->measured_gbps > 0 ? (double?)d->measured_gbps : null;
        }

        public int Index { get; private set; }
        /// <summary>One bit: Cpu, Gpu or Accelerator.</summary>
        public DeviceTypes Type { get; private set; }
        public string Name { get; private set; }
        public string Vendor { get; private set; }
        public string Platform { get; private set; }
        public string DriverVersion { get; private set; }
        public string OpenCLCVersion { get; private set; }
        public int ComputeUnits { get; private set; }
        public int MaxClockMhz { get; private set; }
        public long GlobalMemoryBytes { get; private set; }
        /// <summary>The largest single buffer.</summary>
        public long MaxAllocBytes { get; private set; }
        public long LocalMemoryBytes { get; private set; }
        public bool Fp64 { get; private set; }
        public bool UnifiedMemory { get; private set; }
        /// <summary>Admitted by the runtime's device policy, types and filter.</summary>
        public bool Usable { get; private set; }
        public bool Simulated { get; private set; }
        /// <summary>Streaming throughput measured by Runtime.MeasureDevice (GB/s); null when not measured.</summary>
        public double? MeasuredGbps { get; private set; }

        public override string ToString() { return string.Format("{0}: {1} ({2}, {3})", Index, Name, Type, Platform); }
    }

    /// <summary>Forwards a runtime's C log callback to its Log event.</summary>
    internal sealed class LogSink
    {
        [ThreadStatic] internal static LogSink Current;  // the sink whose handlers this thread is running

        readonly WeakReference owner;
        readonly object gate = new object();
        EventHandler<LogEventArgs> handlers;

        internal LogSink(Runtime runtime) { owner = new WeakReference(runtime); }

        internal void Add(EventHandler<LogEventArgs> h) { lock (gate) handlers += h; }
        internal void Remove(EventHandler<LogEventArgs> h) { lock (gate) handlers -= h; }

        internal void Raise(int level, string message)
        {
            EventHandler<LogEventArgs> copy;
            lock (gate) copy = handlers;
            if (copy == null) return;
            var args = new LogEventArgs((LogLevel)level, message);
            object sender = owner.Target;
            LogSink previous = Current;
            Current = this;
            try
            {
                foreach (EventHandler<LogEventArgs> h in copy.GetInvocationList())
                {
                    try { h(sender, args); }
                    catch (Exception e)
                    {
                        try { Console.Error.WriteLine("parallax: exception ignored in a Log handler: " + e); }
                        catch (Exception) { }
                    }
                }
            }
            finally { Current = previous; }
        }
    }

    /// <summary>The snprintf-like *_describe_json calls: ask for the size, fill a buffer, retry if it grew.</summary>
    internal static unsafe class Json
    {
        internal delegate int Fill(byte* buffer, UIntPtr size, UIntPtr* required);

        internal static string Read(Fill fill)
        {
            UIntPtr required = UIntPtr.Zero;
            Library.Check(fill(null, UIntPtr.Zero, &required));
            for (int attempt = 0; attempt < 4; attempt++)
            {
                byte[] buffer = new byte[(long)(ulong)required + 1];
                fixed (byte* b = buffer)
                {
                    int status = fill(b, (UIntPtr)(ulong)buffer.Length, &required);
                    if (status == (int)Status.BufferTooSmall) continue;
                    Library.Check(status);
                    return Library.Utf8(b, buffer.Length);
                }
            }
            throw new BufferTooSmallException("the JSON text kept growing between calls");
        }
    }
}
