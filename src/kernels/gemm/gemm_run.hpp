// plx_gemm as a building block: a checked row-major Problem placed and run
// — device operands on their device; host operands on the device
// gemm_choice picks (tuned parameters applied first) or on the CPU path —
// with the device's failures falling back to the CPU as gemm_clblast.hpp
// says. src/api/gemm_api.cpp is this plus the checks of the public
// descriptor; a built-in kernel that multiplies matrices calls it directly.
#pragma once

#include <cstdint>
#include <string>

#include "exec/run.hpp"
#include "kernels/gemm/gemm_choice.hpp"
#include "kernels/gemm/gemm_spec.hpp"

namespace plx {
class Runtime;
}

namespace plx::gemm {

struct GemmReport {
  int device_index = -1;  // -1: nothing ran on a device
  int workers = 0;        // CPU threads, when the CPU path ran
  int64_t tiles = 0;
  int splits = 0;
  bool fallback = false;
  std::string path;  // "openblas", "blocked", "scale" or "clblast"
};

// Runs `p` (checked: see src/api/gemm_api.cpp) with settings.workers CPU
// threads. Errors carry no entry point's name: the caller adds its own.
Status run_gemm(Runtime& runtime, const Problem& p, Where where, const RunSettings& settings, GemmReport& report);

}  // namespace plx::gemm
