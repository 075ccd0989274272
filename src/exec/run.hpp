// What every run shares: its settings (from plx_run_options_t and the plan),
// the runtime pieces it uses, and what it reports back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/logger.hpp"
#include "exec/cancel.hpp"
#include "exec/executor.hpp"
#include "exec/fault_injection.hpp"
#include "exec/progress.hpp"

namespace plx {

struct RunSettings {
  std::string name = "run";
  int workers = 1;  // logical workers (lanes), resolved
  int64_t grain = 0;
  int progress_interval_ms = 200;
  ProgressCallback progress;
  CancelSources cancel;
  int64_t bytes_per_item = 0;
  // Tasks only.
  int max_attempts = 3;
  bool fail_fast = false;
  double backoff_base_s = 0.05;
  double backoff_cap_s = 5.0;
  int grow_after = 4;
  int64_t memory_budget_bytes = 0;  // resolved
  uint64_t jitter_seed = 0;
};

struct RunReport {
  int workers = 0;
  int threads = 0;
  int64_t chunks = 0;
  int64_t retries = 0;
  int peak_concurrency = 0;
  int failed = 0;
  int64_t failed_begin = -1;
  int64_t failed_end = -1;
  int callback_code = 0;
  int64_t peak_admitted_bytes = 0;
  double wall_s = 0;
  int64_t fallback_chunks = 0;  // device chunks run on the CPU function instead
  int chunk_splits = 0;         // times a device's chunk was halved after out-of-memory
  double device_kernel_s = 0;   // profiled kernel time of the completed device chunks
  // Kernel runs: chunks each device completed (device index, chunks), and the CPU's.
  std::vector<std::pair<int, int64_t>> device_chunks;
  int64_t cpu_chunks = 0;
};

struct RunOutcome {
  Code code = Code::ok;
  std::string message;  // empty on success
  RunReport report;
};

// The runtime pieces a run uses.
struct RunEnv {
  Executor& executor;
  const FaultPlan& faults;
  const Logger& log;
};

// Raises `peak` to `value` if larger.
template <class T>
void raise_to(std::atomic<T>& peak, T value) {
  T seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

// The one-line "parallel_run_summary" logged for every run.
void log_run_summary(const RunEnv& env, const char* kind, const RunSettings& settings, const RunOutcome& outcome,
                     int64_t items);

}  // namespace plx
