"""Turns Python arguments into the C values the structs hold, refusing what
ctypes would silently truncate or misread (out-of-range integers, NUL bytes,
unknown names) with an InvalidArgumentError that names the argument."""
from __future__ import annotations

import json
import operator
import os
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


def real_array(where: str, value: Any, purpose: str) -> Tuple[np.ndarray, bool]:
    """``value`` as an ndarray of real numbers (masked samples become NaN), and whether that made a copy."""
    if np.ma.isMaskedArray(value):
        check_real_dtype(where, value.dtype, purpose)
        return value.astype(FLOAT32).filled(np.nan), True
    array = np.asarray(value)
    check_real_dtype(where, array.dtype, purpose)
    return array, False


def integer(field: str, value: Any, bits: int) -> int:
    number = operator.index(value)  # TypeError for floats and strings, as Python does
    if not -(1 << (bits - 1)) <= number < 1 << (bits - 1):
        raise InvalidArgumentError(f"{field} = {number} does not fit the C field (int{bits})")
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
