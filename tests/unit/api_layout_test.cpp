// The public structs' layout is ABI: sizes and offsets pinned for x86-64 and
// every other LP64 target. A change here breaks every host built before it.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "parallax.h"

#define PLX_PIN(type, field, offset) static_assert(offsetof(type, field) == (offset), #type "." #field)

static_assert(sizeof(void*) == 8, "layouts below are for LP64");
static_assert(sizeof(plx_runtime_options_t) == 120);
PLX_PIN(plx_runtime_options_t, struct_size, 0);
PLX_PIN(plx_runtime_options_t, max_cpu_workers, 8);
PLX_PIN(plx_runtime_options_t, reserve_cpus, 12);
PLX_PIN(plx_runtime_options_t, ram_fraction, 16);
PLX_PIN(plx_runtime_options_t, vram_fraction, 24);
PLX_PIN(plx_runtime_options_t, device_policy, 32);
PLX_PIN(plx_runtime_options_t, log_level, 36);
PLX_PIN(plx_runtime_options_t, log_callback, 40);
PLX_PIN(plx_runtime_options_t, log_user_data, 48);
PLX_PIN(plx_runtime_options_t, machine_profile, 56);
PLX_PIN(plx_runtime_options_t, sysroot, 64);
PLX_PIN(plx_runtime_options_t, device_filter, 72);
PLX_PIN(plx_runtime_options_t, device_types, 80);
PLX_PIN(plx_runtime_options_t, fault_injection, 88);
PLX_PIN(plx_runtime_options_t, cache_dir, 96);
PLX_PIN(plx_runtime_options_t, device_memory_limit_bytes, 104);
PLX_PIN(plx_runtime_options_t, device_replicas, 112);
PLX_PIN(plx_runtime_options_t, reserved0, 116);

static_assert(sizeof(plx_workload_t) == 80);
PLX_PIN(plx_workload_t, name, 8);
PLX_PIN(plx_workload_t, kind, 16);
PLX_PIN(plx_workload_t, layout, 20);
PLX_PIN(plx_workload_t, items, 24);
PLX_PIN(plx_workload_t, bytes_per_item, 32);
PLX_PIN(plx_workload_t, rows, 40);
PLX_PIN(plx_workload_t, bytes_per_row, 48);
PLX_PIN(plx_workload_t, working_set_factor, 56);
PLX_PIN(plx_workload_t, per_worker_bytes, 64);
PLX_PIN(plx_workload_t, max_workers, 72);
PLX_PIN(plx_workload_t, preferred_device, 76);

static_assert(sizeof(plx_caps_t) == 112);
PLX_PIN(plx_caps_t, cpu_logical, 8);
PLX_PIN(plx_caps_t, cpu_quota, 24);
PLX_PIN(plx_caps_t, numa_nodes, 32);
PLX_PIN(plx_caps_t, memory_total_bytes, 40);
PLX_PIN(plx_caps_t, memory_budget_bytes, 72);
PLX_PIN(plx_caps_t, cache_l3_bytes, 96);
PLX_PIN(plx_caps_t, cgroup_version, 104);
PLX_PIN(plx_caps_t, from_profile, 108);

static_assert(sizeof(plx_device_info_t) == 584);
PLX_PIN(plx_device_info_t, index, 8);
PLX_PIN(plx_device_info_t, type, 12);
PLX_PIN(plx_device_info_t, name, 16);
PLX_PIN(plx_device_info_t, vendor, 144);
PLX_PIN(plx_device_info_t, platform, 272);
PLX_PIN(plx_device_info_t, driver_version, 400);
PLX_PIN(plx_device_info_t, opencl_c_version, 464);
PLX_PIN(plx_device_info_t, compute_units, 528);
PLX_PIN(plx_device_info_t, global_memory_bytes, 536);
PLX_PIN(plx_device_info_t, local_memory_bytes, 552);
PLX_PIN(plx_device_info_t, simulated, 572);
PLX_PIN(plx_device_info_t, measured_gbps, 576);

static_assert(sizeof(plx_plan_info_t) == 104);
PLX_PIN(plx_plan_info_t, cpu_workers, 8);
PLX_PIN(plx_plan_info_t, streaming, 20);
PLX_PIN(plx_plan_info_t, items_per_chunk, 24);
PLX_PIN(plx_plan_info_t, max_chunk_bytes, 56);
PLX_PIN(plx_plan_info_t, chunk_count, 88);
PLX_PIN(plx_plan_info_t, total_bytes, 96);

