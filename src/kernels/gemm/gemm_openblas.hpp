// OpenBLAS through CBLAS, with the run's thread count. OpenBLAS keeps one
// thread count for the whole process (openblas_set_num_threads), shared with
// anything else in it that uses OpenBLAS (numpy, for one): a call sets it
// under a process-wide lock and restores the previous value after, so two
// runtimes (or numpy) never change each other's count mid-call.
#pragma once

#include <cstdint>
#include <mutex>

#include "kernels/gemm/gemm_spec.hpp"

namespace plx::gemm {

// CBLAS takes 32-bit sizes: whether `p` can go to OpenBLAS.
bool openblas_can_take(const Problem& p);

// Batch items [first, first + count) of `p` (host operands), one CBLAS call
// each, with whatever thread count OpenBLAS has: call inside with_openblas_threads.
void openblas_gemm_items(const Problem& p, int64_t first, int64_t count);

std::mutex& openblas_threads_mutex();
void openblas_set_threads(int threads);
int openblas_threads();

// Runs `body` with OpenBLAS set to `threads` threads, under the lock.
template <class Body>
void with_openblas_threads(int threads, Body&& body) {
  std::lock_guard lock(openblas_threads_mutex());
  const int before = openblas_threads();
  if (before != threads) openblas_set_threads(threads);
  struct Restore {
    int before, threads;
    ~Restore() {
      if (before != threads) openblas_set_threads(before);
    }
  } restore{before, threads};
  body();
}

}  // namespace plx::gemm
