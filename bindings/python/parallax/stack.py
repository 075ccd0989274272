"""Image stacking (plx_stack): N registered frames of H x W pixels (or C planar channels of them) combined pixel by
pixel into one image, after rejecting outliers — :func:`stack` for the whole API, :func:`sigma_clipped_mean` as a
drop-in for ``astropy.stats.sigma_clip(cube, axis=0, ...).mean(axis=0)``.

>>> import numpy as np, parallax
>>> cube = np.random.default_rng(1).normal(100, 5, (16, 512, 512)).astype(np.float32)
>>> cube[3, 10, 10] = 1e6                                      # a cosmic ray
>>> r = parallax.stack(cube, reject="sigma_clip", sigma=3)
>>> r.image.shape, r.count[10, 10]                             # ((512, 512), 15)
>>> mean = parallax.sigma_clipped_mean(cube, axis=0, sigma=3)  # just the image

Frames are read in place (zero-copy) when each frame's rows are contiguous native float32 — a C-contiguous cube, a
strided view of one (a crop, every other frame), or a list of separate arrays with the same row and channel
strides. Anything else (float64 and integers, rounded to float32; big-endian FITS data, transposed axes, masked
samples, made NaN) is converted by the binding block by block as the library reads it, through the same path as
a provider: memory stays within the stack's budget (a memory-mapped FITS cube is never copied whole), at the cost
of a call into Python per frame and band. A callable ``frames`` makes pixels on demand, so the frames never need
to be in memory.

The library works in double precision on float32 samples; NaN marks a missing sample, +-inf a sample always
rejected. Nothing the frame provider or the progress callback raises reaches the C library: the run stops and the
exception is raised from :func:`stack` (a provider's as the ``__cause__`` of a :class:`TaskError`). Ctrl-C in the
main thread cancels a stack within a progress interval (or at the provider's next call) and raises
KeyboardInterrupt, under Python's default SIGINT handler (see ``parallax._interrupt``).

Without ``runtime=``, the functions use one runtime created on first use with the default options (so a GPU when
the machine has one) and closed at interpreter exit: :func:`default_runtime`.

``parallax.stack`` is the function; this module's other names are imported with ``from parallax.stack import ...``.
"""
from __future__ import annotations

import atexit
import math
import threading
from ctypes import POINTER, byref, c_double, c_float, c_void_p, cast, pointer, sizeof
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _abi, _args, _interrupt, _pooled
from ._handle import running
from ._library import lib
from .errors import Error, InvalidArgumentError, TaskError
from .execution import (CancelToken, Progress, RunReport, _call, _check_callable, _describe, _nonnegative,
                        _Run)
from .plan import Plan
from .runtime import Runtime

__all__ = ["stack", "stack_plan", "sigma_clipped_mean", "StackResult", "default_runtime"]

#: ``fn(frame, row0, rows, col0, cols, channel)`` -> an array of shape (rows, cols).
ProviderFn = Callable[[int, int, int, int, int, int], Any]
FramesLike = Union[np.ndarray, Sequence[Any], ProviderFn]

_FLOAT32 = _args.FLOAT32
_REAL_KINDS = _args.REAL_KINDS


# ---------------------------------------------------------------------------------------------------------------
# The default runtime
# ---------------------------------------------------------------------------------------------------------------

_default_lock = threading.Lock()
_default: Optional[Runtime] = None


def _close_default() -> None:
    global _default
    with _default_lock:
        runtime, _default = _default, None
    if runtime is not None:
        runtime.close()


