// The CPU kernel of a build without OpenBLAS (and of products whose sizes
// CBLAS's 32-bit integers cannot take): C is cut into tiles, the tiles are
// shared by the run's workers; a tile walks k in blocks, packs its block of
// op(A) into panels of kMr rows and its block of op(B) into panels of two
// SIMD vectors of columns (contiguous, zero-padded: layout and transposes
// are resolved here, once per block), and a register-blocked micro-kernel
// of fused multiply-adds accumulates kMr x 2 vectors of C at a time. Highway
// compiles it for every instruction set and picks the CPU's at run time.
#pragma once

#include <cstdint>

#include "exec/run.hpp"
#include "kernels/gemm/gemm_spec.hpp"

namespace plx::gemm {

// Batch item `item` of `p` (host operands; k > 0), on settings.workers workers.
RunOutcome blocked_gemm(const RunEnv& env, const Problem& p, int64_t item, const RunSettings& settings);

// The instruction set the micro-kernel runs with ("AVX3", "AVX2", "SSE4"...).
const char* blocked_target();

}  // namespace plx::gemm
