// plx_stack through the public API, as a host calls it: bad input on every
// field of plx_stack_desc_t and plx_stack_result_t (a status, a message that
// names the field, and outputs left alone), the _init defaults, results that
// do not depend on workers, memory budget, provider or strides, the totals,
// cancellation and progress, plx_stack_plan and the device preference.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parallax.h"

namespace {

using nlohmann::json;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string profile(const char* name) { return std::string(PLX_SOURCE_DIR) + "/profiles/" + name; }

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) return false;
  }
  return true;
}

// N frames of H x W x C (planar, packed), with missing samples, infinities
// and outliers, and every output of a stack.
struct Stack {
  int64_t n, h, w;
  int32_t c;
  std::vector<std::vector<float>> frames;
  std::vector<const float*> pointers;
  std::vector<double> weights;
  std::vector<float> image;
  std::vector<int32_t> count, low, high;
  std::vector<int64_t> frame_rejected;
  std::vector<double> frame_scale, frame_offset, frame_weight;
  plx_stack_desc_t desc;
  plx_stack_result_t result;

  Stack(int64_t n_, int64_t h_, int64_t w_, int32_t c_, uint64_t seed = 1) : n(n_), h(h_), w(w_), c(c_) {
    for (int64_t j = 0; j < n; ++j) {
      const double gain = 1.0 + 0.1 * static_cast<double>(j % 3);
      std::vector<float> f(static_cast<size_t>(h * w * c));
      for (size_t i = 0; i < f.size(); ++i) {
        const uint64_t r = mix(seed * 1000003 + static_cast<uint64_t>(j) * 7919 + i);
        const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
        float v = static_cast<float>(gain * (100.0 + 0.01 * static_cast<double>(i % 97) + 3.0 * (u - 0.5)));
        if (r % 31 == 0) v = kNaN;
        if (r % 53 == 0) v = static_cast<float>(gain * 5000);
        if (r % 101 == 0) v = kInf;
        if (r % 103 == 0) v = -kInf;
        f[i] = v;
      }
      frames.push_back(std::move(f));
      weights.push_back(0.5 + static_cast<double>(j % 4));
    }
    for (const auto& f : frames) pointers.push_back(f.data());
    EXPECT_EQ(plx_stack_desc_init(&desc, sizeof desc), PLX_OK);
    desc.frames = n;
    desc.height = h;
    desc.width = w;
    desc.channels = c;
    desc.frame_data = pointers.data();
    desc.reject = PLX_REJECT_SIGMA_CLIP;
    desc.sigma_low = desc.sigma_high = 2.5;
    reset_outputs();
  }

  // Outputs full of sentinels; the result points at all of them.
  void reset_outputs() {
    const size_t pixels = static_cast<size_t>(h * w * c), fc = static_cast<size_t>(n * c);
    image.assign(pixels, -777.0f);
    count.assign(pixels, -7);
    low.assign(pixels, -7);
    high.assign(pixels, -7);
    frame_rejected.assign(static_cast<size_t>(n), -7);
    frame_scale.assign(fc, -7);
    frame_offset.assign(fc, -7);
    frame_weight.assign(fc, -7);
    EXPECT_EQ(plx_stack_result_init(&result, sizeof result), PLX_OK);
    result.image = image.data();
    result.count = count.data();
    result.rejected_low = low.data();
    result.rejected_high = high.data();
    result.frame_rejected = frame_rejected.data();
    result.frame_scale = frame_scale.data();
    result.frame_offset = frame_offset.data();
    result.frame_weight = frame_weight.data();
    result.samples = result.missing = result.kept = result.rejected = -99;
    result.tiles = result.tile_rows = -99;
    result.workers = -99;
  }

  int64_t nan_samples() const {
    int64_t k = 0;
    for (const auto& f : frames)
      for (float v : f) k += std::isnan(v);
    return k;
  }

  // Everything a stack writes, to compare runs.
  struct Outputs {
    std::vector<float> image;
    std::vector<int32_t> count, low, high;
    std::vector<int64_t> frame_rejected;
    std::vector<double> frame_scale, frame_offset, frame_weight;
    int64_t samples, missing, kept, rejected;
  };
  Outputs outputs() const {
    return {image,          count,          low,          high,
            frame_rejected, frame_scale,    frame_offset, frame_weight,
            result.samples, result.missing, result.kept,  result.rejected};
  }
};

void expect_same(const Stack::Outputs& a, const Stack::Outputs& b, const std::string& what) {
  EXPECT_TRUE(same_bits(a.image, b.image)) << what;
  EXPECT_EQ(a.count, b.count) << what;
  EXPECT_EQ(a.low, b.low) << what;
  EXPECT_EQ(a.high, b.high) << what;
  EXPECT_EQ(a.frame_rejected, b.frame_rejected) << what;
  EXPECT_EQ(a.frame_scale, b.frame_scale) << what;
  EXPECT_EQ(a.frame_offset, b.frame_offset) << what;
  EXPECT_EQ(a.frame_weight, b.frame_weight) << what;
  EXPECT_EQ(a.samples, b.samples) << what;
  EXPECT_EQ(a.missing, b.missing) << what;
  EXPECT_EQ(a.kept, b.kept) << what;
  EXPECT_EQ(a.rejected, b.rejected) << what;
}

class StackApi : public testing::Test {
 protected:
  void SetUp() override {
    plx_runtime_options_t o;
    ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
    profile_ = profile("tiny-2c-4g.json");
    o.machine_profile = profile_.c_str();
    o.device_policy = PLX_DEVICE_CPU_ONLY;
    o.cache_dir = "";
    ASSERT_EQ(plx_runtime_create(&o, &rt_), PLX_OK) << plx_last_error_message();
  }
  void TearDown() override { plx_runtime_destroy(rt_); }

  plx_status_t stack(Stack& s, const plx_run_options_t* run = nullptr) {
    s.desc.run_options = run;
    return plx_stack(rt_, &s.desc, &s.result);
  }
  void stack_ok(Stack& s, const plx_run_options_t* run = nullptr) {
    ASSERT_EQ(stack(s, run), PLX_OK) << plx_last_error_message();
  }
  plx_run_options_t run_options() {
    plx_run_options_t r;
    EXPECT_EQ(plx_run_options_init(&r, sizeof r), PLX_OK);
    return r;
  }

  std::string profile_;
  plx_runtime_t* rt_ = nullptr;
};

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

