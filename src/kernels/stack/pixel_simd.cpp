#include "kernels/stack/pixel_simd.hpp"

#include <strings.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/stack/pixel_rule.hpp"
#include "kernels/stack/sorting_network.hpp"

// Compiled once per instruction set by Highway's foreach_target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/stack/pixel_simd.cpp"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace plx::stack {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR

// One lane is one pixel: the per-pixel loop is the same thing.
void StackBlockSimd(const PixelRule& rule, const PixelBlock& block, Scratch& scratch) {
  stack_block_scalar(rule, block, scratch);
}

#else

// Samples are loaded and sorted as floats (all lanes); statistics run in
// double on each half of the lanes in turn.
using DF = hn::ScalableTag<float>;
using DD = hn::Repartition<double, DF>;
using DH = hn::Rebind<float, DD>;
using DI = hn::Rebind<int32_t, DD>;
using DL = hn::RebindToSigned<DD>;
using VF = hn::Vec<DF>;
using VD = hn::Vec<DD>;
using VI = hn::Vec<DI>;
using MD = hn::Mask<DD>;
using DK = hn::RebindToSigned<DF>;  // float bits as int32 keys (the sorting networks)
using VK = hn::Vec<DK>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMax = std::numeric_limits<double>::max();

// double -> float rounded as static_cast<float>: Highway's portable EMU128
// DemoteTo clamps to +-FLT_MAX where C++ (and every other target) gives inf.
HWY_INLINE hn::Vec<DH> demote(DH dh, VD v) {
  const hn::Vec<DH> f = hn::DemoteTo(dh, v);
#if HWY_TARGET == HWY_EMU128
  const MD big = hn::Ge(hn::Abs(v), hn::Set(DD(), 0x1.ffffffp+127));  // rounds to inf
  return hn::IfThenElse(hn::RebindMask(dh, big), hn::CopySign(hn::Set(dh, std::numeric_limits<float>::infinity()), f),
                        f);
#else
  return f;
#endif
}

// One group of G pixels: X = samples in frame order, S = sorted (n rows of G
// floats each), K = prefix sums of each half (K1, K2: (n + 1) rows of H doubles
// each, per half).
struct Group {
  const PixelRule* rule = nullptr;
  const PixelBlock* block = nullptr;
  int64_t n = 0;
  size_t G = 0, H = 0;
  float* X = nullptr;
  float* S = nullptr;
  double* K = nullptr;
  bool all_finite = false;  // no NaN or inf in the group: uniform ranges, no gathers for them
  // Outputs of the group, G lanes.
  float* image = nullptr;
  int32_t* count = nullptr;
  int32_t* low = nullptr;
  int32_t* high = nullptr;
};

// Where a half's prefix sums cannot be trusted (prefix_sums_trusted), the
// lanes picked in lanes[0] (non-zero) go through the per-pixel rule's own
// functions, lane by lane (the same bits): rare, and out of line. Their
// sorted samples [a, a + m) are lanes[1], lanes[2].
//
// The sums about the centre lanes[3], each sample clamped to [lanes[4],
// lanes[5]] (sums_about), into lanes[6] and lanes[7].
template <size_t kLanes>
HWY_NOINLINE void sums_about_lanes(const float* sorted, size_t G, size_t H, double (*lanes)[kLanes]) {
  for (size_t i = 0; i < H; ++i)
    if (lanes[0][i] != 0)
      sums_about(sorted + i, static_cast<ptrdiff_t>(G), static_cast<int64_t>(lanes[1][i]),
                 static_cast<int64_t>(lanes[2][i]), lanes[3][i], lanes[4][i], lanes[5][i], lanes[6][i], lanes[7][i]);
}
// Their mean (or sum) about their median (mean_about_median), into lanes[3].
template <size_t kLanes>
HWY_NOINLINE void mean_about_median_lanes(const float* sorted, size_t G, size_t H, bool sum, double (*lanes)[kLanes]) {
  for (size_t i = 0; i < H; ++i)
    if (lanes[0][i] != 0)
      lanes[3][i] = mean_about_median(sorted + i, static_cast<ptrdiff_t>(G), static_cast<int64_t>(lanes[1][i]),
                                      static_cast<int64_t>(lanes[2][i]), sum);
}

// The statistics of one half of a group's lanes. Rejection narrows each
// lane's sorted range [a, b) by counting, over the whole group at once, the
// samples below and up to this iteration's bounds (count_within): no walk
// from sample to sample, no chain of indexed loads.
//
// What stack_groups_of calls is inlined into it (HWY_INLINE): then the halves'
// state need not live in memory. Out of line, every call passed it through
// the objects, and each iteration waited on reloading vectors it had just
// stored (one core: AVX-512 38.5 -> 36.1 ms, AVX2 48.4 -> 43.4 ms). The
// helpers the iterations and the combine call say so too: left to itself,
// GCC kept prefix_at out of line on AVX2 (one core, 32 x 1024 x 1024:
// 40.5-41.2 -> 38.6-40.0 ms).
class HalfLanes {
 public:
  HalfLanes(const Group& g, size_t half)
      : g_(g),
        half_(half),
        sorted_(g.S + half * g.H),
        k1_(g.K + half * 2 * static_cast<size_t>(g.n + 1) * g.H),
        k2_(k1_ + static_cast<size_t>(g.n + 1) * g.H) {}

  // Finite ranges, the first centre c0 and the prefix sums; every lane with
  // at least 3 finite samples starts active.
  HWY_INLINE void prepare() {
    const VD zero = hn::Zero(dd_), one = hn::Set(dd_, 1.0);
    f0_ = zero;
    nf_ = n_;
    nan_ = zero;
    if (!g_.all_finite) {
      nf_ = zero;
      for (int64_t j = 0; j < g_.n; ++j) {
        const VD x = x_row(j);
        f0_ = hn::Add(f0_, hn::IfThenElseZero(hn::Eq(x, hn::Set(dd_, -kInf)), one));
        nf_ = hn::Add(nf_, hn::IfThenElseZero(hn::IsFinite(x), one));
        nan_ = hn::Add(nan_, hn::IfThenElseZero(hn::IsNaN(x), one));
      }
    }
    f1_ = hn::Add(f0_, nf_);
    c0_ = g_.all_finite ? median_row(g_.n) : median(f0_, nf_);
    if (needs_prefix(*g_.rule)) build_prefix();
    a_ = A_ = f0_;
    b_ = B_ = f1_;
    lo_ = hn::Set(dd_, -kInf);
    hi_ = hn::Set(dd_, kInf);
    active_ = hn::Ge(nf_, hn::Set(dd_, 3.0));
  }

  bool any_active() const { return !hn::AllFalse(dd_, active_); }

