#include "kernels/gemm/gemm_tune.hpp"

#include "kernels/gemm/clblast_include.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <unordered_map>
#include <vector>

#include "device/cl_status.hpp"
#include "device/device_context.hpp"
#include "kernels/gemm/clblast_status.hpp"

namespace plx::gemm {
namespace {

using Clock = std::chrono::steady_clock;
using Params = std::unordered_map<std::string, size_t>;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CLBlast's kernel names (as OverrideParameters and its database know them)
// with the tuner of each.
struct Tuner {
  int bit;
  const char* kernel;
  clblast::StatusCode (*run)(cl_command_queue*, size_t, double, Params&, bool f64);
};

template <class T>
clblast::StatusCode xgemm(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TuneXgemm<T>(q, n, n, n, f, p); }
template <class T>
clblast::StatusCode direct(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TuneXgemmDirect<T>(q, n, n, n, f, p); }
template <class T>
clblast::StatusCode copy(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TuneCopy<T>(q, n, n, f, p); }
template <class T>
clblast::StatusCode pad(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TunePad<T>(q, n, n, f, p); }
template <class T>
clblast::StatusCode transpose(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TuneTranspose<T>(q, n, n, f, p); }
template <class T>
clblast::StatusCode padtranspose(cl_command_queue* q, size_t n, double f, Params& p) { return clblast::TunePadtranspose<T>(q, n, n, f, p); }

#define PLX_TUNER(fn) [](cl_command_queue* q, size_t n, double f, Params& p, bool f64) { \
    return f64 ? fn<double>(q, n, f, p) : fn<float>(q, n, f, p); }
const Tuner kTuners[] = {
    {tune_xgemm, "Xgemm", PLX_TUNER(xgemm)},
    {tune_xgemm_direct, "XgemmDirect", PLX_TUNER(direct)},
    {tune_helpers, "Copy", PLX_TUNER(copy)},
    {tune_helpers, "Pad", PLX_TUNER(pad)},
    {tune_helpers, "Transpose", PLX_TUNER(transpose)},
    {tune_helpers, "Padtranspose", PLX_TUNER(padtranspose)},
};
#undef PLX_TUNER

// Best seconds of a size^3 product on device buffers (the first call, which
// compiles, is not timed).
Result<double> time_device(DeviceContext& dev, cl::CommandQueue& queue, Precision precision, int64_t n,
                           const cl::Buffer& a, const cl::Buffer& b, const cl::Buffer& c) {
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    cl_command_queue q = queue();
    const auto t0 = Clock::now();
    const auto z = static_cast<size_t>(n);
    const auto s = precision == Precision::f32
                       ? clblast::Gemm<float>(clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                                              clblast::Transpose::kNo, z, z, z, 1.0f, a(), 0, z, b(), 0, z, 0.0f, c(),
                                              0, z, &q, nullptr)
                       : clblast::Gemm<double>(clblast::Layout::kRowMajor, clblast::Transpose::kNo,
                                               clblast::Transpose::kNo, z, z, z, 1.0, a(), 0, z, b(), 0, z, 0.0, c(),
                                               0, z, &q, nullptr);
    if (s != clblast::StatusCode::kSuccess) return clblast_error(static_cast<int>(s), "clblast::Gemm", dev.name());
    if (cl_int err = queue.finish(); err != CL_SUCCESS) return opencl_error(err, "clblast::Gemm (clFinish)", dev.name());
    if (rep > 0) best = std::min(best, since(t0));
  }
  return best;
}

}  // namespace