def default_runtime() -> Runtime:
    """The runtime :func:`stack` and :func:`sigma_clipped_mean` use without ``runtime=``: created with the default
    options on first use (again if it was closed), shared by every thread, closed at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            if _default is None:
                atexit.register(_close_default)
            _default = Runtime()
        return _default


def _runtime(runtime: Optional[Runtime]) -> Runtime:
    if runtime is None:
        return default_runtime()
    if not isinstance(runtime, Runtime):
        raise TypeError(f"runtime must be a parallax.Runtime, not {type(runtime).__name__}")
    return runtime


# ---------------------------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------------------------

def _real_array(where: str, value: Any) -> np.ndarray:
    """``value`` as an ndarray of real numbers (masked samples become NaN); refuses complex, object, text..."""
    return _args.real_array(where, value, "stacking")[0]


def _layout(frame: np.ndarray) -> Optional[Tuple[int, int]]:
    """(row_stride, channel_stride) in floats of a (C, H, W) frame the library can read in place: native float32,
    aligned, each row contiguous, rows and channel planes at positive strides that do not overlap; None if not."""
    if frame.dtype != _FLOAT32 or not frame.dtype.isnative or not frame.flags.aligned:
        return None
    c, h, w = frame.shape
    sc, sh, sw = frame.strides
    if w > 1 and sw != 4:
        return None
    if h == 1:
        row = w
    elif sh <= 0 or sh % 4 or sh // 4 < w:
        return None
    else:
        row = sh // 4
    plane = (h - 1) * row + w
    if c == 1:
        channel = h * row
    elif sc <= 0 or sc % 4 or sc // 4 < plane:
        return None
    else:
        channel = sc // 4
    return row, channel


#: plx_stack_desc_t.channels: 1 .. 64.
_MAX_CHANNELS = 64

#: Writes pixels [row0, row0 + rows) x [col0, col0 + cols) of a channel of a frame into ``out``, a (rows, cols)
#: float32 view of the library's buffer: ``fill(frame, row0, rows, col0, cols, channel, out)``.
FillFn = Callable[[int, int, int, int, int, int, np.ndarray], None]


class _Frames:
    """The frames as plx_stack_desc_t takes them: per-frame pointers and strides (keeping the arrays alive), or a
    provider (``fill``: the caller's, or the binding's over frames the library cannot read in place); with N, C,
    H, W and whether the caller's frames had a channel axis."""

    def __init__(self, frames: FramesLike, shape: Optional[Sequence[int]], channels: Optional[int]) -> None:
        self.arrays: List[np.ndarray] = []  # what the pointers point into
        self.pointers: Any = None
        self.row_stride = self.channel_stride = 0
        self.fill: Optional[FillFn] = None
        self.copied = 0  # frames converted to float32 band by band
        if callable(frames) and not isinstance(frames, np.ndarray):
            self._from_provider(frames, shape, channels)
            return
        if shape is not None:
            raise InvalidArgumentError("shape is for a callable frames (a provider); the shape of arrays is their own")
        if isinstance(frames, (list, tuple, Iterator)):  # a sequence of frames (a generator too), not a nested cube
            self._from_list(list(frames))
        else:
            self._from_cube(frames)
        if channels is not None and _args.integer("channels", channels, 32) != self.c:
            raise InvalidArgumentError(f"channels = {channels}, but the frames have {self.c} channel(s) "
                                       f"(frame shape {self.frame_shape})")

    @property
    def frame_shape(self) -> Tuple[int, ...]:
        return (self.c, self.h, self.w) if self.has_channels else (self.h, self.w)

    def _sizes(self, n: int, frame_shape: Tuple[int, ...], given: str, planar: str) -> None:
        """N, C, H, W from frames of ``frame_shape``; ``given`` says what the caller passed (for messages),
        ``planar`` how to pass interleaved colour frames as planar ones."""
        if len(frame_shape) not in (2, 3):
            raise InvalidArgumentError(f"{given}: a frame is (H, W) or (C, H, W) (planar channels), got a frame of "
                                       f"shape {frame_shape}")
        if n < 1:
            raise InvalidArgumentError("frames is empty: stacking needs at least one frame")
        if 0 in frame_shape:
            raise InvalidArgumentError(f"{given}: frames of shape {frame_shape} have no pixels")
        if len(frame_shape) == 3:
            c, h, w = frame_shape
            if w in (3, 4) and c > 4:  # (H, W, RGB[A]) read as (C, H, W) would stack colours as columns
                raise InvalidArgumentError(
                    f"{given}: its last axis looks like the colours of interleaved (H, W, C) frames, as rawpy, PIL "
                    f"and OpenCV give them; stack takes planar channels, (C, H, W) frames: pass {planar}")
            if c > _MAX_CHANNELS:
                raise InvalidArgumentError(
                    f"{given}: frames of shape {frame_shape} have {c} channels; stack takes 1 to {_MAX_CHANNELS} "
                    f"planar channels, frames of shape (C, H, W) with the channel axis first (for interleaved "
                    f"(H, W, C) frames, pass {planar})")
        self.n = n
        self.has_channels = len(frame_shape) == 3
        self.c, self.h, self.w = (1, *frame_shape) if len(frame_shape) == 2 else frame_shape

    def _from_cube(self, value: Any) -> None:
        cube, mask = _args.real_parts("frames", value, "stacking")
        if cube.ndim not in (3, 4):
            raise InvalidArgumentError(f"frames must be an array of shape (N, H, W) or (N, C, H, W), a sequence of N "
                                       f"(H, W) or (C, H, W) arrays, or a callable; got an array of shape "
                                       f"{cube.shape}")
        self._sizes(cube.shape[0], cube.shape[1:], f"frames has shape {cube.shape}", "np.moveaxis(frames, -1, 1)")
        planar = cube.reshape(self.n, self.c, self.h, self.w)  # a view: at most a unit axis is added
        layout = _layout(planar[0])
        # Frame 0 is aligned (its layout says so): every frame is, unless the frame stride is not whole floats.
        if layout is None or mask is not None or planar.strides[0] % 4:
            self._convert(list(planar), [None] * self.n if mask is None else list(mask.reshape(planar.shape)))
            return
        self.row_stride, self.channel_stride = layout
        self.arrays = [planar]
        offsets = np.arange(self.n, dtype=np.int64) * planar.strides[0] + planar.ctypes.data
        self._set_pointers(offsets.astype(np.uint64))

    def _from_list(self, frames: List[Any]) -> None:
        parts = [_args.real_parts(f"frames[{i}]", frame, "stacking") for i, frame in enumerate(frames)]
        if not parts:
            raise InvalidArgumentError("frames is empty: stacking needs at least one frame")
        first = parts[0][0].shape
        self._sizes(len(parts), first, f"frames[0] has shape {first}", "[np.moveaxis(f, -1, 0) for f in frames]")
        for i, (array, _) in enumerate(parts):
            if array.shape != first:
                raise InvalidArgumentError(f"frames[{i}] has shape {array.shape} but frames[0] has {first}: "
                                           "every frame needs the same shape")
        planar = [array.reshape(self.c, self.h, self.w) for array, _ in parts]
        masks = [None if mask is None else mask.reshape(self.c, self.h, self.w) for _, mask in parts]
        layouts = {_layout(frame) for frame in planar}
        if None in layouts or len(layouts) > 1 or any(mask is not None for mask in masks):
            self._convert(planar, masks)
            return
        self.row_stride, self.channel_stride = layouts.pop()
        self.arrays = planar
        self._set_pointers(np.array([frame.ctypes.data for frame in planar], dtype=np.uint64))

    def _set_pointers(self, addresses: np.ndarray) -> None:
        self.addresses = np.ascontiguousarray(addresses, dtype=np.uint64)  # the memory the C array lives in
        self.pointers = (c_void_p * self.n).from_buffer(self.addresses)

    def _convert(self, planar: List[np.ndarray], masks: List[Optional[np.ndarray]]) -> None:
        """Frames the library cannot read in place (another dtype or byte order, misaligned, rows not contiguous
        or at different strides, masked samples): a provider converts each block the library asks for, so that
        the memory stays within the stack's budget, not a float32 copy of every frame."""
        nan = np.float32(np.nan)

        def fill(frame: int, row0: int, rows: int, col0: int, cols: int, channel: int, out: np.ndarray) -> None:
            block = (channel, slice(row0, row0 + rows), slice(col0, col0 + cols))
            out[...] = planar[frame][block]
            if masks[frame] is not None:
                np.copyto(out, nan, where=masks[frame][block])

        self.fill = fill
        self.copied = self.n

    def _from_provider(self, fn: ProviderFn, shape: Optional[Sequence[int]], channels: Optional[int]) -> None:
        if shape is None:
            raise InvalidArgumentError("frames is a callable (a provider): give shape=(N, H, W) or (N, C, H, W)")
        dims = tuple(_args.integer("shape", n, 64) for n in shape)
        if len(dims) == 3 and channels is not None:
            c = _args.integer("channels", channels, 32)
            dims = (dims[0], c, *dims[1:]) if c != 1 else dims
        elif len(dims) == 4 and channels is not None and _args.integer("channels", channels, 32) != dims[1]:
            raise InvalidArgumentError(f"channels = {channels}, but shape {dims} has {dims[1]} channel(s)")
        if len(dims) not in (3, 4) or any(d < 0 for d in dims):
            raise InvalidArgumentError(f"shape must be (N, H, W) or (N, C, H, W), got {tuple(shape)}")
        self._sizes(dims[0], dims[1:], f"shape = {dims}",
                    "shape=(N, C, H, W) and a provider that returns one channel's pixels per call")
        self.fill = _provider_fill(fn)


