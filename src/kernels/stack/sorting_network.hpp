// Sorting networks: fixed sequences of compare-exchange steps, the same for
// every input, so that one SIMD vector holds one pixel per lane and all lanes
// are sorted at once with min/max and no branch.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace plx::stack {

struct Comparator {
  uint16_t lo, hi;  // after the step, v[lo] <= v[hi]
};

namespace detail {

// Batcher's merge of positions lo, lo + r, lo + 2r, ... up to hi (inclusive),
// whose two halves are sorted; steps touching positions >= n are dropped.
template <class F>
constexpr void odd_even_merge(int lo, int hi, int r, int n, F& f) {
  const int step = 2 * r;
  if (step < hi - lo) {
    odd_even_merge(lo, hi, step, n, f);
    odd_even_merge(lo + r, hi, step, n, f);
    for (int i = lo + r; i < hi - r && i + r < n; i += step) f(i, i + r);
  } else if (lo + r < n) {
    f(lo, lo + r);
  }
}

template <class F>
constexpr void odd_even_merge_sort(int lo, int hi, int n, F& f) {
  if (hi <= lo || lo >= n) return;
  const int mid = lo + (hi - lo) / 2;
  odd_even_merge_sort(lo, mid, n, f);
  odd_even_merge_sort(mid + 1, hi, n, f);
  odd_even_merge(lo, hi, 1, n, f);
}

}  // namespace detail

// Batcher's odd-even merge sort for n elements (n >= 1): the network of the
// next power of two, without the steps that touch positions >= n (those are
// no-ops when the missing positions hold +inf). Calls f(lo, hi) per step,
// depth first: each half is sorted completely before the merge, so that the
// rows a run of steps works on fit the registers (GCC keeps the order; a
// breadth-first order made it spill most rows with 16 AVX2 registers).
template <class F>
constexpr void for_each_comparator(int n, F&& f) {
  int p2 = 1;
  while (p2 < n) p2 *= 2;
  detail::odd_even_merge_sort(0, p2 - 1, n, f);
}

template <int N>
constexpr int comparator_count() {
  int count = 0;
  for_each_comparator(N, [&](int, int) { ++count; });
  return count;
}

// The network for N elements, built at compile time.
template <int N>
constexpr std::array<Comparator, comparator_count<N>()> sorting_network() {
  std::array<Comparator, comparator_count<N>()> net{};
  int k = 0;
  for_each_comparator(N, [&](int lo, int hi) { net[k++] = {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)}; });
  return net;
}

// The network for n elements (1 <= n <= kMaxNetworkElements), built on
// first use and kept for the life of the process.
constexpr int kMaxNetworkElements = 65535;

inline const std::vector<Comparator>& network_for(int n) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<const std::vector<Comparator>>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[n];
  if (!slot) {
    auto net = std::make_unique<std::vector<Comparator>>();
    for_each_comparator(n, [&](int lo, int hi) {
      net->push_back({static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
    });
    slot = std::move(net);
  }
  return *slot;
}

}  // namespace plx::stack
