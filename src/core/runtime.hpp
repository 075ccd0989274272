// plx::Runtime: what a plx_runtime_t holds. The machine (detected or from a
// profile), the options, the log, and the devices, discovered on first use.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/logger.hpp"
#include "core/machine.hpp"
#include "core/planner.hpp"
#include "device/device_set.hpp"
#include "exec/executor.hpp"
#include "exec/fault_injection.hpp"
#include "exec/job.hpp"
#include "exec/run.hpp"

namespace plx {

struct RuntimeConfig {
  PlannerSettings planner;
  LogLevel log_level = LogLevel::info;
  LogSink log_sink;
  std::optional<std::string> machine_profile;  // JSON text or path
  std::optional<std::string> sysroot;          // unset: $PLX_SYSROOT, else "/"
  std::string device_filter;                   // case-insensitive substring
  int device_types = device_gpu | device_accelerator;
  std::optional<std::string> fault_injection;  // unset: $PLX_FAULT
  std::optional<std::string> cache_dir;        // unset: $XDG_CACHE_HOME/parallax; "" = no disk cache
  int64_t device_memory_limit_bytes = 0;       // 0 = none
  int device_replicas = 0;                     // 0: $PLX_DEVICE_REPLICAS, else 1
};

class Runtime {
 public:
  // Detects the machine (or loads the profile). Options must be in range
  // (src/api checks them).
  static Result<std::unique_ptr<Runtime>> create(RuntimeConfig config);

  // The machine including its devices (discovered here on first call), with
  // memory figures at most a second old.
  Machine machine();
  // The RAM budget now (memory re-read when older than a second).
  int64_t memory_budget();
  // Indices of the devices the policy, filter and types admit.
  std::vector<int> usable_devices();
  // Usable devices that can run the built-in kernels (double precision, a real
  // OpenCL device); `any_type`: CPU-type OpenCL devices too (PoCL), else GPUs
  // and accelerators only (a CPU OpenCL device is slower than the CPU paths).
  std::vector<int> kernel_devices(bool any_type);
  bool device_usable(const DeviceInfo& device) const;

  // `run_budget_bytes` > 0 caps the memory budget (a run's own budget).
  Result<Plan> plan(const Workload& workload, int64_t run_budget_bytes = 0);
  nlohmann::json describe();

  // Execution: logical workers a run gets without a plan (usable CPUs less
  // reserve_cpus, capped by max_cpu_workers), and what runs need.
  int default_workers() const { return default_workers_; }
  RunEnv run_env() const { return RunEnv{*executor_, faults_, logger_}; }
  const std::shared_ptr<Executor>& executor() const { return executor_; }
  // The OpenCL devices, opened on first use (discovers them if needed).
  DeviceSet& devices();
  std::shared_ptr<DeviceSet> device_set();

  // Jobs are cancelled and waited for when the runtime is destroyed.
  void track(const std::shared_ptr<Job>& job);
  ~Runtime();

  const RuntimeConfig& config() const { return config_; }
  const std::string& cache_dir() const { return cache_dir_; }
  const Logger& log() const { return logger_; }

 private:
  explicit Runtime(RuntimeConfig config);
  void discover_devices();
  const Machine& with_devices();
  // `base` with current memory figures (re-read when older than a second).
  Machine with_current_memory(const Machine& base);
  void refresh_memory_if_stale();  // memory_mutex_ held

  RuntimeConfig config_;
  Logger logger_;
  std::string sysroot_;                    // resolved
  Machine host_;                           // immutable after create; devices only from a profile
  Machine machine_;                        // host_ plus discovered devices, complete after devices_once_
  std::vector<cl_device_id> device_ids_;   // parallel to machine_.devices; null when simulated
  std::shared_ptr<DeviceSet> device_set_;  // shared with kernels and buffers, so their destroy is safe
  std::once_flag devices_once_;
  int default_workers_ = 1;
  std::string cache_dir_;  // "" = no disk cache
  FaultPlan faults_;
  std::shared_ptr<Executor> executor_;
  std::mutex jobs_mutex_;
  std::vector<std::weak_ptr<Job>> jobs_;
  std::mutex memory_mutex_;
  Machine memory_;  // holds the last memory reading
  std::chrono::steady_clock::time_point memory_read_at_;
};

}  // namespace plx
