"""Input checks for the risk metrics and protocols: the one place arrays are validated.

A parameter that breaks its rule, or an array whose length differs from its reference, raises
:class:`~fintwin.exceptions.ParameterError`; values that cannot give a result (a label other
than 0/1, a NaN score, a single class) raise :class:`~fintwin.exceptions.DataError`. Every
message names the argument, the rule and the value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fintwin.exceptions import DataError, ParameterError

MS_PER_DAY = 86_400_000


def as_1d(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a 1-D array."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional (got shape {array.shape})")
    return array


def same_length(reference: str, n: int, **arrays: np.ndarray) -> None:
    """Refuse an array whose length is not ``n``, the length of ``reference``."""
    for name, array in arrays.items():
        if array.shape[0] != n:
            raise ParameterError(
                f"{name} must hold one value per event, as {reference} does "
                f"(got {array.shape[0]} values, expected {n})"
            )


def as_labels(name: str, values: ArrayLike) -> np.ndarray:
    """0/1 or boolean labels as a boolean array."""
    array = as_1d(name, values)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise DataError(f"{name} must hold 0/1 or boolean labels (got dtype {array.dtype})")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        raise DataError(f"{name} must hold 0/1 or boolean labels (got {array[bad][0].item()!r})")
    return array.astype(bool)


def as_finite(name: str, values: ArrayLike) -> np.ndarray:
    """Finite floats (scores, amounts, seconds)."""
    array = as_1d(name, values)
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must hold numbers (got dtype {array.dtype})") from None
    if not np.isfinite(array).all():
        first = int(np.flatnonzero(~np.isfinite(array))[0])
        raise DataError(f"{name} must be finite (got {array[first]} at position {first})")
    return array


def as_probabilities(name: str, values: ArrayLike) -> np.ndarray:
    """Finite floats in [0, 1] (probabilities, rates)."""
    array = as_finite(name, values)
    outside = (array < 0) | (array > 1)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise DataError(f"{name} must be in [0, 1] (got {array[first]} at position {first})")
    return array


def as_integers(name: str, values: ArrayLike) -> np.ndarray:
    """Whole numbers as int64."""
    array = as_1d(name, values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.floor(array)).all():
        return array.astype(np.int64)
    raise DataError(f"{name} must hold whole numbers (got dtype {array.dtype})")


def check_rate(name: str, value: float) -> None:
    """Refuse a rate outside (0, 1]."""
    if isinstance(value, bool) or not 0.0 < value <= 1.0:
        raise ParameterError(f"{name} must be in (0, 1] (got {value!r})")


def check_count(name: str, value: int) -> None:
    """Refuse anything but a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(f"{name} must be a positive integer (got {value!r})")


def both_classes(metric: str, y: np.ndarray) -> None:
    """Refuse labels holding a single class."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "frauds" if n_pos else "genuine events"
        raise DataError(f"y_true must hold both classes to compute {metric} (got only {only})")


def labels_and_scores(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of equal length."""
    y = as_labels("y_true", y_true)
    s = as_finite("score", score)
    same_length("y_true", y.size, score=s)
    return y, s


def as_ms(name: str, values: ArrayLike) -> np.ndarray:
    """Timestamps (datetime64, Arrow timestamps or integer ms since 1970) as int64 ms."""
    array = as_1d(name, values)
    if array.dtype.kind == "M":
        if np.isnat(array).any():
            first = int(np.flatnonzero(np.isnat(array))[0])
            raise DataError(f"{name} must hold no missing timestamp (got NaT at position {first})")
        return array.astype("datetime64[ms]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    raise DataError(
        f"{name} must hold timestamps or integer milliseconds since 1970 (got dtype {array.dtype})"
    )


def scalar_ms(name: str, value: object) -> int:
    """One timestamp (date, datetime, datetime64, ISO string or integer ms) as int ms."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a timestamp or integer milliseconds (got {value!r})")
    if isinstance(value, int | np.integer):
        return int(value)
    try:
        stamp = np.datetime64(value, "ms")
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be a timestamp or integer milliseconds (got {value!r})"
        ) from None
    if np.isnat(stamp):
        raise ParameterError(f"{name} must be a timestamp (got {value!r})")
    return int(stamp.astype(np.int64))


def check_days(name: str, value: int, minimum: int) -> None:
    """Refuse a day count that is not an integer of at least ``minimum`` (0 or 1)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        rule = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ParameterError(f"{name} must be {rule} (got {value!r})")
