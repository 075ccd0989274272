"""Turns Python arguments into the C values the structs hold, refusing what
ctypes would silently truncate or misread (out-of-range integers, NUL bytes,
unknown names) with an InvalidArgumentError that names the argument."""
from __future__ import annotations

import json
import math
import numbers
import operator
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .errors import InvalidArgumentError

FLOAT32 = np.dtype(np.float32)
REAL_KINDS = "biuf"  # bool, ints, floats: read as float32


def check_real_dtype(where: str, dtype: np.dtype, purpose: str) -> None:
    """Refuses complex, object, text, structured... arrays: `purpose` (e.g. "stacking") needs real numbers."""
    if dtype.kind not in REAL_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        hint = " (take .real, .imag or abs() first)" if dtype.kind == "c" else ""
        raise InvalidArgumentError(f"{where} has dtype {dtype}: {purpose} needs real numbers (bool, integer or "
                                   f"floating point), which are read as float32{hint}")


def masked_parts(value: Any) -> Tuple[Any, Any]:
    """``value``'s data and its mask (True = masked; None when it carries none): a numpy masked array, an astropy
    ``Masked`` array or an astropy ``NDData`` (``CCDData``) with a mask; anything else is its own data. Astropy's
    classes are looked up only when astropy has been imported: before that, no instance of them can exist."""
    if np.ma.isMaskedArray(value):
        mask = np.ma.getmask(value)
        return np.ma.getdata(value), None if mask is np.ma.nomask else mask
    masked = sys.modules.get("astropy.utils.masked")
    if masked is not None and isinstance(value, masked.Masked):
        return value.unmasked, value.mask
    nddata = sys.modules.get("astropy.nddata")
    if nddata is not None and isinstance(value, nddata.NDData):
        return value.data, value.mask
    return value, None


def real_parts(where: str, value: Any, purpose: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``value`` as an ndarray of real numbers, not copied, and a boolean array of its shape marking its masked
    samples (see :func:`masked_parts`), or None when none is masked."""
    data, mask = masked_parts(value)
    array = np.asarray(data)
    check_real_dtype(where, array.dtype, purpose)
    if mask is None:
        return array, None
    mask = np.asarray(mask, dtype=bool)
    try:
        mask = np.broadcast_to(mask, array.shape)
    except ValueError:
        raise InvalidArgumentError(f"{where} has a mask of shape {mask.shape} for data of shape {array.shape}") \
            from None
    return array, mask if mask.any() else None


def real_array(where: str, value: Any, purpose: str) -> Tuple[np.ndarray, bool]:
    """``value`` as an ndarray of real numbers (masked samples become NaN: see :func:`masked_parts`), and whether
    that made a copy."""
    array, mask = real_parts(where, value, purpose)
    if mask is None:
        return array, False
    filled = array.astype(FLOAT32)
    filled[mask] = np.nan
    return filled, True


def integer(field: str, value: Any, bits: int) -> int:
    try:
        number = operator.index(value)  # floats and strings are refused, as Python's own int arguments do
    except TypeError:
        raise TypeError(f"{field} must be an integer, not {type(value).__name__}") from None
    if not -(1 << (bits - 1)) <= number < 1 << (bits - 1):
        raise InvalidArgumentError(f"{field} = {number} does not fit the C field (int{bits})")
    return number


def real(field: str, value: Any) -> float:
    """A real number as a float: a Python or numpy number, or a 0-d numpy array of one (what numpy reductions
    return); bools count, as they do for Python."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in REAL_KINDS:
        value = value.item()
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field} must be a real number, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise InvalidArgumentError(f"{field} is beyond the range of a double") from None


def sigma(field: str, value: Any) -> float:
    """A clipping bound in standard deviations: finite and >= 0."""
    number = real(field, value)
    if not (math.isfinite(number) and number >= 0):
        raise InvalidArgumentError(f"{field} = {number}: a clipping bound is a number of standard deviations, "
                                   "finite and >= 0")
    return number


def choice(field: str, value: Any, names: Dict[str, int]) -> int:
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    raise InvalidArgumentError(f"{field} must be one of {', '.join(map(repr, names))}, got {value!r}")


def mask(field: str, values: Iterable, names: Dict[str, int]) -> int:
    """OR of the named bits; refuses an empty set, which the C API would read as "the default"."""
    bits = 0
    for value in [values] if isinstance(values, str) else values:
        bits |= choice(field, value, names)
    if not bits:
        raise InvalidArgumentError(f"{field} is empty: name at least one of {', '.join(map(repr, names))}, "
                                   "or pass None for the default")
    return bits


def _nul_free(field: str, data: bytes) -> bytes:
    if b"\0" in data:
        raise InvalidArgumentError(f"{field} contains a NUL character")
    return data


def text(field: str, value: Optional[str]) -> Optional[bytes]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{field} must be a str, not {type(value).__name__}")
    return None if value is None else _nul_free(field, value.encode("utf-8"))


def path(field: str, value: Any) -> Optional[bytes]:
    return None if value is None else _nul_free(field, os.fsencode(value))


def profile(value: Any) -> Optional[bytes]:
    """A machine profile: a mapping (sent as JSON text), str (JSON text or a path: the library decides by the
    leading '{'), or an os.PathLike / bytes path."""
    if isinstance(value, Mapping):
        return text("machine_profile", json.dumps(value))
    if isinstance(value, os.PathLike):
        # Always a path: "./" keeps a name starting with '{' or a blank from being taken for JSON or trimmed.
        value = os.fsencode(value)
        value = value if os.path.isabs(value) else os.path.join(os.fsencode(os.curdir), value)
    return path("machine_profile", value)
