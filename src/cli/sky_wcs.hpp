// Celestial WCS of FITS headers through wcslib, for `parallax coadd`: parsing
// and checking a header (2-D, celestial, its frame), pixel <-> sky, the WCS
// cards of a header, and the optimal TAN frame over a set of images exactly as
// reproject.mosaicking.find_optimal_celestial_wcs computes it.
// Pixel coordinates here are 0-based, pixel centres at integers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct wcsprm;

namespace plx::cli::wcs {

// A celestial reference frame as FITS headers name it (astropy's rules:
// RADESYS if set; else for RA/DEC no EQUINOX is ICRS, EQUINOX < 1984 FK4,
// otherwise FK5; GLON/GLAT Galactic; ELON/ELAT ecliptic; ...).
struct Frame {
  std::string system;  // ICRS, FK5, FK4, FK4-NO-E, GAPPT, GALACTIC, ECLIPTIC, SUPERGALACTIC, or "<LNG>/<LAT>"
  double equinox = 0;  // years for FK4, FK5, FK4-NO-E and ECLIPTIC; 0 otherwise
  std::string lng_type, lat_type;  // axis types: "RA", "DEC", "GLON", ...

  std::string text() const;  // "ICRS", "FK5 (J2000)", "FK4 (B1950)", "Galactic"
  bool same(const Frame& other) const { return system == other.system && equinox == other.equinox; }
};

// Frames plx_coadd maps between: the same one, or any two of ICRS, FK5
// (J2000) and Galactic (pure rotations).
bool convertible(const Frame& a, const Frame& b);

// A 2-D celestial WCS parsed by wcslib (wcspih, WCSHDR_all; the primary WCS)
// from a FITS header of 80-character cards.
class Celestial {
 public:
  // Throws FileError naming `file` when wcslib finds no WCS or cannot set it
  // up, or when it is not 2-D celestial (a longitude and a latitude axis).
  Celestial(const std::string& header, const std::string& file);
  ~Celestial();
  Celestial(Celestial&& other) noexcept;
  Celestial& operator=(Celestial&&) = delete;
  Celestial(const Celestial&) = delete;
  Celestial& operator=(const Celestial&) = delete;

  const Frame& frame() const { return frame_; }
  const std::string& file() const { return file_; }

  // 0-based pixel -> (longitude, latitude) in degrees, SIP and other
  // distortions included; false where wcslib finds no valid position.
  bool pixel_to_world(double x, double y, double& lon, double& lat) const;
  // (longitude, latitude) in degrees -> 0-based pixel; false where invalid.
  bool world_to_pixel(double lon, double lat, double& x, double& y) const;
  // The same with FITS (1-based) pixel coordinates.
  bool fits_to_world(double px, double py, double& lon, double& lat) const;
  bool world_to_fits(double lon, double lat, double& px, double& py) const;
  // The sky position of the reference pixel CRPIX.
  bool reference(double& lon, double& lat) const;
  // astropy's proj_plane_pixel_scales minimum: the smallest column norm of
  // the pixel scale matrix (CDELT x PC, or CD), in the axes' units.
  double resolution() const;

  std::string ctype(int axis) const;
  double crval(int axis) const;
  double crpix(int axis) const;  // FITS, 1-based
  // The pixel scale matrix (CDELT x PC) element [row][column].
  double scale(int row, int column) const;

 private:
  std::string file_;
  int nwcs_ = 0;
  wcsprm* all_ = nullptr;  // wcspih's array
  wcsprm* wcs_ = nullptr;  // its primary WCS
  Frame frame_;
};

// The WCS keywords of a header (primary and alternate WCS, SIP, TPV, the
// distortion paper's, DSS plate solutions, IRAF WAT, and the dates and
// positions frames depend on), as 80-character cards, in the header's order.
std::string wcs_cards(const std::string& header);

// One 80-character card: KEY = value / comment. String values are quoted;
// numbers are written so that they read back exactly.
std::string card(const std::string& key, const std::string& value, const std::string& comment, bool quoted);
std::string card(const std::string& key, double value, const std::string& comment);
std::string card(const std::string& key, int64_t value, const std::string& comment);

// A 2-D TAN frame with square pixels and no rotation.
struct TanFrame {
  Frame frame;
  double crval[2] = {0, 0};  // degrees
  double crpix[2] = {1, 1};  // FITS, 1-based
  double cdelt = 0;          // degrees; CDELT1 = -cdelt, CDELT2 = +cdelt
  int64_t width = 0, height = 0;

  std::string ctype(int axis) const;  // "RA---TAN", "DEC--TAN", "GLON-TAN", ...
  // NAXIS, NAXIS1, NAXIS2 and the WCS: what astropy's celestial_frame_to_wcs
  // writes (CTYPE, CRVAL, CRPIX, CDELT, CUNIT, RADESYS, EQUINOX).
  std::string cards() const;
};

// reproject.mosaicking.find_optimal_celestial_wcs(inputs, frame=None,
// auto_rotate=False, projection='TAN'): the frame of the first input, its
// reference the mean of the inputs' reference positions (as unit vectors),
// square pixels of the finest input scale, and the smallest box holding every
// input's outer corners. `shapes` are (width, height) per input. Every input
// must be in the first one's frame; throws FileError naming the input
// otherwise, or when the corners do not all lie within 90 degrees of the
// reference.
TanFrame optimal_tan_frame(const std::vector<const Celestial*>& inputs,
                           const std::vector<std::pair<int64_t, int64_t>>& shapes);

}  // namespace plx::cli::wcs
