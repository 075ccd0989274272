// The executor through the public API: loops, deterministic reductions,
// admission-controlled tasks with retries, progress, cancellation, jobs and
// fault injection. Also run under ThreadSanitizer (make test-tsan).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "last_error.hpp"
#include "parallax.h"
#include "usable_cpus.hpp"

namespace {

using Clock = std::chrono::steady_clock;

plx_runtime_t* make_runtime(const char* faults = nullptr, plx_log_fn log = nullptr, void* log_user = nullptr) {
  plx_runtime_options_t o;
  EXPECT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
  o.device_policy = PLX_DEVICE_CPU_ONLY;
  o.fault_injection = faults;
  o.log_callback = log;
  o.log_user_data = log_user;
  plx_runtime_t* rt = nullptr;
  EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_OK) << plx_last_error_message();
  return rt;
}

struct Runtime {
  plx_runtime_t* rt;
  explicit Runtime(const char* faults = nullptr, plx_log_fn log = nullptr, void* user = nullptr)
      : rt(make_runtime(faults, log, user)) {}
  ~Runtime() { plx_runtime_destroy(rt); }
};

plx_run_options_t options(int workers = 0, int64_t grain = 0) {
  plx_run_options_t o;
  EXPECT_EQ(plx_run_options_init(&o, sizeof o), PLX_OK);
  o.workers = workers;
  o.grain = grain;
  return o;
}

// ---- parallel_for -----------------------------------------------------------

struct Coverage {
  std::vector<std::atomic<int>> hits;
  std::atomic<int> bad_worker{0};
  int workers;
  Coverage(int64_t n, int w) : hits(static_cast<size_t>(n)), workers(w) {}
  static int body(int64_t lo, int64_t hi, int32_t worker, void* user) {
    auto* c = static_cast<Coverage*>(user);
    if (worker < 0 || worker >= c->workers) c->bad_worker++;
    for (int64_t i = lo; i < hi; ++i) c->hits[static_cast<size_t>(i)]++;
    return 0;
  }
};

TEST(ParallelFor, EveryIndexExactlyOnceForAnyWorkers) {
  Runtime r;
  for (int workers : {1, 2, 3, 8}) {
    for (int64_t grain : {0, 1, 7, 1000}) {
      Coverage c(10007, workers);
      plx_run_options_t o = options(workers, grain);
      plx_run_report_t report;
      report.struct_size = sizeof report;
      o.report = &report;
      ASSERT_EQ(plx_parallel_for(r.rt, nullptr, 0, 10007, Coverage::body, &c, &o), PLX_OK) << last_error();
      for (size_t i = 0; i < c.hits.size(); ++i) ASSERT_EQ(c.hits[i].load(), 1) << "index " << i;
      EXPECT_EQ(c.bad_worker.load(), 0);
      EXPECT_EQ(report.workers, workers);
      EXPECT_GE(report.threads, 1);
      EXPECT_LE(report.peak_concurrency, std::max(1, workers));
      EXPECT_EQ(report.failed, 0);
      EXPECT_EQ(report.failed_begin, -1);
      if (grain > 0) {
        EXPECT_EQ(report.chunks, (10007 + grain - 1) / grain);
      }
    }
  }
}

TEST(ParallelFor, OffsetAndEmptyRanges) {
  Runtime r;
  struct Sum {
    std::atomic<int64_t> total{0};
    static int body(int64_t lo, int64_t hi, int32_t, void* user) {
      int64_t s = 0;
      for (int64_t i = lo; i < hi; ++i) s += i;
      static_cast<Sum*>(user)->total += s;
      return 0;
    }
  } sum;
  ASSERT_EQ(plx_parallel_for(r.rt, nullptr, -500, 1500, Sum::body, &sum, nullptr), PLX_OK);
  EXPECT_EQ(sum.total.load(), (1499 * 1500 / 2) - (500 * 501 / 2));
  sum.total = 0;
  ASSERT_EQ(plx_parallel_for(r.rt, nullptr, 42, 42, Sum::body, &sum, nullptr), PLX_OK);
  EXPECT_EQ(sum.total.load(), 0);
}

TEST(ParallelFor, ChunksComeFromThePlan) {
  Runtime r;
  plx_workload_t w;
  ASSERT_EQ(plx_workload_init(&w, sizeof w), PLX_OK);
  w.items = 1000;
  w.bytes_per_item = 1;
  plx_plan_t* plan = nullptr;
  ASSERT_EQ(plx_plan_create(r.rt, &w, &plan), PLX_OK);
  plx_plan_info_t info;
  info.struct_size = sizeof info;
  ASSERT_EQ(plx_plan_get(plan, &info), PLX_OK);
  struct Sizes {
    std::mutex m;
    std::vector<int64_t> sizes;
    static int body(int64_t lo, int64_t hi, int32_t, void* user) {
      auto* s = static_cast<Sizes*>(user);
      std::lock_guard lock(s->m);
      s->sizes.push_back(hi - lo);
      return 0;
    }
  } sizes;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  plx_run_options_t o = options();
  o.report = &report;
  ASSERT_EQ(plx_parallel_for(r.rt, plan, 0, 1000, Sizes::body, &sizes, &o), PLX_OK);
  EXPECT_EQ(report.workers, info.cpu_workers);
  EXPECT_EQ(*std::max_element(sizes.sizes.begin(), sizes.sizes.end()), info.items_per_chunk);
  EXPECT_EQ(static_cast<int64_t>(sizes.sizes.size()), (1000 + info.items_per_chunk - 1) / info.items_per_chunk);
  plx_plan_destroy(plan);
}

