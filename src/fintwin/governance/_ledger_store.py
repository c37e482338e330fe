"""Where the ledger lives: an embedded SQLite file or PostgreSQL, behind :class:`LedgerStore`.

Both hold the same three tables (hashes as raw 32-byte values; the payload as the canonical
JSON *text*, never JSONB, whose normalisation would change the hashed bytes)::

    audit_entries(seq INTEGER PRIMARY KEY, ts TEXT, kind TEXT, actor TEXT, payload TEXT,
                  prev_hash BLOB/BYTEA, entry_hash BLOB/BYTEA)      + index on ts
    audit_checkpoints(size INTEGER PRIMARY KEY, root, head, created_at TEXT, frontier TEXT)
    audit_meta(key TEXT PRIMARY KEY, value TEXT)                    format = fintwin-audit-ledger/1

Triggers refuse UPDATE and DELETE (and TRUNCATE in PostgreSQL) on the first two: the ledger is
append-only by construction, and anyone who drops the triggers to edit history is caught by
:func:`~fintwin.governance.ledger.verify`.

Writers serialise on the chain head: SQLite ``BEGIN IMMEDIATE`` (one writer at a time per file,
others wait up to ``busy_timeout``); PostgreSQL ``pg_advisory_xact_lock(ADVISORY_KEY)`` taken
first in every appending transaction (``_ledger_postgres``). The primary key on ``seq`` is the
last line of defence: two writers that somehow read the same head cannot both commit entry ``n``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fintwin.exceptions import LedgerError, LedgerFormatError, LedgerUnavailableError
from fintwin.governance._ledger_records import FORMAT, CheckpointRow, EntryRow

BATCH = 2_000  # rows fetched per round trip when streaming: memory stays ~1.5 MB

_ENTRY_COLUMNS = "seq, ts, kind, actor, payload, prev_hash, entry_hash"
_CHECKPOINT_COLUMNS = "size, root, head, created_at, frontier"


class LedgerWriter(ABC):
    """What an appending transaction may do; it holds the chain-head lock throughout."""

    @abstractmethod
    def last_entry(self) -> EntryRow | None: ...

    @abstractmethod
    def last_checkpoint(self) -> CheckpointRow | None: ...

    @abstractmethod
    def entry_hashes(self, first: int, last: int) -> Iterator[bytes]:
        """Stored entry hashes of entries ``first..last`` (inclusive), in seq order."""

    @abstractmethod
    def insert_entries(self, rows: Iterable[EntryRow]) -> None: ...

    @abstractmethod
    def insert_checkpoint(self, row: CheckpointRow) -> None: ...


class LedgerReader(ABC):
    """A consistent read-only snapshot of a store."""

    @abstractmethod
    def entries(self, first: int = 1, last: int | None = None) -> Iterator[EntryRow]:
        """Stored rows with ``first <= seq <= last`` ordered by seq, streamed; duplicates kept."""

    @abstractmethod
    def checkpoints(self) -> list[CheckpointRow]:
        """Every checkpoint, ordered by size."""

    @abstractmethod
    def last_seq_before(self, ts: str) -> int:
        """The last seq whose timestamp text is below ``ts``; 0 if none."""

    @abstractmethod
    def first_seq_from(self, ts: str) -> int | None:
        """The first seq whose timestamp text is ``ts`` or later; None if none."""

    @abstractmethod
    def last_seq(self) -> int: ...


class LedgerStore(ABC):
    """Storage of one ledger. Thread-safe: one appending transaction at a time per object."""

    url: str
    """Where the store is (a path or a URL without password): for messages."""

    @abstractmethod
    def writer(self) -> contextlib.AbstractContextManager[LedgerWriter]:
        """An exclusive appending transaction, committed durably when the block ends."""

    @abstractmethod
    def reader(self) -> contextlib.AbstractContextManager[LedgerReader]:
        """A read-only snapshot (its own connection, so long reads never block appends)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- SQLite --------------------------------------------------------------------------------

_SQLITE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS audit_entries (
        seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
        payload TEXT NOT NULL, prev_hash BLOB NOT NULL, entry_hash BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_entries_ts ON audit_entries (ts, seq)",
    """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        size INTEGER PRIMARY KEY, root BLOB NOT NULL, head BLOB NOT NULL,
        created_at TEXT NOT NULL, frontier TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO audit_meta VALUES ('format', '" + FORMAT + "')",
] + [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, 'the fintwin audit ledger is append-only'); END"""
    for table in ("audit_entries", "audit_checkpoints")
    for op in ("UPDATE", "DELETE")
]


