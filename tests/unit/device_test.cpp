// The OpenCL device layer through the public API, on PoCL (the CPU OpenCL
// device every test machine has): discovery, custom kernels over rows larger
// than a device, pinned streaming, out-of-memory splits, CPU fallback,
// several devices, the program cache, device buffers, fault injection.
// ctest runs this with POCL_KERNEL_CACHE=0, so builds are really cold.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "last_error.hpp"
#include "parallax.h"
#include "usable_cpus.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A private cache directory per test.
struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "plx-cache-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct LogLines {
  std::mutex m;
  std::vector<std::string> lines;
  static void fn(void* user, plx_log_level_t, const char* message) {
    auto* l = static_cast<LogLines*>(user);
    std::lock_guard lock(l->m);
    l->lines.emplace_back(message);
  }
  int count(const std::string& text) {
    std::lock_guard lock(m);
    int n = 0;
    for (auto& line : lines) n += line.find(text) != std::string::npos;
    return n;
  }
  std::string find(const std::string& text) {
    std::lock_guard lock(m);
    for (auto& line : lines)
      if (line.find(text) != std::string::npos) return line;
    return "";
  }
};

struct Runtime {
  plx_runtime_t* rt = nullptr;
  explicit Runtime(plx_runtime_options_t o) { EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_OK) << last_error(); }
  ~Runtime() { plx_runtime_destroy(rt); }
  int device_count() {
    plx_caps_t c;
    c.struct_size = sizeof c;
    EXPECT_EQ(plx_caps_get(rt, &c), PLX_OK);
    return c.device_count;
  }
};

plx_runtime_options_t device_options(const char* cache_dir = "", const char* faults = nullptr, int64_t memory_limit = 0,
                                     int replicas = 0, plx_log_fn log = nullptr, void* log_user = nullptr) {
  plx_runtime_options_t o;
  plx_runtime_options_init(&o, sizeof o);
  o.device_types = PLX_DEVICE_TYPE_ANY;
  o.cache_dir = cache_dir;
  o.fault_injection = faults;
  o.device_memory_limit_bytes = memory_limit;
  o.device_replicas = replicas;
  o.log_callback = log;
  o.log_user_data = log_user;
  return o;
}

const char* kAxpb =
    "__kernel void axpb(__global const float* x, __global float* y, float a, float b, long first, long rows) {\n"
    "  size_t i = get_global_id(1);\n"
    "  y[i] = a * x[i] + b;\n"
    "}\n";

// Image rows: out[r][c] = in0[r][c] + 2 * in1[r][c] + (first + r), one work-item per pixel.
const char* kRows =
    "__kernel void blend_rows(__global const float* a, __global const float* b, __global float* out, __global int* "
    "sums,\n"
    "                  int width, long first, long rows) {\n"
    "  size_t c = get_global_id(0), r = get_global_id(1);\n"
    "  out[r * width + c] = a[r * width + c] + 2.0f * b[r * width + c] + (float)(first + r);\n"
    "  if (c == 0) sums[r] = (int)(first + r);\n"
    "}\n";

int axpb_cpu(int64_t, int64_t rows, const void* const* in, void* const* out, void* user) {
  const float* x = static_cast<const float*>(in[0]);
  float* y = static_cast<float*>(out[0]);
  const float* ab = static_cast<const float*>(user);
  for (int64_t i = 0; i < rows; ++i) y[i] = ab[0] * x[i] + ab[1];
  return 0;
}

struct Axpb {
  std::vector<float> x, y;
  float ab[2] = {2.0f, 1.0f};
  plx_rows_input_t in{};
  plx_rows_output_t out{};
  plx_kernel_scalar_t scalars[2];
  plx_rows_desc_t desc;
  explicit Axpb(int64_t n) : x(static_cast<size_t>(n)), y(static_cast<size_t>(n), -1.0f) {
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 4099);
    in = {x.data(), 4, nullptr, nullptr};
    out = {y.data(), 4};
    scalars[0] = {&ab[0], 4};
    scalars[1] = {&ab[1], 4};
    plx_rows_desc_init(&desc, sizeof desc);
    desc.rows = n;
    desc.inputs = &in;
    desc.input_count = 1;
    desc.outputs = &out;
    desc.output_count = 1;
    desc.scalars = scalars;
    desc.scalar_count = 2;
  }
  void with_cpu_fallback() {
    desc.cpu_fallback = axpb_cpu;
    desc.cpu_user_data = ab;
  }
  int64_t wrong() const {
    int64_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) bad += y[i] != ab[0] * x[i] + ab[1];
    return bad;
  }
};

plx_kernel_t* make_kernel(plx_runtime_t* rt, const char* source = kAxpb, const char* name = "axpb") {
  plx_kernel_t* k = nullptr;
  EXPECT_EQ(plx_kernel_create(rt, source, name, nullptr, &k), PLX_OK) << last_error();
  return k;
}

