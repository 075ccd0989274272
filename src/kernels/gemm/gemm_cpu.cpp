#include "kernels/gemm/gemm_cpu.hpp"

#include <algorithm>

#include "exec/parallel_for.hpp"
#include "kernels/gemm/gemm_blocked.hpp"
#ifdef PLX_HAVE_OPENBLAS
#include "kernels/gemm/gemm_openblas.hpp"
#endif

namespace plx::gemm {
namespace {

// C = beta C over every batch item, rows shared by the workers; beta = 0
// writes zeros without reading C (BLAS).
template <class T>
Status scale(const RunEnv& env, const Problem& p, const RunSettings& settings) {
  if (p.beta == 1) return Ok{};
  const T beta = static_cast<T>(p.beta);
  RunSettings s = settings;
  s.progress = nullptr;
  s.grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(p.n, 1));  // ~64 Ki elements a chunk
  RunOutcome r = parallel_for(
      env, 0, p.batch * p.m,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t row = begin; row < end; ++row) {
          T* c = static_cast<T*>(p.in.c) + (row / p.m) * p.stride_c + (row % p.m) * p.ldc;
          if (beta == T(0))
            std::fill(c, c + p.n, T(0));
          else
            for (int64_t j = 0; j < p.n; ++j) c[j] *= beta;
        }
        return 0;
      },
      s);
  if (r.code != Code::ok) return Error{r.code, r.message};
  return Ok{};
}

// Items small enough that one thread each beats all threads on each in turn.
bool items_in_parallel(const Problem& p, int workers) {
  constexpr double kSmallItemFlops = 2.0 * 192 * 192 * 192;
  return workers > 1 && p.batch >= 2 && p.flops() / static_cast<double>(p.batch) < kSmallItemFlops;
}

Status blocked(const RunEnv& env, const Problem& p, const RunSettings& settings) {
  if (items_in_parallel(p, settings.workers)) {
    RunSettings one = settings;
    one.workers = 1;
    RunSettings s = settings;
    s.progress = nullptr;
    s.grain = 1;
    std::string first_error;
    RunOutcome r = parallel_for(
        env, 0, p.batch,
        [&](int64_t begin, int64_t end, int) {
          for (int64_t item = begin; item < end; ++item)
            if (RunOutcome o = blocked_gemm(env, p, item, one); o.code != Code::ok) return 1;
          return 0;
        },
        s);
    if (r.code != Code::ok) return Error{r.code, r.message};
    return Ok{};
  }
  for (int64_t item = 0; item < p.batch; ++item)
    if (RunOutcome r = blocked_gemm(env, p, item, settings); r.code != Code::ok) return Error{r.code, r.message};
  return Ok{};
}

}  // namespace

bool have_openblas() {
#ifdef PLX_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

Status gemm_on_cpu(const RunEnv& env, const Problem& p, const RunSettings& settings, CpuRun& run) {
  run.workers = settings.workers;
  if (p.empty()) {
    run.path = "scale";
    return Ok{};
  }
  if (p.scale_only()) {
    run.path = "scale";
    return p.precision == Precision::f32 ? scale<float>(env, p, settings) : scale<double>(env, p, settings);
  }
#ifdef PLX_HAVE_OPENBLAS
  if (openblas_can_take(p)) {
    run.path = "openblas";
    if (items_in_parallel(p, settings.workers)) {
      // Single-threaded OpenBLAS calls, one item each, on the run's workers.
      RunSettings s = settings;
      s.progress = nullptr;
      s.grain = 1;
      RunOutcome r;
      with_openblas_threads(1, [&] {
        r = parallel_for(
            env, 0, p.batch,
            [&](int64_t begin, int64_t end, int) {
              openblas_gemm_items(p, begin, end - begin);
              return 0;
            },
            s);
      });
      if (r.code != Code::ok) return Error{r.code, r.message};
      return Ok{};
    }
    with_openblas_threads(settings.workers, [&] { openblas_gemm_items(p, 0, p.batch); });
    return Ok{};
  }
#endif
  run.path = "blocked";
  return blocked(env, p, settings);
}

}  // namespace plx::gemm
