#include "kernels/gemm/gemm_openblas.hpp"

#include <cblas.h>

#include <climits>

namespace plx::gemm {

std::mutex& openblas_threads_mutex() {
  static std::mutex mutex;
  return mutex;
}

void openblas_set_threads(int threads) { openblas_set_num_threads(threads); }
int openblas_threads() { return openblas_get_num_threads(); }

bool openblas_can_take(const Problem& p) {
  for (int64_t v : {p.m, p.n, p.k, p.lda, p.ldb, p.ldc})
    if (v > INT_MAX) return false;
  return true;
}

namespace {

template <class T>
void call(const Problem& p, int64_t item) {
  const auto* a = static_cast<const T*>(p.in.a) + item * p.stride_a;
  const auto* b = static_cast<const T*>(p.in.b) + item * p.stride_b;
  auto* c = static_cast<T*>(p.in.c) + item * p.stride_c;
  const CBLAS_TRANSPOSE ta = p.trans_a ? CblasTrans : CblasNoTrans, tb = p.trans_b ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<blasint>(p.m), n = static_cast<blasint>(p.n), k = static_cast<blasint>(p.k);
  // CBLAS wants ld >= 1 even for an empty dimension; ours may be 0 only where
  // src/api allowed it (nothing is read then).
  auto ld = [](int64_t v) { return static_cast<blasint>(v < 1 ? 1 : v); };
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(p.alpha), a, ld(p.lda), b, ld(p.ldb),
                static_cast<float>(p.beta), c, ld(p.ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, p.alpha, a, ld(p.lda), b, ld(p.ldb), p.beta, c, ld(p.ldc));
}

}  // namespace

void openblas_gemm_items(const Problem& p, int64_t first, int64_t count) {
  for (int64_t item = first; item < first + count; ++item) {
    if (p.precision == Precision::f32)
      call<float>(p, item);
    else
      call<double>(p, item);
  }
}

}  // namespace plx::gemm
