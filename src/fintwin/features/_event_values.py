"""Reading one event of the online engine: times, amounts, keys and labels, checked."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.exceptions import DataError
from fintwin.features._columns import id_column
from fintwin.features.definitions import Calendar
from fintwin.features.vocab import CalendarField

_NAN = math.nan
_EPOCH = dt.datetime(1970, 1, 1)
_ONE_MS = dt.timedelta(milliseconds=1)


def to_ms(value: Any, field: str) -> int:
    """Milliseconds since the epoch (naive local time) of an event time."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return (value - _EPOCH) // _ONE_MS
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, np.integer):
        return int(value)
    raise DataError(f"must be a time (int ms or datetime), got {value!r}", column=field)


def to_cents(value: Any) -> int:
    """Integer cents of an amount in currency units, refusing more than two decimals."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 100
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value))
        scaled = dec.scaleb(2)
        cents = int(scaled)
    except (InvalidOperation, ValueError, TypeError):
        raise DataError(
            f"must be an amount in currency units, got {value!r}", column="amount"
        ) from None
    if cents != scaled:
        raise DataError(f"has more than two decimals: {value!r}", column="amount")
    return cents


def key_of(value: Any) -> Hashable | None:
    """Null (None, NaN) as None; ids read through pandas as floats become ints again."""
    if value is None or type(value) is int or type(value) is str:
        return value
    if isinstance(value, float):
        return None if value != value else (int(value) if value.is_integer() else value)
    return value


def coord(event: Mapping[str, Any], field: str) -> float:
    """A location coordinate in km; null as NaN."""
    value = event.get(field)
    if value is None:
        return _NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"must be a number of km, got {value!r}", column=field) from None


def label_of(event: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(is_fraud, label_available_at ms)`` carried by a replayed event, or None."""
    fraud, avail = event.get("is_fraud"), event.get("label_available_at")
    if fraud is None or avail is None:
        return None
    return int(bool(fraud)), to_ms(avail, "label_available_at")


def required(event: Mapping[str, Any], field: str) -> Any:
    value = event.get(field)
    if value is None:
        raise DataError("the event lacks this field", column=field)
    return value


def calendar_value(d: Calendar, t: int) -> float:
    hour = (t // 3_600_000) % 24
    if d.field is CalendarField.HOUR_OF_DAY:
        return float(hour)
    if d.field is CalendarField.WEEKEND:
        return 1.0 if (t // 86_400_000 + 3) % 7 >= 5 else 0.0
    a, b = d.night_start_hour, d.night_end_hour
    night = (a <= hour < b) if a < b else (hour >= a or hour < b)
    return 1.0 if night else 0.0


def iter_events(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The rows of an event table as events for :meth:`OnlineFeatureEngine.update`.

    Rows come in ``(timestamp, id)`` order, times as int ms (the engine's native form),
    categories as strings, amounts as ``Decimal``.

    Parameters
    ----------
    table : pyarrow.Table
        A ``transactions`` or ``transfers`` table (or any columns of one, with the id and
        ``timestamp``).
    """
    id_name = id_column(table.column_names)
    table = table.take(pc.sort_indices(table, [("timestamp", "ascending"), (id_name, "ascending")]))
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("ms")).cast(pa.int64())
        elif pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols[name] = col.to_pylist()
    names = list(cols)
    for values in zip(*cols.values(), strict=True):
        yield dict(zip(names, values, strict=True))
