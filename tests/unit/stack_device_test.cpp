// plx_stack's OpenCL path on PoCL against its CPU path: every rule and
// combine, small N (private memory) and large N (global scratch), weights and
// normalization, any chunking, column tiles, out-of-memory splits, device
// failures falling back to the CPU, provider frames.
#include <gtest/gtest.h>
#include <parallax.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pocl_runtime.hpp"

namespace {

// N frames of h x w x c: noise, outliers, NaN, +-inf, a constant pixel,
// per-frame gain and offset (for normalization).
struct Frames {
  int64_t n, h, w;
  int32_t c;
  std::vector<float> data;
  std::vector<const float*> ptrs;
  Frames(int64_t n_, int64_t h_, int64_t w_, int32_t c_, uint64_t seed) : n(n_), h(h_), w(w_), c(c_) {
    const int64_t per = h * w * c;
    data.resize(static_cast<size_t>(n * per));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(100.0f, 5.0f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float gain = 0.5f + u(rng), offset = 20.0f * u(rng) - 10.0f;
      for (int64_t i = 0; i < per; ++i) {
        float v = noise(rng) * gain + offset;
        const float r = u(rng);
        if (r < 0.04f)
          v = 3000.0f;
        else if (r < 0.06f)
          v = NAN;
        else if (r < 0.065f)
          v = INFINITY;
        else if (r < 0.07f)
          v = -INFINITY;
        if (i == 0) v = 7.0f;
        data[static_cast<size_t>(j * per + i)] = v;
      }
    }
    for (int64_t j = 0; j < n; ++j) ptrs.push_back(data.data() + j * per);
  }
  int64_t pixels() const { return h * w * c; }
};

struct Out {
  std::vector<float> image;
  std::vector<int32_t> count, low, high;
  std::vector<int64_t> frame_rejected;
  plx_stack_result_t r;
};

struct Rule {
  int32_t reject, combine, weights = PLX_WEIGHTS_NONE, normalize = PLX_NORMALIZE_NONE;
};

plx_stack_desc_t desc_for(const Frames& f, const Rule& rule, int32_t device) {
  plx_stack_desc_t d;
  plx_stack_desc_init(&d, sizeof d);
  d.frames = f.n;
  d.height = f.h;
  d.width = f.w;
  d.channels = f.c;
  d.frame_data = f.ptrs.data();
  d.reject = rule.reject;
  d.combine = rule.combine;
  d.weights = rule.weights;
  d.normalize = rule.normalize;
  d.sigma_low = 2.5;
  d.sigma_high = 3.5;
  d.n_low = 2;
  d.device = device;
  return d;
}

plx_status_t run(plx_runtime_t* rt, const plx_stack_desc_t& d, Out& o) {
  const auto px = static_cast<size_t>(d.height * d.width * d.channels);
  o.image.assign(px, -1.0f);
  o.count.assign(px, -1);
  o.low.assign(px, -1);
  o.high.assign(px, -1);
  o.frame_rejected.assign(static_cast<size_t>(d.frames), -1);
  plx_stack_result_init(&o.r, sizeof o.r);
  o.r.image = o.image.data();
  o.r.count = o.count.data();
  o.r.rejected_low = o.low.data();
  o.r.rejected_high = o.high.data();
  o.r.frame_rejected = o.frame_rejected.data();
  return plx_stack(rt, &d, &o.r);
}

// CPU and OpenCL within 1e-6 relative, counts identical.
void expect_agree(const Out& cpu, const Out& gpu, const std::string& what) {
  int64_t bad = 0;
  for (size_t i = 0; i < cpu.image.size(); ++i) {
    const double a = cpu.image[i], b = gpu.image[i];
    const bool same = (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= 1e-6 * std::fabs(a);
    bad += !same;
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_EQ(cpu.count, gpu.count) << what;
  EXPECT_EQ(cpu.low, gpu.low) << what;
  EXPECT_EQ(cpu.high, gpu.high) << what;
  EXPECT_EQ(cpu.frame_rejected, gpu.frame_rejected) << what;
  EXPECT_EQ(cpu.r.kept, gpu.r.kept) << what;
  EXPECT_EQ(cpu.r.rejected, gpu.r.rejected) << what;
}

bool bits_equal(const Out& a, const Out& b) {
  return std::memcmp(a.image.data(), b.image.data(), a.image.size() * 4) == 0 && a.count == b.count && a.low == b.low &&
         a.high == b.high && a.frame_rejected == b.frame_rejected;
}

using StackDevice = PoclTest;

TEST_F(StackDevice, EveryRuleAgreesWithTheCpu) {
  const Rule rules[] = {
      {PLX_REJECT_NONE, PLX_COMBINE_MEAN},
      {PLX_REJECT_NONE, PLX_COMBINE_MEDIAN},
      {PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN},
      {PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_SUM},
      {PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MIN},
      {PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MAX},
      {PLX_REJECT_WINSORIZED_SIGMA_CLIP, PLX_COMBINE_MEDIAN},
      {PLX_REJECT_PERCENTILE, PLX_COMBINE_MEAN},
      {PLX_REJECT_MINMAX, PLX_COMBINE_MEAN},
      {PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_WEIGHTED_MEAN, PLX_WEIGHTS_NOISE_VARIANCE, PLX_NORMALIZE_MULTIPLICATIVE},
      {PLX_REJECT_MINMAX, PLX_COMBINE_WEIGHTED_MEAN, PLX_WEIGHTS_NOISE_VARIANCE, PLX_NORMALIZE_LINEAR_FIT},
      {PLX_REJECT_NONE, PLX_COMBINE_WEIGHTED_MEAN, PLX_WEIGHTS_NOISE_VARIANCE, PLX_NORMALIZE_ADDITIVE}};
  for (int64_t n : {1, 2, 3, 5, 8, 12, 31, 64, 65, 130}) {  // networks of 8 to 64; above, the global path
    Frames f(n, 9, 37, 2, static_cast<uint64_t>(n));
    for (const Rule& rule : rules) {
      const std::string what = "N=" + std::to_string(n) + " reject " + std::to_string(rule.reject) + " combine " +
                               std::to_string(rule.combine) + " normalize " + std::to_string(rule.normalize);
      Out cpu, gpu;
      ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_CPU), cpu), PLX_OK) << last_error();
      ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_GPU), gpu), PLX_OK) << last_error();
      EXPECT_EQ(cpu.r.device_index, -1);
      EXPECT_GE(gpu.r.device_index, 0) << what;
      expect_agree(cpu, gpu, what);
    }
  }
}

