"""Column parsers: a user's column (text from CSV, or typed from Parquet/pickle) to fintwin's
values, vectorised, with the first bad value reported by file, row and column.

Every parser takes the :class:`Source` and the column's name in the file, so its errors name what
the user sees. A failed Arrow cast is located by bisection on slices (the casts are elementwise),
which costs at most twice the cast itself.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers._read import Source
from fintwin.data.schemas import MONEY, money_to_minor

__all__ = [
    "first_failure",
    "parse_bool",
    "parse_codes",
    "parse_date_days",
    "parse_float",
    "parse_ids",
    "parse_int",
    "parse_money",
    "parse_text",
    "parse_timestamp",
]

#: What a date-time must look like, for messages.
TIMESTAMP_HINT = "an ISO 8601 date-time such as 2024-01-31 13:45:00 (or 2024-01-31T13:45:00Z)"
_WIDE = pa.decimal128(38, 20)
# MONEY holds 16 digits before the point.
_MAX_MINOR = 10**18 - 1
# A zone designator after a time of day (a date's own "-01" is not one).
_ZONE = r"\d\d:\d\d(?::\d\d(?:\.\d*)?)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_TRUE = ("1", "true")
_FALSE = ("0", "false")


def first_failure(arr: pa.Array, convert: Callable[[pa.Array], Any]) -> int | None:
    """Index of the first element on which ``convert`` raises ``ArrowInvalid`` (None: none does).

    ``convert`` must act element by element, so that a slice fails exactly when it holds a bad
    element.

    Examples
    --------
    >>> first_failure(pa.array(["1", "2", "x", "y"]), lambda a: a.cast(pa.int64()))
    2
    """
    try:
        convert(arr)
        return None
    except pa.ArrowInvalid:
        pass
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(arr.slice(lo, mid - lo))
        except pa.ArrowInvalid:
            hi = mid
        else:
            lo = mid
    return lo


def _checked(
    src: Source, column: str, arr: pa.Array, convert: Callable[[pa.Array], pa.Array], what: str
) -> pa.Array:
    try:
        return convert(arr)
    except pa.ArrowInvalid:
        i = first_failure(arr, convert)
        if i is None:  # pragma: no cover - convert is elementwise, so a failure has a culprit
            raise
        raise src.error(f"{arr[i].as_py()!r} is not {what}", index=i, column=column) from None


def _no_nulls(src: Source, column: str, arr: pa.Array) -> None:
    if arr.null_count:
        i = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise src.error("the value is missing (empty)", index=i, column=column)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _trim(arr: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(arr)


def _float_values(src: Source, column: str, arr: pa.Array) -> np.ndarray:
    values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.error(f"{values[i]!r} is not a finite number", index=i, column=column)
    return values


# ---- timestamps --------------------------------------------------------------------------------
def _text_to_ms(arr: pa.Array, zoned: bool) -> pa.Array:
    # Parse at microseconds (pandas writes up to 6 fractional digits), keep milliseconds.
    t = pa.timestamp("us", "UTC") if zoned else pa.timestamp("us")
    return arr.cast(t).cast(pa.timestamp("ms", t.tz), safe=False)


def parse_timestamp(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Milliseconds since 1970-01-01 of the naive local time, shape (n,), int64.

    Text is ISO 8601; a value with a zone (``Z``, ``+02:00``) is converted to UTC. A typed
    time-zone-aware column keeps its local wall time (the twin's clock is naive local time).
    """
    arr = src.array(column) if arr is None else arr
    _no_nulls(src, column, arr)
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr)
        out = arr.cast(pa.timestamp(arr.type.unit)).cast(pa.timestamp("ms"), safe=False)
    elif pa.types.is_date(t):
        out = arr.cast(pa.timestamp("ms"))
    elif _is_text(t):
        arr = _trim(arr)
        zoned = pc.match_substring_regex(arr, _ZONE).to_numpy(zero_copy_only=False)
        what = TIMESTAMP_HINT
        if not zoned.any():
            out = _checked(src, column, arr, lambda a: _text_to_ms(a, False), what)
        else:
            ms = np.empty(len(arr), dtype=np.int64)
            for flag in (False, True):
                idx = np.flatnonzero(zoned == flag)
                if idx.size == 0:
                    continue
                part = arr.take(pa.array(idx))
                parsed = _checked(
                    src.subset(idx), column, part, functools.partial(_text_to_ms, zoned=flag), what
                )
                ms[idx] = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
            return ms
    else:
        raise src.error(f"has type {t}; expected {TIMESTAMP_HINT}", column=column)
    return out.cast(pa.int64()).to_numpy(zero_copy_only=False)