def _provider_fill(fn: ProviderFn) -> FillFn:
    """The caller's provider as a fill: its pixels checked (real numbers, the block's shape), then converted."""

    def fill(frame: int, row0: int, rows: int, col0: int, cols: int, channel: int, out: np.ndarray) -> None:
        value = fn(frame, row0, rows, col0, cols, channel)
        where = f"frame {frame}, rows [{row0}, {row0 + rows}), columns [{col0}, {col0 + cols}), channel {channel}"
        pixels = _real_array(f"the provider's pixels for {where}", value)
        if pixels.shape != (rows, cols):
            raise InvalidArgumentError(f"the provider returned an array of shape {pixels.shape} for {where}; "
                                       f"expected ({rows}, {cols})")
        out[...] = pixels

    return fill


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class StackResult:
    """What :func:`stack` returns. Pixel maps have the frames' shape without N: (H, W), or (C, H, W) for frames with
    a channel axis; per-frame arrays are (N,) or (N, C) whatever the frames' shape."""

    image: np.ndarray  #: float32, the combined pixels; NaN where no sample survived
    count: Optional[np.ndarray]  #: int32, samples kept per pixel (None without return_count)
    rejected_low: Optional[np.ndarray]  #: int32, samples rejected below per pixel, -inf included (return_rejected)
    rejected_high: Optional[np.ndarray]  #: int32, samples rejected above, +inf included (return_rejected)
    frame_rejected: Optional[np.ndarray]  #: int64 (N,), samples rejected per frame, all channels (return_rejected)
    frame_scale: Optional[np.ndarray]  #: float64 (N, C), normalization scale: x' = scale x + offset
    frame_offset: Optional[np.ndarray]  #: float64 (N, C), normalization offset (return_frame_stats)
    frame_weight: Optional[np.ndarray]  #: float64 (N, C), weight of the frame in a weighted mean (return_frame_stats)
    samples: int  #: N x H x W x C
    missing: int  #: NaN samples
    kept: int  #: samples combined
    rejected: int  #: samples rejected, low and high (+-inf included)
    device_index: Optional[int]  #: the OpenCL device that stacked (as in Runtime.caps().devices); None: the CPU
    workers: int  #: CPU workers
    tile_rows: int  #: rows per tile (all frames, all columns)
    tiles: int
    frame_stats_s: float  #: seconds spent on normalization and weights
    stack_s: float  #: seconds spent stacking
    simd_target: str  #: the CPU instruction set of the pixel loops ("AVX2", "AVX3", ...)
    copied_frames: int  #: frames the library could not read in place, converted block by block (0: none)
    report: Optional[RunReport]  #: the run's report


# ---------------------------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------------------------

def _sigmas(sigma: Any, sigma_low: Any, sigma_high: Any) -> Tuple[float, float]:
    """The clipping bounds: each side's own when given, else ``sigma``, else 3 (astropy's ``sigma_lower or sigma``,
    but a given 0 is a bound on the centre)."""
    common = 3.0 if sigma is None else _args.sigma("sigma", sigma)
    low = common if sigma_low is None else _args.sigma("sigma_low", sigma_low)
    high = common if sigma_high is None else _args.sigma("sigma_high", sigma_high)
    return low, high


