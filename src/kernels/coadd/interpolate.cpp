#include "kernels/coadd/interpolate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace plx::coadd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// reproject pads the image by one edge pixel on every side: padded (r, c) is
// image (clamp(r - 1), clamp(c - 1)).
struct Padded {
  const Image& image;
  bool zero_nan;
  double at(int64_t r, int64_t c) const {
    const double v =
        image.at(std::clamp<int64_t>(r - 1, 0, image.height - 1), std::clamp<int64_t>(c - 1, 0, image.width - 1));
    return zero_nan && std::isnan(v) ? 0.0 : v;
  }
};

// Keys' cubic convolution kernel, a = -0.5.
double keys(double t) {
  t = std::fabs(t);
  if (t < 1) return (1.5 * t - 2.5) * t * t + 1;
  if (t < 2) return ((-0.5 * t + 2.5) * t - 4) * t + 2;
  return 0;
}

double lanczos3(double t) {
  if (t == 0) return 1;
  if (std::fabs(t) >= 3) return 0;
  const double pt = M_PI * t;
  return 3 * std::sin(pt) * std::sin(pt / 3) / (pt * pt);
}

// A separable kernel of 2 * R taps per axis around (x, y), normalised.
template <int R, class K>
double separable(const Padded& p, double x, double y, K kernel) {
  const double cx = x + 1.0, cy = y + 1.0;  // padded coordinates
  const auto ix = static_cast<int64_t>(std::floor(cx)), iy = static_cast<int64_t>(std::floor(cy));
  double wx[2 * R], wy[2 * R], sx = 0, sy = 0;
  for (int k = 0; k < 2 * R; ++k) {
    wx[k] = kernel(cx - static_cast<double>(ix - R + 1 + k));
    wy[k] = kernel(cy - static_cast<double>(iy - R + 1 + k));
    sx += wx[k];
    sy += wy[k];
  }
  double total = 0;
  for (int j = 0; j < 2 * R; ++j) {
    double row = 0;
    for (int k = 0; k < 2 * R; ++k) row += p.at(iy - R + 1 + j, ix - R + 1 + k) * wx[k];
    total += row * wy[j];
  }
  const double v = total / (sx * sy);
  return std::isfinite(v) ? v : kNaN;  // a non-finite tap: no value
}

}  // namespace

double interpolate(const Image& image, Interp interp, double x, double y, bool zero_nan) {
  if (!(x >= -0.5 && x <= static_cast<double>(image.width) - 0.5 && y >= -0.5 &&
        y <= static_cast<double>(image.height) - 0.5))
    return kNaN;
  const Padded p{image, zero_nan};
  switch (interp) {
    case Interp::nearest: {
      const auto r = static_cast<int64_t>(std::floor((y + 1.0) + 0.5));
      const auto c = static_cast<int64_t>(std::floor((x + 1.0) + 0.5));
      return p.at(r, c);
    }
    case Interp::bilinear: {
      // scipy's order-1 spline: every tap read, in this order, each term
      // (value x wy) x wx; wy1 = 1 - (1 - fy) as scipy computes it.
      const double cy = y + 1.0, cx = x + 1.0;
      const double fy0 = std::floor(cy), fx0 = std::floor(cx);
      const auto iy = static_cast<int64_t>(fy0), ix = static_cast<int64_t>(fx0);
      const double wy0 = 1.0 - (cy - fy0), wx0 = 1.0 - (cx - fx0);
      const double wy1 = 1.0 - wy0, wx1 = 1.0 - wx0;
      double t = 0.0;
      t += p.at(iy, ix) * wy0 * wx0;
      t += p.at(iy, ix + 1) * wy0 * wx1;
      t += p.at(iy + 1, ix) * wy1 * wx0;
      t += p.at(iy + 1, ix + 1) * wy1 * wx1;
      return t;
    }
    case Interp::bicubic:
      return separable<2>(p, x, y, keys);
    case Interp::lanczos3:
      return separable<3>(p, x, y, lanczos3);
  }
  return kNaN;
}

}  // namespace plx::coadd
