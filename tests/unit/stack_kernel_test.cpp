// The stacking kernels from the inside (src/kernels/stack): the sorting
// networks, the SIMD pixel loops against the per-pixel reference on every
// instruction set this CPU runs, hand-worked answers for the rules of
// include/parallax.h ("Image stacking"), the frame statistics and the plan.
//
// The SIMD loops promise the same bits as pixel_rule.cpp on every target
// (pixel_simd.hpp); the comparisons below are of float bits (any NaN equals
// any NaN) and of every integer output.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime.hpp"
#include "kernels/stack/finite_median.hpp"
#include "kernels/stack/frame_stats.hpp"
#include "kernels/stack/pixel_rule.hpp"
#include "kernels/stack/pixel_simd.hpp"
#include "kernels/stack/sorting_network.hpp"
#include "kernels/stack/stack_cpu.hpp"
#include "kernels/stack/stack_plan.hpp"

namespace plx::stack {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Under the sanitizers (make test-asan, a Debug build about 30x slower) the
// widest sweeps take fewer shapes.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------
// Sorting networks
// ---------------------------------------------------------------------------

// Batcher's odd-even merge sort on 2^k inputs has (k^2 - k + 4) 2^(k-2) - 1
// comparators: 1, 5, 19, 63, 191, 543 for 2 .. 64 (Knuth, TAOCP vol. 3, 5.3.4).
static_assert(comparator_count<1>() == 0);
static_assert(comparator_count<2>() == 1);
static_assert(comparator_count<4>() == 5);
static_assert(comparator_count<8>() == 19);
static_assert(comparator_count<16>() == 63);
static_assert(comparator_count<32>() == 191);
static_assert(comparator_count<64>() == 543);

template <int N>
void check_network() {
  SCOPED_TRACE(testing::Message() << "N = " << N);
  constexpr auto net = sorting_network<N>();
  static_assert(net.size() == static_cast<size_t>(comparator_count<N>()));

  // The comparators applied by for_each_comparator are the network's, in order.
  std::vector<std::pair<int, int>> applied;
  for_each_comparator(N, [&](int lo, int hi) { applied.emplace_back(lo, hi); });
  ASSERT_EQ(applied.size(), net.size());
  for (size_t i = 0; i < net.size(); ++i) {
    EXPECT_EQ(net[i].lo, applied[i].first) << "comparator " << i;
    EXPECT_EQ(net[i].hi, applied[i].second) << "comparator " << i;
    EXPECT_LT(net[i].lo, net[i].hi) << "comparator " << i;
    EXPECT_LT(net[i].hi, N) << "comparator " << i;
  }
  // The network is the power-of-two one with steps dropped, never more.
  int p2 = 1;
  while (p2 < N) p2 *= 2;
  int full = 0;
  for_each_comparator(p2, [&](int, int) { ++full; });
  EXPECT_LE(net.size(), static_cast<size_t>(full));

  // 0-1 principle: a network sorts every input iff it sorts every 0/1 input.
  // 64 inputs at once: word j holds bit j of inputs b*64 .. b*64 + 63; a
  // comparator is (and, or) on two words; sorted means no 1 before a 0.
  if constexpr (N <= 20) {
    const uint64_t batches = uint64_t{1} << (N > 6 ? N - 6 : 0);
    static constexpr uint64_t kLowBits[6] = {0xAAAAAAAAAAAAAAAAull, 0xCCCCCCCCCCCCCCCCull, 0xF0F0F0F0F0F0F0F0ull,
                                             0xFF00FF00FF00FF00ull, 0xFFFF0000FFFF0000ull, 0xFFFFFFFF00000000ull};
    uint64_t w[N];
    for (uint64_t b = 0; b < batches; ++b) {
      for (int j = 0; j < N; ++j) w[j] = j < 6 ? kLowBits[j] : (((b >> (j - 6)) & 1) ? ~uint64_t{0} : 0);
      for (const Comparator& c : net) {
        const uint64_t lo = w[c.lo] & w[c.hi], hi = w[c.lo] | w[c.hi];
        w[c.lo] = lo;
        w[c.hi] = hi;
      }
      uint64_t unsorted = 0;
      for (int j = 0; j + 1 < N; ++j) unsorted |= w[j] & ~w[j + 1];
      ASSERT_EQ(unsorted, 0u) << "some 0/1 input of batch " << b << " is not sorted";
    }
  }

  // Random floats with many duplicates, and with +-inf.
  std::mt19937_64 rng(1234 + N);
  for (int trial = 0; trial < 200; ++trial) {
    float v[N];
    const int levels = 1 + trial % 7;  // few distinct values: many ties
    for (int j = 0; j < N; ++j) {
      const uint64_t r = rng();
      v[j] = trial % 2 ? static_cast<float>(r % levels) - 3.0f
                       : static_cast<float>(static_cast<int64_t>(r % 2001) - 1000) * 0.37f;
      if (r % 97 == 0) v[j] = kInf;
      if (r % 89 == 0) v[j] = -kInf;
    }
    std::vector<float> expect(v, v + N);
    std::sort(expect.begin(), expect.end());
    for (const Comparator& c : net) {
      const float lo = std::min(v[c.lo], v[c.hi]), hi = std::max(v[c.lo], v[c.hi]);
      v[c.lo] = lo;
      v[c.hi] = hi;
    }
    for (int j = 0; j < N; ++j)
      ASSERT_EQ(v[j], expect[static_cast<size_t>(j)]) << "trial " << trial << " position " << j;
  }
}

template <size_t... I>
void check_networks(std::index_sequence<I...>) {
  (check_network<static_cast<int>(I) + 1>(), ...);
}

TEST(SortingNetwork, SortsEveryInputForEveryN) { check_networks(std::make_index_sequence<64>{}); }

// The half-cleaners end a bitonic merge: a block whose lower half is sorted
// up and upper half down comes out sorted (0-1 principle: every such 0/1
// input, 17 * 17 of them for N = 32).
template <int N>
void check_cleaners() {
  SCOPED_TRACE(testing::Message() << "N = " << N);
  constexpr auto net = bitonic_cleaners<N>();
  static_assert(net.size() == static_cast<size_t>(N / 2 * std::bit_width(static_cast<unsigned>(N) - 1)));
  for (const Comparator& c : net) ASSERT_TRUE(c.lo < c.hi && c.hi < N);
  for (int lower_ones = 0; lower_ones <= N / 2; ++lower_ones)
    for (int upper_ones = 0; upper_ones <= N / 2; ++upper_ones) {
      int v[N];
      for (int j = 0; j < N / 2; ++j) v[j] = j >= N / 2 - lower_ones;  // 0..0 1..1
      for (int j = 0; j < N / 2; ++j) v[N / 2 + j] = j < upper_ones;   // 1..1 0..0
      for (const Comparator& c : net) {
        const int lo = std::min(v[c.lo], v[c.hi]), hi = std::max(v[c.lo], v[c.hi]);
        v[c.lo] = lo;
        v[c.hi] = hi;
      }
      ASSERT_TRUE(std::is_sorted(v, v + N)) << lower_ones << " and " << upper_ones << " ones";
    }
}

TEST(SortingNetwork, BitonicCleanersMerge) {
  check_cleaners<2>();
  check_cleaners<8>();
  check_cleaners<32>();
  check_cleaners<64>();
}

TEST(SimdTargets, WhatTheLoopsHandle) {
  PixelRule rule;
  rule.reject = Reject::sigma_clip;
  EXPECT_FALSE(simd_handles(rule, 0));
  EXPECT_TRUE(simd_handles(rule, 1));
  EXPECT_TRUE(simd_handles(rule, 1000));
  EXPECT_TRUE(simd_handles(rule, 100000)) << "any count: the sort above 32 rows needs no table";
  rule.reject = Reject::minmax;
  EXPECT_FALSE(simd_handles(rule, 10)) << "MINMAX ranks ties by frame: per pixel only";
}

// ---------------------------------------------------------------------------
// SIMD loops against the per-pixel reference
// ---------------------------------------------------------------------------

// Restores the default SIMD target when it goes out of scope.
struct TargetGuard {
  ~TargetGuard() { use_simd_target(""); }
};

// One block of n frames x width pixels, with its inputs and outputs.
struct BlockData {
  int64_t n = 0, width = 0;
  std::vector<std::vector<float>> frames;  // n x width
  std::vector<const float*> rows;
  std::vector<double> scale, offset, weight;
};

struct BlockOut {
  std::vector<float> image;
  std::vector<int32_t> count, low, high;
  std::vector<int64_t> frame_rejected;
};

enum class Data { finite, special };

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Pixel flavours: each pixel of a block gets one, so every SIMD group mixes
// them. `finite` uses flavours 0..5 only (so full groups take the all-finite
// paths); `special` adds NaN and +-inf samples and pixels with none or few
// finite samples.
BlockData make_block(int64_t n, int64_t width, Data kind, bool normalized, uint64_t seed) {
  BlockData b;
  b.n = n;
  b.width = width;
  b.frames.assign(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>(width)));
  static const float kDenormals[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-40f, -3e-39f, 1.1754944e-38f, 2e-38f, 5e-44f};
  const int flavours = kind == Data::finite ? 6 : 9;
  for (int64_t p = 0; p < width; ++p) {
    const uint64_t ps = mix(seed * 1000003 + static_cast<uint64_t>(p));
    const int flavour = static_cast<int>((static_cast<uint64_t>(p) + seed) % static_cast<uint64_t>(flavours));
    const float constant = static_cast<float>(static_cast<int>(ps % 200) - 100) * 0.25f;
    const int few = 1 + static_cast<int>(ps % 2);  // finite samples of flavour 8
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t r = mix(ps ^ (static_cast<uint64_t>(j) * 0x100000001B3ull));
      const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
      float v = 0;
      switch (flavour) {
        case 0:  // clean with outliers
          v = static_cast<float>(100.0 + 10.0 * (u - 0.5));
          if (r % 10 == 0) v = static_cast<float>((r & 1024) ? 100.0 + 50.0 + 5000.0 * u : 100.0 - 50.0 - 5000.0 * u);
          break;
        case 1:  // ties
          v = static_cast<float>(r % 4);
          break;
        case 2:  // constant
          v = constant;
          break;
        case 3: {  // huge values next to values near 1
          const int pick = static_cast<int>(r % 20);
          v = pick == 0   ? 1e30f
              : pick == 1 ? -1e30f
              : pick == 2 ? 3e38f
              : pick == 3 ? -3e38f
                          : static_cast<float>(1.0 + u);
          break;
        }
        case 4:  // denormals and signed zeros
          v = kDenormals[r % (sizeof kDenormals / sizeof kDenormals[0])];
          break;
        case 5:  // many magnitudes
          v = static_cast<float>((u - 0.5) * std::pow(10.0, static_cast<double>(static_cast<int>(r % 21) - 10)));
          break;
        case 6:  // no finite sample
          v = r % 3 == 0 ? kNaN : (r & 1 ? kInf : -kInf);
          break;
        case 7:  // all NaN
          v = kNaN;
          break;
        case 8:  // one or two finite samples
          v = j < few ? static_cast<float>(u * 10) : (r % 5 == 0 ? kInf : kNaN);
          break;
      }
      if (kind == Data::special && flavour <= 5) {
        const int pick = static_cast<int>((r >> 40) % 100);
        if (pick < 15)
          v = kNaN;
        else if (pick < 19)
          v = kInf;
        else if (pick < 23)
          v = -kInf;
      }
      b.frames[static_cast<size_t>(j)][static_cast<size_t>(p)] = v;
    }
  }
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  for (int64_t j = 0; j < n; ++j) {
    b.weight.push_back(0.5 + 0.5 * static_cast<double>(j % 4));
    if (normalized) {
      b.scale.push_back(0.75 + 0.125 * static_cast<double>(j % 5));
      b.offset.push_back(-2.0 + 0.5 * static_cast<double>(j % 7));
    }
  }
  return b;
}

