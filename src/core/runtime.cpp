#include "core/runtime.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/capabilities.hpp"
#include "core/json_text.hpp"
#include "core/profile.hpp"
#include "core/sysroot.hpp"
#include "core/text.hpp"
#include "device/device_figures.hpp"
#include "device/opencl_discovery.hpp"
#include "device/program_cache.hpp"

namespace plx {

namespace {
constexpr const char* kVersion = "0.1.0";
}

Runtime::Runtime(RuntimeConfig config) : config_(std::move(config)), logger_(config_.log_sink, config_.log_level) {}

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeConfig config) {
  std::unique_ptr<Runtime> rt(new Runtime(std::move(config)));
  if (rt->config_.machine_profile) {
    PLX_TRY_ASSIGN(rt->host_, load_profile(*rt->config_.machine_profile));
    rt->sysroot_ = "(profile)";
  } else {
    if (rt->config_.sysroot) {
      rt->sysroot_ = *rt->config_.sysroot;
    } else if (const char* env = std::getenv("PLX_SYSROOT"); env && *env) {
      rt->sysroot_ = env;
    } else {
      rt->sysroot_ = "/";
    }
    rt->host_ = detect_machine(SysRoot(rt->sysroot_));
  }
  rt->memory_ = rt->host_;
  rt->memory_read_at_ = std::chrono::steady_clock::now();
  for (const std::string& warning : rt->host_.warnings) rt->logger_.log(LogLevel::warn, warning);

  std::string faults;
  if (rt->config_.fault_injection)
    faults = *rt->config_.fault_injection;
  else if (const char* env = std::getenv("PLX_FAULT"))
    faults = env;
  PLX_TRY_ASSIGN(rt->faults_, FaultPlan::parse(faults));
  rt->cache_dir_ = rt->config_.cache_dir ? *rt->config_.cache_dir : default_cache_dir();
  if (!rt->faults_.empty()) rt->logger_.log(LogLevel::warn, cat("fault injection active: ", faults));

  const PlannerSettings& p = rt->config_.planner;
  int workers = std::max(1, rt->host_.cpu_usable - p.reserve_cpus);
  if (p.max_cpu_workers > 0) workers = std::min(workers, p.max_cpu_workers);
  rt->default_workers_ = workers;
  rt->executor_ = std::make_shared<Executor>(workers);

  if (rt->config_.planner.policy == DevicePolicy::gpu_required) {
    const Machine& m = rt->with_devices();
    if (rt->usable_devices().empty()) {
      std::string found;
      for (const DeviceInfo& d : m.devices)
        found += cat(found.empty() ? "" : ", ", "'", d.name, "' (", device_type_name(d.type), ", ", d.platform, ")");
      std::string types;
      for (int bit : {device_cpu, device_gpu, device_accelerator})
        if (rt->config_.device_types & bit) types += (types.empty() ? "" : "|") + device_type_name(bit);
      return make_error(
          Code::no_device, "device_policy GPU_REQUIRED but no OpenCL device matches device_types ", types,
          rt->config_.device_filter.empty() ? "" : cat(" and device_filter '", rt->config_.device_filter, "'"),
          "; found: ", found.empty() ? "none (is an OpenCL driver installed? see clinfo)" : found,
          ". Use PLX_DEVICE_AUTO to fall back to the CPU",
          m.devices.empty() ? "." : ", or widen device_types/device_filter.");
    }
  }

  if (rt->logger_.enabled(LogLevel::info)) {
    const Machine& m = rt->host_;
    nlohmann::json line = {{"event", "runtime_summary"},
                           {"cpu_usable", m.cpu_usable},
                           {"cpu_logical", m.cpu_logical},
                           {"memory_budget_bytes", memory_budget_bytes(m, rt->config_.planner.ram_fraction)},
                           {"from_profile", m.from_profile},
                           {"workers", rt->default_workers_},
                           {"threads", rt->executor_->threads()},
                           {"warnings", m.warnings.size()}};
    rt->logger_.log(LogLevel::info, json_text(line));
  }
  return rt;
}

Runtime::~Runtime() {
  std::vector<std::shared_ptr<Job>> live;
  {
    std::lock_guard lock(jobs_mutex_);
    for (auto& weak : jobs_)
      if (auto job = weak.lock()) live.push_back(std::move(job));
  }
  for (auto& job : live) job->cancel();
  for (auto& job : live) job->wait(-1);
}

void Runtime::track(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(jobs_mutex_);
  std::erase_if(jobs_, [](const std::weak_ptr<Job>& w) { return w.expired(); });
  jobs_.push_back(job);
}

