#include "kernels/gemm/gemm_blocked.hpp"

#include <algorithm>
#include <cstring>

#include "exec/parallel_for.hpp"

// Compiled once per instruction set by Highway's foreach_target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm/gemm_blocked.cpp"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/targets.h"

#ifndef PLX_GEMM_BLOCKED_ONCE
#define PLX_GEMM_BLOCKED_ONCE
namespace plx::gemm {

// Rows of a micro-kernel's block of C: 4 rows x 2 vectors = 8 accumulators,
// half the vector registers of SSE4/AVX2, leaving room for the B vectors.
constexpr int64_t kMr = 4;

// One tile of C and where its operands are (row-major; transposes resolved
// when packing).
template <class T>
struct TileJob {
  const T* a;
  const T* b;
  T* c;
  int64_t lda, ldb, ldc;
  bool trans_a, trans_b;
  int64_t i0, mi, j0, nj, k;
  int64_t kc;  // k block
  T alpha, beta;
};

}  // namespace plx::gemm
#endif

HWY_BEFORE_NAMESPACE();
namespace plx::gemm {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void Tile(const TileJob<T>& t) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t nr = 2 * N;  // columns of a B panel
  // C tile = beta C tile: beta = 0 writes zeros without reading C (BLAS).
  for (int64_t i = 0; i < t.mi; ++i) {
    T* row = t.c + (t.i0 + i) * t.ldc + t.j0;
    if (t.beta == T(0))
      std::fill(row, row + t.nj, T(0));
    else if (t.beta != T(1))
      for (int64_t j = 0; j < t.nj; ++j) row[j] *= t.beta;
  }
  const int64_t a_panels = (t.mi + kMr - 1) / kMr, b_panels = (t.nj + nr - 1) / nr;
  auto pa = hwy::AllocateAligned<T>(static_cast<size_t>(a_panels * kMr * t.kc));
  auto pb = hwy::AllocateAligned<T>(static_cast<size_t>(b_panels * nr * t.kc));
  auto at = [&](int64_t i, int64_t p) { return t.trans_a ? t.a[p * t.lda + i] : t.a[i * t.lda + p]; };
  auto bt = [&](int64_t p, int64_t j) { return t.trans_b ? t.b[j * t.ldb + p] : t.b[p * t.ldb + j]; };
  HWY_ALIGN T spill[2 * HWY_MAX_BYTES / sizeof(T)];

  for (int64_t p0 = 0; p0 < t.k; p0 += t.kc) {
    const int64_t kp = std::min(t.kc, t.k - p0);
    // Panels, k-major: panel q holds, for each p, kMr values of op(A) (or nr of op(B)).
    for (int64_t q = 0; q < a_panels; ++q) {
      T* dst = pa.get() + q * kMr * kp;
      for (int64_t p = 0; p < kp; ++p)
        for (int64_t r = 0; r < kMr; ++r) {
          const int64_t i = q * kMr + r;
          dst[p * kMr + r] = i < t.mi ? at(t.i0 + i, p0 + p) : T(0);
        }
    }
    for (int64_t q = 0; q < b_panels; ++q) {
      T* dst = pb.get() + q * nr * kp;
      for (int64_t p = 0; p < kp; ++p)
        for (int64_t s = 0; s < nr; ++s) {
          const int64_t j = q * nr + s;
          dst[p * nr + s] = j < t.nj ? bt(p0 + p, t.j0 + j) : T(0);
        }
    }
    const auto va = hn::Set(d, t.alpha);
    for (int64_t qb = 0; qb < b_panels; ++qb) {
      const T* bp = pb.get() + qb * nr * kp;
      const int64_t cols = std::min(nr, t.nj - qb * nr);
      for (int64_t qa = 0; qa < a_panels; ++qa) {
        const T* ap = pa.get() + qa * kMr * kp;
        const int64_t rows = std::min(kMr, t.mi - qa * kMr);
        auto c00 = hn::Zero(d), c01 = hn::Zero(d), c10 = hn::Zero(d), c11 = hn::Zero(d);
        auto c20 = hn::Zero(d), c21 = hn::Zero(d), c30 = hn::Zero(d), c31 = hn::Zero(d);
        for (int64_t p = 0; p < kp; ++p) {
          const auto b0 = hn::Load(d, bp + p * nr), b1 = hn::Load(d, bp + p * nr + N);
          const T* a = ap + p * kMr;
          const auto a0 = hn::Set(d, a[0]), a1 = hn::Set(d, a[1]), a2 = hn::Set(d, a[2]), a3 = hn::Set(d, a[3]);
          c00 = hn::MulAdd(a0, b0, c00);
          c01 = hn::MulAdd(a0, b1, c01);
          c10 = hn::MulAdd(a1, b0, c10);
          c11 = hn::MulAdd(a1, b1, c11);
          c20 = hn::MulAdd(a2, b0, c20);
          c21 = hn::MulAdd(a2, b1, c21);
          c30 = hn::MulAdd(a3, b0, c30);
          c31 = hn::MulAdd(a3, b1, c31);
        }
        const decltype(c00) acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
        T* c = t.c + (t.i0 + qa * kMr) * t.ldc + t.j0 + qb * nr;
        for (int64_t r = 0; r < rows; ++r) {
          T* row = c + r * t.ldc;
          if (cols == nr) {
            hn::StoreU(hn::MulAdd(va, acc[r][0], hn::LoadU(d, row)), d, row);
            hn::StoreU(hn::MulAdd(va, acc[r][1], hn::LoadU(d, row + N)), d, row + N);
          } else {  // the tile's last columns: through memory
            hn::Store(acc[r][0], d, spill);
            hn::Store(acc[r][1], d, spill + N);
            for (int64_t s = 0; s < cols; ++s) row[s] += t.alpha * spill[s];
          }
        }
      }
    }
  }
}

