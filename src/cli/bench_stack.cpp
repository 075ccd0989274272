// `parallax bench --suite stack`: 32 frames of 1024 x 1024 float32 with 1%
// outliers, stacked by mean, sigma clipping and median, against peers in the
// same run: a bare oneTBB read of the frames (the memory's floor), a
// hand-written oneTBB mean (what a user would write), and, when
// Debian's python3 has numpy and astropy, astropy's sigma_clip and numpy's
// median on the same data (which also check that the results agree).
// Timing never fails; wrong results do.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.hpp"

namespace plx::cli {
namespace {

namespace fs = std::filesystem;

// The benchmark's frames: normal(100, 5) with 1% of samples at 1000..5000.
struct Cube {
  int64_t frames, height, width;
  std::vector<float> data;
  int64_t plane() const { return height * width; }
};

Cube make_cube(int64_t frames, int64_t height, int64_t width) {
  Cube c{frames, height, width, {}};
  try {  // each side at most 2^20 (--shape's check): the product fits
    c.data.resize(static_cast<size_t>(frames * height * width));
  } catch (const std::exception&) {  // bad_alloc, or length_error past the vector's limit
    char gb[32];
    std::snprintf(gb, sizeof gb, "%.3g", static_cast<double>(frames * height * width) * 4 / 1e9);
    throw std::runtime_error("bench --suite stack: a cube of " + std::to_string(frames) + " x " +
                             std::to_string(height) + " x " + std::to_string(width) + " float32 (" + gb +
                             " GB) does not fit in memory: choose a smaller --shape");
  }
  std::mt19937_64 rng(20261123);
  std::normal_distribution<float> noise(100.0f, 5.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f), outlier(1000.0f, 5000.0f);
  for (float& v : c.data) v = unit(rng) < 0.01f ? outlier(rng) : noise(rng);
  return c;
}

struct Stacked {
  std::vector<float> image;
  std::vector<int32_t> count;
  plx_stack_result_t result;
  plx_run_report_t report;  // device_kernel_s: the kernels' time, without transfers
};

// A plx_stack_provider_fn copying from the cube (user_data): frames that
// are not in memory as a whole, streamed through the library's bands.
int copy_from_cube(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int32_t,
                   float* dst, int64_t dst_stride) {
  const Cube& c = *static_cast<const Cube*>(user);
  const float* src = c.data.data() + frame * c.plane() + row0 * c.width + col0;
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_stride, src + r * c.width, static_cast<size_t>(cols) * sizeof(float));
  return 0;
}

// How the stack gets the frames: in place, or from copy_from_cube with this
// plx_stack_desc_t.provider_rows.
struct Source {
  bool provider = false;
  int64_t provider_rows = 0;
};

// One stack of the cube into s (outputs allocated and touched before, so that
// the timings are of the stack, not of page faults); `device`: a
// plx_device_preference_t.
void stack_into(plx_runtime_t* rt, const Cube& c, int32_t combine, int32_t reject, int32_t device, Stacked& s,
                Source source = {}) {
  std::vector<const float*> frames(static_cast<size_t>(c.frames));
  for (int64_t j = 0; j < c.frames; ++j) frames[static_cast<size_t>(j)] = c.data.data() + j * c.plane();
  plx_stack_desc_t d;
  check(plx_stack_desc_init(&d, sizeof d));
  d.frames = c.frames;
  d.height = c.height;
  d.width = c.width;
  if (source.provider) {
    d.provider = copy_from_cube;
    d.provider_user_data = const_cast<Cube*>(&c);
    d.provider_rows = source.provider_rows;
  } else {
    d.frame_data = frames.data();
  }
  d.combine = combine;
  d.reject = reject;
  d.device = device;
  plx_run_options_t run;
  check(plx_run_options_init(&run, sizeof run));
  s.report = {};
  s.report.struct_size = sizeof s.report;
  run.report = &s.report;
  d.run_options = &run;
  s.image.resize(static_cast<size_t>(c.plane()));
  s.count.resize(static_cast<size_t>(c.plane()));
  check(plx_stack_result_init(&s.result, sizeof s.result));
  s.result.image = s.image.data();
  s.result.count = s.count.data();
  check(plx_stack(rt, &d, &s.result));
}

// Best time of the stacks (best_time); the outputs of the last in *last, and
// the best time the device kernels took (without transfers) in *kernel_s.
double best_stack_s(plx_runtime_t* rt, const Cube& c, const BenchOptions& opt, int32_t combine, int32_t reject,
                    int32_t device, Stacked* last = nullptr, double* kernel_s = nullptr, Source source = {}) {
  Stacked s;
  stack_into(rt, c, combine, reject, device, s, source);  // warm-up: outputs, plan, kernels
  double best_kernel = 1e300;
  const double best = best_time(opt, [&] {
    stack_into(rt, c, combine, reject, device, s, source);
    best_kernel = std::min(best_kernel, s.report.device_kernel_s);
  });
  if (last) *last = std::move(s);
  if (kernel_s) *kernel_s = best_kernel;
  return best;
}

// The memory's floor: every sample of the cube read once (summed, so that the
// reads stay), in long runs split between the workers. No stack reads less.
double raw_read_s(const Cube& c, const BenchOptions& opt) {
  constexpr int64_t kLanes = 16;  // independent sums: the compiler vectorises them
  const int64_t samples = static_cast<int64_t>(c.data.size()) / kLanes * kLanes;
  volatile float sink = 0;
  auto read = [&] {
    sink = oneapi::tbb::parallel_reduce(
        oneapi::tbb::blocked_range<int64_t>(0, samples / kLanes, 4096), 0.0f,
        [&](const oneapi::tbb::blocked_range<int64_t>& r, float total) {
          float sum[kLanes] = {};
          for (int64_t i = r.begin(); i < r.end(); ++i)
            for (int64_t k = 0; k < kLanes; ++k) sum[k] += c.data[static_cast<size_t>(i * kLanes + k)];
          for (float v : sum) total += v;
          return total;
        },
        [](float a, float b) { return a + b; });
  };
  read();
  return best_time(opt, read);
}

// A hand-written oneTBB mean over the frames, frame by frame over runs of
// pixels so that the compiler vectorises it.
double raw_mean_s(const Cube& c, const BenchOptions& opt) {
  std::vector<float> out(static_cast<size_t>(c.plane()));
  auto mean = [&] {
    oneapi::tbb::parallel_for(
        oneapi::tbb::blocked_range<int64_t>(0, c.plane(), 4096), [&](const oneapi::tbb::blocked_range<int64_t>& r) {
          std::vector<double> sum(static_cast<size_t>(r.size()), 0.0);
          for (int64_t j = 0; j < c.frames; ++j) {
            const float* src = c.data.data() + j * c.plane() + r.begin();
            for (size_t p = 0; p < sum.size(); ++p) sum[p] += src[p];
          }
          for (size_t p = 0; p < sum.size(); ++p)
            out[static_cast<size_t>(r.begin()) + p] = static_cast<float>(sum[p] / static_cast<double>(c.frames));
        });
  };
  mean();  // warm-up, as ours get: the output's pages, the arena's threads
  return best_time(opt, mean);
}

// The Python peers: reads the cube and our sigma-clipped mean and count,
// times astropy and numpy, and says whether the results agree.
constexpr const char* kPeerScript = R"PY(
import json, sys, time, warnings
import numpy as np
from astropy.stats import sigma_clip
warnings.simplefilter("ignore")
n, h, w, reps = (int(v) for v in sys.argv[2:6])
cube = np.fromfile(sys.argv[1] + "/cube.f32", np.float32).reshape(n, h, w)
ours = np.fromfile(sys.argv[1] + "/sigma.f32", np.float32).reshape(h, w)
our_count = np.fromfile(sys.argv[1] + "/count.i32", np.int32).reshape(h, w)
# A warm-up run of each first, as ours get: astropy's first call on a cube
# takes 1.3-1.7 s here, the later ones 0.92-1.2 s.
sigma_clip(cube, axis=0, sigma=3, maxiters=5).mean(axis=0)
np.median(cube, axis=0)
best_clip = best_median = 1e300
for _ in range(reps):
    t = time.perf_counter(); clipped = sigma_clip(cube, axis=0, sigma=3, maxiters=5); mean = clipped.mean(axis=0)
    best_clip = min(best_clip, time.perf_counter() - t)
    t = time.perf_counter(); np.median(cube, axis=0); best_median = min(best_median, time.perf_counter() - t)
# Timed on float32 as users call it; checked against the float64 computation we match.
exact = sigma_clip(cube.astype(np.float64), axis=0, sigma=3, maxiters=5)
ref = np.ma.filled(exact.mean(axis=0), np.nan)
count = (~np.ma.getmaskarray(exact)).sum(axis=0)
print(json.dumps({"astropy_sigma_clip_s": best_clip, "numpy_median_s": best_median,
                  "max_relative_difference": float(np.nanmax(np.abs(ours - ref) / np.abs(ref))),
                  "count_mismatches": int((count != our_count).sum())}))
)PY";