class _StackRun(_Run):
    """The descriptor of one plx_stack (or plx_stack_plan) call, what it points to, and what the provider raised."""

    def __init__(self, runtime: Runtime, frames: _Frames, *, combine: str, reject: Optional[str],
                 sigma: Optional[float], sigma_low: Optional[float], sigma_high: Optional[float],
                 max_iters: Optional[int], centre: str, n_low: int, n_high: int, percentile: Sequence[float],
                 weights: Any, normalize: Optional[str], reference_frame: int, device: str,
                 memory_budget_bytes: int, name: Optional[str], workers: Optional[int],
                 progress: Optional[Callable[[Progress], Any]], progress_interval_ms: int,
                 provider_rows: Optional[int] = None, interrupted: Callable[[], bool] = lambda: False) -> None:
        super().__init__(runtime, "stack", name, workers=0 if workers is None else workers, progress=progress,
                         progress_interval_ms=progress_interval_ms)
        self.where = "parallax.stack"
        self.blocks: dict = {}  # where the provider failed -> (rows, cols)
        self.frames = frames
        self.interrupted = interrupted  # Ctrl-C was pressed: the provider stops the run at its next call
        self.options.memory_budget_bytes = _nonnegative("memory_budget_bytes", memory_budget_bytes, 64)
        desc = self.desc = _abi.plx_stack_desc_t()
        lib.plx_stack_desc_init(byref(desc), sizeof(desc))
        desc.frames, desc.height, desc.width, desc.channels = frames.n, frames.h, frames.w, frames.c
        if frames.fill is not None:
            self.provider_callback = _abi.plx_stack_provider_fn(self._provider_call(frames.fill))
            desc.provider = self.provider_callback
            # Each call crosses into Python (tens of microseconds): by default whole bands, the fewest calls.
            desc.provider_rows = -1 if provider_rows is None else _args.integer("provider_rows", provider_rows, 64)
        else:
            desc.frame_data = cast(frames.pointers, POINTER(c_void_p))
            desc.row_stride, desc.channel_stride = frames.row_stride, frames.channel_stride
        desc.combine = _args.choice("combine", combine, _abi.STACK_COMBINES)
        desc.reject = _args.choice("reject", "none" if reject is None else reject, _abi.STACK_REJECTS)
        desc.centre = _args.choice("centre", centre, _abi.STACK_CENTRES)
        desc.sigma_low, desc.sigma_high = _sigmas(sigma, sigma_low, sigma_high)
        desc.max_iters = -1 if max_iters is None else _args.integer("max_iters", max_iters, 32)
        desc.n_low, desc.n_high = _args.integer("n_low", n_low, 32), _args.integer("n_high", n_high, 32)
        low, high = _percentiles(percentile)
        desc.percentile_low, desc.percentile_high = low, high
        self.weights = None
        if weights is None:
            desc.weights = _abi.PLX_WEIGHTS_NONE
        elif isinstance(weights, str):
            if weights.lower() not in ("noise", "noise_variance"):
                raise InvalidArgumentError(f"weights must be None, 'noise' or a sequence of {frames.n} numbers, got "
                                           f"{weights!r}")
            desc.weights = _abi.PLX_WEIGHTS_NOISE_VARIANCE
        else:
            given = np.asarray(weights)
            if given.dtype.kind not in _REAL_KINDS or given.shape != (frames.n,):
                got = f"dtype {given.dtype}" if given.dtype.kind not in _REAL_KINDS else f"shape {given.shape}"
                raise InvalidArgumentError(f"weights must be None, 'noise' or a sequence of {frames.n} real numbers "
                                           f"(one per frame), got {got}")
            self.weights = np.ascontiguousarray(given, dtype=np.float64)
            desc.weights = _abi.PLX_WEIGHTS_GIVEN
            desc.frame_weights = self.weights.ctypes.data_as(POINTER(c_double))
        desc.normalize = _args.choice("normalize", "none" if normalize is None else normalize, _abi.STACK_NORMALIZES)
        desc.device = _args.choice("device", device, _abi.PREFERENCES)
        desc.reference_frame = _args.integer("reference_frame", reference_frame, 64)
        desc.run_options = pointer(self.options)

    def _provider_call(self, fill: FillFn) -> Callable[..., int]:
        def call(_user_data: Any, frame: int, row0: int, rows: int, col0: int, cols: int, channel: int, dst: Any,
                 dst_stride: int) -> int:
            if self.fatal is not None or self.errors:
                return 1
            self.enter()
            try:
                if self.interrupted():
                    raise KeyboardInterrupt
                if rows > 0 and cols > 0:
                    address = cast(dst, c_void_p).value
                    buffer = (c_float * ((rows - 1) * dst_stride + cols)).from_address(address)
                    out = np.ndarray((rows, cols), _FLOAT32, buffer=buffer, strides=(dst_stride * 4, 4))
                else:
                    out = np.empty((rows, cols), _FLOAT32)
                fill(frame, row0, rows, col0, cols, channel, out)
                return 0
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                with self.lock:
                    self.blocks.setdefault((frame, channel, row0, col0), (rows, cols))
                self.record((frame, channel, row0, col0), exc, row0, row0 + rows)
                return -1
            finally:
                self.leave()

        return call

    def dispose(self) -> None:
        super().dispose()
        self.provider_callback = self.frames = self.weights = None

    def _outcome(self, error: Optional[Error]) -> Optional[RunReport]:
        self.release()
        report = self.run_report()
        if self.fatal is not None:
            raise self.fatal
        if self.errors:
            key = min(self.errors)
            exc = self.errors[key][0]
            frame, channel, row0, col0 = key
            rows, cols = self.blocks[key]
            failure = TaskError(f"{self.name}: the frame provider raised {_describe(exc)} for frame {frame}, rows "
                                f"[{row0}, {row0 + rows}), columns [{col0}, {col0 + cols}), channel {channel}; the "
                                "stack stopped")
            failure.report = report
            raise failure from exc
        if self.progress_error is not None:
            raise self.progress_error
        self.raise_status(error, report)
        return report


