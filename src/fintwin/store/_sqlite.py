"""The embedded decision store: one SQLite file, write-ahead log, group commit.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. In WAL mode ``NORMAL`` fsyncs only
at checkpoints, so a commit acknowledged just before a power cut can be lost (the database stays
consistent, but the decision is gone); ``FULL`` fsyncs the log at every commit, which is what
"durable before the 2xx" needs. The fsync per commit is the cost, and group commit shares it:
the writer thread commits all the writes queued meanwhile in one transaction.

With :meth:`SQLiteStore.chain_in_transaction` (the service does it), each write appends its
audit ledger records in its own transaction: the ledger lives in the same file and its
chain-head lock is the file's write lock, which ``BEGIN IMMEDIATE`` already holds.

Readers use their own connection per thread; in WAL mode they never block the writer nor wait
for it. Several processes may share the file: SQLite's file lock serialises their writers
(``BEGIN IMMEDIATE`` waits up to ``busy_timeout_s``) and the UNIQUE idempotency key makes the
race safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fintwin.exceptions import ParameterError, StoreError, StoreUnavailableError
from fintwin.governance.ledger import Ledger
from fintwin.store._base import SQLStore
from fintwin.store._group_commit import Op
from fintwin.store._schema import Dialect

__all__ = ["SQLiteStore"]

# errors that mean "the file cannot be used now" rather than "this write is wrong"
_UNAVAILABLE = ("locked", "busy", "disk i/o", "unable to open", "disk is full", "readonly")


def _map_error(exc: sqlite3.Error, path: Path) -> StoreError:
    message = f"SQLite store {path}: {exc}"
    if isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in _UNAVAILABLE
    ):
        return StoreUnavailableError(message)
    return StoreError(message)


class SQLiteStore(SQLStore):
    """Decisions in a local SQLite file (the embedded default).

    Parameters
    ----------
    path : str or Path
        The database file; created with its schema when missing.
    group_commit : bool
        Batch concurrent writes into one transaction (one fsync) on a writer thread; False
        commits each write in its caller's thread (the baseline the benchmark compares).
    max_batch : int
        Most writes per transaction.
    busy_timeout_s : float
        How long a write waits for another process holding the file's write lock.
    write_timeout_s : float
        How long a caller waits for its commit.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with SQLiteStore(pathlib.Path(tmp) / "decisions.db") as store:
    ...         store.schema_version()
    2
    """

    backend = "sqlite"
    dialect = Dialect.SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        group_commit: bool = True,
        max_batch: int = 256,
        busy_timeout_s: float = 5.0,
        write_timeout_s: float = 10.0,
    ) -> None:
        if busy_timeout_s < 0:
            raise ParameterError(f"busy_timeout_s must be non-negative (got {busy_timeout_s})")
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        super().__init__(
            group_commit=group_commit, max_batch=max_batch, write_timeout_s=write_timeout_s
        )
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreUnavailableError(f"SQLite store {self.path} is closed")
        try:
            # autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise _map_error(exc, self.path) from exc
        with self._connections_lock:
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _transaction(self, ops: Sequence[Op]) -> list[Any]:
        return self._immediate(lambda cur: self._apply_all(cur, ops))

    def chain_in_transaction(self, ledger: Ledger) -> bool:
        ledger_path = getattr(ledger.store, "path", None)
        if ledger_path is None or Path(ledger_path).resolve() != self.path.resolve():
            raise ParameterError(
                f"the ledger must be in the store's file {self.path} (got {ledger.store.url})"
            )
        self._ledger = ledger
        return True

    def _migrate_locked(self) -> int:
        # BEGIN IMMEDIATE takes the file's write lock: processes migrate one after the other
        return self._immediate(self._apply_migrations)

    def _immediate(self, work: Callable[[sqlite3.Cursor], Any]) -> Any:
        """``work(cursor)`` in one ``BEGIN IMMEDIATE`` transaction (the file's write lock),
        committed, or rolled back if it raises."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn.cursor())
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _map_error(exc, self.path) from exc
        return result

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _map_error(exc, self.path) from exc

    def _sql(self, sql: str) -> str:
        return sql

    def _ts(self, value: datetime) -> str:
        # fixed width (4-digit year, microseconds always present): text order is time order
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def _read_ts(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _json(self, text: str) -> str:
        return text

    def _read_json(self, value: Any) -> Any:
        return json.loads(value)

    def close(self) -> None:
        if self._closed:
            return
        self._close_committer()
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