  // This iteration's (winsorized) sigma-clipping bounds from [a, b).
  HWY_INLINE void clip_bounds(bool first) {
    const PixelRule& rule = *g_.rule;
    const VD zero = hn::Zero(dd_), one = hn::Set(dd_, 1.0), half = hn::Set(dd_, 0.5);
    const VD m = hn::Sub(b_, a_);
    VD med, s1, s2, lo_clamp = hn::Set(dd_, -kInf), hi_clamp = hn::Set(dd_, kInf);
    if (rule.reject != Reject::winsorized && first && g_.all_finite) {  // all lanes: [0, n)
      med = c0_;
      const size_t end = static_cast<size_t>(g_.n) * g_.H;
      at_a_ = {a_, hn::Load(dd_, k1_), hn::Load(dd_, k2_)};
      at_b_ = {b_, hn::Load(dd_, k1_ + end), hn::Load(dd_, k2_ + end)};
      s1 = hn::Sub(at_b_.k1, at_a_.k1);
      s2 = hn::Sub(at_b_.k2, at_a_.k2);
    } else if (rule.reject != Reject::winsorized) {
      med = median(a_, m);
      const Prefix& kb = prefix_at(b_, at_b_);
      const Prefix& ka = prefix_at(a_, at_a_);
      s1 = hn::Sub(kb.k1, ka.k1);
      s2 = hn::Sub(kb.k2, ka.k2);
    } else {
      const VD q05 = quantile(a_, m, 0.05), q95 = quantile(a_, m, 0.95);
      const VD i05 = hn::Floor(hn::Mul(hn::Sub(m, one), hn::Set(dd_, 0.05)));
      const VD i95 = hn::Floor(hn::Mul(hn::Sub(m, one), hn::Set(dd_, 0.95)));
      const VD below = hn::Add(i05, one), above = hn::Sub(hn::Sub(m, i95), one);
      const VD d05 = hn::Sub(q05, c0_), d95 = hn::Sub(q95, c0_);
      const VD from = hn::Add(hn::Add(a_, i05), one), to = hn::Add(hn::Add(a_, i95), one);
      s1 = hn::Add(hn::Add(hn::Mul(below, d05), hn::Sub(k_at(k1_, to), k_at(k1_, from))), hn::Mul(above, d95));
      s2 = hn::Add(hn::Add(hn::Mul(below, hn::Mul(d05, d05)), hn::Sub(k_at(k2_, to), k_at(k2_, from))),
                   hn::Mul(above, hn::Mul(d95, d95)));
      const VD h = hn::Floor(hn::Mul(m, half));
      const MD odd = hn::Eq(hn::Sub(m, hn::Add(h, h)), one);
      const VD upper = hn::Add(a_, h);
      const VD vh = hn::Min(hn::Max(at(upper), q05), q95);
      const VD vl = hn::Min(hn::Max(at(hn::Sub(upper, one)), q05), q95);
      med = hn::IfThenElse(odd, vh, hn::Mul(hn::Add(vl, vh), half));
      lo_clamp = q05;
      hi_clamp = q95;
    }
    // Sums that cannot be trusted (prefix_sums_trusted), and those of two
    // samples (see pixel_rule.cpp), are taken again, about med, lane by lane.
    VD base = c0_;
    const MD untrusted = hn::AndNot(hn::And(trusted_sums(s1, s2, m), hn::Gt(m, hn::Set(dd_, 2.0))), active_);
    if (HWY_UNLIKELY(!hn::AllFalse(dd_, untrusted))) {
      HWY_ALIGN double lanes[8][kLanes];
      pick(untrusted, a_, m, lanes);
      hn::Store(med, dd_, lanes[3]);
      hn::Store(lo_clamp, dd_, lanes[4]);
      hn::Store(hi_clamp, dd_, lanes[5]);
      hn::Store(zero, dd_, lanes[6]);
      hn::Store(zero, dd_, lanes[7]);
      sums_about_lanes(sorted_, g_.G, g_.H, lanes);
      s1 = hn::IfThenElse(untrusted, hn::Load(dd_, lanes[6]), s1);
      s2 = hn::IfThenElse(untrusted, hn::Load(dd_, lanes[7]), s2);
      base = hn::IfThenElse(untrusted, med, base);
    }
    // variance_from_sums, then the bounds (NaN for an empty range, as astropy's).
    // The first range of a group without NaN or inf has n samples in every
    // lane: with n a power of two, 1 / n^2 is exact, and so a product by it
    // gives the quotient's bits without a division.
    const VD num = hn::Sub(hn::Mul(m, s2), hn::Mul(s1, s1));
    const VD sigma_low = hn::Set(dd_, rule.sigma_low), sigma_high = hn::Set(dd_, rule.sigma_high);
    VD new_lo, new_hi;
    if (HWY_UNLIKELY(rule.centre == Centre::mean)) {  // mean_centre_bounds
      const VD root = hn::Sqrt(hn::IfThenElse(hn::Lt(num, zero), zero, num));
      new_lo = hn::Add(base, hn::Div(hn::Sub(s1, hn::Mul(sigma_low, root)), m));
      new_hi = hn::Add(base, hn::Div(hn::Add(s1, hn::Mul(sigma_high, root)), m));
    } else {
      const bool exact_inverse = first && g_.all_finite && (g_.n & (g_.n - 1)) == 0;
      const VD var = exact_inverse ? hn::Mul(num, hn::Set(dd_, 1.0 / static_cast<double>(g_.n * g_.n)))
                                   : hn::Div(num, hn::Mul(m, m));
      const VD sd = hn::Sqrt(hn::IfThenElse(hn::Lt(var, zero), zero, var));
      new_lo = hn::Sub(med, hn::Mul(sigma_low, sd));
      new_hi = hn::Add(med, hn::Mul(sigma_high, sd));
    }
    const MD empty = hn::Eq(m, zero);
    const VD nan = hn::Set(dd_, std::numeric_limits<double>::quiet_NaN());
    new_lo = hn::IfThenElse(empty, nan, new_lo);
    new_hi = hn::IfThenElse(empty, nan, new_hi);
    lo_ = hn::IfThenElse(active_, new_lo, lo_);
    hi_ = hn::IfThenElse(active_, new_hi, hi_);
  }

  // numpy's quantiles of all finite samples.
  HWY_INLINE void percentile_bounds() {
    const PixelRule& rule = *g_.rule;
    lo_ = hn::IfThenElse(active_, quantile(f0_, nf_, rule.percentile_low / 100.0), lo_);
    hi_ = hn::IfThenElse(active_, quantile(f0_, nf_, rule.percentile_high / 100.0), hi_);
  }

  // The bounds count_within applies to this half: the last ones in active
  // lanes, -inf and +inf elsewhere (their counts are not used, and nothing
  // is outside them).
  VD lower_for_count() const { return hn::IfThenElse(active_, lo_, hn::Set(dd_, -kInf)); }
  VD upper_for_count() const { return hn::IfThenElse(active_, hi_, hn::Set(dd_, kInf)); }

  // Applies this iteration's bounds: `below` and `upto` count, per lane, the
  // sorted samples < lo and <= hi. Narrows [a, b) (astropy clips survivors
  // only) and sets [A, B), the final re-test of every finite sample.
  HWY_INLINE void narrow(VD below, VD upto) {
    const MD undefined = hn::Or(hn::IsNaN(lo_), hn::IsNaN(hi_));  // astropy: nothing rejected
    const VD A = hn::IfThenElse(undefined, f0_, hn::Max(f0_, below));
    const VD B = hn::IfThenElse(undefined, f1_, hn::Max(hn::Min(f1_, upto), A));
    A_ = hn::IfThenElse(active_, A, A_);
    B_ = hn::IfThenElse(active_, B, B_);
    const VD a = hn::Min(hn::Max(a_, below), b_);
    const VD b = hn::Max(hn::Min(b_, upto), a);
    const MD changed = hn::Or(hn::Ne(a, a_), hn::Ne(b, b_));
    a_ = hn::IfThenElse(active_, a, a_);
    b_ = hn::IfThenElse(active_, b, b_);
    active_ = hn::And(active_, changed);
  }

  // Combines the kept samples [A, B) and stores this half's outputs.
  HWY_INLINE void finish() {
    const PixelRule& rule = *g_.rule;
    const VD zero = hn::Zero(dd_), one = hn::Set(dd_, 1.0);
    const MD undefined = hn::Or(hn::IsNaN(lo_), hn::IsNaN(hi_));
    const VD lo = hn::IfThenElse(undefined, hn::Set(dd_, -kInf), lo_);
    const VD hi = hn::IfThenElse(undefined, hn::Set(dd_, kInf), hi_);
    const VD kept = hn::Sub(B_, A_);

    VD wsum = zero, wx = zero;
    if (rule.combine == Combine::weighted_mean || g_.block->frame_rejected)
      frame_pass(hn::Max(lo, hn::Set(dd_, -kMax)), hn::Min(hi, hn::Set(dd_, kMax)), wsum, wx);

    VD value;
    switch (rule.combine) {
      case Combine::mean:
      case Combine::sum: {
        const bool sum = rule.combine == Combine::sum;
        const Prefix& kb = prefix_at(B_, at_b_);
        const Prefix& ka = prefix_at(A_, at_a_);
        const VD s1 = hn::Sub(kb.k1, ka.k1);
        value = sum ? hn::Add(hn::Mul(c0_, kept), s1) : hn::Add(c0_, hn::Div(s1, kept));
        const MD untrusted = hn::And(hn::Gt(kept, zero), hn::Not(trusted_sums(s1, hn::Sub(kb.k2, ka.k2), kept)));
        if (HWY_UNLIKELY(!hn::AllFalse(dd_, untrusted))) {  // their mean again, about their median
          HWY_ALIGN double lanes[4][kLanes];
          pick(untrusted, A_, kept, lanes);
          hn::Store(value, dd_, lanes[3]);
          mean_about_median_lanes(sorted_, g_.G, g_.H, sum, lanes);
          value = hn::Load(dd_, lanes[3]);
        }
        break;
      }
      case Combine::weighted_mean:
        value = hn::Div(wx, wsum);
        break;
      case Combine::median:
        value = median(A_, kept);
        break;
      case Combine::min:
        value = at(A_);
        break;
      case Combine::max:
        value = at(hn::Sub(B_, one));
        break;
    }
    value = hn::IfThenElse(hn::Gt(kept, zero), value, hn::Set(dd_, std::numeric_limits<double>::quiet_NaN()));
    store(value, kept, A_, hn::Sub(hn::Sub(n_, nan_), B_));
  }

 private:
  // Sample j of this half's lanes, in frame order / sorted.
  VD x_row(int64_t j) const {
    return hn::PromoteTo(dd_, hn::Load(dh_, g_.X + static_cast<size_t>(j) * g_.G + half_ * g_.H));
  }
  VD s_row(int64_t j) const { return hn::PromoteTo(dd_, hn::Load(dh_, sorted_ + static_cast<size_t>(j) * g_.G)); }

