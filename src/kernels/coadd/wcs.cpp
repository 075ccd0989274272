#include "kernels/coadd/wcs.hpp"

#include <wcslib/wcs.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsmath.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

namespace plx::coadd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kDeg = M_PI / 180.0;

Vec3 unit_vector(double lon, double lat) {
  const double cl = std::cos(lat * kDeg);
  return {cl * std::cos(lon * kDeg), cl * std::sin(lon * kDeg), std::sin(lat * kDeg)};
}

void lon_lat(const Vec3& v, double& lon, double& lat) {
  lon = std::atan2(v[1], v[0]) / kDeg;
  if (lon < 0) lon += 360.0;
  lat = std::atan2(v[2], std::hypot(v[0], v[1])) / kDeg;
}

Vec3 rotate(const Mat3& m, const Vec3& v) {
  return {m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
          m[6] * v[0] + m[7] * v[1] + m[8] * v[2]};
}

Mat3 transpose(const Mat3& m) { return {m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}; }

constexpr Mat3 kIdentity{1, 0, 0, 0, 1, 0, 0, 0, 1};
// astropy 5.2's ICRS -> Galactic and ICRS -> FK5 (J2000) rotations.
constexpr Mat3 kIcrsToGalactic{-0.05487565771259159, -0.8734370519556162,  -0.4838350736167153,
                               0.4941094371927268,   -0.4448297212232951,  0.7469821839866675,
                               -0.8676661375596576,  -0.19807633727300053, 0.4559838136873016};
constexpr Mat3 kIcrsToFk5{9.9999999999999212e-01, -1.1102233297408327e-07, -4.4118044980967709e-08,
                          1.1102233723050034e-07, 9.9999999999998890e-01,  9.6477922460101289e-08,
                          4.4118034269763261e-08, -9.6477927519581271e-08, 9.9999999999999434e-01};

Mat3 from_icrs(Frame f) {
  return f == Frame::galactic ? kIcrsToGalactic : f == Frame::fk5_j2000 ? kIcrsToFk5 : kIdentity;
}

// The header without its SIP: "-SIP" taken off the CTYPEs and the A_, B_,
// AP_, BP_ cards blanked. SIP is applied here, as astropy does; wcslib would
// otherwise apply it too (it reads the SIP cards whatever the CTYPE says).
std::string without_sip(const std::string& header, bool& had_sip) {
  std::string h = header;
  had_sip = false;
  for (size_t at = 0; at + 80 <= h.size(); at += 80) {
    if (h.compare(at, 5, "CTYPE") == 0) {
      const size_t sip = h.find("-SIP", at);
      if (sip != std::string::npos && sip < at + 80) {
        h.replace(sip, 4, "    ");
        had_sip = true;
      }
    }
    for (const char* prefix : {"A_", "B_", "AP_", "BP_"})
      if (h.compare(at, std::strlen(prefix), prefix) == 0) h.replace(at, 80, 80, ' ');
  }
  return h;
}

// The number of a card's value; false when it has none.
bool card_number(const std::string& h, size_t at, double& value) {
  if (h.compare(at + 8, 2, "= ") != 0) return false;
  const std::string text = h.substr(at + 10, 70);
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end != text.c_str();
}

