#include "device/streaming.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

#include "core/format_bytes.hpp"
#include "device/cl_status.hpp"

namespace plx {
namespace {

using Clock = std::chrono::steady_clock;

struct Range {
  int64_t first = 0;
  int64_t rows = 0;
};

int64_t sum_bytes_per_row(const RowsJob& job) {
  int64_t sum = 0;
  for (const RowsInput& in : job.inputs) sum += in.bytes_per_row;
  for (const RowsOutput& out : job.outputs) sum += out.bytes_per_row;
  return sum + job.scratch_bytes_per_row;
}

int64_t input_bytes_per_row(const RowsJob& job) {
  int64_t sum = 0;
  for (const RowsInput& in : job.inputs) sum += in.bytes_per_row;
  return sum;
}

int64_t largest_bytes_per_row(const RowsJob& job) {
  int64_t most = 1;
  for (const RowsInput& in : job.inputs) most = std::max(most, in.bytes_per_row);
  for (const RowsOutput& out : job.outputs) most = std::max(most, out.bytes_per_row);
  return std::max(most, job.scratch_bytes_per_row);
}

// Bytes of one chunk's largest buffer that transfer best: a discrete device
// needs large transfers to hide the cost of each command (~20 us); a CPU
// device (PoCL) copies through the host's caches, so a chunk should fit them.
int64_t efficient_chunk_bytes(const DeviceInfo& info) {
  return info.type == device_cpu || info.unified_memory ? int64_t{1} << 20 : int64_t{64} << 20;
}

// Rows of one chunk on `info`: at most a quarter of the largest allocation
// per buffer, two chunks (double buffering) within vram_fraction of its
// memory, two pinned staging chunks within its share of the RAM budget, the
// plan's device chunk; within that, the size that transfers best.
// An explicit rows_per_chunk is taken as given (bounded by memory only).
int64_t device_chunk_rows(const DeviceInfo& info, const RowsJob& job, int devices) {
  const int64_t row_bytes = std::max<int64_t>(1, sum_bytes_per_row(job));
  const int64_t largest = largest_bytes_per_row(job);
  int64_t by_alloc = (info.max_alloc_bytes / 4) / largest;
  int64_t by_vram =
      static_cast<int64_t>(job.vram_fraction * static_cast<double>(info.global_memory_bytes)) / (2 * row_bytes);
  int64_t by_ram = job.ram_budget_bytes > 0 ? job.ram_budget_bytes / (4 * std::max(devices, 1)) / row_bytes : by_alloc;
  int64_t rows = std::min({by_alloc, by_vram, by_ram});
  if (job.rows_per_chunk > 0) return std::max<int64_t>(1, std::min(rows, job.rows_per_chunk));
  if (job.plan_rows_per_chunk > 0) rows = std::min(rows, job.plan_rows_per_chunk);
  rows = std::min(rows, std::max<int64_t>(1, efficient_chunk_bytes(info) / largest));
  return std::max<int64_t>(1, rows);
}

// Bytes of input a chunk uploads at a time (see DeviceLane::enqueue): small
// enough that the first piece's fill, which nothing hides, is short; large
// enough that a command's cost (~20 us on an H100) stays small against its
// copy (~0.3 ms at ~55 GB/s).
constexpr int64_t kUploadPieceBytes = int64_t{16} << 20;

// Copies between user memory and pinned staging. Copies of more than 128 KiB
// are split over the runtime's threads: one thread's memcpy
// (~10 GB/s, and ~4 GB/s reading an H100 driver's pinned memory) would
// otherwise be slower than the PCIe link it feeds (~55 GB/s pinned).
void staging_copy(Executor& executor, void* dst, const void* src, int64_t bytes) {
  constexpr int64_t kPart = int64_t{64} << 10;
  int parts = static_cast<int>(std::min<int64_t>(executor.threads(), bytes / kPart));
  if (parts < 2) {
    std::memcpy(dst, src, static_cast<size_t>(bytes));
    return;
  }
  const int64_t step = (bytes / parts + 63) & ~int64_t{63};
  executor.run_lanes(parts, [&](int part) {
    int64_t begin = std::min(bytes, part * step), end = std::min(bytes, begin + step);
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin,
                static_cast<size_t>(end - begin));
  });
}

// What every lane of one run shares: the queue of row chunks, the chunks that
// failed on a device and wait for another, the outcome, the counters.
class RowsRun {
 public:
  RowsRun(const RunEnv& env, const Kernel& kernel, const RowsJob& job, const RunSettings& s, int64_t unit)
      : env(env),
        kernel(kernel),
        job(job),
        s(s),
        unit(unit),
        units(job.rows > 0 ? (job.rows + unit - 1) / unit : 0),
        stop(s.cancel),
        progress(s.progress, job.rows, s.progress_interval_ms, stop),
        input_row_bytes(input_bytes_per_row(job)) {}