TEST_F(StackApi, DescInitDefaults) {
  plx_stack_desc_t d;
  std::memset(&d, 0xA5, sizeof d);
  ASSERT_EQ(plx_stack_desc_init(&d, sizeof d), PLX_OK);
  EXPECT_EQ(d.struct_size, sizeof d);
  EXPECT_EQ(d.frames, 0);
  EXPECT_EQ(d.height, 0);
  EXPECT_EQ(d.width, 0);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.combine, PLX_COMBINE_MEAN);
  EXPECT_EQ(d.frame_data, nullptr);
  EXPECT_EQ(d.row_stride, 0);
  EXPECT_EQ(d.channel_stride, 0);
  EXPECT_EQ(d.provider, nullptr);
  EXPECT_EQ(d.provider_user_data, nullptr);
  EXPECT_EQ(d.provider_rows, 0);
  EXPECT_EQ(d.reject, PLX_REJECT_NONE);
  EXPECT_EQ(d.centre, PLX_CENTRE_MEDIAN);
  EXPECT_EQ(d.sigma_low, 3.0);
  EXPECT_EQ(d.sigma_high, 3.0);
  EXPECT_EQ(d.max_iters, 5);
  EXPECT_EQ(d.n_low, 1);
  EXPECT_EQ(d.n_high, 1);
  EXPECT_EQ(d.weights, PLX_WEIGHTS_NONE);
  EXPECT_EQ(d.percentile_low, 10.0);
  EXPECT_EQ(d.percentile_high, 90.0);
  EXPECT_EQ(d.frame_weights, nullptr);
  EXPECT_EQ(d.normalize, PLX_NORMALIZE_NONE);
  EXPECT_EQ(d.device, PLX_PREFER_AUTO);
  EXPECT_EQ(d.reference_frame, 0);
  EXPECT_EQ(d.run_options, nullptr);

  auto fails = [](plx_status_t got, plx_status_t want, const char* text) {
    EXPECT_EQ(got, want) << plx_last_error_message();
    EXPECT_NE(std::string(plx_last_error_message()).find(text), std::string::npos) << plx_last_error_message();
  };
  fails(plx_stack_desc_init(nullptr, sizeof d), PLX_ERR_INVALID_ARGUMENT, "NULL");
  fails(plx_stack_desc_init(&d, 0), PLX_ERR_INVALID_ARGUMENT, "struct_size is 0");
  fails(plx_stack_desc_init(&d, 16), PLX_ERR_VERSION, "plx_stack_desc_t");
  fails(plx_stack_desc_init(&d, 1 << 20), PLX_ERR_INVALID_ARGUMENT, "plausible");
  // A newer header's larger struct: known fields filled, the rest zeroed.
  unsigned char bigger[sizeof(plx_stack_desc_t) + 24];
  std::memset(bigger, 0xEE, sizeof bigger);
  ASSERT_EQ(plx_stack_desc_init(reinterpret_cast<plx_stack_desc_t*>(bigger), sizeof bigger), PLX_OK);
  for (size_t i = sizeof(plx_stack_desc_t); i < sizeof bigger; ++i) ASSERT_EQ(bigger[i], 0) << i;
  plx_stack_desc_t head;
  std::memcpy(&head, bigger, sizeof head);
  EXPECT_EQ(head.struct_size, sizeof bigger);
  EXPECT_EQ(head.max_iters, 5);
}

