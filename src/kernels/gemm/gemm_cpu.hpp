// The CPU path of plx_gemm on host matrices: OpenBLAS (CBLAS) when the build
// has it, else the blocked kernel (gemm_blocked.hpp); products that are only
// C = beta C (k = 0, alpha = 0) are scaled here, without reading A or B.
#pragma once

#include <string>

#include "exec/run.hpp"
#include "kernels/gemm/gemm_spec.hpp"

namespace plx::gemm {

struct CpuRun {
  std::string path;  // "openblas", "blocked" or "scale"
  int workers = 0;   // threads the path used
};

// `p` on host operands (p.in.on_device() is false), with settings.workers
// threads. Fails only on cancellation or a bug; the report says what ran.
Status gemm_on_cpu(const RunEnv& env, const Problem& p, const RunSettings& settings, CpuRun& run);

// Whether this build multiplies with OpenBLAS.
bool have_openblas();

}  // namespace plx::gemm