def _percentiles(value: Sequence[float]) -> Tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"percentile must be a pair (low, high) of percentiles in [0, 100], got "
                                   f"{value!r}") from None
    return _args.real("percentile low", low), _args.real("percentile high", high)


# ---------------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------------

def stack(frames: FramesLike, *, runtime: Optional[Runtime] = None, combine: str = "mean",
          reject: Optional[str] = "none", sigma: Optional[float] = None, sigma_low: Optional[float] = None,
          sigma_high: Optional[float] = None, max_iters: Optional[int] = 5, centre: str = "median", n_low: int = 1,
          n_high: int = 1, percentile: Sequence[float] = (10, 90), weights: Any = None,
          normalize: Optional[str] = "none", reference_frame: int = 0, device: str = "auto",
          shape: Optional[Sequence[int]] = None, channels: Optional[int] = None, return_count: bool = True,
          return_rejected: bool = False, return_frame_stats: bool = False,
          progress: Optional[Callable[[Progress], Any]] = None, cancel: Optional[CancelToken] = None,
          workers: Optional[int] = None, progress_interval_ms: int = 200, memory_budget_bytes: int = 0,
          name: Optional[str] = None, provider_rows: Optional[int] = None) -> StackResult:
    """Stacks N registered frames into one image (plx_stack), pixel by pixel: rejects outliers among each pixel's
    finite samples, then combines the survivors. NaN marks a missing sample (never counted); +-inf is always
    rejected and counted in the rejection maps. Results are the same bits for any ``workers`` and tiling.

    :param frames: an array of shape (N, H, W), or (N, C, H, W) with C planar channels; or a list, tuple or
        iterator (a generator) of N arrays (H, W) or (C, H, W) of one shape; or a callable
        ``fn(frame, row0, rows, col0, cols, channel)`` returning the (rows, cols) pixels of that block of a frame
        (any real dtype), with ``shape`` given. Masked samples count as missing: those of numpy masked arrays, of
        astropy ``Masked`` arrays and of astropy ``NDData`` / ``CCDData`` frames with a mask. Colour frames are
        planar, (C, H, W): interleaved (H, W, 3) frames are refused (``np.moveaxis(frames, -1, 1)`` makes a cube of
        them planar). Read in place when the rows of every frame are contiguous native float32 with common
        strides; otherwise converted to float32 block by block as the library reads them (see the module's
        notes): float64 and int64 samples are rounded to float32. A provider is called from several threads
        (holding the GIL), in any order, possibly more than once for the same pixels (frame statistics, then the
        stack): it must return the same pixels every time.
    :param runtime: the :class:`Runtime` to run on; None = :func:`default_runtime`.
    :param combine: "mean" (default), "weighted_mean" (or "wmean": sum w x / sum w, needs ``weights``), "sum",
        "median" (of an even count: the mean of the two middle values), "min" or "max".
    :param reject: "none" (default), "sigma_clip" (astropy's sigma_clip, exactly: see :func:`sigma_clipped_mean`),
        "winsorized_sigma_clip" (or "winsorized": centre and std of the survivors clamped to their 5th and 95th
        percentiles), "percentile" (keep samples between the ``percentile`` bounds, numpy's linear interpolation)
        or "minmax" (drop the ``n_low`` lowest and ``n_high`` highest samples, ties ranked by frame index; nothing
        at a pixel where ``n_low + n_high`` is as many as its finite samples or more). Nothing is rejected where
        fewer than 3 samples are finite.
    :param sigma: the clipping bound on both sides, in standard deviations, where ``sigma_low`` or ``sigma_high``
        is not given (default 3).
    :param sigma_low: the clipping bound below the centre, in standard deviations (finite, >= 0; given, it wins
        over ``sigma``, as astropy's ``sigma_lower``; 0 puts the bound on the centre).
    :param sigma_high: the clipping bound above the centre (given, it wins over ``sigma``).
    :param max_iters: clipping iterations at most (default 5); None (or -1, as in C) = until nothing changes.
    :param centre: the clipping centre, "median" (default) or "mean" (astropy's cenfunc).
    :param n_low: "minmax": lowest samples dropped per pixel (default 1); see ``reject``.
    :param n_high: "minmax": highest samples dropped (default 1).
    :param percentile: "percentile": (low, high) in [0, 100] (default (10, 90)).
    :param weights: for "weighted_mean": a sequence of N frame weights (finite, >= 0, not all 0), or "noise"
        (1 / sigma^2 per frame and channel, sigma = 1.4826 x the MAD of the normalized frame).
    :param normalize: per-frame normalization to frame ``reference_frame``, per channel, before rejection: "none"
        (default), "additive" (offset = median(ref) - median(frame)), "multiplicative" (scale = median(ref) /
        median(frame)) or "linear_fit" (robust least-squares ref ~ scale x frame + offset: from a least-median-
        of-squares start, refitted without 3-sigma outliers; pixels 0 in both frames left out).
    :param device: "auto" (default: a GPU or accelerator of the runtime when it has one with double precision),
        "cpu" or "gpu" (any usable OpenCL device with double precision, PoCL included; NoDeviceError without one).
    :param shape: with a callable ``frames``: (N, H, W) or (N, C, H, W).
    :param channels: None (default): from the frames or ``shape``. With a provider and a 3-item ``shape``, C > 1
        adds a channel axis of that size; otherwise, when given, it must agree with the frames.
    :param return_count: fill ``count`` (default True).
    :param return_rejected: fill ``rejected_low``, ``rejected_high`` and ``frame_rejected``.
    :param return_frame_stats: fill ``frame_scale``, ``frame_offset`` and ``frame_weight``.
    :param progress: called with a :class:`Progress` as in :meth:`Runtime.parallel_for` (items = row units:
        channels x column tiles x rows, as plx_stack counts them; with ``normalize`` or noise weights a first pass
        over the frames reports before, items = frames); returning True (or a non-zero int) cancels the stack.
    :param cancel: a :class:`CancelToken` that stops the stack.
    :param workers: CPU workers; None (default) = the stack's plan.
    :param progress_interval_ms: minimum milliseconds between progress calls (default 200).
    :param memory_budget_bytes: memory the stack may hold (tiles of rows through all frames); 0 = the runtime's.
    :param name: for log lines and messages (default "stack").
    :param provider_rows: with a callable ``frames``, or frames the binding converts, the rows asked for at a time
        (plx_stack_desc_t's provider_rows): None (default) = whole bands, as large as the plan allows, since every
        call costs tens of microseconds in Python; 0 = bands that fit the L2 cache (faster stacking, more calls);
        N > 0 = at most N.
    :returns: a :class:`StackResult`.
    :raises InvalidArgumentError: frames of the wrong shape (interleaved colour included), dtype or count, an
        unknown option name (the message lists the valid ones), or a value the library refuses (its message names
        the field).
    :raises TaskError: the provider raised (its ``__cause__``) or returned a bad array.
    :raises OutOfMemoryError: not even one row through all frames fits the memory budget.
    :raises NoDeviceError: device="gpu" without a usable device.
    :raises CancelledError: the token or the progress callback cancelled the stack.
    :raises KeyboardInterrupt: Ctrl-C, which cancels the stack within a progress interval.
    """
    rt = _runtime(runtime)
    f = _Frames(frames, shape, channels)
    if progress is not None:
        _check_callable("progress", progress)
    with _interrupt.SigintWatch() as sigint:  # Ctrl-C cancels the run: see parallax._interrupt
        run = _StackRun(rt, f, combine=combine, reject=reject, sigma=sigma, sigma_low=sigma_low,
                        sigma_high=sigma_high, max_iters=max_iters, centre=centre, n_low=n_low, n_high=n_high,
                        percentile=percentile, weights=weights, normalize=normalize, reference_frame=reference_frame,
                        device=device, memory_budget_bytes=memory_budget_bytes, name=name, workers=workers,
                        progress=_interrupt.cancelling_progress(progress, sigint),
                        progress_interval_ms=progress_interval_ms, provider_rows=provider_rows,
                        interrupted=sigint.seen)
        outputs, result = _outputs(f, return_count, return_rejected, return_frame_stats)
        report = run.outcome(_stack_call(rt, run, result, cancel))

    def maps(name: str) -> Optional[np.ndarray]:
        array = outputs[name]
        return array if array is None or f.has_channels else array[0]

    return StackResult(image=maps("image"), count=maps("count"), rejected_low=maps("rejected_low"),
                       rejected_high=maps("rejected_high"), frame_rejected=outputs["frame_rejected"],
                       frame_scale=outputs["frame_scale"], frame_offset=outputs["frame_offset"],
                       frame_weight=outputs["frame_weight"], samples=result.samples, missing=result.missing,
                       kept=result.kept, rejected=result.rejected,
                       device_index=None if result.device_index < 0 else result.device_index,
                       workers=result.workers, tile_rows=result.tile_rows, tiles=result.tiles,
                       frame_stats_s=result.frame_stats_s, stack_s=result.stack_s,
                       simd_target=result.simd_target.decode("ascii", "replace"), copied_frames=f.copied,
                       report=report)


