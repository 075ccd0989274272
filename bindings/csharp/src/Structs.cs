// The C structs of include/parallax.h, field for field, in the same order and
// with the same C types (size_t = UIntPtr, pointers and function pointers =
// IntPtr, char[N] = fixed byte[N]). All are blittable, so P/Invoke passes them
// by address without copying, and they may live in unmanaged memory for the
// lifetime of an async job. Their sizes are checked against the sizes pinned
// in src/api/struct_io.hpp (StructSizes, and the binding's tests).
//
// Layout rules: never reorder; a field appended to a C struct is appended
// here, after the library that has it is the one this binding requires.
using System;
using System.Runtime.InteropServices;

namespace Parallax.Interop
{
    [StructLayout(LayoutKind.Sequential)]
    public struct plx_runtime_options_t
    {
        public UIntPtr struct_size;
        public int max_cpu_workers;
        public int reserve_cpus;
        public double ram_fraction;
        public double vram_fraction;
        public int device_policy;
        public int log_level;
        public IntPtr log_callback;        // plx_log_fn
        public IntPtr log_user_data;
        public IntPtr machine_profile;     // const char*
        public IntPtr sysroot;             // const char*
        public IntPtr device_filter;       // const char*
        public int device_types;
        public IntPtr fault_injection;     // const char*
        public IntPtr cache_dir;           // const char*
        public long device_memory_limit_bytes;
        public int device_replicas;
        public int reserved0;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_caps_t
    {
        public UIntPtr struct_size;
        public int cpu_logical;
        public int cpu_physical;
        public int cpu_usable;
        public int cpu_affinity;
        public double cpu_quota;
        public int numa_nodes;
        public int device_count;
        public long memory_total_bytes;
        public long memory_available_bytes;
        public long memory_limit_bytes;
        public long memory_usage_bytes;
        public long memory_budget_bytes;
        public long cache_l1d_bytes;
        public long cache_l2_bytes;
        public long cache_l3_bytes;
        public int cgroup_version;
        public int from_profile;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_device_info_t
    {
        public UIntPtr struct_size;
        public int index;
        public int type;
        public fixed byte name[128];
        public fixed byte vendor[128];
        public fixed byte platform[128];
        public fixed byte driver_version[64];
        public fixed byte opencl_c_version[64];
        public int compute_units;
        public int max_clock_mhz;
        public long global_memory_bytes;
        public long max_alloc_bytes;
        public long local_memory_bytes;
        public int fp64;
        public int unified_memory;
        public int usable;
        public int simulated;
        public double measured_gbps;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_workload_t
    {
        public UIntPtr struct_size;
        public IntPtr name;                // const char*
        public int kind;
        public int layout;
        public long items;
        public long bytes_per_item;
        public long rows;
        public long bytes_per_row;
        public double working_set_factor;
        public long per_worker_bytes;
        public int max_workers;
        public int preferred_device;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_plan_info_t
    {
        public UIntPtr struct_size;
        public int cpu_workers;
        public int use_gpu;
        public int device_count;
        public int streaming;
        public long items_per_chunk;
        public long rows_per_chunk;
        public long gpu_rows_per_chunk;
        public long gpu_items_per_chunk;
        public long max_chunk_bytes;
        public long gpu_chunk_bytes;
        public long memory_budget_bytes;
        public long staging_bytes;
        public long chunk_count;
        public double total_bytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_plan_device_t
    {
        public UIntPtr struct_size;
        public int device_index;
        public int reserved0;
        public double share;
        public long chunk_bytes;
        public long rows_per_chunk;
        public long items_per_chunk;
        public long memory_budget_bytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_progress_t
    {
        public UIntPtr struct_size;
        public long done;
        public long total;
        public long bytes_done;
        public double elapsed_s;
        public double eta_s;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_run_report_t
    {
        public UIntPtr struct_size;
        public int workers;
        public int threads;
        public long chunks;
        public long retries;
        public int peak_concurrency;
        public int failed;
        public long failed_begin;
        public long failed_end;
        public int callback_code;
        public int reserved0;
        public long peak_admitted_bytes;
        public double wall_s;
        public long fallback_chunks;
        public int chunk_splits;
        public int reserved1;
        public double device_kernel_s;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_run_options_t
    {
        public UIntPtr struct_size;
        public IntPtr name;                // const char*
        public int workers;
        public int progress_interval_ms;
        public long grain;
        public IntPtr progress;            // plx_progress_fn
        public IntPtr progress_user_data;
        public IntPtr cancel;              // plx_cancel_token_t*
        public long bytes_per_item;
        public IntPtr report;              // plx_run_report_t*
        public int max_attempts;
        public int fail_fast;
        public double backoff_base_s;
        public double backoff_cap_s;
        public int grow_after;
        public int reserved0;
        public long memory_budget_bytes;
        public ulong jitter_seed;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_reduce_desc_t
    {
        public UIntPtr struct_size;
        public int op;
        public int reserved0;
        public IntPtr range;               // plx_reduce_range_fn
        public IntPtr combine;             // plx_combine_fn
        public IntPtr user_data;
        public UIntPtr value_size;
        public IntPtr identity;            // const void*
        public long grain;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_task_context_t
    {
        public UIntPtr struct_size;
        public long index;
        public int attempt;
        public int worker;
        public long estimated_bytes;
        public long reported_bytes;
        public fixed byte message[256];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_task_t
    {
        public UIntPtr struct_size;
        public IntPtr fn;                  // plx_task_fn
        public IntPtr user_data;
        public long estimated_bytes;
        public IntPtr name;                // const char*
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_task_result_t
    {
        public UIntPtr struct_size;
        public int status;
        public int attempts;
        public fixed byte message[256];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_rows_input_t
    {
        public IntPtr data;                // const void*
        public long bytes_per_row;
        public IntPtr provider;            // plx_rows_provider_fn
        public IntPtr provider_user_data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_rows_output_t
    {
        public IntPtr data;
        public long bytes_per_row;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_kernel_scalar_t
    {
        public IntPtr data;                // const void*
        public UIntPtr size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_rows_desc_t
    {
        public UIntPtr struct_size;
        public long rows;
        public IntPtr inputs;              // const plx_rows_input_t*
        public int input_count;
        public int output_count;
        public IntPtr outputs;             // const plx_rows_output_t*
        public IntPtr scalars;             // const plx_kernel_scalar_t*
        public int scalar_count;
        public int reserved0;
        public long work_items_per_row;
        public long rows_per_chunk;
        public IntPtr cpu_fallback;        // plx_rows_cpu_fn
        public IntPtr cpu_user_data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_kernel_arg_t
    {
        public int kind;
        public int reserved0;
        public IntPtr buffer;              // plx_buffer_t*
        public IntPtr data;                // const void*
        public UIntPtr size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_device_figures_t
    {
        public UIntPtr struct_size;
        public double h2d_pinned_gbps;
        public double h2d_pageable_gbps;
        public double d2h_pinned_gbps;
        public double device_copy_gbps;
        public double launch_us;
        public double launch_roundtrip_us;
        public double stream_gbps;
        public long transfer_bytes;
        public long stream_bytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_stack_desc_t
    {
        public UIntPtr struct_size;
        public long frames;
        public long height;
        public long width;
        public int channels;
        public int combine;
        public IntPtr frame_data;          // const float* const*
        public long row_stride;
        public long channel_stride;
        public IntPtr provider;            // plx_stack_provider_fn
        public IntPtr provider_user_data;
        public int reject;
        public int centre;
        public double sigma_low;
        public double sigma_high;
        public int max_iters;
        public int n_low;
        public int n_high;
        public int weights;
        public double percentile_low;
        public double percentile_high;
        public IntPtr frame_weights;       // const double*
        public int normalize;
        public int device;
        public long reference_frame;
        public IntPtr run_options;         // const plx_run_options_t*
        public long provider_rows;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_stack_result_t
    {
        public UIntPtr struct_size;
        public IntPtr image;               // float*
        public IntPtr count;               // int32_t*
        public IntPtr rejected_low;        // int32_t*
        public IntPtr rejected_high;       // int32_t*
        public IntPtr frame_rejected;      // int64_t*
        public IntPtr frame_scale;         // double*
        public IntPtr frame_offset;        // double*
        public IntPtr frame_weight;        // double*
        public long samples;
        public long missing;
        public long kept;
        public long rejected;
        public int device_index;
        public int workers;
        public long tile_rows;
        public long tiles;
        public double frame_stats_s;
        public double stack_s;
        public fixed byte simd_target[16];
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct plx_coadd_input_t
    {
        public UIntPtr struct_size;
        public IntPtr data;                // const float*
        public long height;
        public long width;
        public long row_stride;
        public IntPtr weights;             // const float*
        public double weight;
        public double background;
        public int mapping;
        public fixed double matrix[9];
        public IntPtr wcs_header;          // const char*
        public IntPtr map;                 // plx_coordinate_map_fn
        public IntPtr map_user_data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_coadd_desc_t
    {
        public UIntPtr struct_size;
        public IntPtr inputs;              // const plx_coadd_input_t*
        public long count;
        public long height;
        public long width;
        public IntPtr output_wcs_header;   // const char*
        public int interpolation;
        public int combine;
        public int device;
        public int reserved;
        public IntPtr tile;                // plx_coadd_tile_fn
        public IntPtr tile_user_data;
        public IntPtr run_options;         // const plx_run_options_t*
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct plx_coadd_result_t
    {
        public UIntPtr struct_size;
        public IntPtr image;               // float*
        public IntPtr footprint;           // float*
        public long covered;
        public long samples;
        public long tile_rows;
        public long tiles;
        public int device_index;
        public int workers;
        public int native_wcs;
        public int grid_wcs;
        public double seconds;
    }

    /// <summary>
    /// The sizes of the structs in the first release (0.1), as pinned in
    /// src/api/struct_io.hpp (FirstReleaseSize), plus the frozen-layout structs
    /// that carry no struct_size. The tests compare Marshal.SizeOf of every
    /// struct above with these, and these with struct_io.hpp itself.
    /// </summary>
    public static class StructSizes
    {
        public static readonly System.Collections.Generic.KeyValuePair<Type, int>[] FirstRelease =
        {
            Pair(typeof(plx_runtime_options_t), 120),
            Pair(typeof(plx_workload_t), 80),
            Pair(typeof(plx_caps_t), 112),
            Pair(typeof(plx_device_info_t), 584),
            Pair(typeof(plx_plan_info_t), 104),
            Pair(typeof(plx_plan_device_t), 56),
            Pair(typeof(plx_run_options_t), 120),
            Pair(typeof(plx_run_report_t), 96),
            Pair(typeof(plx_rows_desc_t), 88),
            Pair(typeof(plx_device_figures_t), 80),
            Pair(typeof(plx_reduce_desc_t), 64),
            Pair(typeof(plx_task_t), 40),
            Pair(typeof(plx_task_result_t), 272),
            Pair(typeof(plx_stack_desc_t), 168),
            Pair(typeof(plx_stack_result_t), 160),
            Pair(typeof(plx_coadd_input_t), 168),
            Pair(typeof(plx_coadd_desc_t), 88),
            Pair(typeof(plx_coadd_result_t), 80),
            Pair(typeof(plx_gemm_desc_t), 176),
            Pair(typeof(plx_gemm_result_t), 64),
            Pair(typeof(plx_gemm_tune_options_t), 32),
            Pair(typeof(plx_gemm_tune_result_t), 312),
        };

        /// <summary>Structs that grew after the first release (fields appended): their size now.</summary>
        public static readonly System.Collections.Generic.KeyValuePair<Type, int>[] Grown =
        {
            Pair(typeof(plx_run_report_t), 104),  // device_kernel_s
            Pair(typeof(plx_stack_desc_t), 176),  // provider_rows
        };

        /// <summary>Structs outside struct_io.hpp: sizes from the C header's types on LP64.</summary>
        public static readonly System.Collections.Generic.KeyValuePair<Type, int>[] Other =
        {
            Pair(typeof(plx_progress_t), 48),
            Pair(typeof(plx_task_context_t), 296),
            Pair(typeof(plx_rows_input_t), 32),
            Pair(typeof(plx_rows_output_t), 16),
            Pair(typeof(plx_kernel_scalar_t), 16),
            Pair(typeof(plx_kernel_arg_t), 32),
        };

        static System.Collections.Generic.KeyValuePair<Type, int> Pair(Type t, int size)
        {
            return new System.Collections.Generic.KeyValuePair<Type, int>(t, size);
        }

        /// <summary>sizeof(T) as the struct_size the library expects.</summary>
        public static UIntPtr Of<T>() where T : struct
        {
            return (UIntPtr)(ulong)Marshal.SizeOf(typeof(T));
        }
    }
}
