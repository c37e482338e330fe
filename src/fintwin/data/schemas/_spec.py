"""Declarative table schemas: one :class:`TableSpec` per table, the single source of the data
dictionary (``docs/world.md`` is rendered from these) and of write-time validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fintwin.exceptions import SchemaError

#: Money is never a binary float: two decimal places, 18 digits.
MONEY = pa.decimal128(18, 2)
#: Timestamps of the twin: naive local time of the institution, millisecond resolution.
TIMESTAMP = pa.timestamp("ms")
#: Low-cardinality text (categories, enum values) is dictionary-encoded.
CATEGORY = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Parameters
    ----------
    name : str
        Column name (snake_case).
    type : pyarrow.DataType
        Arrow type on disk.
    description : str
        What the value means, in the domain's words.
    unit : str
        Unit or value domain (``"currency units"``, ``"days"``, an enum's values ...).
    required : bool
        Whether every world (and every import) must have it; optional columns may be absent
        when a preset or a user's data has no such information.
    nullable : bool
        Whether null values are allowed where the column is present.
    """

    name: str
    type: pa.DataType
    description: str
    unit: str = ""
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A table of a world directory.

    Parameters
    ----------
    name : str
        Table name; also its file (``name.parquet``) or folder (when partitioned).
    description : str
        What one row is.
    columns : tuple of Column
        Columns in on-disk order.
    partitioned_by_day : bool
        Written as ``name/day=YYYY-MM-DD/part-0.parquet`` from its ``timestamp`` column.
    truth : bool
        Ground truth kept apart under ``truth/``: engines must never read it.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    partitioned_by_day: bool = False
    truth: bool = False
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def conform(self, table: pa.Table, *, source: str | None = None) -> pa.Table:
        """Check ``table`` against this spec and return it in canonical column order and types.

        Raises
        ------
        SchemaError
            A required column is missing, a column is unknown, a value cannot be cast to the
            declared type, or a non-nullable column holds nulls. The message names the column.
        """
        where = source or f"table {self.name!r}"
        unknown = [n for n in table.column_names if n not in self._by_name]
        if unknown:
            raise SchemaError(
                f"unknown columns {unknown}; {self.name} allows {self.column_names}", file=where
            )
        missing = [n for n in self.required_names if n not in table.column_names]
        if missing:
            raise SchemaError(f"required columns {missing} are missing", file=where)
        arrays, fields = [], []
        for col in self.columns:
            if col.name not in table.column_names:
                continue
            arr = table.column(col.name)
            if not arr.type.equals(col.type):
                try:
                    arr = arr.cast(col.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(
                        f"cannot be read as {col.type} ({exc})", file=where, column=col.name
                    ) from None
            if not col.nullable and arr.null_count:
                raise SchemaError(
                    f"{arr.null_count} null values in a column that must be complete",
                    file=where,
                    column=col.name,
                )
            arrays.append(arr)
            fields.append(pa.field(col.name, col.type, nullable=col.nullable))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def money_from_minor(minor: np.ndarray) -> pa.Array:
    """Wrap integer minor units (cents) as a decimal(18, 2) array, without copying per value.

    Parameters
    ----------
    minor : ndarray of int64, shape (n,)
        Amounts in minor units.

    Returns
    -------
    pyarrow.Array of decimal128(18, 2), length n
    """
    minor = np.ascontiguousarray(minor, dtype=np.int64)
    # decimal128 is a little-endian 128-bit integer of the unscaled value: low word, sign word.
    words = np.empty((minor.size, 2), dtype=np.int64)
    words[:, 0] = minor
    words[:, 1] = minor >> 63
    return pa.Array.from_buffers(MONEY, minor.size, [None, pa.py_buffer(words)])


def money_to_minor(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Integer minor units of a decimal(18, 2) array (nulls are not allowed)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not values.type.equals(MONEY):
        values = values.cast(MONEY)
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)
    return words[2 * values.offset : 2 * (values.offset + len(values)) : 2].copy()


def category(values: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    """Dictionary array from integer codes into ``labels`` (code -1 is null)."""
    codes = pa.array(np.asarray(values, dtype=np.int32), mask=np.asarray(values) < 0)
    return pa.DictionaryArray.from_arrays(codes, pa.array(labels, pa.string()))