PixelBlock block_of(const BlockData& b, BlockOut& o, bool want_frame_rejected) {
  o.image.assign(static_cast<size_t>(b.width), -12345.0f);
  o.count.assign(static_cast<size_t>(b.width), -7);
  o.low.assign(static_cast<size_t>(b.width), -7);
  o.high.assign(static_cast<size_t>(b.width), -7);
  o.frame_rejected.assign(static_cast<size_t>(b.n), 0);
  PixelBlock pb;
  pb.rows = b.rows.data();
  pb.frames = b.n;
  pb.pixels = b.width;
  if (!b.scale.empty()) {
    pb.scale = b.scale.data();
    pb.offset = b.offset.data();
  }
  pb.weight = b.weight.data();
  pb.image = o.image.data();
  pb.count = o.count.data();
  pb.low = o.low.data();
  pb.high = o.high.data();
  pb.frame_rejected = want_frame_rejected ? o.frame_rejected.data() : nullptr;
  return pb;
}

bool same_float(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

std::string describe(const PixelRule& r) {
  static const char* combine[] = {"MEAN", "WEIGHTED_MEAN", "SUM", "MEDIAN", "MIN", "MAX"};
  static const char* reject[] = {"NONE", "SIGMA_CLIP", "WINSORIZED", "PERCENTILE", "MINMAX"};
  std::ostringstream s;
  s << reject[static_cast<int>(r.reject)] << "/" << combine[static_cast<int>(r.combine)];
  if (r.reject == Reject::sigma_clip || r.reject == Reject::winsorized)
    s << " centre " << (r.centre == Centre::median ? "MEDIAN" : "MEAN") << " sigma " << r.sigma_low << "/"
      << r.sigma_high << " max_iters " << r.max_iters;
  if (r.reject == Reject::percentile) s << " " << r.percentile_low << ".." << r.percentile_high;
  if (r.reject == Reject::minmax) s << " n_low " << r.n_low << " n_high " << r.n_high;
  return s.str();
}

// Which outputs differ ("image count high", ...), or "" when none does.
std::string differing(const BlockData& b, const BlockOut& want, const BlockOut& got) {
  bool image = false, count = false, low = false, high = false, frames = false;
  for (size_t i = 0; i < static_cast<size_t>(b.width); ++i) {
    image |= !same_float(want.image[i], got.image[i]);
    count |= want.count[i] != got.count[i];
    low |= want.low[i] != got.low[i];
    high |= want.high[i] != got.high[i];
  }
  frames = want.frame_rejected != got.frame_rejected;
  std::string out;
  for (auto [bad, name] :
       {std::pair{image, "image"}, {count, "count"}, {low, "low"}, {high, "high"}, {frames, "frame_rejected"}})
    if (bad) out += out.empty() ? name : std::string(" ") + name;
  return out;
}

// The first difference between two outputs, or "".
std::string first_difference(const BlockData& b, const BlockOut& want, const BlockOut& got) {
  std::ostringstream s;
  for (int64_t p = 0; p < b.width; ++p) {
    const size_t i = static_cast<size_t>(p);
    if (same_float(want.image[i], got.image[i]) && want.count[i] == got.count[i] && want.low[i] == got.low[i] &&
        want.high[i] == got.high[i])
      continue;
    s.precision(9);
    s << "pixel " << p << ": scalar image " << want.image[i] << " count " << want.count[i] << " low " << want.low[i]
      << " high " << want.high[i] << "; simd image " << got.image[i] << " count " << got.count[i] << " low "
      << got.low[i] << " high " << got.high[i] << "; samples";
    for (int64_t j = 0; j < std::min<int64_t>(b.n, 12); ++j) s << " " << b.frames[static_cast<size_t>(j)][i];
    if (b.n > 12) s << " ...";
    return s.str();
  }
  for (int64_t j = 0; j < b.n; ++j)
    if (want.frame_rejected[static_cast<size_t>(j)] != got.frame_rejected[static_cast<size_t>(j)])
      return cat("frame_rejected[", j, "]: scalar ", want.frame_rejected[static_cast<size_t>(j)], ", simd ",
                 got.frame_rejected[static_cast<size_t>(j)]);
  return "";
}

// Mismatches grouped by what differs and by the block's kind, with the first
// example of each group (so that one bug does not hide another).
class Mismatches {
 public:
  void add(const std::string& group, const std::string& example) {
    auto& [count, first] = groups_[group];
    if (count++ == 0) first = example;
    ++total_;
  }
  int total() const { return total_; }
  std::string report() const {
    std::ostringstream s;
    for (const auto& [group, entry] : groups_)
      s << "\n  " << entry.first << " x [" << group << "], e.g. " << entry.second;
    return s.str();
  }

 private:
  std::map<std::string, std::pair<int, std::string>> groups_;
  int total_ = 0;
};

std::vector<PixelRule> rules_of(const std::string& family) {
  std::vector<PixelRule> rules;
  auto add = [&](Reject reject, auto&& set) {
    PixelRule r;
    r.reject = reject;
    set(r);
    rules.push_back(r);
  };
  if (family == "none") add(Reject::none, [](PixelRule&) {});
  if (family == "sigma") {
    add(Reject::sigma_clip, [](PixelRule& r) { r.max_iters = 5; });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.sigma_low = 1.5;
      r.sigma_high = 2.5;
      r.max_iters = 1;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.sigma_low = 2;
      r.sigma_high = 1;
      r.max_iters = 10;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.sigma_low = 1;
      r.sigma_high = 1;
      r.max_iters = -1;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.sigma_low = 0;
      r.sigma_high = 0;
      r.max_iters = -1;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.centre = Centre::mean;
      r.max_iters = 5;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.centre = Centre::mean;
      r.sigma_low = 1;
      r.sigma_high = 1.5;
      r.max_iters = -1;
    });
    add(Reject::sigma_clip, [](PixelRule& r) {
      r.centre = Centre::mean;
      r.sigma_low = 0.5;
      r.sigma_high = 4;
      r.max_iters = 1;
    });
  }
  if (family == "winsorized") {
    add(Reject::winsorized, [](PixelRule& r) {
      r.sigma_low = 2;
      r.sigma_high = 2;
      r.max_iters = 5;
    });
    add(Reject::winsorized, [](PixelRule& r) {
      r.sigma_low = 1;
      r.sigma_high = 3;
      r.max_iters = -1;
    });
    add(Reject::winsorized, [](PixelRule& r) {
      r.centre = Centre::mean;
      r.sigma_low = 1.5;
      r.sigma_high = 1.5;
      r.max_iters = 10;
    });
    add(Reject::winsorized, [](PixelRule& r) {
      r.centre = Centre::mean;
      r.sigma_low = 0.5;
      r.sigma_high = 0.5;
      r.max_iters = 1;
    });
  }
  if (family == "percentile") {
    add(Reject::percentile, [](PixelRule&) {});
    add(Reject::percentile, [](PixelRule& r) {
      r.percentile_low = 0;
      r.percentile_high = 100;
    });
    add(Reject::percentile, [](PixelRule& r) {
      r.percentile_low = 25;
      r.percentile_high = 75;
    });
    add(Reject::percentile, [](PixelRule& r) {
      r.percentile_low = 50;
      r.percentile_high = 50;
    });
    add(Reject::percentile, [](PixelRule& r) {
      r.percentile_low = 3.3;
      r.percentile_high = 99.9;
    });
  }
  if (family == "minmax") {
    add(Reject::minmax, [](PixelRule&) {});
    add(Reject::minmax, [](PixelRule& r) {
      r.n_low = 2;
      r.n_high = 0;
    });
    add(Reject::minmax, [](PixelRule& r) {
      r.n_low = 0;
      r.n_high = 3;
    });
  }
  std::vector<PixelRule> out;
  for (const PixelRule& r : rules)
    for (Combine c :
         {Combine::mean, Combine::weighted_mean, Combine::sum, Combine::median, Combine::min, Combine::max}) {
      PixelRule x = r;
      x.combine = c;
      out.push_back(x);
    }
  return out;
}

constexpr int64_t kFrameCounts[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000};
constexpr int64_t kWidths[] = {1, 7, 8, 9, 15, 16, 17, 33};

struct SimdCase {
  std::string target;
  std::string family;
};

std::ostream& operator<<(std::ostream& o, const SimdCase& c) { return o << c.target << "/" << c.family; }

std::vector<SimdCase> simd_cases() {
  std::vector<SimdCase> cases;
  for (const std::string& t : simd_targets())
    for (const char* f : {"none", "sigma", "winsorized", "percentile", "minmax"}) cases.push_back({t, f});
  return cases;
}

class SimdMatchesScalar : public testing::TestWithParam<SimdCase> {};

