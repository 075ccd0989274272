// Where a built-in kernel call (plx_stack, plx_coadd) may run, from its
// desc.device and the runtime's device policy.
#pragma once

#include <cstdint>
#include <vector>

#include "core/runtime.hpp"
#include "parallax.h"

namespace plx::api {

// The OpenCL devices for desc.device `preference` (a plx_device_preference_t):
// none for CPU; for AUTO, GPUs and accelerators with double precision (a CPU
// OpenCL device is slower than the CPU path); for GPU, any device with double
// precision (PoCL too). A GPU_REQUIRED runtime takes AUTO as GPU, and
// `preference` then says GPU, so that the caller does not fall back to the
// CPU (an explicit CPU is the caller's choice, as for plx_gemm).
// PLX_ERR_NO_DEVICE, with the message, when GPU finds none.
plx_status_t kernel_devices_for(const char* fn, plx::Runtime& rt, int32_t& preference, std::vector<int>& devices);

}  // namespace plx::api