TEST(ParallelFor, NonZeroReturnStopsAndNamesTheFirstFailingRange) {
  Runtime r;
  struct Fail {
    std::atomic<int> calls{0};
    static int body(int64_t lo, int64_t, int32_t, void* user) {
      static_cast<Fail*>(user)->calls++;
      return lo == 300 ? 42 : 0;
    }
  } f;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  plx_run_options_t o = options(1, 100);
  o.report = &report;
  o.name = "calibrate";
  EXPECT_EQ(plx_parallel_for(r.rt, nullptr, 0, 10000, Fail::body, &f, &o), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("calibrate: the callback returned 42 for items [300, 400) on worker 0"),
            std::string::npos)
      << last_error();
  EXPECT_EQ(f.calls.load(), 4) << "with one worker the loop stops right after the failing chunk";
  EXPECT_EQ(report.failed_begin, 300);
  EXPECT_EQ(report.failed_end, 400);
  EXPECT_EQ(report.callback_code, 42);
  EXPECT_EQ(report.failed, 1);
}

int throwing_body(int64_t lo, int64_t, int32_t, void*) {
  if (lo >= 50) throw std::runtime_error("disk full");
  return 0;
}

TEST(ParallelFor, AThrowingCallbackIsAFailureNotACrash) {
  Runtime r;
  plx_run_options_t o = options(2, 10);
  EXPECT_EQ(plx_parallel_for(r.rt, nullptr, 0, 1000, throwing_body, nullptr, &o), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("disk full"), std::string::npos) << last_error();
}

// Running out of memory is said as such (the library's own loops allocate in
// their bodies: co-addition's MEDIAN samples), not as a failing callback.
TEST(ParallelFor, BadAllocIsOutOfMemory) {
  Runtime r;
  plx_run_options_t o = options(2, 10);
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  auto body = [](int64_t lo, int64_t, int32_t, void*) -> int {
    if (lo >= 50) throw std::bad_alloc();
    return 0;
  };
  EXPECT_EQ(plx_parallel_for(r.rt, nullptr, 0, 1000, body, nullptr, &o), PLX_ERR_OUT_OF_MEMORY);
  EXPECT_NE(last_error().find("out of memory for items [50, 60)"), std::string::npos) << last_error();
  EXPECT_EQ(report.failed_begin, 50);
}

// ---- reductions -------------------------------------------------------------

std::vector<double> noisy_values(size_t n) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng) * std::pow(10.0, static_cast<int>(rng() % 20) - 10);
  return v;
}

int sum_range(int64_t lo, int64_t hi, int32_t, void* partial, void* user) {
  const auto& v = *static_cast<const std::vector<double>*>(user);
  double s = 0;
  for (int64_t i = lo; i < hi; ++i) s += v[static_cast<size_t>(i)];
  *static_cast<double*>(partial) += s;
  return 0;
}

TEST(ParallelReduce, BitIdenticalForAnyWorkersAndRuns) {
  Runtime r;
  auto values = noisy_values(1'000'003);
  plx_reduce_desc_t d;
  ASSERT_EQ(plx_reduce_desc_init(&d, sizeof d), PLX_OK);
  d.range = sum_range;
  d.user_data = &values;
  double first = 0;
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 1'000'003, &d, &first, nullptr), PLX_OK) << last_error();
  for (int workers : {1, 2, 3, 8})
    for (int run = 0; run < 3; ++run) {
      double result = -1;
      plx_run_options_t o = options(workers);
      ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 1'000'003, &d, &result, &o), PLX_OK);
      ASSERT_EQ(std::memcmp(&result, &first, sizeof result), 0) << workers << " workers: " << result << " vs " << first;
    }
  // And close to the exact sum (pairwise combining of partials).
  long double exact = 0;
  for (double x : values) exact += x;
  EXPECT_NEAR(first, static_cast<double>(exact), 1e-9 * std::fabs(static_cast<double>(exact)) + 1e-12);
}

TEST(ParallelReduce, FloatAndInt64Sums) {
  Runtime r;
  plx_reduce_desc_t d;
  ASSERT_EQ(plx_reduce_desc_init(&d, sizeof d), PLX_OK);
  d.op = PLX_REDUCE_SUM_INT64;
  d.range = [](int64_t lo, int64_t hi, int32_t, void* partial, void*) {
    for (int64_t i = lo; i < hi; ++i) *static_cast<int64_t*>(partial) += i;
    return 0;
  };
  int64_t isum = 0;
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 1 << 20, &d, &isum, nullptr), PLX_OK);
  EXPECT_EQ(isum, (int64_t{1} << 20) * ((int64_t{1} << 20) - 1) / 2);

  d.op = PLX_REDUCE_SUM_FLOAT;
  d.range = [](int64_t lo, int64_t hi, int32_t, void* partial, void*) {
    for (int64_t i = lo; i < hi; ++i) *static_cast<float*>(partial) += 0.1f * static_cast<float>(i % 7);
    return 0;
  };
  float f1 = 0, f8 = 0;
  plx_run_options_t o1 = options(1), o8 = options(8);
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 100000, &d, &f1, &o1), PLX_OK);
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 100000, &d, &f8, &o8), PLX_OK);
  EXPECT_EQ(std::memcmp(&f1, &f8, sizeof f1), 0);

  // Empty range: the identity.
  d.op = PLX_REDUCE_SUM_DOUBLE;
  double empty = 123;
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 5, 5, &d, &empty, nullptr), PLX_OK);
  EXPECT_EQ(empty, 0.0);
}