void TileF32(const TileJob<float>& t) { Tile(t); }
void TileF64(const TileJob<double>& t) { Tile(t); }
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace plx::gemm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plx::gemm {

HWY_EXPORT(TileF32);
HWY_EXPORT(TileF64);
HWY_EXPORT(TargetName);

namespace {

// Tile sizes: a packed block of op(B) (kKc x tile columns) stays in L2 while
// the tile's rows stream past it; a block of op(A) (tile rows x kKc) in L1/L2.
constexpr int64_t kKc = 256;
template <class T>
constexpr int64_t kTileRows = sizeof(T) == 4 ? 96 : 64;
template <class T>
constexpr int64_t kTileCols = sizeof(T) == 4 ? 512 : 256;

template <class T>
RunOutcome run(const RunEnv& env, const Problem& p, int64_t item, const RunSettings& settings) {
  TileJob<T> base{static_cast<const T*>(p.in.a) + item * p.stride_a,
                  static_cast<const T*>(p.in.b) + item * p.stride_b,
                  static_cast<T*>(p.in.c) + item * p.stride_c,
                  p.lda, p.ldb, p.ldc, p.trans_a, p.trans_b,
                  0, 0, 0, 0, p.k, kKc, static_cast<T>(p.alpha), static_cast<T>(p.beta)};
  const int64_t row_tiles = (p.m + kTileRows<T> - 1) / kTileRows<T>;
  const int64_t col_tiles = (p.n + kTileCols<T> - 1) / kTileCols<T>;
  RunSettings s = settings;
  s.grain = 1;  // a tile is already a large piece of work
  s.progress = nullptr;
  return parallel_for(
      env, 0, row_tiles * col_tiles,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t t = begin; t < end; ++t) {
          TileJob<T> job = base;
          job.i0 = (t / col_tiles) * kTileRows<T>;
          job.mi = std::min(kTileRows<T>, p.m - job.i0);
          job.j0 = (t % col_tiles) * kTileCols<T>;
          job.nj = std::min(kTileCols<T>, p.n - job.j0);
          if constexpr (sizeof(T) == 4)
            HWY_DYNAMIC_DISPATCH(TileF32)(job);
          else
            HWY_DYNAMIC_DISPATCH(TileF64)(job);
        }
        return 0;
      },
      s);
}

}  // namespace

RunOutcome blocked_gemm(const RunEnv& env, const Problem& p, int64_t item, const RunSettings& settings) {
  return p.precision == Precision::f32 ? run<float>(env, p, item, settings) : run<double>(env, p, item, settings);
}

const char* blocked_target() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace plx::gemm
#endif  // HWY_ONCE
