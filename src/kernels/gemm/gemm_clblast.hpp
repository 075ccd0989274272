// The OpenCL path of plx_gemm, through CLBlast on one device.
// - Device operands (plx_buffer_t): one clblast::Gemm / GemmStridedBatched
//   on the buffers where they are.
// - Host operands: C is cut into blocks (batch items x rows x columns) whose
//   tiles of A, B and C fit the device; each block's C tile is uploaded
//   (unless beta = 0: C is not read), then k is walked in tiles, each tile of
//   A and B uploaded as a rectangle straight from the host matrix
//   (clEnqueueWriteBufferRect: no host copy) and multiplied into the C tile
//   with beta for the first k tile and 1 after; the finished C tile is read
//   back. A tile already on the device (the same rows of A for the next
//   block of columns) is not uploaded again. Splitting k costs no transfer,
//   splitting rows re-uploads B and splitting columns A, so tiles shrink
//   along the batch first, then k, then the larger of rows and columns.
// Failures: a device out of memory (an allocation, or CLBlast's temporary
// buffers) halves the tiles and retries the block; any other failure runs
// the failing block and all later ones on the CPU (`cpu`), unless a device
// is required (then the error is returned). Blocks already read back are
// final either way.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/error.hpp"
#include "core/logger.hpp"
#include "device/device_context.hpp"
#include "kernels/gemm/gemm_spec.hpp"

namespace plx::gemm {

struct DeviceSettings {
  std::string name = "plx_gemm";  // for messages and logs
  int64_t memory_bytes = 0;       // device memory the call may hold (vram_fraction of the device)
  bool device_required = false;   // GPU_REQUIRED: no CPU fallback
};

struct DeviceRun {
  int64_t tiles = 0;      // CLBlast calls on tiles (host operands) or 1 (device operands)
  int splits = 0;         // times the tiles were halved after running out of memory
  bool fallback = false;  // the CPU did some of the work
};

// Runs a host problem on the CPU: the fallback.
using CpuGemm = std::function<Status(const Problem&)>;

Status gemm_on_device(DeviceContext& device, const Problem& p, const DeviceSettings& settings, const CpuGemm& cpu,
                      const Logger& log, DeviceRun& run);

}  // namespace plx::gemm
