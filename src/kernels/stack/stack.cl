// The OpenCL path of plx_stack: one work-item per output pixel of a row unit
// (one channel, one image row, one column tile). The rules are those of the
// scalar reference (pixel_rule.cpp), in double precision, on the pixel's
// samples sorted once: every clipping iteration keeps a contiguous range of
// them.
//
// The rules are written once (RULES) over a loader that leaves the samples
// sorted (load_sorted) and a few accessors (at, sums, skip_low, skip_high:
// ACCESS), for two places of the sorted samples:
// - up to PLX_NET frames (8, 16, 32 or 64, set by the host), NETWORK: the
//   samples are sorted in registers by Batcher's network, the CPU's (every
//   index a constant; a fifth fewer comparators than a bitonic one), then
//   stored to local memory (PLX_SORTED: double up to 32 frames, float for
//   64), where the rules read them (column-major per work-group: no bank
//   conflicts). Reading them from registers instead needs a select over the
//   whole array per access, which made the kernel larger and no faster on an
//   H100. Doubles spare a conversion per sample read, which a GPU runs at a
//   quarter of its double rate (32 frames: 8% faster on an H100); for 64
//   frames they took so much local memory that fewer groups ran at once, and
//   the kernel was 20% slower.
// - above, BITONIC: each work-item sorts its column of a global scratch
//   buffer by bitonic merges, laid out so that neighbouring work-items touch
//   neighbouring addresses.
//
// The host (stack_opencl.cpp) instantiates the marked parts by text: SAS
// becomes the samples' address space, SET their type (float in global
// memory, PLX_SORTED in local memory), _SFX a suffix (_g global, _l local),
// NETP the network's size and NETWORK_COMPARATORS its comparators, because
// OpenCL 1.2 has no templates or generic pointers. A program holds one of the
// two places, for one frame count: the host defines PLX_NET (0: the BITONIC
// part) and, with a network, PLX_FRAMES.
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

// Rule codes, as plx::stack::Reject / Combine / Centre.
#define REJECT_NONE 0
#define REJECT_SIGMA 1
#define REJECT_WINSOR 2
#define REJECT_PERCENTILE 3
#define REJECT_MINMAX 4
#define COMBINE_MEAN 0
#define COMBINE_WMEAN 1
#define COMBINE_SUM 2
#define COMBINE_MEDIAN 3
#define COMBINE_MIN 4
#define COMBINE_MAX 5

typedef struct {
  int reject, combine, centre, max_iters, n_low, n_high;
  double sigma_low, sigma_high, percentile_low, percentile_high;
} rule_t;

// The final selection of one pixel: sorted positions [first, last), bounds;
// `sum` is the sum of the samples' differences from `centre` (the median of
// the range) over [sum_first, sum_last) when the sigma clip's last iteration
// took it (sum_first -1 when not), which the mean reuses when the final
// selection is that range (an H100: 7% faster).
typedef struct {
  double centre, low, high, sum;
  int first, last, by_rank, sum_first, sum_last;
} bounds_t;

// PLX_CAS(a, b) leaves the smaller in a. The host writes the network out as
// one PLX_CAS(v[i], v[j]) per comparator, every index a constant, so that v
// stays in registers (loops over the stages left it in local memory).
#define PLX_CAS(a, b)             \
  {                               \
    const float low = fmin(a, b); \
    b = fmax(a, b);               \
    a = low;                      \
  }

// A sample (-0 already +0) as the sorts take it: NaN as +inf (sorted last);
// counts -inf, finite and NaN samples.
float count_sample(float value, int* ng, int* fi, int* na) {
  *ng += value == -INFINITY;
  *fi += isfinite(value) ? 1 : 0;
  *na += isnan(value) ? 1 : 0;
  return isnan(value) ? INFINITY : value;
}

// Sample j of a pixel (stride xs) as the sorts take it: -0 as +0, then as
// count_sample.
float take_sample(__global const float* x, long xs, int j, int* ng, int* fi, int* na) {
  return count_sample(x[j * xs] + 0.0f, ng, fi, na);
}

//@@ACCESS_BEGIN
double at_SFX(const SAS SET* s, int st, int i) { return s[i * st]; }

// Sums of d = s - c and d^2 over sorted positions [a, b).
void sums_SFX(const SAS SET* s, int st, int a, int b, double c, double* s1, double* s2) {
  double a1 = 0, a2 = 0;
  for (int i = a; i < b; ++i) {
    const double d = (double)s[i * st] - c;
    a1 += d;
    a2 += d * d;
  }
  *s1 = a1;
  *s2 = a2;
}

