// The OpenCL path of plx_coadd: output rows stream through the device layer's
// run_rows (coadd.cl), one work-item per output pixel. The inputs' images and
// mapping tables are uploaded once per device; inputs mapped on the host
// (wcslib grid, coordinate callbacks) send their coordinates with each chunk
// of rows. A chunk a device cannot run is resampled by the CPU path instead.
#pragma once

#include <vector>

#include "kernels/coadd/coadd_cpu.hpp"

namespace plx {
class Runtime;
}

namespace plx::coadd {

// Bytes the device path keeps on each device (images, weights, tables) and
// copies once on the host to upload them.
int64_t device_resident_bytes(const CoaddJob& job);
// Whether `budget` holds that copy and one band row on the host.
bool device_fits_budget(const CoaddJob& job, int64_t budget);

struct DeviceCoadd {
  RunOutcome run;
  int device_index = -1;  // the device that resampled most chunks, -1: all on the CPU
  int64_t band_rows = 0;  // output rows per run (all of them unless a tile sink takes bands)
  bool delivered = false; // the sink has received rows: the call cannot start again on the CPU
};

// settings.memory_budget_bytes bounds the host side: the resident copy and,
// with a sink, the bands of output rows handed to it.
DeviceCoadd coadd_on_devices(Runtime& runtime, const std::vector<int>& devices, const CoaddJob& job,
                             const RunSettings& settings, CoaddTotals& totals);

}  // namespace plx::coadd
