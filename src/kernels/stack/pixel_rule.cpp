#include "kernels/stack/pixel_rule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>

namespace plx::stack {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMax = std::numeric_limits<double>::max();

double clamp_to(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

// Iterative (winsorized) sigma clipping as astropy's sigma_clip.
Bounds sigma_clip(const PixelRule& r, const float* s, int64_t f0, int64_t f1, const double* k1, const double* k2,
                  double c0) {
  const bool winsor = r.reject == Reject::winsorized;
  Bounds out;
  out.centre = c0;
  int64_t a = f0, b = f1;
  for (int it = 0;;) {
    const int64_t m = b - a;
    if (m == 0) {  // everything was rejected: astropy's bounds become NaN
      out.low = out.high = kNaN;
      break;
    }
    const double md = static_cast<double>(m);
    double med, s1, s2, lo_clamp = -kInf, hi_clamp = kInf;
    if (!winsor) {
      med = median_of(s, a, m);
      s1 = k1[b] - k1[a];
      s2 = k2[b] - k2[a];
    } else {
      // Clamped to [q05, q95]: positions up to i05 become q05, from i95 + 1 q95.
      const double q05 = quantile_of(s, a, m, 0.05), q95 = quantile_of(s, a, m, 0.95);
      const auto i05 = static_cast<int64_t>(std::floor((md - 1.0) * 0.05));
      const auto i95 = static_cast<int64_t>(std::floor((md - 1.0) * 0.95));
      const double below = static_cast<double>(i05 + 1), above = static_cast<double>(m - i95 - 1);
      const double d05 = q05 - c0, d95 = q95 - c0;
      s1 = below * d05 + (k1[a + i95 + 1] - k1[a + i05 + 1]) + above * d95;
      s2 = below * (d05 * d05) + (k2[a + i95 + 1] - k2[a + i05 + 1]) + above * (d95 * d95);
      const int64_t mid = a + m / 2;
      med = (m & 1) ? clamp_to(s[mid], q05, q95) : (clamp_to(s[mid - 1], q05, q95) + clamp_to(s[mid], q05, q95)) * 0.5;
      lo_clamp = q05;
      hi_clamp = q95;
    }
    // Two samples, x1 < x2, have the bounds med -/+ sigma (x2 - x1) / 2: at
    // sigma 1 exactly on them, where astropy's two passes are exact (and keep
    // both). Their sums about their median (d = -h, h) are exact too.
    double base = c0;  // the centre of the sums
    if (m <= 2 || !prefix_sums_trusted(s1, s2, m)) {
      sums_about(s, 1, a, m, med, lo_clamp, hi_clamp, s1, s2);
      base = med;
    }
    double lo, hi;
    if (r.centre == Centre::median) {
      double var = variance_from_sums(s1, s2, md);
      if (var < 0) var = 0;
      const double sd = std::sqrt(var);
      lo = med - r.sigma_low * sd;
      hi = med + r.sigma_high * sd;
    } else {
      std::tie(lo, hi) = mean_centre_bounds(s1, s2, md, base, r.sigma_low, r.sigma_high);
    }
    out.low = lo;
    out.high = hi;
    int64_t a2 = a;
    while (a2 < b && static_cast<double>(s[a2]) < lo) ++a2;
    int64_t b2 = b;
    while (b2 > a2 && static_cast<double>(s[b2 - 1]) > hi) --b2;
    ++it;
    if (a2 == a && b2 == b) break;
    a = a2;
    b = b2;
    if (r.max_iters > 0 && it >= r.max_iters) break;
  }
  return out;
}

// Finite samples within [low, high] (NaN bounds: all of them).
void keep_within(Bounds& out, const float* s, int64_t f0, int64_t f1) {
  if (std::isnan(out.low) || std::isnan(out.high)) {
    out.low = -kInf;
    out.high = kInf;
  }
  int64_t a = f0;
  while (a < f1 && static_cast<double>(s[a]) < out.low) ++a;
  int64_t b = f1;
  while (b > a && static_cast<double>(s[b - 1]) > out.high) --b;
  out.first = a;
  out.last = b;
}

// MINMAX: whether the sample x of frame j is kept, ranking ties by frame.
struct RankRule {
  double low_value = 0, high_value = 0;   // lowest and highest kept values
  int64_t below_low = 0, below_high = 0;  // finite samples under each
  int64_t kept_from = 0, kept_to = 0;     // kept ranks [from, to)
  int64_t seen_low = 0, seen_high = 0;    // ties met so far

  RankRule(const float* s, int64_t f0, const Bounds& b) {
    low_value = s[b.first];
    high_value = s[b.last - 1];
    int64_t i = b.first;
    while (i > f0 && s[i - 1] == s[b.first]) --i;
    below_low = i - f0;
    i = b.last - 1;
    while (i > f0 && s[i - 1] == s[b.last - 1]) --i;
    below_high = i - f0;
    kept_from = b.first - f0;
    kept_to = b.last - f0;
  }
  bool kept(double x) {
    if (x < low_value || x > high_value) return false;
    int64_t rank;
    if (x == low_value)
      rank = below_low + seen_low++;
    else if (x == high_value)
      rank = below_high + seen_high++;
    else
      return true;
    return rank >= kept_from && rank < kept_to;
  }
};

// Mean, sum or weighted mean without rejection: one pass in frame order.
void plain_pixel(const PixelRule& rule, const float* x, int64_t n, const double* w, int64_t p,
                 const PixelBlock& block) {
  double sum = 0, weights = 0;
  int32_t count = 0, low = 0, high = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double v = x[j];
    if (std::isfinite(v)) {
      const double wj = w ? w[j] : 1.0;
      ++count;
      if (rule.combine == Combine::weighted_mean) {
        sum += wj * v;
        weights += wj;
      } else {
        sum += v;
      }
    } else if (v == -kInf || v == kInf) {
      ++(v < 0 ? low : high);
      if (block.frame_rejected) ++block.frame_rejected[j];
    }
  }
  double value = kNaN;
  if (count > 0) {
    value = rule.combine == Combine::sum ? sum : rule.combine == Combine::weighted_mean ? sum / weights : sum / count;
  }
  block.image[p] = static_cast<float>(value);
  if (block.count) block.count[p] = count;
  if (block.low) block.low[p] = low;
  if (block.high) block.high[p] = high;
}

}  // namespace

