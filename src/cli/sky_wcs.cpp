#include "sky_wcs.hpp"

#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsmath.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>

#include "fits_file.hpp"

namespace plx::cli::wcs {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;

std::string trimmed(const char* text) {
  std::string s(text);
  s.erase(s.find_last_not_of(' ') + 1);
  s.erase(0, s.find_first_not_of(' '));
  return s;
}

// "2000" or "1950.5": an equinox for messages.
std::string year_text(double year) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", year);
  return text;
}

Frame frame_of(const wcsprm& w) {
  Frame f;
  f.lng_type = trimmed(w.lngtyp);
  f.lat_type = trimmed(w.lattyp);
  const bool has_equinox = !undefined(w.equinox);
  if (f.lng_type == "RA") {
    std::string radesys = trimmed(w.radesys);
    if (radesys.empty()) radesys = !has_equinox ? "ICRS" : w.equinox < 1984.0 ? "FK4" : "FK5";
    f.system = radesys;
    if (radesys == "FK5") f.equinox = has_equinox ? w.equinox : 2000.0;
    if (radesys == "FK4" || radesys == "FK4-NO-E") f.equinox = has_equinox ? w.equinox : 1950.0;
  } else if (f.lng_type == "GLON") {
    f.system = "GALACTIC";
  } else if (f.lng_type == "ELON") {
    f.system = "ECLIPTIC";
    f.equinox = has_equinox ? w.equinox : 0;
  } else if (f.lng_type == "SLON") {
    f.system = "SUPERGALACTIC";
  } else {
    f.system = f.lng_type + "/" + f.lat_type;
  }
  return f;
}

// Shortest text that reads back as exactly `v`, as FITS wants a real:
// upper-case exponent, a decimal point in the mantissa.
std::string real_text(double v) {
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, v);
  std::string s(text, ec == std::errc() ? end : text);
  for (char& c : s)
    if (c == 'e') c = 'E';
  const size_t e = s.find('E');
  std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') == std::string::npos) mantissa += ".0";
  return mantissa + (e == std::string::npos ? std::string() : s.substr(e));
}

std::string pad_card(std::string c) {
  if (c.size() > 80) c.resize(80);
  c.append(80 - c.size(), ' ');
  return c;
}

}  // namespace

std::string Frame::text() const {
  if (system == "FK5") return "FK5 (J" + year_text(equinox) + ")";
  if (system == "FK4" || system == "FK4-NO-E") return system + " (B" + year_text(equinox) + ")";
  if (system == "GALACTIC") return "Galactic";
  if (system == "ECLIPTIC") return equinox > 0 ? "ecliptic (" + year_text(equinox) + ")" : "ecliptic";
  if (system == "SUPERGALACTIC") return "supergalactic";
  return system;
}

bool convertible(const Frame& a, const Frame& b) {
  if (a.same(b)) return true;
  auto rotation = [](const Frame& f) {
    return f.system == "ICRS" || f.system == "GALACTIC" || (f.system == "FK5" && f.equinox == 2000.0);
  };
  return rotation(a) && rotation(b);
}

// ---- Celestial -------------------------------------------------------------------

Celestial::Celestial(const std::string& header, const std::string& file) : file_(file) {
  std::string text = header;
  const int keys = static_cast<int>(text.size() / 80);
  int rejected = 0;
  const int status = wcspih(text.data(), keys, WCSHDR_all, 0, &rejected, &nwcs_, &all_);
  if (status != 0)
    throw FileError{std::string("wcslib cannot parse the header: ") + wcs_errmsg[status], file,
                    "give images with a valid celestial WCS"};
  for (int i = 0; i < nwcs_ && !wcs_; ++i)
    if (all_[i].alt[0] == ' ' || all_[i].alt[0] == '\0') wcs_ = &all_[i];
  bool typed = false;  // wcspih makes a linear WCS of NAXIS axes even from a header without WCS keywords
  for (int i = 0; wcs_ && i < wcs_->naxis; ++i) typed = typed || !trimmed(wcs_->ctype[i]).empty();
  if (!wcs_ || !typed) {
    wcsvfree(&nwcs_, &all_);
    throw FileError{"the header has no WCS (no CTYPEn keywords)", file,
                    "give images with a celestial WCS (e.g. RA---TAN / DEC--TAN)"};
  }
  if (const int set = wcsset(wcs_); set != 0) {
    const std::string why = wcs_errmsg[set];
    wcsvfree(&nwcs_, &all_);
    throw FileError{"wcslib cannot use the header's WCS: " + why, file, "give images with a valid celestial WCS"};
  }
  if (wcs_->lng < 0 || wcs_->lat < 0) {
    std::string types;
    for (int i = 0; i < wcs_->naxis; ++i) types += (i ? ", " : "") + trimmed(wcs_->ctype[i]);
    wcsvfree(&nwcs_, &all_);
    throw FileError{"the WCS is not celestial (CTYPE " + (types.empty() ? std::string("none") : types) +
                        "): no longitude and latitude axes",
                    file, "give images with a celestial WCS (e.g. RA---TAN / DEC--TAN)"};
  }
  if (wcs_->naxis != 2) {
    const int naxis = wcs_->naxis;
    wcsvfree(&nwcs_, &all_);
    throw FileError{"the WCS has " + std::to_string(naxis) + " axes", file,
                    "parallax coadd takes 2-D images with a 2-D celestial WCS"};
  }
  frame_ = frame_of(*wcs_);
}

