#include "kernels/coadd/mapping.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace plx::coadd {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Mat3 multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return c;
}

bool invert(const Mat3& m, Mat3& r) {
  const double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (!std::isfinite(det) || det == 0) return false;
  r = {c00 / det, (m[2] * m[7] - m[1] * m[8]) / det, (m[1] * m[5] - m[2] * m[4]) / det,
       c01 / det, (m[0] * m[8] - m[2] * m[6]) / det, (m[2] * m[3] - m[0] * m[5]) / det,
       c02 / det, (m[1] * m[6] - m[0] * m[7]) / det, (m[0] * m[4] - m[1] * m[3]) / det};
  return true;
}

bool apply(const Mat3& m, double x, double y, double& u, double& v, bool positive_w) {
  const double w = m[6] * x + m[7] * y + m[8];
  if (positive_w ? !(w > 0) : w == 0) {
    u = v = kNaN;
    return false;
  }
  u = (m[0] * x + m[1] * y + m[2]) / w;
  v = (m[3] * x + m[4] * y + m[5]) / w;
  return true;
}

namespace {

double polynomial(const std::vector<double>& c, int order, double u, double v) {
  if (order < 0) return 0;
  double sum = 0, up = 1;
  for (int p = 0; p <= order; ++p, up *= u) {
    double vq = 1;
    for (int q = 0; p + q <= order; ++q, vq *= v) sum += c[static_cast<size_t>(p * (order + 1) + q)] * up * vq;
  }
  return sum;
}

}  // namespace

void Sip::offsets(double u, double v, double& du, double& dv) const {
  du = polynomial(a, a_order, u, v);
  dv = polynomial(b, b_order, u, v);
}

int HomographyMapping::map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string&) const {
  const double yy = static_cast<double>(y);
  for (int64_t k = 0; k < n; ++k) {
    double x = static_cast<double>(x0 + k), yo = yy;
    if (sip_out) {  // forward SIP of the output grid
      double du, dv;
      sip_out->offsets(x - crpix_out[0], yo - crpix_out[1], du, dv);
      x += du;
      yo += dv;
    }
    double u, v;
    apply(h, x, yo, u, v, positive_w);
    if (sip_in && std::isfinite(u) && std::isfinite(v)) {
      // The input pixel p with p + SIP(p) = (u, v): astropy's fixed point,
      // per pixel, to 1e-10 pixel or 20 steps.
      double px = u, py = v;
      for (int it = 0; it < 20; ++it) {
        double du, dv;
        sip_in->offsets(px - crpix_in[0], py - crpix_in[1], du, dv);
        const double nx = u - du, ny = v - dv;
        const double step = std::hypot(nx - px, ny - py);
        px = nx;
        py = ny;
        if (!(step >= 1e-10)) break;
      }
      u = px;
      v = py;
    }
    xi[k] = u;
    yi[k] = v;
  }
  return 0;
}

int CallbackMapping::map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string& error) const {
  std::vector<double> xs(static_cast<size_t>(n)), ys(static_cast<size_t>(n), static_cast<double>(y));
  for (int64_t k = 0; k < n; ++k) xs[static_cast<size_t>(k)] = static_cast<double>(x0 + k);
  if (int code = fn(n, xs.data(), ys.data(), xi, yi); code != 0) {
    error = "the coordinate map of input " + std::to_string(input) + " returned " + std::to_string(code);
    return code;
  }
  return 0;
}

int GridMapping::map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string&) const {
  const double yy = static_cast<double>(y);
  auto exact_at = [&](int64_t k) { exact(static_cast<double>(x0 + k), yy, xi[k], yi[k]); };
  for (int64_t k = 0; k < n; k += kGridStep) exact_at(k);
  if ((n - 1) % kGridStep != 0) exact_at(n - 1);
  for (int64_t a = 0; a + 1 < n;) {
    const int64_t b = std::min(a + kGridStep, n - 1);
    const int64_t mid = (a + b) / 2;
    bool exact_cell = b - a < 2;
    if (!exact_cell) {
      const double t = static_cast<double>(mid - a) / static_cast<double>(b - a);
      const double lx = xi[a] + (xi[b] - xi[a]) * t, ly = yi[a] + (yi[b] - yi[a]) * t;
      exact_at(mid);
      // Linear between nodes: refine where the midpoint says it is off by
      // more than 1e-3 pixel (or a node has no counterpart).
      exact_cell = !(std::fabs(lx - xi[mid]) <= 1e-3 && std::fabs(ly - yi[mid]) <= 1e-3);
    }
    for (int64_t k = a + 1; k < b; ++k) {
      if (exact_cell) {
        if (k != mid) exact_at(k);
        continue;
      }
      if (k == mid) continue;
      const double t = static_cast<double>(k - a) / static_cast<double>(b - a);
      xi[k] = xi[a] + (xi[b] - xi[a]) * t;
      yi[k] = yi[a] + (yi[b] - yi[a]) * t;
    }
    a = b;
  }
  return 0;
}

}  // namespace plx::coadd