  // Positions (small integers, exact either way) become int32 for the
  // arithmetic of a gather's index: integer steps of a cycle where double ones
  // took three or four, on the chain from a range's ends to its gathers.
  HWY_INLINE VI position(VD v) const { return hn::DemoteTo(di_, v); }
  // Sorted sample at per-lane position idx (clamped into [0, n)).
  HWY_INLINE VD at(VI idx) const {
    idx = hn::Min(hn::Max(idx, hn::Zero(di_)), last_);
    const VI offset = hn::Add(hn::ShiftLeftSame(idx, row_shift_), lane_);
    return hn::PromoteTo(dd_, hn::GatherIndex(dh_, sorted_, offset));
  }
  HWY_INLINE VD at(VD idx) const { return at(position(idx)); }
  // Both prefix sums at per-lane positions `pos`.
  struct Prefix {
    VD pos, k1, k2;
  };
  // The prefix sums at idx: those of `last` when it holds them (the range's
  // ends move in few lanes after the first iteration, and the final combine
  // usually sums the last iteration's range), else gathered into it.
  HWY_INLINE const Prefix& prefix_at(VD idx, Prefix& last) {
    if (!hn::AllTrue(dd_, hn::Eq(idx, last.pos))) last = {idx, k_at(k1_, idx), k_at(k2_, idx)};
    return last;
  }
  // Prefix sum at per-lane position idx (in [0, n]). The index widens from
  // int32 (position): AVX2 has no double -> int64 conversion, and Highway's
  // emulation of it put some 20 instructions before each gather (one core,
  // AVX2: 36.7-37.2 -> 35.9-36.3 ms).
  HWY_INLINE VD k_at(const double* k, VD idx) const {
    const VI i = hn::Min(hn::Max(position(idx), hn::Zero(di_)), count_);
    return hn::GatherIndex(dd_, k, hn::PromoteTo(dl_, hn::Add(hn::ShiftLeftSame(i, row_shift_ - 1), lane_)));
  }

  // The first rows of a fallback's lane arrays (sums_about_lanes,
  // mean_about_median_lanes): the lanes picked, their ranges' first positions
  // and lengths.
  static constexpr size_t kLanes = hn::MaxLanes(DD());
  HWY_INLINE void pick(MD lanes, VD a, VD m, double (*rows)[kLanes]) const {
    hn::Store(hn::IfThenElseZero(lanes, hn::Set(dd_, 1.0)), dd_, rows[0]);
    hn::Store(a, dd_, rows[1]);
    hn::Store(m, dd_, rows[2]);
  }

  // prefix_sums_trusted, lane by lane (the same operations).
  HWY_INLINE MD trusted_sums(VD s1, VD s2, VD m) const {
    return hn::Le(hn::Mul(hn::Set(dd_, kTrustedSpread), hn::Mul(s1, s1)),
                  hn::Mul(hn::Set(dd_, kTrustedSpread - 1), hn::Mul(s2, m)));
  }

  // Median of all n sorted rows (the same position in every lane).
  VD median_row(int64_t n) const {
    const VD hi = s_row(n / 2);
    return (n & 1) ? hi : hn::Mul(hn::Add(s_row(n / 2 - 1), hi), hn::Set(dd_, 0.5));
  }

  // Median of sorted positions [a, a + m); NaN where m is 0.
  HWY_INLINE VD median(VD a, VD m) const {
    const VD half = hn::Floor(hn::Mul(m, hn::Set(dd_, 0.5)));
    const MD odd = hn::Eq(hn::Sub(m, hn::Add(half, half)), hn::Set(dd_, 1.0));
    const VI upper = hn::Add(position(a), hn::ShiftRight<1>(position(m)));
    const VD hi = at(upper);
    const VD lo = at(hn::Sub(upper, hn::Set(di_, 1)));
    const VD med = hn::IfThenElse(odd, hi, hn::Mul(hn::Add(lo, hi), hn::Set(dd_, 0.5)));
    return hn::IfThenElse(hn::Eq(m, hn::Zero(dd_)), hn::Set(dd_, std::numeric_limits<double>::quiet_NaN()), med);
  }

  // numpy's linear quantile q of sorted positions [a, a + m), m >= 1.
  HWY_INLINE VD quantile(VD a, VD m, double q) const {
    const VD one = hn::Set(dd_, 1.0);
    const VD pos = hn::Mul(hn::Sub(m, one), hn::Set(dd_, q));
    const VD fl = hn::Floor(pos);
    const VD g = hn::Sub(pos, fl);
    const VD lo = at(hn::Add(a, fl));
    const VD hi = at(hn::Add(a, hn::Min(hn::Add(fl, one), hn::Sub(m, one))));
    const VD diff = hn::Sub(hi, lo);
    return hn::IfThenElse(hn::Ge(g, hn::Set(dd_, 0.5)), hn::Sub(hi, hn::Mul(diff, hn::Sub(one, g))),
                          hn::Add(lo, hn::Mul(diff, g)));
  }

  // K1/K2 over [f0, f1]: sums of d = s - c0 and d^2 outward from m0 = f0 + nf/2.
  HWY_INLINE void build_prefix() {
    const VD zero = hn::Zero(dd_), f0 = f0_, f1 = f1_, c0 = c0_;
    const VD m0 = hn::Add(f0, hn::Floor(hn::Mul(hn::Sub(f1, f0), hn::Set(dd_, 0.5))));
    double* k1 = k1_;
    double* k2 = k2_;
    const size_t H = g_.H;
    VD a1 = zero, a2 = zero;
    hn::Store(zero, dd_, k1);
    hn::Store(zero, dd_, k2);
    if (g_.all_finite) {  // the same m0 in every lane
      // Right of m0 upward and left of m0 downward in the same loop: four
      // independent chains of additions instead of two after two. The left
      // sums are kept negated as they grow (c0 - s added, squares
      // subtracted): rounding is symmetric, so that is -sum exactly, without
      // a negation per row (one core: AVX-512 34.7 -> 33.7 ms).
      //
      // Everything the loop reads is in locals: a vector store may alias any
      // object, so members (the row size, the pointers) were loaded again
      // after every store (one core, AVX2: 39.2-40.8 -> 38.6-39.5 ms).
      const size_t n = static_cast<size_t>(g_.n), mid = n / 2, G = g_.G;
      const float* right = sorted_ + mid * G;  // row mid + i
      const float* left = right;               // row mid - i, before its step
      double *k1r = k1 + mid * H, *k2r = k2 + mid * H, *k1l = k1r, *k2l = k2r;
      hn::Store(zero, dd_, k1r);
      hn::Store(zero, dd_, k2r);
      VD l1 = zero, l2 = zero;
      for (size_t i = 0; mid + i < n; ++i, right += G, k1r += H, k2r += H) {
        const VD d = hn::Sub(hn::PromoteTo(dd_, hn::Load(dh_, right)), c0);
        a1 = hn::Add(a1, d);
        a2 = hn::Add(a2, hn::Mul(d, d));
        hn::Store(a1, dd_, k1r + H);
        hn::Store(a2, dd_, k2r + H);
        if (i == mid) break;  // odd n: the right has one row more
        left -= G;
        k1l -= H;
        k2l -= H;
        const VD e = hn::Sub(c0, hn::PromoteTo(dd_, hn::Load(dh_, left)));
        l1 = hn::Add(l1, e);
        l2 = hn::Sub(l2, hn::Mul(e, e));
        hn::Store(l1, dd_, k1l);
        hn::Store(l2, dd_, k2l);
      }
      return;
    }
    for (int64_t j = 0; j < g_.n; ++j) {  // right of m0
      const VD jj = hn::Set(dd_, static_cast<double>(j));
      const MD in = hn::And(hn::Ge(jj, m0), hn::Lt(jj, f1));
      const VD d = hn::Sub(s_row(j), c0);
      a1 = hn::Add(a1, hn::IfThenElseZero(in, d));
      a2 = hn::Add(a2, hn::IfThenElseZero(in, hn::Mul(d, d)));
      hn::Store(a1, dd_, k1 + static_cast<size_t>(j + 1) * H);
      hn::Store(a2, dd_, k2 + static_cast<size_t>(j + 1) * H);
    }
    a1 = a2 = zero;
    for (int64_t j = g_.n - 1; j >= 0; --j) {  // left of m0
      const VD jj = hn::Set(dd_, static_cast<double>(j));
      const MD in = hn::And(hn::Ge(jj, f0), hn::Lt(jj, m0));
      const VD d = hn::Sub(s_row(j), c0);
      a1 = hn::Add(a1, hn::IfThenElseZero(in, d));
      a2 = hn::Add(a2, hn::IfThenElseZero(in, hn::Mul(d, d)));
      double* p1 = k1 + static_cast<size_t>(j) * H;
      double* p2 = k2 + static_cast<size_t>(j) * H;
      hn::Store(hn::IfThenElse(in, hn::Sub(zero, a1), hn::Load(dd_, p1)), dd_, p1);
      hn::Store(hn::IfThenElse(in, hn::Sub(zero, a2), hn::Load(dd_, p2)), dd_, p2);
    }
  }

