// Co-addition entry points: plx_coadd_input_t / plx_coadd_desc_t /
// plx_coadd_result_t checked and turned into a coadd job (mappings built,
// WCS parsed, boxes found), planned into output tiles and run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "api/guard.hpp"
#include "api/handles.hpp"
#include "api/kernel_devices.hpp"
#include "api/run_options.hpp"
#include "api/struct_io.hpp"
#include "core/runtime.hpp"
#include "kernels/coadd/coadd_cpu.hpp"
#include "kernels/coadd/coadd_opencl.hpp"
#include "kernels/coadd/wcs.hpp"

namespace plx::api {
namespace {

using namespace plx::coadd;

static_assert(static_cast<int>(Combine::last) == PLX_COADD_LAST);
static_assert(static_cast<int>(Interp::lanczos3) == PLX_INTERP_LANCZOS3);

plx_coadd_input_t default_coadd_input() {
  plx_coadd_input_t in;
  std::memset(&in, 0, sizeof in);
  in.struct_size = sizeof in;
  in.weight = 1;
  in.mapping = PLX_MAPPING_AFFINE;
  in.matrix[0] = in.matrix[4] = in.matrix[8] = 1;
  return in;
}

plx_coadd_desc_t default_coadd_desc() {
  plx_coadd_desc_t d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.interpolation = PLX_INTERP_BILINEAR;
  d.combine = PLX_COADD_MEAN;
  d.device = PLX_PREFER_AUTO;
  return d;
}

plx_coadd_result_t default_coadd_result() {
  plx_coadd_result_t r;
  std::memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  r.device_index = -1;
  return r;
}

// What a call needs beyond the job: where the inputs' WCS went.
struct CoaddCall {
  CoaddJob job;
  int native_wcs = 0, grid_wcs = 0;
  std::vector<std::string> notes;  // logged once the call runs
};

template <class... Parts>
plx_status_t bad_input(const char* fn, int64_t i, Parts&&... parts) {
  return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": desc.inputs[", i, "].", std::forward<Parts>(parts)...);
}

// Checks one image (data or weights) of an input.
plx_status_t to_image(const char* fn, int64_t i, const char* field, const float* data, const plx_coadd_input_t& in,
                      Image& image) {
  if (in.row_stride != 0 && in.row_stride < in.width)
    return bad_input(fn, i, "row_stride ", in.row_stride, " is less than width ", in.width, " (0 = width)");
  image = Image{data, in.height, in.width, in.row_stride ? in.row_stride : in.width};
  if (!data) return bad_input(fn, i, field, " is NULL");
  return PLX_OK;
}

// The output pixel box of reproject: the input's outer corners mapped to the
// output, floor(min + 0.5) .. ceil(max + 0.5), the whole grid where a corner
// has no counterpart (or the mapping has no inverse).
template <class CornerFn>
Box corner_box(const plx_coadd_input_t& in, int64_t width, int64_t height, CornerFn to_output) {
  const double w = static_cast<double>(in.width) - 0.5, h = static_cast<double>(in.height) - 0.5;
  const double cx[4] = {-0.5, w, w, -0.5}, cy[4] = {-0.5, -0.5, h, h};
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (int k = 0; k < 4; ++k) {
    double xo, yo;
    if (!to_output(cx[k], cy[k], xo, yo) || !std::isfinite(xo) || !std::isfinite(yo)) return Box{0, width, 0, height};
    xmin = std::min(xmin, xo);
    xmax = std::max(xmax, xo);
    ymin = std::min(ymin, yo);
    ymax = std::max(ymax, yo);
  }
  auto clampd = [](double v, int64_t lo, int64_t hi) {
    return static_cast<int64_t>(std::clamp(v, static_cast<double>(lo), static_cast<double>(hi)));
  };
  return Box{clampd(std::floor(xmin + 0.5), 0, width), clampd(std::ceil(xmax + 0.5), 0, width),
             clampd(std::floor(ymin + 0.5), 0, height), clampd(std::ceil(ymax + 0.5), 0, height)};
}

plx_status_t to_input(const char* fn, int64_t i, const plx_coadd_input_t& in, const plx_coadd_desc_t& d,
                      const std::shared_ptr<const Wcs>& out_wcs, CoaddCall& call) {
  if (in.height < 1 || in.width < 1)
    return bad_input(fn, i, "height and width must be >= 1, got ", in.height, " x ", in.width);
  if (static_cast<long double>(in.height) * std::max(in.row_stride, in.width) > static_cast<long double>(INT64_MAX / 4))
    return bad_input(fn, i, "image size overflows 64 bits");
  Input input;
  if (plx_status_t s = to_image(fn, i, "data", in.data, in, input.data); s != PLX_OK) return s;
  if (in.weights)
    if (plx_status_t s = to_image(fn, i, "weights", in.weights, in, input.weights); s != PLX_OK) return s;
  if (!std::isfinite(in.weight)) return bad_input(fn, i, "weight must be finite, got ", in.weight);
  if (!std::isfinite(in.background)) return bad_input(fn, i, "background must be finite, got ", in.background);
  input.weight = in.weight;
  input.background = in.background;
  const int64_t W = d.width, H = d.height;
  switch (in.mapping) {
    case PLX_MAPPING_AFFINE:
    case PLX_MAPPING_HOMOGRAPHY: {
      const bool affine = in.mapping == PLX_MAPPING_AFFINE;
      auto m = std::make_shared<HomographyMapping>();
      for (int k = 0; k < (affine ? 6 : 9); ++k) {
        if (!std::isfinite(in.matrix[k])) return bad_input(fn, i, "matrix[", k, "] is not finite: ", in.matrix[k]);
        m->h[static_cast<size_t>(k)] = in.matrix[k];
      }
      if (affine) m->h[6] = 0, m->h[7] = 0, m->h[8] = 1;
      Mat3 back;
      if (!invert(m->h, back))
        return bad_input(fn, i, "matrix is singular: it must map the output plane onto the input one");
      input.box =
          corner_box(in, W, H, [&](double x, double y, double& xo, double& yo) { return apply(back, x, y, xo, yo); });
      input.map = std::move(m);
      break;
    }
    case PLX_MAPPING_WCS: {
      if (!in.wcs_header) return bad_input(fn, i, "mapping is WCS but wcs_header is NULL");
      if (!out_wcs)
        return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": desc.inputs[", i,
                    "] maps by WCS but desc.output_wcs_header is NULL: give the output grid's FITS header");
      auto wcs = Wcs::parse(in.wcs_header, cat("desc.inputs[", i, "].wcs_header"));
      if (!wcs) return set_error(fn, wcs.error());
      bool native = false;
      auto mapping = wcs_mapping(out_wcs, wcs.value(), native);
      if (!mapping)
        return set_error(fn, make_error(mapping.error().code, "desc.inputs[", i, "]: ", mapping.error().message));
      (native ? call.native_wcs : call.grid_wcs)++;
      call.notes.push_back(cat("input ", i, " (", wcs.value()->frame_name(),
                               "): ", native ? "TAN to TAN as a homography" : "through wcslib on a grid",
                               wcs.value()->sip().present() || out_wcs->sip().present() ? ", with SIP" : ""));
      const Mat3 to_out = frame_rotation(*wcs.value(), *out_wcs).value();
      input.box = corner_box(in, W, H, [&](double x, double y, double& xo, double& yo) {
        return wcs_to_output(*wcs.value(), *out_wcs, to_out, x, y, xo, yo);
      });
      input.map = std::move(mapping).value();
      break;
    }
    case PLX_MAPPING_COORDINATE_MAP: {
      if (!in.map) return bad_input(fn, i, "mapping is COORDINATE_MAP but map is NULL");
      auto m = std::make_shared<CallbackMapping>();
      plx_coordinate_map_fn map = in.map;
      void* user = in.map_user_data;
      m->input = i;
      m->fn = [map, user, i](int64_t n, const double* x, const double* y, double* xi, double* yi) {
        return map(user, i, n, x, y, xi, yi);
      };
      input.box = Box{0, W, 0, H};  // no inverse: every output pixel is asked
      input.map = std::move(m);
      break;
    }
    default:
      return bad_input(fn, i, "mapping ", in.mapping,
                       " is not a plx_coadd_mapping_t (AFFINE 0, HOMOGRAPHY 1, WCS 2, COORDINATE_MAP 3)");
  }
  if (input.box.empty()) call.notes.push_back(cat("input ", i, " does not reach the output grid: skipped"));
  call.job.inputs.push_back(std::move(input));
  return PLX_OK;
}

