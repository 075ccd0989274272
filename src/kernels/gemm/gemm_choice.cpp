#include "kernels/gemm/gemm_choice.hpp"

#include <algorithm>
#include <optional>

#include "core/runtime.hpp"
#include "kernels/gemm/gemm_tuning.hpp"

namespace plx::gemm {
namespace {

// The best device of `candidates`: GPUs and accelerators first, then the
// most memory, then the lowest index.
int best_of(const Machine& m, const std::vector<int>& candidates) {
  int best = -1;
  for (int i : candidates) {
    if (best < 0) {
      best = i;
      continue;
    }
    const DeviceInfo& d = m.devices[static_cast<size_t>(i)];
    const DeviceInfo& b = m.devices[static_cast<size_t>(best)];
    const bool d_cpu = d.type == device_cpu, b_cpu = b.type == device_cpu;
    if (d_cpu != b_cpu ? !d_cpu : d.global_memory_bytes > b.global_memory_bytes) best = i;
  }
  return best;
}

}  // namespace

Result<Choice> choose_device(Runtime& rt, const Problem& p, Where where, int workers) {
  if (where == Where::cpu) return Choice{-1, "device CPU was asked for"};
  const bool required = rt.config().planner.policy == DevicePolicy::gpu_required;
  const bool any_type = where == Where::gpu || required;
  const Machine m = rt.machine();
  std::vector<int> candidates;
  for (int i : rt.usable_devices()) {
    const DeviceInfo& d = m.devices[static_cast<size_t>(i)];
    if (d.simulated || (p.precision == Precision::f64 && !d.fp64)) continue;
    if (!any_type && d.type == device_cpu) continue;
    candidates.push_back(i);
  }
  if (candidates.empty()) {
    if (any_type)
      return make_error(Code::no_device, where == Where::gpu ? "desc.device is GPU" : "the runtime is GPU_REQUIRED",
                        " but the runtime has no usable OpenCL device",
                        p.precision == Precision::f64 ? " with double precision (cl_khr_fp64)" : "",
                        " (see parallax info; PoCL is a CPU device: add PLX_DEVICE_TYPE_CPU to device_types)");
    return Choice{-1, "no usable GPU or accelerator"};
  }
  const int device = best_of(m, candidates);
  const DeviceInfo& d = m.devices[static_cast<size_t>(device)];
  if (any_type) return Choice{device, cat("device '", d.name, "' (", where == Where::gpu ? "GPU asked for" : "GPU_REQUIRED", ")")};
  if (p.empty() || p.scale_only()) return Choice{-1, "only C = beta C: memory-bound, kept on the CPU"};

  // AUTO: the crossover (see the header).
  std::string ignored;
  const Estimate e = estimate(d, load_tuning(rt.cache_dir(), d.key, p.precision, ignored), p, workers);
  const std::string numbers =
      cat("device '", d.name, "' ", e.device_s, " s (", e.device_gflops, " GFLOP/s, ", e.upload_gbps, " GB/s) vs CPU ",
          e.cpu_s, " s (", e.cpu_gflops, " GFLOP/s), ",
          e.measured ? "measured by parallax tune" : "estimated (no parallax tune yet)");
  return Choice{e.device_wins() ? device : -1, numbers};
}

Estimate estimate(const DeviceInfo& d, const std::optional<Tuning>& t, const Problem& p, int workers) {
  const int prec = static_cast<int>(p.precision);
  Estimate e;
  e.measured = t && t->device_gflops > 0 && t->cpu_gflops > 0 && t->upload_gbps > 0;
  e.cpu_gflops = e.measured ? t->cpu_gflops * workers / std::max(t->cpu_workers, 1) : kCpuGflopsPerWorker[prec] * workers;
  e.device_gflops = e.measured ? t->device_gflops
                               : kDeviceFlopsPerCuCycle[prec] * d.compute_units * d.max_clock_mhz * 1e-3;
  e.upload_gbps = e.measured ? t->upload_gbps : d.measured_gbps ? *d.measured_gbps : kDefaultUploadGbps;
  const double es = static_cast<double>(element_bytes(p.precision)), batch = static_cast<double>(p.batch);
  const double bytes = es * batch *
                       (static_cast<double>(p.m) * p.k + static_cast<double>(p.k) * p.n +
                        static_cast<double>(p.m) * p.n * (p.beta != 0 ? 2 : 1));
  const double flops = p.flops();
  e.device_s = bytes / (std::max(e.upload_gbps, 1e-3) * 1e9) + flops / (std::max(e.device_gflops, 1e-3) * 1e9) + kLaunch_s;
  e.cpu_s = flops / (std::max(e.cpu_gflops, 1e-3) * 1e9);
  return e;
}

}  // namespace plx::gemm
