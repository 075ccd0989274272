// struct_size handling for every public struct (DESIGN.md "ABI conventions"):
// read only what the caller's struct_size covers, default the rest, refuse
// sizes that cannot be right, and never write past the caller's struct.
#pragma once

#include <cstddef>
#include <cstring>

#include "api/last_error.hpp"

namespace plx::api {

// A struct from any future header stays far below this; anything larger is a
// garbage struct_size, and reading that much would run off the caller's memory.
constexpr size_t kMaxStructSize = 4096;

// The size of each struct in the first release (0.1): the smallest a host can
// pass. Pinned numbers, checked against the header in tests/abi.
template <class T>
struct FirstReleaseSize;
#define PLX_FIRST_RELEASE_SIZE(type, size) \
  template <>                              \
  struct FirstReleaseSize<type> {          \
    static constexpr size_t value = size;  \
  }
PLX_FIRST_RELEASE_SIZE(plx_runtime_options_t, 120);
PLX_FIRST_RELEASE_SIZE(plx_workload_t, 80);
PLX_FIRST_RELEASE_SIZE(plx_caps_t, 112);
PLX_FIRST_RELEASE_SIZE(plx_device_info_t, 584);
PLX_FIRST_RELEASE_SIZE(plx_plan_info_t, 104);
PLX_FIRST_RELEASE_SIZE(plx_plan_device_t, 56);
PLX_FIRST_RELEASE_SIZE(plx_run_options_t, 120);
PLX_FIRST_RELEASE_SIZE(plx_run_report_t, 96);
PLX_FIRST_RELEASE_SIZE(plx_rows_desc_t, 88);
PLX_FIRST_RELEASE_SIZE(plx_device_figures_t, 80);
PLX_FIRST_RELEASE_SIZE(plx_reduce_desc_t, 64);
PLX_FIRST_RELEASE_SIZE(plx_task_t, 40);
PLX_FIRST_RELEASE_SIZE(plx_task_result_t, 272);
PLX_FIRST_RELEASE_SIZE(plx_stack_desc_t, 168);
PLX_FIRST_RELEASE_SIZE(plx_stack_result_t, 160);
PLX_FIRST_RELEASE_SIZE(plx_coadd_input_t, 168);
PLX_FIRST_RELEASE_SIZE(plx_coadd_desc_t, 88);
PLX_FIRST_RELEASE_SIZE(plx_coadd_result_t, 80);
PLX_FIRST_RELEASE_SIZE(plx_gemm_desc_t, 176);
PLX_FIRST_RELEASE_SIZE(plx_gemm_result_t, 64);
PLX_FIRST_RELEASE_SIZE(plx_gemm_tune_options_t, 32);
PLX_FIRST_RELEASE_SIZE(plx_gemm_tune_result_t, 312);
#undef PLX_FIRST_RELEASE_SIZE

template <class T>
plx_status_t check_struct_size(size_t size, const char* what, const char* type) {
  if (size == 0)
    return fail(PLX_ERR_INVALID_ARGUMENT, what, ": struct_size is 0: set it to sizeof(", type,
                ") (the _init function does this)");
  if (size > kMaxStructSize)
    return fail(PLX_ERR_INVALID_ARGUMENT, what, ": struct_size is ", size, ", not a plausible sizeof(", type,
                "): set it to sizeof(", type, ")");
  if (size < FirstReleaseSize<T>::value)
    return fail(PLX_ERR_VERSION, what, ": struct_size is ", size, " but sizeof(", type, ") is at least ",
                FirstReleaseSize<T>::value, " in every release: set it to sizeof(", type, ")");
  return PLX_OK;
}

// Copies the caller's struct over `out`, which holds the defaults. A larger
// struct (newer header) is accepted only if the fields this library does not
// know are all zero.
template <class T>
plx_status_t read_struct(const T* in, const char* what, const char* type, T& out) {
  if (!in) return fail(PLX_ERR_INVALID_ARGUMENT, what, " is NULL");
  size_t size = in->struct_size;
  if (plx_status_t s = check_struct_size<T>(size, what, type); s != PLX_OK) return s;
  if (size > sizeof(T)) {
    const unsigned char* tail = reinterpret_cast<const unsigned char*>(in) + sizeof(T);
    for (size_t i = 0; i < size - sizeof(T); ++i)
      if (tail[i] != 0)
        return fail(PLX_ERR_VERSION, what, " comes from a newer header (struct_size ", size, ", this library knows ",
                    sizeof(T), ") and sets fields this library (", PLX_VERSION_STRING,
                    ") does not know: upgrade libparallax or leave them zero");
  }
  std::memcpy(&out, in, size < sizeof(T) ? size : sizeof(T));
  out.struct_size = sizeof(T);
  return PLX_OK;
}

// Writes `value` into the caller's struct, as much as its struct_size holds;
// fields of a newer header that this library does not know are zeroed.
template <class T>
plx_status_t write_struct(T* out, const char* what, const char* type, const T& value) {
  if (!out) return fail(PLX_ERR_INVALID_ARGUMENT, what, " is NULL");
  size_t size = out->struct_size;
  if (plx_status_t s = check_struct_size<T>(size, what, type); s != PLX_OK) return s;
  size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(reinterpret_cast<unsigned char*>(out) + sizeof(size_t),
              reinterpret_cast<const unsigned char*>(&value) + sizeof(size_t), n - sizeof(size_t));
  if (size > sizeof(T)) std::memset(reinterpret_cast<unsigned char*>(out) + sizeof(T), 0, size - sizeof(T));
  return PLX_OK;
}

// The body of every plx_xxx_init: defaults for what this library knows,
// zeros for a newer header's extra fields, struct_size = the caller's size.
template <class T>
plx_status_t init_struct(T* out, size_t size, const char* what, const char* type, const T& defaults) {
  if (!out) return fail(PLX_ERR_INVALID_ARGUMENT, what, " is NULL");
  if (plx_status_t s = check_struct_size<T>(size, what, type); s != PLX_OK) return s;
  size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(out, &defaults, n);
  if (size > sizeof(T)) std::memset(reinterpret_cast<unsigned char*>(out) + sizeof(T), 0, size - sizeof(T));
  out->struct_size = size;
  return PLX_OK;
}

}  // namespace plx::api