  // Weighted sums and per-frame rejections, in frame order.
  HWY_INLINE void frame_pass(VD lo, VD hi, VD& wsum, VD& wx) const {
    const PixelBlock& b = *g_.block;
    const bool weighted = g_.rule->combine == Combine::weighted_mean;
    for (int64_t j = 0; j < g_.n; ++j) {
      const VD x = x_row(j);
      const MD in = hn::And(hn::Ge(x, lo), hn::Le(x, hi));
      if (weighted) {
        const VD w = hn::Set(dd_, b.weight ? b.weight[j] : 1.0);
        wsum = hn::Add(wsum, hn::IfThenElseZero(in, w));
        wx = hn::Add(wx, hn::IfThenElseZero(in, hn::Mul(w, x)));
      }
      if (b.frame_rejected) {  // neither kept nor missing
        const MD rejected = hn::AndNot(in, hn::Not(hn::IsNaN(x)));
        b.frame_rejected[j] += static_cast<int64_t>(hn::CountTrue(dd_, rejected));
      }
    }
  }

  HWY_INLINE void store(VD value, VD count, VD low, VD high) const {
    const size_t at = half_ * g_.H;
    hn::StoreU(demote(dh_, value), dh_, g_.image + at);
    hn::StoreU(hn::DemoteTo(di_, count), di_, g_.count + at);
    hn::StoreU(hn::DemoteTo(di_, low), di_, g_.low + at);
    hn::StoreU(hn::DemoteTo(di_, high), di_, g_.high + at);
  }

  const Group& g_;
  const size_t half_;
  const float* sorted_;
  double* const k1_;
  double* const k2_;
  DD dd_;
  DH dh_;
  DI di_;
  DL dl_;
  // Floats from a sorted row to the next: 2^row_shift_ = G (Highway's lane
  // counts are powers of two, SVE's too; there G is known only at run time).
  // The doubles of a prefix row: half as many.
  const int row_shift_ = static_cast<int>(hwy::FloorLog2(g_.G));
  const VI lane_ = hn::Iota(di_, 0);
  const VI last_ = hn::Set(di_, static_cast<int32_t>(g_.n - 1));  // last sorted position
  const VI count_ = hn::Set(di_, static_cast<int32_t>(g_.n));     // last prefix position
  const VD n_ = hn::Set(dd_, static_cast<double>(g_.n));          // samples per lane
  VD f0_, f1_, nf_, nan_;  // finite samples: sorted positions [f0, f1), nf of them; nan: missing ones
  VD c0_;                  // median of the finite samples: the prefix sums' centre
  VD a_, b_;               // sorted range of the current iteration's survivors
  VD A_, B_;               // finite samples within the last bounds: the kept ones
  VD lo_, hi_;             // the last bounds
  MD active_;              // still clipping
  // The prefix sums last read at the lower and upper ends of a range (NaN
  // positions: none yet).
  Prefix at_a_{hn::Set(dd_, std::numeric_limits<double>::quiet_NaN()), hn::Zero(dd_), hn::Zero(dd_)}, at_b_ = at_a_;
};

// Per lane of each half, the sorted samples < lo and <= hi (as doubles: the
// samples are compared as astropy compares them). Each lane's rows are
// sorted, so the samples below lo are its first rows and those above hi its
// last: the scans start at each end and stop at the first row where no lane
// is outside (a row or two for most data, instead of all N), looking no
// earlier than after kFixedRows. A NaN bound compares false: nothing is below
// it and every row is above it.
constexpr int64_t kFixedRows = 4;

HWY_INLINE void count_within(const Group& g, const VD* lo, const VD* hi, VD* below, VD* upto) {
  const DD dd;
  const DH dh;
  const DL dl;
  using VL = hn::Vec<DL>;
  auto row = [&](int64_t j, size_t half) {
    return hn::PromoteTo(dd, hn::Load(dh, g.S + static_cast<size_t>(j) * g.G + half * g.H));
  };
  // A count c grows as the bits of the double 2^52 + c: adding 1 to them
  // adds 1.0, an integer step of one cycle where a double add takes three,
  // on the chain from the bounds to the next iteration. 2^52 comes off at the
  // end, exactly.
  const VD base = hn::Set(dd, 4503599627370496.0);
  // Counts the rows outside from one end: the first kFixedRows without a
  // test (where the scan stops changes from group to group, and a branch on
  // it mispredicts), then while the last row had a lane outside.
  auto scan = [&](int64_t first, int64_t step, auto outside, VD* count) {
    VL c[2] = {hn::BitCast(dl, base), hn::BitCast(dl, base)};
    bool more = true;
    for (int64_t i = 0, j = first; i < g.n && more; ++i, j += step) {
      const MD out0 = outside(row(j, 0), 0), out1 = outside(row(j, 1), 1);
      c[0] = hn::Sub(c[0], hn::BitCast(dl, hn::VecFromMask(dd, out0)));  // all ones: -1
      c[1] = hn::Sub(c[1], hn::BitCast(dl, hn::VecFromMask(dd, out1)));
      if (i + 1 >= kFixedRows) more = !hn::AllFalse(dd, hn::Or(out0, out1));
    }
    for (size_t h = 0; h < 2; ++h) count[h] = hn::Sub(hn::BitCast(dd, c[h]), base);
  };
  VD above[2];
  scan(0, 1, [&](VD x, size_t h) { return hn::Lt(x, lo[h]); }, below);
  scan(g.n - 1, -1, [&](VD x, size_t h) { return hn::Not(hn::Le(x, hi[h])); }, above);
  const VD n = hn::Set(dd, static_cast<double>(g.n));
  for (size_t h = 0; h < 2; ++h) upto[h] = hn::Sub(n, above[h]);
}

// Applies each half's last bounds to its lanes.
HWY_INLINE void apply_bounds(const Group& g, HalfLanes* half) {
  VD lo[2], hi[2], below[2], upto[2];
  for (size_t h = 0; h < 2; ++h) {
    lo[h] = half[h].lower_for_count();
    hi[h] = half[h].upper_for_count();
  }
  count_within(g, lo, hi, below, upto);
  for (size_t h = 0; h < 2; ++h) half[h].narrow(below[h], upto[h]);
}

// Rejection and combine of kCount groups, all halves in step. Each
// iteration is a chain of dependent steps (indexed loads, a division, a
// square root, the counts, the test for another round); the groups' chains
// are independent, so interleaving them lets one group's steps fill the
// other's waits (one core, two groups: AVX-512 36.3 -> 34.5 ms, AVX2 45.0 ->
// 42.8, SSE4 69.2 -> 64.4; four were no better than two).
template <size_t kCount, size_t... I>
HWY_INLINE void stack_groups_of(const Group* g, std::index_sequence<I...>) {
  HalfLanes half[2 * kCount] = {HalfLanes(g[I / 2], I % 2)...};
  for (HalfLanes& h : half) h.prepare();
  const PixelRule& rule = *g[0].rule;
  auto active = [&](size_t i) { return half[2 * i].any_active() || half[2 * i + 1].any_active(); };
  if (rule.reject == Reject::sigma_clip || rule.reject == Reject::winsorized) {
    for (int it = 0;;) {
      bool any = false;
      for (HalfLanes& h : half)
        if (h.any_active()) {  // else its results would all be dropped
          h.clip_bounds(it == 0);
          any = true;
        }
      if (!any) break;
      for (size_t i = 0; i < kCount; ++i)
        if (active(i)) apply_bounds(g[i], half + 2 * i);
      if (++it == rule.max_iters) break;
    }
  } else if (rule.reject == Reject::percentile) {
    for (HalfLanes& h : half) h.percentile_bounds();
    for (size_t i = 0; i < kCount; ++i) apply_bounds(g[i], half + 2 * i);
  }
  for (HalfLanes& h : half) h.finish();
}

template <size_t kCount>
HWY_NOINLINE void stack_groups_of(const Group* g) {
  stack_groups_of<kCount>(g, std::make_index_sequence<2 * kCount>{});
}

constexpr size_t kMaxBatch = 4;  // groups stacked together, at most

// stack_groups_of for 1 <= count <= kMaxBatch groups.
void stack_groups(const Group* g, size_t count) {
  if (count == 1) return stack_groups_of<1>(g);
  if (count == 2) return stack_groups_of<2>(g);
  if (count == 3) {
    stack_groups_of<2>(g);
    return stack_groups_of<1>(g + 2);
  }
  stack_groups_of<kMaxBatch>(g);
}

