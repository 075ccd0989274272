// What the device suites of the built-in kernels share: a runtime whose
// OpenCL devices are PoCL's (CPU-type devices allowed), optionally with
// injected faults, a device memory limit or a device policy, and a fixture
// that skips when there is no OpenCL device at all. PLX_TEST_DEVICE_TYPES=gpu
// runs the same suites on a machine's GPUs instead (the H100 checks).
#pragma once

#include <gtest/gtest.h>
#include <parallax.h>

#include <cstdlib>
#include <cstring>

#include "last_error.hpp"

inline plx_runtime_t* pocl_runtime(const char* faults = nullptr, int64_t device_memory = 0,
                                   int32_t policy = PLX_DEVICE_AUTO) {
  plx_runtime_options_t o;
  plx_runtime_options_init(&o, sizeof o);
  const char* types = std::getenv("PLX_TEST_DEVICE_TYPES");
  o.device_types = types && std::strcmp(types, "gpu") == 0 ? PLX_DEVICE_TYPE_GPU : PLX_DEVICE_TYPE_CPU;  // PoCL
  o.device_policy = policy;
  o.fault_injection = faults;
  o.device_memory_limit_bytes = device_memory;
  o.log_level = PLX_LOG_OFF;
  plx_runtime_t* rt = nullptr;
  EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_OK) << last_error();
  return rt;
}

class PoclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt_ = pocl_runtime();
    plx_caps_t caps;
    caps.struct_size = sizeof caps;
    ASSERT_EQ(plx_caps_get(rt_, &caps), PLX_OK);
    if (caps.device_count == 0) GTEST_SKIP() << "no OpenCL device (PoCL is installed by make deps)";
  }
  void TearDown() override { plx_runtime_destroy(rt_); }
  plx_runtime_t* rt_ = nullptr;
};
