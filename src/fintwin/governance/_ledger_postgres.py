"""The ledger in PostgreSQL (psycopg 3): schema, appending transactions, streaming reads."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from fintwin.exceptions import LedgerFormatError, LedgerUnavailableError
from fintwin.governance._ledger_records import FORMAT, CheckpointRow, EntryRow
from fintwin.governance._ledger_store import (
    _CHECKPOINT_COLUMNS,
    _ENTRY_COLUMNS,
    BATCH,
    LedgerReader,
    LedgerStore,
    LedgerWriter,
    SqlWriter,
)

ADVISORY_KEY = int.from_bytes(b"ftaudit1", "big") & 0x7FFF_FFFF_FFFF_FFFF
"""PostgreSQL advisory lock id appenders take (a signed bigint)."""

_PG_SCHEMA = (
    [
        """CREATE TABLE IF NOT EXISTS audit_entries (
        seq BIGINT PRIMARY KEY, ts TEXT COLLATE "C" NOT NULL, kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        payload TEXT NOT NULL, prev_hash BYTEA NOT NULL, entry_hash BYTEA NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS audit_entries_ts ON audit_entries (ts, seq)",
        """CREATE TABLE IF NOT EXISTS audit_checkpoints (
        size BIGINT PRIMARY KEY, root BYTEA NOT NULL, head BYTEA NOT NULL,
        created_at TEXT NOT NULL, frontier TEXT NOT NULL)""",
        "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO audit_meta VALUES ('format', '" + FORMAT + "') ON CONFLICT DO NOTHING",
        """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the fintwin audit ledger is append-only (% on %)',
        TG_OP, TG_TABLE_NAME; END $$""",
    ]
    + [
        f"""CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()"""
        for table in ("audit_entries", "audit_checkpoints")
    ]
    + [
        f"""CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"""
        for table in ("audit_entries", "audit_checkpoints")
    ]
)


class _PgReader(LedgerReader):
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._scans = 0

    def entries(self, first: int = 1, last: int | None = None) -> Iterator[EntryRow]:
        # a server-side cursor streams: memory stays bounded whatever the table's size
        self._scans += 1
        with self.conn.cursor(name=f"audit_entries_scan_{self._scans}") as cur:
            cur.itersize = BATCH
            cur.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE seq >= %s AND seq <= %s "
                "ORDER BY seq, ctid",
                (first, last if last is not None else 2**63 - 1),
            )
            for row in cur:
                yield EntryRow(*row)

    def checkpoints(self) -> list[CheckpointRow]:
        rows = self.conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size"
        ).fetchall()
        return [CheckpointRow(*row) for row in rows]

    def last_seq_before(self, ts: str) -> int:
        row = self.conn.execute(
            "SELECT seq FROM audit_entries WHERE ts < %s ORDER BY ts DESC, seq DESC LIMIT 1",
            (ts,),
        ).fetchone()
        return 0 if row is None else row[0]

    def first_seq_from(self, ts: str) -> int | None:
        row = self.conn.execute(
            "SELECT seq FROM audit_entries WHERE ts >= %s ORDER BY ts, seq LIMIT 1", (ts,)
        ).fetchone()
        return None if row is None else row[0]

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM audit_entries").fetchone()[0]


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


class PostgresLedgerStore(LedgerStore):
    """The ledger in PostgreSQL (psycopg 3), e.g. ``FINTWIN_DB_URL=postgresql://host/db``.

    Durability: each session sets ``synchronous_commit = on``, so a commit returns only once its
    WAL record is flushed to disk on the server (whatever the server's default). Appenders on
    any number of processes or machines serialise on a transaction-scoped advisory lock
    (:data:`ADVISORY_KEY`), released by commit or rollback, or by the server if the client dies.

    Parameters
    ----------
    url : str
        A libpq connection string or URL.
    create : bool
        Create the tables if missing; otherwise their absence is a
        :class:`~fintwin.exceptions.LedgerFormatError`.
    connect_timeout_s : float
        How long to wait for the server.
    """

    def __init__(self, url: str, *, create: bool = True, connect_timeout_s: float = 10.0) -> None:
        self.dsn = url
        self.url = redact_url(url)
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn: Any = None
        if create:
            with self._transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
                for statement in _PG_SCHEMA:
                    conn.execute(statement)
        with self._transaction() as conn:
            self._check_format(conn)

    def _connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, connect_timeout=max(1, round(self.connect_timeout_s)))
            conn.execute("SET synchronous_commit = on")
            conn.commit()
        except psycopg.OperationalError as exc:
            raise LedgerUnavailableError(f"audit ledger {self.url}: {exc}".strip()) from None
        return conn

    def _check_format(self, conn: Any) -> None:
        import psycopg

        try:
            with conn.transaction():
                row = conn.execute("SELECT value FROM audit_meta WHERE key = 'format'").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        if row is None or row[0] != FORMAT:
            raise LedgerFormatError(
                f"{self.url} holds no {FORMAT} ledger (format {row and row[0]!r})"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            conn = self._conn
            try:
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                raise LedgerUnavailableError(f"audit ledger {self.url}: {exc}") from exc

    @contextlib.contextmanager
    def writer(self) -> Iterator[LedgerWriter]:
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
            yield SqlWriter(conn, "%s")

    @contextlib.contextmanager
    def reader(self) -> Iterator[LedgerReader]:
        import psycopg

        conn = self._connect()
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                yield _PgReader(conn)
        except psycopg.OperationalError as exc:
            raise LedgerUnavailableError(f"audit ledger {self.url}: {exc}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