// A cache line's floats. When a vector holds fewer (AVX2: 8), the groups of
// a line are loaded together: a group's n lines share one L1 set when the
// frames sit a multiple of 4 KiB apart (a cube of 1024 x 1024 frames), and
// the next group found its half of each line gone (measured on AVX2: 20% of
// the time).
constexpr size_t kLineFloats = 64 / sizeof(float);
constexpr size_t kMaxLoad = 4;  // groups loaded together, at most (SSE4: 4 floats a vector)

// Frames whose samples the fused load and sort reads at once, at most. When
// frames sit a multiple of 4 KiB apart (1024 x 1024 floats, 1920 x 1080, any
// frames allocated one by one in pages), the line a group reads from each
// lies in the same 8-way L1 set: 32 lines missing at once evict one another
// (and the lines the hardware prefetched) before their loads complete. Each
// wave's addresses wait for the previous wave's data (wave_gate), so about 8
// are in flight and the network sorts the rows that arrived meanwhile (one
// core, AVX-512: 32 x 128 x 64 in L2 0.258 -> 0.243 ms, 32 x 1024 x 1024
// from memory 33.5 -> 32.8 ms; 4 or 16 frames a wave gained less). Where the
// loads wait for nothing else (load_groups), the waves cost more than they
// saved (AVX2 +5%).
constexpr int kWaveFrames = 8;

// Zero, known only once `v` has arrived: an offset that holds the next
// wave's loads until then.
HWY_INLINE int64_t wave_gate(VK v) {
  int32_t z = hn::GetLane(v);
#if HWY_ARCH_X86
  asm("andl $0, %k0" : "+r"(z));  // not a zeroing idiom: it waits for z
  return z;
#else
  (void)z;
  return 0;
#endif
}

// Whether more than kWaveFrames of the block's frames read each pixel from
// the same L1 set (bits 6-11 of its address): then they are read in waves.
// Elsewhere the waits would only cost (frames 64 bytes apart, one core: +2.5%
// in L2, +5% from memory).
inline bool frames_share_l1_sets(const PixelBlock& b) {
  int in_set[64] = {};
  for (int64_t j = 0; j < b.frames; ++j)
    if (++in_set[(reinterpret_cast<uintptr_t>(b.rows[j]) >> 6) & 63] > kWaveFrames) return true;
  return false;
}

// Asks for the line 512 bytes (8 lines) past `p` into L2, as the loads
// reach each frame's line: with dozens of frames, the hardware prefetchers
// do not keep ahead of every frame's stream. The hint is T1 (`prefetcht1`),
// which AMD Zen 4 fills into L2 only; T0 (Highway's Prefetch) and NTA fill
// L1, where the lines of frames 4 KiB apart share one 8-way set and evict one
// another and the lines in use, which is why earlier prefetches gained
// nothing here. One core, 1024 x 1024 frames 4 KiB-aligned, alternated with
// T0 or none: 32 frames AVX-512 32.1-33.9 -> 30.8-31.5 ms (a numpy cube on
// huge pages 34.3 -> 31.9), AVX2 ~1-3% less; 48 frames (load_groups)
// 72-73 -> 63-64 ms; frames in cache +1-2%. The address is formed as an
// integer: it may lie past the frame, and a prefetch never faults.
HWY_INLINE void prefetch_ahead(const float* p) {
  constexpr uintptr_t kAheadBytes = 8 * 64;
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + kAheadBytes), 0, 2);
}

// Loads kCount neighbouring groups' samples (normalized, -0 as +0) into X,
// X + n * G, ... (n rows of G floats each), and whether each group's are all
// finite into finite[]. Each frame's samples for all of them are read at
// once: see kLineFloats. kCount is a constant so that the groups' masks stay
// in registers: indexed by a run-time count they lived on the stack, and
// every frame waited on the store of the last one's (frames in cache, AVX2:
// 0.66 -> 0.60 ms; from memory the loads wait on the frames' lines instead).
template <size_t kCount>
HWY_NOINLINE void load_groups_of(const PixelBlock& b, int64_t p, size_t G, float* X, bool* finite) {
  const DF df;
  const DD dd;
  const DH dh;
  const size_t H = G / 2, group = static_cast<size_t>(b.frames) * G;
  const float* const* rows = b.rows;
  hn::Mask<DF> all[kCount];
  for (size_t i = 0; i < kCount; ++i) all[i] = hn::FirstN(df, G);
  auto load = [&](auto sample) {
    for (int64_t j = 0; j < b.frames; ++j) {
      const float* row = rows[j] + p;
      prefetch_ahead(row);
#pragma GCC unroll 4
      for (size_t i = 0; i < kCount; ++i) {
        const VF v = hn::Add(sample(j, row + i * G), hn::Zero(df));
        all[i] = hn::And(all[i], hn::IsFinite(v));
        hn::Store(v, df, X + i * group + static_cast<size_t>(j) * G);
      }
    }
  };
  if (b.scale) {
    load([&](int64_t j, const float* src) {
      const VD scale = hn::Set(dd, b.scale[j]), offset = hn::Set(dd, b.offset[j]);
      const VD lo = hn::Add(hn::Mul(hn::PromoteTo(dd, hn::LoadU(dh, src)), scale), offset);
      const VD hi = hn::Add(hn::Mul(hn::PromoteTo(dd, hn::LoadU(dh, src + H)), scale), offset);
      return hn::Combine(df, demote(dh, hi), demote(dh, lo));
    });
  } else {
    load([&](int64_t, const float* src) { return hn::LoadU(df, src); });
  }
  for (size_t i = 0; i < kCount; ++i) finite[i] = hn::AllTrue(df, all[i]);
}

// load_groups_of for 1 <= count <= kMaxLoad groups.
void load_groups(const PixelBlock& b, int64_t p, size_t G, size_t count, float* X, bool* finite) {
  switch (count) {
    case 1: return load_groups_of<1>(b, p, G, X, finite);
    case 2: return load_groups_of<2>(b, p, G, X, finite);
    case 3: return load_groups_of<3>(b, p, G, X, finite);
    default: return load_groups_of<kMaxLoad>(b, p, G, X, finite);
  }
}

// The outputs of one group that cannot go straight to the block: those of
// its partial last group, and those the block does not take.
struct LocalLanes {
  static constexpr size_t kMaxLanes = 64;
  alignas(64) float image[kMaxLanes];
  alignas(64) int32_t count[kMaxLanes], low[kMaxLanes], high[kMaxLanes];

  // Lanes [0, width) to the block's outputs from pixel p.
  void copy_to(const PixelBlock& b, int64_t p, size_t width) const {
    std::memcpy(b.image + p, image, width * sizeof(float));
    if (b.count) std::memcpy(b.count + p, count, width * sizeof(int32_t));
    if (b.low) std::memcpy(b.low + p, low, width * sizeof(int32_t));
    if (b.high) std::memcpy(b.high + p, high, width * sizeof(int32_t));
  }
};

// The block's last pixels [p, p + width), fewer than a group, as a block of
// one whole group: each frame's samples copied into G lanes padded with NaN
// (no sample). Its outputs are the block's until the caller sets them.
class PaddedTail {
 public:
  const PixelBlock& of(const PixelBlock& b, int64_t p, size_t width, size_t G) {
    const auto n = static_cast<size_t>(b.frames);
    samples_.assign(n * G, std::numeric_limits<float>::quiet_NaN());
    rows_.resize(n);
    for (size_t j = 0; j < n; ++j) {
      std::memcpy(samples_.data() + j * G, b.rows[j] + p, width * sizeof(float));
      rows_[j] = samples_.data() + j * G;
    }
    block_ = b;
    block_.rows = rows_.data();
    block_.pixels = static_cast<int64_t>(G);
    return block_;
  }

 private:
  std::vector<float> samples_;
  std::vector<const float*> rows_;
  PixelBlock block_;
};

// Without rejection a mean or sum needs neither a sort nor a group's samples
// side by side: runs of up to kPlainRun pixels are summed frame by frame,
// their sums in scratch (L1), each frame read as one contiguous run instead of
// a line from each of N frames at once (a stream per frame, which the
// hardware prefetchers cannot follow for hundreds of frames). Each pixel's
// sum is in frame order, as the per-pixel loop adds them: the same bits.
constexpr size_t kPlainRun = 256;
// Frames added to a run's sums in one sweep: in registers, in frame order,
// with one load and store of the sums per sweep instead of per frame, and
// eight frames' loads in flight at once (32 x 1024 x 1024 on two cores:
// 10.0 -> 6.4 ms, near the 5.5 ms a bare read of the frames in this order
// takes; 4 frames a sweep 6.8 ms, 16 spill: 9.5 ms).
constexpr int64_t kSweepFrames = 8;

