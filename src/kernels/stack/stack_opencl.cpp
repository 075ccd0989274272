#include "kernels/stack/stack_opencl.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/runtime.hpp"
#include "device/kernel.hpp"
#include "device/streaming.hpp"
#include "kernels/stack/pixel_block.hpp"
#include "kernels/stack/provider_calls.hpp"
#include "kernels/stack/stack_cl_source.hpp"  // generated from stack.cl

namespace plx::stack {
namespace {

constexpr int64_t kSmallFrames = 64;  // PLX_SMALL_N of stack.cl: private memory up to here

// stack.cl with its template part instantiated for private and global samples.
std::string kernel_source() {
  const std::string text = kStackClSource;
  const std::string begin = "//@@TEMPLATE_BEGIN", end = "//@@TEMPLATE_END";
  const size_t b = text.find(begin), e = text.find(end);
  const std::string part = text.substr(b + begin.size(), e - b - begin.size());
  auto instance = [&](const std::string& space, const std::string& suffix) {
    std::string out = part;
    for (size_t at = 0; (at = out.find("SAS", at)) != std::string::npos; at += space.size()) out.replace(at, 3, space);
    for (size_t at = 0; (at = out.find("_SFX", at)) != std::string::npos; at += suffix.size())
      out.replace(at, 4, suffix);
    return out;
  };
  return text.substr(0, b) + instance("__private", "_p") + instance("__global", "_g") + text.substr(e + end.size());
}

class DeviceStack {
 public:
  DeviceStack(const StackJob& job, const StackPlan& plan) : job_(job), plan_(plan), f_(job.frames) {}

  // Fills the input of units [first, first + rows): per unit, N rows of
  // tile_cols samples, normalized as the CPU loads them, padded with NaN.
  int provide(int64_t first, int64_t rows, float* dst) {
    const int64_t n = f_.count, tc = plan_.tile_cols;
    for (int64_t r = 0; r < rows;) {
      const RowUnit u = plan_.unit(first + r);
      // The rows after it in the same channel and tile: one provider call per frame.
      const int64_t run = std::min(rows - r, f_.height - u.row);
      for (int64_t j = 0; j < n; ++j) {
        float* out = dst + (r * n + j) * tc;
        if (f_.provider) {
          if (int code = provider_.read(f_.provider, j, u.channel, u.row, run, u.col0, u.cols, out, n * tc); code != 0)
            return code;
        } else {
          for (int64_t k = 0; k < run; ++k)
            std::memcpy(out + k * n * tc, f_.at(j, u.channel, u.row + k, u.col0), static_cast<size_t>(u.cols) * 4);
        }
        const FrameParams& p = job_.params;
        const size_t c = static_cast<size_t>(u.channel) * static_cast<size_t>(n) + static_cast<size_t>(j);
        for (int64_t k = 0; k < run; ++k) {
          float* row = out + k * n * tc;
          if (p.normalized)
            for (int64_t i = 0; i < u.cols; ++i)
              row[i] = static_cast<float>(static_cast<double>(row[i]) * p.scale[c] + p.offset[c]);
          std::fill(row + u.cols, row + tc, std::numeric_limits<float>::quiet_NaN());
        }
      }
      r += run;
    }
    return 0;
  }

  // The CPU pixel loops over provided units: the fallback of a device chunk.
  int on_cpu(int64_t first, int64_t rows, const float* in, void* const* out) const {
    const int64_t n = f_.count, tc = plan_.tile_cols;
    Scratch scratch;
    std::vector<const float*> frame_rows(static_cast<size_t>(n));
    std::vector<int64_t> rejected(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      const RowUnit u = plan_.unit(first + r);
      PixelBlock block;
      for (int64_t j = 0; j < n; ++j) frame_rows[static_cast<size_t>(j)] = in + (r * n + j) * tc;
      block.rows = frame_rows.data();
      block.frames = n;
      block.pixels = u.cols;
      if (job_.params.weighted) block.weight = job_.params.weight.data() + static_cast<size_t>(u.channel) * n;
      block.image = static_cast<float*>(out[0]) + r * tc;
      block.count = static_cast<int32_t*>(out[1]) + r * tc;
      block.low = static_cast<int32_t*>(out[2]) + r * tc;
      block.high = static_cast<int32_t*>(out[3]) + r * tc;
      std::fill(rejected.begin(), rejected.end(), 0);
      block.frame_rejected = job_.want_frame_rejected ? rejected.data() : nullptr;
      stack_block(job_.rule, block, scratch);
      std::fill(block.image + u.cols, block.image + tc, std::numeric_limits<float>::quiet_NaN());
      for (int32_t* p : {block.count, block.low, block.high}) std::fill(p + u.cols, p + tc, 0);
      if (job_.want_frame_rejected) {
        auto* fr = static_cast<int32_t*>(out[4]) + r * n;
        for (int64_t j = 0; j < n; ++j) fr[j] = static_cast<int32_t>(rejected[static_cast<size_t>(j)]);
      }
    }
    return 0;
  }

  std::optional<std::string> error() { return provider_.error(); }

