// Matrix multiply entry points: plx_gemm_desc_t checked field by field
// (before any matrix is touched), turned into a row-major gemm::Problem,
// placed (gemm_choice) and run on the CPU path or through CLBlast; and
// plx_gemm_tune.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "api/guard.hpp"
#include "api/handles.hpp"
#include "api/run_options.hpp"
#include "api/struct_io.hpp"
#include "kernels/gemm/gemm_choice.hpp"
#include "kernels/gemm/gemm_cpu.hpp"
#include "kernels/gemm/gemm_run.hpp"
#include "kernels/gemm/gemm_tune.hpp"
#include "kernels/gemm/gemm_tuning.hpp"

namespace plx::api {
namespace {

using namespace plx::gemm;

static_assert(static_cast<int>(Precision::f64) == PLX_PRECISION_F64);
static_assert(static_cast<int>(Where::gpu) == PLX_PREFER_GPU);
static_assert(static_cast<int>(tune_helpers) == PLX_TUNE_HELPERS);

plx_gemm_desc_t default_gemm_desc() {
  plx_gemm_desc_t d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.precision = PLX_PRECISION_F32;
  d.layout = PLX_ROW_MAJOR;
  d.trans_a = PLX_NO_TRANS;
  d.trans_b = PLX_NO_TRANS;
  d.alpha = 1;
  d.beta = 0;
  d.device = PLX_PREFER_AUTO;
  return d;
}

plx_gemm_result_t default_gemm_result() {
  plx_gemm_result_t r;
  std::memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  r.device_index = -1;
  return r;
}

plx_gemm_tune_options_t default_tune_options() {
  plx_gemm_tune_options_t o;
  std::memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.precision = PLX_PRECISION_F32;
  o.kernels = PLX_TUNE_XGEMM | PLX_TUNE_XGEMM_DIRECT;
  o.size = 1024;
  o.fraction = 1.0 / 64;
  return o;
}

// One matrix as the caller stores it, for the checks and their messages.
struct Matrix {
  const char* name;      // "A"
  const char* ld_field;  // "lda"
  int64_t rows, cols;    // as stored (op already undone), in the caller's layout
  int64_t ld;
};

// Elements from the first to one past the last of a matrix, in the caller's
// layout; -1 when that overflows (checked by the caller).
int64_t extent(const Matrix& x, bool row_major) {
  const int64_t outer = row_major ? x.rows : x.cols, inner = row_major ? x.cols : x.rows;
  if (outer == 0 || inner == 0) return 0;
  const __int128 e = static_cast<__int128>(outer - 1) * x.ld + inner;
  return e > INT64_MAX / 8 ? -1 : static_cast<int64_t>(e);
}

struct Checked {
  Problem problem;  // row-major, as the paths take it (device operands: problem.in.device runs it)
  Where where = Where::automatic;
  const plx_run_options_t* run_options = nullptr;
};

plx_status_t check_gemm(const char* fn, plx::Runtime& rt, const plx_gemm_desc_t& d, int64_t batch, int64_t stride_a,
                        int64_t stride_b, int64_t stride_c, Checked& out) {
  auto bad = [&](auto&&... parts) { return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": ", parts...); };
  if (d.precision != PLX_PRECISION_F32 && d.precision != PLX_PRECISION_F64)
    return bad("desc.precision ", d.precision, " is not a plx_precision_t (F32 0, F64 1)");
  if (d.layout != PLX_ROW_MAJOR && d.layout != PLX_COL_MAJOR)
    return bad("desc.layout ", d.layout, " is not a plx_matrix_layout_t (ROW_MAJOR 0, COL_MAJOR 1)");
  if (d.trans_a != PLX_NO_TRANS && d.trans_a != PLX_TRANS)
    return bad("desc.trans_a ", d.trans_a, " is not a plx_transpose_t (NO_TRANS 0, TRANS 1)");
  if (d.trans_b != PLX_NO_TRANS && d.trans_b != PLX_TRANS)
    return bad("desc.trans_b ", d.trans_b, " is not a plx_transpose_t (NO_TRANS 0, TRANS 1)");
  if (d.device < PLX_PREFER_AUTO || d.device > PLX_PREFER_GPU)
    return bad("desc.device ", d.device, " is not a plx_device_preference_t (AUTO 0, CPU 1, GPU 2)");
  if (d.reserved0 != 0) return bad("desc.reserved0 must be 0, got ", d.reserved0);
  if (d.m < 0) return bad("desc.m must be >= 0, got ", d.m);
  if (d.n < 0) return bad("desc.n must be >= 0, got ", d.n);
  if (d.k < 0) return bad("desc.k must be >= 0, got ", d.k);
  if (batch < 0) return bad("batch_count must be >= 0, got ", batch);
  if (stride_a < 0) return bad("stride_a must be >= 0, got ", stride_a);
  if (stride_b < 0) return bad("stride_b must be >= 0, got ", stride_b);
  if (stride_c < 0) return bad("stride_c must be >= 0, got ", stride_c);