// Sky 100 +- 0.01 with saturated hits in half the frames or more: the
// survivors lie far from the median of all samples for their spread. The CPU
// sees that its prefix sums about that median have lost their digits and
// sums such ranges again about their own median; the kernel always does.
TEST_F(StackDevice, SurvivorsFarFromTheMedianAgreeWithTheCpu) {
  for (int64_t n : {8, 9, 70}) {
    Frames f(n, 6, 21, 1, static_cast<uint64_t>(n));
    std::mt19937_64 rng(static_cast<uint64_t>(n) + 7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < f.pixels(); ++i) {
        const bool hit = (j + i) % 2 == 0 || u(rng) < 0.1;
        f.data[static_cast<size_t>(j * f.pixels() + i)] =
            static_cast<float>(hit ? 30000 + 30000 * u(rng) : 100 + 0.02 * (u(rng) - 0.5));
      }
    for (const Rule& rule :
         {Rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN}, Rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_SUM},
          Rule{PLX_REJECT_WINSORIZED_SIGMA_CLIP, PLX_COMBINE_MEAN}, Rule{PLX_REJECT_MINMAX, PLX_COMBINE_MEAN}}) {
      plx_stack_desc_t cpu_desc = desc_for(f, rule, PLX_PREFER_CPU), gpu_desc = desc_for(f, rule, PLX_PREFER_GPU);
      cpu_desc.sigma_low = gpu_desc.sigma_low = 3;
      cpu_desc.sigma_high = gpu_desc.sigma_high = 1.5;
      cpu_desc.n_high = gpu_desc.n_high = static_cast<int32_t>(n / 2);
      Out cpu, gpu;
      ASSERT_EQ(run(rt_, cpu_desc, cpu), PLX_OK) << last_error();
      ASSERT_EQ(run(rt_, gpu_desc, gpu), PLX_OK) << last_error();
      EXPECT_GE(gpu.r.device_index, 0);
      expect_agree(cpu, gpu,
                   "N=" + std::to_string(n) + " reject " + std::to_string(rule.reject) + " combine " +
                       std::to_string(rule.combine));
    }
  }
}