struct MinMax {
  double min, max;
  int64_t count;
};

TEST(ParallelReduce, CustomCombine) {
  Runtime r;
  auto values = noisy_values(50000);
  plx_reduce_desc_t d;
  ASSERT_EQ(plx_reduce_desc_init(&d, sizeof d), PLX_OK);
  d.op = PLX_REDUCE_CUSTOM;
  d.value_size = sizeof(MinMax);
  MinMax identity{INFINITY, -INFINITY, 0};
  d.identity = &identity;
  d.user_data = &values;
  d.range = [](int64_t lo, int64_t hi, int32_t, void* partial, void* user) {
    const auto& v = *static_cast<const std::vector<double>*>(user);
    auto* p = static_cast<MinMax*>(partial);
    for (int64_t i = lo; i < hi; ++i) {
      p->min = std::min(p->min, v[static_cast<size_t>(i)]);
      p->max = std::max(p->max, v[static_cast<size_t>(i)]);
      p->count++;
    }
    return 0;
  };
  d.combine = [](void* acc, const void* part, void*) {
    auto* a = static_cast<MinMax*>(acc);
    const auto* b = static_cast<const MinMax*>(part);
    a->min = std::min(a->min, b->min);
    a->max = std::max(a->max, b->max);
    a->count += b->count;
    return 0;
  };
  d.grain = 333;
  MinMax out{};
  ASSERT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 50000, &d, &out, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(out.min, *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(out.max, *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(out.count, 50000);

  d.combine = [](void*, const void*, void*) { return 9; };
  EXPECT_EQ(plx_parallel_reduce(r.rt, nullptr, 0, 50000, &d, &out, nullptr), PLX_ERR_TASK_FAILED);
  EXPECT_NE(last_error().find("combine function returned 9"), std::string::npos) << last_error();
}

// ---- tasks ------------------------------------------------------------------

struct TaskProbe {
  std::atomic<int64_t> admitted{0};
  std::atomic<int64_t> peak_admitted{0};  // of the tasks below big_bytes
  std::atomic<int> running{0};
  std::atomic<int> peak_running{0};
  std::atomic<int> alone_violations{0};
  std::vector<std::atomic<int>> calls;
  int64_t big_bytes = INT64_MAX;
  explicit TaskProbe(size_t n) : calls(n) {}
};

plx_status_t probe_task(plx_task_context_t* ctx, void* user) {
  auto* p = static_cast<TaskProbe*>(user);
  p->calls[static_cast<size_t>(ctx->index)]++;
  int64_t now = p->admitted += ctx->estimated_bytes;
  int64_t seen = p->peak_admitted.load();
  while (ctx->estimated_bytes < p->big_bytes && now > seen && !p->peak_admitted.compare_exchange_weak(seen, now)) {
  }
  int running = ++p->running;
  int peak = p->peak_running.load();
  while (running > peak && !p->peak_running.compare_exchange_weak(peak, running)) {
  }
  if (ctx->estimated_bytes >= p->big_bytes && running != 1) p->alone_violations++;
  std::this_thread::sleep_for(std::chrono::microseconds(200 + 50 * (ctx->index % 7)));
  if (ctx->estimated_bytes >= p->big_bytes && p->running.load() != 1) p->alone_violations++;
  --p->running;
  p->admitted -= ctx->estimated_bytes;
  return PLX_OK;
}

std::vector<plx_task_t> make_tasks(size_t n, plx_task_fn fn, void* user, int64_t bytes = 0) {
  std::vector<plx_task_t> tasks(n);
  for (auto& t : tasks) t = plx_task_t{sizeof(plx_task_t), fn, user, bytes, nullptr};
  return tasks;
}

std::vector<plx_task_result_t> make_results(size_t n) {
  std::vector<plx_task_result_t> results(n);
  for (auto& r : results) {
    std::memset(&r, 0x5A, sizeof r);
    r.struct_size = sizeof r;
  }
  return results;
}

TEST(Tasks, AdmissionNeverExceedsTheBudget) {
  Runtime r;
  const int64_t MiB = 1 << 20;
  TaskProbe probe(200);
  probe.big_bytes = 200 * MiB;
  auto tasks = make_tasks(200, probe_task, &probe);
  for (size_t i = 0; i < tasks.size(); ++i) tasks[i].estimated_bytes = (1 + static_cast<int64_t>(i % 5)) * 10 * MiB;
  tasks[77].estimated_bytes = 300 * MiB;  // larger than the whole budget: runs alone
  auto results = make_results(tasks.size());
  plx_run_options_t o = options(8);
  o.memory_budget_bytes = 100 * MiB;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 200, &o, results.data()), PLX_OK) << last_error();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status, PLX_OK) << i;
    EXPECT_EQ(results[i].attempts, 1);
    EXPECT_STREQ(results[i].message, "");
    EXPECT_EQ(probe.calls[i].load(), 1);
  }
  EXPECT_EQ(probe.alone_violations.load(), 0);
  EXPECT_EQ(report.peak_admitted_bytes, 300 * MiB) << "the big task alone";
  EXPECT_LE(probe.peak_admitted.load(), 100 * MiB) << "the others never together beyond the budget";
  if (usable_cpus() >= 2) {
    EXPECT_GE(probe.peak_admitted.load(), 60 * MiB) << "and they did run together";
  }
  EXPECT_LE(report.peak_concurrency, 8);
  EXPECT_GE(report.peak_concurrency, 1);
}

