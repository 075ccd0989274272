"""A drop-in for ``ccdproc.Combiner`` (ccdproc 2.4): ``from parallax.compat.ccdproc import Combiner``.

>>> c = Combiner([ccd1, ccd2, ccd3, ...])          # CCDData, or 2-D arrays / masked arrays
>>> c.sigma_clipping(low_thresh=3, high_thresh=3, func="median")
>>> image = c.average_combine()                   # CCDData (data, mask, uncertainty, NCOMBINE) as ccdproc's

Semantics are ccdproc's, quirks included (each checked against ccdproc in the tests):

- ``sigma_clipping`` is ONE pass by default (astropy's ``sigma_clip`` with ``maxiters=1``): centre ``func`` ("mean",
  the default, or "median") and spread ``dev_func`` ("std": population standard deviation, or "mad_std") of every
  finite sample, clipping samples strictly outside [centre - low_thresh x spread, centre + high_thresh x spread].
  It works on the raw data and REPLACES the mask: masks given with the frames, and earlier clippings, are
  forgotten (NaN and +-inf stay masked). ``None`` thresholds mean astropy's ``sigma`` (3). ``maxiters=`` (which
  ccdproc 2.4 refuses with a TypeError) is honoured here: iterate as astropy does.
- ``clip_extrema(nlow, nhigh)`` masks the nlow lowest and nhigh highest samples of each pixel ranked over ALL
  samples, masked or NaN ones included (NaN ranks highest), as ccdproc's argsort does.
- ``minmax_clipping(min_clip, max_clip)`` masks samples below / above the thresholds; it adds to the mask.
- ``scaling`` (per-frame factors or a function of each frame) multiplies the data at combine time, after the
  rejection (which saw the unscaled data); ``scale_to`` overrides it for one combine.
- ``average_combine`` with ``weights``: sum(w x over kept samples) / sum(w over ALL samples) (ccdproc divides by the
  sum of every weight, masked samples included); ``sum_combine`` with weights: sum(w x) over kept samples;
  ``median_combine`` ignores weights. NaN samples count as masked. A pixel is masked in the result when every
  sample was masked (NaN there, 0 for sums).

What runs where:

- Parallax (:func:`parallax.stack`, C++ over all CPUs or an OpenCL device): the mean, median and sum of the kept
  samples (also weighted: the products w x are summed), whenever the data to combine are free of +-inf (Parallax
  always rejects infinities, ccdproc's nan-functions keep them) and fit float32; and, fused into the same call,
  a pending rejection when no per-sample mask is needed afterwards (no uncertainty asked — ``uncertainty_func=None``
  — or inputs that are plain arrays, whose result is a masked array without uncertainty; no weights, no scaling;
  ``data_arr`` not read in between):

  * ``clip_extrema`` + combine = Parallax's "minmax" rejection (n_low, n_high) — exact when no sample is masked
    or non-finite (ccdproc ranks those too), N >= 3 and nlow + nhigh < N;
  * ``sigma_clipping`` + combine = Parallax's "sigma_clip" rejection (centre mean or median, std, max_iters) —
    exact for func "mean"/"median", dev_func "std" and both thresholds > 1 (Parallax does not clip pixels with
    fewer than 3 finite samples; with thresholds > 1 astropy never clips those either).

- numpy / astropy (the very functions ccdproc calls, so results are identical): the per-sample masks when they are
  needed (``data_arr`` read, another clipping after, uncertainty asked), every rejection outside the cases above
  (``mad_std``, callables, thresholds <= 1, other sigma_clip keywords, masked or NaN samples before clip_extrema),
  the uncertainties (std, or 1.4826 x MAD for the median: ccdproc's sigma_func), user-supplied ``scale_func``,
  ``median_func`` or ``sum_func``, and data holding +-inf.

Precision: Parallax reads samples as float32 and computes in double, returning float32: results agree with
ccdproc's float64 to ~1e-7 relative (a sum whose terms cancel loses more); a sample within float32 rounding of a
sigma-clipping bound may be decided differently.

Results: :class:`astropy.nddata.CCDData` (data of the Combiner's dtype, mask, StdDevUncertainty, unit,
``meta["NCOMBINE"]``) when the frames carry a unit, as ccdproc's; for plain arrays (which ccdproc refuses) a
``numpy.ma.MaskedArray`` of the combined pixels masked where every sample was.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np
from numpy import ma

from ..errors import InvalidArgumentError
from ..runtime import Runtime

__all__ = ["Combiner"]

_DEFAULT = object()  #: stands for ccdproc's default function of an argument
_FLT_MAX = float(np.finfo(np.float32).max)
_SIGMA_KEYS = {"maxiters", "sigma", "use_astropy"}


def _nanfuncs():
    """ccdproc's defaults: bottleneck's nan-functions when installed, else numpy's."""
    try:
        import bottleneck as bn
    except ImportError:
        return np.nanmean, np.nanmedian, np.nansum, np.nanstd
    return bn.nanmean, bn.nanmedian, bn.nansum, bn.nanstd


