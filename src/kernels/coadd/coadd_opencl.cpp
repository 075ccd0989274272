#include "kernels/coadd/coadd_opencl.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/runtime.hpp"
#include "device/kernel.hpp"
#include "device/streaming.hpp"
#include "kernels/coadd/coadd_cl_source.hpp"  // generated from coadd.cl

namespace plx::coadd {
namespace {

// The tables' layout: the L_* and R_* indices of coadd.cl.
enum LongField {
  kData, kWeights, kHeight, kWidth, kX0, kX1, kY0, kY1, kCoords,
  kSipOut, kSipOutA, kSipOutB, kSipIn, kSipInA, kSipInB, kPositiveW
};
enum RealField { kH = 0, kWeight = 9, kBackground = 10, kCrpixOut = 11, kCrpixIn = 13 };
constexpr int64_t kLongs = 16, kReals = 16;  // entries per input

// What every device gets once: the images packed row after row, and per
// input its LongField and RealField entries (SIP coefficients after them).
struct Tables {
  std::vector<unsigned char> images;
  std::vector<cl_long> longs;
  std::vector<cl_double> reals;
  std::vector<size_t> host_mapped;  // inputs whose coordinates come with the rows
  int64_t coords_per_row = 0;       // doubles per output row for them
};

int64_t image_bytes(const Input& in) {
  return in.data.height * in.data.width * 4 * (in.weights.data ? 2 : 1);
}

// Appends the image's rows; returns its offset in floats.
cl_long append_image(std::vector<unsigned char>& images, const Image& image) {
  const size_t at = images.size();
  const auto row = static_cast<size_t>(image.width) * 4;
  images.resize(at + row * static_cast<size_t>(image.height));
  for (int64_t r = 0; r < image.height; ++r)
    std::memcpy(images.data() + at + static_cast<size_t>(r) * row, image.data + r * image.stride, row);
  return static_cast<cl_long>(at / 4);
}

// Appends A then B; returns the offset, or -1 without a SIP.
cl_long append_sip(std::vector<cl_double>& reals, const Sip* sip, cl_long& a_order, cl_long& b_order) {
  a_order = b_order = -1;
  if (!sip || !sip->present()) return -1;
  a_order = sip->a_order;
  b_order = sip->b_order;
  const auto at = static_cast<cl_long>(reals.size());
  reals.insert(reals.end(), sip->a.begin(), sip->a.end());
  reals.insert(reals.end(), sip->b.begin(), sip->b.end());
  return at;
}

Tables make_tables(const CoaddJob& job) {
  Tables t;
  const size_t n = job.inputs.size();
  t.longs.assign(n * static_cast<size_t>(kLongs), 0);
  t.reals.assign(n * static_cast<size_t>(kReals), 0.0);
  for (size_t i = 0; i < n; ++i) {
    const Input& in = job.inputs[i];
    cl_long* L = t.longs.data() + i * static_cast<size_t>(kLongs);
    cl_double* R = t.reals.data() + i * static_cast<size_t>(kReals);
    L[kData] = append_image(t.images, in.data);
    L[kWeights] = in.weights.data ? append_image(t.images, in.weights) : -1;
    L[kHeight] = in.data.height;
    L[kWidth] = in.data.width;
    L[kX0] = in.box.x0;
    L[kX1] = in.box.x1;
    L[kY0] = in.box.y0;
    L[kY1] = in.box.y1;
    R[kWeight] = in.weight;
    R[kBackground] = in.background;
    L[kCoords] = L[kSipOut] = L[kSipIn] = -1;
    if (const auto* h = dynamic_cast<const HomographyMapping*>(in.map.get())) {
      std::copy(h->h.begin(), h->h.end(), R + kH);
      L[kPositiveW] = h->positive_w ? 1 : 0;
      R[kCrpixOut] = h->crpix_out[0];
      R[kCrpixOut + 1] = h->crpix_out[1];
      R[kCrpixIn] = h->crpix_in[0];
      R[kCrpixIn + 1] = h->crpix_in[1];
      cl_long a, b;
      const cl_long sip_out = append_sip(t.reals, h->sip_out, a, b);
      L[kSipOut] = sip_out, L[kSipOutA] = a, L[kSipOutB] = b;
      const cl_long sip_in = append_sip(t.reals, h->sip_in, a, b);
      L[kSipIn] = sip_in, L[kSipInA] = a, L[kSipInB] = b;
    } else if (!in.box.empty()) {
      L[kCoords] = t.coords_per_row;
      t.coords_per_row += 2 * (in.box.x1 - in.box.x0);  // xi then yi
      t.host_mapped.push_back(i);
    }
  }
  return t;
}

// The rows' input: coordinates of the host-mapped inputs, output rows
// [row0 + first, ...), for the chunk a device is about to run.
class HostCoordinates {
 public:
  HostCoordinates(const CoaddJob& job, const Tables& tables) : job_(job), tables_(tables) {}

