// What a co-addition computes, checked and in C++ terms: the inputs with their
// mappings and boxes, the interpolation and the combine. The C API
// (src/api/coadd_api.cpp) builds these from plx_coadd_desc_t; coadd_cpu.cpp
// runs them. Semantics: "Mosaic co-addition" in include/parallax.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/coadd/mapping.hpp"

namespace plx::coadd {

enum class Interp { nearest, bilinear, bicubic, lanczos3 };
enum class Combine { mean, sum, min, max, median, first, last };

// A read-only float image with a row stride.
struct Image {
  const float* data = nullptr;
  int64_t height = 0, width = 0, stride = 0;
  float at(int64_t row, int64_t col) const { return data[row * stride + col]; }
};

// Output pixels [x0, x1) x [y0, y1) an input may touch.
struct Box {
  int64_t x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  bool empty() const { return x1 <= x0 || y1 <= y0; }
};

struct Input {
  Image data;
  Image weights;  // data == nullptr: none
  double weight = 1, background = 0;
  std::shared_ptr<const Mapping> map;
  Box box;
};

// Receives finished output rows [row0, row0 + rows): full-width image and
// footprint; non-zero fails the call.
using TileSink = std::function<int(int64_t row0, int64_t rows, const float* image, const float* footprint)>;

struct CoaddJob {
  std::vector<Input> inputs;
  int64_t height = 0, width = 0;
  Interp interp = Interp::bilinear;
  Combine combine = Combine::mean;
  float* image = nullptr;      // height x width, or null with a sink
  float* footprint = nullptr;  // height x width, or null
  TileSink sink;
};

}  // namespace plx::coadd
