// The planner: turns a workload description into a plan sized to the machine
// (CPU workers, devices and their shares, chunk sizes within the memory
// budgets) with one human sentence per decision. The rules are listed at the
// top of planner.cpp; every rule has a test with a profile.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/machine.hpp"

namespace plx {

// Same numbers as the public enums.
enum class WorkloadKind : int { cpu = 0, memory = 1, io = 2, gpu = 3, mixed = 4 };
enum class Layout : int { items = 0, rows_across_items = 1 };
enum class DevicePreference : int { automatic = 0, cpu = 1, gpu = 2 };
enum class DevicePolicy : int { automatic = 0, cpu_only = 1, gpu_required = 2 };

const char* kind_name(WorkloadKind kind);
const char* layout_name(Layout layout);
const char* policy_name(DevicePolicy policy);
const char* preference_name(DevicePreference preference);

struct Workload {
  std::string name = "workload";
  WorkloadKind kind = WorkloadKind::cpu;
  Layout layout = Layout::items;
  int64_t items = 0;
  int64_t bytes_per_item = 0;
  int64_t rows = 0;
  int64_t bytes_per_row = 0;
  double working_set_factor = 1.0;
  int64_t per_worker_bytes = 0;
  int max_workers = 0;
  DevicePreference preferred_device = DevicePreference::automatic;
  // What to do when one worker does not fit, in the caller's terms (a
  // built-in kernel's caller sets none of the fields above); empty: the
  // general advice, which names them.
  std::string advice;
};

// The runtime options the planner follows.
struct PlannerSettings {
  int max_cpu_workers = 0;
  int reserve_cpus = 0;
  double ram_fraction = 0.75;
  double vram_fraction = 0.5;
  DevicePolicy policy = DevicePolicy::automatic;
  int64_t run_budget_bytes = 0;  // a run's own memory budget, when smaller (0: none)
};

struct PlanDevice {
  int device_index = 0;
  std::string name;
  double share = 0;
  int64_t chunk_bytes = 0;  // input bytes of one chunk
  int64_t rows_per_chunk = 0;
  int64_t items_per_chunk = 0;
  int64_t memory_budget_bytes = 0;
};

struct Plan {
  Workload workload;
  int cpu_workers = 1;
  bool use_gpu = false;
  bool streaming = false;
  int64_t items_per_chunk = 0;
  int64_t rows_per_chunk = 0;
  int64_t gpu_rows_per_chunk = 0;
  int64_t gpu_items_per_chunk = 0;
  int64_t max_chunk_bytes = 0;  // input bytes of one CPU chunk, at most
  int64_t gpu_chunk_bytes = 0;
  int64_t memory_budget_bytes = 0;
  int64_t staging_bytes = 0;
  int64_t chunk_count = 0;
  double total_bytes = 0;  // input x working set + per-worker bytes
  std::vector<PlanDevice> devices;
  std::vector<std::string> reasons;
};

// Field ranges and consistency; the message names the field and the value.
Status validate_workload(const Workload& workload);

// `usable_devices`: indices into machine.devices that the runtime's policy,
// filter and types admit (empty under CPU_ONLY).
Result<Plan> make_plan(const Machine& machine, const std::vector<int>& usable_devices, const PlannerSettings& settings,
                       const Workload& workload);

nlohmann::json plan_to_json(const Plan& plan);

// The one-line "parallel_plan_summary" logged for every plan.
std::string plan_summary_line(const Plan& plan);

}  // namespace plx
