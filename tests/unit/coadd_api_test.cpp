// plx_coadd through the public API, as a host calls it: known answers for
// every mapping, interpolation and combine (shifts, scipy's bilinear edge
// rules, NaN holes, weights, boxes), TAN WCS inputs against the same mapping
// given as a homography, results that do not depend on workers or tiles,
// the tile function, progress and cancellation, and bad input on every field
// (a status and a message naming the field, outputs left alone).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "parallax.h"
#include "usable_cpus.hpp"

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Runtime {
  plx_runtime_t* rt = nullptr;
  explicit Runtime(int workers = 0) {
    plx_runtime_options_t o;
    plx_runtime_options_init(&o, sizeof o);
    if (workers > 0) o.max_cpu_workers = workers;
    EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_OK) << plx_last_error_message();
  }
  ~Runtime() { plx_runtime_destroy(rt); }
};

std::vector<float> ramp(int64_t h, int64_t w, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(h * w));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) v[static_cast<size_t>(y * w + x)] = scale * static_cast<float>(100 * y + x + 1);
  return v;
}

plx_coadd_input_t input(const std::vector<float>& data, int64_t h, int64_t w) {
  plx_coadd_input_t in;
  EXPECT_EQ(plx_coadd_input_init(&in, sizeof in), PLX_OK);
  in.data = data.data();
  in.height = h;
  in.width = w;
  return in;
}

plx_coadd_input_t shifted(const std::vector<float>& data, int64_t h, int64_t w, double dx, double dy) {
  plx_coadd_input_t in = input(data, h, w);
  in.matrix[2] = dx;  // xi = x + dx
  in.matrix[5] = dy;
  return in;
}

struct Out {
  std::vector<float> image, footprint;
  plx_coadd_result_t result;
};

plx_status_t run(plx_runtime_t* rt, std::vector<plx_coadd_input_t> inputs, int64_t h, int64_t w, Out& out,
                 int32_t combine = PLX_COADD_MEAN, int32_t interp = PLX_INTERP_BILINEAR,
                 const plx_run_options_t* options = nullptr) {
  plx_coadd_desc_t d;
  EXPECT_EQ(plx_coadd_desc_init(&d, sizeof d), PLX_OK);
  d.inputs = inputs.data();
  d.count = static_cast<int64_t>(inputs.size());
  d.height = h;
  d.width = w;
  d.combine = combine;
  d.interpolation = interp;
  d.run_options = options;
  out.image.assign(static_cast<size_t>(h * w), -7.0f);
  out.footprint.assign(static_cast<size_t>(h * w), -7.0f);
  EXPECT_EQ(plx_coadd_result_init(&out.result, sizeof out.result), PLX_OK);
  out.result.image = out.image.data();
  out.result.footprint = out.footprint.data();
  return plx_coadd(rt, &d, &out.result);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CoaddDefaults, InitFillsDocumentedDefaults) {
  plx_coadd_input_t in;
  ASSERT_EQ(plx_coadd_input_init(&in, sizeof in), PLX_OK);
  EXPECT_EQ(in.struct_size, sizeof in);
  EXPECT_EQ(in.mapping, PLX_MAPPING_AFFINE);
  EXPECT_EQ(in.weight, 1.0);
  EXPECT_EQ(in.matrix[0], 1.0);
  EXPECT_EQ(in.matrix[4], 1.0);
  EXPECT_EQ(in.matrix[2], 0.0);
  plx_coadd_desc_t d;
  ASSERT_EQ(plx_coadd_desc_init(&d, sizeof d), PLX_OK);
  EXPECT_EQ(d.interpolation, PLX_INTERP_BILINEAR);
  EXPECT_EQ(d.combine, PLX_COADD_MEAN);
  EXPECT_EQ(d.device, PLX_PREFER_AUTO);
  plx_coadd_result_t r;
  ASSERT_EQ(plx_coadd_result_init(&r, sizeof r), PLX_OK);
  EXPECT_EQ(r.device_index, -1);
  EXPECT_EQ(plx_coadd_input_init(nullptr, sizeof in), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_coadd_desc_init(&d, 8), PLX_ERR_VERSION);
  EXPECT_EQ(plx_coadd_result_init(&r, 0), PLX_ERR_INVALID_ARGUMENT);
}