// Small counts put samples exactly on a bound, and two survivors lie on
// their own bounds at sigma 1: the kernel's sums (about each range's median)
// and the CPU's (the prefix sums, or about the median for two samples) are
// exact there, and both keep such samples.
TEST_F(StackDevice, SamplesOnABoundAgreeWithTheCpu) {
  for (int64_t n : {5, 7, 20}) {
    Frames f(n, 9, 37, 1, static_cast<uint64_t>(n));
    std::mt19937_64 rng(static_cast<uint64_t>(n) + 11);
    for (float& v : f.data) v = static_cast<float>(rng() % 4);
    for (double sigma_low : {3.0, 1.0})
      for (const Rule& rule :
           {Rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN}, Rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_SUM}})
        for (int32_t centre : {PLX_CENTRE_MEDIAN, PLX_CENTRE_MEAN}) {
          plx_stack_desc_t cpu_desc = desc_for(f, rule, PLX_PREFER_CPU), gpu_desc = desc_for(f, rule, PLX_PREFER_GPU);
          cpu_desc.sigma_low = gpu_desc.sigma_low = sigma_low;
          cpu_desc.sigma_high = gpu_desc.sigma_high = sigma_low == 1 ? 1 : 2.5;
          cpu_desc.centre = gpu_desc.centre = centre;
          Out cpu, gpu;
          ASSERT_EQ(run(rt_, cpu_desc, cpu), PLX_OK) << last_error();
          ASSERT_EQ(run(rt_, gpu_desc, gpu), PLX_OK) << last_error();
          EXPECT_GE(gpu.r.device_index, 0);
          expect_agree(cpu, gpu,
                       "N=" + std::to_string(n) + " sigma_low " + std::to_string(sigma_low) + " centre " +
                           std::to_string(centre));
        }
  }
}

TEST_F(StackDevice, SameBitsForAnyChunkingAndColumnTiles) {
  Frames f(40, 33, 301, 1, 7);
  const Rule rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN};
  Out whole, tiled, chunked;
  ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_GPU), whole), PLX_OK) << last_error();
  // A budget of a few rows of all frames: column tiles and many small chunks.
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.memory_budget_bytes = 40 * 64 * 4 * 16;
  plx_stack_desc_t d = desc_for(f, rule, PLX_PREFER_GPU);
  d.run_options = &o;
  ASSERT_EQ(run(rt_, d, tiled), PLX_OK) << last_error();
  EXPECT_GT(tiled.r.tiles, whole.r.tiles);
  // Tiles change where a pixel's row starts, never its samples: the same bits.
  EXPECT_TRUE(bits_equal(whole, tiled));
  plx_runtime_t* small = pocl_runtime(nullptr, 40 * 301 * 4 * 3);  // device memory for about one row
  ASSERT_EQ(run(small, desc_for(f, rule, PLX_PREFER_GPU), chunked), PLX_OK) << last_error();
  EXPECT_TRUE(bits_equal(whole, chunked));
  plx_runtime_destroy(small);
}