// Every rule, combine, frame count and width on one target: the SIMD loops
// (directly, where simd_handles says they run) and the dispatch stack_block
// give the reference's bits.
TEST_P(SimdMatchesScalar, EveryRuleCombineCountAndWidth) {
  const SimdCase& c = GetParam();
  TargetGuard guard;
  ASSERT_TRUE(use_simd_target(c.target));
  ASSERT_EQ(simd_target(), c.target);
  Scratch scalar_scratch, simd_scratch;
  int cases = 0, simd_cases_run = 0;
  Mismatches mismatches;
  const auto rules = rules_of(c.family);
  for (int64_t n : kFrameCounts) {
    if (kSanitized && (n == 4 || n == 7 || n == 15 || n == 31 || n == 63 || n == 100 || n == 1000)) continue;
    const bool large = n > 64;  // networks applied in memory: fewer shapes keep this quick
    for (int64_t width : kWidths) {
      if (large && width != 9 && width != 33) continue;
      if (kSanitized && (width == 8 || width == 15 || width == 16) && n != 16) continue;
      if (n == 1000 && width != 9) continue;
      for (Data kind : {Data::finite, Data::special}) {
        for (bool normalized : {false, true}) {
          const uint64_t seed = static_cast<uint64_t>(n * 131 + width * 7 + (kind == Data::special) * 3 + normalized);
          const BlockData b = make_block(n, width, kind, normalized, seed);
          for (size_t ri = 0; ri < rules.size(); ++ri) {
            const PixelRule& rule = rules[ri];
            const bool want_frames = (ri / 6 + static_cast<size_t>(n)) % 2 == 0;
            const std::string where =
                cat(kind == Data::finite ? "finite" : "special", " data", normalized ? ", normalized" : "",
                    want_frames ? ", with frame_rejected" : ", without frame_rejected");
            BlockOut want, got, dispatched;
            stack_block_scalar(rule, block_of(b, want, want_frames), scalar_scratch);
            ++cases;
            if (simd_handles(rule, n)) {
              stack_block_simd(rule, block_of(b, got, want_frames), simd_scratch);
              ++simd_cases_run;
              if (std::string d = differing(b, want, got); !d.empty())
                mismatches.add(cat(d, "; ", where),
                               cat(describe(rule), ", N ", n, ", width ", width, ": ", first_difference(b, want, got)));
            }
            stack_block(rule, block_of(b, dispatched, want_frames), simd_scratch);
            if (std::string d = differing(b, want, dispatched); !d.empty())
              mismatches.add(cat("stack_block: ", d, "; ", where), cat(describe(rule), ", N ", n, ", width ", width,
                                                                       ": ", first_difference(b, want, dispatched)));
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches.total(), 0) << "blocks differing from the per-pixel reference on " << c.target << ", of "
                                   << cases << " (" << simd_cases_run
                                   << " through the SIMD loops):" << mismatches.report();
  if (c.family != "minmax") {
    EXPECT_GT(simd_cases_run, 0);
  } else {
    EXPECT_EQ(simd_cases_run, 0) << "MINMAX ranks ties by frame: per pixel only";
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, SimdMatchesScalar, testing::ValuesIn(simd_cases()),
                         [](const testing::TestParamInfo<SimdCase>& info) {
                           return info.param.target + "_" + info.param.family;
                         });

TEST(SimdTargets, ListedChosenAndForced) {
  const auto targets = simd_targets();
  ASSERT_FALSE(targets.empty());
  TargetGuard guard;
  // The default is the best (first) one unless $PLX_SIMD_TARGET names another.
  if (const char* env = std::getenv("PLX_SIMD_TARGET"); !env || !*env) {
    EXPECT_EQ(simd_target(), targets.front());
  }
  for (const std::string& t : targets) {
    EXPECT_TRUE(use_simd_target(t)) << t;
    EXPECT_EQ(simd_target(), t);
  }
  // Case-insensitive, as $PLX_SIMD_TARGET.
  std::string lower = targets.back();
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(use_simd_target(lower));
  EXPECT_EQ(simd_target(), targets.back());
  EXPECT_FALSE(use_simd_target("NOT_A_TARGET"));
  EXPECT_EQ(simd_target(), targets.back()) << "a refused name leaves the choice alone";
  EXPECT_TRUE(use_simd_target(""));
  EXPECT_EQ(simd_target(), targets.front());
}

// $PLX_SIMD_TARGET picks the target when the process first uses the loops
// (each case runs in a fresh child process: the choice is made once).
TEST(SimdTargets, EnvironmentPicksTheTarget) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto targets = simd_targets();
  for (const std::string& want : targets) {
    std::string lower = want;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const std::string& env : {want, lower}) {
      setenv("PLX_SIMD_TARGET", env.c_str(), 1);
      EXPECT_EXIT(std::_Exit(simd_target() == want ? 0 : 1), testing::ExitedWithCode(0), "")
          << "PLX_SIMD_TARGET=" << env;
    }
  }
  // A name this CPU does not run, or none: the best target.
  for (const char* env : {"NOT_A_TARGET", ""}) {
    setenv("PLX_SIMD_TARGET", env, 1);
    EXPECT_EXIT(std::_Exit(simd_target() == targets.front() ? 0 : 1), testing::ExitedWithCode(0), "")
        << "PLX_SIMD_TARGET=" << env;
  }
  unsetenv("PLX_SIMD_TARGET");
}

// Runs `rule` over one pixel (the samples, in frame order) on the reference
// and on every target, checks they agree, and returns the reference's output.
struct Pixel {
  float image = 0;
  int32_t count = 0, low = 0, high = 0;
  std::vector<int64_t> frame_rejected;
};

Pixel run_pixel(const PixelRule& rule, const std::vector<float>& samples, const std::vector<double>& weights = {}) {
  BlockData b;
  b.n = static_cast<int64_t>(samples.size());
  b.width = 1;
  for (float v : samples) b.frames.push_back({v});
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  b.weight = weights.empty() ? std::vector<double>(samples.size(), 1.0) : weights;
  BlockOut want;
  Scratch scratch;
  stack_block_scalar(rule, block_of(b, want, true), scratch);
  if (simd_handles(rule, b.n)) {
    TargetGuard guard;
    for (const std::string& t : simd_targets()) {
      EXPECT_TRUE(use_simd_target(t));
      BlockOut got;
      stack_block_simd(rule, block_of(b, got, true), scratch);
      EXPECT_EQ(first_difference(b, want, got), "") << "target " << t << ", " << describe(rule);
    }
  }
  return {want.image[0], want.count[0], want.low[0], want.high[0], want.frame_rejected};
}

PixelRule sigma_rule(double low, double high, int iters, Combine combine = Combine::mean) {
  PixelRule r;
  r.reject = Reject::sigma_clip;
  r.sigma_low = low;
  r.sigma_high = high;
  r.max_iters = iters;
  r.combine = combine;
  return r;
}

// Overflow of a normalized sample, and of a SUM, is +-inf on every target,
// as in the reference (static_cast<float> of a double beyond FLT_MAX), and an
// infinite sample of a normalized frame stays infinite. (Highway's portable
// targets clamp DemoteTo(double -> float) to +-FLT_MAX, infinities included:
// a build with EMU128, e.g. with clang or GCC >= 12.3, must not use it there.)
TEST(SimdMatchesScalarEdges, NormalizedSampleOverflowIsInfinite) {
  // Frame 0, scaled x 2: 3e38 and +inf become +inf, -3e38 and -inf -inf; all
  // are rejected (counted), so each pixel is the mean of the other frames.
  BlockData b;
  b.n = 4;
  b.width = 16;
  b.frames.assign(4, std::vector<float>(16, 1.0f));
  const float first[] = {3e38f, -3e38f, kInf, -kInf};
  for (int p = 0; p < 16; ++p) b.frames[0][static_cast<size_t>(p)] = first[p % 4];
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  b.scale = {2, 1, 1, 1};
  b.offset = {0, 0, 0, 0};
  b.weight = {1, 1, 1, 1};
  PixelRule rule;
  for (Combine combine : {Combine::mean, Combine::median, Combine::max}) {
    rule.combine = combine;
    BlockOut want;
    Scratch scratch;
    stack_block_scalar(rule, block_of(b, want, true), scratch);
    for (int p = 0; p < 4; ++p) {
      EXPECT_EQ(want.image[static_cast<size_t>(p)], 1.0f);
      EXPECT_EQ(want.count[static_cast<size_t>(p)], 3);
      EXPECT_EQ(want.high[static_cast<size_t>(p)], p % 2 == 0 ? 1 : 0) << "3e38 x 2 and +inf are +inf";
      EXPECT_EQ(want.low[static_cast<size_t>(p)], p % 2 == 1 ? 1 : 0) << "-3e38 x 2 and -inf are -inf";
    }
    TargetGuard guard;
    for (const std::string& t : simd_targets()) {
      ASSERT_TRUE(use_simd_target(t));
      for (bool frames : {true, false}) {
        BlockOut expect, got;
        stack_block_scalar(rule, block_of(b, expect, frames), scratch);
        stack_block_simd(rule, block_of(b, got, frames), scratch);
        EXPECT_EQ(first_difference(b, expect, got), "")
            << "target " << t << ", " << describe(rule) << (frames ? ", with" : ", without") << " frame_rejected";
      }
    }
  }
}

TEST(SimdMatchesScalarEdges, SumOverflowIsInfinite) {
  BlockData b;
  b.n = 3;
  b.width = 16;
  b.frames.assign(3, std::vector<float>(16, 3e38f));
  for (int p = 0; p < 16; ++p)
    if (p % 2) b.frames[1][static_cast<size_t>(p)] = b.frames[2][static_cast<size_t>(p)] = -3e38f;
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  b.weight = {1, 1, 1};
  for (Reject reject : {Reject::none, Reject::percentile}) {
    PixelRule rule;
    rule.combine = Combine::sum;
    rule.reject = reject;
    rule.percentile_low = 0;
    rule.percentile_high = 100;
    BlockOut want;
    Scratch scratch;
    stack_block_scalar(rule, block_of(b, want, true), scratch);
    EXPECT_EQ(want.image[0], kInf) << "9e38 does not fit a float";
    EXPECT_EQ(want.image[1], -3e38f);
    TargetGuard guard;
    for (const std::string& t : simd_targets()) {
      ASSERT_TRUE(use_simd_target(t));
      BlockOut got;
      stack_block_simd(rule, block_of(b, got, true), scratch);
      EXPECT_EQ(first_difference(b, want, got), "") << "target " << t << ", " << describe(rule);
    }
  }
}

// stack_block on every target gives the reference's bits `want` for block
// `b`; `what` names the case in a failure.
void expect_every_target_gives(const PixelRule& rule, const BlockData& b, const BlockOut& want, bool want_frames,
                               const std::string& what) {
  TargetGuard guard;
  Scratch scratch;
  for (const std::string& t : simd_targets()) {
    ASSERT_TRUE(use_simd_target(t));
    BlockOut got;
    stack_block(rule, block_of(b, got, want_frames), scratch);
    EXPECT_EQ(first_difference(b, want, got), "") << "target " << t << ", " << what;
  }
}

// Frame counts sorted in passes over memory (bitonic merges: counts next to
// powers of two, where the last run is short or the flip reaches past n),
// up to past 65536 (positions once had 16 bits), on every target.
TEST(SimdMatchesScalarEdges, LargeFrameCounts) {
  for (int64_t n : {127, 128, 129, 255, 257, 2047, 4097, 65537}) {
    if (kSanitized && n > 5000) continue;
    // 70 pixels: batches of four whole groups (loaded together above 64 frames) and a partial one.
    const BlockData b =
        make_block(n, n <= 257 ? 70 : 17, Data::special, n == 4097 || n == 129, static_cast<uint64_t>(n));
    for (PixelRule rule : {sigma_rule(2, 2, 5, Combine::mean), sigma_rule(1.5, 3, -1, Combine::median)}) {
      if (n > 5000) rule.max_iters = 2;
      BlockOut want;
      Scratch scratch;
      stack_block_scalar(rule, block_of(b, want, true), scratch);
      EXPECT_TRUE(simd_handles(rule, n));
      expect_every_target_gives(rule, b, want, true, cat("N ", n, ", ", describe(rule)));
    }
  }
}

// Frames 4 KiB apart put a group's lines from every frame into one L1 set:
// the fused load and sort (with 8-float vectors, of a line's two groups
// together) then reads them in waves of 8 frames (a load's
// address waits for the previous wave's data). The same bits as the per-pixel
// loop on every target, for frame counts around the wave's size (8 frames
// per set are not enough for waves: the path without them).
TEST(SimdMatchesScalarEdges, FramesInOneCacheSetAreReadInWaves) {
  constexpr size_t kStride = 4096 / sizeof(float);
  for (int64_t n : {8, 9, 17, 24, 32}) {
    for (Data kind : {Data::finite, Data::special}) {
      BlockData b = make_block(n, 40, kind, false, static_cast<uint64_t>(n * 3 + (kind == Data::special)));
      std::vector<float> aliased(static_cast<size_t>(n) * kStride + 64);
      float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(aliased.data()) + 255) & ~uintptr_t{255});
      for (int64_t j = 0; j < n; ++j) {
        std::copy(b.frames[static_cast<size_t>(j)].begin(), b.frames[static_cast<size_t>(j)].end(),
                  base + static_cast<size_t>(j) * kStride);
        b.rows[static_cast<size_t>(j)] = base + static_cast<size_t>(j) * kStride;
      }
      for (PixelRule rule : {sigma_rule(2, 2, 5, Combine::mean), sigma_rule(1.5, 3, -1, Combine::median)}) {
        BlockOut want;
        Scratch scratch;
        stack_block_scalar(rule, block_of(b, want, false), scratch);
        expect_every_target_gives(rule, b, want, false,
                                  cat("N ", n, ", ", describe(rule), kind == Data::special ? ", special" : ""));
      }
    }
  }
}

// A mean or sum without rejection runs through the SIMD loops in runs of
// 256 pixels, frame by frame: blocks wider than one run (and not a multiple
// of it, nor of a vector) give the reference's bits on every target, with
// every optional output, special values and normalization.
TEST(SimdMatchesScalarEdges, PlainSumsOverManyRuns) {
  for (int64_t n : {1, 3, 13, 40}) {
    for (int64_t width : {257, 600}) {
      for (Data kind : {Data::finite, Data::special}) {
        for (bool normalized : {false, true}) {
          const BlockData b = make_block(n, width, kind, normalized, static_cast<uint64_t>(n * 7 + width));
          for (Combine combine : {Combine::mean, Combine::weighted_mean, Combine::sum}) {
            PixelRule rule;
            rule.reject = Reject::none;
            rule.combine = combine;
            BlockOut want;
            Scratch scratch;
            stack_block_scalar(rule, block_of(b, want, true), scratch);
            expect_every_target_gives(rule, b, want, true,
                                      cat("N ", n, ", width ", width, ", ", describe(rule),
                                          kind == Data::special ? ", special" : "", normalized ? ", normalized" : ""));
          }
        }
      }
    }
  }
}

// PixelBlock documents count, low and high as optional ("or null"); the
// per-pixel loop honours that. The SIMD loops must too (a child process
// runs them, so a crash fails this test only).
TEST(SimdMatchesScalarEdges, OptionalOutputsMayBeNull) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const BlockData b = make_block(5, 16, Data::finite, false, 42);
  PixelRule rule = sigma_rule(3, 3, 5);
  BlockOut want;
  Scratch scratch;
  PixelBlock pb = block_of(b, want, false);
  pb.count = pb.low = pb.high = nullptr;
  stack_block_scalar(rule, pb, scratch);
  for (const std::string& t : simd_targets()) {
    auto child = [&] {
      use_simd_target(t);
      BlockOut got;
      PixelBlock g = block_of(b, got, false);
      g.count = g.low = g.high = nullptr;
      Scratch s;
      stack_block_simd(rule, g, s);
      for (size_t i = 0; i < got.image.size(); ++i)
        if (!same_float(got.image[i], want.image[i])) std::_Exit(2);
      std::_Exit(0);
    };
    EXPECT_EXIT(child(), testing::ExitedWithCode(0), "")
        << "target " << t << ": stack_block_simd with count/low/high NULL";
  }
}

