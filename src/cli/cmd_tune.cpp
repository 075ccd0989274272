// `parallax tune`: CLBlast's GEMM tuners on this machine's devices
// (plx_gemm_tune), the best parameters stored in the cache directory and
// applied by every later plx_gemm on the same device, driver and CLBlast.
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.hpp"
#include "commands.hpp"

namespace plx::cli {
namespace {

struct TuneFlags {
  RuntimeFlags runtime;
  std::vector<int> devices;  // empty: every usable device
  std::string precision = "f32";
  int64_t size = 1024;
  double fraction = 1.0 / 64;
  std::vector<std::string> kernels = {"xgemm", "direct"};
};

}  // namespace

Command add_tune_command(CLI::App& app) {
  auto f = std::make_shared<TuneFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Tune CLBlast's GEMM kernels for the devices and store the parameters in the cache directory");
  cmd->add_option("--device-index", f->devices, "Device index (see parallax info); default: every usable device");
  cmd->add_option("--precision", f->precision, "f32, f64 or both")->check(CLI::IsMember({"f32", "f64", "both"}));
  cmd->add_option("--size", f->size, "m = n = k of the problem tuned on")->check(CLI::Range(64, 8192));
  cmd->add_option("--fraction", f->fraction,
                  "Share of each search space tried (each configuration is a compile: ~1 s on a GPU, seconds on PoCL)")
      ->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--kernels", f->kernels, "Kernels to tune: xgemm, direct, helpers")
      ->check(CLI::IsMember({"xgemm", "direct", "helpers"}))
      ->delimiter(',');
  add_runtime_flags(*cmd, f->runtime);
  return [cmd, f]() -> int {
    if (!cmd->parsed()) return -1;
    Runtime runtime(f->runtime);
    std::vector<int> devices = f->devices;
    if (devices.empty())
      for (const auto& [index, info] : usable_devices(runtime.get())) devices.push_back(index);
    if (devices.empty())
      throw std::runtime_error(
          "tune: no usable OpenCL device (--device-types any includes CPU devices such as PoCL, where tuning takes "
          "many minutes)");
    int kernels = 0;
    for (const std::string& k : f->kernels)
      kernels |= k == "xgemm" ? PLX_TUNE_XGEMM : k == "direct" ? PLX_TUNE_XGEMM_DIRECT : PLX_TUNE_HELPERS;
    std::vector<int32_t> precisions;
    if (f->precision != "f64") precisions.push_back(PLX_PRECISION_F32);
    if (f->precision != "f32") precisions.push_back(PLX_PRECISION_F64);
    nlohmann::json out = nlohmann::json::array();
    for (int device : devices) {
      plx_device_info_t info;
      info.struct_size = sizeof info;
      check(plx_device_info_get(runtime.get(), device, &info));
      for (int32_t precision : precisions) {
        const char* name = precision == PLX_PRECISION_F32 ? "F32" : "F64";
        if (!f->runtime.json)
          std::fprintf(stderr, "tuning %s GEMM on [%d] %s (n = %lld, fraction %g)...\n", name, device, info.name,
                       static_cast<long long>(f->size), f->fraction);
        plx_gemm_tune_options_t o;
        check(plx_gemm_tune_options_init(&o, sizeof o));
        o.precision = precision;
        o.kernels = kernels;
        o.size = f->size;
        o.fraction = f->fraction;
        plx_gemm_tune_result_t r;
        r.struct_size = sizeof r;
        check(plx_gemm_tune(runtime.get(), device, &o, &r));
        out.push_back({{"device", device},
                       {"name", info.name},
                       {"precision", name},
                       {"kernels_tuned", r.kernels_tuned},
                       {"default_gflops", r.default_gflops},
                       {"tuned_gflops", r.tuned_gflops},
                       {"cpu_gflops", r.cpu_gflops},
                       {"upload_gbps", r.upload_gbps},
                       {"seconds", r.seconds},
                       {"path", r.path}});
        if (!f->runtime.json)
          std::printf("[%d] %s %s: %d kernels tuned, %.1f GFLOP/s with CLBlast's parameters, %.1f with the stored "
                      "ones; CPU path %.1f GFLOP/s, upload %.2f GB/s (%.0f s) -> %s\n",
                      device, info.name, name, r.kernels_tuned, r.default_gflops, r.tuned_gflops, r.cpu_gflops,
                      r.upload_gbps, r.seconds, r.path);
      }
    }
    if (f->runtime.json) std::cout << json_text(nlohmann::json{{"tuned", out}}) << "\n";
    return 0;
  };
}

}  // namespace plx::cli
