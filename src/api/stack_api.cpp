// Stacking entry points: plx_stack_desc_t / plx_stack_result_t checked and
// turned into a stack job, planned, run on the CPU or a device.
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "api/guard.hpp"
#include "api/handles.hpp"
#include "api/kernel_devices.hpp"
#include "api/run_options.hpp"
#include "api/struct_io.hpp"
#include "kernels/stack/frame_stats.hpp"
#include "kernels/stack/pixel_simd.hpp"
#include "kernels/stack/stack_cpu.hpp"
#include "kernels/stack/stack_opencl.hpp"
#include "kernels/stack/stack_plan.hpp"

namespace plx::api {
namespace {

using namespace plx::stack;

static_assert(static_cast<int>(Combine::max) == PLX_COMBINE_MAX);
static_assert(static_cast<int>(Reject::minmax) == PLX_REJECT_MINMAX);
static_assert(static_cast<int>(Centre::mean) == PLX_CENTRE_MEAN);
static_assert(static_cast<int>(Weights::noise) == PLX_WEIGHTS_NOISE_VARIANCE);
static_assert(static_cast<int>(Normalize::linear_fit) == PLX_NORMALIZE_LINEAR_FIT);
static_assert(static_cast<int>(Where::gpu) == PLX_PREFER_GPU);

constexpr int32_t kMaxChannels = 64;

plx_stack_desc_t default_stack_desc() {
  plx_stack_desc_t d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.channels = 1;
  d.combine = PLX_COMBINE_MEAN;
  d.reject = PLX_REJECT_NONE;
  d.centre = PLX_CENTRE_MEDIAN;
  d.sigma_low = 3;
  d.sigma_high = 3;
  d.max_iters = 5;
  d.n_low = 1;
  d.n_high = 1;
  d.percentile_low = 10;
  d.percentile_high = 90;
  return d;
}

plx_stack_result_t default_stack_result() {
  plx_stack_result_t r;
  std::memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  r.device_index = -1;
  return r;
}

// Everything plx_stack needs, checked.
struct StackCall {
  Frames frames;
  PixelRule rule;
  FramePolicy policy;
  Where where = Where::automatic;
  const plx_run_options_t* run_options = nullptr;
};

template <class E>
bool in_enum(int32_t v, E last) {
  return v >= 0 && v <= static_cast<int32_t>(last);
}

plx_status_t to_stack_call(const char* fn, const plx_stack_desc_t& d, StackCall& call) {
  auto bad = [&](auto&&... parts) { return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": desc.", parts...); };
  if (d.frames < 1 || d.frames > INT32_MAX) return bad("frames must be from 1 to 2^31 - 1, got ", d.frames);
  if (d.height < 1) return bad("height must be >= 1, got ", d.height);
  if (d.width < 1) return bad("width must be >= 1, got ", d.width);
  if (d.channels < 1 || d.channels > kMaxChannels)
    return bad("channels must be from 1 to ", kMaxChannels, ", got ", d.channels);
  const long double pixels = static_cast<long double>(d.height) * d.width * d.channels;
  if (pixels * d.frames > static_cast<long double>(INT64_MAX))
    return bad("frames x height x width x channels overflows 64 bits");
  // No machine addresses more (64-bit CPUs map 48 to 57 bits): a larger image
  // is a wrong size, and sizes derived from it could overflow.
  if (pixels * 4 > static_cast<long double>(int64_t{1} << 56))
    return bad("height x width x channels is ", static_cast<double>(pixels),
               " pixels, more than any address space holds (2^54 floats): check the sizes");
  if (!in_enum(d.combine, Combine::max))
    return bad("combine ", d.combine, " is not a plx_stack_combine_t (MEAN 0 .. MAX 5)");
  if (!in_enum(d.reject, Reject::minmax))
    return bad("reject ", d.reject, " is not a plx_stack_reject_t (NONE 0 .. MINMAX 4)");
  if (!in_enum(d.centre, Centre::mean))
    return bad("centre ", d.centre, " is not a plx_stack_centre_t (MEDIAN 0, MEAN 1)");
  if (!in_enum(d.weights, Weights::noise))
    return bad("weights ", d.weights, " is not a plx_stack_weights_t (NONE 0, GIVEN 1, NOISE_VARIANCE 2)");
  if (!in_enum(d.normalize, Normalize::linear_fit))
    return bad("normalize ", d.normalize,
               " is not a plx_stack_normalize_t (NONE 0, ADDITIVE 1, MULTIPLICATIVE 2, LINEAR_FIT 3)");
  if (!in_enum(d.device, Where::gpu))
    return bad("device ", d.device, " is not a plx_device_preference_t (AUTO 0, CPU 1, GPU 2)");
  if (!std::isfinite(d.sigma_low) || d.sigma_low < 0)
    return bad("sigma_low must be finite and >= 0, got ", d.sigma_low);
  if (!std::isfinite(d.sigma_high) || d.sigma_high < 0)
    return bad("sigma_high must be finite and >= 0, got ", d.sigma_high);
  if (d.max_iters < 1 && d.max_iters != -1)
    return bad("max_iters must be >= 1, or -1 for until nothing changes, got ", d.max_iters);
  if (d.n_low < 0 || d.n_high < 0) return bad("n_low and n_high must be >= 0, got ", d.n_low, " and ", d.n_high);
  if (!(d.percentile_low >= 0 && d.percentile_low <= 100))
    return bad("percentile_low must be from 0 to 100, got ", d.percentile_low);
  if (!(d.percentile_high >= d.percentile_low && d.percentile_high <= 100))
    return bad("percentile_high must be from percentile_low (", d.percentile_low, ") to 100, got ", d.percentile_high);
  if (d.reference_frame < 0 || d.reference_frame >= d.frames)
    return bad("reference_frame must be from 0 to frames - 1 (", d.frames - 1, "), got ", d.reference_frame);
  const bool weighted = d.combine == PLX_COMBINE_WEIGHTED_MEAN;
  if (weighted && d.weights == PLX_WEIGHTS_NONE)
    return bad(
        "combine is WEIGHTED_MEAN but weights is NONE: set weights to GIVEN (with frame_weights) or "
        "NOISE_VARIANCE, or use MEAN");
  if (!weighted && d.weights != PLX_WEIGHTS_NONE)
    return bad("weights are set but combine is not WEIGHTED_MEAN, the only combine that uses them");
  if (d.weights == PLX_WEIGHTS_GIVEN && !d.frame_weights) return bad("weights is GIVEN but frame_weights is NULL");
  if (d.weights != PLX_WEIGHTS_GIVEN && d.frame_weights)
    return bad("frame_weights is set but weights is not GIVEN: set weights to PLX_WEIGHTS_GIVEN");

