// The OpenCL path of plx_stack: row units stream through the device layer's
// pinned double-buffered run_rows (stack.cl), with the CPU pixel loops as the
// fallback for any chunk a device cannot run.
#pragma once

#include <vector>

#include "kernels/stack/stack_cpu.hpp"
#include "kernels/stack/stack_plan.hpp"

namespace plx {
class Runtime;
}

namespace plx::stack {

struct DeviceRun {
  RunOutcome run;
  int device_index = -1;  // the device that stacked most chunks, -1: all on the CPU
};

// Stacks the job on `devices`; a chunk that fails on a device (other than
// for memory, which splits it) runs on the CPU pixel loops instead.
DeviceRun stack_on_devices(Runtime& runtime, const std::vector<int>& devices, const StackJob& job,
                           const StackPlan& plan, const RunSettings& settings, Totals& totals);

}  // namespace plx::stack
