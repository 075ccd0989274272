// The OpenCL path of plx_coadd: one work-item per output pixel, visiting the
// inputs whose box holds it in input order, as the CPU path (coadd_cpu.cpp)
// does, operation for operation and in double precision: homography with the
// output's forward SIP and the input's SIP inverted by fixed-point iteration
// (mapping.cpp), the interpolations (interpolate.cpp), the combines. Inputs
// mapped on the host (wcslib grid, callbacks) come as coordinates per row.
// The parity tests (tests/unit/coadd_device_test.cpp) pin the two together.
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

// plx::coadd::Interp and Combine.
#define INTERP_NEAREST 0
#define INTERP_BILINEAR 1
#define INTERP_BICUBIC 2
#define INTERP_LANCZOS3 3
#define COMBINE_MEAN 0
#define COMBINE_SUM 1
#define COMBINE_MIN 2
#define COMBINE_MAX 3
#define COMBINE_MEDIAN 4
#define COMBINE_FIRST 5
#define COMBINE_LAST 6

// The layout of one input's entries in the tables (coadd_opencl.cpp).
#define L_DATA 0       // offset of the image in `images` (floats, rows of `width`)
#define L_WEIGHTS 1    // offset of the weight image, or -1
#define L_HEIGHT 2
#define L_WIDTH 3
#define L_X0 4         // box: output pixels [x0, x1) x [y0, y1)
#define L_X1 5
#define L_Y0 6
#define L_Y1 7
#define L_COORDS 8     // host-mapped: offset of its coordinates in a row of `coords`, else -1
#define L_SIP_OUT 9    // offset of the output's SIP in `reals` (A then B), or -1
#define L_SIP_OUT_A 10 // orders
#define L_SIP_OUT_B 11
#define L_SIP_IN 12
#define L_SIP_IN_A 13
#define L_SIP_IN_B 14
#define L_POSITIVE_W 15
#define LONGS 16
#define R_H 0          // homography, 9 values
#define R_WEIGHT 9
#define R_BACKGROUND 10
#define R_CRPIX_OUT 11 // 2 values
#define R_CRPIX_IN 13  // 2 values
#define REALS 16

// reproject's padding by one edge pixel: padded (r, c) is (clamp(r - 1), clamp(c - 1)).
double tap(__global const float* img, long h, long w, long r, long c, int zero_nan) {
  const double v = img[clamp(r - 1, 0L, h - 1) * w + clamp(c - 1, 0L, w - 1)];
  return zero_nan && isnan(v) ? 0.0 : v;
}

double keys(double t) {
  t = fabs(t);
  if (t < 1) return (1.5 * t - 2.5) * t * t + 1;
  if (t < 2) return ((-0.5 * t + 2.5) * t - 4) * t + 2;
  return 0;
}

double lanczos3(double t) {
  if (t == 0) return 1;
  if (fabs(t) >= 3) return 0;
  const double pt = M_PI * t;
  return 3 * sin(pt) * sin(pt / 3) / (pt * pt);
}

// 2 r taps per axis around (x, y), normalised; r = 2 (Keys) or 3 (Lanczos).
double separable(__global const float* img, long h, long w, int zero_nan, double x, double y, int r) {
  const double cx = x + 1.0, cy = y + 1.0;
  const long ix = (long)floor(cx), iy = (long)floor(cy);
  double wx[6], wy[6], sx = 0, sy = 0;
  for (int k = 0; k < 2 * r; ++k) {
    const double tx = cx - (double)(ix - r + 1 + k), ty = cy - (double)(iy - r + 1 + k);
    wx[k] = r == 2 ? keys(tx) : lanczos3(tx);
    wy[k] = r == 2 ? keys(ty) : lanczos3(ty);
    sx += wx[k];
    sy += wy[k];
  }
  double total = 0;
  for (int j = 0; j < 2 * r; ++j) {
    double row = 0;
    for (int k = 0; k < 2 * r; ++k) row += tap(img, h, w, iy - r + 1 + j, ix - r + 1 + k, zero_nan) * wx[k];
    total += row * wy[j];
  }
  const double v = total / (sx * sy);
  return isfinite(v) ? v : NAN;
}

double interpolate(__global const float* img, long h, long w, int interp, double x, double y, int zero_nan) {
  if (!(x >= -0.5 && x <= (double)w - 0.5 && y >= -0.5 && y <= (double)h - 0.5)) return NAN;
  if (interp == INTERP_NEAREST)
    return tap(img, h, w, (long)floor((y + 1.0) + 0.5), (long)floor((x + 1.0) + 0.5), zero_nan);
  if (interp == INTERP_BILINEAR) {
    const double cy = y + 1.0, cx = x + 1.0;
    const double fy0 = floor(cy), fx0 = floor(cx);
    const long iy = (long)fy0, ix = (long)fx0;
    const double wy0 = 1.0 - (cy - fy0), wx0 = 1.0 - (cx - fx0);
    const double wy1 = 1.0 - wy0, wx1 = 1.0 - wx0;
    double t = 0.0;
    t += tap(img, h, w, iy, ix, zero_nan) * wy0 * wx0;
    t += tap(img, h, w, iy, ix + 1, zero_nan) * wy0 * wx1;
    t += tap(img, h, w, iy + 1, ix, zero_nan) * wy1 * wx0;
    t += tap(img, h, w, iy + 1, ix + 1, zero_nan) * wy1 * wx1;
    return t;
  }
  return separable(img, h, w, zero_nan, x, y, interp == INTERP_BICUBIC ? 2 : 3);
}

