"""Pieces every importer shares: parsing a column to the type its spec declares, gathering a
role over several files, checks that point back at the file row, and the importer's result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers import _columns as cols
from fintwin.data.importers._read import Source, locate, row_offsets
from fintwin.data.schemas import MONEY, TIMESTAMP, Column, category, money_from_minor
from fintwin.data.schemas.vocab import (
    AccountKind,
    Channel,
    FraudScenario,
    LaunderingTypology,
    Segment,
    Sex,
    TransferType,
)
from fintwin.exceptions import DataError

__all__ = ["Gathered", "Imported", "parse_column", "parse_nullable"]

MS_PER_DAY = 86_400_000

#: Category columns whose values must come from a vocabulary.
VOCABULARIES: dict[str, type[Enum]] = {
    "channel": Channel,
    "sex": Sex,
    "segment": Segment,
    "kind": AccountKind,
    "transfer_type": TransferType,
    "fraud_scenario": FraudScenario,
    "laundering_typology": LaunderingTypology,
}


@dataclass
class Imported:
    """What an importer hands to the writer.

    Attributes
    ----------
    tables : dict of str to pyarrow.Table
        Tables by name; event tables sorted by ``timestamp``.
    parameters : dict
        How the import was made (recorded in the manifest).
    """

    tables: dict[str, pa.Table]
    parameters: dict[str, Any] = field(default_factory=dict)


def parse_nullable(
    src: Source, column: str, parse: Callable[[Source, str, pa.Array], np.ndarray], dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``parse`` applied to the non-null values only: ``(values, valid)``, shape (n,) each
    (values are 0 where not valid). Errors still name the file's row."""
    arr = src.array(column)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    values = np.zeros(len(arr), dtype=dtype)
    if valid.all():
        return parse(src, column, arr), valid
    idx = np.flatnonzero(valid)
    if idx.size:
        values[idx] = parse(src.subset(idx), column, arr.filter(pa.array(valid)))
    return values, valid


def _enum_array(codes: np.ndarray, enum_type: type[Enum]) -> pa.DictionaryArray:
    return category(codes, [str(m.value) for m in enum_type])


def parse_column(src: Source, name: str, spec: Column) -> pa.Array:
    """Column ``name`` of ``src`` as the Arrow type of ``spec`` (identifiers excluded: see
    :func:`fintwin.data.importers._columns.parse_ids`).

    Nulls are refused unless the spec allows them; category columns with a vocabulary
    (``VOCABULARIES``) must use its values.
    """
    t = spec.type
    if pa.types.is_dictionary(t):
        enum_type = VOCABULARIES.get(spec.name)
        if enum_type is not None:
            codes = cols.parse_codes(src, name, enum_type, nullable=spec.nullable)
            return _enum_array(codes, enum_type)
        text = cols.parse_text(src, name, nullable=spec.nullable)
        return text.dictionary_encode()
    if pa.types.is_string(t):
        return cols.parse_text(src, name, nullable=spec.nullable)

    def typed(parse, dtype, wrap) -> pa.Array:
        if spec.nullable:
            values, valid = parse_nullable(src, name, parse, dtype)
            return wrap(values, valid)
        return wrap(parse(src, name, src.array(name)), None)

    def mask(valid):
        return None if valid is None or valid.all() else ~valid

    if t.equals(MONEY):

        def money(s, c, a):
            return cols.parse_money(s, c, a, allow_negative=True)

        def wrap_money(v, valid):
            arr = money_from_minor(v)
            if mask(valid) is None:
                return arr
            bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
            return pa.Array.from_buffers(MONEY, len(v), [bitmap, arr.buffers()[1]])

        return typed(money, np.int64, wrap_money)
    if pa.types.is_floating(t):
        return typed(cols.parse_float, np.float64, lambda v, m: pa.array(v, t, mask=mask(m)))
    if pa.types.is_boolean(t):
        return typed(cols.parse_bool, bool, lambda v, m: pa.array(v, t, mask=mask(m)))
    if pa.types.is_integer(t):
        dtype = t.to_pandas_dtype()
        info = np.iinfo(dtype)

        def bounded(s, c, a):
            v = cols.parse_int(s, c, a)
            bad = (v < info.min) | (v > info.max)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise s.error(f"{v[i]} is outside [{info.min}, {info.max}]", index=i, column=c)
            return v

        return typed(bounded, np.int64, lambda v, m: pa.array(v.astype(dtype), t, mask=mask(m)))
    if t.equals(TIMESTAMP):
        return typed(cols.parse_timestamp, np.int64, lambda v, m: pa.array(v, t, mask=mask(m)))
    if pa.types.is_date32(t):
        return typed(cols.parse_date_days, np.int32, lambda v, m: pa.array(v, t, mask=mask(m)))
    raise AssertionError(f"no parser for {t}")  # pragma: no cover - specs use the types above


