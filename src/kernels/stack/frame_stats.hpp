// The first pass of a stack, when normalization or noise weights ask for it:
// per frame and channel, the median of the finite pixels (and the MAD, or a
// robust linear fit against the reference frame), turned into the scale,
// offset and weight each sample gets in the pixel loops.
#pragma once

#include "core/error.hpp"
#include "exec/run.hpp"
#include "kernels/stack/stack_spec.hpp"

namespace plx::stack {

// Whether the policy needs a pass over the frames before stacking.
bool needs_frame_pass(const FramePolicy& policy);

// Workers for the pass within `budget_bytes`, at most `workers`: each holds
// a channel plane of a frame (and a fit a byte per pixel besides); a fit
// holds the reference frame's planes too. An out-of-memory error with the
// numbers when not even one fits.
Result<int> frame_pass_workers(const Frames& frames, const FramePolicy& policy, int64_t budget_bytes, int workers,
                               const std::string& name);

// Scale, offset and weight per channel and frame. Runs over the frames with
// `settings` (cancel, progress counting frames; its workers within its
// memory budget, as frame_pass_workers) when needed, and then leaves that
// run's report in *report (when not null; a failing provider's code is its
// callback_code).
Result<FrameParams> frame_params(const RunEnv& env, const Frames& frames, const FramePolicy& policy,
                                 const RunSettings& settings, RunReport* report = nullptr);

}  // namespace plx::stack