double median_of(const float* s, int64_t a, int64_t m, ptrdiff_t stride) {
  if (m == 0) return kNaN;
  const double hi = s[(a + m / 2) * stride];
  return (m & 1) ? hi : (static_cast<double>(s[(a + m / 2 - 1) * stride]) + hi) * 0.5;
}

void sums_about(const float* s, ptrdiff_t stride, int64_t a, int64_t m, double c, double lo, double hi, double& s1,
                double& s2) {
  s1 = s2 = 0;
  for (int64_t i = a; i < a + m; ++i) {
    const double d = clamp_to(s[i * stride], lo, hi) - c;
    s1 += d;
    s2 += d * d;
  }
}

double mean_about_median(const float* s, ptrdiff_t stride, int64_t a, int64_t m, bool sum) {
  const double c = median_of(s, a, m, stride);
  double s1, s2;
  sums_about(s, stride, a, m, c, -kInf, kInf, s1, s2);
  const auto md = static_cast<double>(m);
  return sum ? c * md + s1 : c + s1 / md;
}

double quantile_of(const float* s, int64_t a, int64_t m, double q) {
  const double pos = (static_cast<double>(m) - 1.0) * q;
  const double fl = std::floor(pos);
  const auto i = static_cast<int64_t>(fl);
  const double g = pos - fl;
  const double lo = s[a + i], hi = s[a + std::min(i + 1, m - 1)];
  const double diff = hi - lo;
  return g >= 0.5 ? hi - diff * (1.0 - g) : lo + diff * g;
}

void build_prefix(const float* s, int64_t f0, int64_t f1, double c0, double* k1, double* k2) {
  const int64_t m0 = f0 + (f1 - f0) / 2;
  double a1 = 0, a2 = 0;
  k1[m0] = 0;
  k2[m0] = 0;
  for (int64_t j = m0; j < f1; ++j) {
    const double d = static_cast<double>(s[j]) - c0;
    a1 += d;
    a2 += d * d;
    k1[j + 1] = a1;
    k2[j + 1] = a2;
  }
  a1 = a2 = 0;
  for (int64_t j = m0 - 1; j >= f0; --j) {
    const double d = static_cast<double>(s[j]) - c0;
    a1 += d;
    a2 += d * d;
    k1[j] = 0 - a1;
    k2[j] = 0 - a2;
  }
}

