#include "exec/parallel_for.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <vector>

namespace plx {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

// The chunks of a loop over [begin, end), handed out to lanes in order, and
// what went wrong first (by chunk index, so the report does not depend on
// which lane failed first in time).
class ChunkLoop {
 public:
  ChunkLoop(const RunEnv& env, int64_t begin, int64_t end, int64_t grain, const RunSettings& s)
      : env_(env),
        settings_(s),
        begin_(begin),
        end_(end),
        grain_(grain),
        chunks_(end > begin ? ceil_div(end - begin, grain) : 0),
        stop_(s.cancel),
        progress_(s.progress, end - begin, s.progress_interval_ms, stop_) {}

  int64_t chunks() const { return chunks_; }

  // Runs chunks on this lane until none is left or the loop stops. `body`
  // returns the callback's code for [lo, hi).
  template <class Body>
  void lane(int worker, Body&& body) {
    for (;;) {
      if (stop_.stopped()) return;
      int64_t chunk = next_.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= chunks_) return;
      int64_t lo = begin_ + chunk * grain_;
      int64_t hi = std::min(end_, lo + grain_);
      raise_to(peak_, running_.fetch_add(1, std::memory_order_relaxed) + 1);
      int code = 0;
      std::string what;
      bool out_of_memory = false;
      auto fault = env_.faults.empty() ? std::nullopt : env_.faults.for_chunk(chunk);
      if (fault) {
        code = static_cast<int>(fault->code);
        what = cat(" (injected fault '", fault->rule, "')");
      } else {
        try {
          code = body(lo, hi, worker);
        } catch (const std::bad_alloc&) {  // the library's own work: C and Python callbacks cannot throw here
          code = -1;
          out_of_memory = true;
          what = ": out of memory (std::bad_alloc)";
        } catch (const std::exception& e) {
          code = -1;
          what = cat(": the callback threw: ", e.what());
        } catch (...) {
          code = -1;
          what = ": the callback threw an exception";
        }
      }
      running_.fetch_sub(1, std::memory_order_relaxed);
      run_.fetch_add(1, std::memory_order_relaxed);
      if (code != 0) {
        fail(Failure{chunk, lo, hi, worker, code, std::move(what), fault.has_value(), out_of_memory});
        return;
      }
      progress_.add(hi - lo, (hi - lo) * settings_.bytes_per_item);
    }
  }

  // The outcome once every lane has returned.
  RunOutcome finish(std::chrono::steady_clock::time_point start) {
    progress_.finish();
    RunOutcome out;
    RunReport& r = out.report;
    r.workers = settings_.workers;
    r.threads = env_.executor.threads();
    r.chunks = run_.load();
    r.peak_concurrency = peak_.load();
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failure_) {
      r.failed = failures_;
      r.failed_begin = failure_->lo;
      r.failed_end = failure_->hi;
      r.callback_code = failure_->code;
      out.code = failure_->injected        ? static_cast<Code>(failure_->code)
                 : failure_->out_of_memory ? Code::out_of_memory
                                           : Code::task_failed;
      out.message = failure_->out_of_memory
                        ? cat(settings_.name, ": out of memory for items [", failure_->lo, ", ", failure_->hi,
                              ") on worker ", failure_->worker,
                              ": lower the memory budget (ram_fraction, memory_budget_bytes) or the workers, or free "
                              "memory")
                    : failure_->injected
                        ? cat(settings_.name, ": items [", failure_->lo, ", ", failure_->hi, ") on worker ",
                              failure_->worker, " failed with ", status_name(out.code), failure_->what)
                        : cat(settings_.name, ": the callback returned ", failure_->code, " for items [", failure_->lo,
                              ", ", failure_->hi, ") on worker ", failure_->worker, failure_->what,
                              "; the loop stopped after ", r.chunks, " of ", chunks_, " chunks");
    } else if (stop_.cancelled() && r.chunks < chunks_) {
      out.code = Code::cancelled;
      out.message = cat(settings_.name, ": cancelled after ", r.chunks, " of ", chunks_, " chunks");
    }
    return out;
  }

 private:
  struct Failure {
    int64_t chunk, lo, hi;
    int worker, code;
    std::string what;
    bool injected;
    bool out_of_memory;  // std::bad_alloc in the body
  };

  void fail(Failure failure) {
    stop_.stop();
    std::lock_guard lock(failure_mutex_);
    ++failures_;
    if (!failure_ || failure.chunk < failure_->chunk) failure_ = std::move(failure);
  }

  const RunEnv& env_;
  const RunSettings& settings_;
  const int64_t begin_, end_, grain_, chunks_;
  StopFlag stop_;
  Progress progress_;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> run_{0};
  std::atomic<int> running_{0};
  std::atomic<int> peak_{0};
  std::mutex failure_mutex_;
  std::optional<Failure> failure_;
  int failures_ = 0;
};