plx_run_options_t with_report(plx_run_report_t& report) {
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  report.struct_size = sizeof report;
  o.report = &report;
  return o;
}

// ---- discovery ------------------------------------------------------------------

TEST(Devices, PoclIsDiscoveredAsACpuDevice) {
  Runtime r(device_options());
  ASSERT_GE(r.device_count(), 1) << "make deps installs pocl-opencl-icd";
  plx_device_info_t d;
  d.struct_size = sizeof d;
  bool found = false;
  for (int i = 0; i < r.device_count(); ++i) {
    ASSERT_EQ(plx_device_info_get(r.rt, i, &d), PLX_OK);
    EXPECT_GT(d.global_memory_bytes, 0);
    EXPECT_GT(d.max_alloc_bytes, 0);
    EXPECT_LE(d.max_alloc_bytes, d.global_memory_bytes);
    EXPECT_GT(d.compute_units, 0);
    EXPECT_STRNE(d.opencl_c_version, "");
    EXPECT_STRNE(d.driver_version, "");
    EXPECT_EQ(d.simulated, 0);
    EXPECT_EQ(d.usable, 1);
    if (std::string(d.platform).find("Portable Computing Language") != std::string::npos) {
      found = true;
      EXPECT_EQ(d.type, PLX_DEVICE_TYPE_CPU);
    }
  }
  EXPECT_TRUE(found);
}

// Runtimes created on several threads at once discover devices concurrently:
// the first discovery of the process must not race inside the driver (each
// test runs in a fresh process, so this one is the first).
TEST(Devices, ConcurrentFirstDiscoveriesAgree) {
  std::vector<int> counts(8, -1);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < counts.size(); ++t)
    threads.emplace_back([&counts, t] {
      Runtime r(device_options());
      counts[t] = r.device_count();
    });
  for (std::thread& t : threads) t.join();
  for (int c : counts) EXPECT_EQ(c, counts[0]);
  EXPECT_GE(counts[0], 1);
}

TEST(Devices, MemoryLimitAndReplicasShapeTheDevices) {
  Runtime one(device_options());
  Runtime two(device_options("", nullptr, 64 << 20, 2));
  ASSERT_EQ(two.device_count(), 2 * one.device_count());
  plx_device_info_t a, b;
  a.struct_size = b.struct_size = sizeof a;
  ASSERT_EQ(plx_device_info_get(two.rt, 0, &a), PLX_OK);
  ASSERT_EQ(plx_device_info_get(two.rt, 1, &b), PLX_OK);
  EXPECT_EQ(a.global_memory_bytes, 64 << 20);
  EXPECT_LE(a.max_alloc_bytes, 64 << 20);
  EXPECT_NE(std::string(b.name).find("(replica 2)"), std::string::npos) << b.name;
}

TEST(Devices, GpuRequiredAdmitsPoclOnlyWhenCpuDevicesAreAllowed) {
  plx_runtime_options_t o = device_options();
  o.device_policy = PLX_DEVICE_GPU_REQUIRED;
  plx_runtime_t* rt = nullptr;
  ASSERT_EQ(plx_runtime_create(&o, &rt), PLX_OK) << last_error();
  plx_runtime_destroy(rt);
  o.device_types = PLX_DEVICE_TYPE_GPU;
  o.device_filter = "Portable Computing";
  EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_ERR_NO_DEVICE);
  EXPECT_NE(last_error().find("pthread"), std::string::npos) << "names what it found: " << last_error();
}

// Run by ctest with OCL_ICD_VENDORS pointing at an empty directory.
TEST(NoIcd, TheCpuPathStillRuns) {
  if (!std::getenv("PLX_TEST_NO_ICD")) GTEST_SKIP() << "run by the device.no_icd test";
  Runtime r(device_options());
  EXPECT_EQ(r.device_count(), 0);
  plx_kernel_t* k = make_kernel(r.rt);
  int32_t count = -1;
  ASSERT_EQ(plx_kernel_devices(k, nullptr, 0, &count), PLX_OK);
  EXPECT_EQ(count, 0);
  Axpb job(1000);
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_ERR_NO_DEVICE);
  EXPECT_NE(last_error().find("no CPU fallback"), std::string::npos) << last_error();
  job.with_cpu_fallback();
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  plx_kernel_destroy(k);
}

// ---- kernels over rows --------------------------------------------------------

TEST(Rows, ResultsAreRightForAnySize) {
  Runtime r(device_options());
  plx_kernel_t* k = make_kernel(r.rt);
  for (int64_t n : {0, 1, 7, 4099, 1'000'003}) {
    Axpb job(n);
    ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_OK) << n << ": " << last_error();
    EXPECT_EQ(job.wrong(), 0) << n;
  }
  plx_kernel_destroy(k);
}