// The block's pixels, a multiple of a vector; `acc`: 5 * kPlainRun doubles.
void plain_whole(const PixelRule& rule, const PixelBlock& b, double* acc) {
  const DD dd;
  const DH dh;
  const DI di;
  const size_t H = hn::Lanes(dd);
  const bool weighted = rule.combine == Combine::weighted_mean;
  const VD zero = hn::Zero(dd), one = hn::Set(dd, 1.0);
  // Per pixel: the sum, the weights' sum, the samples missing, -inf and +inf.
  double *sum = acc, *weights = acc + kPlainRun, *missing = weights + kPlainRun, *low = missing + kPlainRun,
         *high = low + kPlainRun;
  auto add = [&](double* a, size_t at, VD v) { hn::Store(hn::Add(hn::Load(dd, a + at), v), dd, a + at); };
  // Frame j's samples at pixels [p, p + H), as doubles, as the stack loads
  // them: normalized, -0 as +0.
  auto sample = [&](int64_t j, int64_t p) {
    hn::Vec<DH> f = hn::LoadU(dh, b.rows[j] + p);
    if (b.scale)
      f = demote(dh, hn::Add(hn::Mul(hn::PromoteTo(dd, f), hn::Set(dd, b.scale[j])), hn::Set(dd, b.offset[j])));
    return hn::PromoteTo(dd, hn::Add(f, hn::Zero(dh)));
  };
  for (int64_t p0 = 0; p0 < b.pixels; p0 += static_cast<int64_t>(kPlainRun)) {
    const size_t width = static_cast<size_t>(std::min<int64_t>(kPlainRun, b.pixels - p0));
    std::fill(acc, acc + 5 * kPlainRun, 0.0);
    for (int64_t j0 = 0; j0 < b.frames; j0 += kSweepFrames) {
      const int64_t m = std::min(kSweepFrames, b.frames - j0);
      double w[kSweepFrames];
      int64_t rejected[kSweepFrames] = {};
      for (int64_t k = 0; k < m; ++k) w[k] = b.weight ? b.weight[j0 + k] : 1.0;
      for (size_t at = 0; at < width; at += H) {
        const int64_t p = p0 + static_cast<int64_t>(at);
        VD x[kSweepFrames];
        MD fin = hn::IsFinite(x[0] = sample(j0, p));
        for (int64_t k = 1; k < m; ++k) fin = hn::And(fin, hn::IsFinite(x[k] = sample(j0 + k, p)));
        if (hn::AllTrue(dd, fin)) {
          VD s = hn::Load(dd, sum + at);
          for (int64_t k = 0; k < m; ++k) s = hn::Add(s, weighted ? hn::Mul(hn::Set(dd, w[k]), x[k]) : x[k]);
          hn::Store(s, dd, sum + at);
          if (weighted) {
            VD ws = hn::Load(dd, weights + at);
            for (int64_t k = 0; k < m; ++k) ws = hn::Add(ws, hn::Set(dd, w[k]));
            hn::Store(ws, dd, weights + at);
          }
          continue;
        }
        for (int64_t k = 0; k < m; ++k) {
          const MD f = hn::IsFinite(x[k]);
          const VD wk = hn::Set(dd, w[k]);
          add(sum, at, hn::IfThenElseZero(f, weighted ? hn::Mul(wk, x[k]) : x[k]));
          if (weighted) add(weights, at, hn::IfThenElseZero(f, wk));
          add(missing, at, hn::IfThenZeroElse(f, one));
          const MD neg = hn::Eq(x[k], hn::Set(dd, -kInf)), pos = hn::Eq(x[k], hn::Set(dd, kInf));
          add(low, at, hn::IfThenElseZero(neg, one));
          add(high, at, hn::IfThenElseZero(pos, one));
          rejected[k] += static_cast<int64_t>(hn::CountTrue(dd, hn::Or(neg, pos)));
        }
      }
      if (b.frame_rejected)
        for (int64_t k = 0; k < m; ++k) b.frame_rejected[j0 + k] += rejected[k];
    }
    const VD frames = hn::Set(dd, static_cast<double>(b.frames));
    for (size_t at = 0; at < width; at += H) {
      const VD count = hn::Sub(frames, hn::Load(dd, missing + at));
      const VD total = hn::Load(dd, sum + at);
      VD value = rule.combine == Combine::sum ? total : hn::Div(total, weighted ? hn::Load(dd, weights + at) : count);
      value = hn::IfThenElse(hn::Gt(count, zero), value, hn::Set(dd, std::numeric_limits<double>::quiet_NaN()));
      const size_t o = static_cast<size_t>(p0) + at;
      hn::StoreU(demote(dh, value), dh, b.image + o);
      if (b.count) hn::StoreU(hn::DemoteTo(di, count), di, b.count + o);
      if (b.low) hn::StoreU(hn::DemoteTo(di, hn::Load(dd, low + at)), di, b.low + o);
      if (b.high) hn::StoreU(hn::DemoteTo(di, hn::Load(dd, high + at)), di, b.high + o);
    }
  }
}

void plain_runs(const PixelRule& rule, const PixelBlock& b, Scratch& scratch) {
  const size_t G = hn::Lanes(DF());
  double* acc = scratch.doubles(5 * kPlainRun);
  PixelBlock body = b;
  body.pixels = b.pixels / static_cast<int64_t>(G) * static_cast<int64_t>(G);
  plain_whole(rule, body, acc);
  const auto width = static_cast<size_t>(b.pixels - body.pixels);
  if (width == 0) return;
  LocalLanes out;
  PaddedTail tail;
  PixelBlock last = tail.of(b, body.pixels, width, G);
  last.image = out.image;
  last.count = out.count;
  last.low = out.low;
  last.high = out.high;
  plain_whole(rule, last, acc);
  out.copy_to(b, body.pixels, width);
}

// The sorting networks compare floats as int32 keys in the same order: on
// AMD Zen 4 integer min/max run two 512-bit vectors a cycle, float ones one
// (measured). A finite or infinite float's bits order as a signed integer
// once a negative one's magnitude bits are turned around (-0 would sort below
// +0: the loads make it +0); the turn is its own inverse, and is skipped
// when no sample is negative.
HWY_INLINE VK turn_negatives(VK bits) {
  const DK dk;
  return hn::Xor(bits, hn::And(hn::ShiftRight<31>(bits), hn::Set(dk, 0x7FFFFFFF)));
}

// Whether a sample whose bits were ORed into `bits` is negative.
HWY_INLINE bool any_negative(VK bits) { return !hn::AllFalse(DK(), hn::Lt(bits, hn::Zero(DK()))); }

// One comparator of a network: the smaller key to `lo`, the larger to `hi`.
HWY_INLINE void compare_exchange(VK& lo, VK& hi) {
  const VK min = hn::Min(lo, hi);
  hi = hn::Max(lo, hi);
  lo = min;
}

// Sorts the N rows of a group, all lanes at once, in registers. (Not with
// std::tie = std::make_tuple: GCC left the tuple assignment out of line
// in sort_rows, a call per comparator.)
template <int N, size_t... I>
HWY_INLINE void apply_network(VK* v, std::index_sequence<I...>) {
  constexpr auto net = sorting_network<N>();
  (compare_exchange(v[net[I].lo], v[net[I].hi]), ...);
}

// Sorts the N rows in v (float bits; `sign`: all of them ORed).
template <int N>
HWY_INLINE void sort_keys(VK* v, VK sign) {
  const bool negative = any_negative(sign);
  if (negative) {
#pragma GCC unroll 64
    for (int j = 0; j < N; ++j) v[j] = turn_negatives(v[j]);
  }
  apply_network<N>(v, std::make_index_sequence<static_cast<size_t>(comparator_count<N>())>{});
  if (negative) {
#pragma GCC unroll 64
    for (int j = 0; j < N; ++j) v[j] = turn_negatives(v[j]);
  }
}

template <int N>
HWY_NOINLINE void sort_rows(float* S, size_t G) {
  const DF df;
  const DK dk;
  VK v[N];
  VK sign = hn::Zero(dk);
#pragma GCC unroll 64
  for (int j = 0; j < N; ++j) {
    v[j] = hn::BitCast(dk, hn::Load(df, S + static_cast<size_t>(j) * G));
    sign = hn::Or(sign, v[j]);
  }
  sort_keys<N>(v, sign);
#pragma GCC unroll 64
  for (int j = 0; j < N; ++j) hn::Store(hn::BitCast(df, v[j]), df, S + static_cast<size_t>(j) * G);
}

