// The GEMM tests' reference: C = alpha op(A) op(B) + beta C in double
// precision, element by element, in either layout, with BLAS's edge cases
// (k = 0 or alpha = 0: A and B not read; beta = 0: C not read); and the
// random matrices and the comparison the tests share.
#pragma once

#include <gtest/gtest.h>
#include <parallax.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "last_error.hpp"

namespace gemm_test {

// A matrix in a vector of doubles (converted to float for F32 calls), with
// its stored shape and leading dimension in the layout of the call.
struct Mat {
  int64_t rows = 0, cols = 0, ld = 0;  // as stored
  bool row_major = true;
  std::vector<double> v;
  double& at(int64_t i, int64_t j) { return v[static_cast<size_t>(row_major ? i * ld + j : i + j * ld)]; }
  double at(int64_t i, int64_t j) const { return v[static_cast<size_t>(row_major ? i * ld + j : i + j * ld)]; }
};

// rows x cols stored in `row_major` layout with `pad` spare elements per
// line; values in [-1, 1], the padding NaN (a kernel reading it shows).
inline Mat random_mat(int64_t rows, int64_t cols, bool row_major, int64_t pad, uint64_t seed) {
  Mat m;
  m.rows = rows;
  m.cols = cols;
  m.row_major = row_major;
  m.ld = std::max<int64_t>((row_major ? cols : rows) + pad, 1);
  const int64_t outer = row_major ? rows : cols;
  m.v.assign(static_cast<size_t>(std::max<int64_t>(outer, 1) * m.ld), NAN);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m.at(i, j) = u(rng);
  return m;
}

// The reference product into `c` (and, per element, the scale of its terms,
// sum |alpha a b| + |beta c|, for the tolerance).
inline void reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const Mat& a, const Mat& b,
                      double beta, Mat& c, std::vector<double>* scale = nullptr) {
  if (scale) scale->assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, mag = 0;
      if (k > 0 && alpha != 0)
        for (int64_t p = 0; p < k; ++p) {
          const double x = ta ? a.at(p, i) : a.at(i, p), y = tb ? b.at(j, p) : b.at(p, j);
          sum += x * y;
          mag += std::fabs(x * y);
        }
      const double old = c.at(i, j);
      const double value = alpha * sum + (beta == 0 ? 0.0 : beta * old);
      if (scale) (*scale)[static_cast<size_t>(i * n + j)] = std::fabs(alpha) * mag + (beta == 0 ? 0 : std::fabs(beta * old));
      c.at(i, j) = value;
    }
}

// Host storage of a Mat in the call's precision.
struct Host {
  std::vector<float> f;
  std::vector<double> d;
  Host(const Mat& m, int32_t precision) {
    if (precision == PLX_PRECISION_F32) f.assign(m.v.begin(), m.v.end());
    else d = m.v;
  }
  void* data() { return f.empty() ? static_cast<void*>(d.data()) : static_cast<void*>(f.data()); }
  double get(size_t i) const { return f.empty() ? d[i] : static_cast<double>(f[i]); }
};

// The reference rounded as the call's inputs are (F32 calls get float inputs).
inline Mat rounded(const Mat& m, int32_t precision) {
  Mat r = m;
  if (precision == PLX_PRECISION_F32)
    for (double& x : r.v) x = static_cast<double>(static_cast<float>(x));
  return r;
}

inline double tolerance(int32_t precision) { return precision == PLX_PRECISION_F32 ? 1e-4 : 1e-12; }