static_assert(sizeof(plx_plan_device_t) == 56);
PLX_PIN(plx_plan_device_t, device_index, 8);
PLX_PIN(plx_plan_device_t, share, 16);
PLX_PIN(plx_plan_device_t, memory_budget_bytes, 48);

static_assert(sizeof(plx_run_options_t) == 120);
PLX_PIN(plx_run_options_t, name, 8);
PLX_PIN(plx_run_options_t, workers, 16);
PLX_PIN(plx_run_options_t, progress_interval_ms, 20);
PLX_PIN(plx_run_options_t, grain, 24);
PLX_PIN(plx_run_options_t, progress, 32);
PLX_PIN(plx_run_options_t, progress_user_data, 40);
PLX_PIN(plx_run_options_t, cancel, 48);
PLX_PIN(plx_run_options_t, bytes_per_item, 56);
PLX_PIN(plx_run_options_t, report, 64);
PLX_PIN(plx_run_options_t, max_attempts, 72);
PLX_PIN(plx_run_options_t, fail_fast, 76);
PLX_PIN(plx_run_options_t, backoff_base_s, 80);
PLX_PIN(plx_run_options_t, backoff_cap_s, 88);
PLX_PIN(plx_run_options_t, grow_after, 96);
PLX_PIN(plx_run_options_t, reserved0, 100);
PLX_PIN(plx_run_options_t, memory_budget_bytes, 104);
PLX_PIN(plx_run_options_t, jitter_seed, 112);
static_assert(sizeof(plx_run_report_t) == 104);
PLX_PIN(plx_run_report_t, workers, 8);
PLX_PIN(plx_run_report_t, threads, 12);
PLX_PIN(plx_run_report_t, chunks, 16);
PLX_PIN(plx_run_report_t, retries, 24);
PLX_PIN(plx_run_report_t, peak_concurrency, 32);
PLX_PIN(plx_run_report_t, failed, 36);
PLX_PIN(plx_run_report_t, failed_begin, 40);
PLX_PIN(plx_run_report_t, failed_end, 48);
PLX_PIN(plx_run_report_t, callback_code, 56);
PLX_PIN(plx_run_report_t, peak_admitted_bytes, 64);
PLX_PIN(plx_run_report_t, wall_s, 72);
PLX_PIN(plx_run_report_t, fallback_chunks, 80);
PLX_PIN(plx_run_report_t, chunk_splits, 88);
PLX_PIN(plx_run_report_t, reserved1, 92);
PLX_PIN(plx_run_report_t, device_kernel_s, 96);
static_assert(sizeof(plx_progress_t) == 48);
PLX_PIN(plx_progress_t, done, 8);
PLX_PIN(plx_progress_t, total, 16);
PLX_PIN(plx_progress_t, bytes_done, 24);
PLX_PIN(plx_progress_t, elapsed_s, 32);
PLX_PIN(plx_progress_t, eta_s, 40);
static_assert(sizeof(plx_reduce_desc_t) == 64);
PLX_PIN(plx_reduce_desc_t, op, 8);
PLX_PIN(plx_reduce_desc_t, range, 16);
PLX_PIN(plx_reduce_desc_t, combine, 24);
PLX_PIN(plx_reduce_desc_t, user_data, 32);
PLX_PIN(plx_reduce_desc_t, value_size, 40);
PLX_PIN(plx_reduce_desc_t, identity, 48);
PLX_PIN(plx_reduce_desc_t, grain, 56);
static_assert(sizeof(plx_task_context_t) == 296);
PLX_PIN(plx_task_context_t, index, 8);
PLX_PIN(plx_task_context_t, attempt, 16);
PLX_PIN(plx_task_context_t, worker, 20);
PLX_PIN(plx_task_context_t, estimated_bytes, 24);
PLX_PIN(plx_task_context_t, reported_bytes, 32);
PLX_PIN(plx_task_context_t, message, 40);
static_assert(sizeof(plx_task_t) == 40);
PLX_PIN(plx_task_t, fn, 8);
PLX_PIN(plx_task_t, user_data, 16);
PLX_PIN(plx_task_t, estimated_bytes, 24);
PLX_PIN(plx_task_t, name, 32);
static_assert(sizeof(plx_task_result_t) == 272);
PLX_PIN(plx_task_result_t, status, 8);
PLX_PIN(plx_task_result_t, attempts, 12);
PLX_PIN(plx_task_result_t, message, 16);