plx_status_t to_coadd_call(const char* fn, const plx_coadd_desc_t& d, CoaddCall& call) {
  auto bad = [&](auto&&... parts) { return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": desc.", parts...); };
  if (d.count < 1 || d.count > INT32_MAX) return bad("count must be from 1 to 2^31 - 1, got ", d.count);
  if (!d.inputs) return bad("inputs is NULL");
  if (d.height < 1 || d.width < 1) return bad("height and width must be >= 1, got ", d.height, " x ", d.width);
  if (static_cast<long double>(d.height) * d.width > static_cast<long double>(INT64_MAX / 16))
    return bad("height x width overflows 64 bits");
  // No machine addresses more (64-bit CPUs map 48 to 57 bits): a larger image
  // is a wrong size, and the sizes of a row's tiles (up to 160 bytes a pixel)
  // would overflow.
  if (static_cast<long double>(d.height) * d.width * 4 > static_cast<long double>(int64_t{1} << 56))
    return bad("height x width is ", static_cast<double>(d.height) * static_cast<double>(d.width),
               " pixels, more than any address space holds (2^54 floats): check the sizes");
  if (d.interpolation < 0 || d.interpolation > PLX_INTERP_LANCZOS3)
    return bad("interpolation ", d.interpolation,
               " is not a plx_interpolation_t (NEAREST 0, BILINEAR 1, BICUBIC 2, LANCZOS3 3)");
  if (d.combine < 0 || d.combine > PLX_COADD_LAST)
    return bad("combine ", d.combine, " is not a plx_coadd_combine_t (MEAN 0 .. LAST 6)");
  if (d.device < PLX_PREFER_AUTO || d.device > PLX_PREFER_GPU)
    return bad("device ", d.device, " is not a plx_device_preference_t (AUTO 0, CPU 1, GPU 2)");
  if (d.reserved != 0) return bad("reserved must be 0, got ", d.reserved);
  call.job.height = d.height;
  call.job.width = d.width;
  call.job.interp = static_cast<Interp>(d.interpolation);
  call.job.combine = static_cast<Combine>(d.combine);
  std::shared_ptr<const Wcs> out_wcs;
  if (d.output_wcs_header) {
    auto parsed = Wcs::parse(d.output_wcs_header, "desc.output_wcs_header");
    if (!parsed) return set_error(fn, parsed.error());
    out_wcs = std::move(parsed).value();
  }
  // Every element has the struct_size of the first: the array's stride.
  const size_t stride = d.inputs[0].struct_size;
  if (plx_status_t s =
          check_struct_size<plx_coadd_input_t>(stride, cat(fn, ": desc.inputs[0]").c_str(), "plx_coadd_input_t");
      s != PLX_OK)
    return s;
  const auto* bytes = reinterpret_cast<const unsigned char*>(d.inputs);
  for (int64_t i = 0; i < d.count; ++i) {
    const auto* element = reinterpret_cast<const plx_coadd_input_t*>(bytes + static_cast<size_t>(i) * stride);
    if (element->struct_size != stride)
      return bad("inputs[", i, "].struct_size is ", element->struct_size, " but inputs[0]'s is ", stride,
                 ": fill every input with plx_coadd_input_init");
    plx_coadd_input_t in = default_coadd_input();
    if (plx_status_t s = read_struct(element, cat(fn, ": desc.inputs[", i, "]").c_str(), "plx_coadd_input_t", in);
        s != PLX_OK)
      return s;
    if (plx_status_t s = to_input(fn, i, in, d, out_wcs, call); s != PLX_OK) return s;
  }
  return PLX_OK;
}

