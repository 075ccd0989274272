// Output pixel -> input pixel coordinates (0-based, centres at integers), one
// row segment at a time: homographies (affine ones included, and TAN to TAN
// with optional SIP), a host callback, or any exact function approximated on
// a grid where that is accurate to 1e-3 pixel.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace plx::coadd {

using Mat3 = std::array<double, 9>;  // row-major

Mat3 multiply(const Mat3& a, const Mat3& b);
// false when singular (or not finite).
bool invert(const Mat3& m, Mat3& inverse);
// m (x, y, 1): false where w is 0 (or <= 0 when positive_w), NaN out.
bool apply(const Mat3& m, double x, double y, double& u, double& v, bool positive_w = false);

// SIP distortion of one FITS header: pixel offsets (u, v) from CRPIX ->
// (A(u, v), B(u, v)).
struct Sip {
  int a_order = -1, b_order = -1;
  std::vector<double> a, b;  // a[p * (a_order + 1) + q]: A_p_q
  bool present() const { return a_order >= 0 || b_order >= 0; }
  void offsets(double u, double v, double& du, double& dv) const;
};

class Mapping {
 public:
  virtual ~Mapping() = default;
  // Input coordinates of output pixels (x0 + k, y), k < n; NaN where there is
  // none. Non-zero: a host callback failed (message in `error`).
  virtual int map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string& error) const = 0;
};

// xi = H (x', y') with (x', y') the output pixel through the output's forward
// SIP (if any), then the input's SIP inverted by fixed-point iteration (if any).
struct HomographyMapping final : Mapping {
  Mat3 h{};
  bool positive_w = false;  // TAN: w <= 0 is the far hemisphere
  const Sip* sip_out = nullptr;
  double crpix_out[2] = {0, 0};  // 0-based
  const Sip* sip_in = nullptr;
  double crpix_in[2] = {0, 0};
  std::shared_ptr<const void> keep;  // owner of the Sip objects
  int map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string& error) const override;
};

using CoordinateFn = std::function<int(int64_t n, const double* x, const double* y, double* xi, double* yi)>;

struct CallbackMapping final : Mapping {
  CoordinateFn fn;
  int64_t input = 0;
  int map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string& error) const override;
};

// An exact point function (slow: wcslib), evaluated every kGridStep pixels
// along the row and in between only where linear interpolation errs by more
// than 1e-3 pixel.
struct GridMapping final : Mapping {
  std::function<void(double x, double y, double& xi, double& yi)> exact;
  static constexpr int64_t kGridStep = 16;
  int map_row(int64_t y, int64_t x0, int64_t n, double* xi, double* yi, std::string& error) const override;
};

}  // namespace plx::coadd
