#include "kernels/stack/frame_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

#include "exec/parallel_for.hpp"
#include "kernels/stack/finite_median.hpp"

namespace plx::stack {
namespace {

constexpr double kMadToSigma = 1.482602218505602;  // 1 / Phi^-1(3/4), as astropy's mad_std

// One channel plane of one frame, H x W contiguous.
int read_plane(const Frames& f, int64_t frame, int channel, std::vector<float>& plane) {
  plane.resize(static_cast<size_t>(f.pixels()));
  if (f.provider) {
    try {
      return f.provider(frame, 0, f.height, 0, f.width, channel, plane.data(), f.width);
    } catch (...) {
      return -1;
    }
  }
  for (int64_t r = 0; r < f.height; ++r)
    std::memcpy(plane.data() + r * f.width, f.at(frame, channel, r, 0), static_cast<size_t>(f.width) * sizeof(float));
  return 0;
}

// A pixel's part in a fit: left out (not finite in both frames, or 0 in
// both), or used and, by the last fit, kept or dropped. A byte per pixel:
// the fit's only memory besides the two planes.
enum Mark : char { kLeftOut = 0, kDropped = 1, kKept = 2 };

// Where a line's fit starts: the least median of squares (Rousseeuw) over an
// evenly spread sample of the pixels used: of the lines through 512 pairs of
// them, the one whose median absolute residual over the sample is least; and
// 3 standard deviations of its residuals (1.4826 x that median). Up to half
// the pixels may be outliers. Least squares over all pixels is pulled by a
// few per cent (bright outliers in 2% of a frame's pixels gave a slope of
// 0.11 instead of 0.83, and the clipping that followed kept them); Theil-Sen,
// tried next, by 29% (zero-filled borders, 20% outliers at a low signal to
// noise). Where more than half the sample lies exactly on the line, the
// limit is 0: the exact fit. nullopt where no pair has two values of x.
struct LineStart {
  double a, b, limit;
};

std::optional<LineStart> least_median_start(const std::vector<float>& x, const std::vector<float>& ref,
                                            const std::vector<Mark>& mark, size_t used) {
  constexpr size_t kSample = 256, kPairs = 512;
  const size_t k = std::min(used, kSample);
  std::vector<double> sx, sy, r(k);
  // The i-th of the sample is the (i used / k)-th pixel used.
  for (size_t i = 0, seen = 0; i < mark.size() && sx.size() < k; ++i)
    if (mark[i] != kLeftOut && seen++ == sx.size() * used / k) {
      sx.push_back(x[i]);
      sy.push_back(ref[i]);
    }
  auto median_abs_residual = [&](double a, double b) {
    for (size_t i = 0; i < k; ++i) r[i] = std::fabs(sy[i] - (a * sx[i] + b));
    std::nth_element(r.begin(), r.begin() + static_cast<ptrdiff_t>(k / 2), r.end());
    return r[k / 2];
  };
  std::optional<LineStart> best;
  double best_median = 0;
  uint64_t state = 0x9e3779b97f4a7c15u;  // the same pairs every run: the same bits for any worker count
  auto next = [&] {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return static_cast<size_t>((state >> 33) % k);
  };
  for (size_t p = 0; p < kPairs && k >= 2; ++p) {
    const size_t i = next(), j = next();
    if (sx[i] == sx[j]) continue;
    const double a = (sy[j] - sy[i]) / (sx[j] - sx[i]), b = sy[i] - a * sx[i];
    const double m = median_abs_residual(a, b);
    if (!best || m < best_median) {
      best = LineStart{a, b, 0};
      best_median = m;
    }
  }
  if (best) best->limit = 3 * kMadToSigma * best_median;
  return best;
}

// Robust least squares ref ~ a x + b over pixels finite in both: from a
// robust start (least_median_start), least squares over the pixels whose
// residual is within 3 standard deviations, refitted, each time testing every
// pixel against the last fit's residuals, until the pixels kept do not change
// (10 fits at most).
Result<std::pair<double, double>> linear_fit(const std::vector<float>& x, const std::vector<float>& ref,
                                             const std::string& what) {
  const size_t n = x.size();
  // Pixels 0 in both frames are left out: a border both frames were padded
  // with, no information about the line (and on it when it passes through 0).
  std::vector<Mark> mark(n, kLeftOut);
  size_t used = 0, zeros = 0;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(x[i]) && std::isfinite(ref[i])) {
      if (x[i] == 0 && ref[i] == 0) {
        ++zeros;
      } else {
        mark[i] = kKept;
        ++used;
      }
    }
  if (used < 2 && zeros > 0) {  // nothing but the zeros to fit
    for (size_t i = 0; i < n; ++i)
      if (x[i] == 0 && ref[i] == 0) mark[i] = kKept;
    used += zeros;
  }
  if (used < 2)
    return make_error(Code::invalid_argument, what,
                      " has fewer than 2 pixels finite in it and in the reference frame: a linear fit needs more");
  const auto first = static_cast<size_t>(std::find(mark.begin(), mark.end(), kKept) - mark.begin());
  bool constant = true;
  for (size_t i = first; i < n && constant; ++i) constant = mark[i] == kLeftOut || x[i] == x[first];
  if (constant)
    return make_error(Code::invalid_argument, what,
                      " is constant: a linear fit against the reference frame needs variation (use ADDITIVE or "
                      "MULTIPLICATIVE normalization)");
  if (const std::optional<LineStart> start = least_median_start(x, ref, mark, used))
    for (size_t i = 0; i < n; ++i)
      if (mark[i] != kLeftOut)
        mark[i] = std::fabs(ref[i] - (start->a * x[i] + start->b)) <= start->limit ? kKept : kDropped;
  double a = 1, b = 0;
  for (int it = 0; it < 10; ++it) {
    double count = 0, sx = 0, sy = 0, syy = 0;
    for (size_t i = 0; i < n; ++i)
      if (mark[i] == kKept) {
        count += 1;
        sx += x[i];
        sy += ref[i];
      }
    const double mx = count > 0 ? sx / count : 0, my = count > 0 ? sy / count : 0;
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; ++i)
      if (mark[i] == kKept) {
        const double dx = x[i] - mx, dy = ref[i] - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
      }
    if (!(sxx > 0)) {  // the pixels kept share one value of x (an exact line through few pixels): fit all
      for (Mark& m : mark)
        if (m == kDropped) m = kKept;
      continue;
    }
    a = sxy / sxx;
    b = my - a * mx;
    double rr = 0;
    for (size_t i = 0; i < n; ++i)
      if (mark[i] == kKept) {
        const double r = ref[i] - (a * x[i] + b);
        rr += r * r;
      }
    const double limit = 3 * std::sqrt(rr / count);
    // An exact fit leaves residuals of the floats' rounding: a limit at that
    // level would drop pixels at random (and, with many zeros, all but them).
    if (limit <= 0x1p-20 * std::sqrt(syy / count + my * my)) break;
    bool changed = false;
    for (size_t i = 0; i < n; ++i)
      if (mark[i] != kLeftOut) {
        const Mark now = std::fabs(ref[i] - (a * x[i] + b)) <= limit ? kKept : kDropped;
        changed |= now != mark[i];
        mark[i] = now;
      }
    if (!changed) break;
  }
  return std::make_pair(a, b);
}