// The devices that resample (none: the CPU), kernel_devices_for's (which
// may turn `preference` from AUTO to GPU); a device must hold every input
// image at once, and the memory budget their host copy (the upload) besides
// an output row.
plx_status_t choose_devices(const char* fn, plx::Runtime& rt, int32_t& preference, const CoaddJob& job,
                            const RunSettings& settings, std::vector<int>& devices) {
  std::vector<int> candidates;
  if (plx_status_t s = kernel_devices_for(fn, rt, preference, candidates); s != PLX_OK) return s;
  if (candidates.empty()) return PLX_OK;  // CPU, or AUTO without a GPU: nothing to say
  const bool required = rt.config().planner.policy == plx::DevicePolicy::gpu_required;
  const int64_t resident = device_resident_bytes(job);
  const Machine m = rt.machine();
  for (int i : candidates) {
    const DeviceInfo& info = m.devices[static_cast<size_t>(i)];
    if (resident <= info.max_alloc_bytes && resident <= info.global_memory_bytes / 2) devices.push_back(i);
  }
  std::string why;
  if (devices.empty())
    why = cat("the input images (", resident, " bytes) do not fit in one allocation on any device");
  else if (!device_fits_budget(job, settings.memory_budget_bytes))
    why = cat("the host copy of the input images for the devices (", resident,
              " bytes) and one output row do not fit in the memory budget (", settings.memory_budget_bytes,
              " bytes)");
  if (!why.empty() && required)
    return fail(PLX_ERR_NO_DEVICE, fn, ": the runtime is GPU_REQUIRED but ", why,
                ": give fewer or smaller input images, or a larger memory budget, or use desc.device CPU");
  if (!why.empty()) {
    rt.run_env().log.log(preference == PLX_PREFER_GPU ? LogLevel::warn : LogLevel::info,
                         cat(fn, ": ", why, "; co-adding on the CPU"));
    devices.clear();
  }
  return PLX_OK;
}