int64_t loop_grain(int64_t items, const RunSettings& s) {
  if (s.grain > 0) return s.grain;
  // About 8 chunks per worker: enough to even out uneven chunks, few enough
  // to keep the per-chunk cost invisible.
  return std::max<int64_t>(1, ceil_div(std::max<int64_t>(items, 1), int64_t{8} * std::max(1, s.workers)));
}

}  // namespace

RunOutcome parallel_for(const RunEnv& env, int64_t begin, int64_t end, const RangeFn& fn, const RunSettings& s) {
  auto start = std::chrono::steady_clock::now();
  ChunkLoop loop(env, begin, end, loop_grain(end - begin, s), s);
  int lanes = static_cast<int>(std::min<int64_t>(s.workers, std::max<int64_t>(loop.chunks(), 1)));
  env.executor.run_lanes(lanes, [&](int worker) { loop.lane(worker, fn); });
  RunOutcome out = loop.finish(start);
  out.report.workers = s.workers;
  log_run_summary(env, "parallel_for", s, out, end - begin);
  return out;
}

int64_t default_reduce_grain(int64_t items) {
  return std::max<int64_t>(1, ceil_div(std::max<int64_t>(items, 1), 4096));
}

RunOutcome parallel_reduce(const RunEnv& env, int64_t begin, int64_t end, const Reduction& red, void* result,
                           const RunSettings& s) {
  auto start = std::chrono::steady_clock::now();
  const int64_t grain = red.grain > 0 ? red.grain : default_reduce_grain(end - begin);
  ChunkLoop loop(env, begin, end, grain, s);
  const size_t size = red.value_size;
  std::vector<unsigned char> partials(static_cast<size_t>(loop.chunks()) * size);
  int lanes = static_cast<int>(std::min<int64_t>(s.workers, std::max<int64_t>(loop.chunks(), 1)));
  env.executor.run_lanes(lanes, [&](int worker) {
    loop.lane(worker, [&](int64_t lo, int64_t hi, int w) {
      unsigned char* partial = partials.data() + static_cast<size_t>((lo - begin) / grain) * size;
      std::memcpy(partial, red.identity, size);
      return red.range(lo, hi, w, partial);
    });
  });
  RunOutcome out = loop.finish(start);
  if (out.code == Code::ok) {
    // A fixed pairwise tree over the chunks, in index order: the same
    // additions in the same order whoever computed the partials.
    const int64_t n = loop.chunks();
    for (int64_t step = 1; step < n && out.code == Code::ok; step *= 2)
      for (int64_t i = 0; i + step < n; i += 2 * step) {
        int code = red.combine(partials.data() + static_cast<size_t>(i) * size,
                               partials.data() + static_cast<size_t>(i + step) * size);
        if (code != 0) {
          out.code = Code::task_failed;
          out.message = cat(s.name, ": the combine function returned ", code);
          out.report.callback_code = code;
          out.report.failed = 1;
          break;
        }
      }
    if (out.code == Code::ok) std::memcpy(result, n > 0 ? partials.data() : red.identity, size);
  }
  log_run_summary(env, "parallel_reduce", s, out, end - begin);
  return out;
}

}  // namespace plx
