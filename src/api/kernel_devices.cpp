#include "api/kernel_devices.hpp"

#include "api/last_error.hpp"

namespace plx::api {

plx_status_t kernel_devices_for(const char* fn, plx::Runtime& rt, int32_t& preference, std::vector<int>& devices) {
  devices.clear();
  const bool required = rt.config().planner.policy == DevicePolicy::gpu_required;
  if (required && preference == PLX_PREFER_AUTO) preference = PLX_PREFER_GPU;
  if (preference == PLX_PREFER_CPU) return PLX_OK;
  devices = rt.kernel_devices(preference == PLX_PREFER_GPU);
  if (preference == PLX_PREFER_GPU && devices.empty())
    return fail(PLX_ERR_NO_DEVICE, fn, required ? ": the runtime is GPU_REQUIRED" : ": desc.device is GPU",
                " but the runtime has no usable OpenCL device with double precision (cl_khr_fp64; see parallax "
                "info): use ",
                required ? "desc.device CPU, or a runtime with device_policy AUTO" : "desc.device AUTO or CPU");
  return PLX_OK;
}

}  // namespace plx::api
