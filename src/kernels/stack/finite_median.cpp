#include "kernels/stack/finite_median.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace plx::stack {
namespace {

// Unsigned keys in the floats' order (finite values only; -0 as +0).
uint32_t key_of(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if (bits == 0x80000000u) bits = 0;
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

float value_of(uint32_t key) {
  const uint32_t bits = (key & 0x80000000u) ? key & 0x7fffffffu : ~key;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Where the k-th smallest (from 0) counted value lies: its bin, and its rank
// among the values of that bin.
struct Place {
  uint32_t bin;
  uint64_t rank;
};

Place locate(const std::vector<uint32_t>& histogram, uint64_t k) {
  uint32_t bin = 0;
  for (; k >= histogram[bin]; ++bin) k -= histogram[bin];
  return {bin, k};
}

// Histogram of the keys' low 16 bits among the finite values whose high 16
// bits are `high`.
void low_histogram(const std::vector<float>& v, uint32_t high, std::vector<uint32_t>& histogram) {
  histogram.assign(65536, 0);
  for (float x : v)
    if (std::isfinite(x)) {
      const uint32_t key = key_of(x);
      if ((key >> 16) == high) ++histogram[key & 0xffffu];
    }
}

}  // namespace

// Radix selection of the middle value(s): a histogram of the keys' high 16
// bits finds their bins, a histogram of the low 16 bits within a bin their
// exact keys: two passes over v (three when the two middle values of an even
// count fall in different bins).
// One histogram (256 KiB) serves both passes: the frame pass accounts for it
// per worker.
double median_of_finite(const std::vector<float>& v) {
  std::vector<uint32_t> histogram(65536, 0);
  for (float x : v)
    if (std::isfinite(x)) ++histogram[key_of(x) >> 16];
  uint64_t n = 0;
  for (uint32_t c : histogram) n += c;
  if (n == 0) return std::nan("");
  const Place upper = locate(histogram, n / 2);
  const Place lower = n % 2 ? upper : locate(histogram, n / 2 - 1);
  low_histogram(v, upper.bin, histogram);
  const double hi = value_of(upper.bin << 16 | locate(histogram, upper.rank).bin);
  if (n % 2) return hi;
  if (lower.bin != upper.bin) low_histogram(v, lower.bin, histogram);
  const double lo = value_of(lower.bin << 16 | locate(histogram, lower.rank).bin);
  return (lo + hi) * 0.5;
}

}  // namespace plx::stack