TEST(Rows, DataFourTimesLargerThanTheDevice) {
  LogLines log;
  const int64_t limit = 4 << 20;  // the device "has" 4 MiB
  Runtime r(device_options("", nullptr, limit, 0, LogLines::fn, &log));
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(limit);  // 16 MiB in, 16 MiB out
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_GE(report.chunks, 8) << "32 MiB through a 4 MiB device takes many chunks";
  EXPECT_EQ(report.fallback_chunks, 0);
  // The kernels' profiled time: some, and less than the run's with its transfers.
  EXPECT_GT(report.device_kernel_s, 0.0);
  EXPECT_LT(report.device_kernel_s, report.wall_s);
  EXPECT_EQ(log.count("\"kind\":\"kernel_rows\""), 1);
  plx_kernel_destroy(k);
}

int rows_provider(int64_t first, int64_t rows, void* dst, void* user) {
  auto* calls = static_cast<std::atomic<int64_t>*>(user);
  float* out = static_cast<float*>(dst);
  for (int64_t i = 0; i < rows * 16; ++i) out[i] = static_cast<float>((first * 16 + i) % 1000);
  *calls += rows;
  return 0;
}

TEST(Rows, ImageRowsSeveralBuffersAndAProvider) {
  Runtime r(device_options("", nullptr, 1 << 20));
  plx_kernel_t* k = make_kernel(r.rt, kRows, "blend_rows");
  const int width = 16;
  const int64_t rows = 20000;
  std::vector<float> a(static_cast<size_t>(rows * width));
  std::iota(a.begin(), a.end(), 0.0f);
  std::vector<float> out(a.size(), -1);
  std::vector<int32_t> sums(static_cast<size_t>(rows), -1);
  std::atomic<int64_t> provided{0};
  plx_rows_input_t inputs[2] = {{a.data(), width * 4, nullptr, nullptr},
                                {nullptr, width * 4, rows_provider, &provided}};
  plx_rows_output_t outputs[2] = {{out.data(), width * 4}, {sums.data(), 4}};
  plx_kernel_scalar_t scalar{&width, sizeof width};
  plx_rows_desc_t d;
  plx_rows_desc_init(&d, sizeof d);
  d.rows = rows;
  d.inputs = inputs;
  d.input_count = 2;
  d.outputs = outputs;
  d.output_count = 2;
  d.scalars = &scalar;
  d.scalar_count = 1;
  d.work_items_per_row = width;
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &d, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(provided.load(), rows) << "the provider wrote every row once";
  int64_t bad = 0;
  for (int64_t rr = 0; rr < rows; ++rr) {
    bad += sums[static_cast<size_t>(rr)] != rr;
    for (int c = 0; c < width; ++c) {
      size_t i = static_cast<size_t>(rr * width + c);
      float b = static_cast<float>((rr * 16 + c) % 1000);
      bad += out[i] != a[i] + 2.0f * b + static_cast<float>(rr);
    }
  }
  EXPECT_EQ(bad, 0);
  plx_kernel_destroy(k);
}

// A chunk's input goes up in pieces of 16 MiB (each piece's upload overlaps
// the fill of the next): a 36 MiB chunk takes three, from host rows and from
// a provider, and a provider failing in the second piece fails the run with
// its rows named, nothing left in flight.
int piece_provider(int64_t first, int64_t rows, void* dst, void* user) {
  auto* calls = static_cast<std::atomic<int64_t>*>(user);
  ++*calls;
  if (first >= (int64_t{4} << 20)) return 7;  // the second piece
  auto* out = static_cast<float*>(dst);
  for (int64_t i = 0; i < rows; ++i) out[i] = static_cast<float>((first + i) % 4099);
  return 0;
}

TEST(Rows, AChunkIsUploadedInPieces) {
  Runtime r(device_options());
  plx_kernel_t* k = make_kernel(r.rt);
  const int64_t n = int64_t{9} << 20;  // 36 MiB of floats, one row each
  Axpb job(n);
  job.desc.rows_per_chunk = n;
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_EQ(report.chunks, 1);

  std::atomic<int64_t> calls{0};
  job.in = {nullptr, 4, piece_provider, &calls};
  std::fill(job.y.begin(), job.y.end(), -1.0f);
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_ERR_TASK_FAILED);
  EXPECT_EQ(calls.load(), 2) << "the first piece, then the failing one";
  EXPECT_NE(last_error().find("returned 7 for rows [4194304, 8388608)"), std::string::npos) << last_error();
  plx_kernel_destroy(k);
}

TEST(Rows, OutOfMemoryHalvesTheChunk) {
  LogLines log;
  // The third device allocation fails: the first chunk size cannot be set up.
  Runtime r(device_options("", "alloc=2:out_of_memory", 0, 0, LogLines::fn, &log));
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(300000);
  job.desc.rows_per_chunk = 65536;
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_EQ(report.chunk_splits, 1);
  EXPECT_EQ(log.count("chunks halved to 32768 rows"), 1) << log.find("halved");
  plx_kernel_destroy(k);
}

