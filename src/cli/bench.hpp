// `parallax bench`: benchmark suites, each against a peer measured in the
// same run. Each suite returns its figures as JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"

namespace plx::cli {

struct BenchOptions {
  int reps = 5;             // best of at least this many (best_time)
  bool quick = false;       // small sizes: checks the suite works (CI), not its speed
  bool sigma_only = false;  // stack suite: the sigma clip alone (a child run with a forced SIMD target)
  std::vector<int64_t> stack_shape;  // stack suite: frames, height, width (empty: 32, 1024, 1024)
  int gemm_first_call = -1;      // gemm suite: only the first product on this device (a child run)
  int64_t gemm_first_call_n = 1024;
};

// The runtime's usable OpenCL devices: (index, info).
std::vector<std::pair<int32_t, plx_device_info_t>> usable_devices(plx_runtime_t* runtime);

// A new directory under /tmp, removed with what it holds when it goes.
class TempDir {
 public:
  explicit TempDir(const std::string& what);  // `what` names the caller in the error
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A file the Python peer finds in its directory (its first argument).
struct PeerFile {
  std::string name;
  const void* data;
  size_t bytes;
};

// Runs `script` with Debian's /usr/bin/python3: arguments its directory (with
// `files`) then `args`; returns what it prints, parsed as JSON, or null when
// python3 or one of `modules` ("numpy, astropy") is missing. Throws when the
// script fails.
nlohmann::json run_python_peer(const std::string& suite, const std::string& modules, const std::string& script,
                               const std::vector<PeerFile>& files, const std::vector<std::string>& args);
std::string read_all(FILE* pipe);

// The best time of `run()`: at least `reps` runs and, unless quick, as many
// more as fit in a second (at most 100). On a shared two-core machine a 20 ms
// run varies by a third from one run to the next (best of 5: 18-27 ms; best of
// 25: 18.1-18.4 ms); the best of many is its time without interference. The
// caller makes a warm-up run first.
template <class F>
double best_time(const BenchOptions& opt, F&& run) {
  using Clock = std::chrono::steady_clock;
  const double box_s = opt.quick ? 0.0 : 1.0;
  const auto begin = Clock::now();
  double best = 1e300;
  for (int i = 0; i < 100; ++i) {
    if (i >= opt.reps && std::chrono::duration<double>(Clock::now() - begin).count() >= box_s) break;
    const auto start = Clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

// The largest |b - a| / |a| over the finite values of a (an OpenCL result b
// against the CPU's a).
double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b);

nlohmann::json bench_exec(plx_runtime_t* runtime, const BenchOptions& options);
nlohmann::json bench_device(plx_runtime_t* runtime, const BenchOptions& options);
nlohmann::json bench_stack(plx_runtime_t* runtime, const BenchOptions& options);
nlohmann::json bench_coadd(plx_runtime_t* runtime, const BenchOptions& options);
nlohmann::json bench_gemm(plx_runtime_t* runtime, const BenchOptions& options);
nlohmann::json bench_gemm_first_call(plx_runtime_t* runtime, int32_t device, int64_t n);

}  // namespace plx::cli
