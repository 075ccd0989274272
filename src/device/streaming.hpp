// Streaming a kernel over rows of host memory of any size (plx_kernel_run_rows):
// rows go to the devices in chunks through pinned staging buffers (kept by the
// device between runs), two per device so that the upload of one chunk, the
// kernel of another and the download of a third overlap; a chunk's input goes
// up in pieces, each uploaded while the host fills the next. Devices (and,
// for a mixed plan, CPU workers) take chunks from one shared queue, so faster
// devices take more. Out-of-memory halves a device's chunk and retries; any
// other failure of a chunk runs it on the CPU function instead (unless a
// device is required); a device that keeps failing is retired. Every row is
// processed exactly once.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "device/device_set.hpp"
#include "device/kernel.hpp"
#include "exec/run.hpp"

namespace plx {

struct RowsInput {
  const unsigned char* data = nullptr;  // rows, or null with a provider
  int64_t bytes_per_row = 0;
  // Writes rows [first, first + rows) contiguously into dst (pinned staging
  // memory); non-zero fails the run.
  std::function<int(int64_t first, int64_t rows, void* dst)> provider;
};

struct RowsOutput {
  unsigned char* data = nullptr;  // null: the kernel's own, never transferred (built-in kernels only)
  int64_t bytes_per_row = 0;
  bool zeroed = false;  // starts at 0 on the device, for a kernel that counts into it (built-in kernels only)
};

// The CPU version of the kernel for rows [first, first + rows): inputs and
// outputs point at those rows. Non-zero fails the run.
using RowsCpuFn = std::function<int(int64_t first, int64_t rows, const void* const* inputs, void* const* outputs)>;

struct RowsJob {
  int64_t rows = 0;
  std::vector<RowsInput> inputs;
  std::vector<RowsOutput> outputs;
  // Built-in kernels only (the public run_rows sets neither):
  int64_t scratch_bytes_per_row = 0;                  // device-only working memory per row, never transferred
  std::vector<std::vector<unsigned char>> constants;  // read-only buffers uploaded once per device
  // Kernel arguments: each input, each output, the scratch buffer (when
  // scratch_bytes_per_row > 0), each constant, each scalar, `long first_row, long rows`.
  std::vector<std::vector<unsigned char>> scalars;
  int64_t work_items_per_row = 1;
  int64_t group_items = 0;  // built-in kernels: work-group size along a row (the row rounded up to it); 0: the driver's
  int64_t rows_per_chunk = 0;       // the host's choice; 0: sized per device
  int64_t plan_rows_per_chunk = 0;  // the plan's device chunk: a cap
  RowsCpuFn cpu;                    // empty: none
  bool mixed = false;               // the run's CPU workers join the devices (a mixed plan)
  bool device_required = false;
  int64_t ram_budget_bytes = 0;  // for the pinned staging buffers
  double vram_fraction = 0.5;
};

// One entry of RowsJob::scalars: the bytes of a cl_int, cl_long, cl_double...
template <class T>
std::vector<unsigned char> scalar_bytes(T value) {
  std::vector<unsigned char> out(sizeof value);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

RunOutcome run_rows(const RunEnv& env, const Kernel& kernel, const RowsJob& job, const RunSettings& settings);

}  // namespace plx