// Runs the Python peers; null when python3, numpy or astropy is missing.
nlohmann::json python_peers(const Cube& c, const Stacked& sigma, int reps) {
  auto file = [](const char* name, const auto& v) { return PeerFile{name, v.data(), v.size() * sizeof v[0]}; };
  return run_python_peer("stack", "numpy, astropy", kPeerScript,
                         {file("cube.f32", c.data), file("sigma.f32", sigma.image), file("count.i32", sigma.count)},
                         {std::to_string(c.frames), std::to_string(c.height), std::to_string(c.width),
                          std::to_string(reps)});
}

// The sigma clip again in a child process with the SIMD dispatch forced to
// `target` (it is chosen once per process); null when the CPU lacks it.
nlohmann::json forced_target_sigma_s(const std::string& target, const BenchOptions& opt) {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);  // this program (in the shell, the shell)
  if (error) return nullptr;
  std::string shape;
  for (int64_t v : opt.stack_shape) shape += (shape.empty() ? " --shape " : ",") + std::to_string(v);
  const std::string command = "PLX_SIMD_TARGET=" + target + " '" + self.string() +
                              "' bench --suite stack --sigma-only --json" + (opt.quick ? " --quick" : "") + shape +
                              " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return nullptr;
  const std::string text = read_all(pipe);
  if (pclose(pipe) != 0) return nullptr;
  auto r = nlohmann::json::parse(text, nullptr, false);
  if (r.is_discarded() || r.value("simd_target", "") != target) return nullptr;
  return r["sigma_clip_s"];
}

}  // namespace

