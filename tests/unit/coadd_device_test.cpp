// plx_coadd's OpenCL path on PoCL against its CPU path: every mapping
// (affine, homography, TAN-SIP on both sides natively, SIN through wcslib and
// a host callback, both sent as coordinates), every interpolation and
// combine, weight images, backgrounds and NaN holes; the same bits for any
// chunking and for tile bands; out-of-memory splits and device failures
// falling back to the CPU; callback and tile errors; progress.
#include <gtest/gtest.h>
#include <parallax.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pocl_runtime.hpp"

namespace {

std::vector<float> noise(int64_t h, int64_t w, uint64_t seed, float holes) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> value(100.0f, 15.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(h * w));
  for (float& x : v) x = u(rng) < holes ? NAN : value(rng);
  return v;
}

// A FITS header of 80-character cards.
std::string header(const std::vector<std::string>& cards) {
  std::string h;
  for (std::string c : cards) {
    c.resize(80, ' ');
    h += c;
  }
  return h + std::string("END").append(77, ' ');
}

std::string card(const char* key, double v) {
  char text[81];
  std::snprintf(text, sizeof text, "%-8s= %20.12g", key, v);
  return text;
}

// A celestial header: `projection` (TAN, SIN...), rotated, optionally with a
// second-order SIP distortion.
std::string sky_header(const char* projection, double ra, double dec, double rotation_deg, bool sip) {
  const double c = std::cos(rotation_deg * M_PI / 180), s = std::sin(rotation_deg * M_PI / 180), scale = 1e-3;
  const std::string suffix = sip ? "-SIP" : "";
  std::vector<std::string> cards = {
      std::string("CTYPE1  = 'RA---") + projection + suffix + "'",
      std::string("CTYPE2  = 'DEC--") + projection + suffix + "'",
      card("CRVAL1", ra), card("CRVAL2", dec), card("CRPIX1", 40), card("CRPIX2", 30),
      card("CD1_1", -c * scale), card("CD1_2", s * scale), card("CD2_1", s * scale), card("CD2_2", c * scale)};
  if (sip)
    for (const auto& extra : {card("A_ORDER", 2), card("B_ORDER", 2), card("A_2_0", 2e-5), card("A_0_2", -1e-5),
                              card("A_1_1", 5e-6), card("B_1_1", 3e-5), card("B_2_0", 1e-5)})
      cards.push_back(extra);
  return header(cards);
}

int shear_map(void*, int64_t, int64_t n, const double* x, const double* y, double* xi, double* yi) {
  for (int64_t k = 0; k < n; ++k) {
    xi[k] = 0.9 * x[k] + 0.05 * y[k] + 3.3;
    yi[k] = 1.1 * y[k] - 0.02 * x[k] - 2.0;
  }
  return 0;
}

constexpr int64_t kH = 70, kW = 90;  // output
constexpr int64_t kInH = 60, kInW = 80;
// What the device path copies for the five inputs: images (and weight images),
// 32 table entries each.
constexpr int64_t kResident = 5 * (kInH * kInW * 4 + 32 * 8);
constexpr int64_t kResidentWeighted = 5 * (2 * kInH * kInW * 4 + 32 * 8);

// Five inputs, one per kind of mapping, overlapping on most of the output.
struct Inputs {
  std::vector<std::vector<float>> data, weights;
  std::string out_wcs = sky_header("TAN", 150.0, 20.0, 0, true);
  std::vector<std::string> wcs = {sky_header("TAN", 150.005, 20.004, 4, true), sky_header("SIN", 149.996, 19.997, -3, false)};
  std::vector<plx_coadd_input_t> list;

