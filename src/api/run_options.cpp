#include "api/run_options.hpp"

#include <cmath>
#include <cstring>

#include "api/struct_io.hpp"

namespace plx::api {

plx_run_options_t default_run_options() {
  plx_run_options_t o;
  std::memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.progress_interval_ms = 200;
  o.max_attempts = 3;
  o.backoff_base_s = 0.05;
  o.backoff_cap_s = 5.0;
  o.grow_after = 4;
  return o;
}

// Options + plan + runtime -> what the run does. Checks every field.
plx_status_t to_settings(const char* fn, plx::Runtime& rt, const plx_plan* plan, const plx_run_options_t* options,
                         RunSettings& s, plx_run_report_t** report) {
  if (plan)
    if (plx_status_t st = check_handle(plan, fn); st != PLX_OK) return st;
  plx_run_options_t o = default_run_options();
  if (options)
    if (plx_status_t st = read_struct(options, cat(fn, ": options").c_str(), "plx_run_options_t", o); st != PLX_OK)
      return st;
  auto bad = [&](auto&&... parts) { return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": options.", parts...); };
  constexpr int kMaxWorkers = 1 << 16;
  if (o.workers < 0 || o.workers > kMaxWorkers)
    return bad("workers must be from 0 to ", kMaxWorkers, ", got ", o.workers);
  if (o.progress_interval_ms < 0) return bad("progress_interval_ms must be >= 0, got ", o.progress_interval_ms);
  if (o.grain < 0) return bad("grain must be >= 0, got ", o.grain);
  if (o.bytes_per_item < 0) return bad("bytes_per_item must be >= 0, got ", o.bytes_per_item);
  if (o.max_attempts < 1 || o.max_attempts > 1000)
    return bad("max_attempts must be from 1 to 1000, got ", o.max_attempts);
  if (o.fail_fast != 0 && o.fail_fast != 1) return bad("fail_fast must be 0 or 1, got ", o.fail_fast);
  if (!std::isfinite(o.backoff_base_s) || o.backoff_base_s < 0 || o.backoff_base_s > 3600)
    return bad("backoff_base_s must be from 0 to 3600 seconds, got ", o.backoff_base_s);
  if (!std::isfinite(o.backoff_cap_s) || o.backoff_cap_s < o.backoff_base_s || o.backoff_cap_s > 86400)
    return bad("backoff_cap_s must be from backoff_base_s to 86400 seconds, got ", o.backoff_cap_s);
  if (o.grow_after < 1) return bad("grow_after must be >= 1, got ", o.grow_after);
  if (o.memory_budget_bytes < 0) return bad("memory_budget_bytes must be >= 0, got ", o.memory_budget_bytes);
  if (o.reserved0 != 0) return bad("reserved0 must be 0");
  if (o.cancel)
    if (plx_status_t st = check_handle(o.cancel, fn); st != PLX_OK) return st;
  if (o.report)
    if (plx_status_t st = check_struct_size<plx_run_report_t>(o.report->struct_size,
                                                              cat(fn, ": options.report").c_str(), "plx_run_report_t");
        st != PLX_OK)
      return st;

  const Plan* p = plan ? &plan->impl : nullptr;
  s.name = o.name ? o.name : fn;
  s.workers = o.workers > 0 ? o.workers : p ? p->cpu_workers : rt.default_workers();
  s.grain = o.grain > 0 ? o.grain : p ? p->items_per_chunk : 0;
  s.progress_interval_ms = o.progress_interval_ms;
  if (o.progress) {
    plx_progress_fn callback = o.progress;
    void* user = o.progress_user_data;
    s.progress = [callback, user](const ProgressInfo& info) {
      plx_progress_t out{sizeof(plx_progress_t), info.done, info.total, info.bytes_done, info.elapsed_s, info.eta_s};
      return callback(&out, user);
    };
  }
  if (o.cancel) s.cancel.host = o.cancel->impl;
  s.bytes_per_item = o.bytes_per_item > 0 ? o.bytes_per_item : p ? p->workload.bytes_per_item : 0;
  s.max_attempts = o.max_attempts;
  s.fail_fast = o.fail_fast == 1;
  s.backoff_base_s = o.backoff_base_s;
  s.backoff_cap_s = o.backoff_cap_s;
  s.grow_after = o.grow_after;
  // The budget matters to tasks only; reading it costs a lock (and sometimes /proc).
  s.memory_budget_bytes = o.memory_budget_bytes > 0 ? o.memory_budget_bytes
                          : p                       ? p->memory_budget_bytes
                                                    : -1;  // resolved by prepare_tasks
  s.jitter_seed = o.jitter_seed;
  *report = o.report;
  return PLX_OK;
}

void write_report(plx_run_report_t* report, const RunReport& r) {
  if (!report) return;
  plx_run_report_t out;
  std::memset(&out, 0, sizeof out);
  out.workers = r.workers;
  out.threads = r.threads;
  out.chunks = r.chunks;
  out.retries = r.retries;
  out.peak_concurrency = r.peak_concurrency;
  out.failed = r.failed;
  out.failed_begin = r.failed_begin;
  out.failed_end = r.failed_end;
  out.callback_code = r.callback_code;
  out.peak_admitted_bytes = r.peak_admitted_bytes;
  out.wall_s = r.wall_s;
  out.fallback_chunks = r.fallback_chunks;
  out.chunk_splits = r.chunk_splits;
  out.device_kernel_s = r.device_kernel_s;
  write_struct(report, "report", "plx_run_report_t", out);
}

plx_status_t finish_run(const RunOutcome& outcome, plx_run_report_t* report) {
  write_report(report, outcome.report);
  if (outcome.code == Code::ok) return PLX_OK;
  return set_error(static_cast<plx_status_t>(outcome.code), outcome.message);
}

plx_status_t check_range(const char* fn, int64_t begin, int64_t end) {
  if (begin > end) return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": begin ", begin, " is after end ", end);
  // end - begin must fit in int64.
  if (begin < 0 && end > INT64_MAX + begin)
    return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": the range [", begin, ", ", end, ") has more than 2^63 - 1 items");
  return PLX_OK;
}

}  // namespace plx::api
