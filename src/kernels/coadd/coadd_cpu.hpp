// The CPU path of plx_coadd: output tiles of rows in parallel, each visiting
// the inputs whose box meets it in input order, so that every pixel's sums
// are the same bits for any number of workers and any tiling.
#pragma once

#include <string>

#include "exec/run.hpp"
#include "kernels/coadd/coadd_spec.hpp"

namespace plx::coadd {

struct CoaddTotals {
  int64_t covered = 0;  // output pixels with a non-zero footprint
  int64_t samples = 0;  // (input, output pixel) pairs interpolated
};

// Bytes per output pixel of a tile's accumulators (for the planner).
int64_t tile_bytes_per_pixel(const CoaddJob& job);

// settings.grain = rows per tile.
RunOutcome coadd_on_cpu(const RunEnv& env, const CoaddJob& job, const RunSettings& settings, CoaddTotals& totals);

// Output rows [r0, r1) on the calling thread into image and footprint (width
// floats per row; footprint may be null), never to the sink: the CPU version
// of a device chunk. Non-zero: a coordinate map failed (why in `error`).
int coadd_rows_on_cpu(const CoaddJob& job, int64_t r0, int64_t r1, float* image, float* footprint,
                      std::string& error);

}  // namespace plx::coadd