TEST(Tasks, AdmissionBoundsConcurrentMemory) {
  Runtime r;
  const int64_t MiB = 1 << 20;
  TaskProbe probe(100);
  auto tasks = make_tasks(100, probe_task, &probe, 60 * MiB);
  auto results = make_results(100);
  plx_run_options_t o = options(8);
  o.memory_budget_bytes = 100 * MiB;  // one task at a time, though threads are free
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 100, &o, results.data()), PLX_OK) << last_error();
  EXPECT_EQ(probe.peak_admitted.load(), 60 * MiB);
  EXPECT_EQ(probe.peak_running.load(), 1);
}

struct Flaky {
  std::vector<std::atomic<int>> attempts;
  int fail_until;        // attempts <= this fail
  plx_status_t status;   // with this
  int64_t report_bytes;  // and report this
  std::vector<Clock::time_point> starts;
  std::mutex m;
  Flaky(size_t n, int until, plx_status_t s, int64_t bytes = 0)
      : attempts(n), fail_until(until), status(s), report_bytes(bytes) {}
};

plx_status_t flaky_task(plx_task_context_t* ctx, void* user) {
  auto* f = static_cast<Flaky*>(user);
  int attempt = ++f->attempts[static_cast<size_t>(ctx->index)];
  EXPECT_EQ(attempt, ctx->attempt);
  {
    std::lock_guard lock(f->m);
    f->starts.push_back(Clock::now());
  }
  if (ctx->index == 0 && attempt <= f->fail_until) {
    std::snprintf(ctx->message, sizeof ctx->message, "attempt %d ran out", attempt);
    ctx->reported_bytes = f->report_bytes;
    return f->status;
  }
  return PLX_OK;
}

TEST(Tasks, OutOfMemoryIsRetriedWithBackoff) {
  Runtime r;
  Flaky f(1, 2, PLX_ERR_OUT_OF_MEMORY);
  auto tasks = make_tasks(1, flaky_task, &f, 1000);
  auto results = make_results(1);
  plx_run_options_t o = options(4);
  o.backoff_base_s = 0.02;
  o.jitter_seed = 1;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 1, &o, results.data()), PLX_OK) << last_error();
  EXPECT_EQ(results[0].status, PLX_OK);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(report.retries, 2);
  EXPECT_EQ(report.chunks, 3);
  ASSERT_EQ(f.starts.size(), 3u);
  // Backoff: base x 2^(attempt-1) x [0.5, 1]: >= 10 ms, then >= 20 ms.
  EXPECT_GE(f.starts[1] - f.starts[0], std::chrono::milliseconds(10));
  EXPECT_GE(f.starts[2] - f.starts[1], std::chrono::milliseconds(20));
  EXPECT_LT(f.starts[2] - f.starts[0], std::chrono::milliseconds(2000));
}

TEST(Tasks, RetriesStopAtMaxAttempts) {
  Runtime r;
  Flaky f(3, 100, PLX_ERR_OUT_OF_MEMORY);
  auto tasks = make_tasks(3, flaky_task, &f, 4096);
  tasks[0].name = "mosaic tile 0";
  auto results = make_results(3);
  plx_run_options_t o = options(2);
  o.backoff_base_s = 0.001;
  o.max_attempts = 4;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 3, &o, results.data()), PLX_ERR_TASK_FAILED);
  EXPECT_EQ(results[0].status, PLX_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(results[0].attempts, 4);
  EXPECT_NE(std::string(results[0].message).find("out of memory on all 4 attempts"), std::string::npos)
      << results[0].message;
  EXPECT_NE(std::string(results[0].message).find("attempt 4 ran out"), std::string::npos) << results[0].message;
  EXPECT_EQ(results[1].status, PLX_OK);
  EXPECT_EQ(results[2].status, PLX_OK);
  EXPECT_NE(last_error().find("1 of 3 tasks failed"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("mosaic tile 0"), std::string::npos) << last_error();
}

TEST(Tasks, AWrongEstimateIsRetriedWithTheReportedSize) {
  Runtime r;
  Flaky f(1, 1, PLX_ERR_TASK_FAILED, 5000);  // fails once, saying it needed 5000 bytes
  auto tasks = make_tasks(1, flaky_task, &f, 1000);
  auto results = make_results(1);
  plx_run_options_t o = options(1);
  o.backoff_base_s = 0.001;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 1, &o, results.data()), PLX_OK) << last_error();
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(report.peak_admitted_bytes, 5000) << "the retry was admitted with the reported size";
}

TEST(Tasks, OtherFailuresAreNotRetried) {
  Runtime r;
  Flaky f(2, 100, PLX_ERR_IO);
  auto tasks = make_tasks(2, flaky_task, &f);
  auto results = make_results(2);
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 2, nullptr, results.data()), PLX_ERR_TASK_FAILED);
  EXPECT_EQ(results[0].status, PLX_ERR_IO);
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_STREQ(results[0].message, "attempt 1 ran out");
  EXPECT_EQ(results[1].status, PLX_OK);
}

