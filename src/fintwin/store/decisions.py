"""Durable decisions for the service: idempotent, group-committed, spooled while the database
is down.

:func:`open_store` gives the store the service uses: SQLite in the data directory by default,
PostgreSQL when ``FINTWIN_DB_URL`` (or ``url``) names one, wrapped in a :class:`SpoolingStore`
when a spool directory is given. Every write returns once durable; writes are idempotent and
return the ORIGINAL record for a key already stored (see :class:`DecisionStore`).

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
>>> record = DecisionRecord(
...     decision_id="d-1", idempotency_key="req-1", event_id="tx-1", received_at=when,
...     decided_at=when, action="review", score=0.7, model_id=None, policy_hash="abc",
...     degraded=False, body={"action": "review"},
... )
>>> with tempfile.TemporaryDirectory() as tmp:
...     with open_store(url=None, data_dir=tmp) as store:
...         first = store.record_decision(record)
...         retry = store.record_decision(record)  # the same request again
...         queue = store.review_queue(limit=10)
>>> first.created, retry.created, retry.record.decision_id, len(queue.items)
(True, False, 'd-1', 1)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fintwin.exceptions import ParameterError
from fintwin.store._base import DecisionStore
from fintwin.store._records import (
    DecisionRecord,
    Label,
    ModelActivation,
    PolicyChange,
    Recorded,
    ReviewPage,
    ReviewVerdict,
    StoreStatus,
    Verdict,
)
from fintwin.store._spooling import SpoolingStore
from fintwin.store._sqlite import SQLiteStore

if TYPE_CHECKING:
    from fintwin.store._postgres import PostgresStore

__all__ = [
    "DB_URL_ENV",
    "DecisionRecord",
    "DecisionStore",
    "Label",
    "ModelActivation",
    "PolicyChange",
    "PostgresStore",
    "Recorded",
    "ReviewPage",
    "ReviewVerdict",
    "SQLiteStore",
    "SpoolingStore",
    "StoreStatus",
    "Verdict",
    "open_store",
]

DB_URL_ENV = "FINTWIN_DB_URL"
"""The environment variable naming the database (``postgresql://...`` or ``sqlite:///path``)."""


def __getattr__(name: str) -> Any:
    # psycopg is needed only for PostgreSQL: import it when asked for
    if name == "PostgresStore":
        from fintwin.store._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    url: str | None = None,
    *,
    data_dir: str | Path | None = None,
    spool_dir: str | Path | None = None,
    group_commit: bool = True,
    background_drain: bool = True,
) -> DecisionStore:
    """Open the decision store the settings name.

    Parameters
    ----------
    url : str, optional
        ``postgresql://...`` (or ``postgres://``) for PostgreSQL, ``sqlite:///path/file.db`` for
        SQLite. Default: the ``FINTWIN_DB_URL`` environment variable, else SQLite at
        ``data_dir/decisions.db``.
    data_dir : str or Path, optional
        The service's data directory: holds the SQLite file and, unless ``spool_dir`` says
        otherwise, the spool (``data_dir/spool``).
    spool_dir : str or Path, optional
        Spool directory; with neither it nor ``data_dir`` there is no spool (writes fail with
        :class:`~fintwin.exceptions.StoreUnavailableError` when the database is down).
    group_commit : bool
        Batch concurrent writes into shared transactions (the default; see the backends).
    background_drain : bool
        Drain the spool from a background thread once the database is back.

    Returns
    -------
    DecisionStore
        A :class:`SpoolingStore` around the database store when there is a spool directory.
    """
    url = url if url is not None else os.environ.get(DB_URL_ENV) or None
    store: DecisionStore
    if url is None or url.startswith("sqlite:///"):
        if url is None:
            if data_dir is None:
                raise ParameterError(
                    f"give a database url, set {DB_URL_ENV}, or give a data_dir for the "
                    "embedded SQLite store"
                )
            path = Path(data_dir) / "decisions.db"
            Path(data_dir).mkdir(parents=True, exist_ok=True)
        else:
            path = Path(url.removeprefix("sqlite:///"))
        store = SQLiteStore(path, group_commit=group_commit)
    elif url.startswith(("postgresql://", "postgres://")):
        from fintwin.store._postgres import PostgresStore

        store = PostgresStore(url, group_commit=group_commit)
    else:
        scheme = url.split(":", 1)[0]
        raise ParameterError(
            f"database url must start with postgresql:// or sqlite:/// (got scheme {scheme!r})"
        )
    if spool_dir is None and data_dir is not None:
        spool_dir = Path(data_dir) / "spool"
    if spool_dir is None:
        return store
    return SpoolingStore(store, spool_dir, background=background_drain)
