#include "kernels/stack/stack_opencl.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include "core/runtime.hpp"
#include "device/device_set.hpp"
#include "device/kernel.hpp"
#include "device/streaming.hpp"
#include "kernels/stack/pixel_block.hpp"
#include "kernels/stack/provider_calls.hpp"
#include "kernels/stack/sorting_network.hpp"
#include "kernels/stack/stack_cl_source.hpp"  // generated from stack.cl

namespace plx::stack {
namespace {

constexpr int64_t kGroupItems = 64;  // PLX_GROUP of stack.cl

// Whether a network's samples sit in local memory as doubles (PLX_SORTED of
// stack.cl): up to 32 frames; floats for 64 (see stack.cl).
bool sorted_as_double(int network) { return network > 0 && network <= 32; }

// The sorting network of stack.cl for n frames (0: none, the bitonic sort in global memory):
// its samples take size x kGroupItems doubles or floats of local memory,
// which every device must have besides the group's row totals.
int network_size(int64_t n, const DeviceSet& set, const std::vector<int>& devices) {
  for (int size : {8, 16, 32, 64}) {
    if (n > size) continue;
    const int64_t bytes = size * kGroupItems * (sorted_as_double(size) ? 8 : 4) + 8;
    for (int index : devices)
      if (bytes > set.info(index).local_memory_bytes) return 0;
    return size;
  }
  return 0;
}

// One comparator on samples v[] as an OpenCL statement: PLX_CAS(v[lo],
// v[hi]) leaves the smaller of the two in v[lo].
std::string comparator(int lo, int hi) { return cat("PLX_CAS(v[", lo, "], v[", hi, "]) "); }

// Batcher's sorting network of `size` samples (the CPU's) as statements.
std::string network_comparators(int size) {
  std::string out;
  for_each_comparator(size, [&](int lo, int hi) { out += comparator(lo, hi); });
  return out;
}

// stack.cl with its marked parts instantiated for `frames` frames: when
// `network` is non-zero, the rules over samples sorted by a network of that
// size and kept in local memory (doubles up to 32 frames, floats for 64),
// with the frame count a constant (PLX_FRAMES); else the rules over samples
// in global memory (bitonic). One part per program: the bitonic sort's
// register blocks, built beside a network that never calls them, made the
// network's kernel 1.7x slower on an H100 (more registers for the whole
// kernel).
std::string kernel_source(int network, int64_t frames) {
  const std::string text = kStackClSource;
  auto part = [&](const std::string& name) {
    const std::string begin = "//@@" + name + "_BEGIN", end = "//@@" + name + "_END";
    const size_t b = text.find(begin), e = text.find(end);
    return text.substr(b + begin.size(), e - b - begin.size());
  };
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
  };
  const std::string sorted_type = sorted_as_double(network) ? "double" : "float";
  auto instance = [&](const std::string& name, const std::string& space, const std::string& suffix) {
    const std::string type = space == "__local" ? sorted_type : "float";
    return replace_all(replace_all(replace_all(part(name), "SAS", space), "SET", type), "_SFX", suffix);
  };
  const size_t first = text.find("//@@ACCESS_BEGIN");
  const std::string last_marker = "//@@RULES_END";
  std::string out = cat("#define PLX_NET ", network, "\n#define PLX_SORTED ", sorted_type, "\n", text.substr(0, first));
  if (network > 0) {
    out = cat("#define PLX_FRAMES ", frames, "\n", out);
    const std::string loader =
        replace_all(instance("NETWORK", "__local", "_l"), "NETWORK_COMPARATORS", network_comparators(network));
    out += instance("ACCESS", "__local", "_l") + replace_all(loader, "NETP", std::to_string(network)) +
           instance("RULES", "__local", "_l");
  } else {
    std::string cleaners;
    for (const Comparator& c : bitonic_cleaners<32>()) cleaners += comparator(c.lo, c.hi);
    const std::string bitonic =
        replace_all(replace_all(instance("BITONIC", "__global", "_g"), "BLOCK_SORT", network_comparators(32)),
                    "BLOCK_CLEANERS", cleaners);
    out += instance("ACCESS", "__global", "_g") + bitonic + instance("RULES", "__global", "_g");
  }
  return out + text.substr(text.find(last_marker) + last_marker.size());
}

class DeviceStack {
 public:
  // `maps`: which of count, low and high (bits 0, 1, 2) are transferred.
  DeviceStack(const StackJob& job, const StackPlan& plan, Executor& executor, int maps)
      : job_(job), plan_(plan), f_(job.frames), executor_(executor), maps_(maps) {}