TEST(CoaddKnownAnswers, IntegerShiftCopiesPixelsAndBoxesFollowTheCorners) {
  Runtime rt;
  auto a = ramp(10, 12);
  Out out;
  // Output pixel (x, y) reads input (x - 3, y - 2): the input lands at columns
  // 3..14 and rows 2..11 of a 16 x 20 output.
  ASSERT_EQ(run(rt.rt, {shifted(a, 10, 12, -3, -2)}, 16, 20, out), PLX_OK) << plx_last_error_message();
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 20; ++x) {
      const float v = out.image[static_cast<size_t>(y * 20 + x)];
      const float f = out.footprint[static_cast<size_t>(y * 20 + x)];
      if (x >= 3 && x < 15 && y >= 2 && y < 12) {
        EXPECT_EQ(v, a[static_cast<size_t>((y - 2) * 12 + (x - 3))]) << x << "," << y;
        EXPECT_EQ(f, 1.0f);
      } else {
        EXPECT_TRUE(std::isnan(v)) << x << "," << y;  // MEAN where nothing contributes
        EXPECT_EQ(f, 0.0f);
      }
    }
  EXPECT_EQ(out.result.covered, 120);
  EXPECT_EQ(out.result.device_index, -1);
  EXPECT_GE(out.result.workers, 1);
}

TEST(CoaddKnownAnswers, BilinearMatchesScipyEdgeRules) {
  Runtime rt;
  const std::vector<float> a{1, 2, 3, 4};  // 2 x 2
  Out out;
  // Output pixel x reads input x - 0.75 along the row: x = 0 -> -0.75 (outside
  // the half-pixel border), x = 1 -> 0.25, x = 2 -> 1.25 (past the last centre,
  // inside the border: the edge value), x = 3 -> 2.25 (outside).
  ASSERT_EQ(run(rt.rt, {shifted(a, 2, 2, -0.75, 0)}, 2, 4, out), PLX_OK) << plx_last_error_message();
  EXPECT_TRUE(std::isnan(out.image[0]));
  EXPECT_FLOAT_EQ(out.image[1], 1.25f);
  EXPECT_FLOAT_EQ(out.image[2], 2.0f);
  EXPECT_TRUE(std::isnan(out.image[3]));
  EXPECT_FLOAT_EQ(out.image[5], 3.25f);
  // Exactly on the border -0.5 is inside.
  ASSERT_EQ(run(rt.rt, {shifted(a, 2, 2, -0.5, 0)}, 2, 3, out), PLX_OK);
  EXPECT_FLOAT_EQ(out.image[0], 1.0f);
}

TEST(CoaddKnownAnswers, NearestRoundsHalvesUp) {
  Runtime rt;
  const std::vector<float> a{1, 2, 3};  // 1 x 3
  Out out;
  ASSERT_EQ(run(rt.rt, {shifted(a, 1, 3, 0.5, 0)}, 1, 3, out, PLX_COADD_MEAN, PLX_INTERP_NEAREST), PLX_OK);
  EXPECT_EQ(out.image[0], 2.0f);  // 0.5 -> pixel 1
  EXPECT_EQ(out.image[1], 3.0f);  // 1.5 -> pixel 2
  EXPECT_EQ(out.image[2], 3.0f);  // 2.5 -> the border: the edge pixel
}

TEST(CoaddKnownAnswers, NaNPixelBlanksItsBilinearWindowOnly) {
  Runtime rt;
  auto a = ramp(6, 6);
  a[static_cast<size_t>(3 * 6 + 3)] = kNaN;
  Out out;
  ASSERT_EQ(run(rt.rt, {shifted(a, 6, 6, 0.25, 0.25)}, 6, 6, out), PLX_OK);
  // Samples at (x + 0.25, y + 0.25) read pixels x..x+1, y..y+1: NaN for x, y in {2, 3}.
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 6; ++x) {
      const bool hole = (x == 2 || x == 3) && (y == 2 || y == 3);
      EXPECT_EQ(std::isnan(out.image[static_cast<size_t>(y * 6 + x)]), hole) << x << "," << y;
      EXPECT_EQ(out.footprint[static_cast<size_t>(y * 6 + x)], hole ? 0.0f : 1.0f);
    }
}