Result<TuneOutcome> tune_device(DeviceContext& dev, const TuneRequest& r, const CpuTimer& cpu, int cpu_workers,
                                const Logger& log) {
  const auto start = Clock::now();
  const bool f64 = r.precision == Precision::f64;
  const clblast::Precision cp = f64 ? clblast::Precision::kDouble : clblast::Precision::kSingle;
  const int64_t n = r.size, es = element_bytes(r.precision), bytes = n * n * es;
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  cl_int err = CL_SUCCESS;
  cl::CommandQueue queue(dev.context(), dev.device(), 0, &err);
  if (err != CL_SUCCESS) return opencl_error(err, "clCreateCommandQueue", dev.name());
  std::vector<DeviceBuffer> buffers;
  for (const char* what : {"GEMM tuning A", "GEMM tuning B", "GEMM tuning C"}) {
    auto buffer = DeviceBuffer::create(dev, CL_MEM_READ_WRITE, bytes, what);
    if (!buffer) return buffer.error();
    buffers.push_back(std::move(buffer).value());
  }
  // Values in [-1, 1]: the products stay finite, whatever the kernel does.
  std::vector<char> host(static_cast<size_t>(bytes));
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t i = 0; i < n * n; ++i) {
    if (f64) reinterpret_cast<double*>(host.data())[i] = u(rng);
    else reinterpret_cast<float*>(host.data())[i] = static_cast<float>(u(rng));
  }
  TuneOutcome out;
  Tuning& t = out.tuning;
  t.size = n;
  t.fraction = r.fraction;
  t.cpu_workers = cpu_workers;
  double upload_s = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    err = queue.enqueueWriteBuffer(buffers[rep].get(), CL_TRUE, 0, host.size(), host.data());
    if (err != CL_SUCCESS) return opencl_error(err, "clEnqueueWriteBuffer", dev.name());
    upload_s = std::min(upload_s, since(t0));
  }
  t.upload_gbps = static_cast<double>(bytes) / upload_s / 1e9;

  // CLBlast's parameters now (its database's, or an earlier tuning's), to
  // go back to if the tuned ones are not faster.
  std::vector<std::pair<const Tuner*, Params>> before;
  for (const Tuner& tuner : kTuners) {
    if (!(r.kernels & tuner.bit)) continue;
    Params current;
    const auto s = clblast::RetrieveParameters(dev.device()(), tuner.kernel, cp, current);
    if (s != clblast::StatusCode::kSuccess)
      return clblast_error(static_cast<int>(s), cat("clblast::RetrieveParameters(", tuner.kernel, ")"), dev.name());
    before.emplace_back(&tuner, std::move(current));
  }
  double default_s = 0;
  PLX_TRY_ASSIGN(default_s,
                 time_device(dev, queue, r.precision, n, buffers[0].get(), buffers[1].get(), buffers[2].get()));
  t.default_gflops = flops / default_s / 1e9;
  log.log(LogLevel::info, cat("plx_gemm_tune: device '", dev.name(), "' ", precision_name(r.precision), " n = ", n,
                              ": ", t.default_gflops, " GFLOP/s with CLBlast's parameters"));

  std::map<std::string, KernelParameters> tuned;
  for (const auto& [tuner, current] : before) {
    Params best;
    const auto t0 = Clock::now();
    cl_command_queue q = queue();
    const auto s = tuner->run(&q, static_cast<size_t>(n), r.fraction, best, f64);
    if (s != clblast::StatusCode::kSuccess) {
      Error e = clblast_error(static_cast<int>(s), cat("the CLBlast tuner of ", tuner->kernel), dev.name());
      // CLBlast's tuners throw (reported as unexpected) when the fraction leaves no configuration to try.
      if (s == clblast::StatusCode::kUnexpectedError)
        e.message += cat(" (a fraction of ", r.fraction, " may leave no configuration of ", tuner->kernel,
                         " to try: use a larger one)");
      return e;
    }
    log.log(LogLevel::info, cat("plx_gemm_tune: tuned CLBlast kernel ", tuner->kernel, " in ", since(t0), " s"));
    const auto o = clblast::OverrideParameters(dev.device()(), tuner->kernel, cp, best);
    if (o != clblast::StatusCode::kSuccess)
      return clblast_error(static_cast<int>(o), cat("clblast::OverrideParameters(", tuner->kernel, ")"), dev.name());
    tuned[tuner->kernel] = KernelParameters(best.begin(), best.end());
  }
  double tuned_s = 0;
  PLX_TRY_ASSIGN(tuned_s,
                 time_device(dev, queue, r.precision, n, buffers[0].get(), buffers[1].get(), buffers[2].get()));
  const double tuned_gflops = flops / tuned_s / 1e9;
  // Within 2 % is noise: keep the tuned ones then (they were searched for this device).
  if (tuned_gflops >= 0.98 * t.default_gflops) {
    t.kernels = std::move(tuned);
    t.device_gflops = tuned_gflops;
    out.kernels_tuned = static_cast<int>(t.kernels.size());
  } else {
    log.log(LogLevel::warn, cat("plx_gemm_tune: the tuned parameters give ", tuned_gflops, " GFLOP/s, less than "
                                "CLBlast's own (", t.default_gflops, "): keeping CLBlast's (try a larger fraction)"));
    for (const auto& [tuner, current] : before) clblast::OverrideParameters(dev.device()(), tuner->kernel, cp, current);
    t.device_gflops = t.default_gflops;
  }
  double cpu_s = 0;
  PLX_TRY_ASSIGN(cpu_s, cpu(n));
  t.cpu_gflops = flops / cpu_s / 1e9;
  out.seconds = since(start);
  return out;
}

}  // namespace plx::gemm