TEST_F(StackDevice, OutOfMemorySplitsAndDeviceFailuresFallBackToTheCpu) {
  Frames f(20, 64, 64, 1, 9);
  const Rule rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN};
  Out cpu, split, fallback;
  ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_CPU), cpu), PLX_OK) << last_error();
  plx_runtime_t* oom = pocl_runtime("alloc=2:out_of_memory");
  ASSERT_EQ(run(oom, desc_for(f, rule, PLX_PREFER_GPU), split), PLX_OK) << last_error();
  expect_agree(cpu, split, "after an out-of-memory split");
  plx_runtime_destroy(oom);
  plx_runtime_t* failing = pocl_runtime("enqueue=1:device");
  plx_run_report_t report;
  report.struct_size = sizeof report;
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.report = &report;
  plx_stack_desc_t d = desc_for(f, rule, PLX_PREFER_GPU);
  d.run_options = &o;
  ASSERT_EQ(run(failing, d, fallback), PLX_OK) << last_error();
  EXPECT_GE(report.fallback_chunks, 1);
  expect_agree(cpu, fallback, "with a chunk on the CPU");
  plx_runtime_destroy(failing);
}

// The maps (count, low, high) a caller leaves NULL are not transferred; the
// totals then come from the kernel's per-row sums. The same image and totals
// with every map, some or none; in place, in column tiles and on the CPU
// fallback of a failed chunk.
TEST_F(StackDevice, MapsLeftOutChangeNeitherTheImageNorTheTotals) {
  Frames f(24, 33, 301, 2, 5);
  const Rule rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN};
  Out all;
  ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_GPU), all), PLX_OK) << last_error();
  for (int fallback = 0; fallback < 2; ++fallback) {
    for (int tiled = 0; tiled < 2; ++tiled) {
      for (int keep = 0; keep < 2; ++keep) {  // none of the maps, or the count alone
        plx_runtime_t* rt = fallback ? pocl_runtime("enqueue=1:device") : rt_;
        plx_run_report_t report;
        report.struct_size = sizeof report;
        plx_run_options_t o;
        plx_run_options_init(&o, sizeof o);
        o.report = &report;
        if (tiled) o.memory_budget_bytes = 24 * 64 * 4 * 32;  // column tiles
        plx_stack_desc_t d = desc_for(f, rule, PLX_PREFER_GPU);
        d.run_options = &o;
        Out some;
        some.image.assign(all.image.size(), -1.0f);
        some.count.assign(all.count.size(), -1);
        plx_stack_result_init(&some.r, sizeof some.r);
        some.r.image = some.image.data();
        if (keep) some.r.count = some.count.data();
        const std::string what = std::string(fallback ? "with a CPU fallback" : "on the device") +
                                 (tiled ? ", in column tiles" : "") + (keep ? ", the count alone" : ", no map");
        ASSERT_EQ(plx_stack(rt, &d, &some.r), PLX_OK) << last_error();
        EXPECT_EQ(std::memcmp(all.image.data(), some.image.data(), all.image.size() * 4), 0) << what;
        EXPECT_EQ(some.r.kept, all.r.kept) << what;
        EXPECT_EQ(some.r.rejected, all.r.rejected) << what;
        if (keep) {
          EXPECT_EQ(some.count, all.count) << what;
        }
        if (tiled) {
          EXPECT_NE(some.r.tiles, all.r.tiles) << what;  // the budget cut the image otherwise
        }
        if (fallback) {
          EXPECT_GE(report.fallback_chunks, 1) << what;
          plx_runtime_destroy(rt);
        }
      }
    }
  }
}

int provide(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int32_t channel,
            float* dst, int64_t dst_stride) {
  const auto* f = static_cast<const Frames*>(user);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_stride, f->ptrs[static_cast<size_t>(frame)] + (channel * f->h + row0 + r) * f->w + col0,
                static_cast<size_t>(cols) * 4);
  return 0;
}

TEST_F(StackDevice, ProviderFramesGiveTheSameBitsAsHostFrames) {
  Frames f(70, 17, 45, 3, 11);
  const Rule rule{PLX_REJECT_WINSORIZED_SIGMA_CLIP, PLX_COMBINE_MEAN};
  Out host, provided;
  ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_GPU), host), PLX_OK) << last_error();
  plx_stack_desc_t d = desc_for(f, rule, PLX_PREFER_GPU);
  d.frame_data = nullptr;
  d.provider = provide;
  d.provider_user_data = &f;
  ASSERT_EQ(run(rt_, d, provided), PLX_OK) << last_error();
  EXPECT_TRUE(bits_equal(host, provided));
}