TEST(CoaddKnownAnswers, EveryCombineOverThreeInputs) {
  Runtime rt;
  const std::vector<float> a(4, 1.0f), b(4, 5.0f), c(4, 3.0f);
  auto inputs = [&] {
    auto x = input(a, 2, 2), y = input(b, 2, 2), z = input(c, 2, 2);
    y.weight = 3;  // weighs in MEAN, SUM and the footprint only
    return std::vector<plx_coadd_input_t>{x, y, z};
  };
  struct Case {
    int32_t combine;
    float value;
  } cases[] = {{PLX_COADD_MEAN, (1 + 15 + 3) / 5.0f},
               {PLX_COADD_SUM, 19},
               {PLX_COADD_MIN, 1},
               {PLX_COADD_MAX, 5},
               {PLX_COADD_MEDIAN, 3},
               {PLX_COADD_FIRST, 1},
               {PLX_COADD_LAST, 3}};
  for (const Case& k : cases) {
    Out out;
    ASSERT_EQ(run(rt.rt, inputs(), 2, 2, out, k.combine), PLX_OK) << plx_last_error_message();
    EXPECT_FLOAT_EQ(out.image[0], k.value) << "combine " << k.combine;
    EXPECT_EQ(out.footprint[0], 5.0f) << "combine " << k.combine;
  }
  // An even count: the mean of the middle two; nothing there: SUM 0, others NaN.
  Out out;
  ASSERT_EQ(run(rt.rt, {input(a, 2, 2), input(b, 2, 2)}, 2, 2, out, PLX_COADD_MEDIAN), PLX_OK);
  EXPECT_EQ(out.image[0], 3.0f);
  ASSERT_EQ(run(rt.rt, {shifted(a, 2, 2, 10, 0)}, 2, 2, out, PLX_COADD_SUM), PLX_OK);
  EXPECT_EQ(out.image[0], 0.0f);
  EXPECT_EQ(out.result.covered, 0);
}

TEST(CoaddKnownAnswers, WeightImagesBackgroundsAndZeroWeights) {
  Runtime rt;
  const std::vector<float> a(4, 10.0f), b(4, 20.0f);
  std::vector<float> wa{1, 1, 0, kNaN}, wb(4, 1.0f);  // NaN weights read as 0
  auto x = input(a, 2, 2), y = input(b, 2, 2);
  x.weights = wa.data();
  y.weights = wb.data();
  y.background = 4;
  Out out;
  ASSERT_EQ(run(rt.rt, {x, y}, 2, 2, out), PLX_OK) << plx_last_error_message();
  EXPECT_FLOAT_EQ(out.image[0], 13.0f);  // (10 + 16) / 2
  EXPECT_FLOAT_EQ(out.image[2], 16.0f);  // a weighs 0 there
  EXPECT_FLOAT_EQ(out.image[3], 16.0f);
  EXPECT_EQ(out.footprint[0], 2.0f);
  EXPECT_EQ(out.footprint[3], 1.0f);
}

TEST(CoaddKnownAnswers, InterpolationsFollowLinearRampsInside) {
  Runtime rt;
  auto a = ramp(20, 20);
  for (int32_t interp : {PLX_INTERP_BILINEAR, PLX_INTERP_BICUBIC, PLX_INTERP_LANCZOS3}) {
    Out out;
    ASSERT_EQ(run(rt.rt, {shifted(a, 20, 20, 0.3, 0.6)}, 20, 20, out, PLX_COADD_MEAN, interp), PLX_OK);
    for (int64_t y = 4; y < 14; ++y)
      for (int64_t x = 4; x < 14; ++x)
        EXPECT_NEAR(out.image[static_cast<size_t>(y * 20 + x)], 100 * (y + 0.6) + x + 0.3 + 1,
                    interp == PLX_INTERP_LANCZOS3 ? 2.0 : 1e-3)  // Lanczos: not exact on ramps
            << "interp " << interp << " at " << x << "," << y;
  }
}

