#include "exec/tasks.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>

#include "core/format_bytes.hpp"

namespace plx {
namespace {

using Clock = std::chrono::steady_clock;

// A task waiting to start again: a retry after its backoff, or one handed
// back by a lane that the concurrency limit stopped.
struct Pending {
  int64_t index = 0;
  int attempt = 1;
  int64_t estimate = 0;
  Clock::time_point not_before;
  std::string last_failure;  // for a retry that never runs
};

class TaskScheduler {
 public:
  TaskScheduler(const RunEnv& env, const TaskSet& tasks, const RunSettings& s)
      : env_(env),
        tasks_(tasks),
        s_(s),
        count_(tasks.count),
        budget_(s.memory_budget_bytes),
        initial_limit_(std::max(1, s.workers)),
        limit_(initial_limit_),
        stop_(s.cancel),
        progress_(s.progress, tasks.count, s.progress_interval_ms, stop_),
        rng_(s.jitter_seed ? s.jitter_seed : std::random_device{}()),
        max_batch_(std::clamp<int64_t>(tasks.count / (int64_t{16} * initial_limit_), 1, 256)) {}

  void lane(int worker);
  RunOutcome finish(Clock::time_point start);

 private:
  bool all_finished() const { return finished_.load() == count_; }

  // Blocks until woken (or a short safety timeout, or `deadline`); callers re-check their state.
  void wait(Clock::time_point deadline = Clock::time_point::max());
  void wake_waiters() {
    if (waiting_.load() > 0) {
      { std::lock_guard lock(mutex_); }
      wake_.notify_all();
    }
  }

  bool take_ready(Pending& out, Clock::time_point& earliest);
  void hand_back(int64_t lo, int64_t hi);
  void cancel_unstarted(int64_t lo, int64_t hi);
  void cancel_all_unstarted();
  // Waits until `work` may start; false if the run stopped meanwhile.
  bool admit(const Pending& work);
  void release(const Pending& work);
  void grow_after_success();
  // Runs one attempt; returns true when the task reached its final result.
  bool attempt(Pending work, int worker);
  // Records task `index`'s end; `bytes`: its estimate, counted in progress if it succeeded.
  void final_result(int64_t index, TaskFinal result, int64_t bytes = 0);

  const RunEnv& env_;
  const TaskSet& tasks_;
  const RunSettings& s_;
  const int64_t count_;
  const int64_t budget_;
  const int initial_limit_;
  std::atomic<int> limit_;
  StopFlag stop_;
  Progress progress_;

  std::atomic<int64_t> cursor_{0};    // next task never started
  std::atomic<int64_t> finished_{0};  // tasks with a final result
  std::atomic<int> running_{0};
  std::atomic<int> peak_running_{0};
  std::atomic<int64_t> admitted_{0};  // estimated bytes of running tasks
  std::atomic<int64_t> peak_admitted_{0};
  std::atomic<bool> exclusive_{false};  // a task larger than the budget waits or runs alone
  std::atomic<int64_t> attempts_{0};
  std::atomic<int64_t> retries_{0};
  std::atomic<int> successes_in_row_{0};
  std::atomic<int> waiting_{0};
  std::atomic<int> pending_count_{0};

  std::mutex mutex_;  // guards the members below
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  std::mt19937_64 rng_;
  int failed_ = 0;
  int64_t not_started_ = 0;
  std::optional<std::pair<int64_t, std::string>> first_failure_;  // lowest index
  std::string stop_reason_;
  const int64_t max_batch_;
};

void TaskScheduler::wait(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  waiting_.fetch_add(1);
  // Short timeout: a safety net only; every state change that matters wakes us.
  auto limit = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
  wake_.wait_until(lock, limit);
  waiting_.fetch_sub(1);
}

bool TaskScheduler::take_ready(Pending& out, Clock::time_point& earliest) {
  std::lock_guard lock(mutex_);
  auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->not_before <= now) {
      out = std::move(*it);
      pending_.erase(it);
      pending_count_.fetch_sub(1);
      return true;
    }
    earliest = std::min(earliest, it->not_before);
  }
  return false;
}