Result<Sip> parse_sip(const std::string& h, const std::string& what) {
  Sip s;
  double v;
  for (size_t at = 0; at + 80 <= h.size(); at += 80) {
    if (h.compare(at, 8, "A_ORDER ") == 0 && card_number(h, at, v)) s.a_order = static_cast<int>(v);
    if (h.compare(at, 8, "B_ORDER ") == 0 && card_number(h, at, v)) s.b_order = static_cast<int>(v);
  }
  if (s.a_order < 0 || s.b_order < 0 || s.a_order > 20 || s.b_order > 20)
    return make_error(Code::invalid_argument, what,
                      ": CTYPE says TAN-SIP but A_ORDER/B_ORDER are missing or not from 0 to 20");
  s.a.assign(static_cast<size_t>((s.a_order + 1) * (s.a_order + 1)), 0.0);
  s.b.assign(static_cast<size_t>((s.b_order + 1) * (s.b_order + 1)), 0.0);
  for (size_t at = 0; at + 80 <= h.size(); at += 80) {
    const char which = h[at];
    if ((which != 'A' && which != 'B') || h[at + 1] != '_') continue;
    int p, q;
    char tail;
    const std::string key = h.substr(at, 8);
    if (std::sscanf(key.c_str() + 2, "%d_%d%c", &p, &q, &tail) < 2 || !card_number(h, at, v)) continue;
    const int order = which == 'A' ? s.a_order : s.b_order;
    if (p < 0 || q < 0 || p + q > order) continue;
    (which == 'A' ? s.a : s.b)[static_cast<size_t>(p * (order + 1) + q)] = v;
  }
  return s;
}

Frame frame_of(const wcsprm& w, std::string& name) {
  const std::string lng = w.lngtyp;
  if (lng == "GLON") {
    name = "Galactic";
    return Frame::galactic;
  }
  if (lng != "RA") {
    name = lng + "/" + std::string(w.lattyp);
    return Frame::other;
  }
  std::string radesys = w.radesys;
  const bool has_equinox = !undefined(w.equinox);
  if (radesys.empty()) radesys = !has_equinox ? "ICRS" : w.equinox < 1984.0 ? "FK4" : "FK5";
  if (radesys == "ICRS") {
    name = "ICRS";
    return Frame::icrs;
  }
  if (radesys == "FK5" && (!has_equinox || w.equinox == 2000.0)) {
    name = "FK5 J2000";
    return Frame::fk5_j2000;
  }
  name = radesys + (has_equinox ? " equinox " + std::to_string(w.equinox) : "");
  return Frame::other;
}

// The first card among CRVALi, CRPIXi, CDELTi, CDi_j and PCi_j whose value
// is not a finite number, said; "" when none. wcspih drops such a card
// silently (CRVAL2 = NAN: the default 0 then put every pixel elsewhere, and
// the output was empty without a word).
std::string unreadable_number(const std::string& header) {
  for (size_t at = 0; at + 80 <= header.size(); at += 80) {
    const std::string card = header.substr(at, 80);
    std::string key = card.substr(0, 8);
    key.erase(key.find_last_not_of(' ') + 1);
    const bool numeric =
        key.rfind("CRVAL", 0) == 0 || key.rfind("CRPIX", 0) == 0 || key.rfind("CDELT", 0) == 0 ||
        (key.size() >= 5 && (key.rfind("CD", 0) == 0 || key.rfind("PC", 0) == 0) && key.find('_') != std::string::npos);
    if (!numeric || card.compare(8, 2, "= ") != 0) continue;
    std::string value = card.substr(10, card.find('/', 10) == std::string::npos ? 70 : card.find('/', 10) - 10);
    value.erase(value.find_last_not_of(' ') + 1);
    value.erase(0, value.find_first_not_of(' '));
    std::string number = value;
    std::replace(number.begin(), number.end(), 'D', 'E');  // FITS allows Fortran's 1.5D+02
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v)) return key + " = " + value + " is not a finite number";
  }
  return "";
}

}  // namespace

Wcs::~Wcs() {
  free_parsed(parsed_);
  for (Parsed& copy : spares_) free_parsed(copy);
}

void Wcs::free_parsed(Parsed& parsed) {
  if (parsed.all) wcsvfree(&parsed.nwcs, &parsed.all);
  parsed = Parsed{};
}

