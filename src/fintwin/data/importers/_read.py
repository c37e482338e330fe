"""Reading a user's files: CSV (read by Arrow, every column as text), Parquet and pandas pickles.

CSV columns are read as text on purpose: amounts are then parsed as exact decimals (never through a
binary float), and a value that does not parse is reported with its row instead of silently turning
the whole column into text. Parquet and pickle columns keep their types.

Pickles are loaded only from files (or a directory) the user names: unpickling runs code, so a
pickle must come from a source you trust.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fintwin.exceptions import DataError

__all__ = ["FileKind", "Source", "expand_paths", "file_kind", "read_source"]

_COMPRESSION = (".gz", ".bz2", ".zst", ".lz4")


class FileKind(Enum):
    """How a file is read, from its name."""

    CSV = "csv"
    PARQUET = "parquet"
    PICKLE = "pickle"


_SUFFIXES = {
    ".csv": FileKind.CSV,
    ".txt": FileKind.CSV,
    ".parquet": FileKind.PARQUET,
    ".pq": FileKind.PARQUET,
    ".pkl": FileKind.PICKLE,
    ".pickle": FileKind.PICKLE,
}


def file_kind(path: Path) -> FileKind | None:
    """The kind of ``path`` from its suffix (a compression suffix such as ``.gz`` is skipped).

    Examples
    --------
    >>> file_kind(Path("2018-04-01.pkl")), file_kind(Path("tx.csv.gz")), file_kind(Path("a.xlsx"))
    (<FileKind.PICKLE: 'pickle'>, <FileKind.CSV: 'csv'>, None)
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named by ``paths``; a directory stands for its readable files, in name order.

    Raises
    ------
    DataError
        A path does not exist, a named file has an unknown type, or a directory has no readable
        file.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and file_kind(p) is not None
            )
            if not found:
                raise DataError("the directory holds no .csv, .parquet or .pkl file", file=path)
            out.extend(found)
        elif path.is_file():
            if file_kind(path) is None:
                raise DataError(
                    "unsupported file type; expected .csv, .parquet or .pkl "
                    "(optionally compressed: .csv.gz ...)",
                    file=path,
                )
            out.append(path)
        else:
            raise DataError("no such file or directory", file=path)
    if not out:
        raise DataError("no input files were given")
    return out


@dataclass
class Source:
    """One input file read as a table.

    Attributes
    ----------
    path : Path
    table : pyarrow.Table
        Its rows in file order; row ``i`` (0-based) is data row ``i + 1`` of the file.
    """

    path: Path
    table: pa.Table
    rows: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    @property
    def num_rows(self) -> int:
        return self.table.num_rows if self.rows is None else len(self.rows)

    def error(self, message: str, *, index: int | None = None, column: str | None = None):
        """A :class:`DataError` about this file; ``index`` is the 0-based row index (of the
        subset, for a :meth:`subset`)."""
        if index is not None and self.rows is not None:
            index = int(self.rows[index])
        return DataError(
            message, file=self.path, row=None if index is None else int(index) + 1, column=column
        )

    def array(self, column: str) -> pa.Array:
        """Column ``column`` as one contiguous array (the subset's rows, for a subset)."""
        arr = self.table.column(column)
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        return arr if self.rows is None else arr.take(pa.array(self.rows))

    def subset(self, index: np.ndarray) -> Source:
        """The rows ``index`` (0-based, of this source) as a source whose errors name the rows
        of the file."""
        index = np.asarray(index, dtype=np.int64)
        return Source(self.path, self.table, index if self.rows is None else self.rows[index])


def _csv_header(path: Path) -> list[str]:
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 16)
    if not head.strip():
        raise DataError("the file is empty", file=path)
    text = head.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(io.StringIO(text)), [])
    if not first:
        raise DataError("the file has no header line", file=path)
    return first


def _read_csv(path: Path) -> pa.Table:
    names = _csv_header(path)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"the header repeats column names {dupes}", file=path)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=True,
        null_values=[""],
    )
    try:
        return pacsv.read_csv(str(path), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise DataError(f"not a readable CSV file ({exc})", file=path) from None


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", file=path) from None


def _read_pickle(path: Path) -> pa.Table:
    import pandas as pd

    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in many ways; all mean "not readable"
        raise DataError(f"not a readable pandas pickle ({exc!r})", file=path) from None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"the pickle holds a {type(frame).__name__}, expected a pandas DataFrame", file=path
        )
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"cannot convert the DataFrame to Arrow ({exc})", file=path) from None


_READERS = {
    FileKind.CSV: _read_csv,
    FileKind.PARQUET: _read_parquet,
    FileKind.PICKLE: _read_pickle,
}


def read_source(path: Path) -> Source:
    """Read one file; refuse an empty one.

    Raises
    ------
    DataError
        The file is empty, has no data rows, or cannot be read as its type.
    """
    kind = file_kind(path)
    if kind is None:
        raise DataError("unsupported file type; expected .csv, .parquet or .pkl", file=path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=path)
    table = _READERS[kind](path)
    if table.num_rows == 0:
        raise DataError("the file has no data rows", file=path)
    # Categorical columns (pandas category, Parquet dictionaries) are read as their values.
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return Source(path, table)


def read_sources(paths: Sequence[Path]) -> list[Source]:
    """Read every file in ``paths`` (see :func:`read_source`)."""
    return [read_source(p) for p in paths]


def row_offsets(sources: Sequence[Source]) -> np.ndarray:
    """Cumulative row counts, shape (len(sources) + 1,): source ``k`` holds global rows
    ``offsets[k]:offsets[k + 1]`` of the concatenation."""
    out = np.zeros(len(sources) + 1, dtype=np.int64)
    np.cumsum([s.num_rows for s in sources], out=out[1:])
    return out


def locate(sources: Sequence[Source], offsets: np.ndarray, index: int) -> tuple[Source, int]:
    """The source and its 0-based row index of global row ``index``."""
    k = int(np.searchsorted(offsets, index, side="right")) - 1
    return sources[k], int(index - offsets[k])