// ---------------------------------------------------------------------------
// Known answers on hand-made pixels (every target agrees with them too)
// ---------------------------------------------------------------------------

// A sample clipped early comes back. Samples 0 5 6 20 24 30 (in frame order
// 24 0 30 5 20 6), sigma 1/1, centre median, population std; worked out by
// hand (the same loop as astropy's compute_sigma_clipped_bounds, which
// sigma_clip(axis=0) runs per pixel before masking every sample against the
// final bounds):
//   it 1: {0 5 6 20 24 30}: median 13, std 11.052 -> [ 1.948, 24.052]: 0, 30 out
//   it 2: {5 6 20 24}:      median 13, std  8.378 -> [ 4.622, 21.378]: 24 out
//   it 3: {5 6 20}:         median  6, std  6.848 -> [-0.848, 12.848]: 20 out
// max_iters 3 stops with survivors {5 6}; every finite sample is then tested
// against the last bounds, so 0 comes back: kept {0 5 6}, mean 11/3, none
// low, three high (20 24 30).
TEST(StackKnownAnswers, SampleClippedEarlyComesBack) {
  const std::vector<float> s = {24, 0, 30, 5, 20, 6};  // frame order
  Pixel p = run_pixel(sigma_rule(1, 1, 3), s);
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(p.low, 0);
  EXPECT_EQ(p.high, 3);
  EXPECT_FLOAT_EQ(p.image, 11.0f / 3.0f);
  EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{1, 0, 1, 0, 1, 0}));
  // Until nothing changes: it 4 on {5, 6} gives [5, 6], which keeps both and
  // stops; 0 stays out.
  p = run_pixel(sigma_rule(1, 1, -1), s);
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.low, 1);
  EXPECT_EQ(p.high, 3);
  EXPECT_EQ(p.image, 5.5f);
  EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{1, 1, 1, 0, 1, 0}));
  // One iteration: [1.948, 24.052] keeps 5 6 20 24.
  p = run_pixel(sigma_rule(1, 1, 1), s);
  EXPECT_EQ(p.count, 4);
  EXPECT_EQ(p.image, 13.75f);
}

// An iteration that rejects every survivor: astropy's next bounds are NaN
// and nothing is rejected. Samples 2 10 11 15 24, sigma 0.5/0.5:
//   it 1: median 11, std 7.172 -> [7.414, 14.586]: {10, 11} survive
//   it 2: median 10.5, std 0.5 -> [10.25, 10.75]: nothing survives
//   it 3: no survivor: NaN bounds, no change -> every sample is kept.
// With max_iters 2 the last bounds are [10.25, 10.75]: nothing is kept.
TEST(StackKnownAnswers, RejectingEverySurvivorKeepsEverything) {
  const std::vector<float> s = {15, 2, 24, 11, 10};
  Pixel p = run_pixel(sigma_rule(0.5, 0.5, -1), s);
  EXPECT_EQ(p.count, 5);
  EXPECT_EQ(p.low + p.high, 0);
  EXPECT_FLOAT_EQ(p.image, 12.4f);
  p = run_pixel(sigma_rule(0.5, 0.5, 2), s);
  EXPECT_EQ(p.count, 0);
  EXPECT_TRUE(std::isnan(p.image));
  EXPECT_EQ(p.low, 2);   // 2 and 10 below 10.25
  EXPECT_EQ(p.high, 3);  // 11, 15, 24 above 10.75
  p = run_pixel(sigma_rule(0.5, 0.5, 1), s);
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.image, 10.5f);
}

TEST(StackKnownAnswers, EvenCountMedianIsMeanOfTheMiddleTwo) {
  PixelRule r;
  r.combine = Combine::median;
  EXPECT_EQ(run_pixel(r, {10, 1, 3, 2}).image, 2.5f);
  EXPECT_EQ(run_pixel(r, {10, 1, 3, 2, 7}).image, 3.0f);
  EXPECT_EQ(run_pixel(r, {-1e30f, 1e30f}).image, 0.0f);
  // NaN is missing, not a sample: the median of 4, 5.
  EXPECT_EQ(run_pixel(r, {kNaN, 5, 4, kNaN}).image, 4.5f);
  // After rejection: 1000 goes, the median of 1 2 3 4 is 2.5.
  r.reject = Reject::minmax;
  r.n_low = 0;
  r.n_high = 1;
  EXPECT_EQ(run_pixel(r, {4, 1000, 2, 1, 3}).image, 2.5f);
}

TEST(StackKnownAnswers, FewerThanThreeFiniteSamplesRejectNothing) {
  for (const PixelRule& r : {sigma_rule(0.01, 0.01, -1),
                             [] {
                               PixelRule x;
                               x.reject = Reject::percentile;
                               x.percentile_low = 40;
                               x.percentile_high = 60;
                               return x;
                             }(),
                             [] {
                               PixelRule x;
                               x.reject = Reject::minmax;
                               return x;
                             }(),
                             [] {
                               PixelRule x = sigma_rule(0.01, 0.01, 5);
                               x.reject = Reject::winsorized;
                               return x;
                             }()}) {
    SCOPED_TRACE(describe(r));
    Pixel p = run_pixel(r, {0, kNaN, 1000, kNaN});
    EXPECT_EQ(p.count, 2);
    EXPECT_EQ(p.image, 500.0f);
    EXPECT_EQ(p.low + p.high, 0);
    // Infinities are samples but not finite ones: still fewer than 3 finite.
    p = run_pixel(r, {kInf, 7, -kInf, 9});
    EXPECT_EQ(p.count, 2);
    EXPECT_EQ(p.image, 8.0f);
    EXPECT_EQ(p.low, 1);
    EXPECT_EQ(p.high, 1);
    p = run_pixel(r, {kNaN, 3});
    EXPECT_EQ(p.count, 1);
    EXPECT_EQ(p.image, 3.0f);
  }
}

TEST(StackKnownAnswers, AllNaNIsNaNWithCountZero) {
  for (std::string family : {"none", "sigma", "winsorized", "percentile", "minmax"})
    for (const PixelRule& r : rules_of(family)) {
      SCOPED_TRACE(describe(r));
      for (int n : {1, 2, 5, 70}) {
        Pixel p = run_pixel(r, std::vector<float>(static_cast<size_t>(n), kNaN));
        EXPECT_TRUE(std::isnan(p.image));
        EXPECT_EQ(p.count, 0);
        EXPECT_EQ(p.low, 0);
        EXPECT_EQ(p.high, 0);
        for (int64_t f : p.frame_rejected) EXPECT_EQ(f, 0);
      }
    }
}

