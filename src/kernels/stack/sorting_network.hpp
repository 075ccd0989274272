// Sorting networks: fixed sequences of compare-exchange steps, the same for
// every input, so that one SIMD vector holds one pixel per lane and all lanes
// are sorted at once with min/max and no branch.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

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

// The half-cleaners that end a bitonic merge in a block of N = 2^k rows, whose
// rows hold two sorted runs flipped against each other: for distances N/2 ..
// 1, the comparators (i, i + d) with (i & d) == 0, depth first (each half
// finished before the next), so that the rows in use fit the registers.
template <int N>
constexpr std::array<Comparator, N / 2 * std::bit_width(static_cast<unsigned>(N) - 1)> bitonic_cleaners() {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "a power of two");
  std::array<Comparator, N / 2 * std::bit_width(static_cast<unsigned>(N) - 1)> net{};
  size_t k = 0;
  auto clean = [&](auto& self, int lo, int size) -> void {
    if (size < 2) return;
    for (int i = lo; i < lo + size / 2; ++i) net[k++] = {static_cast<uint16_t>(i), static_cast<uint16_t>(i + size / 2)};
    self(self, lo, size / 2);
    self(self, lo + size / 2, size / 2);
  };
  clean(clean, 0, N);
  return net;
}

}  // namespace plx::stack