  // Fills the input of units [first, first + rows): per unit, N rows of
  // tile_cols samples, normalized as the CPU loads them, padded with NaN.
  // Frames are filled in parallel, by every thread: one thread's copy (~10
  // GB/s) is slower than the link it feeds (~50 GB/s from pinned memory on an
  // H100). With fewer frames than threads, each frame's rows are cut into
  // parts.
  int provide(int64_t first, int64_t rows, float* dst) {
    const int64_t n = f_.count, threads = executor_.threads();
    const int64_t parts = std::clamp<int64_t>((threads + n - 1) / n, 1, rows), items = n * parts;
    const int64_t bytes = rows * n * plan_.tile_cols * 4;
    const int lanes = static_cast<int>(std::clamp<int64_t>(bytes / kBytesPerLane, 1, std::min(items, threads)));
    std::atomic<int> failed{0};
    executor_.run_lanes(lanes, [&](int lane) {
      for (int64_t k = lane; k < items && failed.load() == 0; k += lanes) {
        const int64_t j = k % n, part = k / n, r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
        if (r1 == r0) continue;
        if (int code = provide_frame(j, first + r0, r1 - r0, dst + r0 * n * plan_.tile_cols); code != 0)
          failed.store(code);
      }
    });
    return failed.load();
  }

  // The CPU pixel loops over provided units: the fallback of a device chunk.
  int on_cpu(int64_t first, int64_t rows, const float* in, void* const* out) const {
    const int64_t n = f_.count, tc = plan_.tile_cols;
    Scratch scratch;
    std::vector<const float*> frame_rows(static_cast<size_t>(n));
    std::vector<int64_t> rejected(static_cast<size_t>(n));
    std::vector<int32_t> untransferred(static_cast<size_t>(3 * tc));  // the maps the host does not want
    for (int64_t r = 0; r < rows; ++r) {
      const RowUnit u = plan_.unit(first + r);
      PixelBlock block;
      for (int64_t j = 0; j < n; ++j) frame_rows[static_cast<size_t>(j)] = in + (r * n + j) * tc;
      block.rows = frame_rows.data();
      block.frames = n;
      block.pixels = u.cols;
      if (job_.params.weighted) block.weight = job_.params.weight.data() + static_cast<size_t>(u.channel) * n;
      block.image = static_cast<float*>(out[0]) + r * tc;
      int32_t* map[3];
      for (int k = 0; k < 3; ++k)
        map[k] = maps_ & (1 << k) ? static_cast<int32_t*>(out[1 + k]) + r * tc : untransferred.data() + k * tc;
      block.count = map[0];
      block.low = map[1];
      block.high = map[2];
      std::fill(rejected.begin(), rejected.end(), 0);
      block.frame_rejected = job_.want_frame_rejected ? rejected.data() : nullptr;
      stack_block(job_.rule, block, scratch);
      std::fill(block.image + u.cols, block.image + tc, std::numeric_limits<float>::quiet_NaN());
      for (int32_t* p : map) std::fill(p + u.cols, p + tc, 0);
      auto* row_totals = static_cast<int32_t*>(out[5]) + 2 * r;
      row_totals[0] = row_totals[1] = 0;
      for (int64_t i = 0; i < u.cols; ++i) {
        row_totals[0] += block.count[i];
        row_totals[1] += block.low[i] + block.high[i];
      }
      if (job_.want_frame_rejected) {
        auto* fr = static_cast<int32_t*>(out[4]) + r * n;
        for (int64_t j = 0; j < n; ++j) fr[j] = static_cast<int32_t>(rejected[static_cast<size_t>(j)]);
      }
    }
    return 0;
  }

  std::optional<std::string> error() { return provider_.error(); }

 private:
  // Below this, a thread is not worth starting. Small enough that a 16 MiB
  // upload piece (streaming.cpp) takes all of an H100 machine's 16 threads:
  // at 2 MiB it took 8, and the fill (~20 GB/s) bounded the run.
  static constexpr int64_t kBytesPerLane = int64_t{512} << 10;

  // Frame j's rows of units [first, first + rows).
  int provide_frame(int64_t j, int64_t first, int64_t rows, float* dst) {
    const int64_t n = f_.count, tc = plan_.tile_cols;
    for (int64_t r = 0; r < rows;) {
      const RowUnit u = plan_.unit(first + r);
      // The rows after it in the same channel and tile: one provider call.
      const int64_t run = std::min(rows - r, f_.height - u.row);
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
      r += run;
    }
    return 0;
  }

  const StackJob& job_;
  const StackPlan& plan_;
  const Frames& f_;
  Executor& executor_;
  const int maps_;
  ProviderCalls provider_;
};

}  // namespace