std::string Wcs::parse_header(std::string header, Parsed& parsed) {
  if (std::string bad = unreadable_number(header); !bad.empty()) return bad;
  int nreject = 0;
  {
    static std::mutex parser;  // wcspih's flex scanner is not reentrant
    std::lock_guard<std::mutex> lock(parser);
    const int status =
        wcspih(header.data(), static_cast<int>(header.size() / 80), WCSHDR_all, 0, &nreject, &parsed.nwcs, &parsed.all);
    if (status != 0) {
      parsed = Parsed{};
      return "wcslib cannot parse the header (status " + std::to_string(status) + ")";
    }
  }
  if (parsed.nwcs < 1) return "the header has no WCS";
  wcsprm& p = parsed.all[0];
  int stat[NWCSFIX];
  wcsfix(7, nullptr, &p, stat);  // e.g. DATE-OBS, units: as astropy does
  // wcsset's status in wcslib's words ("status 3" says nothing); its
  // detailed messages (wcserr_enable) are left off: they leak.
  if (int status = wcsset(&p); status != 0)
    return "wcslib rejects the WCS: " + (status > 0 && status <= WCSERR_UNSET
                                             ? std::string(wcs_errmsg[status]) + " (status " + std::to_string(status) + ")"
                                             : "status " + std::to_string(status));
  return "";
}

Wcs::Parsed Wcs::borrow() const {
  if (!scratch_) return parsed_;
  {
    std::lock_guard<std::mutex> lock(spares_mutex_);
    if (!spares_.empty()) {
      Parsed copy = spares_.back();
      spares_.pop_back();
      return copy;
    }
  }
  // The same steps on the same header as parsed_: the same numbers.
  Parsed copy;
  if (!parse_header(header_, copy).empty()) free_parsed(copy);
  return copy;
}

void Wcs::give_back(Parsed copy) const {
  if (!scratch_ || !copy.all) return;
  std::lock_guard<std::mutex> lock(spares_mutex_);
  try {
    spares_.push_back(copy);
  } catch (...) {
    free_parsed(copy);
  }
}