// GPU_REQUIRED: AUTO runs on the device (PoCL is a CPU-type device, which AUTO
// alone would leave out), and a failed chunk fails the call instead of
// running on the CPU.
TEST_F(StackDevice, GpuRequiredRunsAutoOnTheDeviceAndNeverFallsBack) {
  Frames f(6, 20, 30, 1, 3);
  const Rule rule{PLX_REJECT_SIGMA_CLIP, PLX_COMBINE_MEAN};
  Out cpu, on_device, failed;
  ASSERT_EQ(run(rt_, desc_for(f, rule, PLX_PREFER_CPU), cpu), PLX_OK) << last_error();
  plx_runtime_t* required = pocl_runtime(nullptr, 0, PLX_DEVICE_GPU_REQUIRED);
  ASSERT_EQ(run(required, desc_for(f, rule, PLX_PREFER_AUTO), on_device), PLX_OK) << last_error();
  EXPECT_GE(on_device.r.device_index, 0);
  expect_agree(cpu, on_device, "AUTO under GPU_REQUIRED");
  plx_runtime_destroy(required);

  plx_runtime_t* failing = pocl_runtime("enqueue=*:device", 0, PLX_DEVICE_GPU_REQUIRED);
  EXPECT_EQ(run(failing, desc_for(f, rule, PLX_PREFER_AUTO), failed), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("no CPU fallback"), std::string::npos) << last_error();
  plx_runtime_destroy(failing);
}

// MINMAX counts are int32 each; their sum must not wrap in the kernel (it
// did: n_low = n_high = 2^30 rejected samples it had no room for).
TEST_F(StackDevice, MinmaxCountsBeyondTheFramesRejectNothing) {
  Frames f(5, 8, 16, 1, 4);
  Out none, cpu, gpu;
  ASSERT_EQ(run(rt_, desc_for(f, {PLX_REJECT_NONE, PLX_COMBINE_MEAN}, PLX_PREFER_CPU), none), PLX_OK) << last_error();
  for (const int32_t n : {5, 1 << 30, INT32_MAX}) {
    plx_stack_desc_t d = desc_for(f, {PLX_REJECT_MINMAX, PLX_COMBINE_MEAN}, PLX_PREFER_CPU);
    d.n_low = d.n_high = n;
    ASSERT_EQ(run(rt_, d, cpu), PLX_OK) << last_error();
    d.device = PLX_PREFER_GPU;
    ASSERT_EQ(run(rt_, d, gpu), PLX_OK) << last_error();
    const std::string what = "n_low = n_high = " + std::to_string(n);
    expect_agree(none, cpu, what + " on the CPU");
    expect_agree(none, gpu, what + " on the device");
  }
}

TEST_F(StackDevice, AProviderErrorIsReportedWithItsRange) {
  Frames f(4, 8, 8, 1, 1);
  plx_stack_desc_t d = desc_for(f, {PLX_REJECT_NONE, PLX_COMBINE_MEAN}, PLX_PREFER_GPU);
  d.frame_data = nullptr;
  d.provider = [](void*, int64_t frame, int64_t, int64_t, int64_t, int64_t, int32_t, float*, int64_t) {
    return frame == 2 ? 42 : 0;
  };
  plx_run_report_t report;
  report.struct_size = sizeof report;
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.report = &report;
  d.run_options = &o;
  Out out;
  EXPECT_EQ(run(rt_, d, out), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("returned 42 for frame 2"), std::string::npos) << last_error();
  // The report says so, as the CPU path's does.
  EXPECT_GE(report.failed, 1);
  EXPECT_EQ(report.callback_code, 42);
  EXPECT_GE(report.failed_begin, 0);
  EXPECT_GT(report.failed_end, report.failed_begin);
}

}  // namespace