TEST(CoaddMappings, HomographyCallbackAndAffineAgree) {
  Runtime rt;
  auto a = ramp(30, 40);
  plx_coadd_input_t affine = input(a, 30, 40);
  const double m[6] = {0.9, 0.1, 2.5, -0.05, 1.1, 1.5};
  std::copy(m, m + 6, affine.matrix);
  plx_coadd_input_t homography = affine;
  homography.mapping = PLX_MAPPING_HOMOGRAPHY;
  homography.matrix[6] = homography.matrix[7] = 0;
  homography.matrix[8] = 1;
  plx_coadd_input_t callback = input(a, 30, 40);
  callback.mapping = PLX_MAPPING_COORDINATE_MAP;
  callback.map = [](void* user, int64_t, int64_t n, const double* x, const double* y, double* xi, double* yi) {
    const double* m = static_cast<const double*>(user);
    for (int64_t k = 0; k < n; ++k) {
      xi[k] = m[0] * x[k] + m[1] * y[k] + m[2];
      yi[k] = m[3] * x[k] + m[4] * y[k] + m[5];
    }
    return 0;
  };
  callback.map_user_data = const_cast<double*>(m);
  Out one, two, three;
  ASSERT_EQ(run(rt.rt, {affine}, 35, 45, one), PLX_OK);
  ASSERT_EQ(run(rt.rt, {homography}, 35, 45, two), PLX_OK);
  ASSERT_EQ(run(rt.rt, {callback}, 35, 45, three), PLX_OK) << plx_last_error_message();
  EXPECT_TRUE(same_bits(one.image, two.image));
  EXPECT_TRUE(same_bits(one.image, three.image));
  EXPECT_TRUE(same_bits(one.footprint, three.footprint));
  EXPECT_GT(one.result.covered, 900);
}

// A FITS header of 80-character cards.
std::string header(std::vector<std::string> cards) {
  std::string h;
  cards.push_back("END");
  for (std::string c : cards) {
    c.resize(80, ' ');
    h += c;
  }
  return h;
}

std::string tan_header(double crval1, double crval2, double crpix1, double crpix2, double cdelt) {
  auto num = [](const char* key, double v) {
    char card[81];
    std::snprintf(card, sizeof card, "%-8s= %20.12f", key, v);
    return std::string(card);
  };
  return header({"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", num("CRVAL1", crval1), num("CRVAL2", crval2),
                 num("CRPIX1", crpix1), num("CRPIX2", crpix2), num("CDELT1", -cdelt), num("CDELT2", cdelt)});
}

TEST(CoaddWcs, SameTangentPointIsAShiftAndScale) {
  Runtime rt;
  auto a = ramp(40, 40);
  // Same tangent point and scale, CRPIX 5 pixels apart: output pixel x reads input x - 5.
  const std::string in_h = tan_header(150, 2, 20, 20, 0.01), out_h = tan_header(150, 2, 25, 20, 0.01);
  plx_coadd_input_t in = input(a, 40, 40);
  in.mapping = PLX_MAPPING_WCS;
  in.wcs_header = in_h.c_str();
  plx_coadd_desc_t d;
  plx_coadd_desc_init(&d, sizeof d);
  d.inputs = &in;
  d.count = 1;
  d.height = 40;
  d.width = 50;
  d.output_wcs_header = out_h.c_str();
  std::vector<float> image(2000), fp(2000);
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  r.image = image.data();
  r.footprint = fp.data();
  ASSERT_EQ(plx_coadd(rt.rt, &d, &r), PLX_OK) << plx_last_error_message();
  EXPECT_EQ(r.native_wcs, 1);
  EXPECT_EQ(r.grid_wcs, 0);
  for (int64_t y = 0; y < 40; ++y)
    for (int64_t x = 5; x < 45; ++x)
      EXPECT_NEAR(image[static_cast<size_t>(y * 50 + x)], a[static_cast<size_t>(y * 40 + x - 5)], 1e-6 * 4000);
  EXPECT_TRUE(std::isnan(image[0]));  // x = 0 reads input -5

  // Bad headers: named, with the reason.
  const std::string no_wcs = header({"SIMPLE  =                    T"});
  in.wcs_header = no_wcs.c_str();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(plx_last_error_message()).find("desc.inputs[0].wcs_header"), std::string::npos)
      << plx_last_error_message();
  in.wcs_header = "CTYPE1";  // not whole cards
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  // wcslib takes CRVAL2 = NAN: every pixel would map to nowhere, silently.
  const std::string nan_crval =
      header({"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 150.0", "CRVAL2  = NAN", "CRPIX1  = 20.0",
              "CRPIX2  = 20.0", "CDELT1  = -0.01", "CDELT2  = 0.01"});
  in.wcs_header = nan_crval.c_str();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(plx_last_error_message()).find("CRVAL2 = NAN is not a finite number"), std::string::npos)
      << plx_last_error_message();
  // wcslib's own words, not a bare status number.
  const std::string zero_scale =
      header({"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 150.0", "CRVAL2  = 2.0", "CRPIX1  = 20.0",
              "CRPIX2  = 20.0", "CDELT1  = 0.0", "CDELT2  = 0.01"});
  const std::string fortran =
      header({"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRVAL1  = 1.5D+02", "CRVAL2  = 2.0", "CRPIX1  = 20.0",
              "CRPIX2  = 20.0", "CDELT1  = -0.01", "CDELT2  = 0.01   / degrees"});
  in.wcs_header = fortran.c_str();  // FITS allows a D exponent; a comment after the value
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_OK) << plx_last_error_message();
  in.wcs_header = zero_scale.c_str();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(plx_last_error_message()).find("Linear transformation matrix is singular"), std::string::npos)
      << plx_last_error_message();
  in.wcs_header = in_h.c_str();
  d.output_wcs_header = nullptr;
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(plx_last_error_message()).find("output_wcs_header"), std::string::npos);
  const std::string galactic =
      header({"CTYPE1  = 'GLON-TAN'", "CTYPE2  = 'GLAT-TAN'", "CRVAL1  = 10.0", "CRVAL2  = 5.0", "CRPIX1  = 20.0",
              "CRPIX2  = 20.0", "CDELT1  = -0.01", "CDELT2  = 0.01"});
  const std::string fk4 =
      header({"CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "RADESYS = 'FK4'", "EQUINOX = 1950.0", "CRVAL1  = 10.0",
              "CRVAL2  = 5.0", "CRPIX1  = 20.0", "CRPIX2  = 20.0", "CDELT1  = -0.01", "CDELT2  = 0.01"});
  d.output_wcs_header = galactic.c_str();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_OK) << plx_last_error_message();  // ICRS -> Galactic rotates
  d.output_wcs_header = fk4.c_str();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(plx_last_error_message()).find("FK4"), std::string::npos) << plx_last_error_message();
}