Celestial::Celestial(Celestial&& other) noexcept
    : file_(std::move(other.file_)), nwcs_(other.nwcs_), all_(other.all_), wcs_(other.wcs_), frame_(other.frame_) {
  other.nwcs_ = 0;
  other.all_ = nullptr;
  other.wcs_ = nullptr;
}

Celestial::~Celestial() {
  if (all_) wcsvfree(&nwcs_, &all_);
}

bool Celestial::pixel_to_world(double x, double y, double& lon, double& lat) const {
  return fits_to_world(x + 1.0, y + 1.0, lon, lat);
}

bool Celestial::world_to_pixel(double lon, double lat, double& x, double& y) const {
  if (!world_to_fits(lon, lat, x, y)) return false;
  x -= 1.0;
  y -= 1.0;
  return true;
}

bool Celestial::fits_to_world(double px, double py, double& lon, double& lat) const {
  double pix[2] = {px, py}, img[2], phi, theta, world[2];
  int stat = 0;
  if (wcsp2s(wcs_, 1, 2, pix, img, &phi, &theta, world, &stat) != 0 || stat != 0) return false;
  lon = world[wcs_->lng];
  lat = world[wcs_->lat];
  return std::isfinite(lon) && std::isfinite(lat);
}

bool Celestial::world_to_fits(double lon, double lat, double& px, double& py) const {
  double world[2], phi, theta, img[2], pix[2];
  world[wcs_->lng] = lon;
  world[wcs_->lat] = lat;
  int stat = 0;
  if (wcss2p(wcs_, 1, 2, world, &phi, &theta, img, pix, &stat) != 0 || stat != 0) return false;
  px = pix[0];
  py = pix[1];
  return std::isfinite(px) && std::isfinite(py);
}

bool Celestial::reference(double& lon, double& lat) const {
  return fits_to_world(wcs_->crpix[0], wcs_->crpix[1], lon, lat);
}

double Celestial::scale(int row, int column) const { return wcs_->cdelt[row] * wcs_->pc[row * wcs_->naxis + column]; }

double Celestial::resolution() const {
  double best = INFINITY;
  for (int j = 0; j < 2; ++j) best = std::min(best, std::hypot(scale(0, j), scale(1, j)));
  return best;
}

std::string Celestial::ctype(int axis) const { return trimmed(wcs_->ctype[axis]); }
double Celestial::crval(int axis) const { return wcs_->crval[axis]; }
double Celestial::crpix(int axis) const { return wcs_->crpix[axis]; }

// ---- cards -----------------------------------------------------------------------

