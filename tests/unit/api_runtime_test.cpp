// The runtime and planner through the public API, as a host uses them.
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fake_root.hpp"
#include "parallax.h"

namespace {

using nlohmann::json;

std::string profile(const char* name) { return std::string(PLX_SOURCE_DIR) + "/profiles/" + name; }

struct Runtime {
  plx_runtime_t* rt = nullptr;
  explicit Runtime(const plx_runtime_options_t* o) {
    EXPECT_EQ(plx_runtime_create(o, &rt), PLX_OK) << plx_last_error_message();
  }
  ~Runtime() { plx_runtime_destroy(rt); }
  plx_caps_t caps() const {
    plx_caps_t c;
    c.struct_size = sizeof c;
    EXPECT_EQ(plx_caps_get(rt, &c), PLX_OK) << plx_last_error_message();
    return c;
  }
  json describe() const {
    size_t size = 0;
    EXPECT_EQ(plx_runtime_describe_json(rt, nullptr, 0, &size), PLX_OK);
    std::string text(size, '\0');
    EXPECT_EQ(plx_runtime_describe_json(rt, text.data(), size, nullptr), PLX_OK);
    text.resize(size - 1);
    return json::parse(text);
  }
};

// `profile` is borrowed: it must outlive the runtime's creation.
plx_runtime_options_t options_with_profile(const char* profile) {
  plx_runtime_options_t o;
  EXPECT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.machine_profile = profile;
  return o;
}

plx_workload_t workload(int64_t items, int64_t bytes) {
  plx_workload_t w;
  EXPECT_EQ(plx_workload_init(&w, sizeof w), PLX_OK);
  w.items = items;
  w.bytes_per_item = bytes;
  return w;
}

json plan_json(plx_plan_t* plan) {
  size_t size = 0;
  EXPECT_EQ(plx_plan_describe_json(plan, nullptr, 0, &size), PLX_OK);
  std::string text(size, '\0');
  EXPECT_EQ(plx_plan_describe_json(plan, text.data(), size, nullptr), PLX_OK);
  text.resize(size - 1);
  return json::parse(text);
}

TEST(Runtime, DefaultsDescribeThisMachine) {
  Runtime r(nullptr);
  plx_caps_t c = r.caps();
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(c.cpu_affinity, CPU_COUNT(&set));
  EXPECT_LE(c.cpu_usable, c.cpu_affinity);
  EXPECT_GE(c.cpu_usable, 1);
  EXPECT_GE(c.cpu_physical, 1);
  EXPECT_EQ(c.from_profile, 0);
  EXPECT_GT(c.memory_total_bytes, 0);
  json d = r.describe();
  EXPECT_EQ(d["cpu"]["usable"], c.cpu_usable);
  EXPECT_EQ(d["cpu"]["logical"], c.cpu_logical);
  EXPECT_EQ(d["memory"]["budget_bytes"], c.memory_budget_bytes);
  EXPECT_EQ(d["devices"].size(), static_cast<size_t>(c.device_count));
  EXPECT_TRUE(d["warnings"].is_array());
  EXPECT_EQ(d["parallax_version"], PLX_VERSION_STRING);
  // budget = min(available, limit - usage) x 0.75
  int64_t room = c.memory_available_bytes;
  if (c.memory_limit_bytes != PLX_UNLIMITED)
    room = std::min<int64_t>(room, c.memory_limit_bytes - c.memory_usage_bytes);
  EXPECT_NEAR(static_cast<double>(c.memory_budget_bytes), room * 0.75, 1.0);
}

TEST(Runtime, SysrootOptionReadsTheFixture) {
  plx::test::FakeRoot root;
  root.cpus("0-63", "0-63").meminfo(256 * plx::test::kKiBPerGiB, 200 * plx::test::kKiBPerGiB).v2("/ct");
  root.write("/sys/fs/cgroup/ct/cpu.max", "200000 100000\n");
  root.write("/sys/fs/cgroup/ct/memory.max", std::to_string(2 * plx::test::kGiB) + "\n");
  root.write("/sys/fs/cgroup/ct/memory.current", "0\n");
  plx_runtime_options_t o;
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.sysroot = root.path().c_str();
  o.device_policy = PLX_DEVICE_CPU_ONLY;
  Runtime r(&o);
  plx_caps_t c = r.caps();
  EXPECT_EQ(c.cpu_logical, 64);
  EXPECT_EQ(c.cpu_usable, 2);
  EXPECT_DOUBLE_EQ(c.cpu_quota, 2.0);
  EXPECT_EQ(c.memory_limit_bytes, 2 * plx::test::kGiB);
  EXPECT_EQ(c.memory_budget_bytes, 2 * plx::test::kGiB * 3 / 4);
  EXPECT_EQ(c.cgroup_version, 2);
  EXPECT_EQ(c.device_count, 0) << "CPU_ONLY never touches OpenCL";
}

TEST(Runtime, MemoryFiguresAreReadAgain) {
  plx::test::FakeRoot root;
  root.cpus("0-3", "0-3").meminfo(8 * plx::test::kKiBPerGiB, 6 * plx::test::kKiBPerGiB);
  plx_runtime_options_t o;
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.sysroot = root.path().c_str();
  o.device_policy = PLX_DEVICE_CPU_ONLY;
  const auto created = std::chrono::steady_clock::now();
  Runtime r(&o);
  EXPECT_EQ(r.caps().memory_available_bytes, 6 * plx::test::kGiB);
  root.meminfo(8 * plx::test::kKiBPerGiB, 2 * plx::test::kKiBPerGiB);  // the host used 4 GiB meanwhile
  const int64_t cached = r.caps().memory_available_bytes;
  // Every read so far came after `created`: within a second of it the figure
  // must be the cached one. Past it (a loaded machine under ThreadSanitizer
  // took longer), a re-read is allowed.
  if (std::chrono::steady_clock::now() - created < std::chrono::seconds(1)) {
    EXPECT_EQ(cached, 6 * plx::test::kGiB) << "re-read at most once a second";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(r.caps().memory_available_bytes, 2 * plx::test::kGiB);
  plx_workload_t w = workload(10, 1 << 20);
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_OK);
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  EXPECT_EQ(info.memory_budget_bytes, 2 * plx::test::kGiB * 3 / 4);
  plx_plan_destroy(plan);
}

TEST(Runtime, SysrootEnvironmentVariable) {
  plx::test::FakeRoot root;
  root.cpus("0-3", "1").meminfo(4 * plx::test::kKiBPerGiB, 2 * plx::test::kKiBPerGiB);
  ASSERT_EQ(setenv("PLX_SYSROOT", root.path().c_str(), 1), 0);
  plx_runtime_options_t o;
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.device_policy = PLX_DEVICE_CPU_ONLY;
  plx_caps_t c;
  {
    Runtime r(&o);
    c = r.caps();
  }
  unsetenv("PLX_SYSROOT");
  EXPECT_EQ(c.cpu_logical, 4);
  EXPECT_EQ(c.cpu_usable, 1);
  EXPECT_EQ(c.memory_limit_bytes, PLX_UNLIMITED);
  EXPECT_EQ(c.memory_budget_bytes, 2 * plx::test::kGiB * 3 / 4);
}

TEST(Runtime, ProfileReplacesDetection) {
  std::string path = profile("server-128c-2numa-512g-4gpu.json");
  plx_runtime_options_t o = options_with_profile(path.c_str());
  Runtime r(&o);
  plx_caps_t c = r.caps();
  EXPECT_EQ(c.from_profile, 1);
  EXPECT_EQ(c.cpu_logical, 256);
  EXPECT_EQ(c.cpu_usable, 256);
  EXPECT_EQ(c.numa_nodes, 2);
  EXPECT_EQ(c.device_count, 4);
  plx_device_info_t d;
  d.struct_size = sizeof d;
  ASSERT_EQ(plx_device_info_get(r.rt, 3, &d), PLX_OK);
  EXPECT_STREQ(d.name, "NVIDIA H100 80GB HBM3");
  EXPECT_STREQ(d.platform, "NVIDIA CUDA");
  EXPECT_EQ(d.type, PLX_DEVICE_TYPE_GPU);
  EXPECT_EQ(d.global_memory_bytes, int64_t{80} << 30);
  EXPECT_EQ(d.max_alloc_bytes, int64_t{20} << 30);
  EXPECT_EQ(d.simulated, 1);
  EXPECT_EQ(d.usable, 1);
  EXPECT_EQ(d.index, 3);
  json desc = r.describe();
  EXPECT_NE(desc["source"].get<std::string>().find("server-128c"), std::string::npos);
}

TEST(Runtime, InlineProfileAndDeviceFilter) {
  plx_runtime_options_t o = options_with_profile(
      R"({"cpu": {"logical": 8}, "memory": {"total_bytes": 17179869184},
          "devices": [{"name": "Radeon Pro W7900", "vendor": "AMD", "global_memory_bytes": 51539607552},
                      {"name": "pthread-cpu", "type": "cpu", "platform": "Portable Computing Language",
                       "global_memory_bytes": 8589934592}]})");
  o.device_filter = "RADEON";
  Runtime r(&o);
  plx_device_info_t d;
  d.struct_size = sizeof d;
  ASSERT_EQ(plx_device_info_get(r.rt, 0, &d), PLX_OK);
  EXPECT_EQ(d.usable, 1);
  ASSERT_EQ(plx_device_info_get(r.rt, 1, &d), PLX_OK);
  EXPECT_EQ(d.usable, 0);
  EXPECT_EQ(d.max_alloc_bytes, int64_t{2} << 30) << "max allocation defaults to a quarter of the memory";
}