  // Next rows to process: an orphaned range first, else the next unit.
  std::optional<Range> take() {
    if (stop.stopped()) return std::nullopt;
    if (orphan_count.load() > 0) {
      std::lock_guard lock(mutex);
      if (!orphans.empty()) {
        Range r = orphans.front();
        orphans.pop_front();
        orphan_count.fetch_sub(1);
        return r;
      }
    }
    int64_t u = next_unit.fetch_add(1);
    if (u >= units) return std::nullopt;
    int64_t first = u * unit;
    return Range{first, std::min(unit, job.rows - first)};
  }

  // Rows a device could not do, for another device.
  void orphan(Range r) {
    {
      std::lock_guard lock(mutex);
      orphans.push_back(r);
      orphan_count.fetch_add(1);
    }
    wake.notify_all();
  }

  void completed(int64_t rows) {
    done_rows.fetch_add(rows);
    progress.add(rows, rows * input_row_bytes);
    wake.notify_all();
  }

  bool all_done() const { return done_rows.load() >= job.rows; }

  // Waits a little for orphans or the end (lanes with nothing to take).
  void idle() {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, std::chrono::milliseconds(2));
  }

  // The run cannot complete: records why (the first reason wins) and stops.
  void fail(Error error) {
    {
      std::lock_guard lock(mutex);
      if (!failure) failure = std::move(error);
    }
    stop.stop();
    wake.notify_all();
  }

  // A callback (a row provider, the CPU function) returned `code` for rows r:
  // the report says where and what, as a loop's does.
  Error callback_failed(Range r, int code, const std::string& what) {
    failed.fetch_add(1);
    {
      std::lock_guard lock(mutex);
      if (!failed_callback) failed_callback = std::make_pair(r, code);
    }
    return make_error(Code::task_failed, s.name, ": ", what, " returned ", code, " for rows [", r.first, ", ",
                      r.first + r.rows, ")");
  }

  // Chunks on a device queue or on the CPU function, for peak_concurrency.
  void chunk_started() { raise_to(peak_chunks, chunks_in_flight.fetch_add(1) + 1); }
  void chunk_ended() { chunks_in_flight.fetch_sub(1); }

