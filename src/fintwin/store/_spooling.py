"""A store that keeps taking decisions while its database is down: spool, then drain.

:class:`SpoolingStore` wraps a database store. A decision it cannot commit because the
database is unavailable is appended to the local spool (fsynced) and the caller gets success
with ``spooled=True``. After a failure the database is left alone for ``retry_after_s`` (no
caller waits on a dead server twice); a background thread probes it every ``drain_interval_s``
and, once it answers, drains the spool: each segment's records are replayed with the
idempotent insert, then the segment is deleted. A drain interrupted anywhere (crash, lost
connection) leaves the segment in place and the next drain replays it again: records already
inserted are skipped by their idempotency key, so each decision is stored exactly once.

Idempotency while spooled: the store indexes every spooled record by key and id, so a retried
request gets the spooled decision back, before and after the database returns. What it cannot
know during an outage is what another process spooled, or what the database held before the
outage; those duplicates resolve at drain time to the record stored first.

Only decisions are spooled. Verdicts, labels and activations need the database (they are
answered by people or batch jobs that can retry) and raise :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from fintwin.exceptions import ParameterError, StoreError, StoreUnavailableError
from fintwin.governance.ledger import Ledger
from fintwin.store._base import DecisionStore
from fintwin.store._records import (
    DecisionRecord,
    Label,
    ModelActivation,
    PackedDecision,
    PolicyChange,
    Recorded,
    ReviewPage,
    ReviewVerdict,
    StoreStatus,
)
from fintwin.store._spool import Segment, Spool, read_segment

__all__ = ["SpoolingStore"]

_log = logging.getLogger(__name__)
_DRAIN_CHUNK = 500  # records per replay transaction


class SpoolingStore(DecisionStore):
    """A database store with a local spool for decisions while the database is unavailable.

    Parameters
    ----------
    store : DecisionStore
        The database store (:class:`SQLiteStore` or :class:`PostgresStore`); closed with this.
    spool_dir : str or Path
        The spool directory; processes of one service may share it.
    retry_after_s : float
        After the database failed, writes go straight to the spool for this long.
    drain_interval_s : float
        How often the background thread probes the database and drains.
    background : bool
        Run the background drain thread; False leaves draining to :meth:`drain`.
    recent_answers : int
        How many decisions stored in the database this process remembers (about 5 KB each
        with their features), to answer retries of them while the database is down.
    """

    def __init__(
        self,
        store: DecisionStore,
        spool_dir: str | Path,
        *,
        retry_after_s: float = 1.0,
        drain_interval_s: float = 1.0,
        background: bool = True,
        recent_answers: int = 10_000,
    ) -> None:
        if retry_after_s < 0 or drain_interval_s <= 0:
            raise ParameterError(
                "retry_after_s must be non-negative and drain_interval_s positive "
                f"(got {retry_after_s}, {drain_interval_s})"
            )
        self.inner = store
        self.backend = store.backend
        self._spool = Spool(spool_dir)
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()  # the index below, and the spool's check-then-append
        self._pending: dict[str, tuple[Segment, int]] = {}  # idempotency key -> where
        self._pending_ids: dict[str, str] = {}  # decision id -> idempotency key
        self._segment_keys: dict[Path, list[tuple[str, str]]] = {}  # (key, decision id)
        self._claimed: list[Segment] = []  # segments to drain, locked by us
        # key -> answered; packed, so the garbage collector does not scan 10,000s of bodies
        self._recent: OrderedDict[str, PackedDecision] = OrderedDict()
        self._recent_limit = recent_answers
        self._drain_lock = threading.Lock()
        self._down_until = 0.0
        self.torn_records = 0
        self.drained = 0
        self._closed = False
        self._claim_orphans()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._background, args=(drain_interval_s,), name="fintwin-drain", daemon=True
            )
            self._thread.start()

    # --- the spool index ---------------------------------------------------------------------

    def _index(self, segment: Segment, offset: int, record: DecisionRecord) -> None:
        if record.idempotency_key in self._pending:
            return  # two segments with one key: the drain keeps the first stored anyway
        self._pending[record.idempotency_key] = (segment, offset)
        self._pending_ids[record.decision_id] = record.idempotency_key
        keys = self._segment_keys.setdefault(segment.path, [])
        keys.append((record.idempotency_key, record.decision_id))

    def _spooled(self, key: str) -> DecisionRecord | None:
        with self._lock:
            where = self._pending.get(key)
            if where is None:
                return None
            segment, offset = where
            return DecisionRecord.from_json(json.loads(segment.read_at(offset)))

    def _claim_orphans(self) -> None:
        with self._lock:
            mine = {s.path for s in self._claimed}
            for segment in self._spool.claim_orphans(exclude=mine):
                content = read_segment(segment.path)
                if content.torn_bytes:
                    self.torn_records += 1
                    _log.warning(
                        "spool segment %s: skipped a torn tail of %d bytes (a crash mid-append)",
                        segment.path,
                        content.torn_bytes,
                    )
                for offset, payload in content.records:
                    self._index(segment, offset, DecisionRecord.from_json(json.loads(payload)))
                self._claimed.append(segment)

    def _spool_decision(self, record: DecisionRecord) -> Recorded[DecisionRecord]:
        payload = json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False).encode()
        with self._lock:
            if record.idempotency_key in self._pending:
                segment, offset = self._pending[record.idempotency_key]
                original = DecisionRecord.from_json(json.loads(segment.read_at(offset)))
                return Recorded(original, created=False, spooled=True)
            segment, offset = self._spool.append(payload)
            self._index(segment, offset, record)
        return Recorded(record, created=True, spooled=True)

    def _database_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _mark_down(self, exc: Exception) -> None:
        if not self._database_down():
            _log.warning("decision store unavailable, spooling: %s", exc)
        self._down_until = time.monotonic() + self._retry_after_s

    # --- decisions ---------------------------------------------------------------------------

    def record_decision(self, record: DecisionRecord) -> Recorded[DecisionRecord]:
        return self.record_decisions([record])[0]

    def record_decisions(self, records: Sequence[DecisionRecord]) -> list[Recorded[DecisionRecord]]:
        results: list[Recorded[DecisionRecord] | None] = []
        todo = []
        for record in records:
            spooled = self._spooled(record.idempotency_key)
            results.append(None if spooled is None else Recorded(spooled, False, spooled=True))
            if spooled is None:
                todo.append(record)
        stored: list[Recorded[DecisionRecord]] | None = None
        if todo and not self._database_down():
            try:
                stored = self.inner.record_decisions(todo)
            except StoreUnavailableError as exc:
                self._mark_down(exc)
            else:
                self._remember(stored)
        if stored is None:
            stored = [self._spool_decision(record) for record in todo]
        fill = iter(stored)
        return [r if r is not None else next(fill) for r in results]

    def chain_in_transaction(self, ledger: Ledger) -> bool:
        return self.inner.chain_in_transaction(ledger)

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        with self._lock:
            key = self._pending_ids.get(decision_id)
        if key is not None:
            spooled = self._spooled(key)
            if spooled is not None:
                return spooled
        return self.inner.get_decision(decision_id)

    def find_decision(self, idempotency_key: str) -> DecisionRecord | None:
        """The decision stored under the key: spooled, in the database, or, while the
        database is down, among the last decisions this process answered; else None."""
        return self.find_decisions([idempotency_key]).get(idempotency_key)

    def find_decisions(self, idempotency_keys: Sequence[str]) -> dict[str, DecisionRecord]:
        """:meth:`find_decision` of each key, in one query of the database."""
        found: dict[str, DecisionRecord] = {}
        ask = []
        for key in dict.fromkeys(idempotency_keys):
            spooled = self._spooled(key)
            if spooled is None:
                ask.append(key)
            else:
                found[key] = spooled
        if ask and not self._database_down():
            try:
                stored = self.inner.find_decisions(ask)
            except StoreUnavailableError as exc:
                self._mark_down(exc)
            else:
                self._remember([Recorded(r, created=False) for r in stored.values()])
                return found | stored
        with self._lock:
            recent = {k: self._recent[k] for k in ask if k in self._recent}
        return found | {k: DecisionRecord.unpacked(p) for k, p in recent.items()}

    def _remember(self, results: Sequence[Recorded[DecisionRecord]]) -> None:
        # what this process answered from the database, so that a retry arriving while the
        # database is down gets the same decision rather than a second one
        with self._lock:
            for r in results:
                self._recent[r.record.idempotency_key] = r.record.packed()
                self._recent.move_to_end(r.record.idempotency_key)
            while len(self._recent) > self._recent_limit:
                self._recent.popitem(last=False)

    # --- drain -------------------------------------------------------------------------------

    def drain(self) -> int:
        """Replay every spooled decision into the database; returns how many were replayed.

        Raises :class:`StoreUnavailableError` when the database is still unavailable (what was
        replayed stays replayed; the rest waits for the next drain).
        """
        with self._drain_lock:
            with self._lock:
                self._claimed.extend(self._spool.rotate())
            self._claim_orphans()
            replayed = 0
            for segment in list(self._claimed):
                replayed += self._replay(segment)
            self._down_until = 0.0
            return replayed

    def _replay(self, segment: Segment) -> int:
        content = read_segment(segment.path)
        records = []
        for offset, payload in content.records:
            try:
                records.append(DecisionRecord.from_json(json.loads(payload)))
            except (ValueError, KeyError, ParameterError) as exc:
                # CRC-valid but unreadable: written by another version? keep it for a person
                raise StoreError(
                    f"spool segment {segment.path}, record at byte {offset}: {exc}"
                ) from exc
        for start in range(0, len(records), _DRAIN_CHUNK):
            self.inner.record_decisions(records[start : start + _DRAIN_CHUNK])
        with self._lock:
            for key, decision_id in self._segment_keys.pop(segment.path, []):
                self._pending.pop(key, None)
                self._pending_ids.pop(decision_id, None)
            self._claimed.remove(segment)
            segment.discard()
        self.drained += len(records)
        return len(records)

    def _background(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                if not self._has_work():
                    continue
                self.inner.ping()
                count = self.drain()
                if count:
                    _log.info("drained %d spooled decisions into the database", count)
            except StoreUnavailableError:
                continue  # still down: try again next tick
            except Exception:  # keep draining later whatever happened; say what it was
                _log.exception("spool drain failed")

    def _has_work(self) -> bool:
        with self._lock:
            if self._pending or self._claimed:
                return True
        return any(self._spool.directory.glob("*.spool"))

    # --- everything else goes to the database ---------------------------------------------

    def review_queue(self, limit: int = 50, cursor: str | None = None) -> ReviewPage:
        return self.inner.review_queue(limit, cursor)

    def record_verdict(self, verdict: ReviewVerdict) -> Recorded[ReviewVerdict]:
        return self.inner.record_verdict(verdict)

    def verdicts(self, decision_id: str) -> list[ReviewVerdict]:
        return self.inner.verdicts(decision_id)

    def record_label(self, label: Label) -> Recorded[Label]:
        return self.inner.record_label(label)

    def record_labels(self, labels: Sequence[Label]) -> list[Recorded[Label]]:
        return self.inner.record_labels(labels)

    def labels(self, event_id: str) -> list[Label]:
        return self.inner.labels(event_id)

    def record_activation(self, activation: ModelActivation) -> Recorded[ModelActivation]:
        return self.inner.record_activation(activation)

    def activations(self, limit: int = 100) -> list[ModelActivation]:
        return self.inner.activations(limit)

    def record_policy_change(self, change: PolicyChange) -> Recorded[PolicyChange]:
        return self.inner.record_policy_change(change)

    def policy_changes(self, model_id: str, limit: int = 100) -> list[PolicyChange]:
        return self.inner.policy_changes(model_id, limit)

    def audit_backlog(self) -> int:
        return self.inner.audit_backlog()

    def migrate(self) -> int:
        return self.inner.migrate()

    def schema_version(self) -> int:
        return self.inner.schema_version()

    def ping(self) -> None:
        self.inner.ping()

    def count_decisions(self) -> int:
        """Decisions in the database (spooled ones are in ``status().spooled``)."""
        return self.inner.count_decisions()  # type: ignore[attr-defined]

    def status(self) -> StoreStatus:
        inner = self.inner.status()
        with self._lock:
            spooled = len(self._pending)
        return StoreStatus(
            backend=inner.backend,
            database_ok=inner.database_ok,
            database_error=inner.database_error,
            spooled=spooled,
            spool_bytes=self._spool.size_bytes(),
            torn_records=self.torn_records,
            drained=self.drained,
            spool_enabled=True,
            commits=inner.commits,
            writes=inner.writes,
        )

    def close(self) -> None:
        """Stop the drain thread, drain once more if the database answers, release files."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if self._has_work():
                self.drain()
        except StoreError as exc:
            _log.warning("closing with spooled decisions left for the next start: %s", exc)
        with self._lock:
            for segment in self._claimed:
                segment.close()
            self._claimed.clear()
        self._spool.close()
        self.inner.close()