Bounds reject(const PixelRule& rule, const float* s, int64_t f0, int64_t f1, const double* k1, const double* k2) {
  const int64_t nf = f1 - f0;
  const double c0 = median_of(s, f0, nf);
  Bounds out;
  out.centre = c0;
  out.low = -kInf;
  out.high = kInf;
  if (nf >= 3) {
    switch (rule.reject) {
      case Reject::none:
        break;
      case Reject::sigma_clip:
      case Reject::winsorized:
        out = sigma_clip(rule, s, f0, f1, k1, k2, c0);
        break;
      case Reject::percentile:
        out.low = quantile_of(s, f0, nf, rule.percentile_low / 100.0);
        out.high = quantile_of(s, f0, nf, rule.percentile_high / 100.0);
        break;
      case Reject::minmax:
        if (nf > static_cast<int64_t>(rule.n_low) + rule.n_high) {
          out.first = f0 + rule.n_low;
          out.last = f1 - rule.n_high;
          out.low = s[out.first];
          out.high = s[out.last - 1];
          out.by_rank = true;
          return out;
        }
        break;
    }
  }
  keep_within(out, s, f0, f1);
  return out;
}

void stack_block_scalar(const PixelRule& rule, const PixelBlock& block, Scratch& scratch) {
  const int64_t n = block.frames;
  const auto un = static_cast<size_t>(n);
  float* x = scratch.floats(2 * un + 16);
  float* s = x + un + 8;
  double* k1 = scratch.doubles(2 * un + 16);
  double* k2 = k1 + un + 8;
  const bool prefix = needs_prefix(rule);
  const bool frame_pass = rule.combine == Combine::weighted_mean || block.frame_rejected;

  for (int64_t p = 0; p < block.pixels; ++p) {
    for (int64_t j = 0; j < n; ++j) {
      float v = block.rows[j][p];
      if (block.scale) v = static_cast<float>(block.scale[j] * static_cast<double>(v) + block.offset[j]);
      x[j] = v + 0.0f;  // -0 becomes +0, so that sorting is a function of the values
    }
    if (rule.plain_sum()) {
      plain_pixel(rule, x, n, block.weight, p, block);
      continue;
    }
    int64_t negative = 0, finite = 0, nan = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float v = x[j];
      s[j] = std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
      negative += v == -std::numeric_limits<float>::infinity();
      finite += std::isfinite(v);
      nan += std::isnan(v);
    }
    std::sort(s, s + n);
    const int64_t f0 = negative, f1 = negative + finite;
    float value = std::numeric_limits<float>::quiet_NaN();
    int32_t count = 0, low = static_cast<int32_t>(f0), high = static_cast<int32_t>(n - nan - f1);
    if (finite > 0) {
      if (prefix) build_prefix(s, f0, f1, median_of(s, f0, finite), k1, k2);
      Bounds b = reject(rule, s, f0, f1, k1, k2);
      const int64_t kept = b.last - b.first;
      count = static_cast<int32_t>(kept);
      low = static_cast<int32_t>(b.first);
      high = static_cast<int32_t>(n - nan - b.last);
      double wsum = 0, wx = 0;
      if (frame_pass) {
        std::optional<RankRule> ranks;
        if (b.by_rank) ranks.emplace(s, f0, b);
        const double lo = std::max(b.low, -kMax), hi = std::min(b.high, kMax);
        for (int64_t j = 0; j < n; ++j) {
          const double v = x[j];
          const bool in = ranks ? std::isfinite(v) && ranks->kept(v) : v >= lo && v <= hi;
          if (in) {
            const double wj = block.weight ? block.weight[j] : 1.0;
            wsum += wj;
            wx += wj * v;
          } else if (!std::isnan(v) && block.frame_rejected) {
            ++block.frame_rejected[j];
          }
        }
      }
      if (kept > 0) {
        double v = 0;
        switch (rule.combine) {
          case Combine::mean:
          case Combine::sum: {
            const double s1 = k1[b.last] - k1[b.first];
            const bool sum = rule.combine == Combine::sum;
            if (!prefix_sums_trusted(s1, k2[b.last] - k2[b.first], kept))
              v = mean_about_median(s, 1, b.first, kept, sum);
            else
              v = sum ? b.centre * static_cast<double>(kept) + s1 : b.centre + s1 / static_cast<double>(kept);
            break;
          }
          case Combine::weighted_mean:  // numpy's average: about no centre that could lie far from the kept samples
            v = wx / wsum;
            break;
          case Combine::median:
            v = median_of(s, b.first, kept);
            break;
          case Combine::min:
            v = s[b.first];
            break;
          case Combine::max:
            v = s[b.last - 1];
            break;
        }
        value = static_cast<float>(v);
      }
    } else if (block.frame_rejected) {
      for (int64_t j = 0; j < n; ++j)
        if (std::isinf(x[j])) ++block.frame_rejected[j];
    }
    block.image[p] = value;
    if (block.count) block.count[p] = count;
    if (block.low) block.low[p] = low;
    if (block.high) block.high[p] = high;
  }
}

}  // namespace plx::stack