  // Runs rows on the CPU function. `scratch` holds provider-made inputs and
  // the outputs that are the kernel's own.
  Status on_cpu(Range r, std::vector<std::vector<unsigned char>>& scratch) {
    chunk_started();
    struct Ended {
      RowsRun& run;
      ~Ended() { run.chunk_ended(); }
    } ended{*this};
    std::vector<const void*> in(job.inputs.size());
    std::vector<void*> out(job.outputs.size());
    scratch.resize(job.inputs.size() + job.outputs.size());
    for (size_t i = 0; i < job.inputs.size(); ++i) {
      const RowsInput& input = job.inputs[i];
      if (input.provider) {
        scratch[i].resize(static_cast<size_t>(r.rows * input.bytes_per_row));
        if (int code = input.provider(r.first, r.rows, scratch[i].data()); code != 0)
          return callback_failed(r, code, cat("the row provider of input ", i));
        in[i] = scratch[i].data();
      } else {
        in[i] = input.data + r.first * input.bytes_per_row;
      }
    }
    for (size_t j = 0; j < job.outputs.size(); ++j) {
      const RowsOutput& output = job.outputs[j];
      if (output.data) {
        out[j] = output.data + r.first * output.bytes_per_row;
      } else {  // the kernel's own: somewhere to write, then dropped
        std::vector<unsigned char>& own = scratch[job.inputs.size() + j];
        own.resize(static_cast<size_t>(r.rows * output.bytes_per_row));
        out[j] = own.data();
      }
    }
    int code = 0;
    try {
      code = job.cpu(r.first, r.rows, in.data(), out.data());
    } catch (...) {
      code = -1;
    }
    if (code != 0) return callback_failed(r, code, "the CPU function");
    chunks.fetch_add(1);
    cpu_chunks.fetch_add(1);
    completed(r.rows);
    return Ok{};
  }

  // A chunk failed on a device for a reason other than memory: the CPU does
  // it (logged once per run), or another device, or the run fails.
  void device_failed(Range r, const Error& error, std::vector<std::vector<unsigned char>>& scratch) {
    failed.fetch_add(1);
    {
      std::lock_guard lock(mutex);
      last_device_error = error;
    }
    if (job.device_required) {
      fail(make_error(error.code, s.name, ": rows [", r.first, ", ", r.first + r.rows, ") failed: ", error.message,
                      " (a device is required, so no CPU fallback)"));
      return;
    }
    if (job.cpu) {
      if (!fallback_logged.exchange(true))
        env.log.log(LogLevel::warn, cat(s.name, ": a chunk failed on the device (", error.message,
                                        "); running it and any other such chunk on the CPU function"));
      fallbacks.fetch_add(1);
      if (auto done = on_cpu(r, scratch); !done) fail(done.error());
      return;
    }
    orphan(r);  // for another device; if none is left, the run reports the error
  }

  const RunEnv& env;
  const Kernel& kernel;
  const RowsJob& job;
  const RunSettings& s;
  const int64_t unit;
  const int64_t units;
  StopFlag stop;
  Progress progress;
  const int64_t input_row_bytes;

  std::atomic<int64_t> next_unit{0};
  std::atomic<int64_t> done_rows{0};
  std::atomic<int64_t> chunks{0};
  std::atomic<int64_t> fallbacks{0};
  std::atomic<int64_t> cpu_chunks{0};
  std::atomic<int> failed{0};
  std::atomic<int> splits{0};
  std::atomic<int64_t> kernel_ns{0};  // profiled time of the completed chunks' kernels, all devices
  std::atomic<int> orphan_count{0};
  std::atomic<int> healthy_device_lanes{0};
  std::atomic<int> chunks_in_flight{0};
  std::atomic<int> peak_chunks{0};
  std::atomic<bool> fallback_logged{false};
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Range> orphans;
  std::optional<Error> failure;
  std::optional<Error> last_device_error;
  std::optional<std::pair<Range, int>> failed_callback;  // the first
};

// One device's lane: two slots, each with device buffers and pinned staging
// buffers for every input and output, filled and drained in turn.
class DeviceLane {
 public:
  DeviceLane(RowsRun& run, DeviceContext& device, cl::Kernel kernel, int64_t chunk_rows)
      : run_(run), dev_(device), kernel_(std::move(kernel)), chunk_rows_(chunk_rows) {}

  void run();

 private:
  struct Slot {
    std::vector<DeviceBuffer> in, out;
    std::vector<PinnedBlock> pinned_in, pinned_out;  // from the device's cache, given back by release()
    DeviceBuffer scratch;                            // job.scratch_bytes_per_row, device-only
    std::vector<cl::Event> reads;
    cl::Event kernel;  // for its profiled run time
    Range range;
    bool busy = false;
  };

