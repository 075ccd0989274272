"""Mosaic co-addition (plx_coadd): N images resampled onto one output pixel grid and combined — :func:`coadd` for the
whole API, :func:`reproject_and_coadd` as a drop-in for ``reproject.mosaicking.reproject_and_coadd(...,
reproject_function=reproject_interp)``.

>>> import parallax
>>> from astropy.io import fits
>>> hdus = [fits.open(name)[0] for name in ("a.fits", "b.fits", "c.fits")]
>>> image, footprint = parallax.coadd([(h.data, h.header) for h in hdus], output_wcs=mosaic_header)
>>> image, footprint = parallax.reproject_and_coadd(hdus, mosaic_header, combine_function="sum")

Each input is a pair ``(array, mapping)``; the mapping says where output pixel (x, y) falls in the input (0-based
pixel coordinates, pixel centres at integers):

* an astropy ``WCS``, a FITS ``Header`` or a FITS header as text (80-character cards, or one card per line): the
  input's celestial WCS against ``output_wcs`` (PLX_MAPPING_WCS, evaluated by the library through wcslib; TAN and
  TAN-SIP natively). A ``WCS`` object is sent as ``wcs.to_header(relax=True)`` (14 significant digits, SIP
  included); a ``Header`` as its own cards, exactly. WCS distortion lookup tables (``cpdis``, ``det2im``) cannot
  travel in a header and are refused.
* a 2 x 3 array ``m`` (PLX_MAPPING_AFFINE): ``xi = m[0,0] x + m[0,1] y + m[0,2]``, ``yi = m[1,0] x + m[1,1] y +
  m[1,2]``.
* a 3 x 3 array (PLX_MAPPING_HOMOGRAPHY): ``(u, v, w) = m (x, y, 1)``, ``xi = u / w``, ``yi = v / w``.
* a callable ``f(x_out, y_out) -> (x_in, y_in)`` on 1-D float64 arrays (PLX_MAPPING_COORDINATE_MAP): NaN where the
  output pixel has no counterpart. It is called from the library's worker threads (holding the GIL, so calls are
  serialized) with blocks of output pixels in any order, and may be called more than once for the same pixels.

Arrays are read in place (zero-copy) when they are native, aligned float32 with contiguous rows (a C-contiguous
array, or a crop of one: the row stride is passed on); anything else (float64, integers, big-endian FITS data,
transposed views) is converted to float32 once, before the call. Masked pixels of a masked array become NaN. The
arrays and callables are kept alive by the call until it returns.

Resampling and combination follow reproject 0.10 (see include/parallax.h, "Mosaic co-addition"): bilinear and
nearest are scipy's ``map_coordinates`` orders 1 and 0 with reproject's edge padding; an output pixel takes
``sum(v f) / sum(f)`` ("mean"), ``sum(v f)`` ("sum"), or the min / max / median / first / last of the values of the
inputs with ``f != 0`` there, where ``f`` is the input's scalar weight times its interpolated pixel weight (0 where
the interpolated value is NaN). The footprint is ``sum(f)``. Uncovered pixels are NaN (0 for "sum"), with a
footprint of 0. Everything is computed in double precision; the outputs are float32, the same bits for any number
of workers and any tiling.

Nothing a callable raises reaches the C library: the callback returns a failure, the library stops the call with
PLX_ERR_TASK_FAILED, and :func:`coadd` raises the library's :class:`TaskError` (its message) with the Python
exception as ``__cause__``.

``parallax.coadd`` is the function; this module's other names are imported with ``from parallax.coadd import ...``.
"""
from __future__ import annotations

import numbers
import operator
import sys
from ctypes import byref, pointer, sizeof
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _abi, _args
from ._handle import running
from ._library import lib
from .errors import Error, InvalidArgumentError, TaskError, UnsupportedError
from .execution import CancelToken, Progress, RunReport, _call, _callback_code, _describe, _nonnegative, _Run
from .runtime import Runtime
from .stack import _runtime

__all__ = ["coadd", "reproject_and_coadd", "CoaddInfo"]

#: ``f(x_out, y_out) -> (x_in, y_in)``, 1-D float64 arrays of the same length.
MapFn = Callable[[np.ndarray, np.ndarray], Tuple[Any, Any]]
#: ``f(row0, image, footprint)``: a finished tile of output rows [row0, row0 + len(image)), all columns.
TileFn = Callable[[int, np.ndarray, Optional[np.ndarray]], Any]
MappingLike = Any  # WCS, Header, str, 2x3 / 3x3 array-like, or MapFn

_FLOAT32 = _args.FLOAT32
_REAL_KINDS = _args.REAL_KINDS
_CARD = 80  # bytes per FITS header card


