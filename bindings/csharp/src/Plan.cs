// Workloads and plans: how to run one workload on one runtime's machine. A
// plan does not refer to its runtime and stays valid after it is disposed.
using System;
using System.Collections.Generic;
using Parallax.Interop;

namespace Parallax
{
    /// <summary>A workload to plan (plx_workload_t); null or 0 leaves the library's default.</summary>
    public sealed class Workload
    {
        public Workload() { }

        public Workload(long items, long bytesPerItem = 0)
        {
            Items = items;
            BytesPerItem = bytesPerItem;
        }

        /// <summary>For logs and describe; null = "workload".</summary>
        public string Name { get; set; }
        public WorkloadKind? Kind { get; set; }
        public WorkloadLayout? Layout { get; set; }
        /// <summary>Number of items (frames, tiles...), >= 1.</summary>
        public long Items { get; set; }
        /// <summary>Input bytes of one item, >= 0 (0 = Rows x BytesPerRow).</summary>
        public long BytesPerItem { get; set; }
        /// <summary>Rows of one item (image height); 0 when items are not images.</summary>
        public long Rows { get; set; }
        public long BytesPerRow { get; set; }
        /// <summary>Bytes held per input byte while a chunk is processed, >= 1 (default 1).</summary>
        public double? WorkingSetFactor { get; set; }
        /// <summary>Fixed bytes each worker needs besides its chunk.</summary>
        public long PerWorkerBytes { get; set; }
        /// <summary>Most workers this workload can use; 0 = no cap.</summary>
        public int MaxWorkers { get; set; }
        public DevicePreference? PreferredDevice { get; set; }

        internal unsafe void Fill(plx_workload_t* w, Pins pins)
        {
            w->name = pins.Text(Name, "Workload.Name");
            if (Kind.HasValue) w->kind = (int)Kind.Value;
            if (Layout.HasValue) w->layout = (int)Layout.Value;
            w->items = Items;
            w->bytes_per_item = BytesPerItem;
            w->rows = Rows;
            w->bytes_per_row = BytesPerRow;
            if (WorkingSetFactor.HasValue) w->working_set_factor = WorkingSetFactor.Value;
            w->per_worker_bytes = PerWorkerBytes;
            w->max_workers = MaxWorkers;
            if (PreferredDevice.HasValue) w->preferred_device = (int)PreferredDevice.Value;
        }
    }

    /// <summary>One device taking part in a plan (plx_plan_device_t).</summary>
    public sealed class PlanDevice
    {
        internal PlanDevice(plx_plan_device_t d)
        {
            DeviceIndex = d.device_index;
            Share = d.share;
            ChunkBytes = d.chunk_bytes;
            RowsPerChunk = d.rows_per_chunk;
            ItemsPerChunk = d.items_per_chunk;
            MemoryBudgetBytes = d.memory_budget_bytes;
        }

        /// <summary>As in Runtime.GetDevice.</summary>
        public int DeviceIndex { get; private set; }
        /// <summary>Expected fraction of the device work; the shares sum to 1.</summary>
        public double Share { get; private set; }
        public long ChunkBytes { get; private set; }
        public long RowsPerChunk { get; private set; }
        public long ItemsPerChunk { get; private set; }
        /// <summary>VramFraction x device memory.</summary>
        public long MemoryBudgetBytes { get; private set; }
    }

    /// <summary>
    /// A plan made by <see cref="Runtime.CreatePlan"/> or <see cref="Runtime.StackPlan"/>. Its numbers are read
    /// once (plx_plan_get, plx_plan_device_get) and stay readable after Dispose; pass it to runs for their workers
    /// and chunk sizes.
    /// </summary>
    public sealed class Plan : IDisposable
    {
        internal readonly PlanHandle Handle;

        internal unsafe Plan(PlanHandle handle, string name)
        {
            Handle = handle;
            Name = name ?? "workload";
            plx_plan_info_t info = default(plx_plan_info_t);
            info.struct_size = StructSizes.Of<plx_plan_info_t>();
            Library.Check(Native.plx_plan_get(handle, &info));
            CpuWorkers = info.cpu_workers;
            UseGpu = info.use_gpu != 0;
            DeviceCount = info.device_count;
            Streaming = info.streaming != 0;
            ItemsPerChunk = info.items_per_chunk;
            RowsPerChunk = info.rows_per_chunk;
            GpuRowsPerChunk = info.gpu_rows_per_chunk;
            GpuItemsPerChunk = info.gpu_items_per_chunk;
            MaxChunkBytes = info.max_chunk_bytes;
            GpuChunkBytes = info.gpu_chunk_bytes;
            MemoryBudgetBytes = info.memory_budget_bytes;
            StagingBytes = info.staging_bytes;
            ChunkCount = info.chunk_count;
            TotalBytes = info.total_bytes;
            var devices = new List<PlanDevice>();
            for (int i = 0; i < info.device_count; i++)
            {
                plx_plan_device_t d = default(plx_plan_device_t);
                d.struct_size = StructSizes.Of<plx_plan_device_t>();
                Library.Check(Native.plx_plan_device_get(handle, i, &d));
                devices.Add(new PlanDevice(d));
            }
            Devices = devices.AsReadOnly();
        }

        public string Name { get; private set; }
        public int CpuWorkers { get; private set; }
        public bool UseGpu { get; private set; }
        public int DeviceCount { get; private set; }
        /// <summary>The data does not fit at once and passes through in chunks.</summary>
        public bool Streaming { get; private set; }
        public long ItemsPerChunk { get; private set; }
        public long RowsPerChunk { get; private set; }
        public long GpuRowsPerChunk { get; private set; }
        public long GpuItemsPerChunk { get; private set; }
        public long MaxChunkBytes { get; private set; }
        public long GpuChunkBytes { get; private set; }
        public long MemoryBudgetBytes { get; private set; }
        public long StagingBytes { get; private set; }
        public long ChunkCount { get; private set; }
        /// <summary>The whole working set (may exceed a long).</summary>
        public double TotalBytes { get; private set; }
        public IList<PlanDevice> Devices { get; private set; }

        /// <summary>The plan as JSON: its numbers, "devices", "budgets", "workload" and "reasons" (one sentence
        /// per decision) (plx_plan_describe_json).</summary>
        public unsafe string DescribeJson()
        {
            return Json.Read((byte* buffer, UIntPtr size, UIntPtr* required) =>
                             Native.plx_plan_describe_json(Handle, buffer, size, required));
        }

        public bool IsDisposed { get { return Handle.IsClosed; } }

        /// <summary>Destroys the plan once no run uses it; its numbers stay readable. Idempotent.</summary>
        public void Dispose() { Handle.Dispose(); }

        public override string ToString()
        {
            return string.Format("Plan '{0}': cpu_workers={1} use_gpu={2} items_per_chunk={3} rows_per_chunk={4} " +
                                 "chunk_count={5} streaming={6}", Name, CpuWorkers, UseGpu, ItemsPerChunk,
                                 RowsPerChunk, ChunkCount, Streaming);
        }
    }
}