// The first position of [a, b) not below lo, and the end of [a, b) without
// what lies above hi (s sorted).
int skip_low_SFX(const SAS SET* s, int st, int a, int b, double lo) {
  while (a < b && (double)s[a * st] < lo) ++a;
  return a;
}
int skip_high_SFX(const SAS SET* s, int st, int a, int b, double hi) {
  while (b > a && (double)s[(b - 1) * st] > hi) --b;
  return b;
}
//@@ACCESS_END

//@@BITONIC_BEGIN
// Leaves the smaller of positions i < j at i.
void order_SFX(SAS float* s, int st, int i, int j) {
  const float a = s[i * st], b = s[j * st];
  s[i * st] = fmin(a, b);
  s[j * st] = fmax(a, b);
}

// The last distances of a bitonic merge (16 .. 1) on the 32-row block at
// `first` (m rows of it), in registers.
void clean_block_SFX(SAS float* s, int st, int first, int m) {
  float v[32];
#pragma unroll
  for (int j = 0; j < 32; ++j) v[j] = j < m ? s[(first + j) * st] : INFINITY;
  BLOCK_CLEANERS
#pragma unroll
  for (int j = 0; j < 32; ++j)
    if (j < m) s[(first + j) * st] = v[j];
}

// The pixel's n samples (stride xs) into s, sorted, NaN as +inf (sorted
// last), -0 as +0; counts of -inf, finite and NaN samples. The sort is
// bitonic: 32-row blocks are sorted in registers as they are loaded (by
// Batcher's network, BLOCK_SORT); merge stage `size` then flips each run's
// halves against each other and runs half-cleaners at distances size / 4 ..
// 1, those of 32 rows and more in s, the rest in registers a block at a time.
// Every step leaves the smaller sample at the lower position, so positions
// past n count as +inf and the steps reaching them are skipped. Every
// work-item takes the same steps at the same positions: no divergence, and
// neighbouring work-items touch neighbouring addresses (a heapsort, which
// this replaced, took its own path through memory in each).
void load_sorted_SFX(__global const float* x, long xs, int n, SAS float* s, int st, int* negative, int* finite,
                     int* nan) {
  int ng = 0, fi = 0, na = 0;
  for (int first = 0; first < n; first += 32) {
    float v[32];
#pragma unroll
    for (int j = 0; j < 32; ++j)  // padding: sorted last, never stored
      v[j] = first + j < n ? take_sample(x, xs, first + j, &ng, &fi, &na) : INFINITY;
    BLOCK_SORT
#pragma unroll
    for (int j = 0; j < 32; ++j)
      if (first + j < n) s[(first + j) * st] = v[j];
  }
  *negative = ng;
  *finite = fi;
  *nan = na;
  for (int size = 64; size / 2 < n; size *= 2) {
    for (int run = 0; run < n; run += size)
      for (int i = run; i < run + size / 2; ++i)
        if (2 * run + size - 1 - i < n) order_SFX(s, st, i, 2 * run + size - 1 - i);
    for (int d = size / 4; d >= 32; d /= 2)
      for (int run = 0; run < n; run += 2 * d)
        for (int i = run; i < run + d && i + d < n; ++i) order_SFX(s, st, i, i + d);
    for (int first = 0; first < n; first += 32) clean_block_SFX(s, st, first, min(32, n - first));
  }
}
//@@BITONIC_END

//@@NETWORK_BEGIN
// As the BITONIC loader, sorting NETP samples (padded with +inf) in registers.
// Samples are counted one by one only when some are not finite (an H100:
// 4% faster).
void load_sorted_SFX(__global const float* x, long xs, int n, SAS SET* s, int st, int* negative, int* finite,
                     int* nan) {
  float v[NETP];
  int ng = 0, fi = 0, na = 0, all_finite = 1;
#pragma unroll
  for (int j = 0; j < NETP; ++j)  // padding: sorted last, never read as a sample
    v[j] = j < n ? x[j * xs] + 0.0f : INFINITY;
#pragma unroll
  for (int j = 0; j < NETP; ++j)
    if (j < n) all_finite &= isfinite(v[j]);
  if (all_finite) {
    fi = n;
  } else {
#pragma unroll
    for (int j = 0; j < NETP; ++j)
      if (j < n) v[j] = count_sample(v[j], &ng, &fi, &na);
  }
  *negative = ng;
  *finite = fi;
  *nan = na;
  NETWORK_COMPARATORS
#pragma unroll
  for (int j = 0; j < NETP; ++j)
    if (j < n) s[j * st] = v[j];
}
//@@NETWORK_END