  Status allocate(int64_t rows);
  void release();
  Status enqueue(Slot& slot, Range r);
  void finish(Slot& slot);
  void process();
  // Out of memory: smaller chunks, down to one row.
  bool shrink(const Error& why);

  RowsRun& run_;
  DeviceContext& dev_;
  cl::Kernel kernel_;
  int64_t chunk_rows_;
  int64_t allocated_rows_ = 0;

 public:
  int64_t completed_chunks = 0;

 private:
  Slot slots_[2];
  std::vector<DeviceBuffer> constants_;  // job.constants, uploaded once
  int next_slot_ = 0;
  std::deque<Range> redo_;  // this device's own retries after a split
  std::vector<std::vector<unsigned char>> scratch_;
};

Status DeviceLane::allocate(int64_t rows) {
  release();
  const RowsJob& job = run_.job;
  for (Slot& slot : slots_) {
    auto add = [&](std::vector<DeviceBuffer>& device_side, std::vector<PinnedBlock>& pinned, int64_t bytes_per_row,
                   cl_mem_flags flags, bool staged, const char* what) -> Status {
      int64_t bytes = rows * bytes_per_row;
      auto buffer = DeviceBuffer::create(dev_, flags, bytes, what);
      if (!buffer) return buffer.error();
      device_side.push_back(std::move(buffer).value());
      if (!staged) {
        pinned.emplace_back();
        return Ok{};
      }
      // Pinned host memory: DMA runs from it directly (pageable is ~6x slower).
      auto staging = dev_.take_pinned(bytes);
      if (!staging) return staging.error();
      pinned.push_back(std::move(staging).value());
      return Ok{};
    };
    for (const RowsInput& in : job.inputs)
      PLX_TRY(add(slot.in, slot.pinned_in, in.bytes_per_row, CL_MEM_READ_ONLY, true, "chunk input"));
    for (const RowsOutput& out : job.outputs)
      PLX_TRY(add(slot.out, slot.pinned_out, out.bytes_per_row,
                  out.zeroed || !out.data ? CL_MEM_READ_WRITE : CL_MEM_WRITE_ONLY, out.data != nullptr,
                  "chunk output"));
    if (job.scratch_bytes_per_row > 0) {
      auto scratch = DeviceBuffer::create(dev_, CL_MEM_READ_WRITE, rows * job.scratch_bytes_per_row, "chunk scratch");
      if (!scratch) return scratch.error();
      slot.scratch = std::move(scratch).value();
    }
  }
  if (constants_.size() != job.constants.size()) {
    constants_.clear();
    for (const auto& bytes : job.constants) {
      auto buffer = DeviceBuffer::create(dev_, CL_MEM_READ_ONLY,
                                         static_cast<int64_t>(std::max<size_t>(bytes.size(), 1)), "kernel constants");
      if (!buffer) return buffer.error();
      if (!bytes.empty()) {
        cl_int err = dev_.h2d().enqueueWriteBuffer(buffer.value().get(), CL_TRUE, 0, bytes.size(), bytes.data());
        if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueWriteBuffer (kernel constants)", dev_.name());
      }
      constants_.push_back(std::move(buffer).value());
    }
  }
  allocated_rows_ = rows;
  return Ok{};
}

void DeviceLane::release() {
  // A failed chunk may leave transfers in flight: none may touch a block
  // once it is back in the cache.
  dev_.h2d().finish();
  dev_.d2h().finish();
  for (Slot& slot : slots_) {
    for (PinnedBlock& block : slot.pinned_in) dev_.give_pinned(std::move(block));
    for (PinnedBlock& block : slot.pinned_out)
      if (block.host) dev_.give_pinned(std::move(block));
    slot = Slot{};
  }
  allocated_rows_ = 0;
}