std::string wcs_cards(const std::string& header) {
  // Keywords with an optional alternate-WCS letter A-Z at the end.
  static const std::regex wcs_keyword(
      "(WCSAXES|(CTYPE|CUNIT|CRVAL|CDELT|CRPIX|CROTA|CRDER|CSYER|CNAME)[0-9]+|(PC|CD|PV|PS)[0-9]+_[0-9]+|"
      "(CPDIS|CQDIS|DP|DQ|CPERR|CQERR)[0-9]+|LONPOLE|LATPOLE|RADESYS|EQUINOX|WCSNAME|RESTFRQ|RESTWAV|SPECSYS|"
      "SSYSOBS|SSYSSRC|VELOSYS|ZSOURCE|VELANGL)[A-Z]?|"
      "(PC|CD)[0-9]{6}|RADECSYS|EPOCH|VELREF|MJD-OBS|DATE-OBS|MJD-AVG|DATE-AVG|MJD-BEG|MJD-END|DATE-BEG|DATE-END|"
      "MJDREF[IF]?|DATEREF|TIMESYS|OBSGEO-[XYZBLH]|"
      "(A|B|AP|BP)_ORDER|(A|B|AP|BP)_[0-9]+_[0-9]+|[AB]_DMAX|"
      "WCSDIM|WAT[0-9]+_[0-9]+|LTV[0-9]|LTM[0-9]_[0-9]|"
      "AMD[XY][0-9]+|PLTRA[HMS]|PLTDEC(SN|[DMS])|PLTSCALE|PPO[0-9]+|[XY]PIXELSZ|CNPIX[12]");
  std::string out;
  for (size_t at = 0; at + 80 <= header.size(); at += 80) {
    std::string key = header.substr(at, 8);
    key.erase(key.find_last_not_of(' ') + 1);
    if (key.empty() || header.compare(at + 8, 1, "=") != 0) continue;  // value cards only
    if (std::regex_match(key, wcs_keyword)) out += header.substr(at, 80);
  }
  return out;
}

std::string card(const std::string& key, const std::string& value, const std::string& comment, bool quoted) {
  char text[128];
  if (quoted) {
    std::string v = value;
    for (size_t i = 0; (i = v.find('\'', i)) != std::string::npos; i += 2) v.insert(i, "'");
    if (v.size() < 8) v.append(8 - v.size(), ' ');
    std::snprintf(text, sizeof text, "%-8.8s= '%s'", key.c_str(), v.c_str());
    std::string c = text;
    if (c.size() < 30) c.append(30 - c.size(), ' ');
    return pad_card(comment.empty() ? c : c + " / " + comment);
  }
  std::snprintf(text, sizeof text, "%-8.8s= %20s", key.c_str(), value.c_str());
  return pad_card(comment.empty() ? std::string(text) : std::string(text) + " / " + comment);
}

std::string card(const std::string& key, double value, const std::string& comment) {
  return card(key, real_text(value), comment, false);
}

std::string card(const std::string& key, int64_t value, const std::string& comment) {
  return card(key, std::to_string(value), comment, false);
}

// ---- the optimal TAN frame ---------------------------------------------------------

std::string TanFrame::ctype(int axis) const {
  std::string type = axis == 0 ? frame.lng_type : frame.lat_type;
  if (type.size() < 4) type.append(4 - type.size(), '-');
  return type + "-TAN";
}

std::string TanFrame::cards() const {
  std::string c;
  c += card("NAXIS", int64_t{2}, "number of array dimensions");
  c += card("NAXIS1", width, "");
  c += card("NAXIS2", height, "");
  c += card("WCSAXES", int64_t{2}, "number of WCS axes");
  c += card("CTYPE1", ctype(0), "", true);
  c += card("CTYPE2", ctype(1), "", true);
  c += card("CRPIX1", crpix[0], "reference pixel");
  c += card("CRPIX2", crpix[1], "reference pixel");
  c += card("CRVAL1", crval[0], "[deg] sky position of the reference pixel");
  c += card("CRVAL2", crval[1], "[deg] sky position of the reference pixel");
  c += card("CDELT1", -cdelt, "[deg] pixel size");
  c += card("CDELT2", cdelt, "[deg] pixel size");
  c += card("CUNIT1", "deg", "", true);
  c += card("CUNIT2", "deg", "", true);
  if (frame.lng_type == "RA") {
    c += card("RADESYS", frame.system, "equatorial coordinate system", true);
    if (frame.equinox > 0) c += card("EQUINOX", frame.equinox, "[yr] equinox of equatorial coordinates");
  } else if (frame.system == "ECLIPTIC" && frame.equinox > 0) {
    c += card("EQUINOX", frame.equinox, "[yr] equinox of ecliptic coordinates");
  }
  return c;
}