TEST_F(StackApi, ResultInitDefaults) {
  plx_stack_result_t r;
  std::memset(&r, 0xA5, sizeof r);
  ASSERT_EQ(plx_stack_result_init(&r, sizeof r), PLX_OK);
  EXPECT_EQ(r.struct_size, sizeof r);
  EXPECT_EQ(r.image, nullptr);
  EXPECT_EQ(r.count, nullptr);
  EXPECT_EQ(r.rejected_low, nullptr);
  EXPECT_EQ(r.rejected_high, nullptr);
  EXPECT_EQ(r.frame_rejected, nullptr);
  EXPECT_EQ(r.frame_scale, nullptr);
  EXPECT_EQ(r.frame_offset, nullptr);
  EXPECT_EQ(r.frame_weight, nullptr);
  EXPECT_EQ(r.samples, 0);
  EXPECT_EQ(r.missing, 0);
  EXPECT_EQ(r.kept, 0);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(r.tiles, 0);
  EXPECT_EQ(r.simd_target[0], '\0');
  EXPECT_EQ(plx_stack_result_init(nullptr, sizeof r), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_stack_result_init(&r, 0), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_stack_result_init(&r, 8), PLX_ERR_VERSION);
  EXPECT_NE(std::string(plx_last_error_message()).find("plx_stack_result_t"), std::string::npos);
  unsigned char bigger[sizeof(plx_stack_result_t) + 24];
  std::memset(bigger, 0xEE, sizeof bigger);
  ASSERT_EQ(plx_stack_result_init(reinterpret_cast<plx_stack_result_t*>(bigger), sizeof bigger), PLX_OK);
  for (size_t i = sizeof(plx_stack_result_t); i < sizeof bigger; ++i) ASSERT_EQ(bigger[i], 0) << i;
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

int copy_provider(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int32_t channel,
                  float* dst, int64_t dst_stride);

struct BadCase {
  std::string what;
  std::function<void(Stack&)> change;
  plx_status_t status;
  std::string text;          // the message must contain it
  bool result_only = false;  // plx_stack_plan does not read the result
};

// Every field, one at a time, from a valid stack: the status, a message that
// names the field, nothing written to the outputs or the result, and the
// same answer from plx_stack_plan (with a NULL plan).
TEST_F(StackApi, BadInputOnEveryField) {
  static const double kNoWeights[] = {1, 2, 3, 4, 5};
  static double bad_weights[5];
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  std::vector<BadCase> cases;
  auto add = [&](std::string what, std::function<void(Stack&)> change, plx_status_t status, std::string text,
                 bool result_only = false) {
    cases.push_back({std::move(what), std::move(change), status, std::move(text), result_only});
  };
  const auto E = PLX_ERR_INVALID_ARGUMENT;
  // struct_size of the desc.
  add(
      "desc.struct_size 0", [](Stack& s) { s.desc.struct_size = 0; }, E, "struct_size is 0");
  add(
      "desc.struct_size 8", [](Stack& s) { s.desc.struct_size = 8; }, PLX_ERR_VERSION, "plx_stack_desc_t");
  add(
      "desc.struct_size 0.1.0's - 8", [](Stack& s) { s.desc.struct_size = 168 - 8; }, PLX_ERR_VERSION,
      "plx_stack_desc_t");
  add(
      "desc.struct_size huge", [](Stack& s) { s.desc.struct_size = 1 << 20; }, E, "plausible");
  // Sizes.
  for (int64_t v : {int64_t{0}, int64_t{-1}, INT64_MIN, int64_t{1} << 31, INT64_MAX})
    add(
        "frames " + std::to_string(v), [v](Stack& s) { s.desc.frames = v; }, E, "desc.frames");
  for (int64_t v : {int64_t{0}, int64_t{-5}, INT64_MIN}) {
    add(
        "height " + std::to_string(v), [v](Stack& s) { s.desc.height = v; }, E, "desc.height");
    add(
        "width " + std::to_string(v), [v](Stack& s) { s.desc.width = v; }, E, "desc.width");
  }
  add(
      "height x width overflows", [](Stack& s) { s.desc.height = s.desc.width = int64_t{1} << 40; }, E, "overflows");
  add(
      "x channels overflows",
      [](Stack& s) {
        s.desc.height = int64_t{1} << 30;
        s.desc.width = int64_t{1} << 30;
        s.desc.channels = 64;
      },
      E, "overflows");
  add(
      "x frames overflows",  // 4 x pixels fits 64 bits, 5 frames x pixels do not
      [](Stack& s) {
        s.desc.height = (int64_t{1} << 31) - 1;
        s.desc.width = int64_t{1} << 30;
        s.desc.channels = 1;
      },
      E, "overflows");
  for (int32_t v : {0, -1, 65, INT32_MAX})
    add(
        "channels " + std::to_string(v), [v](Stack& s) { s.desc.channels = v; }, E, "desc.channels");
  // Enums.
  for (int32_t v : {-1, 6, 1000})
    add(
        "combine", [v](Stack& s) { s.desc.combine = v; }, E, "desc.combine");
  for (int32_t v : {-1, 5})
    add(
        "reject", [v](Stack& s) { s.desc.reject = v; }, E, "desc.reject");
  for (int32_t v : {-1, 2})
    add(
        "centre", [v](Stack& s) { s.desc.centre = v; }, E, "desc.centre");
  for (int32_t v : {-1, 3})
    add(
        "weights", [v](Stack& s) { s.desc.weights = v; }, E, "desc.weights");
  for (int32_t v : {-1, 4})
    add(
        "normalize", [v](Stack& s) { s.desc.normalize = v; }, E, "desc.normalize");
  for (int32_t v : {-1, 3})
    add(
        "device", [v](Stack& s) { s.desc.device = v; }, E, "desc.device");
  // Input.
  add(
      "no input", [](Stack& s) { s.desc.frame_data = nullptr; }, E, "frame_data");
  add(
      "frame_data and provider", [](Stack& s) { s.desc.provider = copy_provider; }, E, "provider");
  add(
      "frame_data[3] NULL", [](Stack& s) { s.pointers[3] = nullptr; }, E, "frame_data[3]");
  add(
      "row_stride < width", [](Stack& s) { s.desc.row_stride = s.w - 1; }, E, "row_stride");
  add(
      "row_stride negative", [](Stack& s) { s.desc.row_stride = -1; }, E, "row_stride");
  add(
      "channel_stride too small", [](Stack& s) { s.desc.channel_stride = s.h * s.w - 1; }, E, "channel_stride");
  add(
      "channel_stride negative", [](Stack& s) { s.desc.channel_stride = -8; }, E, "channel_stride");
  add(
      "channel_stride negative, one channel",
      [](Stack& s) {
        s.desc.channels = 1;
        s.desc.channel_stride = -8;
      },
      E, "channel_stride");
  // The last channel's offset wraps or runs past any address space.
  for (int64_t v : {int64_t{1} << 61, INT64_MAX})
    add(
        "channel_stride " + std::to_string(v), [v](Stack& s) { s.desc.channel_stride = v; }, E,
        "(channels - 1) x channel_stride");
  add(
      "a row wider than any address space",  // H x W x C x N fits 64 bits, but not 4 bytes a pixel
      [](Stack& s) {
        s.desc.frames = 1;
        s.desc.height = 1;
        s.desc.channels = 1;
        s.desc.width = (int64_t{1} << 61) - 1;
      },
      E, "more than any address space");
  add(
      "channel_stride too small for row_stride",
      [](Stack& s) {
        s.desc.row_stride = s.w + 4;
        s.desc.channel_stride = s.h * s.w;
      },
      E, "channel_stride");
  for (int64_t v : {int64_t{-2}, INT64_MIN})
    add(
        "provider_rows " + std::to_string(v),
        [v](Stack& s) {
          s.desc.frame_data = nullptr;
          s.desc.provider = copy_provider;
          s.desc.provider_user_data = &s;
          s.desc.provider_rows = v;
        },
        E, "provider_rows");
  add(
      "provider with row_stride",
      [](Stack& s) {
        s.desc.frame_data = nullptr;
        s.desc.provider = copy_provider;
        s.desc.provider_user_data = &s;
        s.desc.row_stride = s.w;
      },
      E, "row_stride");
  // Rejection parameters.
  for (double v : {-1.0, -0.0001, nan, inf, -inf}) {
    add(
        "sigma_low " + std::to_string(v), [v](Stack& s) { s.desc.sigma_low = v; }, E, "desc.sigma_low");
    add(
        "sigma_high " + std::to_string(v), [v](Stack& s) { s.desc.sigma_high = v; }, E, "desc.sigma_high");
  }
  for (int32_t v : {0, -2, INT32_MIN})
    add(
        "max_iters " + std::to_string(v), [v](Stack& s) { s.desc.max_iters = v; }, E, "desc.max_iters");
  add(
      "n_low -1", [](Stack& s) { s.desc.n_low = -1; }, E, "n_low");
  add(
      "n_high -1", [](Stack& s) { s.desc.n_high = -1; }, E, "n_high");
  for (double v : {-0.5, 100.5, nan, inf})
    add(
        "percentile_low " + std::to_string(v), [v](Stack& s) { s.desc.percentile_low = v; }, E, "percentile_low");
  for (double v : {100.5, nan, -inf})
    add(
        "percentile_high " + std::to_string(v), [v](Stack& s) { s.desc.percentile_high = v; }, E, "percentile_high");
  add(
      "percentile_low > percentile_high",
      [](Stack& s) {
        s.desc.percentile_low = 60;
        s.desc.percentile_high = 40;
      },
      E, "percentile_high");
  // Weights.
  add(
      "WEIGHTED_MEAN without weights", [](Stack& s) { s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN; }, E,
      "WEIGHTED_MEAN");
  add(
      "GIVEN without frame_weights",
      [](Stack& s) {
        s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
        s.desc.weights = PLX_WEIGHTS_GIVEN;
      },
      E, "frame_weights");
  add(
      "frame_weights without GIVEN", [](Stack& s) { s.desc.frame_weights = kNoWeights; }, E, "frame_weights");
  add(
      "frame_weights with NOISE_VARIANCE",
      [](Stack& s) {
        s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
        s.desc.weights = PLX_WEIGHTS_NOISE_VARIANCE;
        s.desc.frame_weights = kNoWeights;
      },
      E, "frame_weights");
  add(
      "weights without WEIGHTED_MEAN",
      [](Stack& s) {
        s.desc.weights = PLX_WEIGHTS_GIVEN;
        s.desc.frame_weights = kNoWeights;
      },
      E, "weights");
  for (double v : {nan, -1.0, inf, -inf})
    add(
        "frame_weights[2] " + std::to_string(v),
        [v](Stack& s) {
          std::copy(kNoWeights, kNoWeights + 5, bad_weights);
          bad_weights[2] = v;
          s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
          s.desc.weights = PLX_WEIGHTS_GIVEN;
          s.desc.frame_weights = bad_weights;
        },
        E, "frame_weights[2]");
  add(
      "frame_weights all 0",
      [](Stack& s) {
        std::fill(bad_weights, bad_weights + 5, 0.0);
        s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
        s.desc.weights = PLX_WEIGHTS_GIVEN;
        s.desc.frame_weights = bad_weights;
      },
      E, "frame_weights");
  // Normalization reference.
  for (int64_t v : {int64_t{-1}, int64_t{5}, INT64_MAX})
    add(
        "reference_frame " + std::to_string(v), [v](Stack& s) { s.desc.reference_frame = v; }, E, "reference_frame");
  // The run's options.
  add(
      "run_options.workers -1",
      [](Stack& s) {
        static plx_run_options_t r;
        plx_run_options_init(&r, sizeof r);
        r.workers = -1;
        s.desc.run_options = &r;
      },
      E, "workers");
  add(
      "run_options.struct_size 0",
      [](Stack& s) {
        static plx_run_options_t r;
        plx_run_options_init(&r, sizeof r);
        r.struct_size = 0;
        s.desc.run_options = &r;
      },
      E, "struct_size");
  // The result.
  add(
      "result.image NULL", [](Stack& s) { s.result.image = nullptr; }, E, "result.image", true);
  add(
      "result.struct_size 0", [](Stack& s) { s.result.struct_size = 0; }, E, "struct_size is 0", true);
  add(
      "result.struct_size 8", [](Stack& s) { s.result.struct_size = 8; }, PLX_ERR_VERSION, "plx_stack_result_t", true);
  add(
      "result.struct_size huge", [](Stack& s) { s.result.struct_size = 100000; }, E, "plausible", true);

  for (const BadCase& bc : cases) {
    SCOPED_TRACE(bc.what);
    Stack s(5, 6, 7, 2);
    bc.change(s);
    const plx_run_options_t* run = s.desc.run_options;
    const plx_stack_result_t before = s.result;
    const Stack::Outputs outputs_before = s.outputs();
    EXPECT_EQ(plx_stack(rt_, &s.desc, &s.result), bc.status) << plx_last_error_message();
    EXPECT_EQ(plx_last_error_status(), bc.status);
    const std::string message = plx_last_error_message();
    EXPECT_NE(message.find(bc.text), std::string::npos) << "message: " << message << "\nwant: " << bc.text;
    EXPECT_NE(message.find("plx_stack"), std::string::npos) << message;
    EXPECT_EQ(std::memcmp(&before, &s.result, sizeof before), 0) << "the result struct was written";
    expect_same(outputs_before, s.outputs(), "outputs written");
    EXPECT_EQ(s.image, std::vector<float>(s.image.size(), -777.0f));
    if (!bc.result_only) {
      plx_plan_t* plan = reinterpret_cast<plx_plan_t*>(0x1);
      s.desc.run_options = run;
      EXPECT_EQ(plx_stack_plan(rt_, &s.desc, &plan), bc.status) << plx_last_error_message();
      EXPECT_EQ(plan, nullptr) << "the out-handle is NULL after a failure";
      EXPECT_NE(std::string(plx_last_error_message()).find(bc.text), std::string::npos) << plx_last_error_message();
      if (plan != reinterpret_cast<plx_plan_t*>(0x1)) plx_plan_destroy(plan);
    }
  }
}

TEST_F(StackApi, NullPointers) {
  Stack s(3, 4, 5, 1);
  auto fails = [](plx_status_t got, const char* text) {
    EXPECT_EQ(got, PLX_ERR_INVALID_ARGUMENT) << plx_last_error_message();
    EXPECT_NE(std::string(plx_last_error_message()).find(text), std::string::npos) << plx_last_error_message();
  };
  fails(plx_stack(nullptr, &s.desc, &s.result), "runtime");
  fails(plx_stack(rt_, nullptr, &s.result), "desc");
  fails(plx_stack(rt_, &s.desc, nullptr), "result");
  plx_plan_t* plan = nullptr;
  fails(plx_stack_plan(nullptr, &s.desc, &plan), "runtime");
  fails(plx_stack_plan(rt_, nullptr, &plan), "desc");
  fails(plx_stack_plan(rt_, &s.desc, nullptr), "plan");
  EXPECT_EQ(s.image, std::vector<float>(s.image.size(), -777.0f));
}

// struct_size larger than this library's struct (a newer header): accepted
// when the unknown tail is zero, refused with PLX_ERR_VERSION otherwise.
TEST_F(StackApi, LargerStructsFromANewerHeader) {
  Stack s(3, 4, 5, 1);
  struct {
    plx_stack_desc_t desc;
    unsigned char tail[32];
  } big_desc;
  struct {
    plx_stack_result_t result;
    unsigned char tail[32];
  } big_result;
  big_desc.desc = s.desc;
  big_desc.desc.struct_size = sizeof big_desc;
  std::memset(big_desc.tail, 0, sizeof big_desc.tail);
  big_result.result = s.result;
  big_result.result.struct_size = sizeof big_result;
  std::memset(big_result.tail, 0, sizeof big_result.tail);
  ASSERT_EQ(plx_stack(rt_, &big_desc.desc, &big_result.result), PLX_OK) << plx_last_error_message();
  EXPECT_EQ(big_result.result.samples, 3 * 4 * 5);
  EXPECT_EQ(big_result.result.struct_size, sizeof big_result) << "struct_size is the caller's";
  for (unsigned char b : big_result.tail) EXPECT_EQ(b, 0);

  big_desc.tail[5] = 1;
  EXPECT_EQ(plx_stack(rt_, &big_desc.desc, &big_result.result), PLX_ERR_VERSION);
  EXPECT_NE(std::string(plx_last_error_message()).find("newer header"), std::string::npos) << plx_last_error_message();
  big_desc.tail[5] = 0;
  big_result.tail[31] = 1;
  s.reset_outputs();
  EXPECT_EQ(plx_stack(rt_, &big_desc.desc, &big_result.result), PLX_ERR_VERSION);
  EXPECT_NE(std::string(plx_last_error_message()).find("result comes from a newer header"), std::string::npos)
      << plx_last_error_message();
}

// Frames beyond the budget: not even one row (16 columns) through all frames
// fits, before any pixel is read.
TEST_F(StackApi, TooManyFramesIsOutOfMemory) {
  Stack s(1, 1, 1, 1);
  std::atomic<int> calls{0};
  s.desc.frame_data = nullptr;
  s.desc.frames = INT32_MAX;
  s.desc.height = s.desc.width = 2;
  s.desc.provider = [](void* user, int64_t, int64_t, int64_t, int64_t, int64_t, int32_t, float*, int64_t) {
    ++*static_cast<std::atomic<int>*>(user);
    return 0;
  };
  s.desc.provider_user_data = &calls;
  EXPECT_EQ(stack(s), PLX_ERR_OUT_OF_MEMORY) << plx_last_error_message();
  EXPECT_FALSE(std::string(plx_last_error_message()).empty());
  EXPECT_EQ(calls.load(), 0);
  plx_plan_t* plan = nullptr;
  EXPECT_EQ(plx_stack_plan(rt_, &s.desc, &plan), PLX_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(plan, nullptr);
}

// ---------------------------------------------------------------------------
// What a stack reports
// ---------------------------------------------------------------------------

TEST_F(StackApi, TotalsAddUp) {
  for (int32_t reject : {PLX_REJECT_NONE, PLX_REJECT_SIGMA_CLIP, PLX_REJECT_WINSORIZED_SIGMA_CLIP,
                         PLX_REJECT_PERCENTILE, PLX_REJECT_MINMAX}) {
    for (int64_t n : {int64_t{7}, int64_t{70}}) {  // SIMD loops and per pixel
      SCOPED_TRACE(testing::Message() << "reject " << reject << ", N " << n);
      Stack s(n, 9, 11, 3);
      s.desc.reject = reject;
      stack_ok(s);
      const int64_t samples = n * 9 * 11 * 3;
      EXPECT_EQ(s.result.samples, samples);
      EXPECT_EQ(s.result.missing, s.nan_samples());
      EXPECT_EQ(s.result.kept + s.result.rejected + s.result.missing, s.result.samples);
      int64_t kept = 0, rejected = 0, by_frame = 0;
      for (size_t i = 0; i < s.count.size(); ++i) {
        kept += s.count[i];
        rejected += s.low[i] + s.high[i];
        EXPECT_GE(s.count[i], 0);
        EXPECT_EQ(std::isnan(s.image[i]), s.count[i] == 0) << "pixel " << i;
      }
      for (int64_t f : s.frame_rejected) by_frame += f;
      EXPECT_EQ(kept, s.result.kept);
      EXPECT_EQ(rejected, s.result.rejected);
      EXPECT_EQ(by_frame, s.result.rejected) << "frame_rejected adds up to the rejected samples";
      if (reject == PLX_REJECT_NONE) {  // only the infinities
        int64_t inf = 0;
        for (const auto& f : s.frames)
          for (float v : f) inf += std::isinf(v);
        EXPECT_EQ(s.result.rejected, inf);
      } else {
        EXPECT_GT(s.result.rejected, 0);
      }
      // Identity normalization and unit weights when none are asked for.
      for (size_t i = 0; i < s.frame_scale.size(); ++i) {
        EXPECT_EQ(s.frame_scale[i], 1.0);
        EXPECT_EQ(s.frame_offset[i], 0.0);
        EXPECT_EQ(s.frame_weight[i], 1.0);
      }
      EXPECT_EQ(s.result.device_index, -1);
      EXPECT_GE(s.result.workers, 1);
      EXPECT_GE(s.result.tile_rows, 1);
      EXPECT_GE(s.result.tiles, 1);
      EXPECT_GE(s.result.stack_s, 0);
      EXPECT_GE(s.result.frame_stats_s, 0);
      EXPECT_GT(std::strlen(s.result.simd_target), 0u);
      EXPECT_LT(std::strlen(s.result.simd_target), sizeof s.result.simd_target);
    }
  }
}

// The optional outputs do not change the image.
TEST_F(StackApi, OnlyTheImage) {
  Stack all(9, 8, 21, 2), only(9, 8, 21, 2);
  stack_ok(all);
  only.result.count = nullptr;
  only.result.rejected_low = only.result.rejected_high = nullptr;
  only.result.frame_rejected = nullptr;
  only.result.frame_scale = only.result.frame_offset = only.result.frame_weight = nullptr;
  stack_ok(only);
  EXPECT_TRUE(same_bits(all.image, only.image));
  EXPECT_EQ(only.result.kept, all.result.kept);
  EXPECT_EQ(only.result.rejected, all.result.rejected);
  EXPECT_EQ(only.result.missing, only.nan_samples()) << "NaN samples are missing, not rejected";
  EXPECT_EQ(only.count, std::vector<int32_t>(only.count.size(), -7)) << "count was not asked for";
}

// Without frame_rejected (the SIMD loops then sort in place): NaN samples
// are still missing, not rejected high, in the maps and in the totals.
TEST_F(StackApi, MissingSamplesAreNotRejected) {
  for (int32_t combine : {PLX_COMBINE_MEDIAN, PLX_COMBINE_MIN, PLX_COMBINE_MAX, PLX_COMBINE_MEAN}) {
    SCOPED_TRACE(testing::Message() << "combine " << combine);
    Stack with(9, 8, 21, 2), without(9, 8, 21, 2);
    with.desc.combine = without.desc.combine = combine;
    stack_ok(with);
    without.result.frame_rejected = nullptr;
    stack_ok(without);
    EXPECT_EQ(without.result.missing, without.nan_samples());
    EXPECT_EQ(without.result.rejected, with.result.rejected);
    EXPECT_EQ(without.high, with.high) << "rejected_high with and without frame_rejected";
    EXPECT_EQ(without.low, with.low);
    EXPECT_EQ(without.count, with.count);
    EXPECT_TRUE(same_bits(without.image, with.image));
  }
}

// Every pixel holds the hand-worked sigma-clip example of
// tests/unit/stack_kernel_test.cpp: samples 24 0 30 5 20 6, sigma 1/1,
// max_iters 3 -> kept 0 5 6 (0 comes back), mean 11/3; planar channels.
TEST_F(StackApi, KnownAnswerThroughTheApi) {
  Stack s(6, 3, 5, 2);
  const float samples[] = {24, 0, 30, 5, 20, 6};
  for (int64_t j = 0; j < 6; ++j)
    for (size_t i = 0; i < s.frames[static_cast<size_t>(j)].size(); ++i)
      s.frames[static_cast<size_t>(j)][i] = samples[j] + (i >= 15 ? 100.0f : 0.0f);  // channel 1: + 100
  s.desc.sigma_low = s.desc.sigma_high = 1;
  s.desc.max_iters = 3;
  stack_ok(s);
  for (size_t i = 0; i < s.image.size(); ++i) {
    EXPECT_FLOAT_EQ(s.image[i], i < 15 ? 11.0f / 3 : 100 + 11.0f / 3) << i;
    EXPECT_EQ(s.count[i], 3);
    EXPECT_EQ(s.low[i], 0);
    EXPECT_EQ(s.high[i], 3);
  }
  EXPECT_EQ(s.frame_rejected, (std::vector<int64_t>{30, 0, 30, 0, 30, 0}));
}

// Normalization and weights come back per frame and channel (frame-major).
TEST_F(StackApi, FrameParametersAreReported) {
  Stack s(4, 9, 11, 2);
  for (int64_t j = 0; j < 4; ++j)
    for (size_t i = 0; i < s.frames[static_cast<size_t>(j)].size(); ++i)
      s.frames[static_cast<size_t>(j)][i] =
          (10.0f + static_cast<float>(i % 13)) * static_cast<float>(j + 1) * (i >= 99 ? 3.0f : 1.0f);
  s.desc.normalize = PLX_NORMALIZE_MULTIPLICATIVE;
  s.desc.reference_frame = 1;
  s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
  s.desc.weights = PLX_WEIGHTS_GIVEN;
  const double w[] = {1, 2, 0, 4};
  s.desc.frame_weights = w;
  stack_ok(s);
  for (int64_t j = 0; j < 4; ++j)
    for (int c = 0; c < 2; ++c) {
      const size_t at = static_cast<size_t>(j * 2 + c);
      EXPECT_NEAR(s.frame_scale[at], 2.0 / static_cast<double>(j + 1), 1e-6) << "frame " << j << " channel " << c;
      EXPECT_EQ(s.frame_offset[at], 0.0);
      EXPECT_EQ(s.frame_weight[at], w[j]);
    }
  // Every frame normalized onto frame 1: the image is frame 1.
  for (size_t i = 0; i < s.image.size(); ++i) EXPECT_NEAR(s.image[i], s.frames[1][i], 1e-4 * s.frames[1][i]) << i;
}

// ---------------------------------------------------------------------------
// Results independent of workers, tiling, provider and strides
// ---------------------------------------------------------------------------

struct Config {
  const char* name;
  std::function<void(Stack&)> set;
};

std::vector<Config> configs() {
  static const double w[] = {1, 0.5, 2, 1, 3, 0.25, 1, 1, 2, 1, 5};
  return {
      {"sigma clip, mean", [](Stack& s) { s.desc.reject = PLX_REJECT_SIGMA_CLIP; }},
      {"winsorized, noise-weighted mean, multiplicative",
       [](Stack& s) {
         s.desc.reject = PLX_REJECT_WINSORIZED_SIGMA_CLIP;
         s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
         s.desc.weights = PLX_WEIGHTS_NOISE_VARIANCE;
         s.desc.normalize = PLX_NORMALIZE_MULTIPLICATIVE;
       }},
      {"minmax, median, additive",
       [](Stack& s) {
         s.desc.reject = PLX_REJECT_MINMAX;
         s.desc.combine = PLX_COMBINE_MEDIAN;
         s.desc.normalize = PLX_NORMALIZE_ADDITIVE;
         s.desc.reference_frame = 2;
       }},
      {"percentile, given weights, linear fit",
       [](Stack& s) {
         s.desc.reject = PLX_REJECT_PERCENTILE;
         s.desc.combine = PLX_COMBINE_WEIGHTED_MEAN;
         s.desc.weights = PLX_WEIGHTS_GIVEN;
         s.desc.frame_weights = w;
         s.desc.normalize = PLX_NORMALIZE_LINEAR_FIT;
       }},
      {"none, sum",
       [](Stack& s) {
         s.desc.reject = PLX_REJECT_NONE;
         s.desc.combine = PLX_COMBINE_SUM;
       }},
  };
}

TEST_F(StackApi, WorkersDoNotChangeTheBits) {
  for (const Config& cfg : configs()) {
    SCOPED_TRACE(cfg.name);
    std::vector<Stack::Outputs> runs;
    for (int32_t workers : {1, 2, 3, 8}) {
      Stack s(11, 23, 37, 2);
      cfg.set(s);
      plx_run_options_t r = run_options();
      r.workers = workers;
      stack_ok(s, &r);
      EXPECT_EQ(s.result.workers, workers);
      runs.push_back(s.outputs());
    }
    for (size_t i = 1; i < runs.size(); ++i) expect_same(runs[0], runs[i], "workers run " + std::to_string(i));
  }
}

// The smallest run budget that the plan accepts, by bisection.
int64_t smallest_budget(plx_runtime_t* rt, Stack& s, plx_run_options_t& r) {
  int64_t lo = 1, hi = int64_t{1} << 30;  // lo fails, hi fits
  s.desc.run_options = &r;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    r.memory_budget_bytes = mid;
    plx_plan_t* plan = nullptr;
    const plx_status_t st = plx_stack_plan(rt, &s.desc, &plan);
    plx_plan_destroy(plan);
    EXPECT_TRUE(st == PLX_OK || st == PLX_ERR_OUT_OF_MEMORY) << plx_last_error_message();
    (st == PLX_OK ? hi : lo) = mid;
  }
  s.desc.run_options = nullptr;
  return hi;
}

TEST_F(StackApi, MemoryBudgetDoesNotChangeTheBits) {
  for (const Config& cfg : configs()) {
    SCOPED_TRACE(cfg.name);
    Stack probe(11, 23, 37, 2);
    cfg.set(probe);
    plx_run_options_t r = run_options();
    const int64_t least = smallest_budget(rt_, probe, r);
    std::vector<Stack::Outputs> runs;
    std::vector<int64_t> tiles;
    for (int64_t budget : {int64_t{0}, least * 4, least + least / 8, least}) {
      Stack s(11, 23, 37, 2);
      cfg.set(s);
      r.memory_budget_bytes = budget;
      r.workers = 2;
      stack_ok(s, &r);
      runs.push_back(s.outputs());
      tiles.push_back(s.result.tiles);
      EXPECT_GE(s.result.tile_rows, 1);
    }
    for (size_t i = 1; i < runs.size(); ++i) expect_same(runs[0], runs[i], "budget run " + std::to_string(i));
    for (size_t i = 1; i < tiles.size(); ++i) EXPECT_GE(tiles[i], tiles[i - 1]) << "smaller budgets, more tiles";
    // The frame pass (normalization, noise weights) holds whole planes: it
    // sets the least budget, above the stack's, where it runs.
    const bool frame_pass =
        probe.desc.normalize != PLX_NORMALIZE_NONE || probe.desc.weights == PLX_WEIGHTS_NOISE_VARIANCE;
    if (!frame_pass) {
      EXPECT_GT(tiles.back(), tiles.front());
      // At the least budget even one row through all frames is too much: rows
      // are cut into column tiles, so there are more tiles than rows.
      EXPECT_GT(tiles.back(), 2 * 23) << "column tiles at budget " << least;
    }
    r.memory_budget_bytes = least - 1;
    Stack s(11, 23, 37, 2);
    cfg.set(s);
    EXPECT_EQ(stack(s, &r), PLX_ERR_OUT_OF_MEMORY);
    const std::string message = plx_last_error_message();
    EXPECT_NE(message.find(frame_pass ? "channel planes whole" : "does not fit"), std::string::npos) << message;
    EXPECT_EQ(message.find("plx_stack: plx_stack"), std::string::npos) << message;
  }
}

// A provider copying from the host frames, recording what it was asked for.
struct ProviderLog {
  const Stack* stack = nullptr;
  std::mutex mutex;
  int64_t calls = 0, bad_ranges = 0, max_rows = 0;
  int64_t fail_frame = -1, fail_when_rows_below = INT64_MAX;
  int code = 0;
};

int copy_provider(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int32_t channel,
                  float* dst, int64_t dst_stride) {
  auto* log = static_cast<ProviderLog*>(user);
  const Stack& s = *log->stack;
  {
    std::lock_guard lock(log->mutex);
    ++log->calls;
    log->max_rows = std::max(log->max_rows, rows);
    if (frame < 0 || frame >= s.n || channel < 0 || channel >= s.c || row0 < 0 || rows < 1 || row0 + rows > s.h ||
        col0 < 0 || cols < 1 || col0 + cols > s.w || dst_stride < cols || !dst)
      ++log->bad_ranges;
    if (frame == log->fail_frame && rows < log->fail_when_rows_below) return log->code;
  }
  if (frame < 0 || frame >= s.n || channel < 0 || channel >= s.c || row0 < 0 || row0 + rows > s.h || col0 < 0 ||
      col0 + cols > s.w)
    return -1;
  const float* src = s.frames[static_cast<size_t>(frame)].data() + channel * s.h * s.w;
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_stride, src + (row0 + r) * s.w + col0, static_cast<size_t>(cols) * sizeof(float));
  return 0;
}

