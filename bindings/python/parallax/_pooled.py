"""The sigma-clipped mean of one position with very many samples, in numpy: the library's per-pixel rule
(src/kernels/stack/pixel_rule.cpp: sigma_clip, keep_within and the MEAN combine of stack_block_scalar), operation
for operation, so that its results are the bits plx_stack gives for the same samples.

:func:`parallax.sigma_clipped_mean` pools the samples of an axis tuple, of axis=None or of a long 1-D array into
one pixel of a stack whose frames are the samples; plx_stack keeps some 1.6 KB of bookkeeping per frame, so a
2048 x 2048 image would take 6.6 GB. Here a position costs a mask and a sorted float32 copy of its samples (and
a float32 copy first if they are of another type); its prefix sums are kept at every 65536th sample only.

The rule: the finite samples, sorted; centre c0 = their median; prefix sums of d = x - c0 and d^2 accumulated
outward from the middle sample, so that the sums of a range never include a value outside it and a 1e30 outlier
cannot swamp the others. Each iteration keeps a contiguous range of the sorted samples, so its median and sums
cost O(1) and its new range a binary search; bounds are inclusive; then every finite sample is tested again
against the last bounds (astropy's final pass). Fewer than 3 finite samples: no clipping."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

_BLOCK = 1 << 16  # samples whose running sums are taken again to find one index's
_TRUSTED_SPREAD = 256.0  # kTrustedSpread of pixel_rule.hpp


def clipped_means(samples: np.ndarray, sigma_low: float, sigma_high: float, max_iters: Optional[int],
                  centre_mean: bool) -> np.ndarray:
    """float32 (P,): the mean of each row of ``samples`` (P, S) after sigma clipping, as plx_stack's SIGMA_CLIP and
    MEAN combine (``max_iters`` -1: until nothing changes), or of its finite samples (``max_iters`` None: reject
    NONE)."""
    return np.array([_mean(row, sigma_low, sigma_high, max_iters, centre_mean) for row in samples], np.float32)


def _mean(x: np.ndarray, sigma_low: float, sigma_high: float, max_iters: Optional[int], centre_mean: bool) -> float:
    x = np.asarray(x, np.float32)  # the library reads float32: other types are rounded first
    s = x[np.isfinite(x)]
    s += np.float32(0)  # -0 becomes +0, as the library makes it before sorting
    n = s.size
    if n == 0:
        return math.nan
    if max_iters is None:  # reject NONE: the finite samples summed in their order (plain_pixel)
        return _sums(s, 0.0)[0] / n
    s.sort()
    c0 = _median(s, 0, n)
    prefix = _PrefixSums(s, c0)
    low, high = _clip(s, prefix, c0, sigma_low, sigma_high, max_iters, centre_mean) if n >= 3 else \
        (-math.inf, math.inf)
    if math.isnan(low) or math.isnan(high):  # every survivor was rejected: astropy's NaN bounds reject nothing
        low, high = -math.inf, math.inf
    first = _first_at_least(s, 0, n, low)
    last = _end_at_most(s, first, n, high)
    kept = last - first
    if kept == 0:
        return math.nan
    s1, s2 = prefix.sums(first, last)
    if not _trusted(s1, s2, kept):
        centre = _median(s, first, kept)
        return centre + _sums(s[first:last], centre)[0] / kept
    return c0 + s1 / kept


def _clip(s: np.ndarray, prefix: "_PrefixSums", c0: float, sigma_low: float, sigma_high: float,
          max_iters: int, centre_mean: bool) -> Tuple[float, float]:
    """The last bounds of iterative sigma clipping over the sorted finite samples ``s`` (sigma_clip)."""
    a, b, iterations = 0, s.size, 0
    while True:
        m = b - a
        if m == 0:
            return math.nan, math.nan
        md = float(m)
        med = _median(s, a, m)
        (s1, s2), base = prefix.sums(a, b), c0
        if m <= 2 or not _trusted(s1, s2, m):  # a range far from c0: its sums again, about its own median
            (s1, s2), base = _sums(s[a:b], med), med
        if centre_mean:  # mean_centre_bounds: one division after the root
            root = math.sqrt(max(md * s2 - s1 * s1, 0.0))
            low, high = base + (s1 - sigma_low * root) / md, base + (s1 + sigma_high * root) / md
        else:
            variance = (md * s2 - s1 * s1) / (md * md)  # variance_from_sums
            sd = math.sqrt(max(variance, 0.0))
            low, high = med - sigma_low * sd, med + sigma_high * sd
        a2 = _first_at_least(s, a, b, low)
        b2 = _end_at_most(s, a2, b, high)
        iterations += 1
        if (a2, b2) == (a, b) or max_iters > 0 and iterations >= max_iters:
            return low, high
        a, b = a2, b2


def _median(s: np.ndarray, a: int, m: int) -> float:
    """Median of s[a, a + m), m >= 1: the middle value, or the mean of the two middle ones (median_of)."""
    upper = float(s[a + m // 2])
    return upper if m & 1 else (float(s[a + m // 2 - 1]) + upper) * 0.5


def _trusted(s1: float, s2: float, m: int) -> bool:
    """prefix_sums_trusted: whether a range's sums about c0 keep its variance to some 256 n epsilon."""
    return _TRUSTED_SPREAD * (s1 * s1) <= (_TRUSTED_SPREAD - 1) * (s2 * float(m))


