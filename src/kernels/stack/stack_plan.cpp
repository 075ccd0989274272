#include "kernels/stack/stack_plan.hpp"

#include <algorithm>

#include "core/format_bytes.hpp"
#include "core/runtime.hpp"

namespace plx::stack {

int64_t worker_scratch_bytes(int64_t frames, int64_t cols) {
  // Samples twice as float and prefix sums twice as double, for a block of
  // up to 64 pixels; the per-column count maps; the band's padding between
  // frames (band_frame_stride: up to two cache lines each). Saturates (the
  // API refuses rows beyond any address space, but this must not wrap).
  const long double bytes = static_cast<long double>(frames) * 64 * (2 * 4 + 2 * 8) +
                            static_cast<long double>(cols) * 3 * 4 + static_cast<long double>(frames) * (8 + 128) +
                            (64 << 10);
  return bytes >= static_cast<long double>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(bytes);
}

int64_t band_frame_stride(int64_t floats) {
  constexpr int64_t kLineFloats = 16;
  int64_t lines = (floats + kLineFloats - 1) / kLineFloats;
  if (lines % 2 == 0) ++lines;
  return lines * kLineFloats;
}

namespace {

// A provider's rows per call: see plx_stack_desc_t.provider_rows.
int64_t provider_call_rows(Runtime& runtime, const Frames& frames, StackPlan& sp) {
  if (!frames.provider || frames.provider_rows == -1) return sp.band_rows;
  if (frames.provider_rows > 0) return std::min(sp.band_rows, frames.provider_rows);
  const int64_t l2 = runtime.machine().cache_l2_bytes;
  const int64_t cache = l2 > 0 ? l2 : int64_t{1} << 20;  // unknown: 1 MiB, as on most CPUs of the last years
  int64_t fit = cache / (frames.count * sp.tile_cols * 4);
  if (fit < 1 || fit >= sp.band_rows) return sp.band_rows;
  // But calls of at least kMinCallBytes of a frame: below, a call's own cost
  // outweighs what the cache saves (parallax stack, 300 FITS frames of 512 x
  // 512 on 2 cores: 1-row calls 0.46-0.55 s, 8-row calls 0.34 s; a memcpy
  // provider, 9.0 ms either way).
  constexpr int64_t kMinCallBytes = 16 << 10;
  fit = std::max(fit, (kMinCallBytes + sp.tile_cols * 4 - 1) / (sp.tile_cols * 4));
  if (fit >= sp.band_rows) return sp.band_rows;
  sp.plan.reasons.push_back(cat("The provider is called for ", fit, fit == 1 ? " row" : " rows",
                                " at a time (the bands' ", sp.band_rows, " rows cut to fit the ",
                                format_bytes(static_cast<double>(cache)), " L2 cache, in calls of at least ",
                                format_bytes(static_cast<double>(kMinCallBytes)),
                                " a frame: the stack then reads the provider's pixels from it). "
                                "desc.provider_rows = -1 keeps whole bands: fewer calls."));
  return fit;
}

}  // namespace

Result<StackPlan> plan_stack(Runtime& runtime, const Frames& frames, const std::string& name,
                             int64_t run_budget_bytes) {
  StackPlan sp;
  sp.height = frames.height;
  sp.width = frames.width;
  int64_t cols = frames.width;
  for (;;) {
    sp.tile_cols = cols;
    sp.col_tiles = (frames.width + cols - 1) / cols;
    sp.units = static_cast<int64_t>(frames.channels) * sp.col_tiles * frames.height;
    Workload w;
    w.name = name;
    w.kind = WorkloadKind::memory;
    w.layout = Layout::rows_across_items;
    w.items = frames.count;
    w.rows = sp.units;
    w.bytes_per_row = cols * 4;
    w.bytes_per_item = w.rows * w.bytes_per_row;
    // A provider's frames are copied into a band buffer first; host frames
    // are read in place, but are planned the same way (bands then also bound
    // how much of them one worker touches at a time).
    w.working_set_factor = 1.0;
    w.per_worker_bytes = worker_scratch_bytes(frames.count, cols);
    w.preferred_device = DevicePreference::cpu;
    w.advice = "Raise the budget (run options memory_budget_bytes, runtime ram_fraction) or stack fewer frames.";
    auto plan = runtime.plan(w, run_budget_bytes);
    if (plan) {
      sp.plan = std::move(plan).value();
      sp.band_rows = std::max<int64_t>(1, sp.plan.rows_per_chunk);
      sp.call_rows = provider_call_rows(runtime, frames, sp);
      if (sp.col_tiles > 1)
        sp.plan.reasons.push_back(cat("One row through all ", frames.count,
                                      " frames does not fit a worker: rows are cut into ", sp.col_tiles, " tiles of ",
                                      cols, " columns."));
      return sp;
    }
    if (plan.error().code != Code::out_of_memory) return plan.error();
    if (cols <= 16)
      return make_error(Code::out_of_memory, name, ": the smallest tile, ", cols, " columns of a row through all ",
                        frames.count, " frames, does not fit a worker in the memory budget: ", plan.error().message);
    cols = std::max<int64_t>(16, cols / 2);
  }
}

}  // namespace plx::stack