Result<std::shared_ptr<const Wcs>> Wcs::parse(const std::string& header, const std::string& what) {
  if (header.empty() || header.size() % 80 != 0)
    return make_error(Code::invalid_argument, what, ": the WCS header must be whole 80-character cards, got ",
                      header.size(), " characters");
  bool had_sip = false;
  std::string h = without_sip(header, had_sip);
  std::shared_ptr<Wcs> w(new Wcs);
  if (std::string why = parse_header(h, w->parsed_); !why.empty())
    return make_error(Code::invalid_argument, what, ": ", why);
  w->wcs_ = w->parsed_.all;
  wcsprm& p = *w->wcs_;
  if (p.naxis != 2 || p.lng < 0 || p.lat < 0)
    return make_error(Code::invalid_argument, what,
                      ": the WCS is not a 2-D celestial one (CTYPE1/CTYPE2 must be a longitude and a latitude, e.g. "
                      "RA---TAN / DEC--TAN)");
  // Without distortions wcsp2s/wcss2p only read the set-up wcsprm (linprm's
  // affine path, celprm, prjprm): the workers share it. With them, linp2x/
  // linx2p and disp2x/disx2p work in lin.tmpcrd and dis->tmpmem, and workers
  // sharing one wcsprm read each other's intermediate coordinates (pixels up
  // to a pixel off, or failing the round trip): each one borrows a copy.
  w->scratch_ = p.lin.dispre != nullptr || p.lin.disseq != nullptr;
  if (w->scratch_) w->header_ = std::move(h);
  w->frame_ = frame_of(p, w->frame_name_);
  w->crpix0_[0] = p.crpix[0] - 1.0;
  w->crpix0_[1] = p.crpix[1] - 1.0;
  // Natively only plain TAN: a wcslib distortion (TPV, DSS plate, ...) goes
  // through wcslib on the grid path.
  w->tan_ = std::strcmp(p.cel.prj.code, "TAN") == 0 && p.lng == 0 && p.lat == 1 && p.lin.dispre == nullptr &&
            p.lin.disseq == nullptr;
  if (had_sip) {
    auto sip = parse_sip(header, what);
    if (!sip) return sip.error();
    w->sip_ = std::move(sip).value();
  }
  if (w->tan_) {
    // TAN is a central projection: pixel (x, y, 1) -> direction is linear up to
    // scale. Fix the scale so that the direction's component along the tangent
    // point is 1, and read the matrix off three pixels through wcslib.
    // Pixels about 10 degrees apart keep the differences well conditioned.
    Vec3 centre, next;
    const double cx = w->crpix0_[0], cy = w->crpix0_[1];
    bool ok = w->pixel_to_direction_tan(cx, cy, centre) && w->pixel_to_direction_tan(cx + 1, cy, next);
    const double radians_per_pixel =
        ok ? std::hypot(std::hypot(next[0] - centre[0], next[1] - centre[1]), next[2] - centre[2]) : 0;
    const double step = std::min(1000.0, 0.17 / std::max(radians_per_pixel, 1e-15));
    const double px[3] = {cx, cx + step, cx}, py[3] = {cy, cy, cy + step};
    Vec3 d[3];
    for (int k = 0; k < 3 && ok; ++k) ok = w->pixel_to_direction_tan(px[k], py[k], d[k]);
    if (!ok) return make_error(Code::invalid_argument, what, ": wcslib cannot evaluate the TAN projection near CRPIX");
    for (int k = 0; k < 3; ++k) {
      const double n = d[k][0] * centre[0] + d[k][1] * centre[1] + d[k][2] * centre[2];
      for (double& c : d[k]) c /= n;
    }
    // direction = A (x, y, 1): columns from the three pixels.
    for (int r = 0; r < 3; ++r) {
      const double ax = (d[1][r] - d[0][r]) / step, ay = (d[2][r] - d[0][r]) / step;
      w->tan_matrix_[r * 3] = ax;
      w->tan_matrix_[r * 3 + 1] = ay;
      w->tan_matrix_[r * 3 + 2] = d[0][r] - ax * cx - ay * cy;
    }
  }
  return std::shared_ptr<const Wcs>(std::move(w));
}

bool Wcs::pixel_to_world(double x, double y, double& lon, double& lat) const {
  double pix[2] = {x + 1.0, y + 1.0}, img[2], phi, theta, world[2];
  int stat = 0;
  Parsed w = borrow();
  const bool ok = w.all && wcsp2s(w.all, 1, 2, pix, img, &phi, &theta, world, &stat) == 0 && stat == 0;
  give_back(w);
  if (!ok) return false;
  lon = world[wcs_->lng];
  lat = world[wcs_->lat];
  return std::isfinite(lon) && std::isfinite(lat);
}

bool Wcs::world_to_pixel(double lon, double lat, double& x, double& y) const {
  double world[2], img[2], phi, theta, pix[2];
  world[wcs_->lng] = lon;
  world[wcs_->lat] = lat;
  int stat = 0;
  Parsed w = borrow();
  const bool ok = w.all && wcss2p(w.all, 1, 2, world, &phi, &theta, img, pix, &stat) == 0 && stat == 0;
  give_back(w);
  if (!ok) return false;
  x = pix[0] - 1.0;
  y = pix[1] - 1.0;
  return std::isfinite(x) && std::isfinite(y);
}

bool Wcs::pixel_to_direction_tan(double x, double y, Vec3& d) const {
  double lon, lat;
  if (!pixel_to_world(x, y, lon, lat)) return false;
  d = unit_vector(lon, lat);
  return true;
}

bool Wcs::pixel_to_direction(double x, double y, Vec3& d) const {
  if (sip_.present()) {
    double du, dv;
    sip_.offsets(x - crpix0_[0], y - crpix0_[1], du, dv);
    x += du;
    y += dv;
  }
  return pixel_to_direction_tan(x, y, d);
}