// Median and MAD of a plane's finite pixels (the plane is overwritten). The
// deviations go back into the float plane, halved where one exceeds FLT_MAX
// (up to 2 FLT_MAX; as inf the median would leave it out). Halving is exact
// but for subnormal deviations, hence only then.
std::pair<double, double> median_and_mad(std::vector<float>& plane, bool want_mad) {
  const double med = median_of_finite(plane);
  if (!want_mad || std::isnan(med)) return {med, 0.0};
  double widest = 0;
  for (float v : plane)
    if (std::isfinite(v)) widest = std::max(widest, std::fabs(static_cast<double>(v) - med));
  const double scale = widest > std::numeric_limits<float>::max() ? 0.5 : 1.0;
  for (float& v : plane)
    if (std::isfinite(v)) v = static_cast<float>(scale * std::fabs(static_cast<double>(v) - med));
  return {med, median_of_finite(plane) / scale};
}

// The weights the pixel loops use: a weighted mean does not change when all
// of a channel's weights are scaled, and scaled so that the largest is at
// most 1, neither their sum nor a weight times a sample can overflow (five
// given weights of 1e308 made a NaN image). Given weights are scaled by a
// power of two, exactly; noise weights are (sigma_min / sigma)^2, where
// 1 / sigma^2 itself overflows for sigma below 1e-154.
void relative_weights(FrameParams& out, const std::vector<double>& sigma, int64_t n, int channels) {
  for (int c = 0; c < channels; ++c) {
    double* w = out.weight.data() + static_cast<size_t>(c) * static_cast<size_t>(n);
    const double* sd = sigma.empty() ? nullptr : sigma.data() + static_cast<size_t>(c) * static_cast<size_t>(n);
    if (sd) {
      const double least = *std::min_element(sd, sd + n);
      for (int64_t j = 0; j < n; ++j) w[j] = (least / sd[j]) * (least / sd[j]);
    } else {
      int e = 0;
      std::frexp(*std::max_element(w, w + n), &e);
      for (int64_t j = 0; j < n; ++j) w[j] = std::ldexp(w[j], -e);
    }
  }
}

}  // namespace

