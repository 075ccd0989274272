#include "exec/executor.hpp"

// task_scheduler_handle and finalize live here; tbb::global_control itself is
// never used (it is process-wide).
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace plx {

namespace {

// How many runs this thread is inside (asking oneTBB instead would attach the
// thread to oneTBB, which then keeps its workers alive for it).
thread_local int in_run_depth = 0;

// Executors alive in the process: the last one to go decides whether
// oneTBB's workers can outlive it.
std::atomic<int> live_executors{0};

// Keeps this library, and oneTBB with it, mapped until the process exits.
// oneTBB's worker threads run oneTBB's code until it lets them end, and it
// does not while another host thread that ran work is alive (a thread pool,
// mono's or Go's threads): a dlclose that unmapped the code under them would
// crash the process when they next wake (mono dlcloses the libraries of its
// P/Invokes as it shuts down). Pinned, the library stays loaded and its
// sleeping workers end with the process.
void pin_in_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&pin_in_memory), &self) != 0 && self.dli_fname != nullptr)
      dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);  // never closed; null in a program
  });
}

struct InRun {
  InRun() { ++in_run_depth; }
  ~InRun() { --in_run_depth; }
  InRun(const InRun&) = delete;
  InRun& operator=(const InRun&) = delete;
};

}  // namespace

struct Executor::Impl {
  // Holding a scheduler handle lets the destructor wait for oneTBB's worker
  // threads to end once nothing else in the process uses oneTBB, so that a
  // host that dlcloses Parallax is left with no thread of ours.
  oneapi::tbb::task_scheduler_handle scheduler{oneapi::tbb::attach{}};
  oneapi::tbb::task_arena arena;
  explicit Impl(int threads) : arena(threads) {}
};

Executor::Executor(int threads) {
  // An arena asking for more threads than oneTBB's default makes oneTBB print
  // a warning on stderr: never ask for more. Extra logical workers are lanes.
  threads_ = std::clamp(threads, 1, std::max(1, oneapi::tbb::info::default_concurrency()));
  impl_ = std::make_unique<Impl>(threads_);
  live_executors.fetch_add(1);
}

Executor::~Executor() {
  impl_->arena.terminate();
  const bool last = live_executors.fetch_sub(1) == 1;
  if (in_run_depth > 0) {
    // Destroyed from inside a run (a callback of another runtime, which is
    // still alive): finalize would detach this thread from oneTBB mid-task.
    // Just let go.
    impl_->scheduler.release();
    return;
  }
  // Waits for oneTBB's worker threads when nothing else uses oneTBB; returns
  // false at once while other runtimes, or other host threads that ran work,
  // still hold it. Other runtimes try again when they go; after the last
  // one, the workers may outlive us.
  if (!oneapi::tbb::finalize(impl_->scheduler, std::nothrow) && last) pin_in_memory();
}

#ifdef PLX_LANES_ON_THREADS
// ThreadSanitizer build: Debian's oneTBB is not instrumented, so TSan cannot
// see that handing a task to a worker orders its memory, and reports every
// handoff as a race. Lanes then run on plain threads instead, so what TSan
// checks is our own synchronisation; oneTBB's is oneTBB's to test.
void Executor::run_in_arena(const std::function<void()>& f) {
  InRun in_run;
  f();
}

void Executor::run_lanes(int lanes, const std::function<void(int)>& lane) {
  InRun in_run;
  std::vector<std::thread> threads;
  for (int i = 1; i < lanes; ++i)
    threads.emplace_back([&lane, i] {
      InRun lane_run;
      lane(i);
    });
  lane(0);
  for (std::thread& t : threads) t.join();
}
#else
void Executor::run_in_arena(const std::function<void()>& f) {
  InRun in_run;
  impl_->arena.execute(f);
}

void Executor::run_lanes(int lanes, const std::function<void(int)>& lane) {
  InRun in_run;
  if (lanes <= 1) {
    lane(0);
    return;
  }
  impl_->arena.execute([&] {
    // Isolated: while this thread waits for the other lanes it only runs
    // tasks of this run, never an unrelated (maybe blocking) one.
    oneapi::tbb::this_task_arena::isolate([&] {
      oneapi::tbb::task_group group;
      for (int i = 1; i < lanes; ++i)
        group.run([&lane, i] {
          InRun lane_run;  // on a worker thread
          lane(i);
        });
      lane(0);
      group.wait();
    });
  });
}

#endif

}  // namespace plx