static_assert(sizeof(plx_rows_desc_t) == 88);
PLX_PIN(plx_rows_desc_t, rows, 8);
PLX_PIN(plx_rows_desc_t, inputs, 16);
PLX_PIN(plx_rows_desc_t, input_count, 24);
PLX_PIN(plx_rows_desc_t, output_count, 28);
PLX_PIN(plx_rows_desc_t, outputs, 32);
PLX_PIN(plx_rows_desc_t, scalars, 40);
PLX_PIN(plx_rows_desc_t, scalar_count, 48);
PLX_PIN(plx_rows_desc_t, reserved0, 52);
PLX_PIN(plx_rows_desc_t, work_items_per_row, 56);
PLX_PIN(plx_rows_desc_t, rows_per_chunk, 64);
PLX_PIN(plx_rows_desc_t, cpu_fallback, 72);
PLX_PIN(plx_rows_desc_t, cpu_user_data, 80);
static_assert(sizeof(plx_rows_input_t) == 32);
PLX_PIN(plx_rows_input_t, data, 0);
PLX_PIN(plx_rows_input_t, bytes_per_row, 8);
PLX_PIN(plx_rows_input_t, provider, 16);
PLX_PIN(plx_rows_input_t, provider_user_data, 24);
static_assert(sizeof(plx_rows_output_t) == 16);
PLX_PIN(plx_rows_output_t, data, 0);
PLX_PIN(plx_rows_output_t, bytes_per_row, 8);
static_assert(sizeof(plx_kernel_scalar_t) == 16);
PLX_PIN(plx_kernel_scalar_t, data, 0);
PLX_PIN(plx_kernel_scalar_t, size, 8);
static_assert(sizeof(plx_kernel_arg_t) == 32);
PLX_PIN(plx_kernel_arg_t, kind, 0);
PLX_PIN(plx_kernel_arg_t, reserved0, 4);
PLX_PIN(plx_kernel_arg_t, buffer, 8);
PLX_PIN(plx_kernel_arg_t, data, 16);
PLX_PIN(plx_kernel_arg_t, size, 24);

// Enum values are forever.
static_assert(PLX_OK == 0 && PLX_ERR_INVALID_ARGUMENT == 1 && PLX_ERR_OUT_OF_MEMORY == 2 && PLX_ERR_DEVICE == 3 &&
              PLX_ERR_NO_DEVICE == 4 && PLX_ERR_CANCELLED == 5 && PLX_ERR_TASK_FAILED == 6 &&
              PLX_ERR_UNSUPPORTED == 7 && PLX_ERR_VERSION == 8 && PLX_ERR_IO == 9 && PLX_ERR_INTERNAL == 10 &&
              PLX_ERR_BUFFER_TOO_SMALL == 11 && PLX_ERR_TIMEOUT == 12);
static_assert(PLX_REDUCE_SUM_DOUBLE == 0 && PLX_REDUCE_SUM_FLOAT == 1 && PLX_REDUCE_SUM_INT64 == 2 &&
              PLX_REDUCE_CUSTOM == 3);
static_assert(PLX_DEVICE_AUTO == 0 && PLX_DEVICE_CPU_ONLY == 1 && PLX_DEVICE_GPU_REQUIRED == 2);
static_assert(PLX_WORKLOAD_CPU == 0 && PLX_WORKLOAD_MEMORY == 1 && PLX_WORKLOAD_IO == 2 && PLX_WORKLOAD_GPU == 3 &&
              PLX_WORKLOAD_MIXED == 4);
static_assert(PLX_LAYOUT_ITEMS == 0 && PLX_LAYOUT_ROWS_ACROSS_ITEMS == 1);
static_assert(PLX_LOG_OFF == 0 && PLX_LOG_ERROR == 1 && PLX_LOG_WARN == 2 && PLX_LOG_INFO == 3 && PLX_LOG_DEBUG == 4);
static_assert(PLX_ARG_BUFFER == 0 && PLX_ARG_SCALAR == 1 && PLX_ARG_LOCAL == 2);
static_assert(PLX_DEVICE_TYPE_CPU == 1 && PLX_DEVICE_TYPE_GPU == 2 && PLX_DEVICE_TYPE_ACCELERATOR == 4);

