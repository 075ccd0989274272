// `parallax bench --suite coadd`: four 1000 x 1000 float32 images with
// different TAN projections (tangent points, rotations, scales) and NaN
// holes, co-added by bilinear mean onto a 2000 x 2000 TAN grid, against
// reproject's reproject_and_coadd(reproject_interp) on the same data in the
// same run (which also checks that the results agree to 1e-6), and on the
// runtime's OpenCL devices. Timing never fails; wrong results do.
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.hpp"
#include "sky_wcs.hpp"

namespace plx::cli {
namespace {

// A TAN header of 80-character cards (wcs::card): `scale` degrees per pixel, rotated.
std::string tan_header(int64_t width, int64_t height, double ra, double dec, double crpix1, double crpix2,
                       double scale, double rotation_deg) {
  using wcs::card;
  const double c = std::cos(rotation_deg * M_PI / 180), s = std::sin(rotation_deg * M_PI / 180);
  return card("SIMPLE", "T", "", false) + card("BITPIX", int64_t{-32}, "") + card("NAXIS", int64_t{2}, "") +
         card("NAXIS1", width, "") + card("NAXIS2", height, "") + card("CTYPE1", "RA---TAN", "", true) +
         card("CTYPE2", "DEC--TAN", "", true) + card("CRVAL1", ra, "") + card("CRVAL2", dec, "") +
         card("CRPIX1", crpix1, "") + card("CRPIX2", crpix2, "") + card("CD1_1", -c * scale, "") +
         card("CD1_2", s * scale, "") + card("CD2_1", s * scale, "") + card("CD2_2", c * scale, "") +
         "END" + std::string(77, ' ');
}

struct Mosaic {
  int64_t n = 4, h = 0, w = 0, out_h = 0, out_w = 0;
  std::vector<float> data;  // n images of h x w
  std::vector<std::string> headers;
  std::string out_header;
};

// Four tiles at the corners of the output field, overlapping in the middle,
// each with its own tangent point, rotation and scale: smooth sky, noise,
// stars, a few NaN holes.
Mosaic make_mosaic(int64_t size) {
  Mosaic m;
  m.h = m.w = size;
  m.out_h = m.out_w = 2 * size;
  const double scale = 1.0 / 3600;  // 1 arcsec pixels
  m.out_header = tan_header(m.out_w, m.out_h, 150.0, 2.0, size + 0.5, size + 0.5, scale, 0);
  std::mt19937_64 rng(20261123);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  m.data.resize(static_cast<size_t>(m.n * m.h * m.w));
  const double offset = 0.45 * static_cast<double>(size) * scale;
  for (int64_t i = 0; i < m.n; ++i) {
    const double dx = (i % 2 ? 1 : -1) * offset, dy = (i / 2 ? 1 : -1) * offset;
    m.headers.push_back(tan_header(m.w, m.h, 150.0 + dx / std::cos(2.0 * M_PI / 180), 2.0 + dy,
                                   static_cast<double>(size) / 2 + 0.5, static_cast<double>(size) / 2 + 0.5,
                                   scale * (1.0 + 0.01 * static_cast<double>(i)), 7.0 * static_cast<double>(i) - 10));
    float* img = m.data.data() + i * m.h * m.w;
    for (int64_t y = 0; y < m.h; ++y)
      for (int64_t x = 0; x < m.w; ++x) {
        float v = 100.0f + 10.0f * static_cast<float>(std::sin(x / 37.0) * std::cos(y / 53.0)) + noise(rng);
        const float r = unit(rng);
        if (r < 0.001f) v += 5000.0f * unit(rng);  // stars
        if (r > 0.9995f) v = NAN;
        img[y * m.w + x] = v;
      }
  }
  return m;
}

struct Coadded {
  std::vector<float> image, footprint;
  plx_coadd_result_t result;
};

void coadd_into(plx_runtime_t* rt, const Mosaic& m, int32_t device, Coadded& out) {
  std::vector<plx_coadd_input_t> inputs(static_cast<size_t>(m.n));
  for (int64_t i = 0; i < m.n; ++i) {
    plx_coadd_input_t& in = inputs[static_cast<size_t>(i)];
    check(plx_coadd_input_init(&in, sizeof in));
    in.data = m.data.data() + i * m.h * m.w;
    in.height = m.h;
    in.width = m.w;
    in.mapping = PLX_MAPPING_WCS;
    in.wcs_header = m.headers[static_cast<size_t>(i)].c_str();
  }
  plx_coadd_desc_t d;
  check(plx_coadd_desc_init(&d, sizeof d));
  d.inputs = inputs.data();
  d.count = m.n;
  d.height = m.out_h;
  d.width = m.out_w;
  d.output_wcs_header = m.out_header.c_str();
  d.device = device;
  out.image.resize(static_cast<size_t>(m.out_h * m.out_w));
  out.footprint.resize(out.image.size());
  check(plx_coadd_result_init(&out.result, sizeof out.result));
  out.result.image = out.image.data();
  out.result.footprint = out.footprint.data();
  check(plx_coadd(rt, &d, &out.result));
}

// Best time of the co-additions (best_time, after a warm-up); the outputs in *last.
double best_coadd_s(plx_runtime_t* rt, const Mosaic& m, const BenchOptions& opt, int32_t device, Coadded& last) {
  coadd_into(rt, m, device, last);  // warm-up: outputs, kernels
  return best_time(opt, [&] { coadd_into(rt, m, device, last); });
}

// reproject_and_coadd on the same inputs, timed, and compared with ours.
constexpr const char* kPeerScript = R"PY(
import json, sys, time, warnings
import numpy as np
from astropy.io import fits
from reproject import reproject_interp
from reproject.mosaicking import reproject_and_coadd
warnings.simplefilter("ignore")
d = sys.argv[1]
n, h, w, out_h, out_w, reps = (int(v) for v in sys.argv[2:8])
data = np.fromfile(d + "/inputs.f32", np.float32).reshape(n, h, w)
headers = [fits.Header.fromstring(line) for line in open(d + "/headers.txt").read().splitlines()]
ours = np.fromfile(d + "/image.f32", np.float32).reshape(out_h, out_w)
our_fp = np.fromfile(d + "/footprint.f32", np.float32).reshape(out_h, out_w)
def coadd():
    return reproject_and_coadd([(data[i], headers[i]) for i in range(n)], headers[n], shape_out=(out_h, out_w),
                               reproject_function=reproject_interp, combine_function="mean")
ref, fp = coadd()  # a warm-up, as ours get: the first call takes 5.0 s here, the next ones 3.1-4.4 s
best = 1e300
for _ in range(reps):
    t = time.perf_counter()
    ref, fp = coadd()
    best = min(best, time.perf_counter() - t)
covered = fp > 0
finite = covered & np.isfinite(ref)
print(json.dumps({"reproject_s": best,
                  "max_relative_difference": float(np.max(np.abs(ours[finite] - ref[finite]) / np.abs(ref[finite]))),
                  "max_footprint_difference": float(np.max(np.abs(our_fp - fp))),
                  "nan_mask_mismatches": int((np.isnan(ours) != np.isnan(ref)).sum()),
                  "covered": int(covered.sum())}))
)PY";

nlohmann::json reproject_peer(const Mosaic& m, const Coadded& ours, int reps) {
  std::string headers;
  for (const std::string& h : m.headers) headers += h + "\n";
  headers += m.out_header + "\n";
  auto file = [](const char* name, const auto& v) { return PeerFile{name, v.data(), v.size() * sizeof v[0]}; };
  return run_python_peer("coadd", "numpy, astropy, reproject", kPeerScript,
                         {file("inputs.f32", m.data), file("headers.txt", headers), file("image.f32", ours.image),
                          file("footprint.f32", ours.footprint)},
                         {std::to_string(m.n), std::to_string(m.h), std::to_string(m.w), std::to_string(m.out_h),
                          std::to_string(m.out_w), std::to_string(reps)});
}

}  // namespace

