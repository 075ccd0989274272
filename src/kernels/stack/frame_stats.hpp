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

// Scale, offset and weight per channel and frame. Runs over the frames with
// `settings` (workers, cancel, progress counting frames) when needed.
Result<FrameParams> frame_params(const RunEnv& env, const Frames& frames, const FramePolicy& policy,
                                 const RunSettings& settings);

}  // namespace plx::stack