class _PrefixSums:
    """build_prefix's k1 and k2, the sums of d = s - c0 and d^2 accumulated outward from the middle sample m0 = n //
    2 (k[m0] = 0; k[i] = the sums of s[m0, i) above it, minus those of s[i, m0) below it), so that a range's sums
    are k[b] - k[a]. Only the running sums at the start of every block are kept (n doubles would be 4 times the
    samples): an index's sums are its block's run again from there, the same additions in the same order, so the
    same bits."""

    def __init__(self, s: np.ndarray, c0: float) -> None:
        self.c0 = c0
        self.middle = s.size // 2
        self.up, self.down = s[self.middle:], s[:self.middle][::-1]  # in the order of the library's two loops
        self.up_starts, self.down_starts = self._block_starts(self.up), self._block_starts(self.down)

    def sums(self, a: int, b: int) -> Tuple[float, float]:
        """The sums of d and d^2 over s[a, b): k[b] - k[a]."""
        (a1, a2), (b1, b2) = self._at(a), self._at(b)
        return b1 - a1, b2 - a2

    def _at(self, i: int) -> Tuple[float, float]:
        if i >= self.middle:
            return self._running(self.up, self.up_starts, i - self.middle)
        below1, below2 = self._running(self.down, self.down_starts, self.middle - i)
        return 0.0 - below1, 0.0 - below2  # 0 - a, not -a: +0 where a is 0, as the library

    def _block_starts(self, values: np.ndarray) -> List[Tuple[float, float]]:
        """The running sums before each block of ``values``."""
        starts, totals = [], (0.0, 0.0)
        for start in range(0, values.size, _BLOCK):
            starts.append(totals)
            totals = _sums(values[start:start + _BLOCK], self.c0, totals)
        return starts

    def _running(self, values: np.ndarray, starts: List[Tuple[float, float]], count: int) -> Tuple[float, float]:
        """The running sums over the first ``count`` values."""
        if count == 0:
            return 0.0, 0.0
        block = (count - 1) // _BLOCK
        return _sums(values[block * _BLOCK:count], self.c0, starts[block])


def _sums(values: np.ndarray, centre: float, before: Tuple[float, float] = (0.0, 0.0)) -> Tuple[float, float]:
    """The sums of d = values - centre and of d^2 added one after another to ``before``, in order, as the
    library's loops add them (numpy's own sum is pairwise: other bits)."""
    total1, total2 = before
    for start in range(0, values.size, _BLOCK):  # a block at a time: bounded temporaries
        d = values[start:start + _BLOCK].astype(np.float64)
        d -= centre
        squares = d * d
        d[0] += total1  # the next step of the same loop
        squares[0] += total2
        total1, total2 = float(np.cumsum(d, out=d)[-1]), float(np.cumsum(squares, out=squares)[-1])
    return total1, total2


def _first_at_least(s: np.ndarray, a: int, b: int, bound: float) -> int:
    """The first i in [a, b) with s[i] >= bound (compared as doubles), or b: searched with the smallest float32 not
    below the bound, so that no comparison rounds the bound."""
    with np.errstate(over="ignore"):
        key = np.float32(bound)
    if float(key) < bound:
        key = np.nextafter(key, np.float32(np.inf))
    return a + int(np.searchsorted(s[a:b], key, "left"))


def _end_at_most(s: np.ndarray, a: int, b: int, bound: float) -> int:
    """The end of the run from a of samples <= bound (compared as doubles) in [a, b)."""
    with np.errstate(over="ignore"):
        key = np.float32(bound)
    if float(key) > bound:
        key = np.nextafter(key, np.float32(-np.inf))
    return a + int(np.searchsorted(s[a:b], key, "right"))
