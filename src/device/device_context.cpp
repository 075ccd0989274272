#include "device/device_context.hpp"

#include "core/format_bytes.hpp"
#include "device/cl_status.hpp"
#include "device/device_set.hpp"

namespace plx {

Result<std::unique_ptr<DeviceContext>> DeviceContext::open(DeviceSet& set, int index, cl_device_id id,
                                                           const DeviceInfo& info, int64_t limit_bytes) {
  std::unique_ptr<DeviceContext> d(new DeviceContext(set, index, info));
  d->limit_bytes_ = limit_bytes;
  d->device_ = cl::Device(id, true);
  cl_int err = CL_SUCCESS;
  d->context_ = cl::Context(d->device_, nullptr, nullptr, nullptr, &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clCreateContext", info.name);
  // Kernels are timed (plx_run_report_t.device_kernel_s), transfers not.
  for (cl::CommandQueue* queue : {&d->h2d_, &d->compute_, &d->d2h_}) {
    const cl_command_queue_properties properties = queue == &d->compute_ ? CL_QUEUE_PROFILING_ENABLE : 0;
    *queue = cl::CommandQueue(d->context_, d->device_, properties, &err);
    if (err != CL_SUCCESS) return opencl_error(err, "clCreateCommandQueue", info.name);
  }
  return d;
}

Result<cl::Buffer> DeviceContext::allocate(cl_mem_flags flags, int64_t bytes, const char* what) {
  if (bytes <= 0) return make_error(Code::invalid_argument, what, ": a buffer of ", bytes, " bytes");
  if (auto fault = set_.next_fault(FaultKind::alloc))
    return make_error(fault->code, "clCreateBuffer (", what, ", ", format_bytes(static_cast<double>(bytes)),
                      ") failed on device '", name(), "' (injected fault '", fault->rule, "')");
  if (bytes > info_.max_alloc_bytes)
    return make_error(Code::out_of_memory, "clCreateBuffer (", what, "): ", format_bytes_exact(bytes),
                      " is more than device '", name(),
                      "' allows in one buffer: ", format_bytes_exact(info_.max_alloc_bytes));
  int64_t now = allocated_.fetch_add(bytes) + bytes;
  if (limit_bytes_ > 0 && now > limit_bytes_) {
    allocated_.fetch_sub(bytes);
    return make_error(Code::out_of_memory, "clCreateBuffer (", what, ", ", format_bytes_exact(bytes), "): device '",
                      name(), "' would hold ", format_bytes_exact(now), ", over its limit of ",
                      format_bytes_exact(limit_bytes_), " (runtime option device_memory_limit_bytes)");
  }
  cl_int err = CL_SUCCESS;
  cl::Buffer buffer(context_, flags, static_cast<size_t>(bytes), nullptr, &err);
  if (err != CL_SUCCESS) {
    allocated_.fetch_sub(bytes);
    return opencl_error(err, cat("clCreateBuffer (", what, ", ", format_bytes(static_cast<double>(bytes)), ")"),
                        name());
  }
  return buffer;
}

DeviceContext::~DeviceContext() { unmap(pinned_); }

void DeviceContext::unmap(std::vector<PinnedBlock>& blocks) {
  for (PinnedBlock& block : blocks) h2d_.enqueueUnmapMemObject(block.buffer, block.host);
  if (!blocks.empty()) h2d_.finish();
}

Result<PinnedBlock> DeviceContext::take_pinned(int64_t bytes) {
  {
    std::lock_guard lock(pinned_mutex_);
    // The smallest cached block that holds `bytes`.
    auto best = pinned_.end();
    for (auto it = pinned_.begin(); it != pinned_.end(); ++it)
      if (it->bytes >= bytes && (best == pinned_.end() || it->bytes < best->bytes)) best = it;
    if (best != pinned_.end()) {
      PinnedBlock block = std::move(*best);
      pinned_.erase(best);
      pinned_bytes_ -= block.bytes;
      return block;
    }
  }
  PinnedBlock block;
  cl_int err = CL_SUCCESS;
  block.buffer =
      cl::Buffer(context_, CL_MEM_ALLOC_HOST_PTR | CL_MEM_READ_WRITE, static_cast<size_t>(bytes), nullptr, &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clCreateBuffer (pinned staging)", name());
  block.host = h2d_.enqueueMapBuffer(block.buffer, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, static_cast<size_t>(bytes),
                                     nullptr, nullptr, &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueMapBuffer (pinned staging)", name());
  block.bytes = bytes;
  return block;
}

void DeviceContext::give_pinned(PinnedBlock block) {
  std::vector<PinnedBlock> evicted;
  {
    std::lock_guard lock(pinned_mutex_);
    pinned_bytes_ += block.bytes;
    pinned_.push_back(std::move(block));
    while (pinned_bytes_ > kPinnedCacheBytes) {
      pinned_bytes_ -= pinned_.front().bytes;
      evicted.push_back(std::move(pinned_.front()));
      pinned_.erase(pinned_.begin());
    }
  }
  unmap(evicted);
}

void DeviceContext::record_failure() {
  if (failures_in_row_.fetch_add(1) + 1 >= kConsecutiveFailures && healthy_.exchange(false))
    set_.log().log(LogLevel::warn, cat("device ", index_, " '", name(), "' failed ", kConsecutiveFailures,
                                       " times in a row: it is not used again by this runtime"));
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    buffer_ = std::move(other.buffer_);
    bytes_ = other.bytes_;
    other.device_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (device_) device_->release(bytes_);
  device_ = nullptr;
  buffer_ = cl::Buffer();
  bytes_ = 0;
}

Result<DeviceBuffer> DeviceBuffer::create(DeviceContext& device, cl_mem_flags flags, int64_t bytes, const char* what) {
  auto buffer = device.allocate(flags, bytes, what);
  if (!buffer) return buffer.error();
  return DeviceBuffer(&device, std::move(buffer).value(), bytes);
}

}  // namespace plx
