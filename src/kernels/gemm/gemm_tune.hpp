// `plx_gemm_tune`: CLBlast's own tuners (clblast::TuneXgemm and friends, in
// libclblast since 1.5) run on one device; the best parameters found are
// applied with clblast::OverrideParameters and kept only if the whole
// product (CLBlast's routine: the tuned kernel plus its helpers) is at least
// as fast with them as with CLBlast's defaults. The rates measured on the
// way (device, CPU path, upload) are stored with them for plx_gemm's AUTO
// device choice (gemm_choice.hpp).
#pragma once

#include <functional>

#include "core/error.hpp"
#include "core/logger.hpp"
#include "kernels/gemm/gemm_tuning.hpp"

namespace plx {
class DeviceContext;
}

namespace plx::gemm {

enum TuneKernels : int { tune_xgemm = 1, tune_xgemm_direct = 2, tune_helpers = 4 };

struct TuneRequest {
  Precision precision = Precision::f32;
  int kernels = tune_xgemm | tune_xgemm_direct;
  int64_t size = 1024;
  double fraction = 1.0 / 64;
  std::string cache_dir;
};

struct TuneOutcome {
  Tuning tuning;
  int kernels_tuned = 0;  // stored (0 when CLBlast's defaults were as fast)
  double seconds = 0;
};

// Seconds of one size^3 product on the CPU path (host matrices).
using CpuTimer = std::function<Result<double>(int64_t size)>;

Result<TuneOutcome> tune_device(DeviceContext& device, const TuneRequest& request, const CpuTimer& cpu,
                                int cpu_workers, const Logger& log);

}  // namespace plx::gemm