plx_status_t fail_odd(plx_task_context_t* ctx, void*) {
  if (ctx->index % 2 == 1) {
    std::snprintf(ctx->message, sizeof ctx->message, "odd %lld", static_cast<long long>(ctx->index));
    return PLX_ERR_TASK_FAILED;
  }
  return PLX_OK;
}

TEST(Tasks, RunAllKeepsGoingAndReportsEveryTask) {
  Runtime r;
  auto tasks = make_tasks(101, fail_odd, nullptr);
  auto results = make_results(101);
  plx_run_options_t o = options(3);
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 101, &o, results.data()), PLX_ERR_TASK_FAILED);
  for (int i = 0; i < 101; ++i) {
    EXPECT_EQ(results[i].status, i % 2 ? PLX_ERR_TASK_FAILED : PLX_OK) << i;
    EXPECT_EQ(results[i].attempts, 1);
    if (i % 2) {
      EXPECT_EQ(std::string(results[i].message), "odd " + std::to_string(i));
    }
  }
  EXPECT_EQ(report.failed, 50);
  EXPECT_NE(last_error().find("50 of 101 tasks failed (first: task 1"), std::string::npos) << last_error();
}

TEST(Tasks, FailFastStartsNothingAfterAFailure) {
  Runtime r;
  auto tasks = make_tasks(50, fail_odd, nullptr);
  auto results = make_results(50);
  plx_run_options_t o = options(1);  // one worker: the order is the index order
  o.fail_fast = 1;
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 50, &o, results.data()), PLX_ERR_TASK_FAILED);
  EXPECT_EQ(results[0].status, PLX_OK);
  EXPECT_EQ(results[1].status, PLX_ERR_TASK_FAILED);
  for (int i = 2; i < 50; ++i) {
    EXPECT_EQ(results[i].status, PLX_ERR_CANCELLED) << i;
    EXPECT_EQ(results[i].attempts, 0);
    EXPECT_NE(std::string(results[i].message).find("fail_fast after task 1 failed"), std::string::npos)
        << results[i].message;
  }
  EXPECT_NE(last_error().find("48 did not start"), std::string::npos) << last_error();
}

struct LogLines {
  std::mutex m;
  std::vector<std::string> lines;
  static void fn(void* user, plx_log_level_t, const char* message) {
    auto* l = static_cast<LogLines*>(user);
    std::lock_guard lock(l->m);
    l->lines.emplace_back(message);
  }
  std::vector<std::string> matching(const std::string& text) {
    std::vector<std::string> out;
    for (auto& line : lines)
      if (line.find(text) != std::string::npos) out.push_back(line);
    return out;
  }
};

TEST(Tasks, ConcurrencyHalvesOnOutOfMemoryAndGrowsBack) {
  LogLines log;
  Runtime r(nullptr, LogLines::fn, &log);
  // Task 0 runs out of memory once. The others wait for that (up to 10 s), so
  // the limit has tasks left to grow back on however the lanes are scheduled:
  // on a busy machine, the other lanes could otherwise finish all 59 first.
  std::atomic<bool> failed{false};
  auto fn = [](plx_task_context_t* ctx, void* user) -> plx_status_t {
    auto* first_failed = static_cast<std::atomic<bool>*>(user);
    if (ctx->index == 0 && ctx->attempt == 1) {
      first_failed->store(true);
      return PLX_ERR_OUT_OF_MEMORY;
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!first_failed->load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    return PLX_OK;
  };
  auto tasks = make_tasks(60, fn, &failed);
  auto results = make_results(60);
  plx_run_options_t o = options(4);
  o.backoff_base_s = 0.001;
  o.grow_after = 2;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 60, &o, results.data()), PLX_OK) << last_error();
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(report.retries, 1);
  auto halved = log.matching("with the concurrency limit at 2");
  EXPECT_EQ(halved.size(), 1u);
  EXPECT_EQ(log.matching("concurrency limit back to 3").size(), 1u);
  EXPECT_EQ(log.matching("concurrency limit back to 4").size(), 1u);
  EXPECT_EQ(log.matching("concurrency limit back to 5").size(), 0u) << "never above the initial limit";
}

TEST(Tasks, ThrowingTaskIsAFailureNotACrash) {
  Runtime r;
  auto fn = [](plx_task_context_t*, void*) -> plx_status_t { throw std::runtime_error("bad frame header"); };
  auto tasks = make_tasks(3, fn, nullptr);
  auto results = make_results(3);
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 3, nullptr, results.data()), PLX_ERR_TASK_FAILED);
  EXPECT_NE(std::string(results[1].message).find("bad frame header"), std::string::npos);
}

TEST(Tasks, ZeroTasksIsFine) {
  Runtime r;
  EXPECT_EQ(plx_tasks_run(r.rt, nullptr, 0, nullptr, nullptr), PLX_OK);
}

// ---- fault injection ----------------------------------------------------------

TEST(FaultInjection, TaskFailsOnChosenAttempts) {
  Runtime r("task=7@1-2:out_of_memory");
  TaskProbe probe(10);
  auto tasks = make_tasks(10, probe_task, &probe);
  auto results = make_results(10);
  plx_run_options_t o = options(2);
  o.backoff_base_s = 0.001;
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 10, &o, results.data()), PLX_OK) << last_error();
  EXPECT_EQ(results[7].attempts, 3);
  EXPECT_EQ(probe.calls[7].load(), 1) << "injected attempts do not call the task";
  EXPECT_EQ(report.retries, 2);
  for (int i = 0; i < 10; ++i)
    if (i != 7) {
      EXPECT_EQ(results[i].attempts, 1);
    }
}

