// Where plx_gemm runs a product of host matrices.
//
// device GPU: the first usable device that can (fp64 for F64), GPUs and
// accelerators before CPU devices, then the largest memory; none is
// PLX_ERR_NO_DEVICE. device CPU: the CPU path.
//
// device AUTO (with a runtime policy of GPU_REQUIRED: as GPU): GPUs and
// accelerators only (a CPU OpenCL device such as PoCL runs on the cores the
// CPU path already uses, slower), the best as for GPU, and only when its
// estimated time beats the CPU path's by kMargin:
//   t_device = (bytes of A and B, of C when beta != 0, and of C back) / upload rate
//              + flops / device rate + kLaunch_s
//   t_cpu    = flops / CPU rate
// The rates are measured ones when plx_gemm_tune has run for the device and
// precision (its stored device_gflops, upload_gbps, and cpu_gflops scaled by
// workers / its cpu_workers); otherwise the upload rate is the device's
// measured streaming rate (bench --suite device) or kDefaultUploadGbps, and
// the rates are estimates deliberately on the CPU's side (kCpuGflopsPerWorker
// per worker; kDeviceFlopsPerCuCycle x compute units x clock for the device),
// so that only large products leave the CPU before anything was measured.
// For square F32 products on an H100-sized device without measurements
// (132 units at 1.98 GHz, 6 GB/s) that puts the crossover at n of about 670
// against 16 CPU workers, and about 80 against 2.
#pragma once

#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/machine.hpp"
#include "kernels/gemm/gemm_spec.hpp"
#include "kernels/gemm/gemm_tuning.hpp"

namespace plx {
class Runtime;
}

namespace plx::gemm {

enum class Where : int { automatic = 0, cpu = 1, gpu = 2 };

struct Choice {
  int device = -1;     // -1: the CPU path
  std::string reason;  // one sentence, for the log
};

constexpr double kMargin = 0.8;
constexpr double kLaunch_s = 100e-6;
constexpr double kDefaultUploadGbps = 6.0;
constexpr double kCpuGflopsPerWorker[2] = {32.0, 16.0};  // F32, F64
constexpr double kDeviceFlopsPerCuCycle[2] = {64.0, 8.0};

// The two times of the crossover for one device (see above).
struct Estimate {
  double device_s = 0, cpu_s = 0;
  double device_gflops = 0, cpu_gflops = 0, upload_gbps = 0;
  bool measured = false;  // from plx_gemm_tune's figures
  bool device_wins() const { return device_s < kMargin * cpu_s; }
};
Estimate estimate(const DeviceInfo& device, const std::optional<Tuning>& tuning, const Problem& p, int workers);

// Errors: no_device (GPU preference, none usable and able).
Result<Choice> choose_device(Runtime& runtime, const Problem& p, Where where, int workers);

}  // namespace plx::gemm
