// `parallax bench --suite gemm`: single-precision products of n x n
// matrices, n = 1024 and 4096 (and 8192 when a GPU is usable):
// - cpu_gflops: plx_gemm's CPU path (host matrices, device CPU), against
//   openblas_gflops: cblas_sgemm called directly in the same run with the
//   same thread count, alternating with it (best of the repetitions);
// - per usable device: device_gflops (matrices resident in device buffers)
//   and host_gflops (host matrices, transfers included);
// - per device: first_call_s, a first n = 1024 product in a new process with
//   the OpenCL driver's kernel cache off (CLBlast compiles), and
//   cached_first_call_s, the same with the cache warm (this run filled it):
//   each measured by running this program again (a hidden child mode).
// --quick: n = 256, first calls at n = 64: checks the suite runs.
// CPU OpenCL devices (PoCL) are measured at n = 1024 only: they run on the
// CPU path's cores, a 4096 product takes them half a minute.
#ifdef PLX_BENCH_OPENBLAS
#include <cblas.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.hpp"

namespace plx::cli {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
double gflops(int64_t n, double seconds) { return 2.0 * n * n * static_cast<double>(n) / seconds / 1e9; }

struct Matrices {
  int64_t n;
  std::vector<float> a, b, c;
  explicit Matrices(int64_t size) : n(size) {
    const auto count = static_cast<size_t>(n * n);
    a.resize(count), b.resize(count), c.assign(count, 0.0f);
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> u(-1, 1);
    for (size_t i = 0; i < count; ++i) a[i] = u(rng), b[i] = u(rng);
  }
};

plx_gemm_desc_t square(int64_t n, int32_t device) {
  plx_gemm_desc_t d;
  check(plx_gemm_desc_init(&d, sizeof d));
  d.m = d.n = d.k = d.lda = d.ldb = d.ldc = n;
  d.device = device;
  return d;
}

// One plx_gemm on host matrices; the result says where and with how many threads.
plx_gemm_result_t host_gemm(plx_runtime_t* rt, Matrices& x, int32_t device) {
  plx_gemm_desc_t d = square(x.n, device);
  d.a = x.a.data(), d.b = x.b.data(), d.c = x.c.data();
  plx_gemm_result_t r;
  r.struct_size = sizeof r;
  check(plx_gemm(rt, &d, &r));
  return r;
}

#ifdef PLX_BENCH_OPENBLAS
double openblas_s(Matrices& x, int threads) {
  openblas_set_num_threads(threads);
  const auto n = static_cast<blasint>(x.n);
  const auto t0 = Clock::now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, x.a.data(), n, x.b.data(), n, 0.0f,
              x.c.data(), n);
  return seconds_since(t0);
}
#endif

// Device buffers of an n x n product on one device.
struct DeviceMatrices {
  plx_buffer_t *a = nullptr, *b = nullptr, *c = nullptr;
  DeviceMatrices(plx_runtime_t* rt, int32_t device, const Matrices& x) {
    const int64_t bytes = x.n * x.n * 4;
    check(plx_buffer_create(rt, device, bytes, &a));
    check(plx_buffer_create(rt, device, bytes, &b));
    check(plx_buffer_create(rt, device, bytes, &c));
    check(plx_buffer_write(a, 0, x.a.data(), bytes));
    check(plx_buffer_write(b, 0, x.b.data(), bytes));
  }
  ~DeviceMatrices() {
    plx_buffer_destroy(a);
    plx_buffer_destroy(b);
    plx_buffer_destroy(c);
  }
  double run(plx_runtime_t* rt, int64_t n) const {
    plx_gemm_desc_t d = square(n, PLX_PREFER_GPU);
    d.a_buffer = a, d.b_buffer = b, d.c_buffer = c;
    const auto t0 = Clock::now();
    check(plx_gemm(rt, &d, nullptr));
    return seconds_since(t0);
  }
};

std::string read_all(FILE* pipe) {
  std::string text;
  char buffer[4096];
  for (size_t got; (got = fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  return text;
}

// This program again in child mode: the first product on `device` in a new
// process; `cold` turns the OpenCL drivers' kernel caches off (PoCL's, and
// NVIDIA's compute cache). Null when the child fails.
nlohmann::json first_call_child(int32_t device, int64_t n, bool cold) {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) return nullptr;
  const std::string env = cold ? "POCL_KERNEL_CACHE=0 CUDA_CACHE_DISABLE=1 " : "";
  const std::string command = env + "'" + self.string() + "' bench --suite gemm --device-types any --json" +
                              " --gemm-first-call " + std::to_string(device) + " --gemm-first-call-n " +
                              std::to_string(n) + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return nullptr;
  const std::string text = read_all(pipe);
  if (pclose(pipe) != 0) return nullptr;
  auto r = nlohmann::json::parse(text, nullptr, false);
  return r.is_discarded() ? nullptr : r;
}

}  // namespace