TEST(FaultInjection, ExhaustedRetriesSayTheFaultWasInjected) {
  Runtime r("task=2:out_of_memory; task=4@1:io");
  TaskProbe probe(6);
  auto tasks = make_tasks(6, probe_task, &probe);
  auto results = make_results(6);
  plx_run_options_t o = options(1);
  o.backoff_base_s = 0.001;
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 6, &o, results.data()), PLX_ERR_TASK_FAILED);
  EXPECT_EQ(results[2].status, PLX_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(results[2].attempts, 3);
  EXPECT_NE(std::string(results[2].message).find("injected fault 'task=2:out_of_memory'"), std::string::npos)
      << results[2].message;
  EXPECT_EQ(results[4].status, PLX_ERR_IO);
  EXPECT_EQ(results[4].attempts, 1);
  EXPECT_EQ(results[5].status, PLX_OK);
}

TEST(FaultInjection, ChunkFailsWithTheChosenStatus) {
  Runtime r("chunk=3:device");
  Coverage c(100, 1);
  plx_run_options_t o = options(1, 10);
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  EXPECT_EQ(plx_parallel_for(r.rt, nullptr, 0, 100, Coverage::body, &c, &o), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("items [30, 40)"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("injected fault 'chunk=3:device'"), std::string::npos) << last_error();
  EXPECT_EQ(report.failed_begin, 30);
  EXPECT_EQ(c.hits[29].load(), 1);
  EXPECT_EQ(c.hits[30].load(), 0);
}

TEST(FaultInjection, BadSpecsFailRuntimeCreation) {
  for (const char* spec :
       {"task", "task=x:oom", "task=1:not_a_status", "chunk=1@2:io", "gpu=1:io", "task=1@3-2:io", "task=-1:io"}) {
    plx_runtime_options_t o;
    ASSERT_EQ(plx_runtime_options_init(&o, sizeof o), PLX_OK);
    o.device_policy = PLX_DEVICE_CPU_ONLY;
    o.fault_injection = spec;
    plx_runtime_t* rt = nullptr;
    EXPECT_EQ(plx_runtime_create(&o, &rt), PLX_ERR_INVALID_ARGUMENT) << spec;
    EXPECT_NE(last_error().find("fault injection rule"), std::string::npos) << last_error();
  }
}

TEST(FaultInjection, EnvironmentVariable) {
  ASSERT_EQ(setenv("PLX_FAULT", "chunk=0:internal", 1), 0);
  plx_runtime_t* rt = make_runtime();
  unsetenv("PLX_FAULT");
  Coverage c(10, 1);
  EXPECT_EQ(plx_parallel_for(rt, nullptr, 0, 10, Coverage::body, &c, nullptr), PLX_ERR_INTERNAL);
  plx_runtime_destroy(rt);
}

// ---- progress and cancellation ------------------------------------------------

struct ProgressLog {
  std::mutex m;
  std::vector<plx_progress_t> calls;
  std::atomic<int> concurrent{0};
  std::atomic<int> overlaps{0};
  int cancel_after = -1;
  static int fn(const plx_progress_t* p, void* user) {
    auto* log = static_cast<ProgressLog*>(user);
    if (++log->concurrent > 1) log->overlaps++;
    int n;
    {
      std::lock_guard lock(log->m);
      log->calls.push_back(*p);
      n = static_cast<int>(log->calls.size());
    }
    --log->concurrent;
    return log->cancel_after >= 0 && n > log->cancel_after;
  }
};

int slow_body(int64_t, int64_t, int32_t, void*) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return 0;
}

TEST(Progress, MonotoneRateLimitedAndFinal) {
  Runtime r;
  ProgressLog log;
  plx_run_options_t o = options(2, 1);
  o.progress = ProgressLog::fn;
  o.progress_user_data = &log;
  o.progress_interval_ms = 20;
  o.bytes_per_item = 100;
  auto start = Clock::now();
  ASSERT_EQ(plx_parallel_for(r.rt, nullptr, 0, 100, slow_body, nullptr, &o), PLX_OK);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_GE(log.calls.size(), 2u);
  EXPECT_LE(static_cast<double>(log.calls.size()), seconds / 0.020 + 2) << "rate limited";
  for (size_t i = 1; i < log.calls.size(); ++i) {
    EXPECT_GE(log.calls[i].done, log.calls[i - 1].done);
    EXPECT_GE(log.calls[i].elapsed_s, log.calls[i - 1].elapsed_s);
  }
  const plx_progress_t& last = log.calls.back();
  EXPECT_EQ(last.done, 100);
  EXPECT_EQ(last.total, 100);
  EXPECT_EQ(last.bytes_done, 100 * 100);
  EXPECT_EQ(last.eta_s, 0.0);
  EXPECT_EQ(log.overlaps.load(), 0);
}

TEST(Progress, ReturningNonZeroCancels) {
  Runtime r;
  ProgressLog log;
  log.cancel_after = 1;
  plx_run_options_t o = options(2, 1);
  o.progress = ProgressLog::fn;
  o.progress_user_data = &log;
  o.progress_interval_ms = 5;
  Coverage c(2000, 2);
  EXPECT_EQ(plx_parallel_for(
                r.rt, nullptr, 0, 2000,
                [](int64_t lo, int64_t hi, int32_t w, void* u) { return slow_body(lo, hi, w, u); }, nullptr, &o),
            PLX_ERR_CANCELLED);
  EXPECT_NE(last_error().find("cancelled after"), std::string::npos) << last_error();
}