DeviceRun stack_on_devices(Runtime& runtime, const std::vector<int>& devices, const StackJob& job,
                           const StackPlan& plan, const RunSettings& settings, Totals& totals) {
  DeviceRun result;
  const Frames& f = job.frames;
  const int64_t n = f.count;
  const int network = network_size(n, runtime.devices(), devices);
  auto kernel = Kernel::create(runtime.devices(), devices, kernel_source(network, n), "plx_stack", "-cl-std=CL1.2");
  if (!kernel) {
    result.run.code = kernel.error().code;
    result.run.message = cat(settings.name, ": the stacking kernel: ", kernel.error().message);
    return result;
  }
  const int64_t tc = plan.tile_cols, units = plan.units;
  const bool direct = plan.col_tiles == 1;  // unit rows are the image's rows: write in place
  const auto plane = static_cast<size_t>(units * tc);
  std::vector<float> image_tmp(direct ? 0 : plane);
  float* image = direct ? job.out.image : image_tmp.data();
  // Only the maps the caller asked for come back; the totals come from the
  // kernel's per-row sums (32-bit: every map comes back where a row's sum
  // could overflow them). With few frames the maps would be most of the
  // bytes moved: 12 per pixel against 4 per frame.
  const bool row_totals = n * tc < (int64_t{1} << 31);
  int32_t* given[3] = {job.out.count, job.out.low, job.out.high};
  std::vector<int32_t> map_tmp[3];
  int32_t* map[3] = {nullptr, nullptr, nullptr};  // null: stays on the device
  int maps = 0;
  for (int k = 0; k < 3; ++k) {
    if (!given[k] && row_totals) continue;
    maps |= 1 << k;
    if (direct && given[k]) {
      map[k] = given[k];
    } else {
      map_tmp[k].resize(plane);
      map[k] = map_tmp[k].data();
    }
  }
  std::vector<int32_t> frame_rejected(static_cast<size_t>(job.want_frame_rejected ? units * n : 0));
  std::vector<int32_t> unit_totals(static_cast<size_t>(2 * units));  // kept, rejected

  DeviceStack stack(job, plan, runtime.run_env().executor, maps);
  RowsJob rows;
  rows.rows = units;
  RowsInput in;
  in.bytes_per_row = n * tc * 4;
  in.provider = [&](int64_t first, int64_t count_rows, void* dst) {
    return stack.provide(first, count_rows, static_cast<float*>(dst));
  };
  rows.inputs.push_back(std::move(in));
  // What the caller did not ask for stays on the device (null data), a row's
  // worth of room in the smallest buffer the kernel may leave unwritten.
  auto bytes = [](const void* data, int64_t wanted) { return data ? wanted : int64_t{4}; };
  rows.outputs = {{reinterpret_cast<unsigned char*>(image), tc * 4},
                  {reinterpret_cast<unsigned char*>(map[0]), bytes(map[0], tc * 4)},
                  {reinterpret_cast<unsigned char*>(map[1]), bytes(map[1], tc * 4)},
                  {reinterpret_cast<unsigned char*>(map[2]), bytes(map[2], tc * 4)},
                  {reinterpret_cast<unsigned char*>(job.want_frame_rejected ? frame_rejected.data() : nullptr),
                   job.want_frame_rejected ? n * 4 : 4, job.want_frame_rejected},  // counted with atomics
                  {reinterpret_cast<unsigned char*>(unit_totals.data()), 8, true}};
  rows.scratch_bytes_per_row = network == 0 ? n * tc * 4 : 4;
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
                  scalar_bytes<cl_int>(maps),
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
  rows.group_items = kGroupItems;
  rows.ram_budget_bytes = settings.memory_budget_bytes;
  rows.device_required = runtime.config().planner.policy == DevicePolicy::gpu_required;
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
    if (row_totals) {
      totals.kept += unit_totals[static_cast<size_t>(2 * u)];
      totals.rejected += unit_totals[static_cast<size_t>(2 * u + 1)];
    } else {
      for (int64_t i = 0; i < at.cols; ++i) {
        totals.kept += map[0][src + i];
        totals.rejected += map[1][src + i] + map[2][src + i];
      }
    }
    if (!direct) {
      const int64_t dst = (at.channel * f.height + at.row) * f.width + at.col0;
      std::memcpy(job.out.image + dst, image + src, static_cast<size_t>(at.cols) * 4);
      for (int k = 0; k < 3; ++k)
        if (given[k]) std::memcpy(given[k] + dst, map[k] + src, static_cast<size_t>(at.cols) * 4);
    }
    if (job.want_frame_rejected)
      for (int64_t j = 0; j < n; ++j) totals.frame_rejected[static_cast<size_t>(j)] += frame_rejected[u * n + j];
  }
  return result;
}

}  // namespace plx::stack