# ---------------------------------------------------------------------------------------------------------------
# What a call reports
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CoaddInfo:
    """What a :func:`coadd` call did (plx_coadd_result_t), returned with ``return_info=True``."""

    covered: int  #: output pixels with a non-zero footprint
    samples: int  #: (input, output pixel) pairs interpolated
    tile_rows: int  #: output rows per tile
    tiles: int
    device_index: Optional[int]  #: the OpenCL device that resampled; None: the CPU
    workers: int  #: CPU workers
    native_wcs: int  #: WCS inputs mapped natively (TAN, TAN-SIP)
    grid_wcs: int  #: WCS inputs mapped through wcslib on a grid
    seconds: float
    copied_inputs: int  #: inputs (data or weights) the binding converted to float32 for the library
    report: Optional[RunReport]  #: the run's report


# ---------------------------------------------------------------------------------------------------------------
# FITS headers and astropy objects
# ---------------------------------------------------------------------------------------------------------------

def _cards(where: str, text: Union[str, bytes]) -> bytes:
    """A header as the library reads it: 80-character cards back to back, as cfitsio's fits_hdr2str writes them.
    Text with line breaks is read as one card per line (padded to 80 characters)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"{where}: a FITS header is ASCII text; this one is not") from None
    if not text.isascii():
        bad = next(c for c in text if not c.isascii())
        raise InvalidArgumentError(f"{where}: a FITS header is ASCII text; this one holds {bad!r}")
    if "\n" in text or "\r" in text:
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
        for number, line in enumerate(lines):
            if len(line) > _CARD:
                raise InvalidArgumentError(f"{where}: line {number + 1} of the header has {len(line)} characters; a "
                                           f"FITS card has at most {_CARD}")
        text = "".join(line.ljust(_CARD) for line in lines if line.strip())
    return _args._nul_free(where, text.encode("ascii"))


def _naxis(cards: bytes) -> Optional[Tuple[int, int]]:
    """(NAXIS2, NAXIS1) of a header with NAXIS >= 2, or None."""
    values: Dict[bytes, int] = {}
    for start in range(0, len(cards) - _CARD + 1, _CARD):
        card = cards[start:start + _CARD]
        key = card[:8].strip()
        if key == b"END":
            break
        if key in (b"NAXIS", b"NAXIS1", b"NAXIS2") and card[8:10] == b"= ":
            try:
                values[key] = int(card[10:].split(b"/")[0].strip())
            except ValueError:
                pass
    if values.get(b"NAXIS", 0) >= 2 and b"NAXIS1" in values and b"NAXIS2" in values:
        return values[b"NAXIS2"], values[b"NAXIS1"]
    return None


def _astropy_wcs(value: Any) -> Any:
    """The astropy.wcs.WCS behind ``value`` (itself, or the low-level WCS of a high-level wrapper), or None. Never
    imports astropy: an object of a module not yet imported cannot be one of its classes."""
    wcs_module = sys.modules.get("astropy.wcs")
    if wcs_module is None:
        return None
    if isinstance(value, wcs_module.WCS):
        return value
    low = getattr(value, "low_level_wcs", None)
    return low if isinstance(low, wcs_module.WCS) else None


def _is_astropy_header(value: Any) -> bool:
    fits_module = sys.modules.get("astropy.io.fits")
    return fits_module is not None and isinstance(value, fits_module.Header)


def _is_other_wcs(value: Any) -> bool:
    """A WCS object of the astropy WCS API that is not a FITS WCS (gwcs, a sliced WCS...)."""
    api = sys.modules.get("astropy.wcs.wcsapi")
    return api is not None and isinstance(value, (api.BaseHighLevelWCS, api.BaseLowLevelWCS))


def _header_of(where: str, value: Any) -> Optional[Tuple[bytes, Optional[Tuple[int, int]]]]:
    """(cards, (ny, nx) or None) when ``value`` is a WCS, a Header or header text; None when it is none of these."""
    if isinstance(value, (str, bytes)):
        cards = _cards(where, value)
        return cards, _naxis(cards)
    if _is_astropy_header(value):
        cards = _cards(where, value.tostring())
        return cards, _naxis(cards)
    wcs = _astropy_wcs(value)
    if wcs is not None:
        tables = [name for name in ("cpdis1", "cpdis2", "det2im1", "det2im2") if getattr(wcs, name, None) is not None]
        if tables:
            raise UnsupportedError(f"{where}: the WCS has distortion lookup tables ({', '.join(tables)}), which a "
                                   "FITS header cannot carry; map it with a callable (wcs.all_world2pix of the output's "
                                   "all_pix2world) instead")
        cards = _cards(where, wcs.to_header(relax=True).tostring())
        shape = wcs.array_shape if wcs.pixel_shape is not None else None
        return cards, (tuple(int(n) for n in shape) if shape is not None and len(shape) == 2 else None)
    if _is_other_wcs(value):
        raise UnsupportedError(f"{where}: a {type(value).__name__} is not a FITS WCS; give an astropy WCS, a FITS "
                               "header, or a callable mapping output pixels to this input's pixels")
    return None


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------

def _image(where: str, value: Any) -> Tuple[np.ndarray, bool]:
    """A 2-D array of real numbers (masked pixels NaN), and whether it already is a copy."""
    array, copied = _args.real_array(where, value, "co-addition")
    if array.ndim != 2:
        raise InvalidArgumentError(f"{where} must be a 2-D image (rows, columns); got an array of shape {array.shape}")
    if 0 in array.shape:
        raise InvalidArgumentError(f"{where} of shape {array.shape} has no pixels")
    return array, copied


def _row_stride(array: np.ndarray) -> Optional[int]:
    """The row stride in floats of a 2-D array the library can read in place (native aligned float32, contiguous
    rows at a positive stride that does not overlap them); None if it cannot."""
    if array.dtype != _FLOAT32 or not array.dtype.isnative or not array.flags.aligned:
        return None
    h, w = array.shape
    row_bytes, col_bytes = array.strides
    if w > 1 and col_bytes != 4:
        return None
    if h == 1:
        return w
    if row_bytes <= 0 or row_bytes % 4 or row_bytes // 4 < w:
        return None
    return row_bytes // 4


class _Input:
    """One input as plx_coadd_input_t holds it, with the arrays its pointers point into."""

    def __init__(self, index: int, data: Any, mapping: MappingLike, weights: Any, weight: float,
                 background: float) -> None:
        where = f"inputs[{index}]"
        self.data, copied = _image(f"{where} data", data)
        self.copied = 0
        self.weights: Optional[np.ndarray] = None
        if weights is not None:
            pixels, w_copied = _image(f"input_weights[{index}]", weights)
            if pixels.shape != self.data.shape:
                raise InvalidArgumentError(f"input_weights[{index}] has shape {pixels.shape} but the input's data has "
                                           f"{self.data.shape}: pixel weights need the data's shape")
            if pixels.dtype.kind == "f" and np.isnan(pixels).any():  # reproject's rule: NaN -> 0, +-inf -> +-max
                pixels, w_copied = np.nan_to_num(pixels), True
            self.weights = pixels
        stride = _row_stride(self.data)
        if stride is None:
            self.data, stride, copied = np.ascontiguousarray(self.data, dtype=_FLOAT32), self.data.shape[1], True
        if self.weights is not None:
            w_stride = _row_stride(self.weights)
            if w_stride != stride:  # the weights share the data's layout: make both contiguous
                if w_stride != self.data.shape[1]:
                    self.weights, w_copied = np.ascontiguousarray(self.weights, dtype=_FLOAT32), True
                if stride != self.data.shape[1]:
                    self.data, copied = np.ascontiguousarray(self.data), True
                stride = self.data.shape[1]
            self.copied += int(w_copied)
        self.copied += int(copied)
        self.row_stride = stride
        self.weight = _real(f"weights[{index}]", weight)
        self.background = _real(f"backgrounds[{index}]", background)
        self.matrix: Optional[Tuple[float, ...]] = None
        self.header: Optional[bytes] = None
        self.fn: Optional[MapFn] = None
        header = _header_of(f"{where} mapping", mapping)
        if header is not None:
            self.mapping, self.header = _abi.PLX_MAPPING_WCS, header[0]
        elif callable(mapping) and not isinstance(mapping, np.ndarray):
            self.mapping, self.fn = _abi.PLX_MAPPING_COORDINATE_MAP, mapping
        else:
            self.mapping, self.matrix = _matrix(f"{where} mapping", mapping)


def _matrix(where: str, value: Any) -> Tuple[int, Tuple[float, ...]]:
    try:
        m = np.asarray(value)
    except Exception:  # noqa: BLE001 - any object numpy cannot read is refused below
        m = np.asarray(None, dtype=object)
    if m.dtype.kind not in _REAL_KINDS or m.shape not in ((2, 3), (3, 3)):
        got = f"dtype {m.dtype}" if m.dtype.kind not in _REAL_KINDS else f"shape {m.shape}"
        raise InvalidArgumentError(f"{where} must be an astropy WCS or Header, a FITS header string, a 2 x 3 (affine) "
                                   f"or 3 x 3 (homography) matrix of real numbers, or a callable f(x_out, y_out) -> "
                                   f"(x_in, y_in); got {type(value).__name__} with {got}")
    kind = _abi.PLX_MAPPING_AFFINE if m.shape == (2, 3) else _abi.PLX_MAPPING_HOMOGRAPHY
    return kind, tuple(float(v) for v in m.astype(np.float64).ravel())


def _real(name: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    return float(value)


def _pair(index: int, item: Any) -> Tuple[Any, Any]:
    """An input as (data, mapping): a pair, or an image HDU (its data and header)."""
    if isinstance(item, tuple) and len(item) == 2:
        return item
    if hasattr(item, "data") and _is_astropy_header(getattr(item, "header", None)):
        if item.data is None:
            raise InvalidArgumentError(f"inputs[{index}] is an HDU without data")
        return item.data, item.header
    raise InvalidArgumentError(f"inputs[{index}] must be a pair (array, mapping) or an image HDU; got "
                               f"{type(item).__name__}")


def _per_input(name: str, values: Any, n: int, default: Any) -> List[Any]:
    if values is None:
        return [default] * n
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise InvalidArgumentError(f"{name} must be a sequence of {n} values (one per input), got "
                                   f"{type(values).__name__}")
    if isinstance(values, np.ndarray) and values.ndim != 1 and name != "input_weights":
        raise InvalidArgumentError(f"{name} must be a sequence of {n} values (one per input), got an array of shape "
                                   f"{values.shape}")
    if len(values) != n:
        raise InvalidArgumentError(f"{name} has {len(values)} values for {n} inputs: give one per input")
    return [default if v is None else v for v in values]


def _shape(value: Any) -> Tuple[int, int]:
    try:
        ny, nx = value
        shape = operator.index(ny), operator.index(nx)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"shape_out must be (rows, columns) of integers, got {value!r}") from None
    if min(shape) < 0:
        raise InvalidArgumentError(f"shape_out = {shape}: sizes are >= 1")
    return shape


# ---------------------------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------------------------

def _coordinates(name: str, value: Any, n: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"the mapping returned {name} of dtype {array.dtype}; it must be real numbers")
    try:
        return np.broadcast_to(array.astype(np.float64, copy=False), (n,))
    except ValueError:
        raise ValueError(f"the mapping returned {name} of shape {array.shape} for {n} output pixels; expected "
                         f"({n},)") from None


class _CoaddRun(_Run):
    """The descriptor of one plx_coadd call, what it points to, and what the callables raised."""

    def __init__(self, runtime: Runtime, inputs: List[_Input], shape: Tuple[int, int], output_header: Optional[bytes],
                 *, interpolation: str, combine: str, device: str, tile: Optional[TileFn], workers: Optional[int],
                 progress: Optional[Callable[[Progress], Any]], progress_interval_ms: int, memory_budget_bytes: int,
                 name: Optional[str]) -> None:
        super().__init__(runtime, "coadd", name, workers=0 if workers is None else workers, progress=progress,
                         progress_interval_ms=progress_interval_ms)
        self.where = "parallax.coadd"
        self.options.memory_budget_bytes = _nonnegative("memory_budget_bytes", memory_budget_bytes, 64)
        self.inputs = inputs
        self.output_header = output_header
        self.maps: Dict[int, MapFn] = {i: item.fn for i, item in enumerate(inputs) if item.fn is not None}
        self.map_callback = _abi.plx_coordinate_map_fn(self._map_call()) if self.maps else None
        self.tile_callback = _abi.plx_coadd_tile_fn(self._tile_call(tile, shape[1])) if tile is not None else None

        array = self.input_array = (_abi.plx_coadd_input_t * len(inputs))()
        size = sizeof(_abi.plx_coadd_input_t)
        for i, item in enumerate(inputs):
            s = array[i]
            lib.plx_coadd_input_init(byref(s), size)
            s.data = item.data.ctypes.data
            s.height, s.width = item.data.shape
            s.row_stride = item.row_stride
            s.weights = None if item.weights is None else item.weights.ctypes.data
            s.weight, s.background = item.weight, item.background
            s.mapping = item.mapping
            if item.matrix is not None:
                for k, value in enumerate(item.matrix):
                    s.matrix[k] = value
            s.wcs_header = item.header
            if item.fn is not None:
                s.map = self.map_callback

        desc = self.desc = _abi.plx_coadd_desc_t()
        lib.plx_coadd_desc_init(byref(desc), sizeof(desc))
        desc.inputs = array
        desc.count = len(inputs)
        desc.height, desc.width = shape
        desc.output_wcs_header = output_header
        desc.interpolation = _args.choice("interpolation", interpolation, _abi.INTERPOLATIONS)
        desc.combine = _args.choice("combine", combine, _abi.COADD_COMBINES)
        desc.device = _args.choice("device", device, _abi.PREFERENCES)
        if self.tile_callback is not None:
            desc.tile = self.tile_callback
        desc.run_options = pointer(self.options)

    def _map_call(self) -> Callable[..., int]:
        def call(_user_data: Any, index: int, n: int, x_out: Any, y_out: Any, x_in: Any, y_in: Any) -> int:
            if self.fatal is not None or self.errors:
                return 1
            self.enter()
            try:
                if n <= 0:
                    return 0
                xs = np.ctypeslib.as_array(x_out, (n,)).copy()  # copies: the function may keep them
                ys = np.ctypeslib.as_array(y_out, (n,)).copy()
                answer = self.maps[index](xs, ys)
                try:
                    xi, yi = answer
                except (TypeError, ValueError):
                    raise TypeError(f"the mapping of input {index} must return a pair (x_in, y_in), not "
                                    f"{type(answer).__name__}") from None
                xi, yi = _coordinates("x_in", xi, n), _coordinates("y_in", yi, n)
                np.ctypeslib.as_array(x_in, (n,))[...] = xi
                np.ctypeslib.as_array(y_in, (n,))[...] = yi
                return 0
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                self.record((0, int(index)), exc)
                return -1
            finally:
                self.leave()

        return call

    def _tile_call(self, fn: TileFn, width: int) -> Callable[..., int]:
        if not callable(fn):
            raise TypeError(f"tile must be callable, not {type(fn).__name__}")

        def call(_user_data: Any, row0: int, rows: int, image: Any, footprint: Any) -> int:
            if self.fatal is not None or self.errors:
                return 1
            self.enter()
            try:
                pixels = np.ctypeslib.as_array(image, (rows, width)).copy() if rows > 0 and image else \
                    np.empty((max(rows, 0), width), _FLOAT32)
                weights = np.ctypeslib.as_array(footprint, (rows, width)).copy() if rows > 0 and footprint else None
                return _callback_code(fn(int(row0), pixels, weights))
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                self.record((1, int(row0)), exc, int(row0), int(row0 + rows))
                return -1
            finally:
                self.leave()

        return call

    def dispose(self) -> None:
        super().dispose()
        self.inputs = self.input_array = self.maps = self.map_callback = self.tile_callback = None

    def _outcome(self, error: Optional[Error]) -> Optional[RunReport]:
        self.release()
        report = self.run_report()
        if self.fatal is not None:
            raise self.fatal
        if self.errors:
            kind, key = min(self.errors)
            exc = self.errors[(kind, key)][0]
            what = f"the mapping of input {key}" if kind == 0 else f"the tile function (rows from {key})"
            if error is None:  # the library did not see the failure (it cannot happen): report it all the same
                error = TaskError(f"{self.name}: {what} raised {_describe(exc)}")
            error.report = report
            if hasattr(error, "add_note"):
                error.add_note(f"{what} raised {_describe(exc)}")
            raise error from exc
        if self.progress_error is not None:
            raise self.progress_error
        self.raise_status(error, report)
        return report


# ---------------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------------

def coadd(inputs: Iterable[Any], shape_out: Optional[Sequence[int]] = None, output_wcs: Any = None, *,
          interpolation: str = "bilinear", combine: str = "mean", weights: Optional[Sequence[float]] = None,
          input_weights: Optional[Sequence[Any]] = None, backgrounds: Optional[Sequence[float]] = None,
          device: str = "auto", tile: Optional[TileFn] = None, runtime: Optional[Runtime] = None,
          progress: Optional[Callable[[Progress], Any]] = None, cancel: Optional[CancelToken] = None,
          workers: Optional[int] = None, progress_interval_ms: int = 200, memory_budget_bytes: int = 0,
          name: Optional[str] = None, return_info: bool = False) -> Any:
    """Resamples the inputs onto one output grid and combines them (plx_coadd), as reproject's
    ``reproject_and_coadd(..., reproject_function=reproject_interp)`` does (see the module's notes).

    :param inputs: a sequence (or iterator) of pairs ``(array, mapping)``, or image HDUs (their data and header).
        ``array`` is a 2-D image of real numbers (NaN: missing; masked pixels too); ``mapping`` an astropy WCS or
        Header, a FITS header string, a 2 x 3 affine or 3 x 3 homography matrix, or a callable
        ``f(x_out, y_out) -> (x_in, y_in)`` (see the module's notes).
    :param shape_out: the output's (rows, columns); default: NAXIS2, NAXIS1 of ``output_wcs`` (a header, or a WCS
        made from one). Required without them.
    :param output_wcs: the output grid's astropy WCS, Header or header text; required when an input has a WCS
        mapping (matrices and callables ignore it).
    :param interpolation: "bilinear" (default; scipy order 1), "nearest" (order 0; "nearest-neighbor" too),
        "bicubic" (Keys' cubic convolution, a = -0.5) or "lanczos3" (the normalised 6 x 6 Lanczos kernel).
    :param combine: "mean" (default), "sum", "min", "max", "median" (unweighted; of an even count the mean of the
        middle two), "first" or "last" (in input order).
    :param weights: a scalar weight per input (finite; default 1).
    :param input_weights: a pixel weight map per input (None for none), of the input's shape, interpolated like the
        data; as in reproject, a map holding any NaN has NaN replaced by 0 (and +-inf by the largest float).
    :param backgrounds: a value per input subtracted from its pixels (finite; default 0).
    :param device: "auto" (default), "cpu" or "gpu".
    :param tile: instead of returning the image: ``tile(row0, image, footprint)`` receives each finished tile of
        output rows [row0, row0 + len(image)) x all columns (float32 copies, yours to keep), one at a time, in no
        particular order; return None or 0, anything else (or raising) stops the call. The output may then be
        larger than memory; :func:`coadd` returns ``(None, None)``.
    :param runtime: the :class:`Runtime` to run on; None = :func:`parallax.stack.default_runtime`.
    :param progress: called with a :class:`Progress` (items = output rows); returning True (or a non-zero int)
        cancels the call.
    :param cancel: a :class:`CancelToken` that stops the call.
    :param workers: CPU workers; None (default) = the plan's.
    :param progress_interval_ms: minimum milliseconds between progress calls (default 200).
    :param memory_budget_bytes: memory the call may hold for output tiles; 0 = the runtime's.
    :param name: for log lines and messages (default "coadd").
    :param return_info: also return a :class:`CoaddInfo`.
    :returns: ``(image, footprint)``, float32 arrays of ``shape_out`` (``(None, None)`` with ``tile``), then the
        :class:`CoaddInfo` with ``return_info``.
    :raises InvalidArgumentError: an input of the wrong shape or dtype, an unknown option name (the message lists the
        valid ones), or a value the library refuses (a NaN matrix, a header wcslib cannot read: its message names the
        field and the input).
    :raises UnsupportedError: celestial frames the library cannot relate, a WCS with lookup-table distortions.
    :raises TaskError: a mapping or tile function raised (its ``__cause__``) or returned non-zero.
    :raises CancelledError: the token or the progress callback cancelled the call.
    """
    rt = _runtime(runtime)
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise InvalidArgumentError(f"inputs must be a sequence of (array, mapping) pairs, got {type(inputs).__name__}")
    pairs = [_pair(i, item) for i, item in enumerate(inputs)]
    n = len(pairs)
    if n == 0:
        raise InvalidArgumentError("inputs is empty: co-addition needs at least one (array, mapping) pair")
    scalar_weights = _per_input("weights", weights, n, 1.0)
    pixel_weights = _per_input("input_weights", input_weights, n, None)
    offsets = _per_input("backgrounds", backgrounds, n, 0.0)
    items = [_Input(i, data, mapping, pixel_weights[i], scalar_weights[i], offsets[i])
             for i, (data, mapping) in enumerate(pairs)]

    output_header, header_shape = None, None
    if output_wcs is not None:
        parsed = _header_of("output_wcs", output_wcs)
        if parsed is None:
            raise InvalidArgumentError(f"output_wcs must be an astropy WCS or Header, or a FITS header string; got "
                                       f"{type(output_wcs).__name__}")
        output_header, header_shape = parsed
    if shape_out is not None:
        shape = _shape(shape_out)
    elif header_shape is not None:
        shape = header_shape
    else:
        raise InvalidArgumentError("shape_out is needed: " + ("output_wcs has no NAXIS1 and NAXIS2" if output_wcs
                                                              is not None else "give shape_out=(rows, columns)"))
    wcs_inputs = [i for i, item in enumerate(items) if item.mapping == _abi.PLX_MAPPING_WCS]
    if wcs_inputs and output_header is None:
        raise InvalidArgumentError(f"inputs[{wcs_inputs[0]}] has a WCS mapping: give output_wcs, the output grid's "
                                   "WCS or header")

    run = _CoaddRun(rt, items, shape, output_header, interpolation=interpolation, combine=combine, device=device,
                    tile=tile, workers=workers, progress=progress, progress_interval_ms=progress_interval_ms,
                    memory_budget_bytes=memory_budget_bytes, name=name)
    image = footprint = None
    if tile is None:
        image = np.empty(shape, _FLOAT32)
        footprint = np.empty(shape, _FLOAT32)
    result = _abi.plx_coadd_result_t()
    lib.plx_coadd_result_init(byref(result), sizeof(result))
    result.image = None if image is None else image.ctypes.data
    result.footprint = None if footprint is None else footprint.ctypes.data
    try:
        run.borrow(None, cancel)
        with rt._use("coadd") as handle, running():
            error = _call(lib.plx_coadd, handle, byref(run.desc), byref(result))
    finally:
        run.release()
    report = run.outcome(error)
    copied = sum(item.copied for item in items)
    del items, pairs  # alive until here: the library read them during the call
    if not return_info:
        return image, footprint
    info = CoaddInfo(covered=result.covered, samples=result.samples, tile_rows=result.tile_rows, tiles=result.tiles,
                     device_index=None if result.device_index < 0 else result.device_index, workers=result.workers,
                     native_wcs=result.native_wcs, grid_wcs=result.grid_wcs, seconds=result.seconds,
                     copied_inputs=copied, report=report)
    return image, footprint, info


# ---------------------------------------------------------------------------------------------------------------
# reproject's function
# ---------------------------------------------------------------------------------------------------------------

#: reproject's names of scipy's spline orders.
_REPROJECT_ORDERS = {"nearest-neighbor": 0, "bilinear": 1, "biquadratic": 2, "bicubic": 3}
#: reproject_interp's keywords that change nothing here.
_IGNORED_KWARGS = ("roundtrip_coords", "parallel", "block_size")


def _astropy_io() -> Any:
    try:
        from astropy.io import fits
    except ImportError as exc:  # pragma: no cover - Debian's python3-astropy is a test dependency
        raise ImportError("parallax.reproject_and_coadd reads FITS files, HDUs and headers with astropy, which is "
                          "not installed") from exc
    return fits


def _member(hdus: Any, hdu: Any, keyword: str) -> Any:
    if hdu is None:
        if len(hdus) > 1:
            raise InvalidArgumentError(f"More than one HDU is present, please specify HDU to use with ``{keyword}=`` "
                                       "option")
        hdu = 0
    return hdus[hdu]


def _image_hdu(fits: Any, value: Any) -> bool:
    return isinstance(value, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU))


def _reproject_data(where: str, item: Any, hdu_in: Any) -> Tuple[Any, Any]:
    """One of reproject's ``input_data`` items as (data, mapping); headers travel as their own cards."""
    fits = _astropy_io()
    if isinstance(item, str):
        with fits.open(item) as hdus:
            hdu = _member(hdus, hdu_in, "hdu_in")
            return np.array(hdu.data), hdu.header.copy()
    if isinstance(item, fits.HDUList):
        hdu = _member(item, hdu_in, "hdu_in")
        return hdu.data, hdu.header
    if _image_hdu(fits, item):
        return item.data, item.header
    if isinstance(item, tuple) and len(item) == 2:
        return item
    nddata = sys.modules.get("astropy.nddata")
    if nddata is not None and isinstance(item, nddata.NDDataBase):
        return item.data, item.wcs
    raise TypeError(f"{where}: input_data should either be an HDU object or a tuple of (array, WCS) or (array, "
                    f"Header), not {type(item).__name__}")


def _reproject_weights(where: str, item: Any, hdu_weights: Any) -> Any:
    fits = _astropy_io()
    if isinstance(item, str):
        with fits.open(item) as hdus:
            return np.array(_member(hdus, hdu_weights, "hdu_weights").data)
    if isinstance(item, fits.HDUList):
        return _member(item, hdu_weights, "hdu_weights").data
    if _image_hdu(fits, item):
        return item.data
    if isinstance(item, np.ndarray):
        return item
    raise TypeError(f"{where}: input_weights should either be an HDU object or a Numpy array, not "
                    f"{type(item).__name__}")


def _reproject_output(output_projection: Any, shape_out: Any) -> Tuple[Any, Any]:
    """(projection, shape) as reproject's parse_output_projection finds them: a header's NAXISn win over shape_out;
    a WCS needs shape_out; a string is a FITS file, whose first HDU gives both."""
    fits = _astropy_io()
    if isinstance(output_projection, fits.Header):
        try:
            shape = [output_projection[f"NAXIS{i + 1}"] for i in range(output_projection["NAXIS"])][::-1]
        except KeyError:
            if shape_out is None:
                raise InvalidArgumentError("Need to specify shape since output header does not contain complete shape "
                                           "information") from None
            shape = shape_out
        return output_projection, shape
    if isinstance(output_projection, str):
        with fits.open(output_projection) as hdus:
            return hdus[0].header.copy(), hdus[0].data.shape
    if _astropy_wcs(output_projection) is not None or _is_other_wcs(output_projection):
        if shape_out is None:
            raise InvalidArgumentError("Need to specify shape_out when specifying output_projection as WCS object")
        return output_projection, shape_out
    raise TypeError("output_projection should either be a Header, a WCS object, or a filename")


def reproject_and_coadd(input_data: Sequence[Any], output_projection: Any, shape_out: Optional[Sequence[int]] = None,
                        input_weights: Optional[Sequence[Any]] = None, hdu_in: Any = None,
                        reproject_function: Optional[Callable[..., Any]] = None, hdu_weights: Any = None,
                        combine_function: str = "mean", match_background: bool = False,
                        background_reference: Optional[int] = None, *, order: Union[str, int] = "bilinear",
                        runtime: Optional[Runtime] = None, device: str = "auto",
                        **kwargs: Any) -> Tuple[np.ndarray, np.ndarray]:
    """A drop-in for ``reproject.mosaicking.reproject_and_coadd(input_data, output_projection, shape_out,
    input_weights, ..., reproject_function=reproject_interp, combine_function=..., order=...)`` (reproject 0.10),
    through :func:`coadd`: the same arguments, the same results (to 1e-6 relative, float32 precision: the data are
    read as float32), returned as float64 ``(array, footprint)`` like reproject's.

    :param input_data: a sequence of FITS file names, HDULists (``hdu_in`` picks the HDU), image HDUs, NDData, or
        ``(array, WCS)`` / ``(array, Header)`` pairs (also a header string or any :func:`coadd` mapping).
    :param output_projection: a Header (its NAXISn give the shape and win over ``shape_out``), a WCS (with
        ``shape_out``) or the name of a FITS file (its first HDU's header and data shape).
    :param input_weights: pixel weight maps, one per input: file names, HDULists (``hdu_weights``), image HDUs or
        arrays. A map holding any NaN has NaN replaced by 0 (numpy's nan_to_num), as reproject does.
    :param reproject_function: None or ``reproject.reproject_interp``: the only resampling implemented.
    :param combine_function: "mean" (default), "sum", or what reproject 0.10 lacks: "median", "min", "max",
        "first", "last" (NaN where no input contributes; newer reproject fills those pixels with 0).
    :param match_background: only False: background matching is not implemented (reproject's own is random).
    :param order: "nearest-neighbor" (or 0) or "bilinear" (default, or 1); reproject's spline orders 2 and 3 are
        refused (:func:`coadd` offers Keys' bicubic and Lanczos-3, which are different kernels).
    :param runtime: the :class:`Runtime`; None = the default runtime.
    :param device: "auto" (default), "cpu" or "gpu".
    :param kwargs: reproject_interp's ``roundtrip_coords``, ``parallel`` and ``block_size``, accepted and ignored.
    :returns: ``(array, footprint)``, float64 of the output shape: the combined image (NaN where nothing
        contributes; 0 for "sum") and the summed weights.
    """
    unknown = sorted(set(kwargs) - set(_IGNORED_KWARGS))
    if unknown:
        raise TypeError(f"reproject_and_coadd() got unexpected keyword arguments: {', '.join(unknown)} (parallax "
                        f"implements reproject_interp's order, {', '.join(_IGNORED_KWARGS)})")
    if not isinstance(combine_function, str) or combine_function not in _abi.COADD_COMBINES:
        raise InvalidArgumentError(f"combine_function should be one of {'/'.join(_abi.COADD_COMBINES)}, got "
                                   f"{combine_function!r}")
    if reproject_function is not None and getattr(reproject_function, "__name__", None) != "reproject_interp":
        raise UnsupportedError(f"reproject_function={getattr(reproject_function, '__name__', reproject_function)}: "
                               "parallax implements reproject_interp only")
    if match_background or background_reference is not None:
        raise UnsupportedError("match_background: background matching is not implemented by parallax (give each "
                               "input's offset to parallax.coadd(backgrounds=...) instead)")
    if isinstance(order, str):
        if order not in _REPROJECT_ORDERS:
            raise InvalidArgumentError(f"order must be one of {', '.join(map(repr, _REPROJECT_ORDERS))} or 0 / 1, got "
                                       f"{order!r}")
        level = _REPROJECT_ORDERS[order]
    else:
        level = _args.integer("order", order, 32)
    if level not in (0, 1):
        raise UnsupportedError(f"order={order!r}: reproject's orders 2 and 3 are scipy B-splines, which parallax does "
                               "not implement (parallax.coadd has interpolation='bicubic' (Keys) and 'lanczos3')")
    projection, shape = _reproject_output(output_projection, shape_out)
    pairs = [_reproject_data(f"input_data[{i}]", item, hdu_in) for i, item in enumerate(input_data)]
    weights = None
    if input_weights is not None:
        if len(input_weights) != len(pairs):
            raise InvalidArgumentError(f"input_weights has {len(input_weights)} items for {len(pairs)} inputs")
        weights = [_reproject_weights(f"input_weights[{i}]", item, hdu_weights) for i, item in enumerate(input_weights)]
    image, footprint = coadd(pairs, shape, projection, interpolation="nearest" if level == 0 else "bilinear",
                             combine=combine_function, input_weights=weights, runtime=runtime, device=device,
                             name="reproject_and_coadd")
    return image.astype(np.float64), footprint.astype(np.float64)
