// How a stack is cut: bands of rows through all frames, sized by the planner
// so that memory stays within the budget for any number of frames; when even
// one row through all frames does not fit, rows are split into column tiles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "core/planner.hpp"
#include "kernels/stack/stack_spec.hpp"

namespace plx {
class Runtime;
}

namespace plx::stack {

// Where a row unit lies: one channel, one image row, one column tile.
struct RowUnit {
  int channel = 0;
  int64_t row = 0;
  int64_t col0 = 0, cols = 0;
};

struct StackPlan {
  Plan plan;           // the planner's plan for the row units below
  int64_t height = 0;  // of the frames
  int64_t width = 0;
  int64_t tile_cols = 0;  // columns per tile (the width unless split)
  int64_t col_tiles = 1;  // tiles across a row
  int64_t units = 0;      // row units: channels x col_tiles x height, in that order (the row varies fastest)
  int64_t band_rows = 0;  // row units per chunk
  int64_t call_rows = 0;  // row units per provider call, within a chunk (<= band_rows)

  RowUnit unit(int64_t u) const {
    const int64_t per_channel = col_tiles * height;
    const int64_t col0 = (u % per_channel) / height * tile_cols;
    return RowUnit{static_cast<int>(u / per_channel), u % height, col0, std::min(tile_cols, width - col0)};
  }
};

// Plans the stack of `frames` (provider frames are buffered a band at a time;
// host frames are read in place) on the CPU.
// `run_budget_bytes` > 0: the run's own, smaller memory budget.
Result<StackPlan> plan_stack(Runtime& runtime, const Frames& frames, const std::string& name, int64_t run_budget_bytes);

// Scratch a CPU worker needs for N frames and `cols` columns.
int64_t worker_scratch_bytes(int64_t frames, int64_t cols);

// Floats from one frame's rows to the next in a provider's band of `floats`
// per frame: an odd number of whole cache lines. Frames a multiple of 4 KiB
// apart put the N lines of a pixel group in one set of the L1 and L2 caches,
// which hold 8 or so: the stack then waits on lines evicted before their use.
int64_t band_frame_stride(int64_t floats);

}  // namespace plx::stack