//@@RULES_BEGIN
double median_SFX(const SAS SET* s, int st, int a, int m) {
  if (m == 0) return NAN;
  const int mid = a + m / 2;
  return (m & 1) ? (double)at_SFX(s, st, mid) : ((double)at_SFX(s, st, mid - 1) + (double)at_SFX(s, st, mid)) * 0.5;
}

// numpy's linear quantile of sorted positions [a, a + m).
double quantile_SFX(const SAS SET* s, int st, int a, int m, double q) {
  const double pos = ((double)m - 1.0) * q;
  const double fl = floor(pos);
  const int i = (int)fl;
  const double g = pos - fl;
  const double lo = at_SFX(s, st, a + i), hi = at_SFX(s, st, a + min(i + 1, m - 1));
  const double diff = hi - lo;
  return g >= 0.5 ? hi - diff * (1.0 - g) : lo + diff * g;
}

// astropy's sigma_clip (or its winsorized form) over sorted positions [f0, f1).
bounds_t sigma_clip_SFX(const rule_t* r, const SAS SET* s, int st, int f0, int f1) {
  const int winsor = r->reject == REJECT_WINSOR;
  bounds_t out;
  out.centre = 0;
  out.low = -INFINITY;
  out.high = INFINITY;
  out.by_rank = 0;
  out.sum_first = -1;
  int a = f0, b = f1;
  for (int it = 0;;) {
    const int m = b - a;
    if (m == 0) {  // everything was rejected: astropy's bounds become NaN
      out.low = out.high = NAN;
      break;
    }
    const double md = (double)m;
    // The sums are taken about the range's median: within the range, so
    // that they keep their digits however far the range lies from the median
    // of all samples (the CPU's prefix sums about that median check for it,
    // and take these instead).
    double med, s1, s2;
    if (!winsor) {
      med = median_SFX(s, st, a, m);
      sums_SFX(s, st, a, b, med, &s1, &s2);
    } else {
      const double q05 = quantile_SFX(s, st, a, m, 0.05), q95 = quantile_SFX(s, st, a, m, 0.95);
      const int i05 = (int)floor((md - 1.0) * 0.05), i95 = (int)floor((md - 1.0) * 0.95);
      const double below = (double)(i05 + 1), above = (double)(m - i95 - 1);
      const int mid = a + m / 2;
      const double vh = fmin(fmax((double)at_SFX(s, st, mid), q05), q95);
      med = (m & 1) ? vh : (fmin(fmax((double)at_SFX(s, st, mid - 1), q05), q95) + vh) * 0.5;
      const double d05 = q05 - med, d95 = q95 - med;
      double r1, r2;
      sums_SFX(s, st, a + i05 + 1, a + i95 + 1, med, &r1, &r2);
      s1 = below * d05 + r1 + above * d95;
      s2 = below * (d05 * d05) + r2 + above * (d95 * d95);
    }
    double lo, hi;
    if (r->centre == 0) {
      double var = (md * s2 - s1 * s1) / (md * md);  // variance_from_sums of pixel_rule.hpp
      if (var < 0) var = 0;
      const double sd = sqrt(var);
      lo = med - r->sigma_low * sd;
      hi = med + r->sigma_high * sd;
    } else {  // mean_centre_bounds of pixel_rule.hpp
      double spread = md * s2 - s1 * s1;
      if (spread < 0) spread = 0;
      const double root = sqrt(spread);
      lo = med + (s1 - r->sigma_low * root) / md;
      hi = med + (s1 + r->sigma_high * root) / md;
    }
    out.low = lo;
    out.high = hi;
    const int a2 = skip_low_SFX(s, st, a, b, lo);
    const int b2 = skip_high_SFX(s, st, a2, b, hi);
    ++it;
    if (a2 == a && b2 == b) {
      if (!winsor) {
        out.centre = med;
        out.sum = s1;
        out.sum_first = a;
        out.sum_last = b;
      }
      break;
    }
    a = a2;
    b = b2;
    if (r->max_iters > 0 && it >= r->max_iters) break;
  }
  return out;
}