TEST_F(StackApi, ProviderGivesTheSameBitsAsHostFrames) {
  for (const Config& cfg : configs()) {
    SCOPED_TRACE(cfg.name);
    Stack host(11, 23, 37, 2);
    cfg.set(host);
    stack_ok(host);
    for (int64_t budget : {int64_t{0}, int64_t{-1}}) {
      Stack s(11, 23, 37, 2);
      cfg.set(s);
      ProviderLog log;
      log.stack = &s;
      s.desc.frame_data = nullptr;
      s.desc.provider = copy_provider;
      s.desc.provider_user_data = &log;
      plx_run_options_t r = run_options();
      r.workers = 3;
      if (budget < 0) r.memory_budget_bytes = smallest_budget(rt_, s, r);  // column tiles
      stack_ok(s, &r);
      expect_same(host.outputs(), s.outputs(), "provider");
      EXPECT_GE(log.calls, s.n * s.c) << "every frame and channel asked for";
      EXPECT_EQ(log.bad_ranges, 0) << "ranges inside the image";
    }
  }
}

// desc.provider_rows cuts the plan's bands into calls of fewer rows; by
// default as many as fit the L2 cache (the profile's: 512 KiB), but calls of
// at least 16 KiB of a frame. The bits stay the same.
TEST_F(StackApi, ProviderRowsCutBandsWithoutChangingBits) {
  const int64_t n = 40, h = 256, w = 512;
  // Rows through all frames in the L2 cache: 6; but a call takes 16 KiB of a
  // frame at least: 8 rows.
  const int64_t fit = std::max((512 << 10) / (n * w * 4), (16 << 10) / (w * 4));
  ASSERT_EQ(fit, 8);
  Stack host(n, h, w, 1);
  stack_ok(host);
  int64_t whole = 0;  // the plan's band
  for (int64_t rows : {int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{5}}) {
    SCOPED_TRACE(testing::Message() << "provider_rows " << rows);
    Stack s(n, h, w, 1);
    ProviderLog log;
    log.stack = &s;
    s.desc.frame_data = nullptr;
    s.desc.provider = copy_provider;
    s.desc.provider_user_data = &log;
    s.desc.provider_rows = rows;
    stack_ok(s);
    expect_same(host.outputs(), s.outputs(), "provider");
    EXPECT_EQ(log.bad_ranges, 0);
    if (rows == -1) {
      whole = s.result.tile_rows;
      ASSERT_GT(whole, fit) << "the plan's bands must be larger than the cache for this test to cut them";
    }
    const int64_t expected = rows == -1 ? whole : rows == 0 ? fit : std::min(rows, whole);
    EXPECT_EQ(s.result.tile_rows, expected);
    EXPECT_EQ(log.max_rows, expected) << "the rows of each call";
  }
}