// sum over p + q <= order of c[p (order + 1) + q] u^p v^q, as Sip::offsets.
double polynomial(__global const double* c, int order, double u, double v) {
  if (order < 0) return 0;
  double sum = 0, up = 1;
  for (int p = 0; p <= order; ++p, up *= u) {
    double vq = 1;
    for (int q = 0; p + q <= order; ++q, vq *= v) sum += c[p * (order + 1) + q] * up * vq;
  }
  return sum;
}

void sip_offsets(__global const double* reals, long at, int a_order, int b_order, double u, double v, double* du,
                 double* dv) {
  const long a_size = a_order < 0 ? 0 : (long)(a_order + 1) * (a_order + 1);
  *du = polynomial(reals + at, a_order, u, v);
  *dv = polynomial(reals + at + a_size, b_order, u, v);
}

// HomographyMapping::map_row for one pixel.
void map_native(__global const long* L, __global const double* R, __global const double* reals, double x, double y,
                double* xi, double* yi) {
  if (L[L_SIP_OUT] >= 0) {
    double du, dv;
    sip_offsets(reals, L[L_SIP_OUT], (int)L[L_SIP_OUT_A], (int)L[L_SIP_OUT_B], x - R[R_CRPIX_OUT],
                y - R[R_CRPIX_OUT + 1], &du, &dv);
    x += du;
    y += dv;
  }
  __global const double* m = R + R_H;
  const double w = m[6] * x + m[7] * y + m[8];
  if (L[L_POSITIVE_W] ? !(w > 0) : w == 0) {
    *xi = *yi = NAN;
    return;
  }
  double u = (m[0] * x + m[1] * y + m[2]) / w;
  double v = (m[3] * x + m[4] * y + m[5]) / w;
  if (L[L_SIP_IN] >= 0 && isfinite(u) && isfinite(v)) {
    double px = u, py = v;
    for (int it = 0; it < 20; ++it) {
      double du, dv;
      sip_offsets(reals, L[L_SIP_IN], (int)L[L_SIP_IN_A], (int)L[L_SIP_IN_B], px - R[R_CRPIX_IN],
                  py - R[R_CRPIX_IN + 1], &du, &dv);
      const double nx = u - du, ny = v - dv;
      const double step = hypot(nx - px, ny - py);
      px = nx;
      py = ny;
      if (!(step >= 1e-10)) break;
    }
    u = px;
    v = py;
  }
  *xi = u;
  *yi = v;
}

// Arguments as run_rows sets them: the row input (host-mapped coordinates),
// the outputs, the scratch (MEDIAN's values), the constants, the scalars.
__kernel void plx_coadd(__global const double* coords, __global float* image, __global float* footprint,
                        __global double* scratch, __global const float* images, __global const long* longs,
                        __global const double* reals, int inputs, long width, int interp, int combine,
                        long coords_per_row, long row0, long first_row, long rows) {
  const long x = get_global_id(0), r = get_global_id(1);
  if (x >= width || r >= rows) return;
  const long y = row0 + first_row + r;  // the band's first row, the chunk's
  __global const double* row_coords = coords + r * coords_per_row;
  // MEDIAN: this pixel's values, neighbouring pixels at neighbouring addresses.
  __global double* values = scratch + r * (long)inputs * width + x;
  double sum = 0, weight_sum = 0, value = NAN;
  int count = 0;
  for (int i = 0; i < inputs; ++i) {
    __global const long* L = longs + (long)i * LONGS;
    __global const double* R = reals + (long)i * REALS;
    if (x < L[L_X0] || x >= L[L_X1] || y < L[L_Y0] || y >= L[L_Y1]) continue;
    double xi, yi;
    if (L[L_COORDS] >= 0) {
      const long n = L[L_X1] - L[L_X0];
      xi = row_coords[L[L_COORDS] + (x - L[L_X0])];
      yi = row_coords[L[L_COORDS] + n + (x - L[L_X0])];
    } else {
      map_native(L, R, reals, (double)x, (double)y, &xi, &yi);
    }
    const long h = L[L_HEIGHT], w = L[L_WIDTH];
    double v = interpolate(images + L[L_DATA], h, w, interp, xi, yi, 0);
    if (isnan(v)) continue;
    double f = R[R_WEIGHT];
    if (L[L_WEIGHTS] >= 0) f = interpolate(images + L[L_WEIGHTS], h, w, interp, xi, yi, 1) * R[R_WEIGHT];
    if (f == 0) continue;
    v -= R[R_BACKGROUND];
    switch (combine) {
      case COMBINE_MEAN:
      case COMBINE_SUM:
        sum += v * f;
        break;
      case COMBINE_MIN:
        if (!(v >= value)) value = v;
        break;
      case COMBINE_MAX:
        if (!(v <= value)) value = v;
        break;
      case COMBINE_FIRST:
        if (isnan(value)) value = v;
        break;
      case COMBINE_LAST:
        value = v;
        break;
      case COMBINE_MEDIAN: {
        // Insertion into the sorted values: overlaps are a handful of inputs.
        int k = count;
        while (k > 0 && values[(k - 1) * width] > v) {
          values[k * width] = values[(k - 1) * width];
          --k;
        }
        values[k * width] = v;
        break;
      }
    }
    ++count;
    weight_sum += f;
  }
  double out = value;
  if (combine == COMBINE_MEAN) out = sum / weight_sum;  // 0 / 0: NaN, as reproject
  if (combine == COMBINE_SUM) out = sum;
  if (combine == COMBINE_MEDIAN && count > 0) {
    const int mid = count / 2;
    out = (count & 1) ? values[mid * width] : (values[(mid - 1) * width] + values[mid * width]) * 0.5;
  }
  image[r * width + x] = (float)out;
  footprint[r * width + x] = (float)weight_sum;
}