// wcslib evaluates distortions (TPV, DSS, ...) in scratch arrays inside the
// wcsprm struct; one struct shared by the workers gave a few output pixels
// computed from another worker's coordinates (up to a pixel off, or NaN) now
// and then. Both grids distorted: the input's and the output's WCS are called
// from every worker; small tiles keep the workers side by side all along.
TEST(CoaddWcs, WcslibDistortionsGiveTheSameBitsForAnyWorkers) {
  auto tpv_header = [](double crval1, double crval2, double crpix, double rotation_deg, double pv1_4, double pv2_6) {
    auto num = [](const char* key, double v) {
      char card[81];
      std::snprintf(card, sizeof card, "%-8s= %20.12e", key, v);
      return std::string(card);
    };
    const double s = 0.00047, c = std::cos(rotation_deg * M_PI / 180), n = std::sin(rotation_deg * M_PI / 180);
    return header({"CTYPE1  = 'RA---TPV'", "CTYPE2  = 'DEC--TPV'", num("CRVAL1", crval1), num("CRVAL2", crval2),
                   num("CRPIX1", crpix), num("CRPIX2", crpix), num("CD1_1", -s * c), num("CD1_2", s * n),
                   num("CD2_1", s * n), num("CD2_2", s * c), num("PV1_1", 1.0), num("PV1_4", pv1_4), num("PV2_1", 1.0),
                   num("PV2_6", pv2_6)});
  };
  const std::string in_h = tpv_header(217.48, -62.68, 60.5, 20, 0.002, -0.003);
  const std::string out_h = tpv_header(217.485, -62.675, 80.5, 5, -0.001, 0.002);
  auto a = ramp(120, 120, 0.01f);
  auto call = [&](plx_runtime_t* rt, int64_t budget, Out& out) {
    plx_coadd_input_t in = input(a, 120, 120);
    in.mapping = PLX_MAPPING_WCS;
    in.wcs_header = in_h.c_str();
    plx_coadd_desc_t d;
    plx_coadd_desc_init(&d, sizeof d);
    d.inputs = &in;
    d.count = 1;
    d.height = 160;
    d.width = 160;
    d.output_wcs_header = out_h.c_str();
    plx_run_options_t o;
    plx_run_options_init(&o, sizeof o);
    o.memory_budget_bytes = budget;
    d.run_options = &o;
    out.image.assign(160 * 160, -7.0f);
    out.footprint.assign(160 * 160, -7.0f);
    plx_coadd_result_init(&out.result, sizeof out.result);
    out.result.image = out.image.data();
    out.result.footprint = out.footprint.data();
    return plx_coadd(rt, &d, &out.result);
  };
  Out reference;
  {
    Runtime one(1);
    ASSERT_EQ(call(one.rt, 0, reference), PLX_OK) << plx_last_error_message();
  }
  EXPECT_EQ(reference.result.grid_wcs, 1);
  EXPECT_GT(reference.result.covered, 10000);
  Runtime many(8);
  for (int run = 0; run < 6; ++run) {
    Out out;
    ASSERT_EQ(call(many.rt, 8 * 160 * 16, out), PLX_OK) << plx_last_error_message();
    EXPECT_TRUE(same_bits(out.image, reference.image)) << "run " << run << ", " << out.result.workers << " workers";
    EXPECT_TRUE(same_bits(out.footprint, reference.footprint)) << "run " << run;
  }
}

