#include "kernels/gemm/gemm_run.hpp"

#include <algorithm>

#include "core/runtime.hpp"
#include "kernels/gemm/gemm_clblast.hpp"
#include "kernels/gemm/gemm_cpu.hpp"
#include "kernels/gemm/gemm_tuning.hpp"

namespace plx::gemm {
namespace {

// The device a host product runs on (null: the CPU path).
Result<DeviceContext*> place(Runtime& rt, const Problem& p, Where where, const RunSettings& settings) {
  // Nothing to multiply (C = beta C, or nothing): the CPU, whatever the preference.
  if (p.empty() || p.scale_only()) return static_cast<DeviceContext*>(nullptr);
  const bool required = rt.config().planner.policy == DevicePolicy::gpu_required;
  Choice choice;
  PLX_TRY_ASSIGN(choice, choose_device(rt, p, where, settings.workers));
  rt.log().log(LogLevel::debug, cat(settings.name, ": ", choice.reason));
  if (choice.device < 0) return static_cast<DeviceContext*>(nullptr);
  auto opened = rt.devices().open(choice.device);
  if (!opened) {
    if (where == Where::gpu || required) return opened.error();
    rt.log().log(LogLevel::warn, cat(settings.name, ": ", opened.error().message, "; multiplying on the CPU"));
    return static_cast<DeviceContext*>(nullptr);
  }
  if (!(*opened)->healthy() && where != Where::gpu && !required) {
    rt.log().log(LogLevel::debug, cat(settings.name, ": device '", (*opened)->name(),
                                      "' failed repeatedly: multiplying on the CPU"));
    return static_cast<DeviceContext*>(nullptr);
  }
  return opened.value();
}

}  // namespace

Status run_gemm(Runtime& rt, const Problem& p, Where where, const RunSettings& settings, GemmReport& report) {
  const RunEnv env = rt.run_env();
  CpuRun cpu_run;
  auto on_cpu = [&](const Problem& q) { return gemm_on_cpu(env, q, settings, cpu_run); };
  DeviceContext* device = p.in.device;
  if (!p.in.on_device()) PLX_TRY_ASSIGN(device, place(rt, p, where, settings));
  if (!device) {
    Status done = on_cpu(p);
    report.workers = cpu_run.workers;
    report.path = cpu_run.path;
    return done;
  }
  apply_tuning(*device, p.precision, rt.cache_dir(), rt.log());
  DeviceSettings ds;
  ds.name = settings.name;
  ds.memory_bytes =
      static_cast<int64_t>(rt.config().planner.vram_fraction * static_cast<double>(device->info().global_memory_bytes));
  if (rt.config().device_memory_limit_bytes > 0)
    ds.memory_bytes = std::min(ds.memory_bytes, rt.config().device_memory_limit_bytes - device->allocated());
  ds.device_required = rt.config().planner.policy == DevicePolicy::gpu_required;
  DeviceRun run;
  Status done = gemm_on_device(*device, p, ds, on_cpu, rt.log(), run);
  // Nothing ran on the device when it failed before its first tile.
  report.device_index = run.fallback && run.tiles == 0 ? -1 : device->index();
  report.workers = run.fallback ? cpu_run.workers : 0;
  report.tiles = run.tiles;
  report.splits = run.splits;
  report.fallback = run.fallback;
  report.path = p.in.on_device() || !run.fallback || run.tiles > 0 ? "clblast" : cpu_run.path;
  return done;
}

}  // namespace plx::gemm