def _outputs(f: _Frames, count: bool, rejected: bool,
             frame_stats: bool) -> Tuple[dict, _abi.plx_stack_result_t]:
    """The output arrays by plx_stack_result_t field (None where not asked for), and the result pointing to them."""
    pixels, per_frame = (f.c, f.h, f.w), (f.n, f.c)
    outputs = dict(image=np.empty(pixels, _FLOAT32), count=np.empty(pixels, np.int32) if count else None,
                   rejected_low=np.empty(pixels, np.int32) if rejected else None,
                   rejected_high=np.empty(pixels, np.int32) if rejected else None,
                   frame_rejected=np.empty(f.n, np.int64) if rejected else None,
                   frame_scale=np.empty(per_frame, np.float64) if frame_stats else None,
                   frame_offset=np.empty(per_frame, np.float64) if frame_stats else None,
                   frame_weight=np.empty(per_frame, np.float64) if frame_stats else None)
    result = _abi.plx_stack_result_t()
    lib.plx_stack_result_init(byref(result), sizeof(result))
    for field, array in outputs.items():
        setattr(result, field, None if array is None else array.ctypes.data)
    return outputs, result


def _stack_call(rt: Runtime, run: _StackRun, result: _abi.plx_stack_result_t,
                cancel: Optional[CancelToken]) -> Optional[Error]:
    """plx_stack with the run's borrowed token; its error, not raised."""
    try:
        run.borrow(None, cancel)
        with rt._use("stack") as pointer, running():
            return _call(lib.plx_stack, pointer, byref(run.desc), byref(result))
    finally:
        run.release()