// MEDIAN holds a sample per overlapping input: tiles shrink with the inputs
// sharing an output row (counting at most 8 had let 256 overlapping inputs
// take 1.5 GB against a 64 MiB budget), and the bits stay the same.
TEST(CoaddInvariance, MedianTilesShrinkWithTheOverlap) {
  auto a = ramp(64, 80, 0.37f);
  auto inputs = [&](int count) {
    std::vector<plx_coadd_input_t> v;
    for (int i = 0; i < count; ++i) v.push_back(shifted(a, 64, 80, -0.1 * i, 0.05 * i));
    return v;
  };
  Runtime two(2);
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.memory_budget_bytes = 400000;
  Out few, many, unbounded;
  ASSERT_EQ(run(two.rt, inputs(8), 75, 90, few, PLX_COADD_MEDIAN, PLX_INTERP_BILINEAR, &o), PLX_OK)
      << plx_last_error_message();
  ASSERT_EQ(run(two.rt, inputs(32), 75, 90, many, PLX_COADD_MEDIAN, PLX_INTERP_BILINEAR, &o), PLX_OK)
      << plx_last_error_message();
  ASSERT_EQ(run(two.rt, inputs(32), 75, 90, unbounded, PLX_COADD_MEDIAN, PLX_INTERP_BILINEAR), PLX_OK)
      << plx_last_error_message();
  EXPECT_LT(many.result.tile_rows, few.result.tile_rows);
  EXPECT_TRUE(same_bits(many.image, unbounded.image));
}

TEST(CoaddInvariance, SameBitsForAnyWorkersTilesAndSink) {
  auto a = ramp(64, 80, 0.37f), b = ramp(70, 60, 1.3f);
  a[500] = kNaN;
  auto inputs = [&] {
    auto x = shifted(a, 64, 80, -3.3, 2.7), y = input(b, 70, 60);
    y.mapping = PLX_MAPPING_HOMOGRAPHY;
    const double h[9] = {0.95, 0.05, 4.0, -0.03, 1.02, -6.0, 1e-4, -2e-4, 1.0};
    std::copy(h, h + 9, y.matrix);
    return std::vector<plx_coadd_input_t>{x, y};
  };
  Out reference;
  {
    Runtime one(1);
    ASSERT_EQ(run(one.rt, inputs(), 75, 90, reference), PLX_OK) << plx_last_error_message();
  }
  Runtime two(2);
  for (int64_t budget : {int64_t{0}, int64_t{6000}}) {
    plx_run_options_t o;
    plx_run_options_init(&o, sizeof o);
    o.memory_budget_bytes = budget;  // 6 kB: tiles of two rows (16 bytes a pixel, 2 workers)
    Out out;
    ASSERT_EQ(run(two.rt, inputs(), 75, 90, out, PLX_COADD_MEAN, PLX_INTERP_BILINEAR, &o), PLX_OK)
        << plx_last_error_message();
    EXPECT_TRUE(same_bits(out.image, reference.image)) << "budget " << budget;
    EXPECT_TRUE(same_bits(out.footprint, reference.footprint));
    if (budget && usable_cpus() >= 2) {
      EXPECT_LE(out.result.tile_rows, 2);
    }
  }
  // The tile function receives every row once and assembles the same image.
  struct Sink {
    std::vector<float> image, footprint;
    std::vector<int> seen;
  } sink{std::vector<float>(75 * 90), std::vector<float>(75 * 90), std::vector<int>(75)};
  plx_coadd_desc_t d;
  plx_coadd_desc_init(&d, sizeof d);
  auto in = inputs();
  d.inputs = in.data();
  d.count = 2;
  d.height = 75;
  d.width = 90;
  d.tile = [](void* user, int64_t row0, int64_t rows, const float* image, const float* fp) {
    auto* s = static_cast<Sink*>(user);
    std::copy(image, image + rows * 90, s->image.begin() + row0 * 90);
    std::copy(fp, fp + rows * 90, s->footprint.begin() + row0 * 90);
    for (int64_t r = row0; r < row0 + rows; ++r) s->seen[static_cast<size_t>(r)]++;
    return 0;
  };
  d.tile_user_data = &sink;
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  ASSERT_EQ(plx_coadd(two.rt, &d, &r), PLX_OK) << plx_last_error_message();
  EXPECT_TRUE(same_bits(sink.image, reference.image));
  EXPECT_TRUE(same_bits(sink.footprint, reference.footprint));
  EXPECT_TRUE(std::all_of(sink.seen.begin(), sink.seen.end(), [](int n) { return n == 1; }));
  EXPECT_EQ(r.tiles, (75 + r.tile_rows - 1) / r.tile_rows);
}