void Runtime::discover_devices() {
  machine_ = host_;
  const PlannerSettings& p = config_.planner;
  // A profile's devices replace discovery; CPU_ONLY never touches OpenCL.
  if (!machine_.from_profile && p.policy != DevicePolicy::cpu_only) {
    std::vector<std::string> warnings;
    std::vector<DiscoveredDevice> found = discover_opencl_devices(warnings);
    for (const std::string& w : warnings) logger_.log(LogLevel::warn, w);
    machine_.warnings.insert(machine_.warnings.end(), warnings.begin(), warnings.end());
    machine_.sources["devices"] = "OpenCL ICD loader";
    int replicas = config_.device_replicas;
    if (replicas <= 0) {
      const char* env = std::getenv("PLX_DEVICE_REPLICAS");
      auto n = env ? parse_int64(env) : std::nullopt;
      replicas = n && *n >= 1 && *n <= 16 ? static_cast<int>(*n) : 1;
    }
    for (DiscoveredDevice& d : found) {
      d.info.key = cat(d.info.platform, "|", d.info.name, "|", d.info.driver_version);
      if (config_.device_memory_limit_bytes > 0) {
        d.info.global_memory_bytes = std::min(d.info.global_memory_bytes, config_.device_memory_limit_bytes);
        d.info.max_alloc_bytes = std::min(d.info.max_alloc_bytes, config_.device_memory_limit_bytes);
      }
      // Replicas: the same device again, with contexts and queues of its own
      // (to test and measure sharing work between devices on one machine).
      for (int r = 0; r < replicas; ++r) {
        DeviceInfo info = d.info;
        if (r > 0) info.name += cat(" (replica ", r + 1, ")");
        machine_.devices.push_back(std::move(info));
        device_ids_.push_back(d.id);
      }
    }
  }
  device_ids_.resize(machine_.devices.size(), nullptr);
  load_device_figures(cache_dir_, machine_.devices);
  std::vector<bool> usable;
  for (const DeviceInfo& d : machine_.devices) usable.push_back(device_usable(d));
  device_set_ = std::make_shared<DeviceSet>(device_ids_, machine_.devices, std::move(usable),
                                            config_.device_memory_limit_bytes, cache_dir_, faults_, logger_);
}

DeviceSet& Runtime::devices() { return *device_set(); }

std::shared_ptr<DeviceSet> Runtime::device_set() {
  with_devices();
  return device_set_;
}

const Machine& Runtime::with_devices() {
  std::call_once(devices_once_, [this] { discover_devices(); });
  return machine_;
}

void Runtime::refresh_memory_if_stale() {
  auto now = std::chrono::steady_clock::now();
  if (now - memory_read_at_ <= std::chrono::seconds(1)) return;
  std::vector<std::string> ignored;  // reported once, at creation
  refresh_memory(SysRoot(sysroot_), memory_, ignored);
  memory_read_at_ = now;
}

Machine Runtime::with_current_memory(const Machine& base) {
  Machine m = base;
  if (base.from_profile) return m;  // a profile is a fixed machine
  std::lock_guard lock(memory_mutex_);
  refresh_memory_if_stale();
  m.memory_total_bytes = memory_.memory_total_bytes;
  m.memory_available_bytes = memory_.memory_available_bytes;
  m.memory_limit_bytes = memory_.memory_limit_bytes;
  m.memory_usage_bytes = memory_.memory_usage_bytes;
  m.memory_headroom_bytes = memory_.memory_headroom_bytes;
  return m;
}

int64_t Runtime::memory_budget() {
  if (host_.from_profile) return memory_budget_bytes(host_, config_.planner.ram_fraction);
  std::lock_guard lock(memory_mutex_);
  refresh_memory_if_stale();
  return memory_budget_bytes(memory_, config_.planner.ram_fraction);
}

Machine Runtime::machine() { return with_current_memory(with_devices()); }

bool Runtime::device_usable(const DeviceInfo& d) const {
  if (config_.planner.policy == DevicePolicy::cpu_only) return false;
  if ((d.type & config_.device_types) == 0) return false;
  if (config_.device_filter.empty()) return true;
  std::string filter = to_lower(config_.device_filter);
  for (const std::string* field : {&d.name, &d.vendor, &d.platform})
    if (to_lower(*field).find(filter) != std::string::npos) return true;
  return false;
}

std::vector<int> Runtime::usable_devices() {
  const Machine& m = with_devices();
  std::vector<int> usable;
  for (size_t i = 0; i < m.devices.size(); ++i)
    if (device_usable(m.devices[i])) usable.push_back(static_cast<int>(i));
  return usable;
}

std::vector<int> Runtime::kernel_devices(bool any_type) {
  std::vector<int> out;
  const Machine& m = with_devices();
  for (int i : usable_devices()) {
    const DeviceInfo& d = m.devices[static_cast<size_t>(i)];
    if (d.fp64 && !d.simulated && (any_type || d.type != device_cpu)) out.push_back(i);
  }
  return out;
}

Result<Plan> Runtime::plan(const Workload& workload, int64_t run_budget_bytes) {
  // Only a workload that may use a device pays for discovering them.
  bool may_use_device = workload.preferred_device == DevicePreference::gpu ||
                        (workload.preferred_device == DevicePreference::automatic &&
                         (workload.kind == WorkloadKind::gpu || workload.kind == WorkloadKind::mixed));
  std::vector<int> devices = may_use_device ? usable_devices() : std::vector<int>{};
  Machine m = with_current_memory(may_use_device ? with_devices() : host_);
  PlannerSettings settings = config_.planner;
  settings.run_budget_bytes = run_budget_bytes;
  auto plan = make_plan(m, devices, settings, workload);
  if (plan) logger_.log(LogLevel::info, plan_summary_line(plan.value()));
  return plan;
}

nlohmann::json Runtime::describe() {
  const Machine m = machine();
  nlohmann::json doc = {{"parallax_version", kVersion},
                        {"source", m.from_profile ? "profile " + m.profile_source : "detected under " + sysroot_}};
  doc.update(machine_to_json(m));
  doc["memory"]["budget_bytes"] = memory_budget_bytes(m, config_.planner.ram_fraction);
  for (size_t i = 0; i < m.devices.size(); ++i) doc["devices"][i]["usable"] = device_usable(m.devices[i]);
  const PlannerSettings& p = config_.planner;
  doc["options"] = {{"max_cpu_workers", p.max_cpu_workers},   {"reserve_cpus", p.reserve_cpus},
                    {"ram_fraction", p.ram_fraction},         {"vram_fraction", p.vram_fraction},
                    {"device_policy", policy_name(p.policy)}, {"device_filter", config_.device_filter},
                    {"device_types", config_.device_types}};
  return doc;
}

}  // namespace plx