TEST_F(StackApi, ProviderFailureIsTaskFailed) {
  // While stacking (no frame statistics): the message names frame and rows.
  Stack s(6, 10, 9, 1);
  ProviderLog log;
  log.stack = &s;
  log.fail_frame = 3;
  log.code = 42;
  s.desc.frame_data = nullptr;
  s.desc.provider = copy_provider;
  s.desc.provider_user_data = &log;
  EXPECT_EQ(stack(s), PLX_ERR_TASK_FAILED);
  std::string m = plx_last_error_message();
  EXPECT_NE(m.find("frame 3"), std::string::npos) << m;
  EXPECT_NE(m.find("rows"), std::string::npos) << m;
  EXPECT_NE(m.find("42"), std::string::npos) << m;
  EXPECT_EQ(s.result.samples, -99) << "the result struct is not written on failure";

  // While reading whole frames for their statistics.
  Stack t(6, 10, 9, 1);
  ProviderLog log2;
  log2.stack = &t;
  log2.fail_frame = 2;
  log2.fail_when_rows_below = INT64_MAX;
  log2.code = 5;
  t.desc.frame_data = nullptr;
  t.desc.provider = copy_provider;
  t.desc.provider_user_data = &log2;
  t.desc.normalize = PLX_NORMALIZE_ADDITIVE;
  // The run's report is written there too, with the provider's code.
  plx_run_options_t r = run_options();
  plx_run_report_t report;
  std::memset(&report, 0x5a, sizeof report);
  report.struct_size = sizeof report;
  r.report = &report;
  EXPECT_EQ(stack(t, &r), PLX_ERR_TASK_FAILED);
  m = plx_last_error_message();
  EXPECT_NE(m.find("frame 2"), std::string::npos) << m;
  EXPECT_EQ(m.find("plx_stack: plx_stack"), std::string::npos) << m;
  EXPECT_EQ(t.frame_scale, std::vector<double>(t.frame_scale.size(), -7));
  EXPECT_GE(report.failed, 1);
  EXPECT_EQ(report.callback_code, 5);
  EXPECT_EQ(report.failed_begin, -1) << "frames, not the report's row units";
  EXPECT_GE(report.workers, 1);
}