Status DeviceLane::enqueue(Slot& slot, Range r) {
  const RowsJob& job = run_.job;
  // Inputs into pinned memory (the provider writes there directly), then to
  // the device, a piece at a time: each piece's upload runs while the host
  // fills the next, so only the first piece's fill is not hidden behind a
  // transfer (one fill and upload of the whole chunk left the link idle while
  // the host filled it, and the host idle while the link copied it).
  const int64_t piece_rows = std::max<int64_t>(1, kUploadPieceBytes / std::max<int64_t>(1, input_bytes_per_row(job)));
  std::vector<cl::Event> writes;
  cl_int err = CL_SUCCESS;
  for (int64_t done = 0; done < r.rows; done += piece_rows) {
    const int64_t first = r.first + done, rows = std::min(piece_rows, r.rows - done);
    for (size_t i = 0; i < job.inputs.size(); ++i) {
      const RowsInput& in = job.inputs[i];
      unsigned char* host = static_cast<unsigned char*>(slot.pinned_in[i].host) + done * in.bytes_per_row;
      if (in.provider) {
        if (int code = in.provider(first, rows, host); code != 0)
          return run_.callback_failed({first, rows}, code, cat("the row provider of input ", i));
      } else {
        staging_copy(run_.env.executor, host, in.data + first * in.bytes_per_row, rows * in.bytes_per_row);
      }
      writes.emplace_back();
      err = dev_.h2d().enqueueWriteBuffer(slot.in[i].get(), CL_FALSE, static_cast<size_t>(done * in.bytes_per_row),
                                          static_cast<size_t>(rows * in.bytes_per_row), host, nullptr, &writes.back());
      if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueWriteBuffer", dev_.name());
    }
    dev_.h2d().flush();
  }
  // Arguments: inputs, outputs, scalars, then `long first_row, long rows`.
  // A mismatch is the host's mistake, the same on every device: fail the run.
  cl_uint arg = 0;
  auto set = [&](size_t size, const void* value, const char* what) -> Status {
    cl_int e = clSetKernelArg(kernel_(), arg, size, value);
    if (e != CL_SUCCESS)
      return make_error(Code::invalid_argument, run_.s.name, ": kernel '", run_.kernel.name(), "' argument ", arg, " (",
                        what, ") failed with ", opencl_error_name(e),
                        ": the kernel must take each input buffer, each output buffer, each scalar, then "
                        "`long first_row, long rows`");
    ++arg;
    return Ok{};
  };
  for (const DeviceBuffer& b : slot.in) PLX_TRY(set(sizeof(cl_mem), &b.get()(), "input buffer"));
  for (const DeviceBuffer& b : slot.out) PLX_TRY(set(sizeof(cl_mem), &b.get()(), "output buffer"));
  if (job.scratch_bytes_per_row > 0) PLX_TRY(set(sizeof(cl_mem), &slot.scratch.get()(), "scratch buffer"));
  for (const DeviceBuffer& b : constants_) PLX_TRY(set(sizeof(cl_mem), &b.get()(), "constant buffer"));
  for (const auto& scalar : job.scalars) PLX_TRY(set(scalar.size(), scalar.data(), "scalar"));
  cl_long first = r.first, rows = r.rows;
  PLX_TRY(set(sizeof first, &first, "long first_row"));
  PLX_TRY(set(sizeof rows, &rows, "long rows"));
  const cl_int zero = 0;
  for (size_t j = 0; j < job.outputs.size(); ++j) {
    if (job.outputs[j].zeroed) {
      writes.emplace_back();
      err = dev_.compute().enqueueFillBuffer(slot.out[j].get(), zero, 0,
                                             static_cast<size_t>(r.rows * job.outputs[j].bytes_per_row), nullptr,
                                             &writes.back());
      if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueFillBuffer", dev_.name());
    }
  }
  cl::Event done;
  if (auto fault = dev_.set().next_fault(FaultKind::enqueue)) {
    return make_error(fault->code, "clEnqueueNDRangeKernel failed on device '", dev_.name(), "' (injected fault '",
                      fault->rule, "')");
  }
  // With a work-group size, the row is rounded up to whole groups.
  const auto group = static_cast<size_t>(job.group_items);
  size_t items = static_cast<size_t>(job.work_items_per_row);
  if (group > 0) items = (items + group - 1) / group * group;
  err = dev_.compute().enqueueNDRangeKernel(kernel_, cl::NullRange, cl::NDRange(items, static_cast<size_t>(r.rows)),
                                            group > 0 ? cl::NDRange(group, 1) : cl::NullRange, &writes, &done);
  if (err == CL_INVALID_KERNEL_ARGS)
    return make_error(Code::invalid_argument, run_.s.name, ": kernel '", run_.kernel.name(), "' has more than the ",
                      arg, " arguments a row run sets (each input, each output, each scalar, first_row, rows)");
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueNDRangeKernel", dev_.name());
  slot.kernel = done;
  std::vector<cl::Event> after_kernel{done};
  slot.reads.clear();
  for (size_t j = 0; j < job.outputs.size(); ++j) {
    if (!job.outputs[j].data) continue;  // the kernel's own: one command fewer (~20 us each on an H100)
    slot.reads.emplace_back();
    err = dev_.d2h().enqueueReadBuffer(slot.out[j].get(), CL_FALSE, 0,
                                       static_cast<size_t>(r.rows * job.outputs[j].bytes_per_row),
                                       slot.pinned_out[j].host, &after_kernel, &slot.reads.back());
    if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueReadBuffer", dev_.name());
  }
  dev_.h2d().flush();
  dev_.compute().flush();
  dev_.d2h().flush();
  slot.range = r;
  slot.busy = true;
  run_.chunk_started();
  return Ok{};
}