nlohmann::json bench_coadd(plx_runtime_t* rt, const BenchOptions& opt) {
  const Mosaic m = make_mosaic(opt.quick ? 200 : 1000);
  Coadded cpu;
  const double cpu_s = best_coadd_s(rt, m, opt, PLX_PREFER_CPU, cpu);
  const double pixels = static_cast<double>(m.out_h * m.out_w);
  nlohmann::json r = {{"suite", "coadd"},
                      {"quick", opt.quick},
                      {"inputs", m.n},
                      {"input_height", m.h},
                      {"input_width", m.w},
                      {"height", m.out_h},
                      {"width", m.out_w},
                      {"interpolation", "bilinear"},
                      {"combine", "mean"},
                      {"repetitions", opt.reps},
                      {"workers", cpu.result.workers},
                      {"native_wcs", cpu.result.native_wcs},
                      {"covered", cpu.result.covered},
                      {"samples", cpu.result.samples},
                      {"coadd_s", cpu_s},
                      {"output_mpixels_per_s", pixels / cpu_s / 1e6}};

  if (nlohmann::json peer = reproject_peer(m, cpu, opt.quick ? 1 : std::min(opt.reps, 3)); !peer.is_null()) {
    // Timing never fails; a wrong result does.
    if (peer["max_relative_difference"].get<double>() > 1e-6 || peer["max_footprint_difference"].get<double>() > 1e-6 ||
        peer["nan_mask_mismatches"].get<int64_t>() != 0 || peer["covered"].get<int64_t>() != cpu.result.covered)
      throw std::runtime_error("bench --suite coadd: our mosaic disagrees with reproject's: " + peer.dump());
    r["reproject_s"] = peer["reproject_s"];
    r["speedup_vs_reproject"] = peer["reproject_s"].get<double>() / cpu_s;
    r["agrees_with_reproject"] = peer;
  }

  // The OpenCL path on the runtime's usable devices (--device-types decides
  // which), end to end from host images.
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [index, info] : usable_devices(rt))
    if (info.fp64) devices.push_back(info.name);
  if (!devices.empty()) {
    Coadded on_device;
    const double device_s = best_coadd_s(rt, m, opt, PLX_PREFER_GPU, on_device);
    const double worst = max_relative_difference(cpu.image, on_device.image);
    if (worst > 1e-6 || on_device.result.covered != cpu.result.covered)
      throw std::runtime_error("bench --suite coadd: the OpenCL mosaic differs from the CPU's by " +
                               std::to_string(worst) + " (relative)");
    r["gpu_devices"] = devices;
    r["gpu_device_index"] = on_device.result.device_index;
    r["gpu_coadd_s"] = device_s;
    r["gpu_output_mpixels_per_s"] = pixels / device_s / 1e6;
    r["gpu_vs_cpu_max_relative_difference"] = worst;
  }
  return r;
}

}  // namespace plx::cli