  const bool row_major = d.layout == PLX_ROW_MAJOR;
  const char* layout = row_major ? "row-major" : "column-major";
  const Matrix mats[3] = {
      {"A", "lda", d.trans_a ? d.k : d.m, d.trans_a ? d.m : d.k, d.lda},
      {"B", "ldb", d.trans_b ? d.n : d.k, d.trans_b ? d.k : d.n, d.ldb},
      {"C", "ldc", d.m, d.n, d.ldc},
  };
  int64_t extents[3];
  for (int i = 0; i < 3; ++i) {
    const Matrix& x = mats[i];
    const int64_t line = row_major ? x.cols : x.rows;  // a stored row (row-major) or column
    if (x.ld < std::max<int64_t>(line, 1))
      return bad("desc.", x.ld_field, " is ", x.ld, " but ", x.name, " (", x.rows, " x ", x.cols, " as stored, ",
                 layout, ") has ", row_major ? "rows" : "columns", " of ", line, " elements: ", x.ld_field,
                 " must be at least ", std::max<int64_t>(line, 1));
    extents[i] = extent(x, row_major);
    if (extents[i] < 0) return bad(x.name, " (", x.rows, " x ", x.cols, ", ", x.ld_field, " ", x.ld, ") overflows 64 bits");
  }
  const int64_t strides[3] = {stride_a, stride_b, stride_c};
  int64_t spans[3];
  for (int i = 0; i < 3; ++i) {
    const __int128 span = extents[i] == 0 || batch == 0 ? 0 : static_cast<__int128>(batch - 1) * strides[i] + extents[i];
    if (span > INT64_MAX / 8) return bad("batch_count x stride of ", mats[i].name, " overflows 64 bits");
    spans[i] = static_cast<int64_t>(span);
  }
  if (batch > 1 && stride_c < extents[2])
    return bad("stride_c is ", stride_c, " but one C takes ", extents[2],
               " elements ((rows - 1) x ldc + row length): the products would overwrite each other");

