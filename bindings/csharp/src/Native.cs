// P/Invoke declarations of every function exported by libparallax (plugin.def),
// one per C function, under its C name, with the C types of include/parallax.h.
//
// [DllImport("parallax")]: mono maps the name "parallax" to libparallax.so.0
// through the <dllmap> in Parallax.dll.config (next to Parallax.dll), then
// dlopen()s it, which searches LD_LIBRARY_PATH, then the ld.so cache (an
// installed library). $PARALLAX_LIBRARY, when set, names the library file
// itself: Library.EnsureLoaded() dlopen()s it first, so that it is the one
// mono binds (see Library.cs).
//
// This is the raw layer: statuses are returned, not thrown. The idiomatic
// classes (Runtime, Plan, ...) call it and turn statuses into exceptions with
// the C message (Library.Check). Another topic (e.g. GEMM) adds its own
// declarations in its own file as another part of this partial class.
using System;
using System.Runtime.InteropServices;

namespace Parallax.Interop
{
    // ---- Callback types (cdecl, as C function pointers) ---------------------------------------------

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void plx_log_fn(IntPtr user_data, int level, IntPtr message);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public unsafe delegate int plx_progress_fn(plx_progress_t* progress, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_range_fn(long begin, long end, int worker, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_reduce_range_fn(long begin, long end, int worker, IntPtr partial, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_combine_fn(IntPtr accumulated, IntPtr partial, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public unsafe delegate int plx_task_fn(plx_task_context_t* context, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_rows_provider_fn(long first_row, long rows, IntPtr dst, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_rows_cpu_fn(long first_row, long rows, IntPtr inputs, IntPtr outputs, IntPtr user_data);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_stack_provider_fn(IntPtr user_data, long frame, long row0, long rows, long col0,
                                              long cols, int channel, IntPtr dst, long dst_stride);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_coordinate_map_fn(IntPtr user_data, long input, long n, IntPtr x_out, IntPtr y_out,
                                              IntPtr x_in, IntPtr y_in);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int plx_coadd_tile_fn(IntPtr user_data, long row0, long rows, IntPtr image, IntPtr footprint);

    /// <summary>The C API, one declaration per exported function.</summary>
    public static unsafe partial class Native
    {
        /// <summary>The name mono resolves (Parallax.dll.config maps it to libparallax.so.0).</summary>
        public const string Lib = "parallax";

        // ---- Versions ---------------------------------------------------------------------------------
        [DllImport(Lib)] public static extern uint plx_version();
        [DllImport(Lib)] public static extern IntPtr plx_version_string();
        [DllImport(Lib)] public static extern int plx_abi_compatible(int major, int minor);

        // ---- Statuses and errors ----------------------------------------------------------------------
        [DllImport(Lib)] public static extern IntPtr plx_status_string(int status);
        [DllImport(Lib)] public static extern IntPtr plx_last_error_message();
        [DllImport(Lib)] public static extern int plx_last_error_status();

        // ---- Runtime ----------------------------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_runtime_options_init(plx_runtime_options_t* options, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_runtime_create(plx_runtime_options_t* options, out RuntimeHandle runtime);
        [DllImport(Lib)] public static extern void plx_runtime_destroy(IntPtr runtime);
        [DllImport(Lib)] public static extern int plx_runtime_describe_json(RuntimeHandle runtime, byte* buffer, UIntPtr buffer_size, UIntPtr* required_size);
        [DllImport(Lib)] public static extern int plx_caps_get(RuntimeHandle runtime, plx_caps_t* caps);
        [DllImport(Lib)] public static extern int plx_device_info_get(RuntimeHandle runtime, int index, plx_device_info_t* info);

        // ---- Planning ---------------------------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_workload_init(plx_workload_t* workload, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_plan_create(RuntimeHandle runtime, plx_workload_t* workload, out PlanHandle plan);
        [DllImport(Lib)] public static extern void plx_plan_destroy(IntPtr plan);
        [DllImport(Lib)] public static extern int plx_plan_get(PlanHandle plan, plx_plan_info_t* info);
        [DllImport(Lib)] public static extern int plx_plan_device_get(PlanHandle plan, int index, plx_plan_device_t* device);
        [DllImport(Lib)] public static extern int plx_plan_describe_json(PlanHandle plan, byte* buffer, UIntPtr buffer_size, UIntPtr* required_size);

        // ---- Execution --------------------------------------------------------------------------------
        // Optional handles (a plan) are IntPtr: the caller holds a reference on the SafeHandle (HandleUse).
        [DllImport(Lib)] public static extern int plx_run_options_init(plx_run_options_t* options, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_parallel_for(RuntimeHandle runtime, IntPtr plan, long begin, long end,
                                                                  IntPtr fn, IntPtr user_data, plx_run_options_t* options);
        [DllImport(Lib)] public static extern int plx_reduce_desc_init(plx_reduce_desc_t* desc, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_parallel_reduce(RuntimeHandle runtime, IntPtr plan, long begin, long end,
                                                                     plx_reduce_desc_t* desc, void* result, plx_run_options_t* options);
        [DllImport(Lib)] public static extern int plx_tasks_run(RuntimeHandle runtime, plx_task_t* tasks, long count,
                                                               plx_run_options_t* options, plx_task_result_t* results);
        [DllImport(Lib)] public static extern int plx_cancel_token_create(out CancelTokenHandle token);
        [DllImport(Lib)] public static extern void plx_cancel_token_cancel(CancelTokenHandle token);
        [DllImport(Lib)] public static extern int plx_cancel_token_is_cancelled(CancelTokenHandle token);
        [DllImport(Lib)] public static extern void plx_cancel_token_destroy(IntPtr token);
        [DllImport(Lib)] public static extern int plx_parallel_for_async(RuntimeHandle runtime, IntPtr plan, long begin, long end,
                                                                        IntPtr fn, IntPtr user_data, plx_run_options_t* options,
                                                                        out JobHandle job);
        [DllImport(Lib)] public static extern int plx_tasks_submit(RuntimeHandle runtime, plx_task_t* tasks, long count,
                                                                  plx_run_options_t* options, plx_task_result_t* results,
                                                                  out JobHandle job);
        [DllImport(Lib)] public static extern int plx_job_wait(JobHandle job, long timeout_ms);
        [DllImport(Lib)] public static extern int plx_job_poll(JobHandle job, out int done);
        [DllImport(Lib)] public static extern int plx_job_cancel(JobHandle job);
        [DllImport(Lib)] public static extern void plx_job_destroy(IntPtr job);

        // ---- Devices and custom kernels ---------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_kernel_create(RuntimeHandle runtime, byte[] source, byte[] kernel_name,
                                                                   byte[] build_options, out KernelHandle kernel);
        [DllImport(Lib)] public static extern void plx_kernel_destroy(IntPtr kernel);
        [DllImport(Lib)] public static extern int plx_kernel_devices(KernelHandle kernel, int* devices, int capacity, out int count);
        [DllImport(Lib)] public static extern int plx_rows_desc_init(plx_rows_desc_t* desc, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_kernel_run_rows(KernelHandle kernel, IntPtr plan, plx_rows_desc_t* desc,
                                                                     plx_run_options_t* options);
        [DllImport(Lib)] public static extern int plx_buffer_create(RuntimeHandle runtime, int device_index, long bytes,
                                                                   out BufferHandle buffer);
        [DllImport(Lib)] public static extern int plx_buffer_write(BufferHandle buffer, long offset, void* src, long bytes);
        [DllImport(Lib)] public static extern int plx_buffer_read(BufferHandle buffer, long offset, void* dst, long bytes);
        [DllImport(Lib)] public static extern void plx_buffer_destroy(IntPtr buffer);
        [DllImport(Lib)] public static extern int plx_kernel_run(KernelHandle kernel, int device_index, plx_kernel_arg_t* args,
                                                                int arg_count, int dims, long* global_size, long* local_size);
        [DllImport(Lib)] public static extern int plx_device_measure(RuntimeHandle runtime, int device_index, long transfer_bytes,
                                                                    long stream_bytes, plx_device_figures_t* figures);

        // ---- Image stacking ---------------------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_stack_desc_init(plx_stack_desc_t* desc, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_stack_result_init(plx_stack_result_t* result, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_stack(RuntimeHandle runtime, plx_stack_desc_t* desc, plx_stack_result_t* result);
        [DllImport(Lib)] public static extern int plx_stack_plan(RuntimeHandle runtime, plx_stack_desc_t* desc, out PlanHandle plan);

        // ---- Mosaic co-addition -----------------------------------------------------------------------
        [DllImport(Lib)] public static extern int plx_coadd_input_init(plx_coadd_input_t* input, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_coadd_desc_init(plx_coadd_desc_t* desc, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_coadd_result_init(plx_coadd_result_t* result, UIntPtr struct_size);
        [DllImport(Lib)] public static extern int plx_coadd(RuntimeHandle runtime, plx_coadd_desc_t* desc, plx_coadd_result_t* result);
    }
}
