// One OpenCL device as a runtime uses it: its context, three in-order queues
// (host-to-device, compute, device-to-host, so that the transfers of one
// chunk overlap the kernel of another), the programs built for it, what is
// allocated on it (against the runtime's device memory limit), and its
// health: a device that keeps failing is left alone for the runtime's life.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/machine.hpp"
#include "device/opencl.hpp"

namespace plx {

class DeviceSet;

// Pinned host memory mapped for the host, staging a device's transfers.
struct PinnedBlock {
  cl::Buffer buffer;
  void* host = nullptr;
  int64_t bytes = 0;
};

class DeviceContext {
 public:
  ~DeviceContext();

  // `index`: the device's index in the runtime; `limit_bytes`: 0 = none.
  static Result<std::unique_ptr<DeviceContext>> open(DeviceSet& set, int index, cl_device_id id, const DeviceInfo& info,
                                                     int64_t limit_bytes);

  int index() const { return index_; }
  const DeviceInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  const cl::Context& context() const { return context_; }
  const cl::Device& device() const { return device_; }
  const cl::CommandQueue& h2d() const { return h2d_; }
  const cl::CommandQueue& compute() const { return compute_; }
  const cl::CommandQueue& d2h() const { return d2h_; }
  DeviceSet& set() const { return set_; }

  // A buffer counted against the memory limit (fault injection: "alloc=N").
  // Out-of-memory errors say so, to let the caller split its chunk.
  Result<cl::Buffer> allocate(cl_mem_flags flags, int64_t bytes, const char* what);
  void release(int64_t bytes) { allocated_.fetch_sub(bytes); }
  int64_t allocated() const { return allocated_.load(); }

  // Pinned staging memory, kept between runs: pinning and mapping it costs
  // far more than the transfers of one run (an H100's driver pins a few GB/s,
  // so 128 MiB took longer than moving it), so streaming lanes take blocks
  // here and give them back when their run ends. At most kPinnedCacheBytes
  // stay cached; the rest is unmapped and freed.
  static constexpr int64_t kPinnedCacheBytes = int64_t{256} << 20;
  Result<PinnedBlock> take_pinned(int64_t bytes);
  void give_pinned(PinnedBlock block);

  // Programs built for this context, by key (see ProgramCache).
  std::mutex& programs_mutex() { return programs_mutex_; }
  std::map<std::string, cl::Program>& programs() { return programs_; }

  // Health: kConsecutiveFailures failures in a row retire the device.
  static constexpr int kConsecutiveFailures = 3;
  void record_success() { failures_in_row_.store(0); }
  void record_failure();
  bool healthy() const { return healthy_.load(); }

 private:
  DeviceContext(DeviceSet& set, int index, DeviceInfo info) : set_(set), index_(index), info_(std::move(info)) {}
  // Unmaps blocks leaving the cache (their buffers are freed with them).
  void unmap(std::vector<PinnedBlock>& blocks);

  DeviceSet& set_;
  int index_;
  DeviceInfo info_;
  int64_t limit_bytes_ = 0;
  cl::Device device_;
  cl::Context context_;
  cl::CommandQueue h2d_, compute_, d2h_;
  std::atomic<int64_t> allocated_{0};
  std::atomic<int> failures_in_row_{0};
  std::atomic<bool> healthy_{true};
  std::mutex programs_mutex_;
  std::map<std::string, cl::Program> programs_;
  std::mutex pinned_mutex_;
  std::vector<PinnedBlock> pinned_;  // cached, oldest first
  int64_t pinned_bytes_ = 0;
};

// A device buffer that gives its bytes back to the device's count when freed.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceContext* device, cl::Buffer buffer, int64_t bytes)
      : device_(device), buffer_(std::move(buffer)), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  static Result<DeviceBuffer> create(DeviceContext& device, cl_mem_flags flags, int64_t bytes, const char* what);
  void reset();
  const cl::Buffer& get() const { return buffer_; }
  int64_t bytes() const { return bytes_; }

 private:
  DeviceContext* device_ = nullptr;
  cl::Buffer buffer_;
  int64_t bytes_ = 0;
};

}  // namespace plx
