#include "kernels/coadd/coadd_cpu.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exec/parallel_for.hpp"
#include "kernels/coadd/interpolate.hpp"

namespace plx::coadd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One output tile's accumulators, reused by a worker from tile to tile.
struct Tile {
  std::vector<double> sum, weight, value;           // sum(v f), sum(f), MIN/MAX/FIRST/LAST value
  std::vector<std::pair<int64_t, double>> samples;  // MEDIAN: (pixel, value) in input order
  std::vector<double> xi, yi;
  std::vector<float> image, footprint;  // for a sink
};

double median_of(std::vector<double>& v) {
  const size_t n = v.size(), half = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(half), v.end());
  const double hi = v[half];
  if (n % 2 == 1) return hi;
  return (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(half)) + hi) * 0.5;
}

class CpuCoadd {
 public:
  CpuCoadd(const CoaddJob& job, int workers) : job_(job), tiles_(static_cast<size_t>(workers)) {}

  // Output rows [r0, r1) as one tile, into the output or the sink.
  int run(int64_t r0, int64_t r1, int worker) {
    Tile& t = tiles_[static_cast<size_t>(worker)];
    const auto pixels = static_cast<size_t>((r1 - r0) * job_.width);
    float* image = job_.image ? job_.image + r0 * job_.width : nullptr;
    float* footprint = job_.footprint ? job_.footprint + r0 * job_.width : nullptr;
    if (job_.sink) {
      t.image.resize(pixels);
      t.footprint.resize(pixels);
      image = t.image.data();
      footprint = t.footprint.data();
    }
    if (int code = resample(r0, r1, t, image, footprint); code != 0) return code;
    if (job_.sink) {
      std::lock_guard<std::mutex> lock(sink_mutex_);
      if (int code = job_.sink(r0, r1 - r0, image, footprint); code != 0) {
        remember("the tile function returned " + std::to_string(code) + " for rows [" + std::to_string(r0) + ", " +
                 std::to_string(r1) + ")");
        return code;
      }
    }
    return 0;
  }

  // Output rows [r0, r1) into image and footprint (width floats per row; a
  // null footprint is not written).
  int resample(int64_t r0, int64_t r1, Tile& t, float* image, float* footprint) {
    const int64_t w = job_.width;
    const auto pixels = static_cast<size_t>((r1 - r0) * w);
    const Combine c = job_.combine;
    t.sum.assign(pixels, 0.0);
    t.weight.assign(pixels, 0.0);
    if (c != Combine::mean && c != Combine::sum && c != Combine::median) t.value.assign(pixels, kNaN);
    t.samples.clear();
    int64_t samples = 0;
    for (size_t i = 0; i < job_.inputs.size(); ++i) {
      const Input& in = job_.inputs[i];
      const int64_t y0 = std::max(r0, in.box.y0), y1 = std::min(r1, in.box.y1);
      const int64_t x0 = in.box.x0, n = in.box.x1 - in.box.x0;
      if (y0 >= y1 || n <= 0) continue;
      t.xi.resize(static_cast<size_t>(n));
      t.yi.resize(static_cast<size_t>(n));
      for (int64_t y = y0; y < y1; ++y) {
        std::string error;
        if (int code = in.map->map_row(y, x0, n, t.xi.data(), t.yi.data(), error); code != 0) {
          remember(error);
          return code;
        }
        samples += n;
        const size_t row = static_cast<size_t>((y - r0) * w + x0);
        for (int64_t k = 0; k < n; ++k) {
          const double xi = t.xi[static_cast<size_t>(k)], yi = t.yi[static_cast<size_t>(k)];
          double v = interpolate(in.data, job_.interp, xi, yi);
          if (std::isnan(v)) continue;  // no sample: f = 0, nothing added
          double f = in.weight;
          if (in.weights.data) f = interpolate(in.weights, job_.interp, xi, yi, true) * in.weight;
          if (f == 0) continue;
          v -= in.background;
          accumulate(t, row + static_cast<size_t>(k), v, f);
        }
      }
    }
    finish(t, pixels, image, footprint);
    samples_ += samples;
    return 0;
  }

  CoaddTotals totals() const { return {covered_.load(), samples_.load()}; }
  std::optional<std::string> error() {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return error_;
  }

