// The exact median of a frame's finite pixels, for normalization and noise
// weights: by radix selection on the floats' bits, two or three passes over
// the data; std::nth_element (twice, for the median and the MAD) took 3x
// longer on the millions of pixels of a frame.
#pragma once

#include <vector>

namespace plx::stack {

// The exact median (mean of the two middle values for an even count) of the
// finite values of v; NaN when there is none. -0 counts as +0.
double median_of_finite(const std::vector<float>& v);

}  // namespace plx::stack