  int provide(int64_t row0, int64_t rows, double* dst) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t y = row0 + r;
      for (size_t i : tables_.host_mapped) {
        const Input& in = job_.inputs[i];
        if (y < in.box.y0 || y >= in.box.y1) continue;
        const int64_t n = in.box.x1 - in.box.x0;
        double* xi = dst + r * tables_.coords_per_row + tables_.longs[i * static_cast<size_t>(kLongs) + kCoords];
        std::string error;
        if (int code = in.map->map_row(y, in.box.x0, n, xi, xi + n, error); code != 0) {
          remember(error);
          return code;
        }
      }
    }
    return 0;
  }

  void remember(const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = message;
  }
  std::optional<std::string> error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  const CoaddJob& job_;
  const Tables& tables_;
  std::mutex mutex_;
  std::optional<std::string> error_;
};

// Host bytes per band row besides the inputs' copy: image and footprint, and
// as much again for the device layer's staging.
int64_t band_row_bytes(const CoaddJob& job) { return 2 * std::max<int64_t>(job.width * 8, 1); }

// Output rows per band: all of them into the output; with a sink, as many as
// the budget holds besides the host copy of the inputs.
int64_t band_rows(const CoaddJob& job, int64_t budget, int64_t resident) {
  if (!job.sink) return job.height;
  return std::clamp<int64_t>((budget - resident) / band_row_bytes(job), 1, job.height);
}

// One report for the bands: counts add up, peaks are the largest.
void add_band(RunReport& all, const RunReport& band) {
  all.chunks += band.chunks;
  all.retries += band.retries;
  all.fallback_chunks += band.fallback_chunks;
  all.chunk_splits += band.chunk_splits;
  all.cpu_chunks += band.cpu_chunks;
  all.wall_s += band.wall_s;
  all.peak_concurrency = std::max(all.peak_concurrency, band.peak_concurrency);
  all.peak_admitted_bytes = std::max(all.peak_admitted_bytes, band.peak_admitted_bytes);
}

}  // namespace

int64_t device_resident_bytes(const CoaddJob& job) {
  int64_t bytes = 0;
  for (const Input& in : job.inputs) bytes += image_bytes(in) + (kLongs + kReals) * 8;
  return bytes;
}

bool device_fits_budget(const CoaddJob& job, int64_t budget) {
  return device_resident_bytes(job) + band_row_bytes(job) <= budget;
}

