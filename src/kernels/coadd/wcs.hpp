// A FITS celestial WCS parsed by wcslib, with its SIP distortion kept apart
// (as astropy does): pixel <-> direction on the sky, and the mapping of one
// grid's pixels to another's, native (a homography, plus SIP) for TAN and
// through wcslib on a grid for the other projections. A Wcs may be used from
// several threads at once (the co-addition's workers share it).
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/coadd/mapping.hpp"

struct wcsprm;

namespace plx::coadd {

using Vec3 = std::array<double, 3>;

enum class Frame { icrs, fk5_j2000, galactic, other };

class Wcs {
 public:
  // `header`: 80-character cards. Errors name `what` (e.g. "input 3").
  static Result<std::shared_ptr<const Wcs>> parse(const std::string& header, const std::string& what);
  ~Wcs();

  // 0-based pixel -> unit vector in this WCS's frame; false (NaN) where invalid.
  bool pixel_to_direction(double x, double y, Vec3& d) const;
  bool direction_to_pixel(const Vec3& d, double& x, double& y) const;

  bool tan() const { return tan_; }
  const Sip& sip() const { return sip_; }
  Frame frame() const { return frame_; }
  const std::string& frame_name() const { return frame_name_; }
  const double* crpix0() const { return crpix0_; }  // 0-based CRPIX
  // TAN without SIP: pixel (x, y, 1) -> a direction (not unit) as a 3 x 3 matrix.
  const Mat3& tan_matrix() const { return tan_matrix_; }

 private:
  Wcs() = default;
  bool pixel_to_world(double x, double y, double& lon, double& lat) const;
  bool world_to_pixel(double lon, double lat, double& x, double& y) const;
  bool pixel_to_direction_tan(double x, double y, Vec3& d) const;  // without SIP

  // wcspih's array of WCSes for the header, the first one fixed and set up.
  struct Parsed {
    int nwcs = 0;
    wcsprm* all = nullptr;
  };
  // wcspih, wcsfix and wcsset on `header`: "" or why not.
  static std::string parse_header(std::string header, Parsed& parsed);
  static void free_parsed(Parsed& parsed);
  // A WCS for one transformation: parsed_ itself, or, where wcslib writes into
  // it while transforming (scratch_), a copy no other thread is using (all is
  // null if one could not be made); give_back when done.
  Parsed borrow() const;
  void give_back(Parsed copy) const;

  Parsed parsed_;
  wcsprm* wcs_ = nullptr;  // parsed_.all
  // wcslib's distortions (TPV, DSS, polynomials: linprm::dispre/disseq) are
  // computed in scratch arrays of the wcsprm (linprm::tmpcrd,
  // disprm::tmpmem), so one wcsprm cannot serve two threads at once: each
  // concurrent caller gets its own copy, parsed again from the same header.
  bool scratch_ = false;
  std::string header_;  // the header wcs_ was parsed from, when scratch_
  mutable std::mutex spares_mutex_;
  mutable std::vector<Parsed> spares_;  // copies not in use
  bool tan_ = false;
  Sip sip_;
  Frame frame_ = Frame::other;
  std::string frame_name_;
  double crpix0_[2] = {0, 0};
  Mat3 tan_matrix_{};
};

// Rotation taking directions in `from` to `to`; error when there is none
// (frames that need precession, ecliptic, ...).
Result<Mat3> frame_rotation(const Wcs& from, const Wcs& to);

// The mapping from `out` pixels to `in` pixels. `native` says whether it is
// a homography (TAN/TAN-SIP) or through wcslib on a grid.
Result<std::shared_ptr<const Mapping>> wcs_mapping(std::shared_ptr<const Wcs> out, std::shared_ptr<const Wcs> in,
                                                   bool& native);

// Input pixel -> output pixel through the two WCS (for the boxes' corners).
bool wcs_to_output(const Wcs& in, const Wcs& out, const Mat3& in_to_out, double x, double y, double& xo, double& yo);

}  // namespace plx::coadd
