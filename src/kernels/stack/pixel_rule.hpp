// The per-pixel rule of plx_stack, one pixel at a time: the definition that
// the SIMD loops (pixel_simd.cpp) follow operation for operation, and the
// OpenCL kernel (stack.cl) in its decisions (it takes a range's sums directly,
// about the range's median: within 1e-6 of these), used for any number of
// frames and for MINMAX.
//
// A pixel's samples are sorted (NaN as +inf, so the finite ones are a range
// [f0, f1)); every clipping iteration keeps a sub-range, so its median is
// O(1), and so are its sums: they come from prefix sums K of d = s - c0 (c0 =
// median of the finite samples) accumulated outward from the median, so that
// the sums of a range never include a value outside it and a 1e30 outlier
// cannot swamp the others. Where a range lies far from c0 for its spread
// (most of a pixel's samples are outliers), its sums are taken again about
// its own median (prefix_sums_trusted).
//
// bindings/python/parallax/_pooled.py follows this rule to the same bits for
// sigma_clipped_mean's pooled samples (axis=None: one pixel of millions of
// frames, which plx_stack's per-frame bookkeeping would make huge): a change
// here is a change there, and its tests compare the two.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/stack/pixel_block.hpp"

namespace plx::stack {

// Median of s[a, a + m): the middle value, or the mean of the two middle ones.
// NaN when m is 0. `stride`: floats from one sample to the next.
double median_of(const float* s, int64_t a, int64_t m, ptrdiff_t stride = 1);

// Quantile q in [0, 1] of s[a, a + m) by numpy's "linear" method (m >= 1).
double quantile_of(const float* s, int64_t a, int64_t m, double q);

// The outcome of rejection at one pixel: finite samples in [low, high] are
// kept (for MINMAX: sorted positions [first, last)); `centre` is c0.
struct Bounds {
  double low = 0, high = 0;
  double centre = 0;
  int64_t first = 0, last = 0;  // kept range in the sorted samples
  bool by_rank = false;         // MINMAX applied: ties are ranked by frame
};

// Rejects at one pixel. s: the n sorted samples; finite in [f0, f1); k1/k2:
// prefix sums over [f0, f1] (see build_prefix) when the rule needs them.
Bounds reject(const PixelRule& rule, const float* s, int64_t f0, int64_t f1, const double* k1, const double* k2);

// Fills k1[f0..f1], k2[f0..f1] for centre c0.
void build_prefix(const float* s, int64_t f0, int64_t f1, double c0, double* k1, double* k2);

// Whether a range's sums s1 (of d = s - c0) and s2 (of d^2) over m samples,
// taken from the prefix sums, are good: 256 s1^2 <= 255 s2 m, that is q <=
// 256 var (q = s2 / m, the mean of d^2). Each d carries a rounding relative
// to itself, and so do the prefix sums (of positive terms, or of terms the
// range's own exceed: the rows between a range and the middle row lie between
// it and c0), so the variance carries one of about n epsilon relative to q:
// good to some 256 n epsilon while the range's mean is within 16 standard
// deviations of c0. Only pixels whose samples are mostly outliers get
// further; their sums are taken again, about the range's median.
constexpr double kTrustedSpread = 256;
inline bool prefix_sums_trusted(double s1, double s2, int64_t m) {
  return kTrustedSpread * (s1 * s1) <= (kTrustedSpread - 1) * (s2 * static_cast<double>(m));
}

// The variance of m samples from their sums s1 and s2 (about any centre):
// (m s2 - s1^2) / m^2. With exact sums (integer data, or few distinct
// digits) the numerator is exact and the variance carries one rounding, so a
// sample exactly on a bound stays on it, as in astropy's two passes: the
// form s2 / m - (s1 / m)^2 it replaces rounded s1 / m first, and with 5
// frames of small counts (0, 0, 1, 2, 0 at sigma_high 2.5: the bound is 2)
// rejected a sample astropy keeps in one pixel of nine.
inline double variance_from_sums(double s1, double s2, double m) { return (m * s2 - s1 * s1) / (m * m); }

// The bounds about the mean of m samples with sums s1, s2 about `base`:
// base + (s1 -/+ sigma sqrt(m s2 - s1^2)) / m. One division, after the root:
// with exact sums and a bound on a representable value, every step is exact
// (nine samples 0 and one 1 at sigma 3: the bound 1). The mean and the
// deviation taken apart, 0.1 + 3 x 0.3 rounded three times, put it an ulp
// below the 1, which astropy keeps.
inline std::pair<double, double> mean_centre_bounds(double s1, double s2, double m, double base, double sigma_low,
                                                    double sigma_high) {
  double spread = m * s2 - s1 * s1;
  if (spread < 0) spread = 0;
  const double root = std::sqrt(spread);
  return {base + (s1 - sigma_low * root) / m, base + (s1 + sigma_high * root) / m};
}

// The sums of d = v - c and d^2 over the samples at sorted positions
// [a, a + m) (stride floats apart), each v clamped to [lo, hi] (the
// winsorized sums; -inf, inf for the plain ones), in order: the moments of a
// range taken directly, about a centre c within it, where its prefix sums
// cannot be trusted.
void sums_about(const float* s, ptrdiff_t stride, int64_t a, int64_t m, double c, double lo, double hi, double& s1,
                double& s2);

// The mean (or, with `sum`, the sum) of the samples at sorted positions
// [a, a + m), m >= 1, from their sums about their own median.
double mean_about_median(const float* s, ptrdiff_t stride, int64_t a, int64_t m, bool sum);

// Whether the rule needs the prefix sums.
inline bool needs_prefix(const PixelRule& rule) {
  return rule.reject == Reject::sigma_clip || rule.reject == Reject::winsorized || rule.combine == Combine::mean ||
         rule.combine == Combine::sum;
}

// Runs the rule over a block, pixel by pixel.
void stack_block_scalar(const PixelRule& rule, const PixelBlock& block, Scratch& scratch);

}  // namespace plx::stack
