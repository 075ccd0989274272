#include "kernels/gemm/gemm_clblast.hpp"

#include "kernels/gemm/clblast_include.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <vector>

#include "core/format_bytes.hpp"
#include "device/cl_status.hpp"
#include "device/device_set.hpp"
#include "kernels/gemm/clblast_status.hpp"

namespace plx::gemm {
namespace {

using clblast::Layout;
using clblast::Transpose;

Transpose op(bool trans) { return trans ? Transpose::kYes : Transpose::kNo; }

// One CLBlast product (batch 1: Gemm, else GemmStridedBatched), waited for.
// Fault injection counts it as an "enqueue".
template <class T>
Status clblast_gemm(DeviceContext& dev, cl::CommandQueue& queue, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    double alpha, cl_mem a, int64_t a_off, int64_t lda, int64_t a_stride, cl_mem b, int64_t b_off,
                    int64_t ldb, int64_t b_stride, double beta, cl_mem c, int64_t c_off, int64_t ldc,
                    int64_t c_stride, int64_t batch) {
  const char* routine = batch == 1 ? (sizeof(T) == 4 ? "clblast::Gemm<float>" : "clblast::Gemm<double>")
                                   : (sizeof(T) == 4 ? "clblast::GemmStridedBatched<float>"
                                                     : "clblast::GemmStridedBatched<double>");
  if (auto fault = dev.set().next_fault(FaultKind::enqueue))
    return make_error(fault->code, routine, " failed on device '", dev.name(), "' (injected fault '", fault->rule,
                      "')");
  cl_command_queue q = queue();
  auto z = [](int64_t v) { return static_cast<size_t>(v); };
  clblast::StatusCode s;
  if (batch == 1)
    s = clblast::Gemm<T>(Layout::kRowMajor, op(ta), op(tb), z(m), z(n), z(k), static_cast<T>(alpha), a, z(a_off),
                         z(lda), b, z(b_off), z(ldb), static_cast<T>(beta), c, z(c_off), z(ldc), &q, nullptr);
  else
    s = clblast::GemmStridedBatched<T>(Layout::kRowMajor, op(ta), op(tb), z(m), z(n), z(k), static_cast<T>(alpha), a,
                                       z(a_off), z(lda), z(a_stride), b, z(b_off), z(ldb), z(b_stride),
                                       static_cast<T>(beta), c, z(c_off), z(ldc), z(c_stride), z(batch), &q, nullptr);
  if (s != clblast::StatusCode::kSuccess) return clblast_error(static_cast<int>(s), routine, dev.name());
  if (cl_int err = queue.finish(); err != CL_SUCCESS) return opencl_error(err, cat(routine, " (clFinish)"), dev.name());
  return Ok{};
}

Status product(DeviceContext& dev, cl::CommandQueue& queue, const Problem& p, bool ta, bool tb, int64_t m, int64_t n,
               int64_t k, cl_mem a, int64_t a_off, int64_t lda, int64_t a_stride, cl_mem b, int64_t b_off,
               int64_t ldb, int64_t b_stride, double beta, cl_mem c, int64_t c_off, int64_t ldc, int64_t c_stride,
               int64_t batch) {
  return p.precision == Precision::f32
             ? clblast_gemm<float>(dev, queue, ta, tb, m, n, k, p.alpha, a, a_off, lda, a_stride, b, b_off, ldb,
                                   b_stride, beta, c, c_off, ldc, c_stride, batch)
             : clblast_gemm<double>(dev, queue, ta, tb, m, n, k, p.alpha, a, a_off, lda, a_stride, b, b_off, ldb,
                                    b_stride, beta, c, c_off, ldc, c_stride, batch);
}

// C = beta C on a device buffer, for k = 0 or alpha = 0, where CLBlast
// refuses k = 0 and would read A and B; beta = 0 writes zeros (BLAS).
constexpr const char* kScaleSource = R"CL(
#ifdef PLX_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif
__kernel void plx_gemm_scale(__global real* c, long offset, long ld, long stride, long rows, long cols, real beta) {
  const long j = get_global_id(0), row = get_global_id(1);
  if (j >= cols) return;
  __global real* p = c + offset + (row / rows) * stride + (row % rows) * ld + j;
  *p = beta == (real)0 ? (real)0 : beta * *p;
}
)CL";

Status scale_on_device(DeviceContext& dev, cl::CommandQueue& queue, const Problem& p) {
  if (p.beta == 1 || p.empty()) return Ok{};
  const bool f64 = p.precision == Precision::f64;
  Result<cl::Program> program =
      dev.set().programs().get(dev, kScaleSource, f64 ? "-cl-std=CL1.2 -DPLX_F64" : "-cl-std=CL1.2");
  if (!program) return program.error();
  cl_int err = CL_SUCCESS;
  cl::Kernel kernel(program.value(), "plx_gemm_scale", &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clCreateKernel('plx_gemm_scale')", dev.name());
  const cl_long args[] = {p.in.c_offset, p.ldc, p.stride_c, p.m, p.n};
  kernel.setArg(0, p.in.c_buffer->get());
  for (int i = 0; i < 5; ++i) kernel.setArg(static_cast<cl_uint>(i + 1), args[i]);
  if (f64)
    kernel.setArg(6, static_cast<cl_double>(p.beta));
  else
    kernel.setArg(6, static_cast<cl_float>(p.beta));
  if (auto fault = dev.set().next_fault(FaultKind::enqueue))
    return make_error(fault->code, "plx_gemm_scale failed on device '", dev.name(), "' (injected fault '",
                      fault->rule, "')");
  err = queue.enqueueNDRangeKernel(kernel, cl::NullRange,
                                   cl::NDRange(static_cast<size_t>(p.n), static_cast<size_t>(p.m * p.batch)));
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueNDRangeKernel('plx_gemm_scale')", dev.name());
  if (err = queue.finish(); err != CL_SUCCESS) return opencl_error(err, "plx_gemm_scale (clFinish)", dev.name());
  return Ok{};
}

// A rectangle of a host matrix (row-major, `ld` elements a row): rows
// [r0, r0 + rows), columns [c0, c0 + cols), to or from a device buffer at
// element `offset`, `cols` elements a row there.
struct Rect {
  const void* host;
  int64_t ld, r0, c0, rows, cols;
};

Status write_rect(DeviceContext& dev, cl::CommandQueue& queue, const cl::Buffer& buffer, int64_t offset,
                  const Rect& r, int64_t es) {
  const size_t buffer_origin[3] = {static_cast<size_t>(offset * es), 0, 0};
  const size_t host_origin[3] = {static_cast<size_t>(r.c0 * es), static_cast<size_t>(r.r0), 0};
  const size_t region[3] = {static_cast<size_t>(r.cols * es), static_cast<size_t>(r.rows), 1};
  cl_int err = clEnqueueWriteBufferRect(queue(), buffer(), CL_FALSE, buffer_origin, host_origin, region,
                                        static_cast<size_t>(r.cols * es), 0, static_cast<size_t>(r.ld * es), 0,
                                        r.host, 0, nullptr, nullptr);
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueWriteBufferRect", dev.name());
  return Ok{};
}

Status read_rect(DeviceContext& dev, cl::CommandQueue& queue, const cl::Buffer& buffer, int64_t offset,
                 const Rect& r, int64_t es) {
  const size_t buffer_origin[3] = {static_cast<size_t>(offset * es), 0, 0};
  const size_t host_origin[3] = {static_cast<size_t>(r.c0 * es), static_cast<size_t>(r.r0), 0};
  const size_t region[3] = {static_cast<size_t>(r.cols * es), static_cast<size_t>(r.rows), 1};
  cl_int err = clEnqueueReadBufferRect(queue(), buffer(), CL_TRUE, buffer_origin, host_origin, region,
                                       static_cast<size_t>(r.cols * es), 0, static_cast<size_t>(r.ld * es), 0,
                                       const_cast<void*>(r.host), 0, nullptr, nullptr);
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueReadBufferRect", dev.name());
  return Ok{};
}

// A block of C: batch items [item0, item0 + items) x rows [i0, i0 + mi) x columns [j0, j0 + nj).
struct Block {
  int64_t item0, items, i0, mi, j0, nj;
};

// The host problem of a block (all of k), for the CPU.
Problem block_problem(const Problem& p, const Block& b) {
  const int64_t es = element_bytes(p.precision);
  auto at = [es](const void* base, int64_t elements) {
    return static_cast<const void*>(static_cast<const char*>(base) + elements * es);
  };
  Problem q = p;
  q.m = b.mi;
  q.n = b.nj;
  q.batch = b.items;
  q.in.a = at(p.in.a, b.item0 * p.stride_a + (p.trans_a ? b.i0 : b.i0 * p.lda));
  q.in.b = at(p.in.b, b.item0 * p.stride_b + (p.trans_b ? b.j0 * p.ldb : b.j0));
  q.in.c = const_cast<void*>(at(p.in.c, b.item0 * p.stride_c + b.i0 * p.ldc + b.j0));
  return q;
}

// Tiles of a host problem on one device (see the header).
class HostTiles {
 public:
  HostTiles(DeviceContext& dev, const Problem& p, const DeviceSettings& s)
      : dev_(dev), p_(p), s_(s), es_(element_bytes(p.precision)) {
    bt_ = p.batch;
    mt_ = p.m;
    nt_ = p.n;
    kt_ = p.k;
    budget_ = s.memory_bytes;
  }

  // Shrinks the tiles until their buffers fit (see the header); false when
  // even 1 x 1 x 1 does not.
  bool fit() {
    // CLBlast's tiled kernel pads copies of A, B and C to its tile multiples
    // in temporary buffers: as much again, so tiles get half the budget.
    const int64_t room = budget_ / 2;
    const int64_t single = std::max<int64_t>(dev_.info().max_alloc_bytes, 1);
    auto halve = [](int64_t v) { return v > 256 ? (v / 2 + 127) / 128 * 128 : (v + 1) / 2; };
    for (;;) {
      // In double: overlapping batch items (a stride below a matrix) can make these exceed 64 bits.
      const double a = bytes(p_.stride_a == 0 ? 1 : bt_, mt_, kt_), b = bytes(p_.stride_b == 0 ? 1 : bt_, kt_, nt_);
      const double c = bytes(bt_, mt_, nt_);
      if (a + b + c <= static_cast<double>(room) && a <= single / 2.0 && b <= single / 2.0 && c <= single / 2.0)
        return true;
      if (bt_ > 1)
        bt_ = (bt_ + 1) / 2;
      else if (c > room / 2 && std::max(mt_, nt_) > 1)
        (mt_ >= nt_ ? mt_ : nt_) = halve(std::max(mt_, nt_));
      else if (kt_ > 256 || (kt_ > 1 && std::max(mt_, nt_) == 1))
        kt_ = halve(kt_);
      else if (std::max(mt_, nt_) > 1)
        (mt_ >= nt_ ? mt_ : nt_) = halve(std::max(mt_, nt_));
      else
        return false;
    }
  }

  // After running out of memory: tiles for half of what they used.
  bool shrink() {
    const double used = bytes(p_.stride_a == 0 ? 1 : bt_, mt_, kt_) + bytes(p_.stride_b == 0 ? 1 : bt_, kt_, nt_) +
                        bytes(bt_, mt_, nt_);
    budget_ = std::min(budget_, static_cast<int64_t>(used));  // fit() keeps tiles within half of this
    release();
    return fit();
  }

  std::string sizes() const {
    return cat(bt_, " items x ", mt_, " rows x ", nt_, " columns x ", kt_, " of k");
  }

  // Cuts the first tile-sized piece off `b`: {piece, rest}, items first,
  // then rows, then columns; cut again until the piece fits. (Two at a time,
  // not all at once: a batch of millions of items is millions of blocks.)
  std::vector<Block> cut(const Block& b) const {
    Block first = b, rest = b;
    if (b.items > bt_) {
      first.items = bt_;
      rest.item0 += bt_, rest.items -= bt_;
    } else if (b.mi > mt_) {
      first.mi = mt_;
      rest.i0 += mt_, rest.mi -= mt_;
    } else {
      first.nj = nt_;
      rest.j0 += nt_, rest.nj -= nt_;
    }
    return {first, rest};
  }
  bool fits(const Block& b) const { return b.items <= bt_ && b.mi <= mt_ && b.nj <= nt_; }

  // Runs one block (all of k); `written` counts its items read back into C.
  Status run(cl::CommandQueue& queue, const Block& b, int64_t& written, int64_t& tiles) {
    const bool share_a = p_.stride_a == 0, share_b = p_.stride_b == 0;
    PLX_TRY(ensure(a_, (share_a ? 1 : bt_) * mt_ * kt_, "GEMM tile of A"));
    PLX_TRY(ensure(b_, (share_b ? 1 : bt_) * kt_ * nt_, "GEMM tile of B"));
    PLX_TRY(ensure(c_, bt_ * mt_ * nt_, "GEMM tile of C"));
    const int64_t c_stride = b.mi * b.nj;
    const char* base_c = static_cast<const char*>(p_.in.c);
    if (p_.beta != 0)  // beta = 0: C is not read (BLAS), nor uploaded
      for (int64_t it = 0; it < b.items; ++it)
        PLX_TRY(write_rect(dev_, queue, c_.get(), it * c_stride,
                           Rect{base_c + (b.item0 + it) * p_.stride_c * es_, p_.ldc, b.i0, b.j0, b.mi, b.nj}, es_));
    for (int64_t p0 = 0; p0 < p_.k; p0 += kt_) {
      const int64_t kp = std::min(kt_, p_.k - p0);
      // op(A) rows [i0, i0 + mi) x k [p0, p0 + kp), as stored; ld on the device = stored columns.
      const int64_t a_rows = p_.trans_a ? kp : b.mi, a_cols = p_.trans_a ? b.mi : kp;
      const int64_t b_rows = p_.trans_b ? b.nj : kp, b_cols = p_.trans_b ? kp : b.nj;
      const Key a_key{share_a ? 0 : b.item0, share_a ? 1 : b.items, b.i0, b.mi, p0, kp};
      const Key b_key{share_b ? 0 : b.item0, share_b ? 1 : b.items, b.j0, b.nj, p0, kp};
      if (!(a_key_ && *a_key_ == a_key)) {
        a_key_.reset();
        for (int64_t it = 0; it < a_key.items; ++it)
          PLX_TRY(write_rect(dev_, queue, a_.get(), it * a_rows * a_cols,
                             Rect{static_cast<const char*>(p_.in.a) + (a_key.item0 + it) * p_.stride_a * es_, p_.lda,
                                  p_.trans_a ? p0 : b.i0, p_.trans_a ? b.i0 : p0, a_rows, a_cols},
                             es_));
        a_key_ = a_key;
      }
      if (!(b_key_ && *b_key_ == b_key)) {
        b_key_.reset();
        for (int64_t it = 0; it < b_key.items; ++it)
          PLX_TRY(write_rect(dev_, queue, b_.get(), it * b_rows * b_cols,
                             Rect{static_cast<const char*>(p_.in.b) + (b_key.item0 + it) * p_.stride_b * es_, p_.ldb,
                                  p_.trans_b ? b.j0 : p0, p_.trans_b ? p0 : b.j0, b_rows, b_cols},
                             es_));
        b_key_ = b_key;
      }
      ++tiles;
      Status done = product(dev_, queue, p_, p_.trans_a, p_.trans_b, b.mi, b.nj, kp, a_.get()(), 0, a_cols,
                            share_a ? 0 : a_rows * a_cols, b_.get()(), 0, b_cols, share_b ? 0 : b_rows * b_cols,
                            p0 == 0 ? p_.beta : 1.0, c_.get()(), 0, b.nj, c_stride, b.items);
      if (!done) {
        a_key_.reset();  // the queue's state is unknown: upload again
        b_key_.reset();
        return done;
      }
    }
    for (int64_t it = 0; it < b.items; ++it) {
      PLX_TRY(read_rect(dev_, queue, c_.get(), it * c_stride,
                        Rect{base_c + (b.item0 + it) * p_.stride_c * es_, p_.ldc, b.i0, b.j0, b.mi, b.nj}, es_));
      ++written;
    }
    return Ok{};
  }

  void release() {
    a_.reset();
    b_.reset();
    c_.reset();
    a_key_.reset();
    b_key_.reset();
  }

 private:
  struct Key {
    int64_t item0, items, r0, rows, p0, kp;
    bool operator==(const Key&) const = default;
  };

  double bytes(int64_t items, int64_t rows, int64_t cols) const {
    return static_cast<double>(items) * static_cast<double>(rows) * static_cast<double>(cols) *
           static_cast<double>(es_);
  }

  Status ensure(DeviceBuffer& buffer, int64_t elements, const char* what) {
    if (buffer.bytes() >= elements * es_) return Ok{};
    buffer.reset();
    auto made = DeviceBuffer::create(dev_, CL_MEM_READ_WRITE, elements * es_, what);
    if (!made) return made.error();
    buffer = std::move(made).value();
    return Ok{};
  }

  DeviceContext& dev_;
  const Problem& p_;
  const DeviceSettings& s_;
  const int64_t es_;
  int64_t bt_, mt_, nt_, kt_, budget_;
  DeviceBuffer a_, b_, c_;
  std::optional<Key> a_key_, b_key_;
};

Status on_host_operands(DeviceContext& dev, cl::CommandQueue& queue, const Problem& p, const DeviceSettings& s,
                        const CpuGemm& cpu, const Logger& log, DeviceRun& run) {
  if (p.scale_only()) return cpu(p);  // nothing for the device: C = beta C is memory-bound
  HostTiles tiles(dev, p, s);
  std::deque<Block> todo{Block{0, p.batch, 0, p.m, 0, p.n}};
  // What is left goes to the CPU (unless a device is required): after a
  // failure of the device, or when not even the smallest tile fits it.
  auto rest_on_cpu = [&](const Error& why) -> Status {
    if (s.device_required)
      return make_error(why.code, why.message, " (a device is required, so no CPU fallback)");
    log.log(LogLevel::warn, cat(s.name, ": the OpenCL path failed (", why.message, "); multiplying the rest on the CPU"));
    run.fallback = true;
    tiles.release();
    for (const Block& rest : todo) PLX_TRY(cpu(block_problem(p, rest)));
    return Ok{};
  };
  if (!tiles.fit())
    return rest_on_cpu(make_error(Code::out_of_memory, "not even a 1 x 1 tile of the product fits device '",
                                  dev.name(), "' (", format_bytes(static_cast<double>(s.memory_bytes)),
                                  " for this call)"));
  while (!todo.empty()) {
    Block b = todo.front();
    todo.pop_front();
    if (!tiles.fits(b)) {
      std::vector<Block> parts = tiles.cut(b);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    int64_t written = 0;
    Status done = tiles.run(queue, b, written, run.tiles);
    if (done) {
      dev.record_success();
      continue;
    }
    // The uploads do not block and read the caller's matrices: none may be
    // left in the queue when this call returns (the caller may free them at
    // once) or the tiles are reused. Best effort: a broken queue is reported
    // by the failure already in hand.
    queue.finish();
    // Items already read back are final: the rest of the block is redone.
    b.item0 += written;
    b.items -= written;
    if (b.items > 0) todo.push_front(b);
    if (done.error().code == Code::out_of_memory) {
      if (!tiles.shrink())
        return rest_on_cpu(make_error(Code::out_of_memory, "device '", dev.name(),
                                      "' ran out of memory even for the smallest tile: ", done.error().message));
      ++run.splits;
      log.log(LogLevel::info, cat(s.name, ": device '", dev.name(), "' ran out of memory (", done.error().message,
                                  "); tiles now ", tiles.sizes()));
      continue;
    }
    dev.record_failure();
    // The CPU does the rest: this block's items not read back yet, then every later block.
    return rest_on_cpu(done.error());
  }
  return Ok{};
}

// Device operands: elements from the first to one past the last of a batch.
int64_t span(int64_t extent, int64_t stride, int64_t batch) { return extent == 0 ? 0 : (batch - 1) * stride + extent; }

// The CPU fallback of device operands: download, multiply, upload C.
Status device_operands_on_cpu(DeviceContext& dev, cl::CommandQueue& queue, const Problem& p, const CpuGemm& cpu) {
  const int64_t es = element_bytes(p.precision);
  auto fetch = [&](const DeviceBuffer* buffer, int64_t offset, int64_t elements, std::vector<char>& host) -> Status {
    host.resize(static_cast<size_t>(elements * es));
    if (elements == 0) return Ok{};
    cl_int err = queue.enqueueReadBuffer(buffer->get(), CL_TRUE, static_cast<size_t>(offset * es), host.size(),
                                         host.data());
    if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueReadBuffer (CPU fallback)", dev.name());
    return Ok{};
  };
  std::vector<char> a, b, c;
  const int64_t c_span = span(p.c_stored().extent(), p.stride_c, p.batch);
  if (!p.scale_only()) {
    PLX_TRY(fetch(p.in.a_buffer, p.in.a_offset, span(p.a_stored().extent(), p.stride_a, p.batch), a));
    PLX_TRY(fetch(p.in.b_buffer, p.in.b_offset, span(p.b_stored().extent(), p.stride_b, p.batch), b));
  }
  PLX_TRY(fetch(p.in.c_buffer, p.in.c_offset, c_span, c));  // all of it: the gaps between rows are written back as read
  Problem host = p;
  host.in = Operands{};
  host.in.a = a.data();
  host.in.b = b.data();
  host.in.c = c.data();
  PLX_TRY(cpu(host));
  if (c_span == 0) return Ok{};
  cl_int err = queue.enqueueWriteBuffer(p.in.c_buffer->get(), CL_TRUE, static_cast<size_t>(p.in.c_offset * es),
                                        c.size(), c.data());
  if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueWriteBuffer (CPU fallback)", dev.name());
  return Ok{};
}

Status on_device_operands(DeviceContext& dev, cl::CommandQueue& queue, const Problem& p, const DeviceSettings& s,
                          const CpuGemm& cpu, const Logger& log, DeviceRun& run) {
  run.tiles = 1;
  Status done = p.scale_only() ? scale_on_device(dev, queue, p)
                               : product(dev, queue, p, p.trans_a, p.trans_b, p.m, p.n, p.k, p.in.a_buffer->get()(),
                                         p.in.a_offset, p.lda, p.stride_a, p.in.b_buffer->get()(), p.in.b_offset,
                                         p.ldb, p.stride_b, p.beta, p.in.c_buffer->get()(), p.in.c_offset, p.ldc,
                                         p.stride_c, p.batch);
  if (done) {
    dev.record_success();
    return done;
  }
  dev.record_failure();
  if (s.device_required)
    return make_error(done.error().code, done.error().message, " (a device is required, so no CPU fallback)");
  log.log(LogLevel::warn, cat(s.name, ": the OpenCL path failed (", done.error().message,
                              "); copying the buffers to the host and multiplying on the CPU"));
  run.fallback = true;
  Status fallback = device_operands_on_cpu(dev, queue, p, cpu);
  if (!fallback)
    return make_error(fallback.error().code, done.error().message, "; the CPU fallback failed too: ",
                      fallback.error().message);
  return fallback;
}

}  // namespace

Status gemm_on_device(DeviceContext& dev, const Problem& p, const DeviceSettings& s, const CpuGemm& cpu,
                      const Logger& log, DeviceRun& run) {
  if (p.empty()) return Ok{};
  // A queue of the call's own: its blocking reads wait for this call's work only.
  cl_int err = CL_SUCCESS;
  cl::CommandQueue queue(dev.context(), dev.device(), 0, &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clCreateCommandQueue", dev.name());
  if (p.in.on_device()) return on_device_operands(dev, queue, p, s, cpu, log, run);
  return on_host_operands(dev, queue, p, s, cpu, log, run);
}

}  // namespace plx::gemm