nlohmann::json bench_stack(plx_runtime_t* rt, const BenchOptions& opt) {
  const auto& shape = opt.stack_shape;
  const Cube c = !shape.empty() ? make_cube(shape[0], shape[1], shape[2])
                 : opt.quick    ? make_cube(32, 128, 128)
                                : make_cube(32, 1024, 1024);
  const double bytes = static_cast<double>(c.data.size() * sizeof(float));
  Stacked sigma;
  const double sigma_s = best_stack_s(rt, c, opt, PLX_COMBINE_MEAN, PLX_REJECT_SIGMA_CLIP, PLX_PREFER_CPU, &sigma);
  nlohmann::json r = {{"suite", "stack"},
                      {"quick", opt.quick},
                      {"frames", c.frames},
                      {"height", c.height},
                      {"width", c.width},
                      {"outlier_fraction", 0.01},
                      {"repetitions", opt.reps},
                      {"simd_target", sigma.result.simd_target},
                      {"workers", sigma.result.workers},
                      {"sigma_clip_s", sigma_s}};
  if (opt.sigma_only) return r;

  const double mean_s = best_stack_s(rt, c, opt, PLX_COMBINE_MEAN, PLX_REJECT_NONE, PLX_PREFER_CPU);
  const double raw_s = raw_mean_s(c, opt);
  const double read_s = raw_read_s(c, opt);
  const double median_s = best_stack_s(rt, c, opt, PLX_COMBINE_MEDIAN, PLX_REJECT_NONE, PLX_PREFER_CPU);
  r["mean_s"] = mean_s;
  r["mean_gbps"] = bytes / mean_s / 1e9;
  r["tbb_mean_s"] = raw_s;
  r["mean_vs_tbb_ratio"] = mean_s / raw_s;
  r["read_gbps"] = bytes / read_s / 1e9;
  r["mean_vs_read_ratio"] = mean_s / read_s;
  r["sigma_vs_mean_ratio"] = sigma_s / mean_s;
  r["median_s"] = median_s;

  // The same sigma clip from a provider copying the frames: in bands that fit
  // the L2 cache (the default), and in the plan's whole bands (provider_rows
  // -1). The same bits as from the frames in place, or the suite fails.
  for (auto [name, rows] : {std::pair<std::string, int64_t>{"provider", 0}, {"provider_whole_bands", -1}}) {
    Stacked streamed;
    const double s = best_stack_s(rt, c, opt, PLX_COMBINE_MEAN, PLX_REJECT_SIGMA_CLIP, PLX_PREFER_CPU, &streamed,
                                  nullptr, Source{true, rows});
    if (std::memcmp(streamed.image.data(), sigma.image.data(), sigma.image.size() * sizeof(float)) != 0 ||
        streamed.count != sigma.count)
      throw std::runtime_error("bench --suite stack: the sigma clip from a provider differs from the one in place");
    r[name + "_sigma_clip_s"] = s;
    r[name + "_tile_rows"] = streamed.result.tile_rows;
  }
  r["provider_vs_in_place_ratio"] = r["provider_sigma_clip_s"].get<double>() / sigma_s;

  if (nlohmann::json peers = python_peers(c, sigma, opt.quick ? 1 : opt.reps); !peers.is_null()) {
    // Timing never fails; a wrong result does.
    if (peers["max_relative_difference"].get<double>() > 1e-6 || peers["count_mismatches"].get<int64_t>() != 0)
      throw std::runtime_error("bench --suite stack: our sigma clip disagrees with astropy's: " + peers.dump());
    const double astropy_s = peers["astropy_sigma_clip_s"].get<double>();
    r["astropy_sigma_clip_s"] = astropy_s;
    r["speedup_vs_astropy"] = astropy_s / sigma_s;
    r["numpy_median_s"] = peers["numpy_median_s"];
    r["speedup_vs_numpy_median"] = peers["numpy_median_s"].get<double>() / median_s;
    r["agrees_with_astropy"] = peers;
    if (nlohmann::json avx2 = forced_target_sigma_s("AVX2", opt); !avx2.is_null()) {
      r["avx2_sigma_clip_s"] = avx2;
      r["avx2_speedup_vs_astropy"] = astropy_s / avx2.get<double>();
    }
  }

  // The OpenCL path on the runtime's usable devices (--device-types decides
  // which), end to end from host frames.
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& [index, info] : usable_devices(rt)) gpus.push_back(info.name);
  if (!gpus.empty()) {
    Stacked on_gpu;
    double kernel_s = 0;
    const double gpu_s =
        best_stack_s(rt, c, opt, PLX_COMBINE_MEAN, PLX_REJECT_SIGMA_CLIP, PLX_PREFER_GPU, &on_gpu, &kernel_s);
    const double worst = max_relative_difference(sigma.image, on_gpu.image);
    if (worst > 1e-6)
      throw std::runtime_error("bench --suite stack: the OpenCL sigma clip differs from the CPU's by " +
                               std::to_string(worst) + " (relative)");
    r["gpu_devices"] = gpus;
    r["gpu_device_index"] = on_gpu.result.device_index;
    r["gpu_sigma_clip_s"] = gpu_s;
    r["gpu_sigma_clip_host_gbps"] = bytes / gpu_s / 1e9;
    // Frames already on the device: the kernels' own time (OpenCL profiling),
    // without the uploads and downloads the host figure includes.
    if (kernel_s > 0) {
      r["gpu_sigma_clip_kernel_s"] = kernel_s;
      r["gpu_sigma_clip_resident_gbps"] = bytes / kernel_s / 1e9;
    }
    r["gpu_vs_cpu_max_relative_difference"] = worst;
  }
  return r;
}

}  // namespace plx::cli