DeviceCoadd coadd_on_devices(Runtime& runtime, const std::vector<int>& devices, const CoaddJob& job,
                             const RunSettings& settings, CoaddTotals& totals) {
  DeviceCoadd result;
  auto kernel = Kernel::create(runtime.devices(), devices, kCoaddClSource, "plx_coadd", "-cl-std=CL1.2");
  if (!kernel) {
    result.run.code = kernel.error().code;
    result.run.message = cat(settings.name, ": the co-addition kernel: ", kernel.error().message);
    return result;
  }
  Tables tables = make_tables(job);
  HostCoordinates coordinates(job, tables);
  const int64_t W = job.width, H = job.height;
  const int64_t band = band_rows(job, settings.memory_budget_bytes, device_resident_bytes(job));
  result.band_rows = band;
  // The image goes straight to the output; the footprint too when asked for,
  // else to a buffer of our own (the covered count needs it).
  const bool direct = !job.sink;
  std::vector<float> band_image(direct ? 0 : static_cast<size_t>(band * W));
  std::vector<float> band_footprint(direct && job.footprint ? 0 : static_cast<size_t>(band * W));
  std::map<int, int64_t> chunks_by_device;
  const auto start = std::chrono::steady_clock::now();

  for (int64_t row0 = 0; row0 < H; row0 += band) {
    const int64_t rows_here = std::min(band, H - row0);
    float* image = direct ? job.image + row0 * W : band_image.data();
    float* footprint = direct && job.footprint ? job.footprint + row0 * W : band_footprint.data();
    RowsJob rows;
    rows.rows = rows_here;
    RowsInput coords;
    coords.bytes_per_row = std::max<int64_t>(tables.coords_per_row, 1) * 8;
    coords.provider = [&, row0](int64_t first, int64_t count, void* dst) {
      return coordinates.provide(row0 + first, count, static_cast<double*>(dst));
    };
    rows.inputs.push_back(std::move(coords));
    rows.outputs = {{reinterpret_cast<unsigned char*>(image), W * 4},
                    {reinterpret_cast<unsigned char*>(footprint), W * 4}};
    // MEDIAN's values; a token 8 bytes otherwise (the kernel always takes the argument).
    rows.scratch_bytes_per_row = job.combine == Combine::median ? static_cast<int64_t>(job.inputs.size()) * W * 8 : 8;
    rows.constants.push_back(std::move(tables.images));  // lent to the run, taken back after it (no copy)
    rows.constants.emplace_back(reinterpret_cast<const unsigned char*>(tables.longs.data()),
                                reinterpret_cast<const unsigned char*>(tables.longs.data() + tables.longs.size()));
    rows.constants.emplace_back(reinterpret_cast<const unsigned char*>(tables.reals.data()),
                                reinterpret_cast<const unsigned char*>(tables.reals.data() + tables.reals.size()));
    rows.scalars = {scalar_bytes<cl_int>(static_cast<cl_int>(job.inputs.size())),
                    scalar_bytes<cl_long>(W),
                    scalar_bytes<cl_int>(static_cast<cl_int>(job.interp)),
                    scalar_bytes<cl_int>(static_cast<cl_int>(job.combine)),
                    scalar_bytes<cl_long>(tables.coords_per_row),
                    scalar_bytes<cl_long>(row0)};
    rows.work_items_per_row = W;
    rows.ram_budget_bytes = settings.memory_budget_bytes;
    rows.device_required = runtime.config().planner.policy == DevicePolicy::gpu_required;
    rows.cpu = [&, row0](int64_t first, int64_t count, const void* const*, void* const* outputs) {
      std::string error;
      int code = coadd_rows_on_cpu(job, row0 + first, row0 + first + count, static_cast<float*>(outputs[0]),
                                   static_cast<float*>(outputs[1]), error);
      if (code != 0) coordinates.remember(error);
      return code;
    };
    RunSettings s = settings;
    if (settings.progress)  // one count of output rows over all bands
      s.progress = [&, row0](const ProgressInfo& p) {
        ProgressInfo all = p;
        all.done += row0;
        all.total = H;
        all.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        all.eta_s = all.done > 0 ? all.elapsed_s * static_cast<double>(H - all.done) / static_cast<double>(all.done)
                                 : -1;
        return settings.progress(all);
      };

    RunOutcome run = run_rows(runtime.run_env(), *kernel.value(), rows, s);
    tables.images = std::move(rows.constants.front());
    if (auto error = coordinates.error(); run.code == Code::task_failed && error)
      run.message = cat(settings.name, ": ", *error);
    for (auto [device, chunks] : run.report.device_chunks) chunks_by_device[device] += chunks;
    if (row0 > 0) add_band(result.run.report, run.report);
    result.run.code = run.code;
    result.run.message = std::move(run.message);
    if (row0 == 0) result.run.report = std::move(run.report);
    if (result.run.code != Code::ok) return result;

    for (int64_t p = 0; p < rows_here * W; ++p) totals.covered += footprint[p] != 0;
    if (job.sink) {
      result.delivered = true;
      if (int code = job.sink(row0, rows_here, image, footprint); code != 0) {
        result.run.code = Code::task_failed;
        result.run.message = cat(settings.name, ": the tile function returned ", code, " for rows [", row0, ", ",
                                 row0 + rows_here, ")");
        return result;
      }
    }
  }
  for (const Input& in : job.inputs)
    if (!in.box.empty()) totals.samples += (in.box.y1 - in.box.y0) * (in.box.x1 - in.box.x0);
  result.run.report.device_chunks.assign(chunks_by_device.begin(), chunks_by_device.end());
  int64_t most = 0;
  for (auto [device, chunks] : chunks_by_device)
    if (chunks > most) {
      most = chunks;
      result.device_index = device;
    }
  return result;
}

}  // namespace plx::coadd