def parse_date_days(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Days since 1970-01-01 of a date (a date-time is cut to its day), shape (n,), int32."""
    ms = parse_timestamp(src, column, arr)
    return (ms // 86_400_000).astype(np.int32)


# ---- money -------------------------------------------------------------------------------------
def _text_to_money(arr: pa.Array) -> pa.Array:
    # Exact decimal parsing; more than 2 decimals are rounded half away from zero.
    try:
        return arr.cast(MONEY)
    except pa.ArrowInvalid:
        wide = _trim(arr).cast(_WIDE)
        return pc.round(wide, ndigits=2, round_mode="half_towards_infinity").cast(MONEY)


def parse_money(
    src: Source, column: str, arr: pa.Array | None = None, *, allow_negative: bool = False
) -> np.ndarray:
    """Amounts in minor units (cents), shape (n,), int64.

    Text is parsed as an exact decimal and rounded to cents half away from zero; a binary float
    (Parquet, pickle) is first written in its shortest decimal form (``57.16``, not
    ``57.159999...``), so it rounds as it reads.
    """
    arr = src.array(column) if arr is None else arr
    _no_nulls(src, column, arr)
    t = arr.type
    what = "an amount (a decimal number such as 1234.50)"
    if _is_text(t):
        dec = _checked(src, column, arr, _text_to_money, what)
    elif pa.types.is_floating(t):
        _float_values(src, column, arr)
        dec = _checked(src, column, arr, lambda a: _text_to_money(a.cast(pa.string())), what)
    elif pa.types.is_integer(t):
        dec = _checked(src, column, arr, lambda a: a.cast(pa.int64()).cast(MONEY), what)
    elif pa.types.is_decimal(t):
        dec = _checked(
            src,
            column,
            arr,
            lambda a: pc.round(a, ndigits=2, round_mode="half_towards_infinity").cast(MONEY),
            what,
        )
    else:
        raise src.error(f"has type {t}; expected {what}", column=column)
    minor = money_to_minor(dec)
    if not allow_negative and (minor < 0).any():
        i = int(np.flatnonzero(minor < 0)[0])
        raise src.error(
            f"negative amount {arr[i].as_py()!r}; amounts must be >= 0", index=i, column=column
        )
    return minor


# ---- numbers, flags, text ----------------------------------------------------------------------
def parse_float(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Finite floats, shape (n,), float64."""
    arr = src.array(column) if arr is None else arr
    _no_nulls(src, column, arr)
    if _is_text(arr.type):
        arr = _checked(src, column, arr, lambda a: _trim(a).cast(pa.float64()), "a number")
    elif not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        raise src.error(f"has type {arr.type}; expected a number", column=column)
    return _float_values(src, column, arr)


def parse_int(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Integers, shape (n,), int64 (a float column must hold whole numbers)."""
    arr = src.array(column) if arr is None else arr
    _no_nulls(src, column, arr)
    t = arr.type
    if _is_text(t):
        arr = _checked(src, column, arr, lambda a: _trim(a).cast(pa.int64()), "an integer")
    elif pa.types.is_floating(t):
        values = _float_values(src, column, arr)
        bad = values != np.round(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise src.error(f"{values[i]!r} is not an integer", index=i, column=column)
        return values.astype(np.int64)
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        arr = _checked(src, column, arr, lambda a: a.cast(pa.int64()), "an integer")
    else:
        raise src.error(f"has type {t}; expected integers", column=column)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def parse_bool(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Flags given as 0/1 or true/false (any case), shape (n,), bool."""
    arr = src.array(column) if arr is None else arr
    _no_nulls(src, column, arr)
    t = arr.type
    expected = "expected 0, 1, true or false"
    if pa.types.is_boolean(t):
        return arr.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad = (values != 0) & (values != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise src.error(f"{arr[i].as_py()!r} is not a flag; {expected}", index=i, column=column)
        return values == 1
    if _is_text(t):
        norm = pc.utf8_lower(_trim(arr))
        true = pc.is_in(norm, pa.array(_TRUE)).to_numpy(zero_copy_only=False)
        false = pc.is_in(norm, pa.array(_FALSE)).to_numpy(zero_copy_only=False)
        bad = ~(true | false)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise src.error(f"{arr[i].as_py()!r} is not a flag; {expected}", index=i, column=column)
        return true
    raise src.error(f"has type {t}; {expected}", column=column)


def parse_text(src: Source, column: str, arr: pa.Array | None = None, *, nullable: bool = False):
    """Text values (trimmed), as a string array."""
    arr = src.array(column) if arr is None else arr
    if not nullable:
        _no_nulls(src, column, arr)
    if not _is_text(arr.type):
        arr = arr.cast(pa.string())
    return _trim(arr.cast(pa.string()))


def parse_codes(
    src: Source,
    column: str,
    enum_type: type[Enum],
    arr: pa.Array | None = None,
    *,
    aliases: Mapping[str, Enum | None] | None = None,
    nullable: bool = False,
) -> np.ndarray:
    """Codes into ``list(enum_type)`` (-1 for null), shape (n,), int8.

    Values are matched without regard to case or surrounding spaces, on the enum's values and on
    ``aliases`` (an alias may map to None: a null).
    """
    arr = src.array(column) if arr is None else arr
    if not nullable:
        _no_nulls(src, column, arr)
    norm = pc.utf8_lower(_trim(arr.cast(pa.string())))
    members = list(enum_type)
    lookup: dict[str, int] = {str(m.value).lower(): i for i, m in enumerate(members)}
    for key, member in (aliases or {}).items():
        lookup[key.lower()] = -1 if member is None else members.index(member)
    uniques = pc.unique(norm.drop_null())
    unknown = [u for u in uniques.to_pylist() if u not in lookup]
    if unknown:
        mask = pc.is_in(norm, pa.array(unknown)).to_numpy(zero_copy_only=False)
        i = int(np.flatnonzero(mask)[0])
        allowed = ", ".join(str(m.value) for m in members)
        raise src.error(f"{arr[i].as_py()!r} is not one of {allowed}", index=i, column=column)
    keys = list(lookup)
    pos = pc.fill_null(pc.index_in(norm, pa.array(keys, pa.string())), len(keys))
    codes = np.array([lookup[k] for k in keys] + [-1], dtype=np.int8)
    return codes[pos.to_numpy(zero_copy_only=False)]


# ---- identifiers -------------------------------------------------------------------------------
def parse_ids(
    src: Source, column: str, arr: pa.Array | None = None, *, nullable: bool = False
) -> pa.Array:
    """Identifiers as they are: int64 when every value is a whole number, else trimmed text.

    Text identifiers are turned into integer keys later (:func:`encode_ids`), never kept.
    """
    arr = src.array(column) if arr is None else arr
    if not nullable:
        _no_nulls(src, column, arr)
    t = arr.type
    if pa.types.is_integer(t):
        return arr.cast(pa.int64())
    if pa.types.is_floating(t):
        if arr.null_count:
            values, valid = np.zeros(len(arr), np.int64), arr.is_valid().to_numpy(False)
            idx = np.flatnonzero(valid)
            values[idx] = parse_int(src.subset(idx), column, arr.filter(pa.array(valid)))
            return pa.array(values, pa.int64(), mask=~valid)
        return pa.array(parse_int(src, column, arr))
    text = _trim(arr.cast(pa.string()))
    empty = pc.fill_null(pc.equal(pc.utf8_length(text), 0), False).to_numpy(False)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise src.error("the identifier is empty", index=i, column=column)
    try:
        return text.cast(pa.int64())
    except pa.ArrowInvalid:
        return text


def encode_ids(parts: list[pa.Array]) -> list[pa.Array]:
    """Integer keys of identifiers drawn from one domain, one int64 array per part (nulls kept).

    Whole-number identifiers are kept. Otherwise every identifier is read as text and replaced by
    its order of first appearance across ``parts`` (0, 1, 2 ...): deterministic, and no clear
    identifier leaves the import.

    Examples
    --------
    >>> [k.to_pylist() for k in encode_ids([pa.array(["b", "a", "b"]), pa.array(["c", "a"])])]
    [[0, 1, 0], [2, 1]]
    """
    if all(pa.types.is_integer(p.type) for p in parts):
        return [p.cast(pa.int64()) for p in parts]
    text = pa.concat_arrays([p.cast(pa.string()) for p in parts])
    keys = text.dictionary_encode().indices.cast(pa.int64())
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return [keys.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def id_keys(ids: pa.Array) -> np.ndarray:
    """Integers that are equal exactly where the identifiers are (for duplicate checks)."""
    if pa.types.is_integer(ids.type):
        return ids.to_numpy(zero_copy_only=False)
    return ids.dictionary_encode().indices.to_numpy(zero_copy_only=False).astype(np.int64)


def align_ids(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Identifiers of one domain read from two files, made comparable (text if either is)."""
    if pa.types.is_integer(a.type) and pa.types.is_integer(b.type):
        return a, b
    return a.cast(pa.string()), b.cast(pa.string())


def first_duplicate(keys: np.ndarray) -> tuple[int, int] | None:
    """``(i, j)``: the first position ``j`` whose key appeared before, at ``i`` (None: unique)."""
    order = np.argsort(keys, kind="stable")
    s = keys[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if dup.size == 0:
        return None
    # Within equal keys the stable order keeps positions increasing: order[k + 1] repeats order[k].
    later = order[dup + 1]
    k = int(np.argmin(later))
    j = int(later[k])
    first = int(order[np.searchsorted(s, s[dup[k]], side="left")])
    return first, j