  Frames& f = call.frames;
  f.count = d.frames;
  f.height = d.height;
  f.width = d.width;
  f.channels = d.channels;
  if (d.frame_data && d.provider) return bad("frame_data and provider are both set: give one");
  if (!d.frame_data && !d.provider) return bad("neither frame_data nor provider is set");
  if (d.frame_data) {
    if (d.row_stride != 0 && d.row_stride < d.width)
      return bad("row_stride ", d.row_stride, " is less than width ", d.width, " (0 = width)");
    f.row_stride = d.row_stride ? d.row_stride : d.width;
    const long double plane = static_cast<long double>(d.height - 1) * f.row_stride + d.width;
    if (d.channel_stride < 0)
      return bad("channel_stride must be >= 0 (0 = height x row_stride), got ", d.channel_stride);
    if (d.channel_stride != 0 && d.channels > 1 && d.channel_stride < plane)
      return bad("channel_stride ", d.channel_stride, " is less than a channel plane (", static_cast<int64_t>(plane),
                 " floats: (height - 1) x row_stride + width); 0 = height x row_stride");
    const long double channel_step = d.channel_stride ? static_cast<long double>(d.channel_stride)
                                                      : static_cast<long double>(d.height) * f.row_stride;
    if (channel_step * (d.channels - 1) + plane > static_cast<long double>(INT64_MAX / 4))
      return bad(
          "a frame's extent, (channels - 1) x channel_stride + (height - 1) x row_stride + width floats, "
          "overflows 64 bits");
    f.channel_stride = d.channel_stride ? d.channel_stride : d.height * f.row_stride;
    f.data.resize(static_cast<size_t>(d.frames));
    for (int64_t j = 0; j < d.frames; ++j) {
      if (!d.frame_data[j]) return bad("frame_data[", j, "] is NULL");
      f.data[static_cast<size_t>(j)] = d.frame_data[j];
    }
  } else {
    if (d.row_stride != 0 || d.channel_stride != 0)
      return bad("row_stride and channel_stride apply to frame_data; a provider writes with dst_stride: leave them 0");
    if (d.provider_rows < -1)
      return bad("provider_rows must be >= 1, or 0 (bands that fit the L2 cache) or -1 (the plan's bands), got ",
                 d.provider_rows);
    f.provider_rows = d.provider_rows;
    plx_stack_provider_fn provider = d.provider;
    void* user = d.provider_user_data;
    f.provider = [provider, user](int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int channel,
                                  float* dst, int64_t dst_stride) {
      return provider(user, frame, row0, rows, col0, cols, channel, dst, dst_stride);
    };
  }