 private:
  void accumulate(Tile& t, size_t p, double v, double f) {
    switch (job_.combine) {
      case Combine::mean:
      case Combine::sum:
        t.sum[p] += v * f;
        break;
      case Combine::min:
        if (!(v >= t.value[p])) t.value[p] = v;  // NaN at first: taken
        break;
      case Combine::max:
        if (!(v <= t.value[p])) t.value[p] = v;
        break;
      case Combine::first:
        if (std::isnan(t.value[p])) t.value[p] = v;
        break;
      case Combine::last:
        t.value[p] = v;
        break;
      case Combine::median:
        t.samples.emplace_back(static_cast<int64_t>(p), v);
        break;
    }
    t.weight[p] += f;
  }

  void finish(Tile& t, size_t pixels, float* image, float* footprint) {
    if (job_.combine == Combine::median) {
      t.value.assign(pixels, kNaN);
      std::stable_sort(t.samples.begin(), t.samples.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<double> values;
      for (size_t a = 0; a < t.samples.size();) {
        size_t b = a;
        values.clear();
        for (; b < t.samples.size() && t.samples[b].first == t.samples[a].first; ++b)
          values.push_back(t.samples[b].second);
        t.value[static_cast<size_t>(t.samples[a].first)] = median_of(values);
        a = b;
      }
    }
    int64_t covered = 0;
    for (size_t p = 0; p < pixels; ++p) {
      const double w = t.weight[p];
      double v;
      switch (job_.combine) {
        case Combine::mean:
          v = t.sum[p] / w;  // 0 / 0: NaN, as reproject
          break;
        case Combine::sum:
          v = t.sum[p];
          break;
        default:
          v = t.value[p];
      }
      covered += w != 0;
      image[p] = static_cast<float>(v);
      if (footprint) footprint[p] = static_cast<float>(w);
    }
    covered_ += covered;
  }

  void remember(const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!error_) error_ = message;
  }

  const CoaddJob& job_;
  std::vector<Tile> tiles_;
  std::atomic<int64_t> covered_{0}, samples_{0};
  std::mutex sink_mutex_, error_mutex_;
  std::optional<std::string> error_;
};

}  // namespace

// The most inputs whose boxes share an output row: a bound on the samples
// MEDIAN holds for one pixel.
int64_t deepest_row_overlap(const CoaddJob& job) {
  std::vector<std::pair<int64_t, int>> edges;  // (row, +1 where a box starts, -1 past its end)
  for (const Input& in : job.inputs)
    if (!in.box.empty()) {
      edges.emplace_back(in.box.y0, 1);
      edges.emplace_back(in.box.y1, -1);
    }
  std::sort(edges.begin(), edges.end());  // at one row, ends before starts
  int64_t depth = 0, deepest = 0;
  for (const auto& [row, step] : edges) deepest = std::max(deepest, depth += step);
  return deepest;
}

int64_t tile_bytes_per_pixel(const CoaddJob& job) {
  int64_t bytes = 2 * sizeof(double);
  if (job.combine != Combine::mean && job.combine != Combine::sum) bytes += sizeof(double);
  // MEDIAN: a (pixel, value) pair per sample, up to as much again of the vector's spare capacity, and
  // stable_sort's buffer. Counting at most 8 samples had let 256 overlapping inputs take 1.5 GB against a
  // 64 MiB budget.
  if (job.combine == Combine::median) bytes += 3 * 16 * std::max<int64_t>(1, deepest_row_overlap(job));
  if (job.sink) bytes += 2 * sizeof(float);
  return bytes;
}

RunOutcome coadd_on_cpu(const RunEnv& env, const CoaddJob& job, const RunSettings& settings, CoaddTotals& totals) {
  CpuCoadd coadd(job, settings.workers);
  RangeFn body = [&](int64_t lo, int64_t hi, int worker) {
    for (int64_t r = lo; r < hi; r += settings.grain)
      if (int code = coadd.run(r, std::min(hi, r + settings.grain), worker); code != 0) return code;
    return 0;
  };
  RunOutcome out = parallel_for(env, 0, job.height, body, settings);
  if (auto error = coadd.error(); out.code == Code::task_failed && error)
    out.message = cat(settings.name, ": ", *error);
  if (out.code == Code::ok) totals = coadd.totals();
  return out;
}

int coadd_rows_on_cpu(const CoaddJob& job, int64_t r0, int64_t r1, float* image, float* footprint,
                      std::string& error) {
  CpuCoadd coadd(job, 0);  // no per-worker tiles: the one below is this call's
  Tile tile;
  const int code = coadd.resample(r0, r1, tile, image, footprint);
  if (code != 0) error = coadd.error().value_or("");
  return code;
}

}  // namespace plx::coadd