// The rule's selection of the finite samples [f0, f1).
bounds_t decide_SFX(const rule_t* r, const SAS SET* s, int st, int f0, int f1) {
  const int nf = f1 - f0;
  bounds_t out;
  out.centre = 0;
  out.low = -INFINITY;
  out.high = INFINITY;
  out.by_rank = 0;
  out.sum_first = -1;
  if (nf >= 3) {
    if (r->reject == REJECT_SIGMA || r->reject == REJECT_WINSOR) {
      out = sigma_clip_SFX(r, s, st, f0, f1);
    } else if (r->reject == REJECT_PERCENTILE) {
      out.low = quantile_SFX(s, st, f0, nf, r->percentile_low / 100.0);
      out.high = quantile_SFX(s, st, f0, nf, r->percentile_high / 100.0);
    } else if (r->reject == REJECT_MINMAX && (long)nf > (long)r->n_low + r->n_high) {
      out.first = f0 + r->n_low;
      out.last = f1 - r->n_high;
      out.low = at_SFX(s, st, out.first);
      out.high = at_SFX(s, st, out.last - 1);
      out.by_rank = 1;
      return out;
    }
  }
  if (isnan(out.low) || isnan(out.high)) {
    out.low = -INFINITY;
    out.high = INFINITY;
  }
  out.first = skip_low_SFX(s, st, f0, f1, out.low);
  out.last = skip_high_SFX(s, st, out.first, f1, out.high);
  return out;
}

// One pixel: x = its samples in frame order (stride xs), s = room for them sorted.
void pixel_SFX(const rule_t* r, __global const float* x, long xs, int n, SAS SET* s, int st,
               __global const double* w, int weighted, __global int* frame_rejected, float* value, int* count,
               int* low, int* high) {
  int negative, finite, nan;
  load_sorted_SFX(x, xs, n, s, st, &negative, &finite, &nan);
  const int f0 = negative, f1 = negative + finite;
  *value = NAN;
  *count = 0;
  *low = f0;
  *high = n - nan - f1;
  if (finite == 0) {
    if (frame_rejected)
      for (int j = 0; j < n; ++j)
        if (isinf(x[j * xs])) atomic_inc(frame_rejected + j);
    return;
  }
  const bounds_t b = decide_SFX(r, s, st, f0, f1);
  const int kept = b.last - b.first;
  *count = kept;
  *low = b.first;
  *high = n - nan - b.last;
  double wsum = 0, wx = 0;
  if (weighted || frame_rejected) {
    // MINMAX ranks ties by frame: the first of equal values go first.
    const double low_value = at_SFX(s, st, b.first), high_value = at_SFX(s, st, max(b.last - 1, b.first));
    int below_low = 0, below_high = 0, seen_low = 0, seen_high = 0;
    if (b.by_rank) {
      int i = b.first;
      while (i > f0 && at_SFX(s, st, i - 1) == low_value) --i;
      below_low = i - f0;
      i = b.last - 1;
      while (i > f0 && at_SFX(s, st, i - 1) == at_SFX(s, st, b.last - 1)) --i;
      below_high = i - f0;
    }
    const double lo = fmax(b.low, -DBL_MAX), hi = fmin(b.high, DBL_MAX);
    for (int j = 0; j < n; ++j) {
      const double v = x[j * xs] + 0.0f;
      int in;
      if (b.by_rank) {
        if (!isfinite(v) || v < low_value || v > high_value) {
          in = 0;
        } else if (v == low_value || v == high_value) {
          const int rank = v == low_value ? below_low + seen_low++ : below_high + seen_high++;
          in = rank >= b.first - f0 && rank < b.last - f0;
        } else {
          in = 1;
        }
      } else {
        in = v >= lo && v <= hi;
      }
      if (in) {
        const double wj = weighted ? w[j] : 1.0;
        wsum += wj;
        wx += wj * v;
      } else if (!isnan(v) && frame_rejected) {
        atomic_inc(frame_rejected + j);
      }
    }
  }
  if (kept == 0) return;
  double v = 0, c, s1, s2;
  switch (r->combine) {
    case COMBINE_MEAN:
    case COMBINE_SUM:
      if (b.first == b.sum_first && b.last == b.sum_last) {
        c = b.centre;
        s1 = b.sum;
      } else {
        c = median_SFX(s, st, b.first, kept);
        sums_SFX(s, st, b.first, b.last, c, &s1, &s2);
      }
      v = r->combine == COMBINE_SUM ? c * (double)kept + s1 : c + s1 / (double)kept;
      break;
    case COMBINE_WMEAN:  // numpy's average: about no centre that could be far from the kept samples
      v = wx / wsum;
      break;
    case COMBINE_MEDIAN:
      v = median_SFX(s, st, b.first, kept);
      break;
    case COMBINE_MIN:
      v = at_SFX(s, st, b.first);
      break;
    default:
      v = at_SFX(s, st, b.last - 1);
      break;
  }
  *value = (float)v;
}
//@@RULES_END