// load_groups (one group) and sort_rows in one pass for frames without normalization:
// the samples go from the frames to the registers and, sorted, to S once
// (-0 as +0). When one is not finite, S gets them as loaded and the result is
// false: the caller sorts them the general way. `kWaves`: the frames are read
// in waves (see kWaveFrames). `kPair`: a line holds two groups (8-float
// vectors); the second group's samples go to X1 as loaded, and whether they
// are all finite to *finite1, so that each frame's line is read once (before,
// load_groups and then a sort from memory left the loads nothing to overlap:
// one core, AVX2, 32 x 1024 x 1024 42.0-43.6 -> 39.4-40.7 ms). Pairs take
// the waves too: they made no difference while the lines came from DRAM, and
// gain now that prefetch_ahead brings them to L2 (two cores, the suite's AVX2
// clip 19.0 -> 18.7 ms).
template <int N, bool kWaves, bool kPair>
HWY_NOINLINE bool load_sort_rows(const float* const* rows, int64_t p, float* S, size_t G, float* X1, bool* finite1) {
  const DF df;
  const DK dk;
  VK v[N];
  VK sign = hn::Zero(dk);
  auto finite = hn::FirstN(df, G), second_finite = finite;
  // Unrolled, so that v stays in registers: a loop keeps it on the stack, and
  // each store there can hold up the next load from a frame (whose address
  // often matches it in the low 12 bits): 13% of the time on a 32-frame stack.
  int64_t gate = 0;
#pragma GCC unroll 64
  for (int j = 0; j < N; ++j) {
    if (kWaves && j > 0 && j % kWaveFrames == 0) gate = wave_gate(v[j - 1]);
    const float* row = rows[j] + p + gate;
    prefetch_ahead(row);
    const VF x = hn::Add(hn::LoadU(df, row), hn::Zero(df));
    finite = hn::And(finite, hn::IsFinite(x));
    v[j] = hn::BitCast(dk, x);
    sign = hn::Or(sign, v[j]);
    if (kPair) {
      const VF y = hn::Add(hn::LoadU(df, row + G), hn::Zero(df));
      second_finite = hn::And(second_finite, hn::IsFinite(y));
      hn::Store(y, df, X1 + static_cast<size_t>(j) * G);
    }
  }
  if (kPair) *finite1 = hn::AllTrue(df, second_finite);
  const bool all_finite = hn::AllTrue(df, finite);
  if (all_finite) sort_keys<N>(v, sign);
#pragma GCC unroll 64
  for (int j = 0; j < N; ++j) hn::Store(hn::BitCast(df, v[j]), df, S + static_cast<size_t>(j) * G);
  return all_finite;
}

using SortRowsFn = void (*)(float*, size_t);
using LoadSortRowsFn = bool (*)(const float* const*, int64_t, float*, size_t, float*, bool*);

// Up to 32 rows fit the registers (of AVX-512; fewer elsewhere, the compiler
// spills): one function per N with the network unrolled.
constexpr int kRegisterRows = 32;

template <size_t... N>
constexpr std::array<SortRowsFn, sizeof...(N)> sort_table(std::index_sequence<N...>) {
  return {&sort_rows<static_cast<int>(N) + 1>...};
}

template <bool kWaves, bool kPair, size_t... N>
constexpr std::array<LoadSortRowsFn, sizeof...(N)> load_sort_table(std::index_sequence<N...>) {
  return {&load_sort_rows<static_cast<int>(N) + 1, kWaves, kPair>...};
}

// Above kRegisterRows rows, a bitonic sort in passes over the group's rows.
// Each of its steps puts the smaller key in the lower row, so rows past n
// count as the largest key and the steps that touch them are skipped: any n,
// no padding. First every block of kBlockRows rows is sorted in registers;
// then merge stage k (runs of 2^k rows from two of 2^(k-1)) flips each run's
// halves against each other and ends with half-cleaners at distances
// 2^(k-2) .. 1: those of a block or more in memory, two distances a pass,
// the rest in registers, a block at a time. The steps need no table and read
// rows in order; Batcher's network applied step by step from a table in
// memory, which this replaced, took 3-4x as long from 100 frames up.
constexpr size_t kBlockRows = 32;

// Row j of n as keys; past n, the largest key.
HWY_INLINE VK row_key(const float* rows, size_t j, size_t n, size_t G) {
  return j < n ? hn::BitCast(DK(), hn::Load(DF(), rows + j * G)) : hn::Set(DK(), std::numeric_limits<int32_t>::max());
}

// Row j of n from keys; rows past n do not exist.
HWY_INLINE void store_row_key(float* rows, size_t j, size_t n, size_t G, VK k) {
  if (j < n) hn::Store(hn::BitCast(DF(), k), DF(), rows + j * G);
}

HWY_INLINE void load_block(const float* rows, size_t m, size_t G, VK* v) {
#pragma GCC unroll 32
  for (size_t j = 0; j < kBlockRows; ++j) v[j] = row_key(rows, j, m, G);
}

HWY_INLINE void store_block(float* rows, size_t m, size_t G, const VK* v) {
#pragma GCC unroll 32
  for (size_t j = 0; j < kBlockRows; ++j) store_row_key(rows, j, m, G, v[j]);
}

// The first pass: a block's m rows sorted, as keys with the negatives turned
// (they stay turned until the last pass turns them back).
HWY_NOINLINE void sort_block(float* rows, size_t m, size_t G) {
  VK v[kBlockRows];
  load_block(rows, m, G, v);
#pragma GCC unroll 32
  for (size_t j = 0; j < kBlockRows; ++j) v[j] = turn_negatives(v[j]);
  apply_network<kBlockRows>(v, std::make_index_sequence<static_cast<size_t>(comparator_count<kBlockRows>())>{});
  store_block(rows, m, G, v);
}

template <size_t... I>
HWY_INLINE void apply_cleaners(VK* v, std::index_sequence<I...>) {
  constexpr auto net = bitonic_cleaners<kBlockRows>();
  (compare_exchange(v[net[I].lo], v[net[I].hi]), ...);
}

// A merge's last distances (kBlockRows / 2 .. 1) on a block of m rows; in the
// last stage (`last`), the keys go back to floats.
HWY_NOINLINE void clean_block(float* rows, size_t m, size_t G, bool last) {
  VK v[kBlockRows];
  load_block(rows, m, G, v);
  apply_cleaners(v, std::make_index_sequence<bitonic_cleaners<kBlockRows>().size()>{});
  if (last) {
#pragma GCC unroll 32
    for (size_t j = 0; j < kBlockRows; ++j) v[j] = turn_negatives(v[j]);
  }
  store_block(rows, m, G, v);
}

// The merge steps in memory over rows [0, n): the flip of each run of `size`
// rows, then the half-cleaners from size / 4 down to kBlockRows.
HWY_NOINLINE void merge_in_memory(float* S, size_t n, size_t G, size_t size) {
  auto key = [&](size_t j) { return row_key(S, j, n, G); };
  auto store = [&](VK k, size_t j) { store_row_key(S, j, n, G, k); };
  auto order = [&](size_t lo, size_t hi) {  // one step on two rows
    VK a = key(lo), b = key(hi);
    compare_exchange(a, b);
    store(a, lo);
    store(b, hi);
  };
  size_t d = size / 4;    // the next half-cleaner's distance
  if (d >= kBlockRows) {  // the flip and distance d on four rows at once
    for (size_t run = 0; run < n; run += size)
      for (size_t i = run; i < run + d && i + d < n; ++i) {
        const size_t r3 = 2 * run + size - 1 - i, r2 = r3 - d;
        VK v0 = key(i), v1 = key(i + d), v2 = key(r2), v3 = key(r3);
        compare_exchange(v0, v3);
        compare_exchange(v1, v2);
        compare_exchange(v0, v1);
        compare_exchange(v2, v3);
        store(v0, i);
        store(v1, i + d);
        store(v2, r2);
        store(v3, r3);
      }
    d /= 2;
  } else {
    for (size_t run = 0; run < n; run += size)
      for (size_t i = run; i < run + size / 2; ++i)
        if (2 * run + size - 1 - i < n) order(i, 2 * run + size - 1 - i);
  }
  while (d >= kBlockRows) {
    if (d / 2 >= kBlockRows) {  // distances d and d / 2 on four rows at once
      const size_t h = d / 2;
      for (size_t run = 0; run < n; run += 2 * d)
        for (size_t i = run; i < run + h && i + h < n; ++i) {
          VK r0 = key(i), r1 = key(i + h), r2 = key(i + d), r3 = key(i + d + h);
          compare_exchange(r0, r2);
          compare_exchange(r1, r3);
          compare_exchange(r0, r1);
          compare_exchange(r2, r3);
          store(r0, i);
          store(r1, i + h);
          store(r2, i + d);
          store(r3, i + d + h);
        }
      d /= 4;
    } else {
      for (size_t run = 0; run < n; run += 2 * d)
        for (size_t i = run; i < run + d && i + d < n; ++i) order(i, i + d);
      d /= 2;
    }
  }
}

