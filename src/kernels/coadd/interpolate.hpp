// Input pixel values at non-integer coordinates, as reproject_interp gets
// them from scipy.ndimage.map_coordinates (NEAREST, BILINEAR: the same
// operations in the same order) and as local kernels (BICUBIC, LANCZOS3).
// Valid only for -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5;
// edge pixels repeat outward; NaN elsewhere and where a tap is not finite.
// Compiled with -ffp-contract=off: a fused multiply-add would change bits.
#pragma once

#include "kernels/coadd/coadd_spec.hpp"

namespace plx::coadd {

// `zero_nan`: read NaN pixels as 0 (weight images, as reproject's nan_to_num).
double interpolate(const Image& image, Interp interp, double x, double y, bool zero_nan = false);

}  // namespace plx::coadd