// Mean, sum or weighted mean without rejection: one pass in frame order.
void plain_pixel(const rule_t* r, __global const float* x, long xs, int n, __global const double* w, int weighted,
                 __global int* frame_rejected, float* value, int* count, int* low, int* high) {
  double sum = 0, weights = 0;
  int c = 0, l = 0, h = 0;
  for (int j = 0; j < n; ++j) {
    const double v = x[j * xs];
    if (isfinite(v)) {
      ++c;
      if (r->combine == COMBINE_WMEAN) {
        const double wj = weighted ? w[j] : 1.0;
        sum += wj * v;
        weights += wj;
      } else {
        sum += v;
      }
    } else if (isinf(v)) {
      if (v < 0)
        ++l;
      else
        ++h;
      if (frame_rejected) atomic_inc(frame_rejected + j);
    }
  }
  *value = c == 0 ? NAN : (float)(r->combine == COMBINE_SUM ? sum : r->combine == COMBINE_WMEAN ? sum / weights : sum / c);
  *count = c;
  *low = l;
  *high = h;
}

// Row unit u = (channel x col_tiles + tile) x height + row; its input holds
// `frames` rows of `tile_cols` samples (frame-major); columns past the image's
// width are padding. `maps` says which of count, low and high (bits 0, 1, 2)
// the host reads; `totals` gets each row's kept and rejected samples.
#define PLX_GROUP 64  // work-items per group along a row: the host's local size

__kernel void plx_stack(__global const float* in, __global float* image, __global int* count, __global int* low,
                        __global int* high, __global int* frame_rejected, __global int* totals,
                        __global float* scratch, __global const double* weights, int frames, int tile_cols,
                        long height, long col_tiles, long width, int want_frame_rejected, int maps, int weighted,
                        int reject, int combine, int centre, int max_iters, int n_low, int n_high, double sigma_low,
                        double sigma_high, double percentile_low, double percentile_high, long first_row,
                        long rows) {
  const int col = (int)get_global_id(0), lid = (int)get_local_id(0);
  const long r = (long)get_global_id(1);  // < rows: the host's range is exact in rows
#ifdef PLX_FRAMES
  // The host builds a network's program for its frame count: as a constant,
  // the loads need no bounds checks (an H100, 32 x 1024^2 in one kernel: 80
  // -> 70 registers, 0.158 -> 0.117 ms).
  frames = PLX_FRAMES;
#endif
#if PLX_NET
  __local PLX_SORTED sorted[PLX_NET * PLX_GROUP];
#endif
  const long unit = first_row + r;
  const long tile = (unit / height) % col_tiles;
  const long channel = unit / (height * col_tiles);
  const long o = r * tile_cols + col;
  float value = NAN;
  int c = 0, l = 0, h = 0;
  if (col < tile_cols && tile * tile_cols + col < width) {  // else padding, or past the row
    rule_t rule = {reject, combine, centre, max_iters, n_low, n_high, sigma_low, sigma_high, percentile_low,
                   percentile_high};
    __global const float* x = in + r * (long)frames * tile_cols + col;
    __global const double* w = weights + channel * frames;
    __global int* fr = want_frame_rejected ? frame_rejected + r * frames : 0;
    const int plain =
        reject == REJECT_NONE && (combine == COMBINE_MEAN || combine == COMBINE_SUM || combine == COMBINE_WMEAN);
    if (plain) {
      plain_pixel(&rule, x, tile_cols, frames, w, weighted, fr, &value, &c, &l, &h);
#if PLX_NET  // frames <= PLX_NET: the global-memory sort is not in the program
    } else {
      pixel_l(&rule, x, tile_cols, frames, sorted + lid, PLX_GROUP, w, weighted, fr, &value, &c, &l, &h);
#else
    } else {
      pixel_g(&rule, x, tile_cols, frames, scratch + r * (long)frames * tile_cols + col, tile_cols, w, weighted, fr,
              &value, &c, &l, &h);
#endif
    }
  }
  if (col < tile_cols) {
    image[o] = value;
    if (maps & 1) count[o] = c;
    if (maps & 2) low[o] = l;
    if (maps & 4) high[o] = h;
  }
  // The row's totals: summed in the group with local atomics, then one
  // global atomic per group (one per work-item made the kernel twice as slow
  // on an H100; a tree of barriers in local memory was 3% slower).
  __local int kept_sum, rejected_sum;
  if (lid == 0) kept_sum = rejected_sum = 0;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (c) atomic_add(&kept_sum, c);
  if (l + h) atomic_add(&rejected_sum, l + h);
  barrier(CLK_LOCAL_MEM_FENCE);
  if (lid == 0) {
    if (kept_sum) atomic_add(totals + 2 * r, kept_sum);
    if (rejected_sum) atomic_add(totals + 2 * r + 1, rejected_sum);
  }
}