HWY_NOINLINE void sort_rows_bitonic(float* S, size_t n, size_t G) {
  for (size_t b = 0; b < n; b += kBlockRows) sort_block(S + b * G, std::min(kBlockRows, n - b), G);
  for (size_t size = 2 * kBlockRows; size / 2 < n; size *= 2) {
    merge_in_memory(S, n, G, size);
    const bool last = size >= n;
    for (size_t b = 0; b < n; b += kBlockRows) clean_block(S + b * G, std::min(kBlockRows, n - b), G, last);
  }
}

void sort_group(float* S, int64_t n, size_t G, bool all_finite) {
  static constexpr auto in_registers = sort_table(std::make_index_sequence<kRegisterRows>{});
  const DF df;
  if (!all_finite)  // NaN sorts last, as +inf
    for (int64_t j = 0; j < n; ++j) {
      float* row = S + static_cast<size_t>(j) * G;
      const VF v = hn::Load(df, row);
      hn::Store(hn::IfThenElse(hn::IsNaN(v), hn::Set(df, std::numeric_limits<float>::infinity()), v), df, row);
    }
  if (n <= kRegisterRows)
    in_registers[static_cast<size_t>(n - 1)](S, G);
  else
    sort_rows_bitonic(S, static_cast<size_t>(n), G);
}

void StackBlockSimd(const PixelRule& rule, const PixelBlock& block, Scratch& scratch) {
  if (rule.plain_sum()) return plain_runs(rule, block, scratch);
  const DF df;
  const size_t G = hn::Lanes(df), H = G / 2;
  const int64_t n = block.frames;
  const size_t un = static_cast<size_t>(n), group_floats = un * G;
  const bool keep_x = rule.combine == Combine::weighted_mean || block.frame_rejected;
  // Loaded and sorted in one pass when X is not needed in frame order and
  // a group is a whole cache line or, where a line holds two groups, the
  // first of them (load_sort_rows).
  static constexpr auto load_sorted = load_sort_table<false, false>(std::make_index_sequence<kRegisterRows>{});
  static constexpr auto load_sorted_in_waves = load_sort_table<true, false>(std::make_index_sequence<kRegisterRows>{});
  static constexpr auto load_pair = load_sort_table<false, true>(std::make_index_sequence<kRegisterRows>{});
  static constexpr auto load_pair_in_waves = load_sort_table<true, true>(std::make_index_sequence<kRegisterRows>{});
  const bool in_registers = !keep_x && !block.scale && n <= kRegisterRows;
  const bool fused = in_registers && G >= kLineFloats;
  const bool pair = in_registers && 2 * G == kLineFloats;
  const bool waves = (fused || pair) && frames_share_l1_sets(block);
  // The block's loaders of one group, or of a line's two (chosen once: the
  // frame count and the waves hold for the whole block).
  const LoadSortRowsFn load_one = fused ? (waves ? load_sorted_in_waves : load_sorted)[un - 1] : nullptr;
  const LoadSortRowsFn load_two = pair ? (waves ? load_pair_in_waves : load_pair)[un - 1] : nullptr;
  // Else the groups of a line are loaded together (load_groups); above 64
  // frames, kMaxLoad groups whatever the vector, so that each frame is read
  // in longer runs (one core, AVX-512: 100 frames 12.2 -> 10.0 ms, 256
  // frames 17 -> 13 ms; at 48 frames it was 6% slower). Either way a batch of
  // groups is stacked together (stack_groups): group i's samples in
  // X + i * n * G, sorted in place or, when X must stay in frame order, into
  // S_apart + i * n * G; its prefix sums in K + i * k_group.
  const size_t per_load = n > 2 * kRegisterRows ? kMaxLoad : std::min(kMaxLoad, std::max<size_t>(1, kLineFloats / G));
  const size_t batch = std::max<size_t>(2, per_load);
  HWY_DASSERT(batch <= kMaxBatch);
  HWY_DASSERT(G <= LocalLanes::kMaxLanes);
  float* X = scratch.floats(2 * batch * group_floats);
  float* const S_apart = X + batch * group_floats;
  const size_t k_group = 4 * (un + 1) * H + 4 * G;
  double* K = scratch.doubles(batch * k_group);
  LocalLanes local;
  PaddedTail tail;
  Group groups[kMaxBatch];
  bool finite[kMaxBatch];

  for (int64_t p = 0; p < block.pixels;) {
    const int64_t full = (block.pixels - p) / static_cast<int64_t>(G);  // whole groups left
    const size_t width = full > 0 ? G : static_cast<size_t>(block.pixels - p);
    const size_t in_batch = full > 0 ? std::min<size_t>(batch, static_cast<size_t>(full)) : 1;
    const PixelBlock* b = width == G ? &block : &tail.of(block, p, width, G);
    const int64_t at = width == G ? p : 0;
    const bool paired = pair && in_batch == 2;
    if (paired)
      finite[0] = load_two(b->rows, at, X, G, X + group_floats, finite + 1);
    else if (!fused)
      for (size_t i = 0; i < in_batch; i += per_load)
        load_groups(*b, at + static_cast<int64_t>(i * G), G, std::min(per_load, in_batch - i), X + i * group_floats,
                    finite + i);
    for (size_t i = 0; i < in_batch; ++i) {
      float* Xg = X + i * group_floats;
      const int64_t q = at + static_cast<int64_t>(i * G);
      const bool all_finite = fused ? load_one(b->rows, q, Xg, G, nullptr, nullptr) : finite[i];
      const bool sorted_on_load = fused || (paired && i == 0);  // when all finite
      // A full group writes straight into the block, the partial one
      // through local lanes.
      auto out = [&](auto* dst, auto* lanes) { return width == G && dst ? dst + p + i * G : lanes; };
      Group& g = groups[i];
      g = {&rule, b, n, G, H, Xg, Xg, K + i * k_group, all_finite};
      g.image = out(block.image, local.image);
      g.count = out(block.count, local.count);
      g.low = out(block.low, local.low);
      g.high = out(block.high, local.high);
      if (!sorted_on_load || !all_finite) {
        // Sorting turns NaN into +inf: the counts need X as loaded then.
        float* S = keep_x || !all_finite ? S_apart + i * group_floats : Xg;
        if (S != Xg) std::memcpy(S, Xg, group_floats * sizeof(float));
        sort_group(S, n, G, all_finite);
        g.S = S;
      }
    }
    stack_groups(groups, in_batch);
    if (width < G) local.copy_to(block, p, width);
    p += static_cast<int64_t>(in_batch * width);
  }
}

#endif  // HWY_TARGET == HWY_SCALAR

}  // namespace HWY_NAMESPACE
}  // namespace plx::stack
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plx::stack {

HWY_EXPORT(StackBlockSimd);

namespace {

// Position of `target` in the dispatch tables HWY_EXPORT builds.
size_t table_index(int64_t target) {
  if (target == HWY_SCALAR || target == HWY_EMU128) return HWY_MAX_DYNAMIC_TARGETS + 1;
  return static_cast<size_t>(
      hwy::Num0BitsBelowLS1Bit_Nonzero64(static_cast<uint64_t>(HWY_CHOSEN_TARGET_SHIFT(target))));
}

// Targets compiled in that this CPU runs, best first.
std::vector<int64_t> runnable() {
  std::vector<int64_t> out;
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  for (int64_t t = targets; t != 0; t &= t - 1) out.push_back(t & -t);
  return out;
}

std::atomic<int64_t>& chosen() {
  static std::atomic<int64_t> target{[] {
    const auto all = runnable();
    if (const char* env = std::getenv("PLX_SIMD_TARGET"); env && *env)
      for (int64_t t : all)
        if (strcasecmp(hwy::TargetName(t), env) == 0) return t;
    return all.front();
  }()};
  return target;
}

}  // namespace

bool simd_handles(const PixelRule& rule, int64_t frames) { return frames >= 1 && rule.reject != Reject::minmax; }

void stack_block_simd(const PixelRule& rule, const PixelBlock& block, Scratch& scratch) {
  HWY_DISPATCH_TABLE(StackBlockSimd)[table_index(chosen().load(std::memory_order_relaxed))](rule, block, scratch);
}

std::string simd_target() { return hwy::TargetName(chosen().load()); }

std::vector<std::string> simd_targets() {
  std::vector<std::string> names;
  for (int64_t t : runnable()) names.emplace_back(hwy::TargetName(t));
  return names;
}

bool use_simd_target(const std::string& name) {
  const auto all = runnable();
  if (name.empty()) {
    chosen().store(all.front());
    return true;
  }
  for (int64_t t : all)
    if (strcasecmp(hwy::TargetName(t), name.c_str()) == 0) {
      chosen().store(t);
      return true;
    }
  return false;
}

}  // namespace plx::stack
#endif  // HWY_ONCE