void TaskScheduler::hand_back(int64_t lo, int64_t hi) {
  if (lo >= hi) return;
  {
    std::lock_guard lock(mutex_);
    for (int64_t i = lo; i < hi; ++i) pending_.push_back(Pending{i, 1, tasks_.estimate(i), Clock::now(), {}});
    pending_count_.fetch_add(static_cast<int>(hi - lo));
  }
  wake_waiters();
}

void TaskScheduler::final_result(int64_t index, TaskFinal result, int64_t bytes) {
  if (result.code != Code::ok && result.code != Code::cancelled) {
    std::lock_guard lock(mutex_);
    ++failed_;
    if (!first_failure_ || index < first_failure_->first)
      first_failure_ = {index, cat("task ", index, " '", tasks_.name(index), "': ", status_name(result.code), " after ",
                                   result.attempts, result.attempts == 1 ? " attempt" : " attempts",
                                   result.message.empty() ? "" : ": ", result.message)};
  }
  tasks_.finish(index, result);
  finished_.fetch_add(1);
  progress_.add(1, result.code == Code::ok ? std::max<int64_t>(bytes, 0) : 0);
}

void TaskScheduler::cancel_unstarted(int64_t lo, int64_t hi) {
  if (lo >= hi) return;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    not_started_ += hi - lo;
    reason = stop_reason_;
  }
  for (int64_t i = lo; i < hi; ++i) final_result(i, TaskFinal{Code::cancelled, 0, "not started: " + reason});
}

void TaskScheduler::cancel_all_unstarted() {
  for (;;) {
    int64_t lo = cursor_.fetch_add(64);
    if (lo >= count_) break;
    cancel_unstarted(lo, std::min(count_, lo + 64));
  }
  std::deque<Pending> left;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    left.swap(pending_);
    pending_count_.store(0);
    not_started_ += static_cast<int64_t>(left.size());
    reason = stop_reason_;
  }
  for (Pending& p : left)
    final_result(p.index, TaskFinal{Code::cancelled, p.attempt - 1,
                                    p.attempt == 1 ? "not started: " + reason
                                                   : cat("retry not started (", reason, ") after attempt ",
                                                         p.attempt - 1, " failed: ", p.last_failure)});
  wake_waiters();
}

bool TaskScheduler::admit(const Pending& work) {
  const int64_t est = work.estimate;
  if (est > budget_) {
    // Larger than the whole budget: it runs alone, once nothing else runs.
    env_.log.log(LogLevel::warn, cat(s_.name, ": task ", work.index, " '", tasks_.name(work.index), "' estimates ",
                                     format_bytes(static_cast<double>(est)), ", more than the whole budget of ",
                                     format_bytes(static_cast<double>(budget_)), ": it runs alone"));
    for (;;) {
      if (stop_.stopped()) return false;
      bool expected = false;
      if (exclusive_.compare_exchange_strong(expected, true)) break;
      wait();
    }
    while (running_.load() > 0) {
      if (stop_.stopped()) {
        exclusive_.store(false);
        wake_waiters();
        return false;
      }
      wait();
    }
    raise_to(peak_running_, running_.fetch_add(1) + 1);
    raise_to(peak_admitted_, admitted_.fetch_add(est) + est);
    return true;
  }
  for (;;) {
    if (stop_.stopped()) return false;
    running_.fetch_add(1);
    if (!exclusive_.load()) {
      if (est <= 0) break;
      int64_t seen = admitted_.load();
      bool fits = false;
      while (seen + est <= budget_ && !(fits = admitted_.compare_exchange_weak(seen, seen + est))) {
      }
      if (fits) {
        raise_to(peak_admitted_, seen + est);
        break;
      }
    }
    running_.fetch_sub(1);
    wake_waiters();  // an exclusive task may be waiting for running_ to reach 0
    wait();
  }
  raise_to(peak_running_, running_.load());
  return true;
}