static_assert(sizeof(plx_stack_desc_t) == 176);  // 168 in 0.1.0: provider_rows appended
PLX_PIN(plx_stack_desc_t, struct_size, 0);
PLX_PIN(plx_stack_desc_t, frames, 8);
PLX_PIN(plx_stack_desc_t, height, 16);
PLX_PIN(plx_stack_desc_t, width, 24);
PLX_PIN(plx_stack_desc_t, channels, 32);
PLX_PIN(plx_stack_desc_t, combine, 36);
PLX_PIN(plx_stack_desc_t, frame_data, 40);
PLX_PIN(plx_stack_desc_t, row_stride, 48);
PLX_PIN(plx_stack_desc_t, channel_stride, 56);
PLX_PIN(plx_stack_desc_t, provider, 64);
PLX_PIN(plx_stack_desc_t, provider_user_data, 72);
PLX_PIN(plx_stack_desc_t, reject, 80);
PLX_PIN(plx_stack_desc_t, centre, 84);
PLX_PIN(plx_stack_desc_t, sigma_low, 88);
PLX_PIN(plx_stack_desc_t, sigma_high, 96);
PLX_PIN(plx_stack_desc_t, max_iters, 104);
PLX_PIN(plx_stack_desc_t, n_low, 108);
PLX_PIN(plx_stack_desc_t, n_high, 112);
PLX_PIN(plx_stack_desc_t, weights, 116);
PLX_PIN(plx_stack_desc_t, percentile_low, 120);
PLX_PIN(plx_stack_desc_t, percentile_high, 128);
PLX_PIN(plx_stack_desc_t, frame_weights, 136);
PLX_PIN(plx_stack_desc_t, normalize, 144);
PLX_PIN(plx_stack_desc_t, device, 148);
PLX_PIN(plx_stack_desc_t, reference_frame, 152);
PLX_PIN(plx_stack_desc_t, run_options, 160);
PLX_PIN(plx_stack_desc_t, provider_rows, 168);

static_assert(sizeof(plx_stack_result_t) == 160);
PLX_PIN(plx_stack_result_t, struct_size, 0);
PLX_PIN(plx_stack_result_t, image, 8);
PLX_PIN(plx_stack_result_t, count, 16);
PLX_PIN(plx_stack_result_t, rejected_low, 24);
PLX_PIN(plx_stack_result_t, rejected_high, 32);
PLX_PIN(plx_stack_result_t, frame_rejected, 40);
PLX_PIN(plx_stack_result_t, frame_scale, 48);
PLX_PIN(plx_stack_result_t, frame_offset, 56);
PLX_PIN(plx_stack_result_t, frame_weight, 64);
PLX_PIN(plx_stack_result_t, samples, 72);
PLX_PIN(plx_stack_result_t, missing, 80);
PLX_PIN(plx_stack_result_t, kept, 88);
PLX_PIN(plx_stack_result_t, rejected, 96);
PLX_PIN(plx_stack_result_t, device_index, 104);
PLX_PIN(plx_stack_result_t, workers, 108);
PLX_PIN(plx_stack_result_t, tile_rows, 112);
PLX_PIN(plx_stack_result_t, tiles, 120);
PLX_PIN(plx_stack_result_t, frame_stats_s, 128);
PLX_PIN(plx_stack_result_t, stack_s, 136);
PLX_PIN(plx_stack_result_t, simd_target, 144);

TEST(Layout, VersionMacrosMatchTheLoadedLibrary) {
  EXPECT_EQ(plx_version(), static_cast<uint32_t>(PLX_VERSION_NUMBER));
  EXPECT_STREQ(plx_version_string(), PLX_VERSION_STRING);
  EXPECT_EQ(plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR), 1);
  EXPECT_EQ(plx_abi_compatible(PLX_VERSION_MAJOR, 0), 1);
  EXPECT_EQ(plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR + 1), 0);  // host newer than library
  EXPECT_EQ(plx_abi_compatible(PLX_VERSION_MAJOR + 1, 0), 0);
  EXPECT_EQ(plx_abi_compatible(-1, 0), 0);
  EXPECT_EQ(plx_abi_compatible(0, -1), 0);
}