  PixelRule& r = call.rule;
  r.combine = static_cast<Combine>(d.combine);
  r.reject = static_cast<Reject>(d.reject);
  r.centre = static_cast<Centre>(d.centre);
  r.sigma_low = d.sigma_low;
  r.sigma_high = d.sigma_high;
  r.max_iters = d.max_iters;
  r.percentile_low = d.percentile_low;
  r.percentile_high = d.percentile_high;
  r.n_low = d.n_low;
  r.n_high = d.n_high;

  FramePolicy& p = call.policy;
  p.weights = static_cast<Weights>(d.weights);
  p.normalize = static_cast<Normalize>(d.normalize);
  p.reference = d.reference_frame;
  if (p.weights == Weights::given) {
    double total = 0;
    p.given_weights.assign(d.frame_weights, d.frame_weights + d.frames);
    for (int64_t j = 0; j < d.frames; ++j) {
      const double w = d.frame_weights[j];
      if (!std::isfinite(w) || w < 0) return bad("frame_weights[", j, "] must be finite and >= 0, got ", w);
      total += w;
    }
    if (!(total > 0)) return bad("frame_weights are all 0: at least one frame must weigh something");
  }
  call.where = static_cast<Where>(d.device);
  call.run_options = d.run_options;
  return PLX_OK;
}

plx_status_t read_stack(const char* fn, plx_runtime* runtime, const plx_stack_desc_t* desc, StackCall& call) {
  if (plx_status_t s = check_handle(runtime, fn); s != PLX_OK) return s;
  plx_stack_desc_t d = default_stack_desc();
  if (plx_status_t s = read_struct(desc, cat(fn, ": desc").c_str(), "plx_stack_desc_t", d); s != PLX_OK) return s;
  return to_stack_call(fn, d, call);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Per channel and frame (internal) -> per frame and channel (the result arrays).
void write_frame_major(const std::vector<double>& in, int64_t frames, int channels, double* out) {
  if (!out) return;
  for (int64_t j = 0; j < frames; ++j)
    for (int c = 0; c < channels; ++c) out[j * channels + c] = in[static_cast<size_t>(c * frames + j)];
}

}  // namespace
}  // namespace plx::api

using namespace plx;
using namespace plx::api;
using namespace plx::stack;

namespace {

// What plx_stack and plx_stack_plan both do once the descriptor is read
// (into p.call): the run options checked, the devices chosen, the stack planned.
struct Prepared {
  StackCall call;
  RunSettings settings;
  plx_run_report_t* report = nullptr;
  std::vector<int> devices;  // kernel_devices_for's
  std::optional<StackPlan> plan;
};

plx_status_t prepare(const char* fn, plx::Runtime& rt, Prepared& p) {
  if (plx_status_t s = to_settings(fn, rt, nullptr, p.call.run_options, p.settings, &p.report); s != PLX_OK) return s;
  auto preference = static_cast<int32_t>(p.call.where);
  if (plx_status_t s = kernel_devices_for(fn, rt, preference, p.devices); s != PLX_OK) return s;
  p.call.where = static_cast<Where>(preference);  // GPU where the runtime requires one
  auto planned = plan_stack(rt, p.call.frames, p.settings.name, p.settings.memory_budget_bytes);
  if (!planned) return set_error(fn, planned.error());
  p.plan = std::move(planned).value();
  // The frame pass (normalization, noise weights) comes first, on its own
  // memory: whole planes.
  if (needs_frame_pass(p.call.policy)) {
    if (p.settings.memory_budget_bytes <= 0) p.settings.memory_budget_bytes = rt.memory_budget();
    auto pass = frame_pass_workers(p.call.frames, p.call.policy, p.settings.memory_budget_bytes,
                                   p.plan->plan.cpu_workers, p.settings.name);
    if (!pass) return set_error(fn, pass.error());
  }
  return PLX_OK;
}

}  // namespace

extern "C" {

PLX_API plx_status_t plx_stack_desc_init(plx_stack_desc_t* desc, size_t struct_size) {
  return guard("plx_stack_desc_init", [&] {
    return init_struct(desc, struct_size, "plx_stack_desc_init: desc", "plx_stack_desc_t", default_stack_desc());
  });
}

PLX_API plx_status_t plx_stack_result_init(plx_stack_result_t* result, size_t struct_size) {
  return guard("plx_stack_result_init", [&] {
    return init_struct(result, struct_size, "plx_stack_result_init: result", "plx_stack_result_t",
                       default_stack_result());
  });
}

PLX_API plx_status_t plx_stack_plan(plx_runtime_t* runtime, const plx_stack_desc_t* desc, plx_plan_t** plan) {
  constexpr const char* fn = "plx_stack_plan";
  return guard(fn, [&]() -> plx_status_t {
    if (!plan) return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": plan (the out-handle) is NULL");
    *plan = nullptr;
    Prepared p;
    if (plx_status_t s = read_stack(fn, runtime, desc, p.call); s != PLX_OK) return s;
    if (plx_status_t s = prepare(fn, *runtime->impl, p); s != PLX_OK) return s;
    auto handle = std::make_unique<plx_plan>();
    handle->impl = std::move(p.plan->plan);
    *plan = handle.release();
    return PLX_OK;
  });
}