// One step back towards the initial limit per grow_after successes in a row.
// Lanes finish concurrently: only the lane whose success completed the run of
// successes resets it, and the limit never passes the initial one.
void TaskScheduler::grow_after_success() {
  int in_row = successes_in_row_.fetch_add(1) + 1;
  if (in_row < s_.grow_after || !successes_in_row_.compare_exchange_strong(in_row, 0)) return;
  int seen = limit_.load();
  while (seen < initial_limit_ && !limit_.compare_exchange_weak(seen, seen + 1)) {
  }
  if (seen >= initial_limit_) return;
  env_.log.log(LogLevel::info,
               cat(s_.name, ": concurrency limit back to ", seen + 1, " after ", s_.grow_after, " successes in a row"));
  wake_waiters();
}

void TaskScheduler::release(const Pending& work) {
  if (work.estimate > 0) admitted_.fetch_sub(work.estimate);
  running_.fetch_sub(1);
  if (work.estimate > budget_) exclusive_.store(false);
  wake_waiters();
}

bool TaskScheduler::attempt(Pending work, int worker) {
  attempts_.fetch_add(1, std::memory_order_relaxed);
  TaskAnswer answer;
  if (auto fault = env_.faults.empty() ? std::nullopt : env_.faults.for_task(work.index, work.attempt)) {
    answer.code = fault->code;
    answer.message = cat("injected fault '", fault->rule, "'");
  } else {
    answer = tasks_.run(TaskAttempt{work.index, work.attempt, worker, work.estimate});
  }
  release(work);

  if (answer.code == Code::ok) {
    final_result(work.index, TaskFinal{Code::ok, work.attempt, {}}, work.estimate);
    if (limit_.load() < initial_limit_) grow_after_success();
    return true;
  }
  successes_in_row_.store(0);
  const bool memory = answer.code == Code::out_of_memory || answer.reported_bytes > work.estimate;
  if (memory && work.attempt < s_.max_attempts && !stop_.stopped()) {
    // Retry with half the concurrency, after base x 2^(attempt-1) (capped)
    // times a random factor in [0.5, 1], so retries do not move in lockstep.
    int seen = limit_.load();
    while (!limit_.compare_exchange_weak(seen, std::max(1, seen / 2))) {
    }
    double delay = std::min(s_.backoff_cap_s, s_.backoff_base_s * std::ldexp(1.0, work.attempt - 1));
    Pending retry = work;
    retry.attempt = work.attempt + 1;
    retry.estimate = std::max(work.estimate, answer.reported_bytes);
    retry.last_failure = cat(status_name(answer.code), answer.message.empty() ? "" : ": ", answer.message);
    {
      std::lock_guard lock(mutex_);
      delay *= std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
      retry.not_before =
          Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
      pending_.push_back(retry);
      pending_count_.fetch_add(1);
    }
    retries_.fetch_add(1);
    env_.log.log(LogLevel::info,
                 cat(s_.name, ": task ", work.index, " '", tasks_.name(work.index), "' attempt ", work.attempt, " of ",
                     s_.max_attempts, " failed (", retry.last_failure, "); retrying in ", delay,
                     " s with the concurrency limit at ", std::max(1, seen / 2),
                     retry.estimate > work.estimate
                         ? cat(" and the estimate raised to ", format_bytes(static_cast<double>(retry.estimate)))
                         : std::string()));
    wake_waiters();
    return false;
  }
  std::string message = answer.message;
  if (memory && work.attempt >= s_.max_attempts)
    message = cat("out of memory on all ", work.attempt, " attempts (estimate ",
                  format_bytes(static_cast<double>(work.estimate)), ", budget ",
                  format_bytes(static_cast<double>(budget_)), ")", message.empty() ? "" : ": ", message);
  final_result(work.index, TaskFinal{answer.code, work.attempt, message});
  if (s_.fail_fast && !stop_.stopped()) {
    {
      std::lock_guard lock(mutex_);
      stop_reason_ = cat("fail_fast after task ", work.index, " failed");
    }
    stop_.stop();
  }
  return true;
}