bool needs_frame_pass(const FramePolicy& policy) {
  return policy.normalize != Normalize::none || policy.weights == Weights::noise;
}

Result<int> frame_pass_workers(const Frames& f, const FramePolicy& policy, int64_t budget_bytes, int workers,
                               const std::string& name) {
  if (!needs_frame_pass(policy)) return workers;
  const bool fit = policy.normalize == Normalize::linear_fit;
  constexpr int64_t kHistogram = 65536 * 4;  // median_of_finite's
  const int64_t per_worker = f.pixels() * (fit ? 5 : 4) + kHistogram;
  const int64_t shared = fit ? f.pixels() * 4 * f.channels : 0;
  const int64_t fit_workers = (budget_bytes - shared) / per_worker;
  if (fit_workers < 1)
    return make_error(Code::out_of_memory, name, ": normalization and NOISE_VARIANCE weights measure each frame's ",
                      f.height, " x ", f.width, " channel planes whole: ", per_worker, " bytes",
                      fit ? cat(", and ", shared, " for the reference frame's planes (LINEAR_FIT)") : std::string(),
                      ", more than the memory budget (", budget_bytes,
                      " bytes): raise the budget (memory_budget_bytes, ram_fraction), or stack without them");
  return static_cast<int>(std::min<int64_t>(workers, fit_workers));
}

