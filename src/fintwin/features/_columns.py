"""Columns of an event table as NumPy arrays in processing order, for the offline engine."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.schemas import money_to_minor
from fintwin.exceptions import DataError

#: Event id columns, in order of preference (card payments, then account transfers).
ID_COLUMNS = ("transaction_id", "transfer_id")


def id_column(names: list[str] | tuple[str, ...]) -> str:
    """The id column of an event table with columns ``names``."""
    for name in ID_COLUMNS:
        if name in names:
            return name
    raise DataError(f"an event table needs one of the id columns {list(ID_COLUMNS)}")


def _chunk(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _times(table: pa.Table, name: str) -> np.ndarray:
    """Milliseconds since the epoch (naive local time) of a timestamp column; nulls refused."""
    arr = _chunk(table, name)
    if arr.null_count:
        raise DataError("must not be null", column=name)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))
        arr = arr.cast(pa.timestamp("ms"), safe=False).cast(pa.int64())
    elif not pa.types.is_integer(arr.type):
        raise DataError(f"must be a timestamp (got {arr.type})", column=name)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


class EventColumns:
    """An event table's columns as arrays, rows in ``(timestamp, id)`` order.

    Parameters
    ----------
    table : pyarrow.Table
        The events, in any order.

    Attributes
    ----------
    id_name : str
        The id column (``transaction_id`` or ``transfer_id``).
    order : ndarray of int64, shape (n,)
        Input row of each processed event.
    ids, t : ndarray of int64, shape (n,)
        Event ids and timestamps (ms) in processing order.
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self.id_name = id_column(table.column_names)
        if "timestamp" not in table.column_names:
            raise DataError("an event table needs a 'timestamp' column", column="timestamp")
        ids_arr = _chunk(table, self.id_name)
        if ids_arr.null_count:
            raise DataError("must not be null", column=self.id_name)
        ids = ids_arr.cast(pa.int64()).to_numpy(zero_copy_only=False)
        ts = _times(table, "timestamp")
        ordered = (ts[1:] > ts[:-1]) | ((ts[1:] == ts[:-1]) & (ids[1:] > ids[:-1]))
        # world tables are written in order: skip the sort (and the copies) when they are
        self.order = np.arange(self.n) if ordered.all() else np.lexsort((ids, ts))
        self.ids = ids[self.order]
        self.t = ts[self.order]
        same = (self.t[1:] == self.t[:-1]) & (self.ids[1:] == self.ids[:-1])
        if same.any():
            k = int(np.flatnonzero(same)[0])
            raise DataError(
                f"two events share {self.id_name}={self.ids[k]} and timestamp {self.t[k]} ms; "
                "(timestamp, id) must be unique",
                column=self.id_name,
            )
        self.t_min = int(self.t[0]) if self.n else 0
        self.t_rel = self.t - self.t_min
        self._codes: dict[str, np.ndarray] = {}

    def require(self, name: str, feature: str) -> None:
        if name not in self.table.column_names:
            raise DataError(
                f"feature {feature!r} needs column {name!r}, which the table lacks "
                f"(it has {self.table.column_names})",
                column=name,
            )

    def codes(self, name: str) -> np.ndarray:
        """Integer codes of a key column (equal values, equal codes; null is -1)."""
        cached = self._codes.get(name)
        return cached if cached is not None else self._encode(name)

    def _encode(self, name: str) -> np.ndarray:
        arr = _chunk(self.table, name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_floating(arr.type):
            # ids read through pandas may arrive as floats with NaN for null
            arr = pc.if_else(pc.is_nan(arr), None, arr)
        enc = arr.dictionary_encode()
        idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        codes = idx[self.order]
        self._codes[name] = codes
        return codes

    @cached_property
    def cents(self) -> np.ndarray:
        """Amounts in integer cents."""
        arr = _chunk(self.table, "amount")
        if arr.null_count:
            raise DataError("must not be null", column="amount")
        try:
            return money_to_minor(arr)[self.order]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(f"cannot be read as money ({exc})", column="amount") from None

    def floats(self, name: str) -> np.ndarray:
        """A numeric column as float64, null as NaN."""
        arr = _chunk(self.table, name).cast(pa.float64())
        return arr.to_numpy(zero_copy_only=False)[self.order]

    def ints(self, name: str) -> np.ndarray:
        """An integer id column as int64; nulls refused."""
        arr = _chunk(self.table, name)
        if arr.null_count:
            raise DataError("must not be null", column=name)
        return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)[self.order]

    def times(self, name: str) -> np.ndarray:
        return _times(self.table, name)[self.order]

    def flags(self, name: str) -> np.ndarray:
        """A boolean column as int64 0/1; nulls refused."""
        arr = _chunk(self.table, name)
        if arr.null_count:
            raise DataError("must not be null", column=name)
        return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)[self.order]

    def equals(self, name: str, value: str) -> np.ndarray:
        """``column == value`` as bool (null is False)."""
        arr = _chunk(self.table, name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        eq = pc.fill_null(pc.equal(arr, pa.scalar(value, arr.type)), False)
        return eq.to_numpy(zero_copy_only=False)[self.order]