class SqlWriter(LedgerWriter):
    """The writer over a DB-API connection; ``mark`` is its parameter marker (``?``, ``%s``).

    The SQL is the same on SQLite and PostgreSQL; only the marker differs.
    """

    def __init__(self, conn: Any, mark: str = "?") -> None:
        self.conn = conn
        self.mark = mark
        self._entry_values = ", ".join([mark] * 7)
        self._checkpoint_values = ", ".join([mark] * 5)
        self._between = f"seq BETWEEN {mark} AND {mark}"

    def last_entry(self) -> EntryRow | None:
        row = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else EntryRow(*row)

    def last_checkpoint(self) -> CheckpointRow | None:
        row = self.conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else CheckpointRow(*row)

    def entry_hashes(self, first: int, last: int) -> Iterator[bytes]:
        cur = self.conn.execute(
            f"SELECT entry_hash FROM audit_entries WHERE {self._between} ORDER BY seq",
            (first, last),
        )
        for (h,) in cur:
            yield bytes(h)

    def insert_entries(self, rows: Iterable[EntryRow]) -> None:
        self.conn.cursor().executemany(
            f"INSERT INTO audit_entries ({_ENTRY_COLUMNS}) VALUES ({self._entry_values})",
            list(rows),
        )

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        self.conn.execute(
            f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) "
            f"VALUES ({self._checkpoint_values})",
            row,
        )


class _SqliteReader(LedgerReader):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def entries(self, first: int = 1, last: int | None = None) -> Iterator[EntryRow]:
        cur = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE seq >= ? AND seq <= ? "
            "ORDER BY seq, rowid",
            (first, last if last is not None else 2**63 - 1),
        )
        cur.arraysize = BATCH
        while rows := cur.fetchmany():
            for row in rows:
                yield EntryRow(*row)

    def checkpoints(self) -> list[CheckpointRow]:
        return [
            CheckpointRow(*row)
            for row in self.conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size"
            )
        ]

    def last_seq_before(self, ts: str) -> int:
        row = self.conn.execute(
            "SELECT seq FROM audit_entries WHERE ts < ? ORDER BY ts DESC, seq DESC LIMIT 1", (ts,)
        ).fetchone()
        return 0 if row is None else row[0]

    def first_seq_from(self, ts: str) -> int | None:
        row = self.conn.execute(
            "SELECT seq FROM audit_entries WHERE ts >= ? ORDER BY ts, seq LIMIT 1", (ts,)
        ).fetchone()
        return None if row is None else row[0]

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM audit_entries").fetchone()[0]


class SqliteLedgerStore(LedgerStore):
    """The embedded store: one SQLite file in WAL mode with ``synchronous=FULL``.

    Durability: in WAL mode every commit appends to the write-ahead log; with ``FULL`` SQLite
    fsyncs the log at each commit, so an entry survives a power cut once ``append`` returns.
    (``NORMAL`` would fsync only at WAL checkpoints: safe against a process crash, but the last
    commits could vanish on power loss, which an audit trail cannot accept.) Appends from several
    processes serialise on ``BEGIN IMMEDIATE``; waiting writers retry for ``busy_timeout_s``.

    Parameters
    ----------
    path : str or Path
        The database file (created with its folder when ``create``).
    create : bool
        Create the file and tables if missing; otherwise a missing file is a
        :class:`~fintwin.exceptions.LedgerError`.
    busy_timeout_s : float
        How long a writer waits for another process's transaction.
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, busy_timeout_s: float = 60.0
    ) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.busy_timeout_s = busy_timeout_s
        if not self.path.exists():
            if not create:
                raise LedgerError(f"no audit ledger at {self.path} (the file does not exist)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            if create:
                with self._transaction() as conn:
                    for statement in _SQLITE_SCHEMA:
                        conn.execute(statement)
            self._check_format(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise LedgerFormatError(f"{self.path} is not an SQLite database: {exc}") from None
        return conn

    def _check_format(self, conn: sqlite3.Connection) -> None:
        try:
            row = conn.execute("SELECT value FROM audit_meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None or row[0] != FORMAT:
            raise LedgerFormatError(
                f"{self.path} is not a {FORMAT} store (format {row and row[0]!r})"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LedgerUnavailableError(f"audit ledger {self.path}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise LedgerUnavailableError(f"audit ledger {self.path}: {exc}") from exc
                raise

    @contextlib.contextmanager
    def writer(self) -> Iterator[LedgerWriter]:
        with self._transaction() as conn:
            yield SqlWriter(conn, "?")

    @contextlib.contextmanager
    def reader(self) -> Iterator[LedgerReader]:
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for every query of this reader
            yield _SqliteReader(conn)
        finally:
            conn.close()

    def close(self) -> None:
        self._conn.close()


def open_store(target: str | Path, *, create: bool = True) -> LedgerStore:
    """The store at ``target``: a ``postgresql://`` / ``postgres://`` URL, ``sqlite:///PATH``,
    or a file path (SQLite).

    ``create=False`` opens only an existing ledger (for verification: never creates one).
    """
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from fintwin.governance._ledger_postgres import PostgresLedgerStore, redact_url

        return PostgresLedgerStore(text, create=create)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")  # as SQLAlchemy: sqlite:////abs/path
    elif "://" in text:
        from fintwin.governance._ledger_postgres import redact_url

        raise LedgerError(f"unknown ledger URL scheme in {redact_url(text)!r} "
                          "(postgresql://..., sqlite:///PATH or a file path)")  # fmt: skip
    return SqliteLedgerStore(text, create=create)