TEST(Rows, NotEvenOneRowFits) {
  Runtime r(device_options("", nullptr, 64));  // 64 bytes of device memory
  plx_kernel_t* k = make_kernel(r.rt, kRows, "blend_rows");
  std::vector<float> a(1024 * 64), out(a.size());
  std::vector<int32_t> sums(1024);
  int width = 64;
  plx_rows_input_t in[2] = {{a.data(), 256, nullptr, nullptr}, {a.data(), 256, nullptr, nullptr}};
  plx_rows_output_t outs[2] = {{out.data(), 256}, {sums.data(), 4}};
  plx_kernel_scalar_t s{&width, 4};
  plx_rows_desc_t d;
  plx_rows_desc_init(&d, sizeof d);
  d.rows = 1024;
  d.inputs = in;
  d.input_count = 2;
  d.outputs = outs;
  d.output_count = 2;
  d.scalars = &s;
  d.scalar_count = 1;
  d.work_items_per_row = 64;
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &d, nullptr), PLX_ERR_OUT_OF_MEMORY);
  EXPECT_NE(last_error().find("even for one row"), std::string::npos) << last_error();
  plx_kernel_destroy(k);
}

TEST(Rows, AFailingEnqueueFallsBackToTheCpu) {
  LogLines log;
  Runtime r(device_options("", "enqueue=1:device", 0, 0, LogLines::fn, &log));
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(100000);
  job.desc.rows_per_chunk = 10000;
  job.with_cpu_fallback();
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_EQ(report.fallback_chunks, 1);
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(report.chunks, 10);
  EXPECT_EQ(log.count("running it and any other such chunk on the CPU function"), 1) << "logged once per run";
  plx_kernel_destroy(k);
}

TEST(Rows, AFailingEnqueueWithoutFallbackFails) {
  Runtime r(device_options("", "enqueue=*:device"));
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(1000);
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("injected fault 'enqueue=*:device'"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("no CPU fallback"), std::string::npos) << last_error();
  plx_kernel_destroy(k);
}

TEST(Rows, ARepeatedlyFailingDeviceIsRetired) {
  LogLines log;
  Runtime r(device_options("", "enqueue=0-2:device", 0, 0, LogLines::fn, &log));
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(50000);
  job.desc.rows_per_chunk = 5000;
  job.with_cpu_fallback();
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_EQ(log.count("failed 3 times in a row: it is not used again"), 1);
  EXPECT_EQ(report.fallback_chunks, 3);
  // Retired for the runtime's life: the next run goes to the CPU.
  Axpb next(1000);
  next.with_cpu_fallback();
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &next.desc, &o), PLX_OK);
  EXPECT_EQ(next.wrong(), 0);
  EXPECT_EQ(report.fallback_chunks, 0) << "no device tried: the CPU ran it from the start";
  EXPECT_EQ(report.failed, 0);
  EXPECT_GE(report.chunks, 1);
  plx_kernel_destroy(k);
}

TEST(Rows, GpuRequiredNeverFallsBack) {
  plx_runtime_options_t o = device_options("", "enqueue=0:device");
  o.device_policy = PLX_DEVICE_GPU_REQUIRED;
  Runtime r(o);
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(1000);
  job.with_cpu_fallback();
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("a device is required"), std::string::npos) << last_error();
  plx_kernel_destroy(k);
}

TEST(Rows, SeveralDevicesShareTheWorkAndAgree) {
  if (usable_cpus() < 2) GTEST_SKIP() << "two replicas of PoCL need two CPUs to both be busy";
  LogLines log;
  // Two replicas of PoCL on two CPUs: one lane each, both busy.
  Runtime r(device_options("", nullptr, 0, 2, LogLines::fn, &log));
  plx_kernel_t* k = make_kernel(r.rt);
  int32_t count = 0;
  ASSERT_EQ(plx_kernel_devices(k, nullptr, 0, &count), PLX_OK);
  ASSERT_EQ(count, 2);
  Axpb job(4'000'000);
  job.desc.rows_per_chunk = 20000;
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  EXPECT_EQ(report.workers, 2);
  // Two slots per device (double buffering), so up to four chunks in flight.
  EXPECT_GE(report.peak_concurrency, 2);
  EXPECT_LE(report.peak_concurrency, 4);
  std::string summary = log.find("\"kind\":\"kernel_rows\"");
  for (int device = 0; device < 2; ++device)
    EXPECT_NE(summary.find("\"device\":" + std::to_string(device)), std::string::npos) << summary;
  EXPECT_EQ(summary.find("\"chunks\":0,"), std::string::npos) << "no device idle: " << summary;
  plx_kernel_destroy(k);
}