// Every element of C within tolerance x (the scale of its terms, at least
// the largest |reference|, so sums that cancel are not held to digits they
// never had); NaN exactly where the reference has NaN; padding untouched.
inline void expect_close(const Mat& want, const std::vector<double>& scale, const Host& got, int32_t precision,
                         const std::string& what) {
  double largest = 0;
  for (int64_t i = 0; i < want.rows; ++i)
    for (int64_t j = 0; j < want.cols; ++j)
      if (std::isfinite(want.at(i, j))) largest = std::max(largest, std::fabs(want.at(i, j)));
  int bad = 0;
  for (int64_t i = 0; i < want.rows && bad < 5; ++i)
    for (int64_t j = 0; j < want.cols && bad < 5; ++j) {
      const size_t at = static_cast<size_t>(want.row_major ? i * want.ld + j : i + j * want.ld);
      const double w = want.v[at], g = got.get(at);
      if (std::isnan(w) || std::isnan(g)) {
        if (std::isnan(w) != std::isnan(g)) {
          ADD_FAILURE() << what << ": C(" << i << ", " << j << ") = " << g << ", want " << w;
          ++bad;
        }
        continue;
      }
      const double limit = tolerance(precision) * std::max(scale[static_cast<size_t>(i * want.cols + j)], largest);
      if (std::fabs(g - w) > limit) {
        ADD_FAILURE() << what << ": C(" << i << ", " << j << ") = " << g << ", want " << w << " (off by "
                      << std::fabs(g - w) << ", limit " << limit << ")";
        ++bad;
      }
    }
  // The padding between lines (NaN in the input) is never written.
  const int64_t line = want.row_major ? want.cols : want.rows, outer = want.row_major ? want.rows : want.cols;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t x = line; x < want.ld; ++x)
      if (!std::isnan(got.get(static_cast<size_t>(o * want.ld + x)))) {
        ADD_FAILURE() << what << ": padding element " << x << " of line " << o << " was written";
        return;
      }
}

// One product: op shapes from (m, n, k), matrices random with padding.
struct Case {
  int32_t precision = PLX_PRECISION_F32;
  bool row_major = true, ta = false, tb = false;
  int64_t m = 1, n = 1, k = 1;
  double alpha = 1.5, beta = -0.5;
  int64_t pad = 3;
  uint64_t seed = 1;
  std::string name() const {
    return std::string(precision == PLX_PRECISION_F32 ? "F32 " : "F64 ") + (row_major ? "row " : "col ") +
           (ta ? "T" : "N") + (tb ? "T" : "N") + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
           " k=" + std::to_string(k) + " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta);
  }
};

struct Problem {
  Case c;
  Mat a, b, c0, want;
  std::vector<double> scale;
  Host ha, hb, hc;
  explicit Problem(const Case& cs)
      : c(cs),
        a(random_mat(cs.ta ? cs.k : cs.m, cs.ta ? cs.m : cs.k, cs.row_major, cs.pad, cs.seed)),
        b(random_mat(cs.tb ? cs.n : cs.k, cs.tb ? cs.k : cs.n, cs.row_major, cs.pad, cs.seed + 1)),
        c0(random_mat(cs.m, cs.n, cs.row_major, cs.pad, cs.seed + 2)),
        ha(a, cs.precision),
        hb(b, cs.precision),
        hc(c0, cs.precision) {
    want = rounded(c0, cs.precision);
    reference(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, rounded(a, cs.precision), rounded(b, cs.precision), cs.beta,
              want, &scale);
  }
  plx_gemm_desc_t desc(int32_t device) {
    plx_gemm_desc_t d;
    plx_gemm_desc_init(&d, sizeof d);
    d.precision = c.precision;
    d.layout = c.row_major ? PLX_ROW_MAJOR : PLX_COL_MAJOR;
    d.trans_a = c.ta ? PLX_TRANS : PLX_NO_TRANS;
    d.trans_b = c.tb ? PLX_TRANS : PLX_NO_TRANS;
    d.m = c.m;
    d.n = c.n;
    d.k = c.k;
    d.alpha = c.alpha;
    d.beta = c.beta;
    d.a = ha.data();
    d.lda = a.ld;
    d.b = hb.data();
    d.ldb = b.ld;
    d.c = hc.data();
    d.ldc = c0.ld;
    d.device = device;
    return d;
  }
  void check(const std::string& what) { expect_close(want, scale, hc, c.precision, what + " " + c.name()); }
};

}  // namespace gemm_test
