// The OpenCL sigma clip at other sizes than the benchmark's, on a GPU machine
// (tests/gpu/run.sh): ./plx_gpu_stack_sizes FRAMES WIDTH HEIGHT [REPS]. Frames
// of N(100, 5) noise with 1% outliers; the CPU path's image first, then the
// GPU path's best time of REPS (after a warm-up call), end to end from host
// frames and of its kernels (device_kernel_s), and their largest relative
// difference from the CPU's.
#include <parallax.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s FRAMES WIDTH HEIGHT [REPS]\n", argv[0]);
    return 2;
  }
  const int64_t frames = std::atoll(argv[1]), width = std::atoll(argv[2]), height = std::atoll(argv[3]);
  const int reps = argc > 4 ? std::atoi(argv[4]) : 6;
  const int64_t pixels = width * height;
  std::vector<float> data(static_cast<size_t>(frames * pixels));
  std::mt19937_64 rng(20261124);
  std::normal_distribution<float> noise(100.0f, 5.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f), outlier(1000.0f, 5000.0f);
  for (float& v : data) v = unit(rng) < 0.01f ? outlier(rng) : noise(rng);
  std::vector<const float*> frame_data(static_cast<size_t>(frames));
  for (int64_t j = 0; j < frames; ++j) frame_data[static_cast<size_t>(j)] = data.data() + j * pixels;

  plx_runtime_options_t options;
  plx_runtime_options_init(&options, sizeof options);
  options.device_types = PLX_DEVICE_TYPE_GPU;
  plx_runtime_t* rt = nullptr;
  if (plx_runtime_create(&options, &rt) != PLX_OK) {
    std::fprintf(stderr, "%s\n", plx_last_error_message());
    return 1;
  }
  std::vector<float> cpu(static_cast<size_t>(pixels)), gpu(static_cast<size_t>(pixels));
  double best = 1e30, best_kernel = 1e30;
  for (int call = 0; call <= reps + 1; ++call) {  // the CPU, a warm-up, then the timed GPU calls
    plx_stack_desc_t d;
    plx_stack_desc_init(&d, sizeof d);
    d.frames = frames;
    d.height = height;
    d.width = width;
    d.frame_data = frame_data.data();
    d.reject = PLX_REJECT_SIGMA_CLIP;
    d.device = call == 0 ? PLX_PREFER_CPU : PLX_PREFER_GPU;
    plx_run_report_t report{};
    report.struct_size = sizeof report;
    plx_run_options_t run;
    plx_run_options_init(&run, sizeof run);
    run.report = &report;
    d.run_options = &run;
    plx_stack_result_t r;
    plx_stack_result_init(&r, sizeof r);
    r.image = call == 0 ? cpu.data() : gpu.data();
    const auto start = std::chrono::steady_clock::now();
    if (plx_stack(rt, &d, &r) != PLX_OK) {
      std::fprintf(stderr, "%s\n", plx_last_error_message());
      return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (call >= 2) {
      best = std::min(best, s);
      best_kernel = std::min(best_kernel, report.device_kernel_s);
    }
  }
  double worst = 0;
  for (int64_t i = 0; i < pixels; ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(gpu[i]) - cpu[i]) / std::fabs(static_cast<double>(cpu[i])));
  const double gb = static_cast<double>(frames * pixels) * 4 / 1e9;
  std::printf("%ld x %ld x %ld: end to end %.2f ms (%.1f GB/s), kernels %.3f ms (%.0f GB/s), vs CPU %.2g\n",
              static_cast<long>(frames), static_cast<long>(height), static_cast<long>(width), best * 1e3, gb / best,
              best_kernel * 1e3, gb / best_kernel, worst);
  plx_runtime_destroy(rt);
  return worst <= 1e-6 ? 0 : 1;
}