TEST(Rows, AMixedPlanAddsCpuWorkers) {
  LogLines log;
  Runtime r(device_options("", nullptr, 0, 0, LogLines::fn, &log));
  plx_workload_t w;
  plx_workload_init(&w, sizeof w);
  w.kind = PLX_WORKLOAD_MIXED;
  w.items = 1;
  w.bytes_per_item = 8 * 1000000;
  w.rows = 1000000;
  w.bytes_per_row = 8;
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_OK) << last_error();
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  ASSERT_EQ(info.use_gpu, 1);
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(1000000);
  job.with_cpu_fallback();
  job.desc.rows_per_chunk = 10000;
  ASSERT_EQ(plx_kernel_run_rows(k, plan, &job.desc, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  std::string summary = log.find("\"kind\":\"kernel_rows\"");
  EXPECT_NE(summary.find("\"workers\":" + std::to_string(1 + info.cpu_workers)), std::string::npos) << summary;
  // The run's workers replace the plan's CPU workers.
  Axpb again(1000000);
  again.with_cpu_fallback();
  again.desc.rows_per_chunk = 10000;
  plx_run_report_t report;
  plx_run_options_t o = with_report(report);
  o.workers = 3;
  ASSERT_EQ(plx_kernel_run_rows(k, plan, &again.desc, &o), PLX_OK) << last_error();
  EXPECT_EQ(again.wrong(), 0);
  EXPECT_EQ(report.workers, 1 + 3);
  EXPECT_GE(report.peak_concurrency, 1);
  EXPECT_EQ(report.chunks, 100);
  plx_plan_destroy(plan);
  plx_kernel_destroy(k);
}

TEST(Rows, CancelAndProgress) {
  Runtime r(device_options());
  plx_kernel_t* k = make_kernel(r.rt);
  Axpb job(2'000'000);
  job.desc.rows_per_chunk = 1000;
  plx_cancel_token_t* token = nullptr;
  ASSERT_EQ(plx_cancel_token_create(&token), PLX_OK);
  struct Seen {
    std::atomic<int64_t> last{0};
    plx_cancel_token_t* token;
  } seen{{0}, token};
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.cancel = token;
  o.progress_interval_ms = 1;
  o.progress_user_data = &seen;
  o.progress = [](const plx_progress_t* p, void* user) {
    auto* s = static_cast<Seen*>(user);
    s->last = p->done;
    if (p->done > 100000) plx_cancel_token_cancel(s->token);
    return 0;
  };
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, &o), PLX_ERR_CANCELLED);
  EXPECT_GT(seen.last.load(), 100000);
  EXPECT_LT(seen.last.load(), 2'000'000);
  plx_cancel_token_destroy(token);
  plx_kernel_destroy(k);
}

// ---- building kernels and the program cache -------------------------------------

TEST(Kernels, BuildErrorsCarryTheLog) {
  Runtime r(device_options());
  plx_kernel_t* k = nullptr;
  EXPECT_EQ(plx_kernel_create(r.rt, "__kernel void broken(__global float* x) { x[0] = undeclared_thing; }", "broken",
                              nullptr, &k),
            PLX_ERR_DEVICE);
  EXPECT_EQ(k, nullptr);
  EXPECT_NE(last_error().find("CL_BUILD_PROGRAM_FAILURE"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("undeclared_thing"), std::string::npos) << "the build log: " << last_error();
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "not_there", nullptr, &k), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("no __kernel of that name"), std::string::npos) << last_error();
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", "-D BROKEN=", &k), PLX_OK) << "options reach the compiler";
  plx_kernel_destroy(k);
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", "-not-an-option", &k), PLX_ERR_DEVICE);
}

TEST(Kernels, InjectedBuildFailure) {
  Runtime r(device_options("", "build=0:device"));
  plx_kernel_t* k = nullptr;
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", nullptr, &k), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("injected fault 'build=0:device'"), std::string::npos) << last_error();
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", nullptr, &k), PLX_OK) << "only build 0 fails";
  plx_kernel_destroy(k);
}

std::string unique_source() {
  // A source no cache has seen: the first build is really cold.
  std::random_device rd;
  return std::string(kAxpb) + "// " + std::to_string(rd()) + std::to_string(rd()) + "\n";
}

double build_seconds(const std::string& cache, const std::string& source) {
  Runtime r(device_options(cache.c_str()));
  auto start = Clock::now();
  plx_kernel_t* k = make_kernel(r.rt, source.c_str());
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  Axpb job(1000);
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  plx_kernel_destroy(k);
  return s;
}