TEST(StackKnownAnswers, InfinitiesAreAlwaysRejectedAndCounted) {
  for (std::string family : {"none", "sigma", "winsorized", "percentile", "minmax"})
    for (PixelRule r : rules_of(family)) {
      SCOPED_TRACE(describe(r));
      r.percentile_low = 0;  // nothing finite goes for these rules
      r.percentile_high = 100;
      r.n_low = r.n_high = 0;
      r.sigma_low = r.sigma_high = 10;
      Pixel p = run_pixel(r, {1, kInf, 2, -kInf, 3, kNaN, kInf});
      EXPECT_EQ(p.count, 3);
      EXPECT_EQ(p.low, 1);
      EXPECT_EQ(p.high, 2);
      EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{0, 1, 0, 1, 0, 0, 1}));
      const float expect[] = {2, 2, 6, 2, 1, 3};  // MEAN, WEIGHTED_MEAN (weights 1), SUM, MEDIAN, MIN, MAX
      EXPECT_EQ(p.image, expect[static_cast<int>(r.combine)]);
      // Only infinities: NaN, count 0, still counted.
      p = run_pixel(r, {kInf, -kInf, kNaN, -kInf});
      EXPECT_TRUE(std::isnan(p.image));
      EXPECT_EQ(p.count, 0);
      EXPECT_EQ(p.low, 2);
      EXPECT_EQ(p.high, 1);
      EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{1, 1, 0, 1}));
    }
}

// Sums are centred on the median: a 1e30 outlier among 1..9 is clipped and
// the mean of the rest is exactly 5 (a plain double sum would round 1e30 + 1
// and lose them), the sum exactly 45.
TEST(StackKnownAnswers, HugeOutlierLeavesTheExactMeanOfTheRest) {
  const std::vector<float> s = {7, 1, 1e30f, 9, 3, 5, 2, 8, 4, 6};
  Pixel p = run_pixel(sigma_rule(3, 3, 5), s);
  EXPECT_EQ(p.count, 9);
  EXPECT_EQ(p.high, 1);
  EXPECT_EQ(p.image, 5.0f);
  EXPECT_EQ(p.frame_rejected[2], 1);
  EXPECT_EQ(run_pixel(sigma_rule(3, 3, 5, Combine::sum), s).image, 45.0f);
  // Values near 1: the exact mean of 1 + k/8, k = 0..8, is 1.5.
  std::vector<float> near1 = {-1e30f};
  for (int k = 0; k < 9; ++k) near1.push_back(1.0f + static_cast<float>(k) / 8);
  p = run_pixel(sigma_rule(3, 3, 5), near1);
  EXPECT_EQ(p.count, 9);
  EXPECT_EQ(p.low, 1);
  EXPECT_EQ(p.image, 1.5f);
  // With the mean as centre, too (the first iteration's mean is -1e29).
  PixelRule mean_centre = sigma_rule(2, 2, -1);
  mean_centre.centre = Centre::mean;
  EXPECT_EQ(run_pixel(mean_centre, near1).image, 1.5f);
}

// Survivors far from the median of all samples, for their spread: the prefix
// sums about that median have lost their digits, and the clip takes the
// range's sums again about its own median (prefix_sums_trusted).
// 100 101 7.3e19 4.06e20, sigma 2 / 0 (by hand, as astropy):
//   it 1: median 3.65e19, the upper bound is the median: 7.3e19, 4.06e20 out
//   it 2: {100 101}: median 100.5, std 0.5 -> [99.5, 100.5]: 101 out
//   it 3: {100}: [100, 100], no change.
// About the first median, 100 and 101 both became -3.65e19 and nothing was
// rejected at all.
TEST(StackKnownAnswers, SurvivorsFarFromTheMedianKeepTheirDigits) {
  Pixel p = run_pixel(sigma_rule(2, 0, 5), {7.3e19f, 100, 4.06e20f, 101});
  EXPECT_EQ(p.count, 1);
  EXPECT_EQ(p.high, 3);
  EXPECT_EQ(p.image, 100.0f);
  // The winsorized clip on the same samples takes the same path (its 5% and
  // 95% quantiles of 4 or fewer samples only move the extremes inward).
  PixelRule w = sigma_rule(2, 0, 5);
  w.reject = Reject::winsorized;
  EXPECT_EQ(run_pixel(w, {7.3e19f, 100, 4.06e20f, 101}).count, 1);
  // Sky 100 +- 0.01 with saturated hits in half the frames (astropy: 99.99838, 2 kept).
  const std::vector<float> sky = {58935.21f, 100.0103f, 100.0050f, 99.99821f,
                                  32670.0f,  99.99854f, 55548.16f, 38846.53f};
  p = run_pixel(sigma_rule(3, 1.5, 10), sky);
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.high, 6);
  EXPECT_FLOAT_EQ(p.image, 0.5f * (99.99821f + 99.99854f));
}

// The mean and sum of kept samples far from the median of all: taken about
// the kept range's own median. MINMAX dropping the 3 highest of 4 keeps one
// sample, which is its mean and its sum; the weighted mean keeps the zeros'
// 0 (it was -1.2e21 about the median 1e37).
TEST(StackKnownAnswers, CombinedValueFarFromTheMedianKeepsItsDigits) {
  PixelRule r;
  r.reject = Reject::minmax;
  r.n_low = 0;
  r.n_high = 3;
  for (Combine c : {Combine::mean, Combine::sum}) {
    r.combine = c;
    const Pixel p = run_pixel(r, {2.53e15f, -50.1083f, 5.39e28f, 0});
    EXPECT_EQ(p.count, 1);
    EXPECT_EQ(p.image, -50.1083f) << describe(r);
  }
  PixelRule pct;
  pct.reject = Reject::percentile;
  pct.percentile_low = 0;
  pct.percentile_high = 40;  // numpy: 0 + 0.4 x 1e37, so 1e37 and above are out
  const std::vector<float> s = {1e37f, 0, 1.1e37f, 0, 1.2e37f, 0, 1.3e37f};
  for (Combine c : {Combine::mean, Combine::weighted_mean, Combine::sum}) {
    pct.combine = c;
    const Pixel p = run_pixel(pct, s, {1, 0.3, 1, 0.7, 1, 1.9, 1});
    EXPECT_EQ(p.count, 3);
    EXPECT_EQ(p.image, 0.0f) << describe(pct);
  }
}

// Each of `rules` as the plain and the winsorized clip, with either centre:
// every SIMD target gives the scalar rule's bits on block b.
void expect_every_clip_on_every_target(const BlockData& b, std::initializer_list<PixelRule> rules) {
  for (PixelRule rule : rules)
    for (Reject reject : {Reject::sigma_clip, Reject::winsorized}) {
      rule.reject = reject;
      for (Centre centre : {Centre::median, Centre::mean}) {
        rule.centre = centre;
        BlockOut want;
        Scratch scratch;
        stack_block_scalar(rule, block_of(b, want, true), scratch);
        expect_every_target_gives(rule, b, want, true, describe(rule));
      }
    }
}

// Whole groups of such pixels (the SIMD loops' batches, their all-finite
// path and the partial last group): the same bits on every target.
TEST(SimdMatchesScalarEdges, RangesFarFromTheMedian) {
  BlockData b;
  b.n = 8;
  b.width = 70;
  b.frames.assign(8, std::vector<float>(70));
  for (int64_t p = 0; p < b.width; ++p)
    for (int64_t j = 0; j < b.n; ++j) {
      const uint64_t r = mix(static_cast<uint64_t>(p * 8 + j));
      const bool hit = (j + p) % 2 == 0 || (p % 5 == 0 && j == 1);  // half the frames, or more
      const double noise = static_cast<double>(r % 2001) / 1000.0 - 1.0;
      b.frames[static_cast<size_t>(j)][static_cast<size_t>(p)] =
          static_cast<float>(hit ? 30000 + 30000 * (noise + 1) : 100 + 0.01 * noise);
    }
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  b.weight = {1, 2, 1, 0.5, 1, 1, 3, 1};
  expect_every_clip_on_every_target(
      b, {sigma_rule(3, 1.5, 10), sigma_rule(3, 1, -1, Combine::sum), sigma_rule(2, 2, 5, Combine::weighted_mean)});
}

// A sample exactly on a bound is kept, as astropy keeps it. With exact sums
// (counts) the variance carries one rounding: 0, 0, 1, 2, 0 have median 0
// and standard deviation 0.8, so at sigma_high 2.5 the bound is 2 (astropy:
// mean 0.6 of 5; the moments s2 / m - (s1 / m)^2 had rejected the 2). Two
// survivors have their bounds on themselves at sigma 1 (astropy keeps both;
// sums with roundings had rejected both, leaving NaN).
TEST(StackKnownAnswers, SamplesOnABoundAreKept) {
  Pixel p = run_pixel(sigma_rule(3, 2.5, 5), {0, 0, 1, 2, 0});
  EXPECT_EQ(p.count, 5);
  EXPECT_EQ(p.image, 0.6f);
  const std::vector<float> s = {1.3923242092132568f,   1.3950282335281372f,  -0.8664761781692505f, 0.8585061430931091f,
                                -0.11972519010305405f, -1.0385410785675049f, -0.35340404510498047f};
  p = run_pixel(sigma_rule(1, 1, 3), s);  // [-1.04, -0.12], then the two between them
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.image, static_cast<float>((static_cast<double>(s[2]) + s[6]) / 2));
  // Centre MEAN: the second iteration keeps 0, 0, 0, -3, 0, of mean -3/5 and
  // std 6/5, so the upper bound at sigma 0.5 is exactly 0 (the mean as c0 +
  // s1 / m, rounded twice, had put it at -1e-16 and rejected the zeros).
  PixelRule mean_centre = sigma_rule(3, 0.5, 2);
  mean_centre.centre = Centre::mean;
  p = run_pixel(mean_centre, {6, 0, 0, -3, 0, 6, 6, 6, 6, 0});
  EXPECT_EQ(p.count, 5);
  EXPECT_EQ(p.image, -0.6f);
  // Nine 0 and one 1: mean 1/10, std 3/10, so at sigma 3 the upper bound is
  // exactly 1 (mean and std rounded apart, 0.1 + 3 x 0.3, gave 1 - 1e-16).
  mean_centre = sigma_rule(3, 3, 5);
  mean_centre.centre = Centre::mean;
  p = run_pixel(mean_centre, {0, 0, 0, 0, 1, 0, 0, 0, 0, 0});
  EXPECT_EQ(p.count, 10);
  EXPECT_EQ(p.image, 0.1f);
  // Eight 1 and one 0: the lower bound 0.9 - 3 x 0.3 is exactly 0 (astropy's
  // own rounding rejects the 0 here; exact arithmetic keeps it).
  p = run_pixel(mean_centre, {1, 1, 1, 1, 1, 1, 1, 1, 0, 1});
  EXPECT_EQ(p.count, 10);
  // The second iteration's 13 survivors have mean 27/13 and std 18/13: at
  // sigma_low 1.5 the lower bound is exactly 0, on the four zeros; rejecting
  // them had left no survivor (NaN bounds), so all 17 samples came back.
  mean_centre = sigma_rule(1.5, 0.5, 5);
  mean_centre.centre = Centre::mean;
  p = run_pixel(mean_centre, {2, 0, 3, 2, 3, 0, 2, 2, 10, 3, 0, 3, 9, 8, 3, 0, 9});
  EXPECT_EQ(p.count, 4);
  EXPECT_EQ(p.image, 0.0f);
}