Result<FrameParams> frame_params(const RunEnv& env, const Frames& f, const FramePolicy& policy,
                                 const RunSettings& settings, RunReport* report) {
  const int64_t n = f.count;
  const size_t entries = static_cast<size_t>(n) * static_cast<size_t>(f.channels);
  FrameParams out;
  out.scale.assign(entries, 1.0);
  out.offset.assign(entries, 0.0);
  out.weight.assign(entries, 1.0);
  if (policy.weights == Weights::given)
    for (int c = 0; c < f.channels; ++c)
      for (int64_t j = 0; j < n; ++j) out.weight[static_cast<size_t>(c * n + j)] = policy.given_weights[j];
  out.weighted = policy.weights != Weights::none;
  out.normalized = policy.normalize != Normalize::none;
  const bool want_mad = policy.weights == Weights::noise;
  std::vector<double> sigma(want_mad ? entries : 0);
  auto done = [&]() -> Result<FrameParams> {
    out.frame_weight = out.weight;
    if (out.weighted) relative_weights(out, sigma, n, f.channels);
    return out;
  };
  if (!needs_frame_pass(policy)) return done();
  RunSettings s = settings;
  s.grain = 1;
  PLX_TRY_ASSIGN(s.workers,
                 frame_pass_workers(f, policy, settings.memory_budget_bytes, settings.workers, settings.name));

  const bool fit = policy.normalize == Normalize::linear_fit;
  // Indices as the API counts them, said so: a CLI's user counts from 1.
  auto frame_name = [&](int64_t j, int c) {
    return f.channels > 1 ? cat("frame ", j, " channel ", c, " (counting from 0)")
                          : cat("frame ", j, " (counting from 0)");
  };

  // The reference frame first: its medians (and planes, for a fit).
  std::vector<double> ref_median(static_cast<size_t>(f.channels));
  std::vector<std::vector<float>> ref_planes(fit ? static_cast<size_t>(f.channels) : 0);
  for (int c = 0; c < f.channels; ++c) {
    std::vector<float> plane;
    if (int code = read_plane(f, policy.reference, c, plane); code != 0)
      return make_error(Code::task_failed, settings.name, ": the provider returned ", code, " for reference ",
                        frame_name(policy.reference, c));
    if (fit) ref_planes[static_cast<size_t>(c)] = plane;
    ref_median[static_cast<size_t>(c)] = median_of_finite(plane);
    if (std::isnan(ref_median[static_cast<size_t>(c)]))
      return make_error(Code::invalid_argument, settings.name, ": the reference ", frame_name(policy.reference, c),
                        " has no finite pixel: choose another reference frame");
    if (policy.normalize == Normalize::multiplicative && ref_median[static_cast<size_t>(c)] == 0)
      return make_error(Code::invalid_argument, settings.name, ": the reference ", frame_name(policy.reference, c),
                        " has median 0: multiplicative normalization would scale every frame to 0 (use ADDITIVE or "
                        "LINEAR_FIT, or another reference frame)");
  }

  std::mutex mutex;
  std::optional<Error> failure;
  std::vector<std::vector<float>> planes(static_cast<size_t>(s.workers));
  RangeFn body = [&](int64_t lo, int64_t hi, int worker) -> int {
    std::vector<float>& plane = planes[static_cast<size_t>(worker)];
    for (int64_t j = lo; j < hi; ++j)
      for (int c = 0; c < f.channels; ++c) {
        auto fail = [&](Error e) {
          std::lock_guard lock(mutex);
          if (!failure) failure = std::move(e);
          return 1;
        };
        if (int code = read_plane(f, j, c, plane); code != 0) {
          fail(make_error(Code::task_failed, settings.name, ": the provider returned ", code, " for ",
                          frame_name(j, c)));
          return code;  // the run's report keeps it
        }
        const size_t at = static_cast<size_t>(c) * static_cast<size_t>(n) + static_cast<size_t>(j);
        double scale = 1, offset = 0;
        if (fit) {
          auto ab = linear_fit(plane, ref_planes[static_cast<size_t>(c)], cat(settings.name, ": ", frame_name(j, c)));
          if (!ab) return fail(ab.error());
          std::tie(scale, offset) = ab.value();
        }
        auto [med, mad] = median_and_mad(plane, want_mad);
        if (std::isnan(med))
          return fail(make_error(Code::invalid_argument, settings.name, ": ", frame_name(j, c),
                                 " has no finite pixel: it cannot be normalized or weighed; leave it out"));
        const double ref = ref_median[static_cast<size_t>(c)];
        if (policy.normalize == Normalize::additive) offset = ref - med;
        if (policy.normalize == Normalize::multiplicative) {
          if (med == 0)
            return fail(make_error(Code::invalid_argument, settings.name, ": ", frame_name(j, c),
                                   " has median 0: multiplicative normalization divides by it (use ADDITIVE or "
                                   "LINEAR_FIT)"));
          scale = ref / med;
        }
        out.scale[at] = scale;
        out.offset[at] = offset;
        if (want_mad) {
          const double sd = kMadToSigma * mad * std::fabs(scale);
          if (scale == 0)
            return fail(make_error(Code::invalid_argument, settings.name, ": ", frame_name(j, c),
                                   " has a linear fit of slope 0 against the reference frame: normalized, it has no "
                                   "noise to weigh it by (NOISE_VARIANCE weights are 1 / sigma^2); give the weights "
                                   "instead, or normalize otherwise"));
          if (!(sd > 0))
            return fail(make_error(Code::invalid_argument, settings.name, ": ", frame_name(j, c),
                                   " has no noise (median absolute deviation 0): NOISE_VARIANCE weights are 1 / "
                                   "sigma^2; give the weights instead"));
          sigma[at] = sd;
          out.weight[at] = 1.0 / (sd * sd);
        }
      }
    return 0;
  };
  RunOutcome run = parallel_for(env, 0, n, body, s);
  if (report) *report = run.report;
  if (failure) return *failure;
  if (run.code != Code::ok) return Error{run.code, run.message};
  return done();
}

}  // namespace plx::stack
