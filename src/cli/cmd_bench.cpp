// `parallax bench --suite NAME [--json]`.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "bench.hpp"
#include "commands.hpp"

namespace plx::cli {
namespace {

struct BenchFlags {
  RuntimeFlags runtime;
  std::string suite = "exec";
  BenchOptions options;
};

void print_exec(const nlohmann::json& r) {
  const auto& large = r["parallel_for"]["large"];
  const auto& small = r["parallel_for"]["small"];
  const auto& tasks = r["tasks"];
  std::printf("Executor benchmark, %d workers, best of %d (peer: hand-written oneTBB, same run)\n\n",
              r["workers"].get<int>(), r["repetitions"].get<int>());
  std::printf("  y = a*x + y, %lld floats    plx %8.4f s   tbb::parallel_for %8.4f s   ratio %.3f\n",
              large["elements"].get<long long>(), large["plx_s"].get<double>(), large["tbb_s"].get<double>(),
              large["ratio"].get<double>());
  std::printf("  %d loops of %lld floats    plx %8.4f s   tbb::parallel_for %8.4f s   ratio %.3f\n",
              small["loops"].get<int>(), small["elements"].get<long long>(), small["plx_s"].get<double>(),
              small["tbb_s"].get<double>(), small["ratio"].get<double>());
  std::printf("  %lld tiny tasks            plx %8.4f s   tbb::task_group   %8.4f s   ratio %.3f\n",
              tasks["count"].get<long long>(), tasks["plx_s"].get<double>(), tasks["tbb_task_group_s"].get<double>(),
              r["tasks_overhead_ratio"].get<double>());
  std::printf("\n  parallel_for_overhead_ratio %.3f (the worse loop; target <= 1.10)\n",
              r["parallel_for_overhead_ratio"].get<double>());
  std::printf("  tasks_overhead_ratio        %.3f (target <= 1.20)\n", r["tasks_overhead_ratio"].get<double>());
  std::printf("  parallel_for_speedup        %.2f (1 worker %.4f s vs %d workers)\n",
              r["parallel_for_speedup"].get<double>(), large["plx_1_worker_s"].get<double>(), r["workers"].get<int>());
}

void print_device(const nlohmann::json& r) {
  std::printf("Device benchmark (figures cached for the planner)\n");
  for (const auto& d : r["devices"]) {
    std::printf("\n  [%d] %s (%s)\n", d["index"].get<int>(), d["name"].get<std::string>().c_str(),
                d["platform"].get<std::string>().c_str());
    std::printf("    host to device, pinned    %8.2f GB/s\n", d["h2d_pinned_gbps"].get<double>());
    std::printf("    host to device, pageable  %8.2f GB/s\n", d["h2d_pageable_gbps"].get<double>());
    std::printf("    device to host, pinned    %8.2f GB/s\n", d["d2h_pinned_gbps"].get<double>());
    std::printf("    copy kernel on device     %8.2f GB/s (read + write)\n", d["device_copy_gbps"].get<double>());
    std::printf("    empty kernel launch       %8.2f us queued, %.2f us round trip\n", d["launch_us"].get<double>(),
                d["launch_roundtrip_us"].get<double>());
    std::printf("    streamed y = a*x + b      %8.2f GB/s over %.0f MiB of host memory (%.2f x pinned upload)\n",
                d["stream_gbps"].get<double>(), d["stream_bytes"].get<double>() / 1048576.0,
                d["stream_vs_h2d_pinned"].get<double>());
  }
}

void print_stack(const nlohmann::json& r) {
  auto num = [&](const char* key) { return r.contains(key) ? r[key].get<double>() : std::nan(""); };
  std::printf("Stacking benchmark: %lld frames of %lld x %lld float32, 1%% outliers, %d workers, %s, best of %d\n\n",
              r["frames"].get<long long>(), r["height"].get<long long>(), r["width"].get<long long>(),
              r["workers"].get<int>(), r["simd_target"].get<std::string>().c_str(), r["repetitions"].get<int>());
  std::printf("  mean          %8.4f s  %6.2f GB/s   (hand-written oneTBB mean %8.4f s, ratio %.2f)\n", num("mean_s"),
              num("mean_gbps"), num("tbb_mean_s"), num("mean_vs_tbb_ratio"));
  std::printf("  bare read     %12s%6.2f GB/s   (oneTBB, the memory's floor: the mean takes %.2f x it)\n", "",
              num("read_gbps"), num("mean_vs_read_ratio"));
  std::printf("  sigma clip    %8.4f s  %.2f x the mean   (astropy %8.4f s, speedup %.1f)\n", num("sigma_clip_s"),
              num("sigma_vs_mean_ratio"), num("astropy_sigma_clip_s"), num("speedup_vs_astropy"));
  if (r.contains("avx2_sigma_clip_s"))
    std::printf("  sigma, AVX2   %8.4f s   (speedup vs astropy %.1f)\n", num("avx2_sigma_clip_s"),
                num("avx2_speedup_vs_astropy"));
  std::printf("  median        %8.4f s   (numpy.median %8.4f s, speedup %.1f)\n", num("median_s"),
              num("numpy_median_s"), num("speedup_vs_numpy_median"));
  if (r.contains("gpu_sigma_clip_s"))
    std::printf("  sigma on GPU  %8.4f s  %6.2f GB/s from host frames\n", num("gpu_sigma_clip_s"),
                num("gpu_sigma_clip_host_gbps"));
  if (!r.contains("astropy_sigma_clip_s")) std::printf("\n  (no /usr/bin/python3 with numpy and astropy: no peers)\n");
}

void print_coadd(const nlohmann::json& r) {
  auto num = [&](const char* key) { return r.contains(key) ? r[key].get<double>() : std::nan(""); };
  std::printf("Co-addition benchmark: %lld TAN images of %lld x %lld onto %lld x %lld, bilinear mean, %d workers, "
              "best of %d\n\n",
              r["inputs"].get<long long>(), r["input_height"].get<long long>(), r["input_width"].get<long long>(),
              r["height"].get<long long>(), r["width"].get<long long>(), r["workers"].get<int>(),
              r["repetitions"].get<int>());
  std::printf("  plx_coadd     %8.4f s  %7.1f Mpixel/s   (reproject_and_coadd %8.3f s, speedup %.1f)\n",
              num("coadd_s"), num("output_mpixels_per_s"), num("reproject_s"), num("speedup_vs_reproject"));
  if (r.contains("gpu_coadd_s"))
    std::printf("  on device     %8.4f s  %7.1f Mpixel/s from host images\n", num("gpu_coadd_s"),
                num("gpu_output_mpixels_per_s"));
  if (!r.contains("reproject_s"))
    std::printf("\n  (no /usr/bin/python3 with numpy, astropy and reproject: no peer)\n");
}

void print_gemm(const nlohmann::json& r) {
  auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : std::nan(""); };
  std::printf("GEMM benchmark: single precision, n x n x n, %d CPU workers (peer: cblas_sgemm, same run)\n\n",
              r["workers"].get<int>());
  for (const auto& row : r["sizes"]) {
    std::printf("  n = %-5lld  plx CPU %8.1f GFLOP/s   OpenBLAS %8.1f GFLOP/s   ratio %.3f   (best of %d)\n",
                row["n"].get<long long>(), num(row["cpu_gflops"]), num(row["openblas_gflops"]),
                num(row["cpu_vs_openblas"]), row["repetitions"].get<int>());
    for (const auto& d : row["devices"])
      std::printf("             [%d] %-40s %8.1f GFLOP/s (matrices on the device)\n", d["index"].get<int>(),
                  d["name"].get<std::string>().c_str(), num(d["device_gflops"]));
  }
  for (const auto& f : r["first_calls"])
    std::printf("\n  [%d] %s, n = %lld: first call %.3f s (kernels compiled), %.3f s in a new process with the "
                "driver's cache warm, %.3f s after\n",
                f["index"].get<int>(), f["name"].get<std::string>().c_str(), f["n"].get<long long>(),
                num(f["first_call_s"]), num(f["cached_first_call_s"]), num(f["steady_call_s"]));
  if (!r["openblas_peer"].get<bool>()) std::printf("\n  (built without OpenBLAS: no peer)\n");
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Benchmarks against a peer measured in the same run");
  cmd->add_option("--suite", f->suite, "Which suite: exec, device, stack, coadd or gemm")
      ->check(CLI::IsMember({"exec", "device", "stack", "coadd", "gemm"}));
  cmd->add_option("--reps", f->options.reps,
                  "Runs per timing, best of (stack, coadd: at least; short runs repeat for a second)")
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--quick", f->options.quick,
                "Small sizes: check the suite runs, not its speed (device: the figures are not cached)");
  cmd->add_flag("--sigma-only", f->options.sigma_only, "Stack suite: time the sigma clip only")->group("");
  cmd->add_option("--shape", f->options.stack_shape,
                  "Stack suite: FRAMES,HEIGHT,WIDTH instead of 32,1024,1024 (e.g. 1000,128,64: many frames)")
      ->delimiter(',')
      ->expected(3)
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--gemm-first-call", f->options.gemm_first_call, "GEMM suite: first product on a device only")
      ->group("");
  cmd->add_option("--gemm-first-call-n", f->options.gemm_first_call_n, "GEMM suite: its size")->group("");
  add_runtime_flags(*cmd, f->runtime);
  return [cmd, f]() -> int {
    if (!cmd->parsed()) return -1;
    // Device benchmarks measure every OpenCL device unless told otherwise.
    if (f->suite == "device" && f->runtime.device_types.empty()) f->runtime.device_types = "any";
    // plx_device_measure caches what it measures for the planner: figures of
    // small sizes would understate a device, so --quick measures into a cache
    // of its own, removed after.
    std::optional<TempDir> quick_cache;
    if (f->suite == "device" && f->options.quick) {
      quick_cache.emplace("bench --suite device --quick");
      f->runtime.cache_dir = quick_cache->path().string();
    }
    Runtime runtime(f->runtime);
    const std::string& suite = f->suite;
    if (suite == "gemm" && f->options.gemm_first_call >= 0) {  // a child of the gemm suite
      std::cout << bench_gemm_first_call(runtime.get(), f->options.gemm_first_call, f->options.gemm_first_call_n)
                << "\n";
      return 0;
    }
    nlohmann::json result = suite == "device"  ? bench_device(runtime.get(), f->options)
                            : suite == "stack" ? bench_stack(runtime.get(), f->options)
                            : suite == "coadd" ? bench_coadd(runtime.get(), f->options)
                            : suite == "gemm"  ? bench_gemm(runtime.get(), f->options)
                                               : bench_exec(runtime.get(), f->options);
    if (f->runtime.json)
      std::cout << json_text(result) << "\n";
    else if (suite == "device")
      print_device(result);
    else if (suite == "stack")
      print_stack(result);
    else if (suite == "coadd")
      print_coadd(result);
    else if (suite == "gemm")
      print_gemm(result);
    else
      print_exec(result);
    return 0;
  };
}

}  // namespace plx::cli