// Small counts (photon-starved frames: many samples on a bound) on every
// target, against the scalar rule.
TEST(SimdMatchesScalarEdges, SmallCountsOnTheBounds) {
  BlockData b;
  b.n = 7;
  b.width = 133;
  b.frames.assign(7, std::vector<float>(133));
  for (int64_t p = 0; p < b.width; ++p)
    for (int64_t j = 0; j < b.n; ++j)
      b.frames[static_cast<size_t>(j)][static_cast<size_t>(p)] =
          static_cast<float>(mix(static_cast<uint64_t>(p * 7 + j)) % 4);
  for (const auto& f : b.frames) b.rows.push_back(f.data());
  b.weight.assign(7, 1.0);
  PixelRule mean_centre = sigma_rule(3, 3, 5);
  mean_centre.centre = Centre::mean;
  PixelRule winsorized_mean = sigma_rule(0.5, 3, 5);
  winsorized_mean.reject = Reject::winsorized;
  winsorized_mean.centre = Centre::mean;
  expect_every_clip_on_every_target(b, {sigma_rule(1, 1, 5), sigma_rule(3, 2.5, 5), sigma_rule(2, 1, -1, Combine::sum),
                                        mean_centre, winsorized_mean});
}

// MINMAX ranks equal values by frame index, lower first.
TEST(StackKnownAnswers, MinMaxRanksTiesByFrame) {
  PixelRule r;
  r.reject = Reject::minmax;
  r.n_low = 1;
  r.n_high = 1;
  Pixel p = run_pixel(r, {5, 5, 5, 5, 5});
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(p.low, 1);
  EXPECT_EQ(p.high, 1);
  EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{1, 0, 0, 0, 1}));
  r.n_low = 2;
  r.n_high = 0;
  p = run_pixel(r, {3, 1, 3, 1, 9});
  EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{0, 1, 0, 1, 0}));
  // n_low + n_high >= finite samples: nothing is rejected.
  r.n_low = 2;
  r.n_high = 1;
  p = run_pixel(r, {3, 1, kNaN, 9});
  EXPECT_EQ(p.count, 3);
  EXPECT_EQ(p.low + p.high, 0);
  // Weighted mean of the survivors, with the frames' weights.
  r.n_low = 1;
  r.n_high = 1;
  r.combine = Combine::weighted_mean;
  p = run_pixel(r, {0, 10, 20, 30}, {1, 3, 1, 5});
  EXPECT_EQ(p.image, 12.5f);  // frames 1 and 2 kept: (3 x 10 + 1 x 20) / 4
}

TEST(StackKnownAnswers, PercentileUsesNumpyLinearQuantiles) {
  PixelRule r;
  r.reject = Reject::percentile;  // 10 .. 90
  std::vector<float> s;
  for (int k = 10; k >= 0; --k) s.push_back(static_cast<float>(k));
  Pixel p = run_pixel(r, s);  // q10 = 1, q90 = 9
  EXPECT_EQ(p.count, 9);
  EXPECT_EQ(p.low, 1);
  EXPECT_EQ(p.high, 1);
  EXPECT_EQ(p.image, 5.0f);
  // 0 1 2 3 at 25..75: numpy gives 0.75 and 2.25, keeping 1 and 2.
  r.percentile_low = 25;
  r.percentile_high = 75;
  p = run_pixel(r, {3, 0, 2, 1});
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.image, 1.5f);
  EXPECT_DOUBLE_EQ(quantile_of(std::vector<float>{0, 1, 2, 3}.data(), 0, 4, 0.25), 0.75);
  EXPECT_DOUBLE_EQ(quantile_of(std::vector<float>{0, 1, 2, 3}.data(), 0, 4, 0.75), 2.25);
  EXPECT_DOUBLE_EQ(quantile_of(std::vector<float>{1, 2, 4, 8, 16}.data(), 0, 5, 0.9), 12.8);
}

// Winsorized, worked out: samples 1..9 and 100 (m = 10). numpy's 5th and
// 95th percentiles are 1.45 and 59.05; clamped: 1.45 2 .. 9 59.05: median
// 5.5, mean 10.45, population std 16.374 (the raw samples' is 28.605).
//   sigma 4: winsorized [-60.0, 71.0] rejects 100; plain sigma clipping
//            [-108.9, 119.9] keeps it.
//   sigma 1.5: it 1 [-19.06, 30.06] rejects 100; it 2 on 1..9 clamps to 1.4
//            and 8.6: median 5, mean 5, std 2.4477 -> [1.329, 8.671]
//            rejects 1 and 9 (max_iters 2 stops there).
TEST(StackKnownAnswers, WinsorizedClampsBeforeTheStatistics) {
  const std::vector<float> s = {100, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  PixelRule r = sigma_rule(4, 4, 1);
  r.reject = Reject::winsorized;
  Pixel p = run_pixel(r, s);
  EXPECT_EQ(p.count, 9);
  EXPECT_EQ(p.high, 1);
  EXPECT_EQ(p.image, 5.0f);
  p = run_pixel(sigma_rule(4, 4, 1), s);
  EXPECT_EQ(p.count, 10);
  r = sigma_rule(1.5, 1.5, 1);
  r.reject = Reject::winsorized;
  p = run_pixel(r, s);
  EXPECT_EQ(p.count, 9);
  EXPECT_EQ(p.high, 1);
  r.max_iters = 2;
  p = run_pixel(r, s);
  EXPECT_EQ(p.count, 7);
  EXPECT_EQ(p.low, 1);
  EXPECT_EQ(p.high, 2);
  EXPECT_EQ(p.image, 5.0f);
  EXPECT_EQ(p.frame_rejected, (std::vector<int64_t>{1, 1, 0, 0, 0, 0, 0, 0, 0, 1}));
}

TEST(StackKnownAnswers, CombinesOfThePlainPath) {
  PixelRule r;
  const std::vector<float> s = {1, 2, kNaN, 4};
  const std::vector<double> w = {1, 2, 100, 1};
  r.combine = Combine::mean;
  EXPECT_EQ(run_pixel(r, s, w).image, 7.0f / 3);
  r.combine = Combine::sum;
  EXPECT_EQ(run_pixel(r, s, w).image, 7.0f);
  r.combine = Combine::weighted_mean;
  EXPECT_EQ(run_pixel(r, s, w).image, 9.0f / 4);  // (1 + 4 + 4) / 4: the NaN's weight does not count
  r.combine = Combine::min;
  EXPECT_EQ(run_pixel(r, s, w).image, 1.0f);
  r.combine = Combine::max;
  EXPECT_EQ(run_pixel(r, s, w).image, 4.0f);
  // -0 and +0 are the same sample.
  r.combine = Combine::max;
  Pixel p = run_pixel(r, {-0.0f, 0.0f, -0.0f});
  EXPECT_EQ(p.image, 0.0f);
  EXPECT_FALSE(std::signbit(p.image));
}

// ---------------------------------------------------------------------------
// Frame statistics
// ---------------------------------------------------------------------------

std::string profile_path(const char* name) { return std::string(PLX_SOURCE_DIR) + "/profiles/" + name + ".json"; }

std::unique_ptr<Runtime> make_runtime(const char* profile = "tiny-2c-4g") {
  RuntimeConfig config;
  config.machine_profile = profile_path(profile);
  config.planner.policy = DevicePolicy::cpu_only;
  config.cache_dir = "";
  auto rt = Runtime::create(config);
  EXPECT_TRUE(rt) << rt.error().message;
  return rt ? std::move(rt).value() : nullptr;
}

struct Planes {
  int64_t height = 0, width = 0;
  std::vector<std::vector<float>> frames;
  Frames view(int channels = 1) const {
    Frames f;
    f.count = static_cast<int64_t>(frames.size());
    f.height = height;
    f.width = width;
    f.channels = channels;
    f.row_stride = width;
    f.channel_stride = height * width;
    for (const auto& v : frames) f.data.push_back(v.data());
    return f;
  }
};

RunSettings settings(int workers = 2) {
  RunSettings s;
  s.name = "stack test";
  s.workers = workers;
  s.memory_budget_bytes = int64_t{1} << 30;
  return s;
}

// 15 x 13 pixels (odd: the median is a pixel), values 50 .. 150.
std::vector<float> reference_plane(uint64_t seed) {
  std::vector<float> v(15 * 13);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(50.0 + 100.0 * (mix(seed + i) >> 11) * 0x1.0p-53);
  return v;
}

TEST(FrameStats, MedianOfFinite) {
  std::vector<float> v = {3, 1, 2};
  EXPECT_EQ(median_of_finite(v), 2.0);
  v = {4, 1, 3, 2};
  EXPECT_EQ(median_of_finite(v), 2.5);
  v = {kNaN, kInf, 1, -kInf, 5, kNaN};
  EXPECT_EQ(median_of_finite(v), 3.0);
  v = {kNaN, kInf};
  EXPECT_TRUE(std::isnan(median_of_finite(v)));
  v = {};
  EXPECT_TRUE(std::isnan(median_of_finite(v)));
  v = {1e30f, -1e30f, 1e30f, 2};
  EXPECT_EQ(median_of_finite(v), (2.0 + 1e30f) / 2);
  v = {-0.0f, -0.0f, 1};
  EXPECT_FALSE(std::signbit(median_of_finite(v))) << "-0 counts as +0";
}

// Radix selection against a sort, on values that share high bits (a narrow
// range, as real frames), span every sign and exponent, tie, and hold
// subnormals, infinities and NaN, for odd and even counts.
TEST(FrameStats, MedianOfFiniteAgreesWithASort) {
  uint64_t seed = 7;
  for (size_t n : {1u, 2u, 3u, 10u, 999u, 1000u, 65537u, 200000u}) {
    for (int kind = 0; kind < 4; ++kind) {
      std::vector<float> v(n);
      for (float& x : v) {
        const uint64_t r = mix(++seed);
        const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
        switch (kind) {
          case 0: x = static_cast<float>(100.0 + 5.0 * (u - 0.5)); break;  // one narrow range
          case 1: {
            uint32_t bits = static_cast<uint32_t>(r);  // any bit pattern: NaN, inf, subnormal, both signs
            std::memcpy(&x, &bits, sizeof x);
            break;
          }
          case 2: x = static_cast<float>(static_cast<int>(u * 7) - 3); break;  // ties and zeros
          default: x = (r & 15) == 0 ? kNaN : static_cast<float>(std::ldexp(u - 0.5, static_cast<int>(r % 200) - 140));
        }
      }
      std::vector<double> finite;
      for (float x : v)
        if (std::isfinite(x)) finite.push_back(x);
      std::sort(finite.begin(), finite.end());
      const size_t m = finite.size();
      const double expected =
          m == 0 ? std::nan("") : m % 2 ? finite[m / 2] : (finite[m / 2 - 1] + finite[m / 2]) * 0.5;
      const double got = median_of_finite(v);
      if (m == 0)
        EXPECT_TRUE(std::isnan(got)) << n << " " << kind;
      else
        EXPECT_EQ(got, expected) << n << " " << kind;
    }
  }
}

TEST(FrameStats, NoPassWithoutNormalizationOrNoiseWeights) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  Planes p{15, 13, {reference_plane(1), reference_plane(2)}};
  FramePolicy policy;
  policy.weights = Weights::given;
  policy.given_weights = {2, 0.5};
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_FALSE(out->normalized);
  EXPECT_TRUE(out->weighted);
  EXPECT_EQ(out->frame_weight, (std::vector<double>{2, 0.5}));
  // The pixel loops' weights: scaled by a power of two (exactly) to a largest of at most 1.
  EXPECT_EQ(out->weight, (std::vector<double>{0.5, 0.125}));
  EXPECT_EQ(out->scale, (std::vector<double>{1, 1}));
  EXPECT_EQ(out->offset, (std::vector<double>{0, 0}));
  EXPECT_FALSE(needs_frame_pass(policy));
}