TEST(ProgramCache, ASecondProcessDoesNotBuildAgain) {
  TempDir dir;
  std::string cache = dir.path + "/nested/parallax";
  std::string source = unique_source();
  double first = build_seconds(cache, source);
  double second = build_seconds(cache, source);  // a new runtime: nothing in memory
  EXPECT_LT(second, 0.1 * first) << "first build " << first << " s, from the disk cache " << second << " s";
  // Private directory, one entry, private file.
  struct stat st {};
  ASSERT_EQ(::stat(cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    ASSERT_EQ(e.path().extension(), ".clbin") << e.path();
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(ProgramCache, CorruptAndForeignEntriesAreRebuilt) {
  TempDir dir;
  std::string source = unique_source();
  build_seconds(dir.path, source);
  fs::path entry = fs::directory_iterator(dir.path)->path();
  auto rebuilt = [&](const std::string& damage) {
    LogLines log;
    Runtime r(device_options(dir.path.c_str(), nullptr, 0, 0, LogLines::fn, &log));
    plx_kernel_t* k = make_kernel(r.rt, source.c_str());
    Axpb job(1000);
    EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_OK) << last_error();
    EXPECT_EQ(job.wrong(), 0) << damage;
    plx_kernel_destroy(k);
    return log.find("rejected");
  };
  // Flip a byte of the binary.
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    char c;
    f.read(&c, 1);
    f.seekp(-10, std::ios::end);
    c = static_cast<char>(c ^ 0x5A);
    f.write(&c, 1);
  }
  EXPECT_NE(rebuilt("corrupt").find("corrupt"), std::string::npos);
  EXPECT_EQ(rebuilt("repaired"), "") << "the rebuilt entry replaced the corrupt one";
  // Truncated.
  fs::resize_file(entry, fs::file_size(entry) / 2);
  EXPECT_NE(rebuilt("truncated").find("truncated"), std::string::npos);
  // Not an entry at all.
  std::ofstream(entry, std::ios::trunc) << "garbage";
  EXPECT_NE(rebuilt("garbage").find("not a Parallax program cache entry"), std::string::npos);
  // Another program's entry under this key: its header names another source.
  std::string other = unique_source();
  TempDir dir2;
  build_seconds(dir2.path, other);
  fs::copy_file(fs::directory_iterator(dir2.path)->path(), entry, fs::copy_options::overwrite_existing);
  EXPECT_NE(rebuilt("foreign").find("built for another device, driver, source or options"), std::string::npos);
}

// ---- device buffers -----------------------------------------------------------

TEST(Buffers, WriteRunRead) {
  Runtime r(device_options("", nullptr, 1 << 20));
  const char* source =
      "__kernel void twice(__global int* v, int add) { size_t i = get_global_id(0); v[i] = 2 * v[i] + add; }";
  plx_kernel_t* k = make_kernel(r.rt, source, "twice");
  plx_buffer_t* b = nullptr;
  ASSERT_EQ(plx_buffer_create(r.rt, 0, 4096 * 4, &b), PLX_OK) << last_error();
  std::vector<int32_t> host(4096);
  std::iota(host.begin(), host.end(), 0);
  ASSERT_EQ(plx_buffer_write(b, 0, host.data(), 4096 * 4), PLX_OK);
  int32_t add = 5;
  plx_kernel_arg_t args[2] = {{PLX_ARG_BUFFER, 0, b, nullptr, 0}, {PLX_ARG_SCALAR, 0, nullptr, &add, 4}};
  int64_t global = 4096, local = 64;
  ASSERT_EQ(plx_kernel_run(k, 0, args, 2, 1, &global, &local), PLX_OK) << last_error();
  std::vector<int32_t> back(4096);
  ASSERT_EQ(plx_buffer_read(b, 0, back.data(), 4096 * 4), PLX_OK);
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(back[static_cast<size_t>(i)], 2 * i + 5);
  // Part of a buffer.
  ASSERT_EQ(plx_buffer_read(b, 100 * 4, back.data(), 4), PLX_OK);
  EXPECT_EQ(back[0], 205);
  // Over the device's memory limit.
  plx_buffer_t* big = nullptr;
  EXPECT_EQ(plx_buffer_create(r.rt, 0, 1 << 20, &big), PLX_ERR_OUT_OF_MEMORY);
  EXPECT_NE(last_error().find("device_memory_limit_bytes"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("(1064960 bytes)"), std::string::npos) << "exact sizes: " << last_error();
  EXPECT_EQ(big, nullptr);
  plx_buffer_destroy(b);
  ASSERT_EQ(plx_buffer_create(r.rt, 0, 1 << 20, &big), PLX_OK) << "freed memory is counted back";
  plx_buffer_destroy(big);
  plx_kernel_destroy(k);
}

TEST(Buffers, KernelsAndBuffersMayBeDestroyedAfterTheirRuntime) {
  plx_runtime_options_t o = device_options("", nullptr, 1 << 20);
  plx_runtime_t* rt = nullptr;
  ASSERT_EQ(plx_runtime_create(&o, &rt), PLX_OK);
  plx_kernel_t* k = make_kernel(rt);
  plx_buffer_t* b = nullptr;
  ASSERT_EQ(plx_buffer_create(rt, 0, 1024, &b), PLX_OK);
  plx_runtime_destroy(rt);
  plx_buffer_destroy(b);  // under ASan: no use after free
  plx_kernel_destroy(k);
}

// ---- bad input -----------------------------------------------------------------

TEST(DeviceBadInput, EveryFunction) {
  Runtime r(device_options("", nullptr, 1 << 20));
  plx_kernel_t* k = nullptr;
  EXPECT_EQ(plx_kernel_create(nullptr, kAxpb, "axpb", nullptr, &k), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_create(r.rt, nullptr, "axpb", nullptr, &k), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_create(r.rt, "", "axpb", nullptr, &k), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, nullptr, nullptr, &k), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", nullptr, nullptr), PLX_ERR_INVALID_ARGUMENT);
  k = make_kernel(r.rt);
  int32_t count = 0, devices[4];
  EXPECT_EQ(plx_kernel_devices(nullptr, devices, 4, &count), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_devices(k, devices, 4, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_devices(k, nullptr, 4, &count), PLX_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(plx_kernel_devices(k, devices, 4, &count), PLX_OK);
  EXPECT_EQ(devices[0], 0);

  Axpb job(100);
  auto run_with = [&](auto change, plx_status_t expected, const std::string& text) {
    plx_rows_desc_t d = job.desc;
    change(d);
    EXPECT_EQ(plx_kernel_run_rows(k, nullptr, &d, nullptr), expected) << text;
    EXPECT_NE(last_error().find(text), std::string::npos) << last_error();
  };
  run_with([](auto& d) { d.rows = -1; }, PLX_ERR_INVALID_ARGUMENT, "rows must be >= 0");
  run_with([](auto& d) { d.output_count = 0; }, PLX_ERR_INVALID_ARGUMENT, "output_count");
  run_with([](auto& d) { d.input_count = 65; }, PLX_ERR_INVALID_ARGUMENT, "input_count");
  run_with([](auto& d) { d.inputs = nullptr; }, PLX_ERR_INVALID_ARGUMENT, "inputs is NULL");
  run_with([](auto& d) { d.outputs = nullptr; }, PLX_ERR_INVALID_ARGUMENT, "outputs is NULL");
  run_with([](auto& d) { d.scalars = nullptr; }, PLX_ERR_INVALID_ARGUMENT, "scalars is NULL");
  run_with([](auto& d) { d.work_items_per_row = 0; }, PLX_ERR_INVALID_ARGUMENT, "work_items_per_row");
  run_with([](auto& d) { d.rows_per_chunk = -2; }, PLX_ERR_INVALID_ARGUMENT, "rows_per_chunk");
  run_with([](auto& d) { d.reserved0 = 1; }, PLX_ERR_INVALID_ARGUMENT, "reserved0");
  run_with([](auto& d) { d.struct_size = 0; }, PLX_ERR_INVALID_ARGUMENT, "struct_size is 0");
  plx_rows_input_t no_data{nullptr, 4, nullptr, nullptr};
  run_with([&](auto& d) { d.inputs = &no_data; }, PLX_ERR_INVALID_ARGUMENT, "neither data nor a provider");
  plx_rows_input_t both{job.x.data(), 4, rows_provider, nullptr};
  run_with([&](auto& d) { d.inputs = &both; }, PLX_ERR_INVALID_ARGUMENT, "both data and a provider");
  plx_rows_input_t zero{job.x.data(), 0, nullptr, nullptr};
  run_with([&](auto& d) { d.inputs = &zero; }, PLX_ERR_INVALID_ARGUMENT, "bytes_per_row must be >= 1");
  plx_rows_input_t huge{job.x.data(), INT64_MAX / 2, nullptr, nullptr};
  run_with([&](auto& d) { d.inputs = &huge; }, PLX_ERR_INVALID_ARGUMENT, "overflows");
  plx_kernel_scalar_t bad_scalar{nullptr, 4};
  run_with(
      [&](auto& d) {
        d.scalars = &bad_scalar;
        d.scalar_count = 1;
      },
      PLX_ERR_INVALID_ARGUMENT, "scalars[0]");
  run_with([](auto& d) { d.scalar_count = 1; }, PLX_ERR_INVALID_ARGUMENT, "long first_row");
  EXPECT_EQ(plx_kernel_run_rows(nullptr, nullptr, &job.desc, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_run_rows(k, nullptr, nullptr, nullptr), PLX_ERR_INVALID_ARGUMENT);

  plx_buffer_t* b = nullptr;
  EXPECT_EQ(plx_buffer_create(r.rt, 0, 0, &b), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_create(r.rt, 99, 16, &b), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("device index 99 is out of range"), std::string::npos);
  EXPECT_EQ(plx_buffer_create(r.rt, -1, 16, &b), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_create(r.rt, 0, 16, nullptr), PLX_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(plx_buffer_create(r.rt, 0, 16, &b), PLX_OK);
  char host[32];
  EXPECT_EQ(plx_buffer_write(b, 8, host, 16), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("outside the buffer of 16 bytes"), std::string::npos);
  EXPECT_EQ(plx_buffer_write(b, -1, host, 1), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_write(b, 0, nullptr, 1), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_read(b, 0, host, -1), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_read(nullptr, 0, host, 1), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_buffer_read(reinterpret_cast<plx_buffer_t*>(k), 0, host, 1), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("not a live plx_buffer_t"), std::string::npos);

  plx_kernel_arg_t arg{PLX_ARG_BUFFER, 0, b, nullptr, 0};
  int64_t g = 4;
  EXPECT_EQ(plx_kernel_run(k, 0, &arg, 1, 0, &g, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_run(k, 0, &arg, 1, 4, &g, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_run(k, 0, &arg, 1, 1, nullptr, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_run(k, 0, nullptr, 1, 1, &g, nullptr), PLX_ERR_INVALID_ARGUMENT);
  int64_t zero_size = 0, three = 3;
  EXPECT_EQ(plx_kernel_run(k, 0, &arg, 1, 1, &zero_size, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_kernel_run(k, 0, &arg, 1, 1, &g, &three), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("divide"), std::string::npos);
  plx_kernel_arg_t bad_kind{7, 0, nullptr, nullptr, 0};
  EXPECT_EQ(plx_kernel_run(k, 0, &bad_kind, 1, 1, &g, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("kind 7"), std::string::npos);
  EXPECT_EQ(plx_kernel_run(k, 5, &arg, 1, 1, &g, nullptr), PLX_ERR_INVALID_ARGUMENT);
  plx_buffer_destroy(b);
  plx_buffer_destroy(nullptr);
  plx_kernel_destroy(k);
  plx_kernel_destroy(nullptr);
}

TEST(Measure, FiguresAreCachedForLaterRuntimes) {
  TempDir dir;
  plx_device_figures_t f;
  f.struct_size = sizeof f;
  {
    Runtime r(device_options(dir.path.c_str()));
    ASSERT_EQ(plx_device_measure(r.rt, 0, 4 << 20, 8 << 20, &f), PLX_OK) << last_error();
    EXPECT_GT(f.h2d_pinned_gbps, 0);
    EXPECT_GT(f.h2d_pageable_gbps, 0);
    EXPECT_GT(f.d2h_pinned_gbps, 0);
    EXPECT_GT(f.device_copy_gbps, 0);
    EXPECT_GT(f.launch_us, 0);
    EXPECT_GT(f.launch_roundtrip_us, 0);
    EXPECT_GT(f.stream_gbps, 0);
    EXPECT_EQ(f.transfer_bytes, 4 << 20);
    EXPECT_EQ(f.stream_bytes, 8 << 20);
    plx_device_figures_t bad = f;
    bad.struct_size = 0;
    EXPECT_EQ(plx_device_measure(r.rt, 0, 0, 0, &bad), PLX_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(plx_device_measure(r.rt, 0, -1, 0, &f), PLX_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(plx_device_measure(r.rt, 0, 0, 0, nullptr), PLX_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(plx_device_measure(r.rt, 42, 0, 0, &f), PLX_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(plx_device_measure(nullptr, 0, 0, 0, &f), PLX_ERR_INVALID_ARGUMENT);
  }
  Runtime later(device_options(dir.path.c_str()));
  plx_device_info_t d;
  d.struct_size = sizeof d;
  ASSERT_EQ(plx_device_info_get(later.rt, 0, &d), PLX_OK);
  EXPECT_EQ(d.measured_gbps, f.stream_gbps);
  // The planner shares work by it: two replicas of one measured device get equal shares.
  Runtime two(device_options(dir.path.c_str(), nullptr, 0, 2));
  plx_workload_t w;
  plx_workload_init(&w, sizeof w);
  w.kind = PLX_WORKLOAD_GPU;
  w.items = 1000;
  w.bytes_per_item = 4096;
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(two.rt, &w, &plan), PLX_OK);
  size_t size = 0;
  ASSERT_EQ(plx_plan_describe_json(plan, nullptr, 0, &size), PLX_OK);
  std::string text(size, '\0');
  ASSERT_EQ(plx_plan_describe_json(plan, text.data(), size, nullptr), PLX_OK);
  EXPECT_NE(text.find("Device shares follow their measured throughput"), std::string::npos) << text;
  plx_plan_destroy(plan);
}

TEST(DeviceBadInput, ProfilesAndCpuOnlyHaveNothingToRunOn) {
  std::string profile = std::string(PLX_SOURCE_DIR) + "/profiles/workstation-32c-128g-1gpu.json";
  plx_runtime_options_t o = device_options();
  o.machine_profile = profile.c_str();
  Runtime r(o);
  plx_buffer_t* b = nullptr;
  EXPECT_EQ(plx_buffer_create(r.rt, 0, 16, &b), PLX_ERR_UNSUPPORTED);
  EXPECT_NE(last_error().find("machine profile"), std::string::npos) << last_error();
  plx_kernel_t* k = nullptr;
  EXPECT_EQ(plx_kernel_create(r.rt, kAxpb, "axpb", nullptr, &k), PLX_ERR_UNSUPPORTED) << last_error();

  plx_runtime_options_t cpu = device_options();
  cpu.device_policy = PLX_DEVICE_CPU_ONLY;
  Runtime c(cpu);
  k = make_kernel(c.rt);
  Axpb job(5000);
  job.with_cpu_fallback();
  ASSERT_EQ(plx_kernel_run_rows(k, nullptr, &job.desc, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(job.wrong(), 0);
  plx_kernel_destroy(k);
}

}  // namespace
