"""The PostgreSQL decision store (``FINTWIN_DB_URL``): psycopg 3 and a connection pool.

Durability is PostgreSQL's: a COMMIT returns once its WAL record is flushed (the default
``synchronous_commit=on``; the store refuses to run against ``off``, which acknowledges commits
that a crash can lose). Writes go through the same group commit as SQLite: one writer thread,
one pooled connection, many writes per transaction, fewer WAL flushes and round trips than one
transaction per request (``bench/bench_decision_store.py`` measures both;
``group_commit=False`` gives the per-request form). Reads use the pool from the callers' threads.

An unreachable server (refused, timed out, lost) raises :class:`StoreUnavailableError`; the
pool reconnects in the background, so the store serves again once the server is back.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from fintwin.exceptions import ParameterError, StoreError, StoreUnavailableError
from fintwin.store._base import SQLStore
from fintwin.store._group_commit import Op
from fintwin.store._schema import Dialect

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = 0x46494E54  # pg_advisory_xact_lock key ("FINT"): one migrating process


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparsable database URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))


class PostgresStore(SQLStore):
    """Decisions in PostgreSQL.

    Parameters
    ----------
    url : str
        A libpq connection string or URL (``postgresql://user@host:port/db``).
    pool_size : int
        Most connections (the writer takes one; readers share the rest).
    connect_timeout_s : float
        How long to wait for a connection (from the pool or the server) before the database
        counts as unavailable.
    group_commit : bool
        Batch concurrent writes into one transaction on a writer thread; False runs one
        transaction per write in the caller's thread.
    max_batch : int
        Most writes per transaction.
    write_timeout_s : float
        How long a caller waits for its commit.

    The schema is migrated on the first use that reaches the server, so a store opened while
    the server is down still takes writes (into a spool, see :class:`SpoolingStore`).
    """

    backend = "postgres"
    dialect = Dialect.POSTGRES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        connect_timeout_s: float = 2.0,
        group_commit: bool = True,
        max_batch: int = 256,
        write_timeout_s: float = 5.0,
    ) -> None:
        if pool_size < 1:
            raise ParameterError(f"pool_size must be at least 1 (got {pool_size})")
        if connect_timeout_s <= 0:
            raise ParameterError(f"connect_timeout_s must be positive (got {connect_timeout_s})")
        self._where = _redact(url)
        self._closed = False
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={
                # reads run in autocommit; writes open explicit transactions
                "autocommit": True,
                # libpq counts whole seconds, at least 2
                "connect_timeout": max(2, math.ceil(connect_timeout_s)),
                "options": "-c timezone=UTC",
            },
            # a connection broken by a server restart is replaced before use, not handed out
            check=ConnectionPool.check_connection,
            timeout=connect_timeout_s,
            open=False,
            name="fintwin-store",
        )
        self._pool.open(wait=False)
        super().__init__(
            group_commit=group_commit, max_batch=max_batch, write_timeout_s=write_timeout_s
        )
        with contextlib.suppress(StoreUnavailableError):
            self.migrate()  # else migrated on first use once the server answers

    def _map_error(self, exc: Exception) -> StoreError:
        message = f"PostgreSQL store ({self._where}): {exc}"
        if isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
            return StoreUnavailableError(message)
        return StoreError(message)

    def _transaction(self, ops: Sequence[Op]) -> list[Any]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                cur = conn.cursor()
                return self._apply_all(cur, ops)
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._map_error(exc) from exc

    def _migrate_locked(self) -> int:
        try:
            with self._pool.connection() as conn:
                mode = conn.execute("SHOW synchronous_commit").fetchone()[0]
                if mode == "off":
                    raise StoreError(
                        f"PostgreSQL ({self._where}) runs with synchronous_commit=off: a crash "
                        "can lose acknowledged decisions; set it to on"
                    )
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    return self._apply_migrations(conn.cursor())
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._map_error(exc) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql, params).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._map_error(exc) from exc

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _ts(self, value: datetime) -> datetime:
        return value

    def _read_ts(self, value: Any) -> datetime:
        return value.astimezone(UTC)

    def _json(self, text: str) -> Jsonb:
        # the body is already JSON text (checked for NaN): send it as it is
        return Jsonb(text, dumps=lambda already_json: already_json)

    def _read_json(self, value: Any) -> Any:
        return value

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_committer()
        self._pool.close()