TEST(CoaddFailures, CallbacksThatFailAreTaskFailures) {
  Runtime rt;
  auto a = ramp(8, 8);
  plx_coadd_input_t in = input(a, 8, 8);
  in.mapping = PLX_MAPPING_COORDINATE_MAP;
  in.map = [](void*, int64_t, int64_t, const double*, const double*, double*, double*) { return 42; };
  Out out;
  EXPECT_EQ(run(rt.rt, {in}, 8, 8, out), PLX_ERR_TASK_FAILED);
  EXPECT_NE(std::string(plx_last_error_message()).find("returned 42"), std::string::npos) << plx_last_error_message();

  plx_coadd_desc_t d;
  plx_coadd_desc_init(&d, sizeof d);
  plx_coadd_input_t ok = input(a, 8, 8);
  d.inputs = &ok;
  d.count = 1;
  d.height = d.width = 8;
  d.tile = [](void*, int64_t, int64_t, const float*, const float*) { return 7; };
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_TASK_FAILED);
  EXPECT_NE(std::string(plx_last_error_message()).find("tile function returned 7"), std::string::npos);
}

TEST(CoaddFailures, CancelledBeforeTheStartDoesNothing) {
  Runtime rt;
  auto a = ramp(64, 64);
  plx_cancel_token_t* token = nullptr;
  ASSERT_EQ(plx_cancel_token_create(&token), PLX_OK);
  plx_cancel_token_cancel(token);
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.cancel = token;
  Out out;
  EXPECT_EQ(run(rt.rt, {input(a, 64, 64)}, 64, 64, out, PLX_COADD_MEAN, PLX_INTERP_BILINEAR, &o), PLX_ERR_CANCELLED);
  plx_cancel_token_destroy(token);
}