void DeviceLane::finish(Slot& slot) {
  if (!slot.busy) return;
  slot.busy = false;
  run_.chunk_ended();
  cl_int err = slot.reads.empty() ? dev_.compute().finish() : cl::WaitForEvents(slot.reads);
  cl_int status = CL_COMPLETE;
  for (const cl::Event& e : slot.reads) {
    cl_int s = e.getInfo<CL_EVENT_COMMAND_EXECUTION_STATUS>();
    if (s < 0) status = s;
  }
  if (err != CL_SUCCESS || status < 0) {
    int code = status < 0 ? status : err;
    Error e = opencl_error(code,
                           cat("kernel '", run_.kernel.name(), "' (rows ", slot.range.first, "..",
                               slot.range.first + slot.range.rows, ")"),
                           dev_.name());
    if (e.code == Code::out_of_memory) {
      redo_.push_back(slot.range);  // again, in smaller chunks, before anything new
      shrink(e);
    } else {
      dev_.record_failure();
      run_.device_failed(slot.range, e, scratch_);
    }
    return;
  }
  const RowsJob& job = run_.job;
  for (size_t j = 0; j < job.outputs.size(); ++j)
    if (job.outputs[j].data)
      staging_copy(run_.env.executor, job.outputs[j].data + slot.range.first * job.outputs[j].bytes_per_row,
                   slot.pinned_out[j].host, slot.range.rows * job.outputs[j].bytes_per_row);
  cl_ulong started = 0, ended = 0;  // left at 0 where a driver has no profiling
  if (slot.kernel.getProfilingInfo(CL_PROFILING_COMMAND_START, &started) == CL_SUCCESS &&
      slot.kernel.getProfilingInfo(CL_PROFILING_COMMAND_END, &ended) == CL_SUCCESS && ended > started)
    run_.kernel_ns.fetch_add(static_cast<int64_t>(ended - started));
  dev_.record_success();
  run_.chunks.fetch_add(1);
  ++completed_chunks;
  run_.completed(slot.range.rows);
}