// Tiles of rows for the CPU: a few per worker, each within the worker's share
// of the budget (settings.grain = rows per tile).
plx_status_t plan_cpu_tiles(const char* fn, const CoaddJob& job, RunSettings& settings) {
  const int64_t row_bytes = job.width * tile_bytes_per_pixel(job);
  const int64_t budget = settings.memory_budget_bytes;
  const int64_t fit = budget / std::max(1, settings.workers) / std::max<int64_t>(row_bytes, 1);
  if (fit < 1)
    return fail(PLX_ERR_OUT_OF_MEMORY, fn, ": one output row of ", job.width, " pixels needs ", row_bytes,
                " bytes per worker, more than the memory budget allows (", budget, " bytes for ", settings.workers,
                " workers)");
  const int64_t share = (job.height + 4 * settings.workers - 1) / (4 * settings.workers);
  settings.grain = std::clamp<int64_t>(std::min<int64_t>(share, 64), 1, fit);
  return PLX_OK;
}

}  // namespace
}  // namespace plx::api

using namespace plx;
using namespace plx::api;
using namespace plx::coadd;

extern "C" {

PLX_API plx_status_t plx_coadd_input_init(plx_coadd_input_t* input, size_t struct_size) {
  return guard("plx_coadd_input_init", [&] {
    return init_struct(input, struct_size, "plx_coadd_input_init: input", "plx_coadd_input_t", default_coadd_input());
  });
}

PLX_API plx_status_t plx_coadd_desc_init(plx_coadd_desc_t* desc, size_t struct_size) {
  return guard("plx_coadd_desc_init", [&] {
    return init_struct(desc, struct_size, "plx_coadd_desc_init: desc", "plx_coadd_desc_t", default_coadd_desc());
  });
}

PLX_API plx_status_t plx_coadd_result_init(plx_coadd_result_t* result, size_t struct_size) {
  return guard("plx_coadd_result_init", [&] {
    return init_struct(result, struct_size, "plx_coadd_result_init: result", "plx_coadd_result_t",
                       default_coadd_result());
  });
}

PLX_API plx_status_t plx_coadd(plx_runtime_t* runtime, const plx_coadd_desc_t* desc, plx_coadd_result_t* result) {
  constexpr const char* fn = "plx_coadd";
  return guard(fn, [&]() -> plx_status_t {
    if (plx_status_t s = check_handle(runtime, fn); s != PLX_OK) return s;
    plx_coadd_desc_t d = default_coadd_desc();
    if (plx_status_t s = read_struct(desc, "plx_coadd: desc", "plx_coadd_desc_t", d); s != PLX_OK) return s;
    plx_coadd_result_t r = default_coadd_result();
    if (plx_status_t s = read_struct(result, "plx_coadd: result", "plx_coadd_result_t", r); s != PLX_OK) return s;
    if (d.tile && r.image)
      return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": desc.tile and result.image are both set: give one");
    if (!d.tile && !r.image)
      return fail(PLX_ERR_INVALID_ARGUMENT, fn,
                  ": result.image is NULL: point it to height x width floats, or set desc.tile");
    if (d.tile && r.footprint)
      return fail(PLX_ERR_INVALID_ARGUMENT, fn,
                  ": with desc.tile the footprint goes to the tile function: "
                  "leave result.footprint NULL");
    CoaddCall call;
    if (plx_status_t s = to_coadd_call(fn, d, call); s != PLX_OK) return s;
    plx::Runtime& rt = *runtime->impl;
    RunSettings settings;
    plx_run_report_t* report = nullptr;
    if (plx_status_t s = to_settings(fn, rt, nullptr, d.run_options, settings, &report); s != PLX_OK) return s;
    CoaddJob& job = call.job;
    job.image = r.image;
    job.footprint = r.footprint;
    if (d.tile) {
      plx_coadd_tile_fn tile = d.tile;
      void* user = d.tile_user_data;
      job.sink = [tile, user](int64_t row0, int64_t rows, const float* image, const float* footprint) {
        return tile(user, row0, rows, image, footprint);
      };
    }
    if (settings.memory_budget_bytes <= 0) settings.memory_budget_bytes = rt.memory_budget();
    int32_t preference = d.device;  // GPU where the runtime requires one
    std::vector<int> devices;
    if (plx_status_t s = choose_devices(fn, rt, preference, job, settings, devices); s != PLX_OK) return s;
    for (const std::string& note : call.notes) rt.run_env().log.log(LogLevel::info, cat(fn, ": ", note));

    const auto t0 = std::chrono::steady_clock::now();
    CoaddTotals totals;
    RunOutcome run;
    if (!devices.empty()) {
      DeviceCoadd on_device = coadd_on_devices(rt, devices, job, settings, totals);
      run = std::move(on_device.run);
      r.device_index = on_device.device_index;
      r.tile_rows = on_device.band_rows;
      if (run.code != Code::ok && preference == PLX_PREFER_AUTO && run.code != Code::cancelled &&
          run.code != Code::task_failed && !on_device.delivered) {
        rt.run_env().log.log(LogLevel::warn,
                             cat(fn, ": the OpenCL path failed (", run.message, "); co-adding on the CPU instead"));
        devices.clear();
      }
    }
    if (devices.empty()) {
      if (plx_status_t s = plan_cpu_tiles(fn, job, settings); s != PLX_OK) return s;
      totals = CoaddTotals{};
      run = coadd_on_cpu(rt.run_env(), job, settings, totals);
      r.device_index = -1;
      r.tile_rows = settings.grain;
    }
    if (plx_status_t st = finish_run(run, report); st != PLX_OK) return st;
    r.covered = totals.covered;
    r.samples = totals.samples;
    r.tiles = (job.height + r.tile_rows - 1) / r.tile_rows;
    r.workers = settings.workers;
    r.native_wcs = call.native_wcs;
    r.grid_wcs = call.grid_wcs;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return write_struct(result, "plx_coadd: result", "plx_coadd_result_t", r);
  });
}

}  // extern "C"