TEST(Progress, TasksReportDoneTasksAndTheirBytes) {
  Runtime r;
  ProgressLog log;
  TaskProbe probe(40);
  auto tasks = make_tasks(40, probe_task, &probe, 1000);
  auto results = make_results(40);
  plx_run_options_t o = options(2);
  o.progress = ProgressLog::fn;
  o.progress_user_data = &log;
  o.progress_interval_ms = 1;
  ASSERT_EQ(plx_tasks_run(r.rt, tasks.data(), 40, &o, results.data()), PLX_OK);
  ASSERT_FALSE(log.calls.empty());
  EXPECT_EQ(log.calls.back().done, 40);
  EXPECT_EQ(log.calls.back().bytes_done, 40 * 1000);
}

TEST(Cancel, TokenStopsALoopWithinAChunk) {
  Runtime r;
  plx_cancel_token_t* token = nullptr;
  ASSERT_EQ(plx_cancel_token_create(&token), PLX_OK);
  EXPECT_EQ(plx_cancel_token_is_cancelled(token), 0);
  plx_run_options_t o = options(2, 1);
  o.cancel = token;
  std::atomic<bool> started{false};
  Clock::time_point cancelled_at;
  std::thread canceller([&] {
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancelled_at = Clock::now();
    plx_cancel_token_cancel(token);
  });
  auto body = [](int64_t, int64_t, int32_t, void* user) {
    static_cast<std::atomic<bool>*>(user)->store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return 0;
  };
  EXPECT_EQ(plx_parallel_for(r.rt, nullptr, 0, 100000, body, &started, &o), PLX_ERR_CANCELLED);
  auto returned = Clock::now();
  canceller.join();
  EXPECT_EQ(plx_cancel_token_is_cancelled(token), 1);
  EXPECT_LT(returned - cancelled_at, std::chrono::milliseconds(100)) << "within about one chunk (5 ms)";
  // A cancelled token stops tasks before they start.
  TaskProbe probe(5);
  auto tasks = make_tasks(5, probe_task, &probe);
  auto results = make_results(5);
  EXPECT_EQ(plx_tasks_run(r.rt, tasks.data(), 5, &o, results.data()), PLX_ERR_CANCELLED);
  for (auto& res : results) {
    EXPECT_EQ(res.status, PLX_ERR_CANCELLED);
    EXPECT_NE(std::string(res.message).find("cancelled"), std::string::npos);
  }
  plx_cancel_token_destroy(token);
  plx_cancel_token_cancel(nullptr);
  plx_cancel_token_destroy(nullptr);
  EXPECT_EQ(plx_cancel_token_is_cancelled(nullptr), 0);
}

// ---- async jobs ---------------------------------------------------------------

TEST(Jobs, WaitPollAndReport) {
  Runtime r;
  Coverage c(5000, 2);
  plx_run_options_t o = options(2, 10);
  plx_run_report_t report;
  report.struct_size = sizeof report;
  o.report = &report;
  plx_job_t* job = nullptr;
  ASSERT_EQ(plx_parallel_for_async(r.rt, nullptr, 0, 5000, Coverage::body, &c, &o, &job), PLX_OK);
  ASSERT_EQ(plx_job_wait(job, -1), PLX_OK);
  int done = 0;
  ASSERT_EQ(plx_job_poll(job, &done), PLX_OK);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(report.chunks, 500);
  for (auto& h : c.hits) ASSERT_EQ(h.load(), 1);
  EXPECT_EQ(plx_job_wait(job, 0), PLX_OK) << "waiting again returns the same status";
  plx_job_destroy(job);
}