bool DeviceLane::shrink(const Error& why) {
  if (chunk_rows_ <= 1) {
    run_.fail(make_error(Code::out_of_memory, run_.s.name, ": device '", dev_.name(),
                         "' ran out of memory even for one row of ",
                         format_bytes(static_cast<double>(sum_bytes_per_row(run_.job))), " (", why.message, ")"));
    return false;
  }
  chunk_rows_ = std::max<int64_t>(1, chunk_rows_ / 2);
  run_.splits.fetch_add(1);
  run_.env.log.log(LogLevel::info, cat(run_.s.name, ": device '", dev_.name(), "' out of memory (", why.message,
                                       "); chunks halved to ", chunk_rows_, " rows"));
  return true;
}

// Processes what this device owes (its retries after a split, then `r`) in
// chunks of the current size, double-buffered.
void DeviceLane::process() {
  while (!redo_.empty() && !run_.stop.stopped() && dev_.healthy()) {
    Range todo = redo_.front();
    redo_.pop_front();
    Range part{todo.first, std::min(todo.rows, chunk_rows_)};
    if (part.rows < todo.rows) redo_.push_front(Range{todo.first + part.rows, todo.rows - part.rows});
    if (allocated_rows_ < part.rows || allocated_rows_ > 2 * chunk_rows_) {
      for (Slot& s : slots_) finish(s);
      if (auto ok = allocate(std::min(chunk_rows_, run_.unit)); !ok) {  // no range is longer than a unit
        release();
        if (ok.error().code == Code::out_of_memory) {
          redo_.push_front(part);
          if (!shrink(ok.error())) return;
          continue;
        }
        dev_.record_failure();
        run_.device_failed(part, ok.error(), scratch_);
        continue;
      }
    }
    Slot& slot = slots_[next_slot_];
    next_slot_ ^= 1;
    finish(slot);  // the chunk before last: its download overlapped this upload
    if (auto ok = enqueue(slot, part); !ok) {
      slot.busy = false;
      if (ok.error().code == Code::task_failed || ok.error().code == Code::invalid_argument) {
        run_.fail(ok.error());  // the host's provider or kernel arguments, not the device
        return;
      }
      if (ok.error().code == Code::out_of_memory) {
        for (Slot& s : slots_) finish(s);
        redo_.push_front(part);
        if (!shrink(ok.error())) return;
        continue;
      }
      dev_.record_failure();
      run_.device_failed(part, ok.error(), scratch_);
    }
  }
}

void DeviceLane::run() {
  while (dev_.healthy() && !run_.stop.stopped()) {
    if (auto r = run_.take()) {
      redo_.push_back(*r);
      process();
      continue;
    }
    // Nothing to take: finish what is in flight (which may hand work back to
    // this device after a split), then wait for another device's orphans or
    // for the end.
    for (Slot& s : slots_) finish(s);
    if (!redo_.empty()) {
      process();
      continue;
    }
    if (run_.all_done()) break;
    run_.idle();
  }
  for (Slot& s : slots_) finish(s);
  for (Range r : redo_) run_.orphan(r);  // what this device still owed
  redo_.clear();
  release();
}

}  // namespace

