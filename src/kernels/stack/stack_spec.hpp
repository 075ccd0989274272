// What a stack computes, checked and in C++ terms: the per-pixel rule
// (rejection and combine), where the frames come from, and the per-frame
// normalization and weights. The C API (src/api/stack_api.cpp) builds these
// from plx_stack_desc_t; the CPU and OpenCL paths read them.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace plx::stack {

enum class Combine { mean, weighted_mean, sum, median, min, max };
enum class Reject { none, sigma_clip, winsorized, percentile, minmax };
enum class Centre { median, mean };
enum class Weights { none, given, noise };
enum class Normalize { none, additive, multiplicative, linear_fit };
enum class Where { automatic, cpu, gpu };

// The rule applied to the samples of one pixel (see "Image stacking" in
// include/parallax.h for the exact semantics).
struct PixelRule {
  Combine combine = Combine::mean;
  Reject reject = Reject::none;
  Centre centre = Centre::median;
  double sigma_low = 3, sigma_high = 3;
  int max_iters = 5;  // -1: until nothing changes
  double percentile_low = 10, percentile_high = 90;
  int n_low = 1, n_high = 1;

  // Without rejection, a mean or sum needs no sorting: one pass in frame order.
  bool plain_sum() const {
    return reject == Reject::none &&
           (combine == Combine::mean || combine == Combine::sum || combine == Combine::weighted_mean);
  }
};

// Writes rows [row0, row0 + rows) x columns [col0, col0 + cols) of one channel
// of one frame into dst (dst_stride floats between rows); non-zero fails.
using TileProvider = std::function<int(int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols,
                                       int channel, float* dst, int64_t dst_stride)>;

struct Frames {
  int64_t count = 0;  // N
  int64_t height = 0, width = 0;
  int channels = 1;
  // Host frames: pointer to (channel 0, row 0, column 0) of each frame.
  std::vector<const float*> data;
  int64_t row_stride = 0;      // floats
  int64_t channel_stride = 0;  // floats
  TileProvider provider;       // instead of data
  int64_t provider_rows = 0;   // desc.provider_rows: 0 = L2-sized bands, -1 = the plan's, N = at most N

  int64_t pixels() const { return height * width; }
  const float* at(int64_t frame, int channel, int64_t row, int64_t col) const {
    return data[static_cast<size_t>(frame)] + channel * channel_stride + row * row_stride + col;
  }
};

// How frames are brought to the reference frame and weighed.
struct FramePolicy {
  Weights weights = Weights::none;
  std::vector<double> given_weights;  // N, for Weights::given
  Normalize normalize = Normalize::none;
  int64_t reference = 0;
};

// Per channel and frame (index channel * N + frame, so that one channel's
// values are contiguous): x' = scale x + offset, rounded to float, and the
// weight of the frame in a weighted mean.
struct FrameParams {
  std::vector<double> scale, offset;
  std::vector<double> weight;        // what the pixel loops use: each channel's largest is at most 1
  std::vector<double> frame_weight;  // as reported: given, or 1 / sigma^2
  bool normalized = false;  // scale/offset not all identity
  bool weighted = false;    // weights not all 1
};

}  // namespace plx::stack