TEST(FrameStats, MultiplicativeRecoversTheScale) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  const std::vector<float> ref = reference_plane(7);
  const double a[] = {1.0, 2.0, 0.37, 1.5};
  Planes p{15, 13, {}};
  for (double s : a) {
    std::vector<float> f(ref.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(s * ref[i]);
    p.frames.push_back(f);
  }
  FramePolicy policy;
  policy.normalize = Normalize::multiplicative;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(out->normalized);
  EXPECT_EQ(out->scale[0], 1.0) << "the reference frame is its own scale";
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_NEAR(out->scale[j], 1 / a[j], 1e-6 / a[j]) << "frame " << j;
    EXPECT_EQ(out->offset[j], 0.0);
    EXPECT_EQ(out->weight[j], 1.0);
  }
  // Another reference: scales relative to it.
  policy.reference = 1;
  out = frame_params(rt->run_env(), p.view(), policy, settings(1));
  ASSERT_TRUE(out) << out.error().message;
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(out->scale[j], 2 / a[j], 2e-6 / a[j]) << "frame " << j;
}

TEST(FrameStats, AdditiveRecoversTheOffset) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  const std::vector<float> ref = reference_plane(8);
  const double b[] = {0, 10, -25.5, 3.25};
  Planes p{15, 13, {}};
  for (double o : b) {
    std::vector<float> f(ref.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(ref[i] + o);
    f[3] = kNaN;  // missing pixels do not count
    f[20] = kInf;
    p.frames.push_back(f);
  }
  FramePolicy policy;
  policy.normalize = Normalize::additive;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_NEAR(out->offset[j], -b[j], 1e-4) << "frame " << j;
    EXPECT_EQ(out->scale[j], 1.0);
  }
  EXPECT_EQ(out->offset[0], 0.0);
}

TEST(FrameStats, LinearFitRecoversScaleAndOffset) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  const std::vector<float> ref = reference_plane(9);
  const double a[] = {1.0, 1.7, 0.6, 2.5}, b[] = {0, -40, 12, 100};
  Planes p{15, 13, {}};
  for (size_t j = 0; j < 4; ++j) {
    std::vector<float> f(ref.size());
    for (size_t i = 0; i < f.size(); ++i) {
      const double noise = j == 0 ? 0 : 0.01 * ((mix(j * 977 + i) >> 11) * 0x1.0p-53 - 0.5);
      f[i] = static_cast<float>(a[j] * ref[i] + b[j] + noise);
    }
    if (j > 0) {  // a few bad pixels, refitted away
      f[10] += 30.0f;
      f[100] -= 25.0f;
      f[150] = kNaN;
    }
    p.frames.push_back(f);
  }
  FramePolicy policy;
  policy.normalize = Normalize::linear_fit;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->scale[0], 1.0);
  EXPECT_EQ(out->offset[0], 0.0);
  for (size_t j = 1; j < 4; ++j) {
    // ref = (frame - b) / a: scale 1/a, offset -b/a.
    EXPECT_NEAR(out->scale[j], 1 / a[j], 1e-4) << "frame " << j;
    EXPECT_NEAR(out->offset[j], -b[j] / a[j], 1e-2) << "frame " << j;
  }
}

// Noise weights are 1 / sigma^2, sigma = 1.4826 MAD, of the normalized frame.
TEST(FrameStats, NoiseWeightsAreInverseVariance) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  // A noise pattern z with median 0 and a known MAD: -97 .. 97 / 16, shuffled.
  std::vector<float> z(15 * 13);
  for (size_t i = 0; i < z.size(); ++i) z[i] = static_cast<float>(static_cast<int>((i * 37) % 195) - 97) / 16.0f;
  std::vector<float> zc = z;
  const double zmed = median_of_finite(zc);
  ASSERT_EQ(zmed, 0.0);
  for (float& v : zc) v = std::fabs(v);
  const double zmad = median_of_finite(zc);
  ASSERT_GT(zmad, 0);
  const double sigma[] = {1, 2, 0.5, 4};
  Planes p{15, 13, {}};
  for (double s : sigma) {
    std::vector<float> f(z.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(100 + s * z[i]);
    p.frames.push_back(f);
  }
  FramePolicy policy;
  policy.weights = Weights::noise;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(out->weighted);
  for (size_t j = 0; j < 4; ++j) {
    const double sd = 1.482602218505602 * sigma[j] * zmad;
    EXPECT_NEAR(out->frame_weight[j], 1 / (sd * sd), 1e-4 / (sd * sd)) << "frame " << j;
    // The pixel loops': (sigma_min / sigma)^2, the least noisy frame 1.
    EXPECT_NEAR(out->weight[j], 0.25 / (sigma[j] * sigma[j]), 1e-12) << "frame " << j;
  }
  // Frames that differ only by a scale weigh the same once normalized.
  Planes q{15, 13, {}};
  for (double s : {1.0, 3.0, 0.25}) {
    std::vector<float> f(z.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(s * (100 + 2 * z[i]));
    q.frames.push_back(f);
  }
  policy.normalize = Normalize::multiplicative;
  out = frame_params(rt->run_env(), q.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  for (size_t j = 1; j < 3; ++j) EXPECT_NEAR(out->weight[j] / out->weight[0], 1.0, 1e-4) << "frame " << j;
}

// Deviations from the median beyond FLT_MAX count in the MAD (as float, they
// were inf and left out): median 1e38, deviations 4e38 x 3, 0, 1e38, 2e38 x 2,
// MAD 2e38 (it was 1.5e38). Subnormal ones are exact.
TEST(FrameStats, NoiseBeyondTheFloatRange) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  Planes p{7, 1, {{1, 2, 3, 4, 5, 6, 7}, {-3e38f, -3e38f, -3e38f, 1e38f, 2e38f, 3e38f, 3e38f}}};
  FramePolicy policy;
  policy.weights = Weights::noise;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  const double sd = 1.482602218505602 * static_cast<double>(2e38f);
  EXPECT_NEAR(out->frame_weight[1] * sd * sd, 1.0, 1e-6);
  // Subnormal deviations stay exact (halved, 3 x the smallest would round to 2 x).
  const float tiny = std::numeric_limits<float>::denorm_min();
  p.frames[1] = {0, 0, 0, 3 * tiny, -3 * tiny, 3 * tiny, -3 * tiny};
  out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  const double small = 1.482602218505602 * 3 * static_cast<double>(tiny);
  EXPECT_NEAR(out->frame_weight[1] * small * small, 1.0, 1e-12);
}

// A frame that is an exact multiple of the reference fits it with residuals
// of the floats' rounding: the refit must not drop pixels by them (with many
// zeros, it kept only the zeros and refused the frame as constant).
TEST(FrameStats, LinearFitOfAnExactMultiple) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  std::vector<float> f(15, 0.0f), ref(15, 0.0f);
  const float values[] = {-622.955f, -366.134f, -272.129f};
  for (size_t i = 0; i < 3; ++i) {
    f[12 + i] = values[i];
    ref[12 + i] = static_cast<float>(static_cast<double>(values[i]) * 2.1494421591778496);
  }
  Planes p{15, 1, {ref, f}};
  FramePolicy policy;
  policy.normalize = Normalize::linear_fit;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_NEAR(out->scale[1], 2.1494421591778496, 1e-6);
  EXPECT_NEAR(out->offset[1], 0.0, 1e-4);
}

// LINEAR_FIT's scale and offset for frame f against the reference ref (one
// row of pixels each); NaN where the fit failed.
std::pair<double, double> linear_fit_of(const std::vector<float>& ref, const std::vector<float>& f) {
  auto rt = make_runtime();
  Planes p{static_cast<int64_t>(ref.size()), 1, {ref, f}};
  FramePolicy policy;
  policy.normalize = Normalize::linear_fit;
  auto out = frame_params(rt->run_env(), p.view(), policy, settings());
  EXPECT_TRUE(out) << out.error().message;
  if (!out) return {std::nan(""), std::nan("")};
  return {out->scale[1], out->offset[1]};
}

// Bright outliers in 5% of both frames' pixels (cosmic rays, a trail) leave
// the fit where the other pixels put it. Least squares from all pixels had
// given a slope of 0.04, and its clipping kept them.
TEST(FrameStats, LinearFitIgnoresOutliers) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> sky(100, 20), noise(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const int64_t w = 2000;
  std::vector<float> ref(w), f(w);
  for (int64_t i = 0; i < w; ++i) {
    const double v = sky(rng);
    ref[static_cast<size_t>(i)] = static_cast<float>(v + noise(rng) + (u(rng) < 0.05 ? 500 : 0));
    f[static_cast<size_t>(i)] = static_cast<float>(1.2 * v + 10 + noise(rng) + (u(rng) < 0.05 ? 500 : 0));
  }
  const auto [scale, offset] = linear_fit_of(ref, f);
  EXPECT_NEAR(scale, 1 / 1.2, 0.005);  // x noise shrinks least squares' slope by ~0.2%
  EXPECT_NEAR(offset, -10 / 1.2, 0.5);
}

// The start is the least median of squares: it stands up to almost half the
// pixels being outliers. Theil-Sen, tried first, gave a slope of 2e-5
// instead of 3.7 with 20% outliers in x at a signal-to-noise of 1, and failed
// on zero-filled borders (0 in both frames: now left out, they say nothing
// about the line) over more than a third of the frame.
TEST(FrameStats, LinearFitWithManyOutliersOrZeroBorders) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> sky(1000, 10), unit(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const int64_t w = 4096;
  {
    std::vector<float> ref(w), f(w);
    for (int64_t i = 0; i < w; ++i) {
      const double v = sky(rng);
      ref[static_cast<size_t>(i)] = static_cast<float>(3.75 * v + 155 + 37.5 * unit(rng));  // noise = signal's spread
      f[static_cast<size_t>(i)] = static_cast<float>(v + (u(rng) < 0.2 ? std::pow(10, 2 + 3 * u(rng)) : 0));
    }
    EXPECT_NEAR(linear_fit_of(ref, f).first, 3.75, 0.2);
  }
  {
    std::vector<float> ref(w, 0.0f), f(w, 0.0f);
    for (int64_t i = 0; i < w; ++i)
      if (u(rng) < 0.45) {  // 55% of both frames 0
        const double v = sky(rng);
        ref[static_cast<size_t>(i)] = static_cast<float>(v);
        f[static_cast<size_t>(i)] = static_cast<float>((v + 10006 * 0.5736) / -0.5736);  // ref = -0.5736 f - 5739
      }
    const auto [scale, offset] = linear_fit_of(ref, f);
    EXPECT_NEAR(scale, -0.5736, 1e-4);
    EXPECT_NEAR(offset, -10006 * 0.5736, 0.5);
  }
}