RunOutcome run_rows(const RunEnv& env, const Kernel& kernel, const RowsJob& job, const RunSettings& s) {
  auto start = Clock::now();
  DeviceSet& set = kernel.device_set();
  std::vector<DeviceContext*> devices;
  for (int index : kernel.devices())
    if (auto d = set.open(index); d && (*d)->healthy()) devices.push_back(*d);

  RunOutcome out;
  // CPU lanes: the run's workers when no device can run the kernel, or beside
  // the devices for a mixed plan.
  const int cpu_lanes = !job.cpu ? 0 : devices.empty() ? std::max(1, s.workers) : job.mixed ? s.workers : 0;
  if (devices.empty() && !job.cpu) {
    out.code = Code::no_device;
    out.message = cat(s.name, ": no device can run kernel '", kernel.name(),
                      "' (none usable, or it built on none) and no CPU fallback was given");
    return out;
  }

  // One unit of the shared queue: what the smallest device can hold, and
  // about four per lane so that lanes finish together.
  int64_t unit = job.rows_per_chunk > 0 ? job.rows_per_chunk : INT64_MAX;
  std::vector<int64_t> caps;
  for (DeviceContext* d : devices) {
    caps.push_back(device_chunk_rows(d->info(), job, static_cast<int>(devices.size())));
    if (job.rows_per_chunk <= 0) unit = std::min(unit, caps.back());
  }
  const int lanes = static_cast<int>(devices.size()) + cpu_lanes;
  if (job.rows_per_chunk <= 0) {
    int64_t balanced = std::max<int64_t>(1, (job.rows + 4 * lanes - 1) / (4 * std::max(lanes, 1)));
    unit = devices.empty() ? balanced : std::min(unit, std::max(balanced, int64_t{1}));
  }
  unit = std::max<int64_t>(1, std::min(unit, std::max<int64_t>(job.rows, 1)));

  RowsRun run(env, kernel, job, s, unit);
  run.healthy_device_lanes.store(static_cast<int>(devices.size()));
  std::vector<std::optional<cl::Kernel>> instances(devices.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    auto k = kernel.instance(devices[i]->index());
    if (!k) {
      out.code = k.error().code;
      out.message = cat(s.name, ": ", k.error().message);
      return out;
    }
    instances[i] = std::move(k).value();
  }

  std::vector<int64_t> per_device(devices.size(), 0);
  env.executor.run_lanes(std::max(lanes, 1), [&](int lane) {
    if (lane < static_cast<int>(devices.size())) {
      DeviceLane device_lane(run, *devices[static_cast<size_t>(lane)], std::move(*instances[static_cast<size_t>(lane)]),
                             caps[static_cast<size_t>(lane)]);
      device_lane.run();
      per_device[static_cast<size_t>(lane)] = device_lane.completed_chunks;
      run.healthy_device_lanes.fetch_sub(1);
      run.wake.notify_all();
      // A retired device leaves its thread to the CPU function, if there is one.
      if (!job.cpu || job.device_required) return;
    }
    std::vector<std::vector<unsigned char>> scratch;
    for (;;) {
      auto r = run.take();
      if (!r) {
        if (run.stop.stopped() || run.all_done() || run.healthy_device_lanes.load() == 0) break;
        run.idle();
        continue;
      }
      if (auto done = run.on_cpu(*r, scratch); !done) run.fail(done.error());
    }
  });
  run.progress.finish();

  RunReport& r = out.report;
  r.workers = std::max(lanes, 1);
  r.threads = env.executor.threads();
  r.peak_concurrency = run.peak_chunks.load();
  r.chunks = run.chunks.load();
  r.failed = run.failed.load();
  if (run.failed_callback) {
    const auto [range, code] = *run.failed_callback;
    r.failed_begin = range.first;
    r.failed_end = range.first + range.rows;
    r.callback_code = code;
  }
  r.fallback_chunks = run.fallbacks.load();
  r.chunk_splits = run.splits.load();
  r.device_kernel_s = static_cast<double>(run.kernel_ns.load()) * 1e-9;
  r.cpu_chunks = run.cpu_chunks.load();
  for (size_t i = 0; i < devices.size(); ++i) r.device_chunks.emplace_back(devices[i]->index(), per_device[i]);
  r.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (run.failure) {
    out.code = run.failure->code;
    out.message = run.failure->message;
  } else if (!run.all_done()) {
    if (run.stop.cancelled()) {
      out.code = Code::cancelled;
      out.message = cat(s.name, ": cancelled after ", run.done_rows.load(), " of ", job.rows, " rows");
    } else {
      out.code = run.last_device_error ? run.last_device_error->code : Code::device;
      out.message = cat(s.name, ": only ", run.done_rows.load(), " of ", job.rows,
                        " rows were processed: every device that could run kernel '", kernel.name(), "' failed",
                        job.device_required ? " and a device is required" : " and no CPU fallback was given",
                        run.last_device_error ? cat("; last error: ", run.last_device_error->message) : "");
    }
  }
  log_run_summary(env, "kernel_rows", s, out, job.rows);
  return out;
}

}  // namespace plx
