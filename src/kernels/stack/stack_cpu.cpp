#include "kernels/stack/stack_cpu.hpp"

#include <algorithm>
#include <optional>

#include "exec/parallel_for.hpp"
#include "kernels/stack/pixel_rule.hpp"
#include "kernels/stack/pixel_simd.hpp"
#include "kernels/stack/provider_calls.hpp"

namespace plx::stack {
namespace {

// What one worker keeps from band to band.
struct WorkerState {
  Scratch scratch;
  std::vector<float> band;  // a provider's frames for one band
  std::vector<const float*> rows;
  std::vector<int32_t> count, low, high;  // when the host did not ask for them
  std::vector<int64_t> frame_rejected;
  int64_t kept = 0, rejected = 0;
};

class CpuStack {
 public:
  CpuStack(const StackJob& job, const StackPlan& plan, int workers) : job_(job), plan_(plan), states_(workers) {}

  // Stacks row units [lo, hi); non-zero (with error_ set) when a provider failed.
  int run(int64_t lo, int64_t hi, int worker) {
    WorkerState& st = states_[static_cast<size_t>(worker)];
    for (int64_t u = lo; u < hi;) {
      const RowUnit first = plan_.unit(u);  // with the rows after it in the same channel and tile
      int64_t rows = std::min(hi - u, job_.frames.height - first.row);
      if (job_.frames.provider && plan_.call_rows > 0) rows = std::min(rows, plan_.call_rows);
      if (int code = segment(st, first, rows); code != 0) return code;
      u += rows;
    }
    return 0;
  }

  void finish(Totals& totals) const {
    if (job_.want_frame_rejected) totals.frame_rejected.assign(static_cast<size_t>(job_.frames.count), 0);
    for (const WorkerState& st : states_) {
      totals.kept += st.kept;
      totals.rejected += st.rejected;
      for (size_t j = 0; j < st.frame_rejected.size(); ++j) totals.frame_rejected[j] += st.frame_rejected[j];
    }
  }

  std::optional<std::string> error() { return provider_.error(); }

 private:
  // Rows [seg.row, seg.row + rows) of one channel and column tile.
  int segment(WorkerState& st, const RowUnit& seg, int64_t rows) {
    const Frames& f = job_.frames;
    const auto n = static_cast<size_t>(f.count);
    st.rows.resize(n);
    const float* band = nullptr;
    const int64_t per_frame = band_frame_stride(rows * seg.cols);
    if (f.provider) {
      st.band.resize(n * static_cast<size_t>(per_frame));
      for (int64_t j = 0; j < f.count; ++j) {
        float* dst = st.band.data() + j * per_frame;
        if (int code = provider_.read(f.provider, j, seg.channel, seg.row, rows, seg.col0, seg.cols, dst, seg.cols);
            code != 0)
          return code;
      }
      band = st.band.data();
    }
    if (job_.want_frame_rejected && st.frame_rejected.empty()) st.frame_rejected.assign(n, 0);
    const auto cols = static_cast<size_t>(seg.cols);
    if (st.count.size() < cols) {
      st.count.resize(cols);
      st.low.resize(cols);
      st.high.resize(cols);
    }
    const FrameParams& p = job_.params;
    const size_t c = static_cast<size_t>(seg.channel) * n;
    PixelBlock block;
    block.frames = f.count;
    block.pixels = seg.cols;
    block.rows = st.rows.data();
    if (p.normalized) {
      block.scale = p.scale.data() + c;
      block.offset = p.offset.data() + c;
    }
    if (p.weighted) block.weight = p.weight.data() + c;
    block.frame_rejected = job_.want_frame_rejected ? st.frame_rejected.data() : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = seg.row + r;
      for (int64_t j = 0; j < f.count; ++j)
        st.rows[static_cast<size_t>(j)] =
            band ? band + j * per_frame + r * seg.cols : f.at(j, seg.channel, row, seg.col0);
      const int64_t at = (seg.channel * f.height + row) * f.width + seg.col0;
      block.image = job_.out.image + at;
      block.count = job_.out.count ? job_.out.count + at : st.count.data();
      block.low = job_.out.low ? job_.out.low + at : st.low.data();
      block.high = job_.out.high ? job_.out.high + at : st.high.data();
      stack_block(job_.rule, block, st.scratch);
      for (int64_t i = 0; i < seg.cols; ++i) {
        st.kept += block.count[i];
        st.rejected += block.low[i] + block.high[i];
      }
    }
    return 0;
  }

  const StackJob& job_;
  const StackPlan& plan_;
  std::vector<WorkerState> states_;
  ProviderCalls provider_;
};

}  // namespace

void stack_block(const PixelRule& rule, const PixelBlock& block, Scratch& scratch) {
  if (simd_handles(rule, block.frames))
    stack_block_simd(rule, block, scratch);
  else
    stack_block_scalar(rule, block, scratch);
}

RunOutcome stack_on_cpu(const RunEnv& env, const StackJob& job, const StackPlan& plan, const RunSettings& settings,
                        Totals& totals) {
  CpuStack stack(job, plan, settings.workers);
  RangeFn body = [&](int64_t lo, int64_t hi, int worker) { return stack.run(lo, hi, worker); };
  RunOutcome out = parallel_for(env, 0, plan.units, body, settings);
  if (auto error = stack.error(); out.code == Code::task_failed && error)
    out.message = cat(settings.name, ": ", *error);
  if (out.code == Code::ok) stack.finish(totals);
  return out;
}

}  // namespace plx::stack