TEST(Layout, InitFillsEveryField) {
  // Poison, init, and check each field got its documented default.
  plx_runtime_options_t o;
  std::memset(&o, 0xA5, sizeof o);
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  EXPECT_EQ(o.struct_size, sizeof o);
  EXPECT_EQ(o.max_cpu_workers, 0);
  EXPECT_EQ(o.reserve_cpus, 0);
  EXPECT_EQ(o.ram_fraction, 0.75);
  EXPECT_EQ(o.vram_fraction, 0.5);
  EXPECT_EQ(o.device_policy, PLX_DEVICE_AUTO);
  EXPECT_EQ(o.log_level, PLX_LOG_INFO);
  EXPECT_EQ(o.log_callback, nullptr);
  EXPECT_EQ(o.log_user_data, nullptr);
  EXPECT_EQ(o.machine_profile, nullptr);
  EXPECT_EQ(o.sysroot, nullptr);
  EXPECT_EQ(o.device_filter, nullptr);
  EXPECT_EQ(o.device_types, 0);
  EXPECT_EQ(o.fault_injection, nullptr);
  EXPECT_EQ(o.cache_dir, nullptr);
  EXPECT_EQ(o.device_memory_limit_bytes, 0);
  EXPECT_EQ(o.device_replicas, 0);
  EXPECT_EQ(o.reserved0, 0);

  plx_rows_desc_t rd;
  std::memset(&rd, 0xA5, sizeof rd);
  ASSERT_EQ(plx_rows_desc_init(&rd, sizeof rd), PLX_OK);
  EXPECT_EQ(rd.struct_size, sizeof rd);
  EXPECT_EQ(rd.rows, 0);
  EXPECT_EQ(rd.inputs, nullptr);
  EXPECT_EQ(rd.input_count, 0);
  EXPECT_EQ(rd.output_count, 0);
  EXPECT_EQ(rd.outputs, nullptr);
  EXPECT_EQ(rd.scalars, nullptr);
  EXPECT_EQ(rd.scalar_count, 0);
  EXPECT_EQ(rd.reserved0, 0);
  EXPECT_EQ(rd.work_items_per_row, 1);
  EXPECT_EQ(rd.rows_per_chunk, 0);
  EXPECT_EQ(rd.cpu_fallback, nullptr);
  EXPECT_EQ(rd.cpu_user_data, nullptr);

  plx_run_options_t r;
  std::memset(&r, 0xA5, sizeof r);
  ASSERT_EQ(plx_run_options_init(&r, sizeof r), PLX_OK);
  EXPECT_EQ(r.struct_size, sizeof r);
  EXPECT_EQ(r.name, nullptr);
  EXPECT_EQ(r.workers, 0);
  EXPECT_EQ(r.progress_interval_ms, 200);
  EXPECT_EQ(r.grain, 0);
  EXPECT_EQ(r.progress, nullptr);
  EXPECT_EQ(r.progress_user_data, nullptr);
  EXPECT_EQ(r.cancel, nullptr);
  EXPECT_EQ(r.bytes_per_item, 0);
  EXPECT_EQ(r.report, nullptr);
  EXPECT_EQ(r.max_attempts, 3);
  EXPECT_EQ(r.fail_fast, 0);
  EXPECT_EQ(r.backoff_base_s, 0.05);
  EXPECT_EQ(r.backoff_cap_s, 5.0);
  EXPECT_EQ(r.grow_after, 4);
  EXPECT_EQ(r.reserved0, 0);
  EXPECT_EQ(r.memory_budget_bytes, 0);
  EXPECT_EQ(r.jitter_seed, 0u);

  plx_reduce_desc_t d;
  std::memset(&d, 0xA5, sizeof d);
  ASSERT_EQ(plx_reduce_desc_init(&d, sizeof d), PLX_OK);
  EXPECT_EQ(d.struct_size, sizeof d);
  EXPECT_EQ(d.op, PLX_REDUCE_SUM_DOUBLE);
  EXPECT_EQ(d.reserved0, 0);
  EXPECT_EQ(d.range, nullptr);
  EXPECT_EQ(d.combine, nullptr);
  EXPECT_EQ(d.user_data, nullptr);
  EXPECT_EQ(d.value_size, 0u);
  EXPECT_EQ(d.identity, nullptr);
  EXPECT_EQ(d.grain, 0);

  plx_workload_t w;
  std::memset(&w, 0xA5, sizeof w);
  ASSERT_EQ(plx_workload_init(&w, sizeof w), PLX_OK);
  EXPECT_EQ(w.struct_size, sizeof w);
  EXPECT_EQ(w.name, nullptr);
  EXPECT_EQ(w.kind, PLX_WORKLOAD_CPU);
  EXPECT_EQ(w.layout, PLX_LAYOUT_ITEMS);
  EXPECT_EQ(w.items, 0);
  EXPECT_EQ(w.bytes_per_item, 0);
  EXPECT_EQ(w.rows, 0);
  EXPECT_EQ(w.bytes_per_row, 0);
  EXPECT_EQ(w.working_set_factor, 1.0);
  EXPECT_EQ(w.per_worker_bytes, 0);
  EXPECT_EQ(w.max_workers, 0);
  EXPECT_EQ(w.preferred_device, PLX_PREFER_AUTO);
}