// row_stride and channel_stride padding, filled with garbage, change nothing.
TEST_F(StackApi, StridesGiveTheSameBitsAsPackedFrames) {
  for (const Config& cfg : configs()) {
    SCOPED_TRACE(cfg.name);
    Stack packed(11, 23, 37, 3);
    cfg.set(packed);
    stack_ok(packed);
    for (auto [row_pad, plane_pad] : {std::pair<int64_t, int64_t>{0, 13}, {5, 0}, {3, 29}}) {
      Stack s(11, 23, 37, 3);
      cfg.set(s);
      const int64_t rs = s.w + row_pad, cs = s.h * rs + plane_pad;
      std::vector<std::vector<float>> padded;
      std::vector<const float*> ptrs;
      for (int64_t j = 0; j < s.n; ++j) {
        std::vector<float> f(static_cast<size_t>(cs * s.c), kNaN);
        for (size_t i = 0; i < f.size(); ++i) f[i] = i % 3 ? kNaN : (i % 2 ? 1e30f : -kInf);
        for (int64_t ch = 0; ch < s.c; ++ch)
          for (int64_t y = 0; y < s.h; ++y)
            for (int64_t x = 0; x < s.w; ++x)
              f[static_cast<size_t>(ch * cs + y * rs + x)] =
                  s.frames[static_cast<size_t>(j)][static_cast<size_t>((ch * s.h + y) * s.w + x)];
        padded.push_back(std::move(f));
      }
      for (const auto& f : padded) ptrs.push_back(f.data());
      s.desc.frame_data = ptrs.data();
      s.desc.row_stride = rs;
      s.desc.channel_stride = plane_pad ? cs : 0;
      stack_ok(s);
      expect_same(packed.outputs(), s.outputs(),
                  "row pad " + std::to_string(row_pad) + ", plane pad " + std::to_string(plane_pad));
    }
  }
}