TEST(Runtime, GpuRequiredWithoutAMatchingDevice) {
  std::string laptop = profile("laptop-8c-16g.json");
  plx_runtime_options_t o = options_with_profile(laptop.c_str());
  o.device_policy = PLX_DEVICE_GPU_REQUIRED;
  plx_runtime_t* rt = nullptr;
  EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_ERR_NO_DEVICE);
  EXPECT_EQ(rt, nullptr);
  EXPECT_NE(std::string(plx_last_error_message()).find("GPU_REQUIRED"), std::string::npos);

  std::string ws = profile("workstation-32c-128g-1gpu.json");
  o = options_with_profile(ws.c_str());
  o.device_policy = PLX_DEVICE_GPU_REQUIRED;
  o.device_filter = "no-such-device";
  EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_ERR_NO_DEVICE);
  EXPECT_NE(std::string(plx_last_error_message()).find("no-such-device"), std::string::npos);
  EXPECT_NE(std::string(plx_last_error_message()).find("RTX 4090"), std::string::npos)
      << "the message lists what was found";
  o.device_filter = "4090";
  Runtime ok(&o);
  EXPECT_NE(ok.rt, nullptr);
}

TEST(Runtime, PlanThroughTheApi) {
  std::string path = profile("container-64c-quota2-2g.json");
  plx_runtime_options_t o = options_with_profile(path.c_str());
  Runtime r(&o);
  plx_workload_t w = workload(13000, 24883200);
  w.name = "seestar";
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_OK) << plx_last_error_message();
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  EXPECT_LE(info.cpu_workers, 2);
  EXPECT_EQ(info.streaming, 1);
  EXPECT_LE(info.max_chunk_bytes * info.cpu_workers, int64_t{3} << 30 >> 1);  // 0.75 x 2 GiB
  EXPECT_EQ(info.items_per_chunk, 32);
  EXPECT_EQ(info.use_gpu, 0);
  EXPECT_EQ(info.device_count, 0);
  json p = plan_json(plan);
  EXPECT_EQ(p["workload"]["name"], "seestar");
  EXPECT_EQ(p["cpu_workers"], info.cpu_workers);
  EXPECT_EQ(p["max_chunk_bytes"], info.max_chunk_bytes);
  EXPECT_FALSE(p["reasons"].empty());
  plx_plan_destroy(plan);
}

