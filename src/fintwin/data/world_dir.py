"""World directories: written atomically, opened with verification.

Layout::

    WORLD/
      manifest.json                          schema version, preset, parameters, seed, hashes
      customers.parquet                      one file per table ...
      transactions/day=2018-04-01/part-0.parquet   ... or one per day for event tables
      truth/fraud_campaigns.parquet          ground truth, never read by engines

A :class:`WorldWriter` builds everything in a hidden sibling directory and renames it into place
only when the manifest is complete, so a crash or a kill leaves no directory at the target.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fintwin import __version__
from fintwin.data.schemas import TABLE_SPECS, TableSpec
from fintwin.exceptions import (
    CorruptWorldError,
    IncompleteWorldError,
    ParameterError,
    WorldExistsError,
)

__all__ = [
    "SCHEMA_VERSION",
    "Manifest",
    "TableEntry",
    "World",
    "WorldWriter",
    "open_world",
    "world_hashes",
]

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
TRUTH_DIR = "truth"
_PARTIAL_MARK = ".partial-"
# Parquet settings are fixed so that equal tables give equal bytes (and equal hashes).
_PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1}


@dataclass(frozen=True)
class TableEntry:
    """What the manifest records of one table."""

    name: str
    truth: bool
    rows: int
    files: dict[str, str]  # relative path -> sha256 hex digest

    def to_json(self) -> dict[str, Any]:
        return {"truth": self.truth, "rows": self.rows, "files": self.files}


@dataclass(frozen=True)
class Manifest:
    """The manifest of a world directory.

    Attributes
    ----------
    schema_version : int
        Layout version; :func:`open_world` refuses versions it does not know.
    preset : str
        Preset that made the world, or ``"import"`` for imported data.
    seed : int or None
        Root seed of every random stream (None for imported data).
    parameters : dict
        Every parameter of the run, enough to reproduce it.
    tables : dict of str to TableEntry
    """

    schema_version: int
    fintwin_version: str
    preset: str
    seed: int | None
    start: str
    days: int
    parameters: dict[str, Any]
    tables: dict[str, TableEntry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "fintwin_version": self.fintwin_version,
            "preset": self.preset,
            "seed": self.seed,
            "start": self.start,
            "days": self.days,
            "parameters": self.parameters,
            "tables": {n: t.to_json() for n, t in sorted(self.tables.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, path: Path) -> Manifest:
        try:
            tables = {
                name: TableEntry(name, bool(t["truth"]), int(t["rows"]), dict(t["files"]))
                for name, t in data["tables"].items()
            }
            return cls(
                schema_version=int(data["schema_version"]),
                fintwin_version=str(data["fintwin_version"]),
                preset=str(data["preset"]),
                seed=None if data["seed"] is None else int(data["seed"]),
                start=str(data["start"]),
                days=int(data["days"]),
                parameters=dict(data["parameters"]),
                tables=tables,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptWorldError(f"{path}: manifest is malformed ({exc!r})") from None


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(table: pa.Table) -> tuple[pa.Buffer, str]:
    """Parquet bytes of ``table`` and their SHA-256 (both release the GIL: run in threads)."""
    sink = pa.BufferOutputStream()
    # Dictionary-encode only categorical columns: ids and timestamps are nearly unique and
    # encoding them costs time for larger files.
    categorical = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(table, sink, use_dictionary=categorical, **_PARQUET_OPTIONS)
    buf = sink.getvalue()
    return buf, _sha256(memoryview(buf))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorldWriter:
    """Write a world directory atomically.

    Use as a context manager; nothing appears at ``path`` until :meth:`commit` succeeds, and an
    exception inside the block removes the partial directory.

    Parameters
    ----------
    path : str or Path
        Target directory. It must not exist unless ``overwrite`` is true.
    overwrite : bool
        Replace an existing world directory (the old one is removed only after the new one is
        in place).

    Examples
    --------
    >>> import pyarrow as pa, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "w"
    >>> with WorldWriter(out) as w:
    ...     w.write_table("customers", pa.table({"customer_id": [1, 2],
    ...                   "home_x": [0.0, 1.0], "home_y": [0.0, 1.0]}))
    ...     _ = w.commit(preset="import", seed=None, start="2024-01-01", days=0, parameters={})
    >>> open_world(out).manifest.tables["customers"].rows
    2
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self._entries: dict[str, dict[str, Any]] = {}
        self._tmp: Path | None = None

    # -- context management -------------------------------------------------------------------
    def __enter__(self) -> WorldWriter:
        if self.path.exists() and not self.overwrite:
            raise WorldExistsError(f"{self.path} exists; pass overwrite=True (--overwrite)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_partials()
        self._tmp = (
            self.path.parent
            / f".{self.path.name}{_PARTIAL_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        self._tmp.mkdir()
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._pool.shutdown()
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _remove_stale_partials(self) -> None:
        # A killed writer leaves its hidden partial directory behind; its pid tells if it is dead.
        prefix = f".{self.path.name}{_PARTIAL_MARK}"
        for p in self.path.parent.glob(prefix + "*"):
            pid_text = p.name[len(prefix) :].split("-", 1)[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                shutil.rmtree(p, ignore_errors=True)

    # -- writing ------------------------------------------------------------------------------
    def _spec(self, name: str) -> TableSpec:
        try:
            return TABLE_SPECS[name]
        except KeyError:
            raise ParameterError(
                f"table must be one of {sorted(TABLE_SPECS)} (got {name!r})"
            ) from None

    def _write_files(self, name: str, spec: TableSpec, files: list[tuple[str, pa.Table]]) -> None:
        assert self._tmp is not None, "use WorldWriter as a context manager"
        entry = self._entries.setdefault(name, {"truth": spec.truth, "rows": 0, "files": {}})
        encoded = (
            self._pool.map(_encode, [t for _, t in files])
            if len(files) > 1
            else map(_encode, [t for _, t in files])
        )
        for (rel, table), (buf, digest) in zip(files, encoded, strict=True):
            target = self._tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(buf)
            entry["rows"] += table.num_rows
            entry["files"][rel] = digest

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write a whole table (validated against its spec) as one file.

        A table partitioned by day is split on its ``timestamp`` column instead.
        """
        spec = self._spec(name)
        table = spec.conform(table)
        if spec.partitioned_by_day:
            self.append_days(name, table)
            return
        if name in self._entries:
            raise ParameterError(f"table {name!r} was already written")
        rel = f"{TRUTH_DIR}/{name}.parquet" if spec.truth else f"{name}.parquet"
        self._write_files(name, spec, [(rel, table)])

    def append_days(self, name: str, table: pa.Table) -> None:
        """Append rows of a day-partitioned table; ``table`` must be sorted by ``timestamp``
        and hold whole days that were not written before."""
        spec = self._spec(name)
        if not spec.partitioned_by_day:
            raise ParameterError(f"table {name!r} is not partitioned by day")
        table = spec.conform(table)
        if table.num_rows == 0:
            self._entries.setdefault(name, {"truth": spec.truth, "rows": 0, "files": {}})
            return
        ts = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        day = ts // 86_400_000
        if np.any(np.diff(ts) < 0):
            raise ParameterError(f"rows of {name!r} must be sorted by timestamp")
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        stops = np.r_[starts[1:], day.size]
        files = []
        written = self._entries.get(name, {}).get("files", {})
        for a, b in zip(starts, stops, strict=True):
            date = dt.date(1970, 1, 1) + dt.timedelta(days=int(day[a]))
            rel = f"{name}/day={date.isoformat()}/part-0.parquet"
            if rel in written:
                raise ParameterError(f"day {date} of {name!r} was already written")
            files.append((rel, table.slice(int(a), int(b - a))))
        self._write_files(name, spec, files)

    def commit(
        self,
        *,
        preset: str,
        seed: int | None,
        start: str,
        days: int,
        parameters: Mapping[str, Any],
    ) -> Manifest:
        """Write the manifest and move the directory into place."""
        assert self._tmp is not None, "use WorldWriter as a context manager"
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            fintwin_version=__version__,
            preset=preset,
            seed=seed,
            start=start,
            days=days,
            parameters=dict(parameters),
            tables={
                n: TableEntry(n, e["truth"], e["rows"], dict(sorted(e["files"].items())))
                for n, e in self._entries.items()
            },
        )
        mpath = self._tmp / MANIFEST_NAME
        with open(mpath, "w", encoding="utf-8") as fh:
            json.dump(manifest.to_json(), fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if self.path.exists():
            if not self.overwrite:
                raise WorldExistsError(f"{self.path} appeared while writing; not replaced")
            old = self.path.parent / f".{self.path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.path, old)
        os.rename(self._tmp, self.path)
        self._tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest


class World:
    """An opened world directory: its manifest and its tables.

    Obtain one with :func:`open_world`. Tables are read lazily; ``truth/`` tables only through
    :meth:`truth`, so that reading ground truth is always explicit.
    """

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    def __repr__(self) -> str:
        return f"World({str(self.path)!r}, preset={self.manifest.preset!r})"

    @property
    def tables(self) -> list[str]:
        """Names of the tables engines may read (ground truth excluded)."""
        return sorted(n for n, t in self.manifest.tables.items() if not t.truth)

    @property
    def truth_tables(self) -> list[str]:
        return sorted(n for n, t in self.manifest.tables.items() if t.truth)

    def files(self, name: str) -> list[Path]:
        """Parquet files of table ``name`` in time order."""
        entry = self._entry(name)
        return [self.path / rel for rel in entry.files]

    def _entry(self, name: str, *, truth: bool = False) -> TableEntry:
        entry = self.manifest.tables.get(name)
        if entry is None or entry.truth != truth:
            kind = "truth tables" if truth else "tables"
            have = self.truth_tables if truth else self.tables
            raise ParameterError(f"{self.path} has no {kind[:-1]} {name!r}; its {kind}: {have}")
        return entry

    def _read(self, entry: TableEntry, columns: list[str] | None) -> pa.Table:
        spec = TABLE_SPECS[entry.name]
        paths = [str(self.path / rel) for rel in entry.files]
        if not paths:
            return spec.conform(
                pa.table({c: pa.array([], spec.column(c).type) for c in spec.required_names})
            )
        parts = [pq.read_table(p, columns=columns) for p in paths]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def arrow(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """Table ``name`` as an Arrow table."""
        return self._read(self._entry(name), columns)

    def frame(self, name: str, columns: list[str] | None = None):
        """Table ``name`` as a pandas DataFrame."""
        return self.arrow(name, columns).to_pandas()

    def truth(self, name: str) -> pa.Table:
        """Ground-truth table ``name`` (simulated worlds only). Engines must not call this."""
        return self._read(self._entry(name, truth=True), None)

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per (non-truth) table."""
        con = con or duckdb.connect()
        for name in self.tables:
            paths = [str(p) for p in self.files(name)]
            if paths:
                con.read_parquet(paths).create_view(name, replace=True)
        return con

    def relation(
        self, name: str, con: duckdb.DuckDBPyConnection | None = None
    ) -> duckdb.DuckDBPyRelation:
        """Table ``name`` as a lazy DuckDB relation."""
        self._entry(name)
        return self.connect(con).table(name)


def _iter_files(manifest: Manifest) -> Iterator[tuple[str, str]]:
    for entry in manifest.tables.values():
        yield from entry.files.items()


def open_world(path: str | Path, *, verify: bool = True) -> World:
    """Open a world directory.

    Parameters
    ----------
    path : str or Path
        The directory.
    verify : bool
        Check every file's SHA-256 against the manifest (about 1 s per GB). When false only
        the presence of files is checked.

    Raises
    ------
    IncompleteWorldError
        The directory, its manifest or a listed file is missing.
    CorruptWorldError
        The manifest is unreadable, of an unknown schema version, or a file's hash differs.
    """
    path = Path(path)
    if not path.is_dir():
        raise IncompleteWorldError(f"{path}: no such world directory")
    mpath = path / MANIFEST_NAME
    if not mpath.is_file():
        raise IncompleteWorldError(f"{path}: {MANIFEST_NAME} is missing (not a complete world)")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptWorldError(f"{mpath}: not valid JSON ({exc})") from None
    manifest = Manifest.from_json(data, path=mpath)
    if manifest.schema_version != SCHEMA_VERSION:
        raise CorruptWorldError(
            f"{mpath}: schema_version {manifest.schema_version} is not supported "
            f"(this fintwin reads {SCHEMA_VERSION})"
        )
    unknown = sorted(set(manifest.tables) - set(TABLE_SPECS))
    if unknown:
        raise CorruptWorldError(f"{mpath}: unknown tables {unknown}")
    for rel, digest in _iter_files(manifest):
        fpath = path / rel
        if not fpath.is_file():
            raise IncompleteWorldError(f"{path}: {rel} is listed in the manifest but missing")
        if verify and _sha256(fpath.read_bytes()) != digest:
            raise CorruptWorldError(f"{path}: {rel} does not match its SHA-256 in the manifest")
    return World(path, manifest)


def world_hashes(path: str | Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every table file (what determinism tests compare)."""
    manifest = open_world(path, verify=False).manifest
    return dict(sorted(_iter_files(manifest)))