// ---------------------------------------------------------------------------
// Cancellation and progress
// ---------------------------------------------------------------------------

TEST_F(StackApi, CancelTokenCancels) {
  Stack s(5, 20, 30, 1);
  plx_cancel_token_t* token = nullptr;
  ASSERT_EQ(plx_cancel_token_create(&token), PLX_OK);
  plx_cancel_token_cancel(token);
  plx_run_options_t r = run_options();
  r.cancel = token;
  EXPECT_EQ(stack(s, &r), PLX_ERR_CANCELLED) << plx_last_error_message();
  EXPECT_FALSE(std::string(plx_last_error_message()).empty());
  EXPECT_EQ(s.result.samples, -99);
  // With normalization, before the frame statistics.
  s.desc.normalize = PLX_NORMALIZE_ADDITIVE;
  EXPECT_EQ(stack(s, &r), PLX_ERR_CANCELLED) << plx_last_error_message();
  plx_cancel_token_destroy(token);
}

struct ProgressLog {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> calls;  // done, total
  int stop_after = -1;                             // return 1 from this call on
};

int record_progress(const plx_progress_t* p, void* user) {
  auto* log = static_cast<ProgressLog*>(user);
  std::lock_guard lock(log->mutex);
  log->calls.emplace_back(p->done, p->total);
  return log->stop_after >= 0 && static_cast<int>(log->calls.size()) > log->stop_after ? 1 : 0;
}