  const bool host = d.a || d.b || d.c, device = d.a_buffer || d.b_buffer || d.c_buffer;
  if (host && device)
    return bad("desc has host matrices (a, b, c) and device buffers (a_buffer, b_buffer, c_buffer) both set: give "
               "all three matrices one way");
  if (!host && (d.a_offset || d.b_offset || d.c_offset) && !device)
    return bad("desc.a_offset, b_offset and c_offset apply to device buffers: leave them 0 with host matrices");
  if (host && (d.a_offset || d.b_offset || d.c_offset))
    return bad("desc.a_offset, b_offset and c_offset apply to device buffers: leave them 0 with host matrices "
               "(point a, b, c at the first element instead)");
  // Which matrices are read: C whenever there is output; A and B only when
  // there is a product (k = 0 or alpha = 0: BLAS reads neither).
  const bool has_output = d.m > 0 && d.n > 0 && batch > 0;
  const bool reads_ab = has_output && d.k > 0 && d.alpha != 0;
  const int64_t es = d.precision == PLX_PRECISION_F32 ? 4 : 8;
  Problem& p = out.problem;
  p.precision = static_cast<Precision>(d.precision);
  if (device) {
    plx_buffer* bufs[3] = {d.a_buffer, d.b_buffer, d.c_buffer};
    const int64_t offsets[3] = {d.a_offset, d.b_offset, d.c_offset};
    const char* fields[3] = {"a_buffer", "b_buffer", "c_buffer"};
    const char* offset_fields[3] = {"a_offset", "b_offset", "c_offset"};
    for (int i = 0; i < 3; ++i) {
      if (!bufs[i]) {
        if (i < 2 && !reads_ab) continue;
        return bad("desc.", fields[i], " is NULL but the other matrices are device buffers: give all three");
      }
      if (plx_status_t s = check_handle(bufs[i], cat(fn, ": desc.", fields[i]).c_str()); s != PLX_OK) return s;
      if (bufs[i]->devices != rt.device_set())
        return bad("desc.", fields[i], " belongs to another runtime: use buffers created on this one");
      if (d.c_buffer && bufs[i]->device != d.c_buffer->device)
        return bad("desc.", fields[i], " is on device ", bufs[i]->device->index(), " but c_buffer is on device ",
                   d.c_buffer->device->index(), ": the three buffers must be on one device");
      if (offsets[i] < 0) return bad("desc.", offset_fields[i], " must be >= 0, got ", offsets[i]);
      const int64_t elements = bufs[i]->impl.bytes() / es;
      if (offsets[i] > elements || spans[i] > elements - offsets[i])
        return bad("desc.", fields[i], " holds ", elements, " elements of ", es, " bytes but ", mats[i].name,
                   batch > 1 ? " (all the batch's)" : "", " needs ", spans[i], " from offset ", offsets[i]);
    }
    if (!d.c_buffer) return bad("desc.c_buffer is NULL but a_buffer or b_buffer is set: give all three");
    if (d.device == PLX_PREFER_CPU)
      return bad("desc.device is CPU but the matrices are device buffers: they are multiplied where they are (use "
                 "AUTO or GPU, or read them to the host)");
    if (p.precision == Precision::f64 && !d.c_buffer->device->info().fp64)
      return fail(PLX_ERR_NO_DEVICE, fn, ": desc.precision is F64 but device ", d.c_buffer->device->index(), " '",
                  d.c_buffer->device->name(), "', where the buffers are, has no double precision (cl_khr_fp64)");
    p.in.a_buffer = d.a_buffer ? &d.a_buffer->impl : nullptr;
    p.in.b_buffer = d.b_buffer ? &d.b_buffer->impl : nullptr;
    p.in.c_buffer = &d.c_buffer->impl;
    p.in.a_offset = d.a_offset;
    p.in.b_offset = d.b_offset;
    p.in.c_offset = d.c_offset;
    p.in.device = d.c_buffer->device;
  } else {
    const void* ptrs[3] = {d.a, d.b, d.c};
    for (int i = 0; i < 3; ++i) {
      const bool needed = i == 2 ? has_output : reads_ab;
      if (!ptrs[i] && needed)
        return bad("desc.", i == 0 ? "a" : i == 1 ? "b" : "c", " is NULL: point it to ", mats[i].name, " (",
                   mats[i].rows, " x ", mats[i].cols, ", ", layout, ")",
                   i < 2 ? " (A and B may be NULL only when k = 0 or alpha = 0: they are not read then)" : "");
      // The matrix must not wrap around the address space.
      if (ptrs[i] && static_cast<uint64_t>(spans[i]) * es > UINTPTR_MAX - reinterpret_cast<uintptr_t>(ptrs[i]))
        return bad(mats[i].name, ": ", spans[i], " elements from ", ptrs[i], " wrap around the address space");
    }
    p.in.a = d.a;
    p.in.b = d.b;
    p.in.c = d.c;
  }
  p.trans_a = d.trans_a == PLX_TRANS;
  p.trans_b = d.trans_b == PLX_TRANS;
  p.m = d.m;
  p.n = d.n;
  p.k = d.k;
  p.alpha = d.alpha;
  p.beta = d.beta;
  p.lda = d.lda;
  p.ldb = d.ldb;
  p.ldc = d.ldc;
  p.batch = batch;
  p.stride_a = stride_a;
  p.stride_b = stride_b;
  p.stride_c = stride_c;
  if (!row_major) {
    // Column-major C is row-major C^T = op(B)^T op(A)^T: the same bytes, with
    // A and B (and m and n) swapped; each transpose flag stays with its matrix.
    std::swap(p.m, p.n);
    std::swap(p.lda, p.ldb);
    std::swap(p.stride_a, p.stride_b);
    std::swap(p.trans_a, p.trans_b);
    std::swap(p.in.a, p.in.b);
    std::swap(p.in.a_buffer, p.in.b_buffer);
    std::swap(p.in.a_offset, p.in.b_offset);
  }
  out.where = static_cast<Where>(d.device);
  out.run_options = d.run_options;
  return PLX_OK;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

plx_status_t run_gemm(const char* fn, plx_runtime* runtime, const plx_gemm_desc_t* desc, int64_t batch,
                      int64_t stride_a, int64_t stride_b, int64_t stride_c, plx_gemm_result_t* result) {
  const auto t0 = std::chrono::steady_clock::now();
  if (plx_status_t s = check_handle(runtime, fn); s != PLX_OK) return s;
  plx_gemm_desc_t d = default_gemm_desc();
  if (plx_status_t s = read_struct(desc, cat(fn, ": desc").c_str(), "plx_gemm_desc_t", d); s != PLX_OK) return s;
  plx_gemm_result_t r = default_gemm_result();
  if (result)
    if (plx_status_t s = check_struct_size<plx_gemm_result_t>(result->struct_size, cat(fn, ": result").c_str(),
                                                              "plx_gemm_result_t");
        s != PLX_OK)
      return s;
  plx::Runtime& rt = *runtime->impl;
  Checked call;
  if (plx_status_t s = check_gemm(fn, rt, d, batch, stride_a, stride_b, stride_c, call); s != PLX_OK) return s;
  RunSettings settings;
  plx_run_report_t* report = nullptr;
  if (plx_status_t s = to_settings(fn, rt, nullptr, call.run_options, settings, &report); s != PLX_OK) return s;
  const Problem& p = call.problem;
  GemmReport g;
  Status done = run_gemm(rt, p, call.where, settings, g);
  r.device_index = g.device_index;
  r.workers = g.workers;
  r.tiles = g.tiles;
  r.splits = g.splits;
  r.fallback = g.fallback ? 1 : 0;
  std::snprintf(r.path, sizeof r.path, "%s", g.path.c_str());
  r.seconds = seconds_since(t0);
  r.gflops = r.seconds > 0 ? p.flops() / r.seconds / 1e9 : 0;
  RunOutcome outcome;
  if (!done) {
    outcome.code = done.error().code;
    outcome.message = cat(fn, ": ", done.error().message);
  }
  outcome.report.workers = g.workers;
  outcome.report.threads = rt.executor()->threads();
  outcome.report.chunks = g.device_index >= 0 ? g.tiles : 1;
  outcome.report.fallback_chunks = g.fallback ? 1 : 0;
  outcome.report.chunk_splits = g.splits;
  outcome.report.wall_s = r.seconds;
  if (plx_status_t st = finish_run(outcome, report); st != PLX_OK) return st;
  if (result) return write_struct(result, cat(fn, ": result").c_str(), "plx_gemm_result_t", r);
  return PLX_OK;
}

// Seconds of one n^3 product on the CPU path, for plx_gemm_tune's crossover figures.
Result<double> time_cpu(plx::Runtime& rt, Precision precision, int64_t n, const RunSettings& settings) {
  const size_t elements = static_cast<size_t>(n * n);
  std::vector<double> a(elements), b(elements), c(elements);
  std::vector<float> af, bf, cf;
  std::mt19937 rng(2);
  std::uniform_real_distribution<double> u(-1, 1);
  for (size_t i = 0; i < elements; ++i) a[i] = u(rng), b[i] = u(rng);
  Problem p;
  p.precision = precision;
  p.m = p.n = p.k = p.lda = p.ldb = p.ldc = n;
  if (precision == Precision::f32) {
    af.assign(a.begin(), a.end());
    bf.assign(b.begin(), b.end());
    cf.resize(elements);
    p.in.a = af.data(), p.in.b = bf.data(), p.in.c = cf.data();
  } else {
    p.in.a = a.data(), p.in.b = b.data(), p.in.c = c.data();
  }
  double best = 1e300;
  for (int rep = 0; rep < 2; ++rep) {
    CpuRun run;
    const auto t0 = std::chrono::steady_clock::now();
    PLX_TRY(gemm_on_cpu(rt.run_env(), p, settings, run));
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace
}  // namespace plx::api

using namespace plx;
using namespace plx::api;
using namespace plx::gemm;

extern "C" {

PLX_API plx_status_t plx_gemm_desc_init(plx_gemm_desc_t* desc, size_t struct_size) {
  return guard("plx_gemm_desc_init", [&] {
    return init_struct(desc, struct_size, "plx_gemm_desc_init: desc", "plx_gemm_desc_t", default_gemm_desc());
  });
}

PLX_API plx_status_t plx_gemm(plx_runtime_t* runtime, const plx_gemm_desc_t* desc, plx_gemm_result_t* result) {
  return guard("plx_gemm", [&] { return run_gemm("plx_gemm", runtime, desc, 1, 0, 0, 0, result); });
}

PLX_API plx_status_t plx_gemm_batched_strided(plx_runtime_t* runtime, const plx_gemm_desc_t* desc,
                                              int64_t batch_count, int64_t stride_a, int64_t stride_b,
                                              int64_t stride_c, plx_gemm_result_t* result) {
  return guard("plx_gemm_batched_strided", [&] {
    return run_gemm("plx_gemm_batched_strided", runtime, desc, batch_count, stride_a, stride_b, stride_c, result);
  });
}

PLX_API plx_status_t plx_gemm_tune_options_init(plx_gemm_tune_options_t* options, size_t struct_size) {
  return guard("plx_gemm_tune_options_init", [&] {
    return init_struct(options, struct_size, "plx_gemm_tune_options_init: options", "plx_gemm_tune_options_t",
                       default_tune_options());
  });
}

PLX_API plx_status_t plx_gemm_tune(plx_runtime_t* runtime, int32_t device_index,
                                   const plx_gemm_tune_options_t* options, plx_gemm_tune_result_t* result) {
  constexpr const char* fn = "plx_gemm_tune";
  return guard(fn, [&]() -> plx_status_t {
    if (plx_status_t s = check_handle(runtime, fn); s != PLX_OK) return s;
    plx_gemm_tune_options_t o = default_tune_options();
    if (options)
      if (plx_status_t s = read_struct(options, "plx_gemm_tune: options", "plx_gemm_tune_options_t", o); s != PLX_OK)
        return s;
    if (!result) return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": result is NULL");
    if (plx_status_t s = check_struct_size<plx_gemm_tune_result_t>(result->struct_size, "plx_gemm_tune: result",
                                                                   "plx_gemm_tune_result_t");
        s != PLX_OK)
      return s;
    auto bad = [&](auto&&... parts) { return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": options.", parts...); };
    if (o.precision != PLX_PRECISION_F32 && o.precision != PLX_PRECISION_F64)
      return bad("precision ", o.precision, " is not a plx_precision_t (F32 0, F64 1)");
    if (o.kernels < 1 || o.kernels > (PLX_TUNE_XGEMM | PLX_TUNE_XGEMM_DIRECT | PLX_TUNE_HELPERS))
      return bad("kernels ", o.kernels, " is not a non-empty mask of plx_gemm_tune_kernels_t (XGEMM 1, XGEMM_DIRECT "
                 "2, HELPERS 4)");
    if (o.size < 64 || o.size > 8192) return bad("size must be from 64 to 8192, got ", o.size);
    if (!(o.fraction > 0 && o.fraction <= 1)) return bad("fraction must be in (0, 1], got ", o.fraction);
    plx::Runtime& rt = *runtime->impl;
    const Machine m = rt.machine();
    if (device_index < 0 || device_index >= static_cast<int32_t>(m.devices.size()))
      return fail(PLX_ERR_INVALID_ARGUMENT, fn, ": device_index ", device_index, " is out of range: the runtime has ",
                  m.devices.size(), " devices");
    if (o.precision == PLX_PRECISION_F64 && !m.devices[static_cast<size_t>(device_index)].fp64)
      return fail(PLX_ERR_NO_DEVICE, fn, ": options.precision is F64 but device ", device_index,
                  " has no double precision (cl_khr_fp64)");
    if (rt.cache_dir().empty())
      return fail(PLX_ERR_IO, fn, ": the runtime has no cache directory to store the tuning in (cache_dir is \"\", "
                                  "or neither XDG_CACHE_HOME nor HOME is set)");
    auto opened = rt.devices().open(device_index);
    if (!opened) return set_error(fn, opened.error());
    RunSettings settings;
    plx_run_report_t* ignored = nullptr;
    if (plx_status_t s = to_settings(fn, rt, nullptr, nullptr, settings, &ignored); s != PLX_OK) return s;
    TuneRequest request;
    request.precision = static_cast<Precision>(o.precision);
    request.kernels = o.kernels;
    request.size = o.size;
    request.fraction = o.fraction;
    auto tuned = tune_device(
        **opened, request, [&](int64_t n) { return time_cpu(rt, request.precision, n, settings); }, settings.workers,
        rt.log());
    if (!tuned) return set_error(fn, tuned.error());
    if (Status saved = save_tuning(rt.cache_dir(), (*opened)->info().key, request.precision, tuned->tuning); !saved)
      return set_error(fn, saved.error());
    plx_gemm_tune_result_t r;
    std::memset(&r, 0, sizeof r);
    r.kernels_tuned = tuned->kernels_tuned;
    r.seconds = tuned->seconds;
    r.default_gflops = tuned->tuning.default_gflops;
    r.tuned_gflops = tuned->tuning.device_gflops;
    r.cpu_gflops = tuned->tuning.cpu_gflops;
    r.upload_gbps = tuned->tuning.upload_gbps;
    std::snprintf(r.path, sizeof r.path, "%s", tuning_path(rt.cache_dir()).c_str());
    return write_struct(result, "plx_gemm_tune: result", "plx_gemm_tune_result_t", r);
  });
}

}  // extern "C"