PLX_API plx_status_t plx_stack(plx_runtime_t* runtime, const plx_stack_desc_t* desc, plx_stack_result_t* result) {
  constexpr const char* fn = "plx_stack";
  return guard(fn, [&]() -> plx_status_t {
    Prepared p;
    if (plx_status_t s = read_stack(fn, runtime, desc, p.call); s != PLX_OK) return s;
    plx_stack_result_t r = default_stack_result();
    if (plx_status_t s = read_struct(result, "plx_stack: result", "plx_stack_result_t", r); s != PLX_OK) return s;
    if (!r.image)
      return fail(PLX_ERR_INVALID_ARGUMENT, fn,
                  ": result.image is NULL: it must point to height x width x channels floats");
    plx::Runtime& rt = *runtime->impl;
    if (plx_status_t s = prepare(fn, rt, p); s != PLX_OK) return s;
    const StackCall& call = p.call;
    const StackPlan& plan = *p.plan;
    RunSettings& settings = p.settings;
    std::vector<int>& devices = p.devices;
    if (!(call.run_options && call.run_options->workers > 0)) settings.workers = plan.plan.cpu_workers;

    auto t0 = std::chrono::steady_clock::now();
    RunReport pass;
    auto params = frame_params(rt.run_env(), call.frames, call.policy, settings, &pass);
    if (!params) {
      pass.failed_begin = pass.failed_end = -1;  // frames there, not the report's row units
      write_report(p.report, pass);
      return set_error(fn, params.error());
    }
    r.frame_stats_s = seconds_since(t0);

    Outputs out{r.image, r.count, r.rejected_low, r.rejected_high};
    StackJob job{call.frames, call.rule, params.value(), out, r.frame_rejected != nullptr};
    RunSettings s = settings;
    s.grain = plan.band_rows;
    Totals totals;
    auto t1 = std::chrono::steady_clock::now();
    RunOutcome run;
    int device_index = -1;
    if (!devices.empty()) {
      DeviceRun on_device = stack_on_devices(rt, devices, job, plan, s, totals);
      run = std::move(on_device.run);
      device_index = on_device.device_index;
      if (run.code != Code::ok && call.where == Where::automatic && run.code != Code::cancelled &&
          run.code != Code::task_failed) {
        rt.run_env().log.log(LogLevel::warn,
                             cat(fn, ": the OpenCL path failed (", run.message, "); stacking on the CPU instead"));
        totals = Totals{};
        devices.clear();
        device_index = -1;
      }
    }
    if (devices.empty()) run = stack_on_cpu(rt.run_env(), job, plan, s, totals);
    r.stack_s = seconds_since(t1);
    if (plx_status_t st = finish_run(run, p.report); st != PLX_OK) return st;

    const Frames& f = call.frames;
    if (r.frame_rejected)
      std::memcpy(r.frame_rejected, totals.frame_rejected.data(), static_cast<size_t>(f.count) * sizeof(int64_t));
    write_frame_major(params.value().scale, f.count, f.channels, r.frame_scale);
    write_frame_major(params.value().offset, f.count, f.channels, r.frame_offset);
    write_frame_major(params.value().frame_weight, f.count, f.channels, r.frame_weight);
    r.samples = f.count * f.pixels() * f.channels;
    r.kept = totals.kept;
    r.rejected = totals.rejected;
    r.missing = r.samples - r.kept - r.rejected;
    r.device_index = device_index;
    r.workers = s.workers;
    r.tile_rows = device_index < 0 ? plan.call_rows : plan.band_rows;  // a chunk's rows, cut into calls on the CPU
    const auto tiles_in = [&](int64_t rows) { return (rows + r.tile_rows - 1) / r.tile_rows; };
    r.tiles = plan.units / plan.band_rows * tiles_in(plan.band_rows) + tiles_in(plan.units % plan.band_rows);
    std::string target = simd_target();
    std::snprintf(r.simd_target, sizeof r.simd_target, "%s", target.c_str());
    return write_struct(result, "plx_stack: result", "plx_stack_result_t", r);
  });
}

}  // extern "C"