TEST_F(StackApi, ProgressCallbackCancels) {
  Stack s(5, 40, 30, 1);
  ProgressLog log;
  log.stop_after = 0;
  plx_run_options_t r = run_options();
  r.progress = record_progress;
  r.progress_user_data = &log;
  r.progress_interval_ms = 0;
  r.workers = 1;
  r.memory_budget_bytes = smallest_budget(rt_, s, r);  // many tiles
  EXPECT_EQ(stack(s, &r), PLX_ERR_CANCELLED) << plx_last_error_message();
  EXPECT_FALSE(log.calls.empty());
}

// Progress counts row units (the header) and reaches the total; with a
// frame pass, that pass reports first, counting frames, and reaches its total.
TEST_F(StackApi, ProgressReachesTheTotal) {
  for (int32_t normalize : {PLX_NORMALIZE_NONE, PLX_NORMALIZE_ADDITIVE}) {
    SCOPED_TRACE(testing::Message() << "normalize " << normalize);
    Stack s(5, 40, 30, 2);
    s.desc.normalize = normalize;
    ProgressLog log;
    plx_run_options_t r = run_options();
    r.progress = record_progress;
    r.progress_user_data = &log;
    r.progress_interval_ms = 0;
    stack_ok(s, &r);
    ASSERT_FALSE(log.calls.empty());
    size_t first = 0;  // of the stack's calls
    if (normalize != PLX_NORMALIZE_NONE) {
      while (first < log.calls.size() && log.calls[first].second == 5) ++first;
      ASSERT_GT(first, 0u) << "the frame pass reports, counting the 5 frames";
      EXPECT_EQ(log.calls[first - 1].first, 5) << "the frame pass reports its end";
      for (size_t i = 1; i < first; ++i) EXPECT_GE(log.calls[i].first, log.calls[i - 1].first);
    }
    const int64_t total = 40 * 2;  // row units: height x channels (one column tile here)
    int64_t other_totals = 0, backwards = 0, beyond = 0;
    std::string seen;
    for (size_t i = first; i < log.calls.size(); ++i) {
      auto [done, t] = log.calls[i];
      if (t != total && other_totals++ < 4) seen += " " + std::to_string(done) + "/" + std::to_string(t);
      beyond += done > t;
      backwards += i > first && done < log.calls[i - 1].first;
    }
    EXPECT_EQ(other_totals, 0) << "of " << log.calls.size() << " progress calls report another total than " << total
                               << " (row units), e.g. done/total:" << seen;
    EXPECT_EQ(beyond, 0);
    EXPECT_EQ(backwards, 0);
    EXPECT_EQ(log.calls.back().first, total) << "the last call reports everything done";
    EXPECT_EQ(log.calls.back().second, total);
  }
}

// ---------------------------------------------------------------------------
// The plan, and devices
// ---------------------------------------------------------------------------

json describe(const plx_plan_t* plan) {
  size_t size = 0;
  EXPECT_EQ(plx_plan_describe_json(plan, nullptr, 0, &size), PLX_OK);
  std::string text(size, '\0');
  EXPECT_EQ(plx_plan_describe_json(plan, text.data(), size, nullptr), PLX_OK);
  text.resize(size - 1);
  return json::parse(text);
}

TEST_F(StackApi, PlanReportsTheStackingWorkload) {
  Stack s(11, 23, 37, 2);
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_stack_plan(rt_, &s.desc, &plan), PLX_OK) << plx_last_error_message();
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK) << plx_last_error_message();
  EXPECT_GE(info.cpu_workers, 1);
  EXPECT_LE(info.cpu_workers, 2) << "the tiny profile has 2 CPUs";
  EXPECT_EQ(info.use_gpu, 0);
  EXPECT_EQ(info.streaming, 0) << "a few KB fit";
  EXPECT_GE(info.rows_per_chunk, 1);
  EXPECT_EQ(info.items_per_chunk, 11) << "a band goes through all frames";
  EXPECT_GT(info.memory_budget_bytes, 0);
  const json j = describe(plan);
  EXPECT_EQ(j["workload"]["layout"], "rows_across_items");
  EXPECT_EQ(j["workload"]["items"], 11);
  EXPECT_EQ(j["workload"]["rows"], 2 * 23);
  EXPECT_EQ(j["workload"]["bytes_per_row"], 37 * 4);
  EXPECT_EQ(j["workload"]["preferred_device"], "cpu");
  plx_plan_destroy(plan);

  // The same cut as the stack itself.
  stack_ok(s);
  EXPECT_EQ(s.result.tiles, info.chunk_count);
  EXPECT_EQ(s.result.tile_rows, info.rows_per_chunk);
  EXPECT_EQ(s.result.workers, info.cpu_workers);

  // A run budget shows in the plan; the name too.
  plx_run_options_t r = run_options();
  r.memory_budget_bytes = 1 << 20;
  r.name = "my stack";
  s.desc.run_options = &r;
  ASSERT_EQ(plx_stack_plan(rt_, &s.desc, &plan), PLX_OK) << plx_last_error_message();
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  EXPECT_EQ(info.memory_budget_bytes, 1 << 20);
  EXPECT_EQ(describe(plan)["workload"]["name"], "my stack");
  plx_plan_destroy(plan);
}

// A huge stack streams: the plan fits the tiny profile's budget.
TEST_F(StackApi, PlanOfAHugeStackStreams) {
  Stack s(1, 1, 1, 1);
  s.desc.frame_data = nullptr;
  s.desc.provider = copy_provider;  // never called by a plan
  s.desc.frames = 13000;
  s.desc.height = 1080;
  s.desc.width = 1920;
  s.desc.channels = 3;
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_stack_plan(rt_, &s.desc, &plan), PLX_OK) << plx_last_error_message();
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  EXPECT_EQ(info.streaming, 1);
  EXPECT_LE(static_cast<double>(info.max_chunk_bytes) * info.cpu_workers,
            static_cast<double>(info.memory_budget_bytes));
  plx_plan_destroy(plan);
}

TEST_F(StackApi, GpuWithoutDeviceIsNoDevice) {
  Stack s(5, 6, 7, 1);
  s.desc.device = PLX_PREFER_GPU;
  EXPECT_EQ(stack(s), PLX_ERR_NO_DEVICE) << plx_last_error_message();
  EXPECT_NE(std::string(plx_last_error_message()).find("device"), std::string::npos) << plx_last_error_message();
  EXPECT_EQ(s.image, std::vector<float>(s.image.size(), -777.0f));
  EXPECT_EQ(s.result.samples, -99);
  // CPU and AUTO run on the CPU.
  for (int32_t device : {PLX_PREFER_CPU, PLX_PREFER_AUTO}) {
    s.desc.device = device;
    stack_ok(s);
    EXPECT_EQ(s.result.device_index, -1);
  }
}

// plx_stack_plan: "Errors as plx_stack, before any pixel is read".
TEST_F(StackApi, PlanWithGpuWithoutDeviceIsNoDevice) {
  Stack s(5, 6, 7, 1);
  s.desc.device = PLX_PREFER_GPU;
  plx_plan_t* plan = reinterpret_cast<plx_plan_t*>(0x1);
  EXPECT_EQ(plx_stack_plan(rt_, &s.desc, &plan), PLX_ERR_NO_DEVICE)
      << "plx_stack_plan with device GPU on a runtime without a device";
  if (plan != reinterpret_cast<plx_plan_t*>(0x1)) plx_plan_destroy(plan);
}

}  // namespace