struct Gate {
  std::atomic<bool> open{false};
  static int body(int64_t, int64_t, int32_t, void* user) {
    auto* g = static_cast<Gate*>(user);
    while (!g->open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return 0;
  }
};

TEST(Jobs, TimeoutThenCompletion) {
  Runtime r;
  Gate gate;
  plx_run_options_t o = options(1, 1);
  plx_job_t* job = nullptr;
  ASSERT_EQ(plx_parallel_for_async(r.rt, nullptr, 0, 3, Gate::body, &gate, &o, &job), PLX_OK);
  EXPECT_EQ(plx_job_wait(job, 30), PLX_ERR_TIMEOUT);
  EXPECT_NE(last_error().find("still running after 30 ms"), std::string::npos) << last_error();
  int done = 1;
  ASSERT_EQ(plx_job_poll(job, &done), PLX_OK);
  EXPECT_EQ(done, 0);
  gate.open = true;
  EXPECT_EQ(plx_job_wait(job, 10000), PLX_OK);
  plx_job_destroy(job);
}

TEST(Jobs, CancelAndDestroyWhileRunning) {
  Runtime r;
  plx_run_options_t o = options(2, 1);
  plx_job_t* job = nullptr;
  ASSERT_EQ(plx_parallel_for_async(r.rt, nullptr, 0, 1000000, slow_body, nullptr, &o, &job), PLX_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(plx_job_cancel(job), PLX_OK);
  EXPECT_EQ(plx_job_wait(job, -1), PLX_ERR_CANCELLED);
  plx_job_destroy(job);

  // Destroy without waiting: cancels and waits.
  ASSERT_EQ(plx_parallel_for_async(r.rt, nullptr, 0, 1000000, slow_body, nullptr, &o, &job), PLX_OK);
  auto start = Clock::now();
  plx_job_destroy(job);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST(Jobs, RuntimeDestroyCancelsItsJobs) {
  plx_runtime_t* rt = make_runtime();
  plx_run_options_t o = options(2, 1);
  plx_job_t* job = nullptr;
  ASSERT_EQ(plx_parallel_for_async(rt, nullptr, 0, 1000000, slow_body, nullptr, &o, &job), PLX_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  plx_runtime_destroy(rt);
  int done = 0;
  ASSERT_EQ(plx_job_poll(job, &done), PLX_OK) << "the handle outlives its runtime";
  EXPECT_EQ(done, 1);
  EXPECT_EQ(plx_job_wait(job, 0), PLX_ERR_CANCELLED);
  plx_job_destroy(job);
}

struct Nested {
  plx_runtime_t* rt;
  std::atomic<int> inner_ok{0};
  std::atomic<int> waits_ok{0};
};

TEST(Jobs, WaitingFromACallbackOfTheSameRuntimeDoesNotDeadlock) {
  // One worker and a one-thread arena: the job cannot find a free thread, so
  // the waiting callback must run it itself.
  plx_runtime_options_t ro;
  ASSERT_EQ(plx_runtime_options_init(&ro, sizeof ro), PLX_OK);
  ro.device_policy = PLX_DEVICE_CPU_ONLY;
  ro.max_cpu_workers = 1;
  plx_runtime_t* rt = nullptr;
  ASSERT_EQ(plx_runtime_create(&ro, &rt), PLX_OK);
  Nested n{rt};
  auto outer = [](int64_t, int64_t, int32_t, void* user) {
    auto* nested = static_cast<Nested*>(user);
    Coverage c(100, 1);
    plx_run_options_t o = options(1, 10);
    plx_job_t* job = nullptr;
    if (plx_parallel_for_async(nested->rt, nullptr, 0, 100, Coverage::body, &c, &o, &job) != PLX_OK) return 1;
    if (plx_job_wait(job, -1) == PLX_OK) nested->waits_ok++;
    plx_job_destroy(job);
    // A nested synchronous loop on the same runtime, too.
    Coverage c2(50, 1);
    if (plx_parallel_for(nested->rt, nullptr, 0, 50, Coverage::body, &c2, &o) == PLX_OK) nested->inner_ok++;
    return 0;
  };
  plx_run_options_t o = options(1, 1);
  ASSERT_EQ(plx_parallel_for(rt, nullptr, 0, 4, outer, &n, &o), PLX_OK) << last_error();
  EXPECT_EQ(n.waits_ok.load(), 4);
  EXPECT_EQ(n.inner_ok.load(), 4);
  plx_runtime_destroy(rt);
}

TEST(Jobs, SubmittedTasks) {
  Runtime r;
  TaskProbe probe(30);
  auto tasks = make_tasks(30, probe_task, &probe);
  auto results = make_results(30);
  plx_job_t* job = nullptr;
  ASSERT_EQ(plx_tasks_submit(r.rt, tasks.data(), 30, nullptr, results.data(), &job), PLX_OK);
  ASSERT_EQ(plx_job_wait(job, -1), PLX_OK);
  for (auto& res : results) EXPECT_EQ(res.status, PLX_OK);
  plx_job_destroy(job);
}

// ---- many runtimes ------------------------------------------------------------

TEST(Runtimes, ManyCreatedAndDestroyedConcurrently) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        plx_runtime_t* rt = make_runtime();
        Coverage c(1000 + t, 3);
        plx_run_options_t o = options(3);
        if (plx_parallel_for(rt, nullptr, 0, 1000 + t, Coverage::body, &c, &o) != PLX_OK) failures++;
        for (auto& h : c.hits)
          if (h.load() != 1) failures++;
        plx_runtime_destroy(rt);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

struct SummaryLog {
  std::mutex m;
  std::vector<std::string> lines;
  static void fn(void* user, plx_log_level_t, const char* message) {
    auto* s = static_cast<SummaryLog*>(user);
    std::lock_guard lock(s->m);
    s->lines.emplace_back(message);
  }
};

TEST(Runtimes, EveryRunLogsASummary) {
  SummaryLog log;
  {
    Runtime r(nullptr, SummaryLog::fn, &log);
    Coverage c(100, 2);
    plx_run_options_t o = options(2, 10);
    o.name = "dark frames";
    ASSERT_EQ(plx_parallel_for(r.rt, nullptr, 0, 100, Coverage::body, &c, &o), PLX_OK);
  }
  int summaries = 0;
  for (const std::string& line : log.lines)
    if (line.find("\"event\":\"parallel_run_summary\"") != std::string::npos) {
      ++summaries;
      EXPECT_NE(line.find("\"name\":\"dark frames\""), std::string::npos) << line;
      EXPECT_NE(line.find("\"chunks\":10"), std::string::npos) << line;
      EXPECT_NE(line.find("\"workers\":2"), std::string::npos) << line;
      EXPECT_NE(line.find("\"wall_s\":"), std::string::npos) << line;
      EXPECT_NE(line.find("\"retries\":0"), std::string::npos) << line;
      EXPECT_NE(line.find("\"peak_concurrency\":"), std::string::npos) << line;
    }
  EXPECT_EQ(summaries, 1);
}

}  // namespace
