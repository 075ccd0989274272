// Tuned CLBlast parameters and the measured rates of the AUTO crossover,
// per device and precision, in cache_dir/gemm_tuning.json:
//   {"format": 1, "devices": {"<platform|device|driver>": {"F32": {
//      "clblast": "1.5.3", "size": 1024, "fraction": 0.0156, "tuned_at": <unix s>,
//      "kernels": {"Xgemm": {"MWG": 64, ...}, "XgemmDirect": {...}},
//      "device_gflops": .., "default_gflops": .., "cpu_gflops": .., "cpu_workers": 2,
//      "upload_gbps": ..}}}}
// Written by plx_gemm_tune (temporary file, renamed); read by every plx_gemm
// that uses a device, re-read when the file changes. A missing, unreadable
// or malformed file, or an entry for another CLBlast version, is no tuning
// (a malformed one is logged), never an error.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/logger.hpp"
#include "kernels/gemm/gemm_spec.hpp"

namespace plx {
class DeviceContext;
}

namespace plx::gemm {

using KernelParameters = std::map<std::string, size_t>;

struct Tuning {
  int64_t size = 0;
  double fraction = 0;
  std::map<std::string, KernelParameters> kernels;  // CLBlast kernel name -> its parameters
  double device_gflops = 0;   // size^3 product on the device, tuned parameters (or CLBlast's when not better)
  double default_gflops = 0;  // the same with CLBlast's own parameters
  double cpu_gflops = 0;      // the CPU path, with cpu_workers threads
  int cpu_workers = 0;
  double upload_gbps = 0;     // host to device, the matrices' way (pageable rectangles)
};

// "1.5.3": the CLBlast this build was compiled against; entries of another are ignored.
std::string clblast_version();

std::string tuning_path(const std::string& cache_dir);

// The entry for a device (DeviceInfo::key) and precision, if any; `warning`
// says why a file was ignored (empty when there simply is none).
std::optional<Tuning> load_tuning(const std::string& cache_dir, const std::string& device_key, Precision precision,
                                  std::string& warning);

// Stores the entry, keeping every other one. Errors: io.
Status save_tuning(const std::string& cache_dir, const std::string& device_key, Precision precision,
                   const Tuning& tuning);

// Applies the stored kernel parameters of the device and precision with
// clblast::OverrideParameters, where they differ from CLBlast's current ones
// (an override makes CLBlast recompile, so it is done only on a change: once
// per process and device, and again after a new tuning). Failures are
// logged and leave CLBlast's own parameters: never an error.
void apply_tuning(DeviceContext& device, Precision precision, const std::string& cache_dir, const Logger& log);

}  // namespace plx::gemm