TEST(Runtime, PlanOutlivesItsRuntime) {
  std::string path = profile("workstation-32c-128g-1gpu.json");
  plx_runtime_options_t o = options_with_profile(path.c_str());
  plx_runtime_t* rt = nullptr;
  ASSERT_EQ(plx_runtime_create(&o, &rt), PLX_OK);
  plx_workload_t w = workload(13000, 24883200);
  w.kind = PLX_WORKLOAD_MIXED;
  w.layout = PLX_LAYOUT_ROWS_ACROSS_ITEMS;
  w.rows = 1080;
  w.bytes_per_row = 23040;
  w.working_set_factor = 3;
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(rt, &w, &plan), PLX_OK) << plx_last_error_message();
  plx_runtime_destroy(rt);
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  EXPECT_EQ(info.use_gpu, 1);
  EXPECT_EQ(info.gpu_rows_per_chunk, 5);
  plx_plan_device_t d;
  d.struct_size = sizeof d;
  ASSERT_EQ(plx_plan_device_get(plan, 0, &d), PLX_OK);
  EXPECT_EQ(d.device_index, 0);
  EXPECT_EQ(d.rows_per_chunk, 5);
  EXPECT_EQ(d.chunk_bytes, 5LL * 23040 * 13000);
  EXPECT_EQ(d.reserved0, 0);
  EXPECT_EQ(plan_json(plan)["devices"][0]["name"], "NVIDIA GeForce RTX 4090");
  plx_plan_destroy(plan);
}

struct LogCapture {
  std::mutex mutex;
  std::vector<std::pair<plx_log_level_t, std::string>> lines;
  static void sink(void* user, plx_log_level_t level, const char* message) {
    auto* self = static_cast<LogCapture*>(user);
    std::lock_guard lock(self->mutex);
    self->lines.emplace_back(level, message);
  }
  int count(const std::string& text) {
    int n = 0;
    for (auto& [level, line] : lines) n += line.find(text) != std::string::npos;
    return n;
  }
};