  explicit Inputs(bool with_weights) {
    for (int i = 0; i < 5; ++i) {
      data.push_back(noise(kInH, kInW, 10 + static_cast<uint64_t>(i), 0.02f));
      std::vector<float> w = noise(kInH, kInW, 20 + static_cast<uint64_t>(i), 0.01f);
      for (float& x : w) x = std::isnan(x) ? x : x / 100;
      weights.push_back(std::move(w));
    }
    for (int i = 0; i < 5; ++i) {
      plx_coadd_input_t in;
      plx_coadd_input_init(&in, sizeof in);
      in.data = data[static_cast<size_t>(i)].data();
      in.height = kInH;
      in.width = kInW;
      if (with_weights) {
        in.weights = weights[static_cast<size_t>(i)].data();
        in.weight = 0.5 + i;
        in.background = 3.0 * i - 4;
      }
      list.push_back(in);
    }
    const double affine[6] = {1.0, 0.02, -5.3, 0.01, 0.98, 3.1};
    std::copy(affine, affine + 6, list[0].matrix);
    list[1].mapping = PLX_MAPPING_HOMOGRAPHY;
    const double homography[9] = {0.9, -0.1, 10.2, 0.1, 0.9, -4.4, 1e-4, -2e-4, 1.0};
    std::copy(homography, homography + 9, list[1].matrix);
    list[2].mapping = list[3].mapping = PLX_MAPPING_WCS;
    list[2].wcs_header = wcs[0].c_str();  // native, SIP on both sides
    list[3].wcs_header = wcs[1].c_str();  // wcslib on a grid
    list[4].mapping = PLX_MAPPING_COORDINATE_MAP;
    list[4].map = shear_map;
  }
};

struct Out {
  std::vector<float> image, footprint;
  plx_coadd_result_t r;
};

plx_coadd_desc_t desc_for(const Inputs& in, int32_t interp, int32_t combine, int32_t device) {
  plx_coadd_desc_t d;
  plx_coadd_desc_init(&d, sizeof d);
  d.inputs = in.list.data();
  d.count = static_cast<int64_t>(in.list.size());
  d.height = kH;
  d.width = kW;
  d.output_wcs_header = in.out_wcs.c_str();
  d.interpolation = interp;
  d.combine = combine;
  d.device = device;
  return d;
}

plx_status_t run(plx_runtime_t* rt, const plx_coadd_desc_t& d, Out& out) {
  out.image.assign(static_cast<size_t>(kH * kW), -7.0f);
  out.footprint.assign(static_cast<size_t>(kH * kW), -7.0f);
  plx_coadd_result_init(&out.r, sizeof out.r);
  out.r.image = out.image.data();
  out.r.footprint = out.footprint.data();
  return plx_coadd(rt, &d, &out.r);
}