def _sigma_func(data: np.ndarray) -> np.ndarray:
    """ccdproc.sigma_func(data, axis=0, ignore_nan=True): 1.482602218505602 x the median absolute deviation."""
    from astropy.stats import median_absolute_deviation

    return median_absolute_deviation(data, axis=0, ignore_nan=True) * 1.482602218505602


def _unpack(index: int, item: Any):
    """(data, mask or None, unit or None) of one frame."""
    if np.ma.isMaskedArray(item):
        return np.asarray(item.data), np.ma.getmaskarray(item), None
    if isinstance(item, np.ndarray):
        return item, None, None
    if hasattr(item, "data"):
        mask = getattr(item, "mask", None)
        return np.asarray(item.data), None if mask is None else np.asarray(mask, bool), getattr(item, "unit", None)
    try:
        return np.asarray(item), None, None
    except Exception as exc:  # pragma: no cover - exotic objects
        raise InvalidArgumentError(f"ccd_iter[{index}] is a {type(item).__name__}: give a 2-D array, a masked array "
                                   "or a CCDData-like object with .data and an optional .mask") from exc


class Combiner:
    """ccdproc's Combiner over Parallax (see the module's notes for the semantics and what runs where).

    :param ccd_iter: a list or generator of frames of one shape: CCDData-like objects (``.data``, optional ``.mask``
        and ``.unit``, units equal), numpy arrays or masked arrays.
    :param dtype: the dtype of ``data_arr`` and of the results; None = float64 (as ccdproc).
    :param runtime: the :class:`parallax.Runtime` the combines run on; None = the default runtime.
    :raises InvalidArgumentError: (a ValueError) no frame, frames of different shapes or units, a frame that is not
        2-D, a mask of the wrong shape, complex or non-numeric data.
    :raises TypeError: ``ccd_iter`` is None.
    """

    def __init__(self, ccd_iter: Optional[Iterable[Any]], dtype: Any = None, *,
                 runtime: Optional[Runtime] = None) -> None:
        if ccd_iter is None:
            raise TypeError("ccd_iter should be a list or a generator of CCDData objects or arrays.")
        self._dtype = np.dtype(np.float64 if dtype is None else dtype)
        frames = [_unpack(i, item) for i, item in enumerate(ccd_iter)]
        if not frames:
            raise InvalidArgumentError("Combiner: ccd_iter is empty: combining needs at least one frame")
        shape = frames[0][0].shape
        units = {str(unit) for _, _, unit in frames if unit is not None}
        for i, (data, mask, _) in enumerate(frames):
            if data.ndim != 2:
                raise InvalidArgumentError(f"Combiner: frame {i} has shape {data.shape}; frames are 2-D images")
            if data.shape != shape:
                raise InvalidArgumentError(f"Combiner: frame {i} has shape {data.shape} but frame 0 has {shape}: "
                                           "every frame needs the same shape")
            if mask is not None and mask.shape != shape:
                raise InvalidArgumentError(f"Combiner: the mask of frame {i} has shape {mask.shape}, its data {shape}")
            if data.dtype.kind not in "biuf":
                raise InvalidArgumentError(f"Combiner: frame {i} has dtype {data.dtype}; real numbers are expected")
        if len(units) > 1:
            raise InvalidArgumentError(f"Combiner: the frames have different units ({', '.join(sorted(units))})")
        self.unit = next((unit for _, _, unit in frames if unit is not None), None)
        self._runtime = runtime
        self.ccd_list = None  # ccdproc keeps its inputs; the data are copied into data_arr here
        arr = ma.masked_all((len(frames),) + shape, dtype=self._dtype)
        for i, (data, mask, _) in enumerate(frames):
            arr[i] = data
            arr.mask[i] = False if mask is None else mask
        self._arr = arr
        self._pending: Optional[tuple] = None  # a rejection not applied to the mask yet
        self.weights = None
        self.scaling = None

    # ---- ccdproc's attributes ----------------------------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def data_arr(self) -> ma.MaskedArray:
        """The frames as a masked array (N, H, W), with every clipping so far applied to its mask."""
        self._materialize()
        return self._arr

    @data_arr.setter
    def data_arr(self, value: Any) -> None:
        self._pending = None
        self._arr = ma.asarray(value)

    @property
    def weights(self) -> Optional[np.ndarray]:
        """Weights of the frames: None, an array of N weights, or one of the data's shape (N, H, W)."""
        return self._weights

    @weights.setter
    def weights(self, value: Any) -> None:
        if value is None:
            self._weights = None
            return
        if not isinstance(value, np.ndarray):
            raise TypeError("weights must be a numpy.ndarray.")
        shape = self._arr.shape
        if value.shape != shape:
            if value.ndim != 1:
                raise ValueError("1D weights expected when shapes of the data and weights differ.")
            if value.shape[0] != shape[0]:
                raise ValueError("Length of weights not compatible with specified axis.")
        self._weights = value

    @property
    def scaling(self) -> Optional[np.ndarray]:
        """Factors multiplying each frame at combine time: set to None, a sequence of N numbers, or a function of
        one frame (a masked array) returning its factor. Read back with shape (N, 1, 1)."""
        return self._scaling

    @scaling.setter
    def scaling(self, value: Any) -> None:
        if value is None:
            self._scaling = None
            return
        n = self._arr.shape[0]
        if callable(value):
            arr = self.data_arr
            scale = np.array([value(arr[i]) for i in range(n)])
        else:
            try:
                len(value)
            except TypeError:
                raise TypeError("scaling must be a function or an array the same length as the number of "
                                "images.") from None
            scale = np.array(value)
        self._scaling = scale.reshape(scale.shape + (1,) * (self._arr.ndim - 1))

    # ---- Rejection -------------------------------------------------------------------------------------------

    def clip_extrema(self, nlow: Optional[int] = 0, nhigh: Optional[int] = 0) -> None:
        """Masks the ``nlow`` lowest and ``nhigh`` highest samples of each pixel (IRAF's minmax), ranked over all
        samples, masked and NaN ones included (as ccdproc). Runs fused with the next combine in Parallax's "minmax"
        rejection when the module's conditions hold, else with numpy's argsort (ccdproc's code)."""
        nlow, nhigh = int(nlow or 0), int(nhigh or 0)
        self._materialize()
        if nlow or nhigh:
            self._pending = ("extrema", nlow, nhigh)

    def minmax_clipping(self, min_clip: Optional[float] = None, max_clip: Optional[float] = None) -> None:
        """Masks samples below ``min_clip`` or above ``max_clip`` (None: no bound); numpy, added to the mask."""
        arr = self.data_arr
        with np.errstate(invalid="ignore"):
            if min_clip is not None:
                arr.mask |= arr.data < min_clip
            if max_clip is not None:
                arr.mask |= arr.data > max_clip

    def sigma_clipping(self, low_thresh: Optional[float] = 3, high_thresh: Optional[float] = 3, func: Any = "mean",
                       dev_func: Any = "std", **kwd: Any) -> None:
        """ccdproc's sigma_clipping: astropy's ``sigma_clip(data, sigma_lower=low_thresh, sigma_upper=high_thresh,
        axis=0, maxiters=1, cenfunc=func, stdfunc=dev_func)`` on the raw data, whose mask REPLACES the current one
        (see the module's notes). ``kwd``: ``maxiters`` (default 1; None = until nothing changes) and the other
        keywords of astropy's sigma_clip (``sigma``, ``grow``). Runs fused with the next combine in Parallax's
        "sigma_clip" rejection when the module's conditions hold, else through astropy's sigma_clip."""
        kwd = dict(kwd)
        kwd.pop("use_astropy", None)
        for key in ("axis", "copy", "masked", "return_bounds"):
            if key in kwd:
                raise TypeError(f"sigma_clipping() does not take {key}=; it clips along the frames (axis 0)")
        self._pending = ("sigma", low_thresh, high_thresh, func, dev_func, kwd)  # the mask before does not count

    def _materialize(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        arr = self._arr
        if pending[0] == "extrema":
            _, nlow, nhigh = pending
            # ccdproc's code: rank the raw data (masked and NaN samples too) and mask the extremes.
            argsorted = np.argsort(arr.data, axis=0)
            mg = np.mgrid[[slice(ndim) for i, ndim in enumerate(arr.shape) if i > 0]]
            for i in range(-1 * nhigh, nlow):
                where = tuple([argsorted[i, :, :].ravel()] + [m.ravel() for m in mg])
                arr.mask[where] = True
        else:
            from astropy.stats import sigma_clip

            _, low, high, func, dev_func, kwd = pending
            kwd = dict(kwd)
            maxiters = kwd.pop("maxiters", 1)
            arr.mask = sigma_clip(arr.data, sigma_lower=low, sigma_upper=high, axis=0, copy=False,
                                  maxiters=maxiters, cenfunc=func, stdfunc=dev_func, masked=True, **kwd).mask

    def _fused_rejection(self) -> Optional[dict]:
        """parallax.stack's rejection options equal to the pending clipping, or None when not exactly equal."""
        pending = self._pending
        if pending is None:
            return {}
        arr, n = self._arr, self._arr.shape[0]
        if pending[0] == "extrema":
            _, nlow, nhigh = pending
            if n < 3 or nlow < 0 or nhigh < 0 or nlow + nhigh >= n or arr.mask.any():
                return None
            if not np.isfinite(arr.data).all():
                return None
            return dict(reject="minmax", n_low=nlow, n_high=nhigh)
        _, low, high, func, dev_func, kwd = pending
        if set(kwd) - {"maxiters", "sigma"} or dev_func != "std" or func not in ("mean", "median"):
            return None
        sigma = kwd.get("sigma", 3)
        low = sigma if low is None else low
        high = sigma if high is None else high
        maxiters = kwd.get("maxiters", 1)
        try:
            low, high = float(low), float(high)
        except (TypeError, ValueError):
            return None
        if not (low > 1 and high > 1) or not (maxiters is None or (isinstance(maxiters, int) and maxiters >= 1)):
            return None
        return dict(reject="sigma_clip", sigma_low=low, sigma_high=high, centre=func, max_iters=maxiters)

    # ---- Combining -------------------------------------------------------------------------------------------

    def _stack(self, data: np.ndarray, combine: str, **reject: Any):
        from ..stack import stack

        return stack(data, runtime=self._runtime, combine=combine, name="ccdproc.Combiner", **reject)

    @staticmethod
    def _parallax_ready(data: np.ndarray) -> bool:
        """Whether Parallax reads these samples as ccdproc's nan-functions do: no +-inf, nothing beyond float32."""
        if data.dtype.kind != "f":
            return False
        with np.errstate(invalid="ignore"):
            big = np.abs(data) > _FLT_MAX  # +-inf and float32 overflow; NaN compares False
        return not big.any()

    def _combine(self, mode: str, user_func: Any, scale_to: Any, uncertainty_func: Any, sum_func: Any) -> Any:
        n = self._arr.shape[0]
        scale = scale_to if scale_to is not None else self.scaling
        want_uncertainty = uncertainty_func is not None and self.unit is not None
        custom = user_func is not None or (sum_func is not _DEFAULT and self.weights is not None and mode != "median")
        if custom:
            return self._reference(mode, user_func, scale, uncertainty_func, sum_func)
        if not want_uncertainty and scale is None and self.weights is None and self._pending is not None:
            options = self._fused_rejection()
            if options is not None and self._parallax_ready(self._arr.data):
                r = self._stack(self._arr.data, "sum" if mode == "sum" else mode, **options)
                masked_values = n - r.count
                image = np.where(r.count == 0, 0.0, r.image) if mode == "sum" else r.image
                return self._result(image, masked_values, None)
        self._materialize()
        arr = self._arr
        data = arr * scale if scale is not None else arr
        data = np.ma.filled(data, fill_value=np.nan) if arr.mask.any() else np.asarray(data.data)
        if not self._parallax_ready(data):
            return self._reference(mode, None, scale, uncertainty_func, sum_func)
        if mode != "median" and self.weights is not None:
            weights = self.weights if self.weights.shape == data.shape else \
                self.weights.reshape(len(self.weights), 1, 1)
            weights = weights.astype("float64")
            products = data * weights
            if not self._parallax_ready(products):
                return self._reference(mode, None, scale, uncertainty_func, sum_func)
            r = self._stack(products, "sum")
            image = np.where(r.count == 0, 0.0, r.image.astype(np.float64))
            if mode == "mean":
                image = image / np.nansum(weights, axis=0)
            counts = self._stack(data, "sum").count if np.isnan(products).sum() != np.isnan(data).sum() else r.count
        else:
            r = self._stack(data, mode)
            image = np.where(r.count == 0, 0.0, r.image) if mode == "sum" else r.image
            counts = r.count
        masked_values = n - counts
        uncertainty = self._uncertainty(mode, data, masked_values, uncertainty_func) if want_uncertainty else None
        return self._result(image, masked_values, uncertainty)

    def _uncertainty(self, mode: str, data: np.ndarray, masked_values: np.ndarray, func: Any) -> np.ndarray:
        n = data.shape[0]
        if mode == "median":
            uncertainty = _sigma_func(data) if func is _DEFAULT else func(data, axis=0)
        else:
            uncertainty = (_nanfuncs()[3] if func is _DEFAULT else func)(data, axis=0)
        uncertainty = uncertainty / np.sqrt(n - masked_values)
        if mode == "sum":
            uncertainty = uncertainty * (n - masked_values)
        return np.asarray(uncertainty)

    def _reference(self, mode: str, user_func: Any, scale: Any, uncertainty_func: Any, sum_func: Any) -> Any:
        """ccdproc's own computation, in numpy (bottleneck when installed)."""
        self._materialize()
        arr = self._arr
        n = arr.shape[0]
        mean_f, median_f, sum_f, _ = _nanfuncs()
        data = arr * scale if scale is not None else arr
        if user_func is None:
            combo = {"mean": mean_f, "median": median_f, "sum": sum_f}[mode]
            data = np.ma.filled(data, fill_value=np.nan) if arr.mask.any() else data.data
            masked_values = np.isnan(data).sum(axis=0)
        else:
            combo = user_func
            masked_values = arr.mask.sum(axis=0)
        summer = sum_f if sum_func is _DEFAULT else sum_func
        if mode != "median" and self.weights is not None:
            weights = self.weights if self.weights.shape == data.shape else \
                self.weights.reshape(len(self.weights), 1, 1)
            weights = weights.astype("float64")
            image = summer(data * weights, axis=0)
            if mode == "mean":
                image = image / summer(weights, axis=0)
        else:
            image = combo(data, axis=0)
        want = uncertainty_func is not None and self.unit is not None
        uncertainty = self._uncertainty(mode, data, masked_values, uncertainty_func) if want else None
        return self._result(image, masked_values, uncertainty)

    def _result(self, image: Any, masked_values: np.ndarray, uncertainty: Optional[np.ndarray]) -> Any:
        n = self._arr.shape[0]
        mask = np.asarray(masked_values) == n
        data = np.asarray(image, dtype=self.dtype)
        if self.unit is None:
            return ma.MaskedArray(data, mask=mask)
        from astropy.nddata import CCDData, StdDevUncertainty

        result = CCDData(data, mask=mask, unit=self.unit,
                         uncertainty=None if uncertainty is None else StdDevUncertainty(uncertainty))
        result.meta["NCOMBINE"] = n
        return result

    def median_combine(self, median_func: Any = None, scale_to: Any = None, uncertainty_func: Any = _DEFAULT) -> Any:
        """The median of the kept samples of each pixel (of an even count: the mean of the two middle ones), as
        ccdproc's; uncertainty 1.482602218505602 x MAD of the kept samples / sqrt(kept) (``uncertainty_func=None``:
        none)."""
        return self._combine("median", median_func, scale_to, uncertainty_func, _DEFAULT)

    def average_combine(self, scale_func: Any = None, scale_to: Any = None, uncertainty_func: Any = _DEFAULT,
                        sum_func: Any = _DEFAULT) -> Any:
        """The mean of the kept samples (weighted as the module says), as ccdproc's; uncertainty std of the kept
        samples / sqrt(kept) (``uncertainty_func=None``: none)."""
        return self._combine("mean", scale_func, scale_to, uncertainty_func, sum_func)

    def sum_combine(self, sum_func: Any = None, scale_to: Any = None, uncertainty_func: Any = _DEFAULT) -> Any:
        """The sum of the kept samples (of w x with weights), 0 where none is kept, as ccdproc's; uncertainty std
        x sqrt(kept) (``uncertainty_func=None``: none)."""
        return self._combine("sum", sum_func, scale_to, uncertainty_func, _DEFAULT if sum_func is None else sum_func)