TEST(CoaddBadInput, EveryFieldIsCheckedAndNamed) {
  Runtime rt;
  auto a = ramp(4, 4);
  std::vector<float> image(16), fp(16);
  auto expect = [&](plx_status_t want, const char* needle, auto&& change) {
    plx_coadd_input_t in = input(a, 4, 4);
    plx_coadd_desc_t d;
    plx_coadd_desc_init(&d, sizeof d);
    d.inputs = &in;
    d.count = 1;
    d.height = d.width = 4;
    plx_coadd_result_t r;
    plx_coadd_result_init(&r, sizeof r);
    r.image = image.data();
    plx_runtime_t* runtime = rt.rt;
    change(in, d, r, runtime);
    std::fill(image.begin(), image.end(), -7.0f);
    EXPECT_EQ(plx_coadd(runtime, &d, &r), want) << needle;
    EXPECT_NE(std::string(plx_last_error_message()).find(needle), std::string::npos)
        << "wanted '" << needle << "' in: " << plx_last_error_message();
    if (want != PLX_OK) {
      EXPECT_EQ(image[0], -7.0f) << needle;  // outputs left alone
    }
  };
  using I = plx_coadd_input_t;
  using D = plx_coadd_desc_t;
  using R = plx_coadd_result_t;
  using T = plx_runtime_t*;
  expect(PLX_ERR_INVALID_ARGUMENT, "runtime", [](I&, D&, R&, T& t) { t = nullptr; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.count", [](I&, D& d, R&, T&) { d.count = 0; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.inputs is NULL", [](I&, D& d, R&, T&) { d.inputs = nullptr; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.height", [](I&, D& d, R&, T&) { d.height = 0; });
  expect(PLX_ERR_INVALID_ARGUMENT, "overflows", [](I&, D& d, R&, T&) { d.height = d.width = INT64_MAX / 2; });
  // A row of 2^58 pixels: its tiles' bytes (160 a pixel for MEDIAN) wrapped and passed the budget check.
  expect(PLX_ERR_INVALID_ARGUMENT, "more than any address space", [](I&, D& d, R&, T&) {
    d.height = 1;
    d.width = int64_t{1} << 58;
    d.combine = PLX_COADD_MEDIAN;
  });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.interpolation", [](I&, D& d, R&, T&) { d.interpolation = 4; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.combine", [](I&, D& d, R&, T&) { d.combine = -1; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.device", [](I&, D& d, R&, T&) { d.device = 3; });
  expect(PLX_ERR_INVALID_ARGUMENT, "desc.reserved", [](I&, D& d, R&, T&) { d.reserved = 1; });
  plx_runtime_options_t no_devices;
  plx_runtime_options_init(&no_devices, sizeof no_devices);
  no_devices.device_filter = "no-such-device";
  plx_runtime_t* deviceless = nullptr;
  ASSERT_EQ(plx_runtime_create(&no_devices, &deviceless), PLX_OK);
  expect(PLX_ERR_NO_DEVICE, "no usable OpenCL device", [&](I&, D& d, R&, T& t) {
    d.device = PLX_PREFER_GPU;
    t = deviceless;
  });
  plx_runtime_destroy(deviceless);
  expect(PLX_ERR_VERSION, "desc", [](I&, D& d, R&, T&) { d.struct_size = 16; });
  expect(PLX_ERR_INVALID_ARGUMENT, "result.image is NULL", [](I&, D&, R& r, T&) { r.image = nullptr; });
  expect(PLX_ERR_INVALID_ARGUMENT, "both set",
         [](I&, D& d, R&, T&) { d.tile = [](void*, int64_t, int64_t, const float*, const float*) { return 0; }; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0]: struct_size", [](I& in, D&, R&, T&) { in.struct_size = 0; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].data is NULL", [](I& in, D&, R&, T&) { in.data = nullptr; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].height", [](I& in, D&, R&, T&) { in.width = 0; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].row_stride", [](I& in, D&, R&, T&) { in.row_stride = 2; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].weight", [](I& in, D&, R&, T&) { in.weight = NAN; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].background", [](I& in, D&, R&, T&) { in.background = INFINITY; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].matrix[2]", [](I& in, D&, R&, T&) { in.matrix[2] = NAN; });
  expect(PLX_ERR_INVALID_ARGUMENT, "singular", [](I& in, D&, R&, T&) { in.matrix[0] = in.matrix[4] = 0; });
  expect(PLX_ERR_INVALID_ARGUMENT, "inputs[0].mapping", [](I& in, D&, R&, T&) { in.mapping = 9; });
  expect(PLX_ERR_INVALID_ARGUMENT, "wcs_header is NULL", [](I& in, D&, R&, T&) { in.mapping = PLX_MAPPING_WCS; });
  expect(PLX_ERR_INVALID_ARGUMENT, "map is NULL", [](I& in, D&, R&, T&) { in.mapping = PLX_MAPPING_COORDINATE_MAP; });
  // Two inputs with different struct_size: the array's stride is ambiguous.
  plx_coadd_input_t two[2] = {input(a, 4, 4), input(a, 4, 4)};
  two[1].struct_size = sizeof(plx_coadd_input_t) - 8;
  plx_coadd_desc_t d;
  plx_coadd_desc_init(&d, sizeof d);
  d.inputs = two;
  d.count = 2;
  d.height = d.width = 4;
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  r.image = image.data();
  EXPECT_EQ(plx_coadd(rt.rt, &d, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(plx_last_error_message()).find("inputs[1].struct_size"), std::string::npos);
  EXPECT_EQ(plx_coadd(rt.rt, nullptr, &r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_coadd(rt.rt, &d, nullptr), PLX_ERR_INVALID_ARGUMENT);
}

}  // namespace