// The same NaN, the values within 1e-6 relative (the paths share every
// operation; only transcendental functions, in LANCZOS3, may differ by ulps).
void expect_agree(const Out& cpu, const Out& gpu, const std::string& what) {
  int64_t bad = 0;
  for (size_t p = 0; p < cpu.image.size(); ++p) {
    const float a = cpu.image[p], b = gpu.image[p];
    const bool same = std::isnan(a) ? std::isnan(b) : std::fabs(a - b) <= 1e-6f * std::max(std::fabs(a), 1e-20f);
    const float fa = cpu.footprint[p], fb = gpu.footprint[p];
    bad += !same || !(std::fabs(fa - fb) <= 1e-6f * std::fabs(fa));
    if (bad == 1 && (!same || fa != fb))
      ADD_FAILURE() << what << ": pixel " << p << " cpu " << a << " / " << fa << ", device " << b << " / " << fb;
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_EQ(cpu.r.covered, gpu.r.covered) << what;
  EXPECT_EQ(cpu.r.samples, gpu.r.samples) << what;
}

bool same_bits(const Out& a, const Out& b) {
  return std::memcmp(a.image.data(), b.image.data(), a.image.size() * 4) == 0 &&
         std::memcmp(a.footprint.data(), b.footprint.data(), a.footprint.size() * 4) == 0;
}

using CoaddDevice = PoclTest;

TEST_F(CoaddDevice, EveryMappingInterpolationAndCombineAgreesWithTheCpu) {
  for (bool with_weights : {false, true}) {
    Inputs in(with_weights);
    for (int32_t interp = PLX_INTERP_NEAREST; interp <= PLX_INTERP_LANCZOS3; ++interp)
      for (int32_t combine = PLX_COADD_MEAN; combine <= PLX_COADD_LAST; ++combine) {
        const std::string what = std::string(with_weights ? "weighted, " : "") + "interpolation " +
                                 std::to_string(interp) + ", combine " + std::to_string(combine);
        Out cpu, gpu;
        ASSERT_EQ(run(rt_, desc_for(in, interp, combine, PLX_PREFER_CPU), cpu), PLX_OK) << last_error();
        ASSERT_EQ(run(rt_, desc_for(in, interp, combine, PLX_PREFER_GPU), gpu), PLX_OK) << last_error();
        EXPECT_EQ(cpu.r.device_index, -1);
        EXPECT_EQ(gpu.r.device_index, 0) << what;
        EXPECT_EQ(gpu.r.native_wcs, 1);
        EXPECT_EQ(gpu.r.grid_wcs, 1);
        EXPECT_GT(gpu.r.covered, kH * kW / 2) << what;
        expect_agree(cpu, gpu, what);
      }
  }
}

TEST_F(CoaddDevice, SameBitsForAnyChunkingAndTileBands) {
  Inputs in(true);
  const plx_coadd_desc_t d = desc_for(in, PLX_INTERP_BILINEAR, PLX_COADD_MEDIAN, PLX_PREFER_GPU);
  Out whole, chunked;
  ASSERT_EQ(run(rt_, d, whole), PLX_OK) << last_error();
  // Device memory for the inputs and a few rows: many small chunks.
  plx_runtime_t* small = pocl_runtime(nullptr, 5 * 2 * kInH * kInW * 4 * 2 + 40 * kW * 5 * 8);
  ASSERT_EQ(run(small, d, chunked), PLX_OK) << last_error();
  EXPECT_EQ(chunked.r.device_index, 0);
  EXPECT_TRUE(same_bits(whole, chunked));
  plx_runtime_destroy(small);

  // A tile function with a budget of a few rows: bands of rows, each once.
  struct Sink {
    Out out;
    std::vector<int> seen = std::vector<int>(kH);
  } sink;
  sink.out.image.resize(static_cast<size_t>(kH * kW));
  sink.out.footprint.resize(static_cast<size_t>(kH * kW));
  plx_coadd_desc_t tiled = d;
  tiled.tile = [](void* user, int64_t row0, int64_t rows, const float* image, const float* fp) {
    auto* s = static_cast<Sink*>(user);
    std::copy(image, image + rows * kW, s->out.image.begin() + row0 * kW);
    std::copy(fp, fp + rows * kW, s->out.footprint.begin() + row0 * kW);
    for (int64_t r = row0; r < row0 + rows; ++r) s->seen[static_cast<size_t>(r)]++;
    return 0;
  };
  tiled.tile_user_data = &sink;
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.memory_budget_bytes = kResidentWeighted + 2 * 16 * kW * 8;  // the inputs' copy and 16-row bands
  tiled.run_options = &o;
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  ASSERT_EQ(plx_coadd(rt_, &tiled, &r), PLX_OK) << last_error();
  EXPECT_EQ(r.device_index, 0);
  EXPECT_GT(r.tiles, 2);
  EXPECT_EQ(r.tiles, (kH + r.tile_rows - 1) / r.tile_rows);
  EXPECT_EQ(r.covered, whole.r.covered);
  EXPECT_TRUE(same_bits(whole, sink.out));
  EXPECT_TRUE(std::all_of(sink.seen.begin(), sink.seen.end(), [](int n) { return n == 1; }));
}

TEST_F(CoaddDevice, OutOfMemorySplitsAndDeviceFailuresFallBackToTheCpu) {
  Inputs in(false);
  const plx_coadd_desc_t d = desc_for(in, PLX_INTERP_BICUBIC, PLX_COADD_MEAN, PLX_PREFER_GPU);
  Out cpu, split, fallback;
  plx_coadd_desc_t on_cpu = d;
  on_cpu.device = PLX_PREFER_CPU;
  ASSERT_EQ(run(rt_, on_cpu, cpu), PLX_OK) << last_error();
  plx_run_report_t report;
  report.struct_size = sizeof report;
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.report = &report;
  plx_coadd_desc_t reported = d;
  reported.run_options = &o;
  plx_runtime_t* oom = pocl_runtime("alloc=3:out_of_memory");
  ASSERT_EQ(run(oom, reported, split), PLX_OK) << last_error();
  EXPECT_GE(report.chunk_splits, 1);
  EXPECT_EQ(split.r.device_index, 0);
  expect_agree(cpu, split, "after an out-of-memory split");
  plx_runtime_destroy(oom);

  plx_runtime_t* failing = pocl_runtime("enqueue=1:device");
  ASSERT_EQ(run(failing, reported, fallback), PLX_OK) << last_error();
  EXPECT_GE(report.fallback_chunks, 1);
  expect_agree(cpu, fallback, "with a chunk on the CPU");
  plx_runtime_destroy(failing);
}

// GPU_REQUIRED: AUTO runs on the device (PoCL is a CPU-type device, which AUTO
// alone would leave out), and a failed chunk fails the call instead of
// running on the CPU.
TEST_F(CoaddDevice, GpuRequiredRunsAutoOnTheDeviceAndNeverFallsBack) {
  Inputs in(false);
  const plx_coadd_desc_t d = desc_for(in, PLX_INTERP_BILINEAR, PLX_COADD_MEAN, PLX_PREFER_AUTO);
  plx_coadd_desc_t on_cpu = d;
  on_cpu.device = PLX_PREFER_CPU;
  Out cpu, on_device, failed;
  ASSERT_EQ(run(rt_, on_cpu, cpu), PLX_OK) << last_error();
  plx_runtime_t* required = pocl_runtime(nullptr, 0, PLX_DEVICE_GPU_REQUIRED);
  ASSERT_EQ(run(required, d, on_device), PLX_OK) << last_error();
  EXPECT_GE(on_device.r.device_index, 0);
  expect_agree(cpu, on_device, "AUTO under GPU_REQUIRED");
  plx_runtime_destroy(required);

  plx_runtime_t* failing = pocl_runtime("enqueue=*:device", 0, PLX_DEVICE_GPU_REQUIRED);
  EXPECT_EQ(run(failing, d, failed), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("no CPU fallback"), std::string::npos) << last_error();
  plx_runtime_destroy(failing);
}

TEST_F(CoaddDevice, CallbackAndTileErrorsAreTaskFailures) {
  Inputs in(false);
  in.list[4].map = [](void*, int64_t, int64_t, const double*, const double*, double*, double*) { return 42; };
  Out out;
  EXPECT_EQ(run(rt_, desc_for(in, PLX_INTERP_BILINEAR, PLX_COADD_MEAN, PLX_PREFER_GPU), out), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("the coordinate map of input 4 returned 42"), std::string::npos) << last_error();

  Inputs ok(false);
  plx_coadd_desc_t d = desc_for(ok, PLX_INTERP_BILINEAR, PLX_COADD_MEAN, PLX_PREFER_GPU);
  d.tile = [](void*, int64_t, int64_t, const float*, const float*) { return 7; };
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  EXPECT_EQ(plx_coadd(rt_, &d, &r), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("tile function returned 7"), std::string::npos) << last_error();
}

TEST_F(CoaddDevice, ProgressCountsEveryOutputRowOverBands) {
  Inputs in(false);
  plx_coadd_desc_t d = desc_for(in, PLX_INTERP_NEAREST, PLX_COADD_SUM, PLX_PREFER_GPU);
  d.tile = [](void*, int64_t, int64_t, const float*, const float*) { return 0; };
  struct Seen {
    int64_t last_done = -1, total = 0;
    bool monotonic = true;
  } seen;
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.memory_budget_bytes = kResident + 2 * 16 * kW * 8;
  o.progress_interval_ms = 0;
  o.progress = [](const plx_progress_t* p, void* user) {
    auto* s = static_cast<Seen*>(user);
    s->monotonic = s->monotonic && p->done >= s->last_done;
    s->last_done = p->done;
    s->total = p->total;
    return 0;
  };
  o.progress_user_data = &seen;
  d.run_options = &o;
  plx_coadd_result_t r;
  plx_coadd_result_init(&r, sizeof r);
  ASSERT_EQ(plx_coadd(rt_, &d, &r), PLX_OK) << last_error();
  EXPECT_GT(r.tiles, 2);
  EXPECT_EQ(seen.total, kH);
  EXPECT_EQ(seen.last_done, kH);
  EXPECT_TRUE(seen.monotonic);
}

}  // namespace