TEST(Runtime, LogCallbackGetsSummaries) {
  LogCapture log;
  std::string path = profile("tiny-2c-4g.json");
  plx_runtime_options_t o = options_with_profile(path.c_str());
  o.log_callback = LogCapture::sink;
  o.log_user_data = &log;
  {
    Runtime r(&o);
    plx_workload_t w = workload(100, 1 << 20);
    w.name = "calibrate";
    plx_plan_t* plan = nullptr;
    ASSERT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_OK);
    plx_plan_destroy(plan);
  }
  ASSERT_EQ(log.count("\"event\":\"runtime_summary\""), 1);
  ASSERT_EQ(log.count("parallel_plan_summary"), 1);
  for (auto& [level, line] : log.lines) {
    if (line.find("parallel_plan_summary") == std::string::npos) continue;
    EXPECT_EQ(level, PLX_LOG_INFO);
    json summary = json::parse(line);
    EXPECT_EQ(summary["workload"], "calibrate");
    EXPECT_EQ(summary["cpu_workers"], 2);
    EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  }

  LogCapture quiet;
  o.log_user_data = &quiet;
  o.log_level = PLX_LOG_WARN;
  { Runtime r(&o); }
  EXPECT_TRUE(quiet.lines.empty());
}

TEST(Runtime, WarningsAreLogged) {
  plx::test::FakeRoot root;
  root.cpus("0-3", "0-3").meminfo(4 * plx::test::kKiBPerGiB, 2 * plx::test::kKiBPerGiB).v2("/x");
  root.write("/sys/fs/cgroup/x/cpu.max", "nonsense\n");
  LogCapture log;
  plx_runtime_options_t o;
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.sysroot = root.path().c_str();
  o.device_policy = PLX_DEVICE_CPU_ONLY;
  o.log_callback = LogCapture::sink;
  o.log_user_data = &log;
  o.log_level = PLX_LOG_WARN;
  Runtime r(&o);
  ASSERT_EQ(log.count("cpu.max"), 1);
  EXPECT_EQ(log.lines[0].first, PLX_LOG_WARN);
  EXPECT_EQ(r.describe()["warnings"].size(), 1u);
}

TEST(Runtime, OutOfMemoryPlanSaysWhy) {
  std::string path = profile("tiny-2c-4g.json");
  plx_runtime_options_t o = options_with_profile(path.c_str());
  Runtime r(&o);
  plx_workload_t w = workload(10, 1 << 20);
  w.per_worker_bytes = int64_t{3} << 30;
  plx_plan_t* plan = nullptr;
  EXPECT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_ERR_OUT_OF_MEMORY);
  std::string message = plx_last_error_message();
  EXPECT_NE(message.find("plx_plan_create"), std::string::npos) << message;
  EXPECT_NE(message.find("2.25 GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("ram_fraction"), std::string::npos) << message;
}

// Many runtimes at once, from many threads; and one runtime shared by many
// threads, including the first (lazy) device discovery.
TEST(Runtime, ConcurrentUse) {
  std::string path = profile("workstation-32c-128g-1gpu.json");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        plx_runtime_options_t o = options_with_profile(path.c_str());
        plx_runtime_t* rt = nullptr;
        if (plx_runtime_create(&o, &rt) != PLX_OK) {
          ++failures;
          continue;
        }
        plx_workload_t w = workload(1000, 1 << 20);
        w.kind = PLX_WORKLOAD_MIXED;
        plx_plan_t* plan = nullptr;
        plx_plan_info_t info;
        info.struct_size = sizeof info;
        if (plx_plan_create(rt, &w, &plan) != PLX_OK || plx_plan_get(plan, &info) != PLX_OK || info.cpu_workers != 63)
          ++failures;
        plx_plan_destroy(plan);
        plx_runtime_destroy(rt);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);

  plx_runtime_options_t o;
  ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  Runtime shared(&o);
  threads.clear();
  std::atomic<int> device_counts{-1};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        plx_caps_t c;
        c.struct_size = sizeof c;
        if (plx_caps_get(shared.rt, &c) != PLX_OK) ++failures;
        int expected = -1;
        if (!device_counts.compare_exchange_strong(expected, c.device_count) && expected != c.device_count) ++failures;
        plx_workload_t w = workload(100 + t, 1 << 20);
        w.kind = (t % 2) ? PLX_WORKLOAD_GPU : PLX_WORKLOAD_CPU;
        plx_plan_t* plan = nullptr;
        if (plx_plan_create(shared.rt, &w, &plan) != PLX_OK) ++failures;
        plx_plan_destroy(plan);
        size_t size = 0;
        if (plx_runtime_describe_json(shared.rt, nullptr, 0, &size) != PLX_OK) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