 private:
  const StackJob& job_;
  const StackPlan& plan_;
  const Frames& f_;
  ProviderCalls provider_;
};

}  // namespace

DeviceRun stack_on_devices(Runtime& runtime, const std::vector<int>& devices, const StackJob& job,
                           const StackPlan& plan, const RunSettings& settings, Totals& totals) {
  DeviceRun result;
  const Frames& f = job.frames;
  auto kernel = Kernel::create(runtime.devices(), devices, kernel_source(), "plx_stack", "-cl-std=CL1.2");
  if (!kernel) {
    result.run.code = kernel.error().code;
    result.run.message = cat(settings.name, ": the stacking kernel: ", kernel.error().message);
    return result;
  }
  const int64_t n = f.count, tc = plan.tile_cols, units = plan.units;
  const bool direct = plan.col_tiles == 1;  // unit rows are the image's rows: write in place
  const auto plane = static_cast<size_t>(units * tc);
  std::vector<float> image_tmp(direct ? 0 : plane);
  std::vector<int32_t> count_tmp, low_tmp, high_tmp;
  auto ints = [&](int32_t* given, std::vector<int32_t>& tmp) {
    if (direct && given) return given;
    tmp.resize(plane);
    return tmp.data();
  };
  float* image = direct ? job.out.image : image_tmp.data();
  int32_t* count = ints(job.out.count, count_tmp);
  int32_t* low = ints(job.out.low, low_tmp);
  int32_t* high = ints(job.out.high, high_tmp);
  const int64_t per_unit_rejected = job.want_frame_rejected ? n : 1;
  std::vector<int32_t> frame_rejected(static_cast<size_t>(units * per_unit_rejected));

  DeviceStack stack(job, plan);
  RowsJob rows;
  rows.rows = units;
  RowsInput in;
  in.bytes_per_row = n * tc * 4;
  in.provider = [&](int64_t first, int64_t count_rows, void* dst) {
    return stack.provide(first, count_rows, static_cast<float*>(dst));
  };
  rows.inputs.push_back(std::move(in));
  rows.outputs = {{reinterpret_cast<unsigned char*>(image), tc * 4},
                  {reinterpret_cast<unsigned char*>(count), tc * 4},
                  {reinterpret_cast<unsigned char*>(low), tc * 4},
                  {reinterpret_cast<unsigned char*>(high), tc * 4},
                  {reinterpret_cast<unsigned char*>(frame_rejected.data()), per_unit_rejected * 4,
                   job.want_frame_rejected}};  // counted with atomics
  rows.scratch_bytes_per_row = n > kSmallFrames ? n * tc * 4 : 4;
  const FrameParams& p = job.params;
  std::vector<unsigned char> weights(p.weighted ? p.weight.size() * sizeof(double) : sizeof(double));
  if (p.weighted) std::memcpy(weights.data(), p.weight.data(), weights.size());
  rows.constants.push_back(std::move(weights));
  const PixelRule& r = job.rule;
  rows.scalars = {scalar_bytes<cl_int>(static_cast<cl_int>(n)),
                  scalar_bytes<cl_int>(static_cast<cl_int>(tc)),
                  scalar_bytes<cl_long>(f.height),
                  scalar_bytes<cl_long>(plan.col_tiles),
                  scalar_bytes<cl_long>(f.width),
                  scalar_bytes<cl_int>(job.want_frame_rejected ? 1 : 0),
                  scalar_bytes<cl_int>(p.weighted ? 1 : 0),
                  scalar_bytes<cl_int>(static_cast<cl_int>(r.reject)),
                  scalar_bytes<cl_int>(static_cast<cl_int>(r.combine)),
                  scalar_bytes<cl_int>(static_cast<cl_int>(r.centre)),
                  scalar_bytes<cl_int>(r.max_iters),
                  scalar_bytes<cl_int>(r.n_low),
                  scalar_bytes<cl_int>(r.n_high),
                  scalar_bytes<cl_double>(r.sigma_low),
                  scalar_bytes<cl_double>(r.sigma_high),
                  scalar_bytes<cl_double>(r.percentile_low),
                  scalar_bytes<cl_double>(r.percentile_high)};
  rows.work_items_per_row = tc;
  rows.ram_budget_bytes = settings.memory_budget_bytes;
  rows.cpu = [&](int64_t first, int64_t count_rows, const void* const* inputs, void* const* outputs) {
    return stack.on_cpu(first, count_rows, static_cast<const float*>(inputs[0]), outputs);
  };

  result.run = run_rows(runtime.run_env(), *kernel.value(), rows, settings);
  if (auto error = stack.error(); result.run.code == Code::task_failed && error)
    result.run.message = cat(settings.name, ": ", *error);
  if (result.run.code != Code::ok) return result;

  int64_t most = 0;
  for (auto [device, chunks] : result.run.report.device_chunks)
    if (chunks > most) {
      most = chunks;
      result.device_index = device;
    }
  if (job.want_frame_rejected) totals.frame_rejected.assign(static_cast<size_t>(n), 0);
  for (int64_t u = 0; u < units; ++u) {
    const RowUnit at = plan.unit(u);
    const int64_t src = u * tc;
    for (int64_t i = 0; i < at.cols; ++i) {
      totals.kept += count[src + i];
      totals.rejected += low[src + i] + high[src + i];
    }
    if (!direct) {
      const int64_t dst = (at.channel * f.height + at.row) * f.width + at.col0;
      std::memcpy(job.out.image + dst, image + src, static_cast<size_t>(at.cols) * 4);
      if (job.out.count) std::memcpy(job.out.count + dst, count + src, static_cast<size_t>(at.cols) * 4);
      if (job.out.low) std::memcpy(job.out.low + dst, low + src, static_cast<size_t>(at.cols) * 4);
      if (job.out.high) std::memcpy(job.out.high + dst, high + src, static_cast<size_t>(at.cols) * 4);
    }
    if (job.want_frame_rejected)
      for (int64_t j = 0; j < n; ++j) totals.frame_rejected[static_cast<size_t>(j)] += frame_rejected[u * n + j];
  }
  return result;
}

}  // namespace plx::stack
