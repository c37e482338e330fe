"""The audit feed: moves what the decision store wrote into the audit ledger, exactly once.

Every record the store writes (decision, review verdict, label, model activation, policy
change) leaves, in the same transaction, a row in its ``audit_outbox`` table: the ledger
record to append. :class:`AuditFeed` takes outbox rows oldest first, appends them to the
:class:`~fintwin.governance.ledger.Ledger` and deletes them **in one transaction** of the
ledger's database, which must therefore be the store's database (the same SQLite file, or
the same PostgreSQL database). So:

- nothing the store holds is missing from the ledger once the feed has caught up, whatever
  crashed in between (a kill -9 leaves the rows in the outbox; the next feed chains them);
- nothing is chained twice (the rows leave the outbox in the transaction that chains them;
  feeds of several processes serialise on the ledger's chain-head lock);
- a decision answered while the database was down reaches the ledger when its spool drains;
- the decision path never waits for the ledger: chaining is batched (hundreds of records per
  commit) off the request thread, typically within :attr:`AuditFeed.idle_s` of the write.

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> from fintwin.governance.ledger import Ledger
>>> from fintwin.store.decisions import DecisionRecord, open_store
>>> when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
>>> record = DecisionRecord(
...     decision_id="d-1", idempotency_key="req-1", event_id="tx-1", received_at=when,
...     decided_at=when, action="approve", score=0.1, model_id=None, policy_hash="abc",
...     degraded=False, body={"action": "approve"}, actor="scorer:key_1",
... )
>>> data = tempfile.mkdtemp()
>>> store = open_store(data_dir=data)
>>> ledger = Ledger(f"{data}/decisions.db")
>>> _ = store.record_decision(record)
>>> feed = AuditFeed(store, ledger)
>>> feed.run_once(), store.audit_backlog(), ledger.head().actor
(1, 0, 'scorer:key_1')
>>> feed.close(); ledger.close(); store.close()
"""

from __future__ import annotations

import logging
import threading

from fintwin._validation import check_positive
from fintwin.exceptions import FintwinError
from fintwin.governance.ledger import CanonicalJson, Ledger, SqlWriter
from fintwin.store._base import DecisionStore

__all__ = ["AuditFeed", "take_outbox"]

_log = logging.getLogger(__name__)
_RETRY_S = 1.0  # pause after a failed round (database down) before trying again


def take_outbox(writer: SqlWriter, limit: int) -> list[tuple[str, CanonicalJson, str]]:
    """Read and delete the oldest ``limit`` outbox rows in ``writer``'s transaction.

    Returns
    -------
    list of (kind, payload, actor)
        The ledger records, in outbox order; payloads as the store encoded them (canonical
        JSON, see :meth:`~fintwin.store.decisions.DecisionStore` writes).
    """
    rows = writer.conn.execute(
        f"SELECT id, kind, actor, payload FROM audit_outbox ORDER BY id LIMIT {int(limit)}"
    ).fetchall()
    if rows:
        # by id, not "id <= max": in PostgreSQL a lower id may commit after this read
        marks = ", ".join([writer.mark] * len(rows))
        writer.conn.execute(f"DELETE FROM audit_outbox WHERE id IN ({marks})", [r[0] for r in rows])
    return [(kind, CanonicalJson(payload), actor) for _, kind, actor, payload in rows]


class AuditFeed:
    """Chains the store's outbox into the ledger, in a background thread or on demand.

    Parameters
    ----------
    store : DecisionStore
        The store whose outbox is fed (migrated here, so the outbox exists).
    ledger : Ledger
        A ledger in the store's database.
    batch : int
        Most records chained per transaction.
    idle_s : float
        Pause between rounds when the outbox was empty, seconds.
    """

    def __init__(
        self, store: DecisionStore, ledger: Ledger, *, batch: int = 500, idle_s: float = 0.05
    ) -> None:
        check_positive("batch", batch)
        check_positive("idle_s", idle_s)
        self.store = store
        self.ledger = ledger
        self.batch = batch
        self.idle_s = idle_s
        self.chained = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Chain one batch; returns how many records were appended.

        Raises
        ------
        LedgerUnavailableError, StoreError
            The database cannot be reached: nothing was appended or deleted.
        """
        if self.chained == 0:
            self.store.migrate()
        entries = self.ledger.append_within(lambda w: take_outbox(w, self.batch))
        self.chained += len(entries)
        return len(entries)

    def catch_up(self) -> int:
        """Chain until the outbox is empty; returns how many records were appended."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def start(self) -> None:
        """Run the feed in a daemon thread until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="fintwin-audit-feed", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                n = self.run_once()
            except Exception as exc:  # the thread must outlive any outage
                if self.last_error is None:  # log an outage once, not every round
                    _log.warning("audit feed paused: %s", exc)
                self.last_error = str(exc)
                self._stop.wait(_RETRY_S)
                continue
            if self.last_error is not None:
                _log.info("audit feed resumed")
                self.last_error = None
            if n < self.batch:
                self._stop.wait(self.idle_s)

    def close(self) -> None:
        """Stop the thread, then chain what is left if the database answers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.catch_up()
        except FintwinError as exc:  # left in the outbox: the next feed chains it
            _log.warning("audit feed stopped with records left in the outbox: %s", exc)