nlohmann::json bench_gemm_first_call(plx_runtime_t* rt, int32_t device, int64_t n) {
  const Matrices x(n);
  DeviceMatrices on(rt, device, x);
  const double first = on.run(rt, n);
  const double second = on.run(rt, n);
  return {{"device", device}, {"n", n}, {"first_call_s", first}, {"second_call_s", second}};
}

nlohmann::json bench_gemm(plx_runtime_t* rt, const BenchOptions& opt) {
  const auto devices = usable_devices(rt);
  const bool gpu = std::any_of(devices.begin(), devices.end(),
                               [](const auto& d) { return d.second.type != PLX_DEVICE_TYPE_CPU; });
  std::vector<int64_t> sizes = opt.quick ? std::vector<int64_t>{256} : std::vector<int64_t>{1024, 4096};
  if (gpu && !opt.quick) sizes.push_back(8192);
  nlohmann::json rows = nlohmann::json::array();
  int workers = 0;
  for (int64_t n : sizes) {
    Matrices x(n);
    // Repetitions: a 4096 product takes 1 to 2 s on 2 cores.
    const int reps = std::max(1, std::min(opt.reps, n >= 8192 ? 1 : n >= 4096 ? 2 : 3));
    double cpu_s = 1e300, blas_s = 1e300;
    if (n < 8192 || !gpu) {
      workers = host_gemm(rt, x, PLX_PREFER_CPU).workers;  // warm-up: pages, OpenBLAS's threads
      // Alternating, and each going first every other repetition: the one
      // that follows finds OpenBLAS's threads awake.
      for (int rep = 0; rep < reps; ++rep)
        for (int turn = 0; turn < 2; ++turn) {
          if ((rep + turn) % 2 == 0) {
            plx_gemm_result_t r = host_gemm(rt, x, PLX_PREFER_CPU);
            cpu_s = std::min(cpu_s, r.seconds);
            workers = r.workers;
          } else {
#ifdef PLX_BENCH_OPENBLAS
            blas_s = std::min(blas_s, openblas_s(x, std::max(workers, 1)));
#endif
          }
        }
    }
    nlohmann::json row = {{"n", n}, {"repetitions", reps}};
    row["cpu_gflops"] = cpu_s < 1e300 ? nlohmann::json(gflops(n, cpu_s)) : nlohmann::json(nullptr);
    row["openblas_gflops"] = blas_s < 1e300 ? nlohmann::json(gflops(n, blas_s)) : nlohmann::json(nullptr);
    row["cpu_vs_openblas"] =
        blas_s < 1e300 && cpu_s < 1e300 ? nlohmann::json(blas_s / cpu_s) : nlohmann::json(nullptr);
    nlohmann::json per_device = nlohmann::json::array();
    for (const auto& [index, info] : devices) {
      if (info.type == PLX_DEVICE_TYPE_CPU && n > 1024) continue;
      DeviceMatrices on(rt, index, x);
      on.run(rt, n);  // compiles (or loads) CLBlast's kernels
      double best = 1e300;
      for (int rep = 0; rep < reps; ++rep) best = std::min(best, on.run(rt, n));
      per_device.push_back({{"index", index}, {"name", info.name}, {"device_gflops", gflops(n, best)}});
    }
    row["devices"] = per_device;
    rows.push_back(row);
  }
  // First calls in new processes, cold and then with the drivers' caches
  // warm (--quick: n = 64, CLBlast's direct kernel, to check the children run).
  nlohmann::json first = nlohmann::json::array();
  const int64_t first_n = opt.quick ? 64 : 1024;
  for (const auto& [index, info] : devices) {
    const nlohmann::json cold = first_call_child(index, first_n, true);
    const nlohmann::json warm = first_call_child(index, first_n, false);
    first.push_back({{"index", index},
                       {"name", info.name},
                       {"n", first_n},
                       {"first_call_s", cold.is_null() ? nlohmann::json(nullptr) : cold["first_call_s"]},
                       {"cached_first_call_s", warm.is_null() ? nlohmann::json(nullptr) : warm["first_call_s"]},
                       {"steady_call_s", warm.is_null() ? nlohmann::json(nullptr) : warm["second_call_s"]}});
  }
  return {{"suite", "gemm"},    {"precision", "F32"}, {"quick", opt.quick},
          {"workers", workers}, {"sizes", rows},      {"first_calls", first},
#ifdef PLX_BENCH_OPENBLAS
          {"openblas_peer", true}
#else
          {"openblas_peer", false}
#endif
  };
}

}  // namespace plx::cli
