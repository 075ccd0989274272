#include "device/opencl_discovery.hpp"

#include <signal.h>

#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "device/cl_status.hpp"
#include "device/opencl.hpp"

namespace plx {
namespace {

std::string platform_text(cl_platform_id platform, cl_platform_info what) {
  size_t size = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string text(size, '\0');
  if (clGetPlatformInfo(platform, what, size, text.data(), nullptr) != CL_SUCCESS) return {};
  text.resize(text.find('\0') == std::string::npos ? size : text.find('\0'));
  return text;
}

std::string device_text(cl_device_id device, cl_device_info what) {
  size_t size = 0;
  if (clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string text(size, '\0');
  if (clGetDeviceInfo(device, what, size, text.data(), nullptr) != CL_SUCCESS) return {};
  text.resize(text.find('\0') == std::string::npos ? size : text.find('\0'));
  return text;
}

template <class T>
T device_value(cl_device_id device, cl_device_info what) {
  T value{};
  if (clGetDeviceInfo(device, what, sizeof value, &value, nullptr) != CL_SUCCESS) return T{};
  return value;
}

int type_bits(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_GPU) return device_gpu;
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return device_accelerator;
  if (type & CL_DEVICE_TYPE_CPU) return device_cpu;
  return device_accelerator;  // CUSTOM and the like
}

// PoCL installs an alternate signal stack on the thread that first asks for
// its devices. A library must not change its host's threads: put back the
// caller's own (ASan, for one, frees "its" stack when the thread exits and
// aborts on PoCL's).
class KeepSignalStack {
 public:
  KeepSignalStack() { saved_ = sigaltstack(nullptr, &stack_) == 0; }
  ~KeepSignalStack() {
    stack_t now{};
    if (saved_ && sigaltstack(nullptr, &now) == 0 && now.ss_sp != stack_.ss_sp) {
      if (stack_.ss_flags & SS_DISABLE) stack_ = stack_t{nullptr, SS_DISABLE, 0};
      sigaltstack(&stack_, nullptr);
    }
  }
  KeepSignalStack(const KeepSignalStack&) = delete;
  KeepSignalStack& operator=(const KeepSignalStack&) = delete;

 private:
  stack_t stack_{};
  bool saved_ = false;
};

}  // namespace

std::vector<DiscoveredDevice> discover_opencl_devices(std::vector<std::string>& warnings) {
  // One discovery at a time in the process: runtimes created on several
  // threads at once discover concurrently, and a driver's first
  // initialisation is not thread-safe (PoCL segfaults when one thread asks a
  // device's name while another is still setting its devices up; found by the
  // Rust binding's tests, tests/unit/device_test.cpp reproduces it).
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  KeepSignalStack keep_signal_stack;
  std::vector<DiscoveredDevice> devices;
  cl_uint platform_count = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &platform_count);
  if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && platform_count == 0)) return devices;
  if (err != CL_SUCCESS) {
    warnings.push_back(cat("opencl: clGetPlatformIDs failed with ", opencl_error_name(err), "; no devices"));
    return devices;
  }
  std::vector<cl_platform_id> platforms(platform_count);
  if ((err = clGetPlatformIDs(platform_count, platforms.data(), nullptr)) != CL_SUCCESS) {
    warnings.push_back(cat("opencl: clGetPlatformIDs failed with ", opencl_error_name(err), "; no devices"));
    return devices;
  }
  for (cl_platform_id platform : platforms) {
    std::string platform_name = platform_text(platform, CL_PLATFORM_NAME);
    cl_uint device_count = 0;
    err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &device_count);
    if (err == CL_DEVICE_NOT_FOUND || device_count == 0) continue;
    if (err != CL_SUCCESS) {
      warnings.push_back(cat("opencl: platform '", platform_name, "': clGetDeviceIDs failed with ",
                             opencl_error_name(err), "; skipped"));
      continue;
    }
    std::vector<cl_device_id> ids(device_count);
    if ((err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, device_count, ids.data(), nullptr)) != CL_SUCCESS) {
      warnings.push_back(cat("opencl: platform '", platform_name, "': clGetDeviceIDs failed with ",
                             opencl_error_name(err), "; skipped"));
      continue;
    }
    for (cl_device_id id : ids) {
      DeviceInfo d;
      d.platform = platform_name;
      d.name = device_text(id, CL_DEVICE_NAME);
      d.vendor = device_text(id, CL_DEVICE_VENDOR);
      d.driver_version = device_text(id, CL_DRIVER_VERSION);
      d.opencl_c_version = device_text(id, CL_DEVICE_OPENCL_C_VERSION);
      d.type = type_bits(device_value<cl_device_type>(id, CL_DEVICE_TYPE));
      d.compute_units = static_cast<int>(device_value<cl_uint>(id, CL_DEVICE_MAX_COMPUTE_UNITS));
      d.max_clock_mhz = static_cast<int>(device_value<cl_uint>(id, CL_DEVICE_MAX_CLOCK_FREQUENCY));
      d.global_memory_bytes = static_cast<int64_t>(device_value<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_SIZE));
      d.max_alloc_bytes = static_cast<int64_t>(device_value<cl_ulong>(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE));
      d.local_memory_bytes = static_cast<int64_t>(device_value<cl_ulong>(id, CL_DEVICE_LOCAL_MEM_SIZE));
      d.fp64 = device_value<cl_device_fp_config>(id, CL_DEVICE_DOUBLE_FP_CONFIG) != 0;
      d.unified_memory = device_value<cl_bool>(id, CL_DEVICE_HOST_UNIFIED_MEMORY) == CL_TRUE;
      if (d.global_memory_bytes <= 0) {
        warnings.push_back(cat("opencl: device '", d.name, "' reports no global memory; skipped"));
        continue;
      }
      devices.push_back(DiscoveredDevice{std::move(d), id});
    }
  }
  return devices;
}

}  // namespace plx