// Channels are independent: per channel and frame, index channel x N + frame.
TEST(FrameStats, PerChannel) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  const std::vector<float> ref = reference_plane(11);
  Planes p{15, 13, {}};
  const double a[2][2] = {{1, 1}, {2, 4}};  // [frame][channel]
  for (int j = 0; j < 2; ++j) {
    std::vector<float> f;
    for (int c = 0; c < 2; ++c)
      for (float v : ref) f.push_back(static_cast<float>(a[j][c] * v));
    p.frames.push_back(f);
  }
  FramePolicy policy;
  policy.normalize = Normalize::multiplicative;
  auto out = frame_params(rt->run_env(), p.view(2), policy, settings());
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->scale.size(), 4u);
  EXPECT_NEAR(out->scale[0 * 2 + 1], 0.5, 1e-6);   // channel 0, frame 1
  EXPECT_NEAR(out->scale[1 * 2 + 1], 0.25, 1e-6);  // channel 1, frame 1
}

void expect_error(const Result<FrameParams>& r, Code code, std::initializer_list<const char*> words) {
  ASSERT_FALSE(r) << "expected a failure";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  for (const char* w : words)
    EXPECT_NE(r.error().message.find(w), std::string::npos) << "message: " << r.error().message << "\nwant: " << w;
}

TEST(FrameStats, Errors) {
  auto rt = make_runtime();
  ASSERT_TRUE(rt);
  const std::vector<float> ref = reference_plane(12);
  std::vector<float> zero_median(ref.size()), nan(ref.size(), kNaN), constant(ref.size(), 4.0f);
  for (size_t i = 0; i < ref.size(); ++i) zero_median[i] = static_cast<float>(static_cast<int>(i) - 97);
  FramePolicy policy;

  policy.normalize = Normalize::multiplicative;
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {ref, zero_median}}.view(), policy, settings()),
               Code::invalid_argument, {"frame 1", "median 0"});
  // A reference of median 0 would scale the others to 0 (it divides nothing).
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {zero_median, ref}}.view(), policy, settings()),
               Code::invalid_argument, {"the reference frame 0", "median 0", "every frame to 0"});
  policy.normalize = Normalize::additive;
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {ref, ref, nan}}.view(), policy, settings()),
               Code::invalid_argument, {"frame 2", "no finite"});
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {nan, ref}}.view(), policy, settings()),
               Code::invalid_argument, {"reference", "frame 0 (counting from 0)", "another reference frame"});
  policy.normalize = Normalize::linear_fit;
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {ref, constant}}.view(), policy, settings()),
               Code::invalid_argument, {"frame 1", "constant"});
  policy.normalize = Normalize::none;
  policy.weights = Weights::noise;
  expect_error(frame_params(rt->run_env(), Planes{15, 13, {ref, constant}}.view(), policy, settings()),
               Code::invalid_argument, {"frame 1", "noise"});

  // A provider failing: the frame is named.
  Planes good{15, 13, {ref, ref, ref}};
  Frames f = good.view();
  f.data.clear();
  f.provider = [&](int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int, float* dst,
                   int64_t stride) {
    if (frame == 2) return 9;
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * stride, ref.data() + (row0 + r) * 13 + col0, static_cast<size_t>(cols) * 4);
    return 0;
  };
  policy.weights = Weights::none;
  policy.normalize = Normalize::additive;
  expect_error(frame_params(rt->run_env(), f, policy, settings()), Code::task_failed, {"frame 2", "9"});
}

// ---------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------

Frames shape(int64_t n, int64_t h, int64_t w, int c) {
  Frames f;
  f.count = n;
  f.height = h;
  f.width = w;
  f.channels = c;
  f.provider = [](int64_t, int64_t, int64_t, int64_t, int64_t, int, float*, int64_t) { return 0; };
  return f;
}

// What the plan's tiles hold at once: every worker a band of row units through
// all frames plus its scratch.
int64_t tiles_bytes(const StackPlan& sp, const Frames& f) {
  return static_cast<int64_t>(sp.plan.cpu_workers) *
         (sp.band_rows * sp.tile_cols * 4 * f.count + worker_scratch_bytes(f.count, sp.tile_cols));
}

// The Seestar night on the laptop profile (16 GB, 12 GiB available, 9 GiB
// budget): 13,000 frames of 1080 x 1920 x 3 (323 GB) stream through.
TEST(StackPlan, HugeStackStaysWithinTheBudget) {
  auto rt = make_runtime("laptop-8c-16g");
  ASSERT_TRUE(rt);
  const Frames f = shape(13000, 1080, 1920, 3);
  auto sp = plan_stack(*rt, f, "seestar", 0);
  ASSERT_TRUE(sp) << sp.error().message;
  EXPECT_EQ(sp->col_tiles, 1);
  EXPECT_EQ(sp->tile_cols, 1920);
  EXPECT_EQ(sp->units, 3 * 1080);
  EXPECT_GE(sp->band_rows, 1);
  EXPECT_TRUE(sp->plan.streaming);
  EXPECT_EQ(sp->plan.workload.items, 13000);
  EXPECT_EQ(sp->plan.workload.layout, Layout::rows_across_items);
  EXPECT_EQ(sp->plan.memory_budget_bytes, int64_t{9} << 30);
  EXPECT_LE(tiles_bytes(*sp, f), sp->plan.memory_budget_bytes);
  EXPECT_EQ(sp->plan.chunk_count, (sp->units + sp->band_rows - 1) / sp->band_rows);

  // A run budget of 64 MiB: one row through all frames (99.8 MB) no longer
  // fits a worker, so rows are cut into column tiles.
  sp = plan_stack(*rt, f, "seestar", int64_t{64} << 20);
  ASSERT_TRUE(sp) << sp.error().message;
  EXPECT_GT(sp->col_tiles, 1);
  EXPECT_GE(sp->tile_cols, 16);
  EXPECT_EQ(sp->col_tiles, (1920 + sp->tile_cols - 1) / sp->tile_cols);
  EXPECT_EQ(sp->units, 3 * sp->col_tiles * 1080);
  EXPECT_LE(tiles_bytes(*sp, f), int64_t{64} << 20);
  EXPECT_TRUE(sp->plan.streaming);
  bool said = false;
  for (const std::string& r : sp->plan.reasons) said |= r.find("tiles of") != std::string::npos;
  EXPECT_TRUE(said) << "the plan says why rows are cut";
}

TEST(StackPlan, SmallStackFitsAndDoesNotStream) {
  auto rt = make_runtime("laptop-8c-16g");
  ASSERT_TRUE(rt);
  const Frames f = shape(10, 100, 200, 3);
  auto sp = plan_stack(*rt, f, "small", 0);
  ASSERT_TRUE(sp) << sp.error().message;
  EXPECT_FALSE(sp->plan.streaming);
  EXPECT_EQ(sp->col_tiles, 1);
  EXPECT_LE(tiles_bytes(*sp, f), sp->plan.memory_budget_bytes);
}

TEST(StackPlan, NothingFitsIsOutOfMemory) {
  auto rt = make_runtime("tiny-2c-4g");
  ASSERT_TRUE(rt);
  // 2^31 - 1 frames: even 16 columns through all of them exceed the budget.
  auto sp = plan_stack(*rt, shape(INT32_MAX, 4, 4, 1), "too many", 0);
  ASSERT_FALSE(sp);
  EXPECT_EQ(sp.error().code, Code::out_of_memory) << sp.error().message;
  EXPECT_FALSE(sp.error().message.empty());
}

// Column tiles and bands do not change a bit of the result: the CPU path on
// the same frames with plans of very different shapes.
TEST(StackPlan, TilesDoNotChangeTheResult) {
  auto rt = make_runtime("tiny-2c-4g");
  ASSERT_TRUE(rt);
  const int64_t n = 9, h = 40, w = 70;
  Planes p{h, w, {}};
  for (int64_t j = 0; j < n; ++j) {
    std::vector<float> v(static_cast<size_t>(h * w));
    for (size_t i = 0; i < v.size(); ++i) {
      const uint64_t r = mix(static_cast<uint64_t>(j) * 7919 + i);
      v[i] = r % 17 == 0 ? kNaN : r % 23 == 0 ? 1e4f : static_cast<float>((r >> 11) * 0x1.0p-53 * 10);
    }
    p.frames.push_back(v);
  }
  const Frames f = p.view();
  PixelRule rule = sigma_rule(2, 2, 5);
  FrameParams params;
  params.scale.assign(static_cast<size_t>(n), 1.0);
  params.offset.assign(static_cast<size_t>(n), 0.0);
  params.weight.assign(static_cast<size_t>(n), 1.0);
  std::vector<float> first;
  std::vector<int64_t> first_rejected;
  int64_t tiles_before = 0;
  for (int64_t budget : {int64_t{0}, int64_t{170000}, int64_t{82200}}) {
    auto sp = plan_stack(*rt, f, "tiles", budget);
    ASSERT_TRUE(sp) << sp.error().message;
    std::vector<float> image(static_cast<size_t>(h * w));
    std::vector<int32_t> count(image.size()), low(image.size()), high(image.size());
    Outputs out{image.data(), count.data(), low.data(), high.data()};
    StackJob job{f, rule, params, out, true};
    RunSettings s = settings(3);
    s.grain = sp->band_rows;
    Totals totals;
    RunOutcome run = stack_on_cpu(rt->run_env(), job, *sp, s, totals);
    ASSERT_EQ(run.code, Code::ok) << run.message;
    const int64_t tiles = (sp->units + sp->band_rows - 1) / sp->band_rows;
    EXPECT_GT(tiles, tiles_before) << "budget " << budget;
    tiles_before = tiles;
    if (budget == 82200) {
      EXPECT_GT(sp->col_tiles, 1) << "the smallest budget cuts rows into column tiles";
    }
    if (first.empty()) {
      first = image;
      first_rejected = totals.frame_rejected;
      continue;
    }
    for (size_t i = 0; i < image.size(); ++i) ASSERT_TRUE(same_float(image[i], first[i])) << "pixel " << i;
    EXPECT_EQ(totals.frame_rejected, first_rejected);
  }
}

}  // namespace
}  // namespace plx::stack