def stack_plan(frames: FramesLike, *, runtime: Optional[Runtime] = None, shape: Optional[Sequence[int]] = None,
               channels: Optional[int] = None, memory_budget_bytes: int = 0, name: Optional[str] = None,
               **options: Any) -> Plan:
    """The :class:`Plan` :func:`stack` would follow for these frames and options (plx_stack_plan): workers, tiles
    of rows (``rows_per_chunk``), streaming, devices. Takes :func:`stack`'s arguments (those about outputs and
    progress excepted); reads no pixel."""
    rt = _runtime(runtime)
    f = _Frames(frames, shape, channels)
    settings = dict(combine="mean", reject="none", sigma=None, sigma_low=None, sigma_high=None, max_iters=5,
                    centre="median", n_low=1, n_high=1, percentile=(10, 90), weights=None, normalize="none",
                    reference_frame=0, device="auto", workers=None, provider_rows=None)
    unknown = set(options) - set(settings)
    if unknown:
        raise TypeError(f"stack_plan() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    settings.update(options)
    run = _StackRun(rt, f, memory_budget_bytes=memory_budget_bytes, name=name, progress=None,
                    progress_interval_ms=200, **settings)
    plan = _abi.plx_plan_p()
    try:
        with rt._use("stack_plan") as pointer:
            lib.plx_stack_plan(pointer, byref(run.desc), byref(plan))
    finally:
        run.dispose()
    return Plan(plan, name or "stack")


# plx_stack keeps some 1.6 KB of bookkeeping per frame, and sigma_clipped_mean makes each sample of a position a
# frame: where the positions are too few for their samples to outweigh it (fewer than 400) and it would pass
# 64 MiB (axis=None, axis tuples, long 1-D data), numpy clips them instead, one position at a time, by the same
# rule to the same bits (parallax._pooled).
_BOOKKEEPING_BYTES_PER_FRAME = 1600
_POOLED_FRAMES = (64 << 20) // _BOOKKEEPING_BYTES_PER_FRAME


def _pooled_in_numpy(frames: int, positions: int) -> bool:
    return frames > _POOLED_FRAMES and positions * _FLOAT32.itemsize < _BOOKKEEPING_BYTES_PER_FRAME


def sigma_clipped_mean(cube: Any, sigma: float = 3, sigma_lower: Optional[float] = None,
                       sigma_upper: Optional[float] = None, maxiters: Optional[int] = 5, cenfunc: str = "median",
                       stdfunc: str = "std", axis: Union[None, int, Tuple[int, ...]] = 0, *,
                       runtime: Optional[Runtime] = None) -> Union[np.ndarray, np.float32]:
    """The mean along ``axis`` of the samples that survive sigma clipping, as
    ``astropy.stats.sigma_clip(cube, sigma, sigma_lower, sigma_upper, maxiters, cenfunc, stdfunc,
    axis=axis).mean(axis=axis)``, whose parameters it takes in the same order: at each position, repeat { centre =
    median (or mean) of the survivors; std = their population standard deviation; keep survivors within [centre -
    sigma_lower x std, centre + sigma_upper x std] (bounds included) } until nothing changes or ``maxiters`` times
    (None: until nothing changes), then test every finite sample against the last bounds; NaN and +-inf are never
    kept.

    Differences from astropy: ``axis`` defaults to 0 (astropy's to None), and only ``cenfunc`` "median" and "mean"
    and ``stdfunc`` "std" are taken; the result is a plain float32 array with NaN where no sample survived, not a
    masked array; samples are read as float32 (float64 and int64 samples are rounded to float32 first), the
    statistics are computed in double precision; and where fewer than 3 samples are finite nothing is clipped
    (astropy may still clip one of two).

    Positions are clipped by plx_stack, except where they are few and have very many samples each (``axis=None``,
    axis tuples, long 1-D data): those are clipped here, in numpy, by the library's own rule to the same bits, in
    memory about the size of one position's samples (plx_stack would keep some 1.6 KB per sample).

    :param cube: an array-like of real numbers, ndim >= 1; masked samples count as missing (numpy masked arrays,
        astropy ``Masked`` arrays and ``NDData`` / ``CCDData`` with a mask, and lists of them).
    :param sigma: the clipping bound on both sides, in standard deviations (default 3).
    :param sigma_lower: the lower bound in standard deviations; None or 0 = ``sigma`` (astropy's ``sigma_lower or
        sigma``).
    :param sigma_upper: the upper bound; None or 0 = ``sigma``.
    :param maxiters: clipping iterations at most; None or 0 = until nothing changes (astropy's ``maxiters or inf``).
        -1, as astropy 5.2: until nothing changes along axes, none at all with ``axis=None`` (the mean of the finite
        samples).
    :param cenfunc: the clipping centre, "median" (default) or "mean".
    :param stdfunc: "std" (the population standard deviation), the only one.
    :param axis: the axis to clip and average along (any, negative allowed; moved first, copying as needed), a
        tuple of axes (their samples pooled, as astropy does), or None: the whole cube.
    :param runtime: the :class:`Runtime`; None = :func:`default_runtime`.
    :returns: float32, of the cube's shape without ``axis``; a np.float32 scalar for a 1-D cube or axis=None.
    """
    data = _samples_array(cube)
    if data.ndim < 1:
        raise InvalidArgumentError("cube is 0-dimensional: give at least one axis of samples")
    low, high = _astropy_bound("sigma_lower", sigma_lower, sigma), _astropy_bound("sigma_upper", sigma_upper, sigma)
    centre = _centre(cenfunc, stdfunc)
    iterations = _iterations(maxiters, axis)
    axes = _axes(axis, data.ndim)
    rest = tuple(size for a, size in enumerate(data.shape) if a not in axes)  # the positions' shape
    n, positions = math.prod(data.shape[a] for a in axes), math.prod(rest)
    if n == 0 or positions == 0:
        raise InvalidArgumentError(f"cube of shape {data.shape} has no samples along axis {axis!r} or no positions")
    if _pooled_in_numpy(n, positions):
        # The clipped axes last, so that each position's samples are one row (a view of a C-contiguous cube).
        rows = np.moveaxis(data, axes, tuple(range(len(rest), data.ndim))).reshape(positions, n)
        image = _clipped_rows(_runtime(runtime), rows, low, high, iterations, centre)
    else:
        # The clipped axes first, pooled into one axis of frames; the last axis of the rest is a row (the library
        # vectorises along rows), the others are rows.
        h, w = (math.prod(rest[:-1]), rest[-1]) if rest else (1, 1)
        frames = np.moveaxis(data, axes, tuple(range(len(axes)))).reshape(n, h, w)
        image = stack(frames, runtime=runtime, reject="none" if iterations is None else "sigma_clip",
                      sigma_low=low, sigma_high=high, max_iters=iterations, centre=centre, return_count=False,
                      name="sigma_clipped_mean").image
    image = image.reshape(rest)
    return image[()] if not rest else image


def _clipped_rows(runtime: Runtime, rows: np.ndarray, low: float, high: float, iterations: Optional[int],
                  centre: str) -> np.ndarray:
    """The clipped means of the rows of ``rows`` (positions x samples) in numpy, rows in parallel on the runtime's
    threads (numpy's sort lets go of the GIL) as many at once as the memory budget holds: each takes its samples
    as float32, a mask of the finite ones and their sorted copy."""
    image = np.empty(rows.shape[0], _FLOAT32)

    def clip(begin: int, end: int, _worker: int) -> None:
        image[begin:end] = _pooled.clipped_means(rows[begin:end], low, high, iterations, centre == "mean")

    with runtime.plan(rows.shape[0], rows.shape[1] * _FLOAT32.itemsize, working_set_factor=2.5, prefer="cpu",
                      max_workers=rows.shape[0], name="sigma_clipped_mean") as plan:
        runtime.parallel_for(clip, rows.shape[0], plan=plan, name="sigma_clipped_mean")
    return image


def _samples_array(cube: Any) -> np.ndarray:
    """sigma_clipped_mean's cube as an ndarray, masked samples NaN; a list or tuple of masked frames too, whose masks
    np.asarray would drop (as stack, which honours them)."""
    if isinstance(cube, (list, tuple)) and any(_args.masked_parts(frame)[1] is not None for frame in cube):
        return np.stack([_real_array(f"cube[{i}]", frame) for i, frame in enumerate(cube)])
    return _real_array("cube", cube)


def _astropy_bound(name: str, value: Any, sigma: Any) -> float:
    """astropy's ``value or sigma``: None and 0 mean ``sigma``."""
    given = None if value is None else _args.sigma(name, value)
    return given or _args.sigma("sigma", sigma)


def _centre(cenfunc: Any, stdfunc: Any) -> str:
    """plx_stack's centre for astropy's cenfunc, checking that stdfunc is the one the library has."""
    if not (isinstance(stdfunc, str) and stdfunc == "std"):
        raise InvalidArgumentError(f"stdfunc must be 'std' (the population standard deviation, the library's only "
                                   f"one), got {stdfunc!r}: for another, use astropy.stats.sigma_clip")
    if not (isinstance(cenfunc, str) and cenfunc in ("median", "mean")):
        raise InvalidArgumentError(f"cenfunc must be 'median' or 'mean' (the centres the library clips about), got "
                                   f"{cenfunc!r}: for another, use astropy.stats.sigma_clip")
    return cenfunc


def _iterations(maxiters: Any, axis: Any) -> Optional[int]:
    """plx_stack's max_iters for astropy's maxiters (-1: until nothing changes), or None: no clipping at all."""
    if maxiters is None:
        return -1
    count = _args.integer("maxiters", maxiters, 32)
    # A negative maxiters: astropy clips until nothing changes along axes (-1; other values do what its C loop
    # happens to do), and not at all with axis=None.
    if count < 0 and axis is None:
        return None
    if count < -1:
        raise InvalidArgumentError(f"maxiters = {count}: give a count >= 1, or None or 0 for until nothing changes")
    return count if count > 0 else -1


def _axes(axis: Any, ndim: int) -> Tuple[int, ...]:
    """The distinct axes, each in [0, ndim), that ``axis`` names (None: all of them)."""
    if axis is None:
        return tuple(range(ndim))
    given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(_args.integer("axis", a, 64) for a in given)
    for a in axes:
        if not -ndim <= a < ndim:
            raise InvalidArgumentError(f"axis {a} is out of range for a cube of {ndim} dimension(s)")
    axes = tuple(a % ndim for a in axes)
    if not axes or len(set(axes)) != len(axes):
        raise InvalidArgumentError(f"axis {axis!r}: give one or more distinct axes")
    return axes