void TaskScheduler::lane(int worker) {
  int64_t batch_lo = 0, batch_hi = 0;  // fresh tasks this lane claimed
  int64_t batch = 1;                   // grows while tasks are tiny
  auto batch_started = Clock::now();
  bool batch_light = true;
  for (;;) {
    if (stop_.stopped()) {
      {
        std::lock_guard lock(mutex_);
        if (stop_reason_.empty()) stop_reason_ = "the run was cancelled";
      }
      cancel_unstarted(batch_lo, batch_hi);
      batch_lo = batch_hi;
      cancel_all_unstarted();
      if (all_finished()) break;
      wait();
      continue;
    }
    if (worker >= limit_.load()) {
      // Over the (halved) concurrency limit: start nothing until it grows.
      hand_back(batch_lo, batch_hi);
      batch_lo = batch_hi;
      if (all_finished()) break;
      wait();
      continue;
    }
    Pending work;
    bool have = false;
    auto earliest = Clock::time_point::max();
    if (pending_count_.load() > 0) have = take_ready(work, earliest);
    if (!have && batch_lo == batch_hi) {
      int64_t lo = cursor_.fetch_add(batch);
      if (lo < count_) {
        batch_lo = lo;
        batch_hi = std::min(count_, lo + batch);
        batch_started = Clock::now();
        batch_light = true;
      }
    }
    if (!have && batch_lo < batch_hi) {
      work = Pending{batch_lo, 1, tasks_.estimate(batch_lo), {}, {}};
      ++batch_lo;
      have = true;
      batch_light = batch_light && work.estimate <= 0;
      if (batch_lo == batch_hi) {
        // Tiny, memory-free tasks come in growing batches (fewer shared
        // counters touched); anything slower or heavier goes one by one.
        bool quick = Clock::now() - batch_started < std::chrono::milliseconds(1);
        batch = batch_light && quick ? std::min(batch * 2, max_batch_) : 1;
      }
    }
    if (!have) {
      if (all_finished()) break;
      wait(earliest);
      continue;
    }
    if (!admit(work)) {
      // Stopped while waiting for room: this task never starts.
      if (work.attempt == 1) {
        cancel_unstarted(work.index, work.index + 1);
      } else {
        final_result(work.index, TaskFinal{Code::cancelled, work.attempt - 1,
                                           cat("retry not started after attempt ", work.attempt - 1,
                                               " failed: ", work.last_failure)});
      }
      continue;
    }
    attempt(std::move(work), worker);
  }
  wake_waiters();
}

RunOutcome TaskScheduler::finish(Clock::time_point start) {
  progress_.finish();
  RunOutcome out;
  RunReport& r = out.report;
  r.workers = initial_limit_;
  r.threads = env_.executor.threads();
  r.chunks = attempts_.load();
  r.retries = retries_.load();
  r.peak_concurrency = peak_running_.load();
  r.peak_admitted_bytes = peak_admitted_.load();
  r.failed = failed_;
  r.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (stop_.cancelled() && not_started_ > 0) {
    out.code = Code::cancelled;
    out.message = cat(s_.name, ": cancelled; ", count_ - not_started_, " of ", count_, " tasks ran, ", not_started_,
                      " did not start",
                      failed_ > 0 ? cat("; ", failed_, " failed, first ", first_failure_->second) : std::string());
  } else if (failed_ > 0) {
    out.code = Code::task_failed;
    out.message =
        cat(s_.name, ": ", failed_, " of ", count_, " tasks failed (first: ", first_failure_->second, ")",
            not_started_ > 0 ? cat("; ", not_started_, " did not start (", stop_reason_, ")") : std::string());
  }
  return out;
}

}  // namespace

RunOutcome run_tasks(const RunEnv& env, const TaskSet& tasks, const RunSettings& s) {
  auto start = Clock::now();
  TaskScheduler scheduler(env, tasks, s);
  int lanes = static_cast<int>(std::min<int64_t>(std::max(1, s.workers), std::max<int64_t>(tasks.count, 1)));
  env.executor.run_lanes(lanes, [&](int worker) { scheduler.lane(worker); });
  RunOutcome out = scheduler.finish(start);
  log_run_summary(env, "tasks", s, out, tasks.count);
  return out;
}

}  // namespace plx