TanFrame optimal_tan_frame(const std::vector<const Celestial*>& inputs,
                           const std::vector<std::pair<int64_t, int64_t>>& shapes) {
  if (inputs.empty()) throw FileError{"no inputs to frame", "", "give FITS images"};
  TanFrame out;
  out.frame = inputs[0]->frame();
  std::vector<std::pair<double, double>> corners;  // (lon, lat) degrees
  double sum[3] = {0, 0, 0};
  double resolution = INFINITY;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Celestial& in = *inputs[i];
    if (!in.frame().same(out.frame))
      throw FileError{"its celestial frame is " + in.frame().text() + ", the first input's (" + inputs[0]->file() +
                          ") " + out.frame.text(),
                      in.file(), "--auto-frame takes inputs in one frame: give --reference HEADER instead"};
    const double nx = static_cast<double>(shapes[i].first), ny = static_cast<double>(shapes[i].second);
    const double xc[4] = {-0.5, nx - 0.5, nx - 0.5, -0.5}, yc[4] = {-0.5, -0.5, ny - 0.5, ny - 0.5};
    for (int k = 0; k < 4; ++k) {
      double lon = 0, lat = 0;
      if (!in.pixel_to_world(xc[k], yc[k], lon, lat))
        throw FileError{"the corner (" + std::to_string(xc[k]) + ", " + std::to_string(yc[k]) +
                            ") of the image has no sky position",
                        in.file(), "give images whose WCS covers all of them"};
      corners.emplace_back(lon, lat);
    }
    double lon = 0, lat = 0;
    if (!in.reference(lon, lat))
      throw FileError{"the reference pixel (CRPIX) has no sky position", in.file(), "check the header's WCS"};
    sum[0] += std::cos(lat * kDeg) * std::cos(lon * kDeg);
    sum[1] += std::cos(lat * kDeg) * std::sin(lon * kDeg);
    sum[2] += std::sin(lat * kDeg);
    resolution = std::min(resolution, std::fabs(in.resolution()));
  }
  if (!(resolution > 0) || !std::isfinite(resolution))
    throw FileError{"an input has a pixel scale of 0", "", "check the inputs' CDELT / CD keywords"};
  // astropy: the mean of the unit vectors, back to (lon, lat), lon in [0, 360).
  const double n = static_cast<double>(inputs.size());
  const double x = sum[0] / n, y = sum[1] / n, z = sum[2] / n;
  double lon = std::atan2(y, x) * (180.0 / kPi);
  if (lon < 0) lon += 360.0;
  if (lon >= 360.0) lon -= 360.0;
  const double lat = std::atan2(z, std::hypot(x, y)) * (180.0 / kPi);
  if (!std::isfinite(lon) || !std::isfinite(lat) || (x == 0 && y == 0 && z == 0))
    throw FileError{"the inputs' reference positions average to no direction", "",
                    "give --reference HEADER for inputs spread over the whole sky"};
  out.crval[0] = lon;
  out.crval[1] = lat;
  out.cdelt = resolution;
  out.crpix[0] = out.crpix[1] = 1.0;
  out.width = out.height = 1;

  // Every corner projected with CRPIX = (1, 1), then the box around them.
  const Celestial trial(out.cards(), "the optimal TAN frame");
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (size_t k = 0; k < corners.size(); ++k) {
    double px = 0, py = 0;  // FITS pixel coordinates, as reproject's (origin = 1)
    if (!trial.world_to_fits(corners[k].first, corners[k].second, px, py))
      throw FileError{"a corner of the image lies more than 90 degrees from the mosaic's centre (" +
                          std::to_string(lon) + ", " + std::to_string(lat) + "): no TAN frame can hold all inputs",
                      inputs[k / 4]->file(), "give --reference HEADER with another projection"};
    xmin = std::min(xmin, px);
    xmax = std::max(xmax, px);
    ymin = std::min(ymin, py);
    ymax = std::max(ymax, py);
  }
  out.crpix[0] = (1.0 - xmin) + 0.5;
  out.crpix[1] = (1.0 - ymin) + 0.5;
  // Python's round(): half to even, as nearbyint in the default rounding mode.
  const double w = std::nearbyint(xmax - xmin), h = std::nearbyint(ymax - ymin);
  if (!(w >= 1 && h >= 1 && w * h <= 0x1p40)) {
    char size[96];
    std::snprintf(size, sizeof size, "%.0f x %.0f", w, h);  // whole pixels (not 100000000.000000)
    throw FileError{std::string("the optimal frame would be ") + size + " pixels", "",
                    "give --reference HEADER with a grid of your own"};
  }
  out.width = static_cast<int64_t>(w);
  out.height = static_cast<int64_t>(h);
  return out;
}

}  // namespace plx::cli::wcs