class Gathered:
    """One role read from several files of the same table, as one concatenation.

    Global row ``i`` is row ``i - offsets[k]`` of source ``k``; :meth:`error` turns a global
    index back into the file and row.
    """

    def __init__(self, sources: Sequence[Source], found: Sequence[Mapping[str, str]]) -> None:
        self.sources = list(sources)
        self.found = list(found)
        self.offsets = row_offsets(self.sources)

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def _pairs(self) -> list[tuple[Source, Mapping[str, str]]]:
        return list(zip(self.sources, self.found, strict=True))

    def has(self, role: str) -> bool:
        return role in self.found[0]

    def column(self, role: str) -> str:
        return self.found[0][role]

    def error(self, role: str, index: int, message: str) -> DataError:
        src, row = locate(self.sources, self.offsets, index)
        k = self.sources.index(src)
        return src.error(message, index=row, column=self.found[k].get(role, role))

    def values(self, role: str, parse: Callable[[Source, str], np.ndarray]) -> np.ndarray:
        return np.concatenate([parse(s, f[role]) for s, f in self._pairs()])

    def arrays(self, role: str, parse: Callable[[Source, str], pa.Array]) -> pa.Array:
        parts = [parse(s, f[role]) for s, f in zip(self.sources, self.found, strict=True)]
        if not all(p.type.equals(parts[0].type) for p in parts):
            parts = [p.cast(pa.string()) for p in parts]
        return pa.concat_arrays(parts) if len(parts) > 1 else parts[0]

    def nullable(
        self, role: str, parse: Callable[[Source, str, pa.Array], np.ndarray], dtype: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        pairs = [
            parse_nullable(s, f[role], parse, dtype)
            for s, f in zip(self.sources, self.found, strict=True)
        ]
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    def spec_column(self, role: str, spec: Column) -> pa.Array:
        parts = [parse_column(s, f[role], spec) for s, f in self._pairs()]
        if len(parts) == 1:
            return parts[0]
        if pa.types.is_dictionary(spec.type):
            return (
                pa.chunked_array([p.cast(spec.type.value_type) for p in parts])
                .combine_chunks()
                .dictionary_encode()
            )
        return pa.concat_arrays(parts)


def check_same_roles(
    table: str,
    sources: Sequence[Source],
    found: Sequence[Mapping[str, str]],
    native: Callable[[str], str],
) -> None:
    """Refuse files of one table that do not all have the same columns in use."""
    every = set().union(*(f.keys() for f in found))
    for src, f in zip(sources, found, strict=True):
        missing = sorted(every - f.keys())
        if missing:
            role = missing[0]
            other = next(s for s, g in zip(sources, found, strict=True) if role in g)
            raise src.error(
                f"column {native(role)!r} is in {other.path} but not in this file; every "
                f"{table} file must have the same columns (it has {src.columns})",
                column=native(role),
            )


def per_key(
    keys: np.ndarray, values: pa.Array, on_conflict: Callable[[int, Any, Any], DataError]
) -> tuple[np.ndarray, pa.Array]:
    """One value per key (its first occurrence), refusing a key whose values differ.

    Parameters
    ----------
    keys : ndarray of int64, shape (n,)
    values : pyarrow.Array, length n
    on_conflict : callable
        ``on_conflict(i, first, value)`` builds the error for row ``i``.

    Returns
    -------
    unique_keys : ndarray of int64, sorted
    first_values : pyarrow.Array aligned with ``unique_keys``
    """
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    firsts = values.take(pa.array(first))
    spread = firsts.take(pa.array(inverse))
    same = pc.fill_null(pc.equal(spread, values), False).to_numpy(zero_copy_only=False) | (
        spread.is_null().to_numpy(zero_copy_only=False)
        & values.is_null().to_numpy(zero_copy_only=False)
    )
    if not same.all():
        i = int(np.flatnonzero(~same)[0])
        raise on_conflict(i, spread[i].as_py(), values[i].as_py())
    return uniq, firsts