bool Wcs::direction_to_pixel(const Vec3& d, double& x, double& y) const {
  double lon, lat;
  lon_lat(d, lon, lat);
  if (!world_to_pixel(lon, lat, x, y)) {
    x = y = kNaN;
    return false;
  }
  if (sip_.present()) {  // astropy's fixed point, per pixel
    const double u = x, v = y;
    for (int it = 0; it < 20; ++it) {
      double du, dv;
      sip_.offsets(x - crpix0_[0], y - crpix0_[1], du, dv);
      const double nx = u - du, ny = v - dv;
      const double step = std::hypot(nx - x, ny - y);
      x = nx;
      y = ny;
      if (!(step >= 1e-10)) break;
    }
  }
  return true;
}

Result<Mat3> frame_rotation(const Wcs& from, const Wcs& to) {
  if (from.frame() == to.frame() && (from.frame() != Frame::other || from.frame_name() == to.frame_name()))
    return kIdentity;
  if (from.frame() == Frame::other || to.frame() == Frame::other)
    return make_error(Code::unsupported, "no rotation between celestial frames ", from.frame_name(), " and ",
                      to.frame_name(),
                      ": only ICRS, FK5 J2000 and Galactic convert; reproject the inputs to one of "
                      "them first");
  return multiply(from_icrs(to.frame()), transpose(from_icrs(from.frame())));
}

Result<std::shared_ptr<const Mapping>> wcs_mapping(std::shared_ptr<const Wcs> out, std::shared_ptr<const Wcs> in,
                                                   bool& native) {
  auto rotation = frame_rotation(*out, *in);
  if (!rotation) return rotation.error();
  const Mat3 r = rotation.value();
  native = out->tan() && in->tan();
  if (native) {
    Mat3 to_pixel;
    if (!invert(in->tan_matrix(), to_pixel))
      return make_error(Code::invalid_argument, "the input's TAN matrix is singular");
    auto m = std::make_shared<HomographyMapping>();
    m->h = multiply(to_pixel, multiply(r, out->tan_matrix()));
    m->positive_w = true;
    if (out->sip().present()) {
      m->sip_out = &out->sip();
      m->crpix_out[0] = out->crpix0()[0];
      m->crpix_out[1] = out->crpix0()[1];
    }
    if (in->sip().present()) {
      m->sip_in = &in->sip();
      m->crpix_in[0] = in->crpix0()[0];
      m->crpix_in[1] = in->crpix0()[1];
    }
    m->keep = std::make_shared<std::pair<std::shared_ptr<const Wcs>, std::shared_ptr<const Wcs>>>(out, in);
    return std::shared_ptr<const Mapping>(std::move(m));
  }
  // reproject's round trip: a pixel that does not come back within 1 pixel has
  // no counterpart.
  auto m = std::make_shared<GridMapping>();
  const Mat3 back = transpose(r);
  m->exact = [out, in, r, back](double x, double y, double& xi, double& yi) {
    Vec3 d;
    xi = yi = kNaN;
    if (!out->pixel_to_direction(x, y, d) || !in->direction_to_pixel(rotate(r, d), xi, yi)) {
      xi = yi = kNaN;
      return;
    }
    double xb, yb;
    if (in->pixel_to_direction(xi, yi, d) && out->direction_to_pixel(rotate(back, d), xb, yb) &&
        (std::fabs(xb - x) > 1 || std::fabs(yb - y) > 1))
      xi = yi = kNaN;
  };
  return std::shared_ptr<const Mapping>(std::move(m));
}

bool wcs_to_output(const Wcs& in, const Wcs& out, const Mat3& in_to_out, double x, double y, double& xo, double& yo) {
  Vec3 d;
  if (!in.pixel_to_direction(x, y, d) || !out.direction_to_pixel(rotate(in_to_out, d), xo, yo)) {
    xo = yo = kNaN;
    return false;
  }
  return true;
}

}  // namespace plx::coadd
