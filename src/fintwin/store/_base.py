"""The :class:`DecisionStore` interface, and the SQL both database backends share.

The backends differ only in how they connect, run a transaction and convert a few types
(:class:`SQLStore`'s abstract hooks); the statements, the idempotency rule and the queries
are written once here, with ``?`` placeholders.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fintwin.exceptions import DecisionNotFoundError, ParameterError, StoreError
from fintwin.governance.ledger import CanonicalJson, Ledger, RecordKind, canonical_payload
from fintwin.store._group_commit import GroupCommitter, Op
from fintwin.store._records import (
    DecisionRecord,
    Label,
    ModelActivation,
    PolicyChange,
    Recorded,
    ReviewPage,
    ReviewVerdict,
    StoreStatus,
    now_utc,
    utc,
)
from fintwin.store._schema import LATEST_VERSION, MIGRATIONS, VERSION_TABLE, Dialect

__all__ = ["DecisionStore", "SQLStore"]


class DecisionStore(ABC):
    """Durable decisions, review verdicts, labels and model activations.

    Every write returns once it is durable (committed with fsync, or fsynced to the spool).
    Writes are idempotent: decisions by idempotency key, verdicts by verdict id, labels by
    (event id, source), activations by activation id; writing an existing key stores nothing
    and returns the ORIGINAL record with ``created=False``. Thread-safe; use one store per
    process and close it (or use it as a context manager).
    """

    backend: str

    @abstractmethod
    def record_decision(self, record: DecisionRecord) -> Recorded[DecisionRecord]:
        """Store a decision once per ``record.idempotency_key``; the stored one is returned."""

    @abstractmethod
    def record_decisions(self, records: Sequence[DecisionRecord]) -> list[Recorded[DecisionRecord]]:
        """:meth:`record_decision` for each record, committed together; results in order."""

    def chain_in_transaction(self, ledger: Ledger) -> bool:
        """Append what each write records to ``ledger`` in the write's own transaction,
        rather than through the outbox the audit feed empties; True when this store can.

        Only a store whose database file holds the ledger and whose write lock is the
        ledger's chain-head lock can (SQLite); elsewhere the outbox stays.
        """
        return False

    @abstractmethod
    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        """The decision with this id, or None."""

    @abstractmethod
    def find_decision(self, idempotency_key: str) -> DecisionRecord | None:
        """The decision stored under this idempotency key, or None."""

    def find_decisions(self, idempotency_keys: Sequence[str]) -> dict[str, DecisionRecord]:
        """The decisions stored under any of these keys, by key (keys not found are absent)."""
        found = {key: self.find_decision(key) for key in dict.fromkeys(idempotency_keys)}
        return {key: record for key, record in found.items() if record is not None}

    @abstractmethod
    def review_queue(self, limit: int = 50, cursor: str | None = None) -> ReviewPage:
        """Decisions whose action is ``review`` and that have no verdict, oldest first."""

    @abstractmethod
    def record_verdict(self, verdict: ReviewVerdict) -> Recorded[ReviewVerdict]:
        """Append a verdict (raises :class:`DecisionNotFoundError` for an unknown decision)."""

    @abstractmethod
    def verdicts(self, decision_id: str) -> list[ReviewVerdict]:
        """A decision's verdicts, oldest first: the last one is in force."""

    @abstractmethod
    def record_label(self, label: Label) -> Recorded[Label]:
        """Store a label once per (event id, source)."""

    @abstractmethod
    def record_labels(self, labels: Sequence[Label]) -> list[Recorded[Label]]:
        """:meth:`record_label` for each label, committed together; results in order."""

    @abstractmethod
    def labels(self, event_id: str) -> list[Label]:
        """An event's labels, by source."""

    @abstractmethod
    def record_activation(self, activation: ModelActivation) -> Recorded[ModelActivation]:
        """Append a model activation."""

    @abstractmethod
    def activations(self, limit: int = 100) -> list[ModelActivation]:
        """The latest activations, newest first."""

    def active_model(self) -> ModelActivation | None:
        """The latest activation, or None when no model was ever activated."""
        latest = self.activations(limit=1)
        return latest[0] if latest else None

    @abstractmethod
    def record_policy_change(self, change: PolicyChange) -> Recorded[PolicyChange]:
        """Append a policy change (the latest for a model is in force)."""

    @abstractmethod
    def policy_changes(self, model_id: str, limit: int = 100) -> list[PolicyChange]:
        """A model's latest policy changes, newest first."""

    def active_policy(self, model_id: str) -> PolicyChange | None:
        """The policy change in force for a model, or None (its stored policy decides)."""
        latest = self.policy_changes(model_id, limit=1)
        return latest[0] if latest else None

    @abstractmethod
    def audit_backlog(self) -> int:
        """Records written but not yet chained into the audit ledger (the outbox's size)."""

    @abstractmethod
    def migrate(self) -> int:
        """Apply missing schema migrations; returns the schema version (idempotent)."""

    @abstractmethod
    def schema_version(self) -> int:
        """The version of the schema in the database (0 when empty)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`StoreUnavailableError` unless the database answers now."""

    @abstractmethod
    def status(self) -> StoreStatus:
        """Health and counters, for ``/readyz`` and ``/metrics``."""

    @abstractmethod
    def close(self) -> None:
        """Finish queued writes and release connections and files."""

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DECISION_COLUMNS = (
    "decision_id, idempotency_key, event_id, received_at, decided_at, action, score,"
    " model_id, policy_hash, degraded, body"
)
_VERDICT_COLUMNS = "verdict_id, decision_id, verdict, action, analyst, comment, created_at"
_LABEL_COLUMNS = "event_id, source, is_fraud, available_at, recorded_at"
_ACTIVATION_COLUMNS = "activation_id, model_id, activated_by, note, activated_at"
_POLICY_COLUMNS = "change_id, model_id, policy_hash, policy_yaml, changed_by, note, changed_at"

_INSERT_VERDICT = (
    f"INSERT INTO review_verdicts ({_VERDICT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (verdict_id) DO NOTHING"
)
_INSERT_LABEL = (
    f"INSERT INTO labels ({_LABEL_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (event_id, source) DO NOTHING"
)
_INSERT_ACTIVATION = (
    f"INSERT INTO model_activations ({_ACTIVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (activation_id) DO NOTHING"
)
_INSERT_POLICY = (
    f"INSERT INTO policy_changes ({_POLICY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (change_id) DO NOTHING"
)
_INSERT_OUTBOX = "INSERT INTO audit_outbox (kind, actor, payload) VALUES (?, ?, ?)"
_UNKNOWN_ACTOR = "unknown"  # the ledger actor of records written from Python without one
_REVIEW_QUEUE = (
    f"SELECT {_DECISION_COLUMNS} FROM decisions d WHERE d.action = 'review'"
    " AND NOT EXISTS (SELECT 1 FROM review_verdicts v WHERE v.decision_id = d.decision_id)"
    " {after} ORDER BY d.received_at, d.decision_id LIMIT ?"
)
_VERSION_TABLE_EXISTS = {
    Dialect.SQLITE: "SELECT COUNT(*) FROM sqlite_master"
    " WHERE type = 'table' AND name = 'fintwin_schema_version'",
    Dialect.POSTGRES: "SELECT COUNT(*) FROM pg_tables"
    " WHERE tablename = 'fintwin_schema_version' AND schemaname = current_schema()",
}

_KEYS_PER_QUERY = 500  # SQLite allows 32,766 parameters; PostgreSQL 65,535
_HEALTH_TTL_S = 1.0  # /metrics scrapes and /readyz probes share one ping a second


class SQLStore(DecisionStore):
    """What the SQLite and PostgreSQL stores share; subclasses supply the hooks.

    Parameters
    ----------
    group_commit : bool
        Batch concurrent writes into shared transactions on one writer thread (see
        :mod:`fintwin.store._group_commit`); False commits each write in its caller's thread.
    max_batch : int
        Most writes per group-committed transaction.
    write_timeout_s : float
        How long a caller waits for its commit before :class:`StoreUnavailableError`.
    """

    dialect: Dialect

    def __init__(self, *, group_commit: bool, max_batch: int, write_timeout_s: float) -> None:
        if max_batch < 1:
            raise ParameterError(f"max_batch must be at least 1 (got {max_batch})")
        if write_timeout_s <= 0:
            raise ParameterError(f"write_timeout_s must be positive (got {write_timeout_s})")
        self._write_timeout_s = write_timeout_s
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._counter_lock = threading.Lock()
        self._direct_commits = 0
        self._direct_writes = 0
        self._health: tuple[float, str | None] = (float("-inf"), None)
        self._ledger: Ledger | None = None  # set by chain_in_transaction where supported
        self._committer = (
            GroupCommitter(self._transaction, max_batch=max_batch, name=f"fintwin-{self.backend}")
            if group_commit
            else None
        )

    # --- hooks -----------------------------------------------------------------------------

    @abstractmethod
    def _transaction(self, ops: Sequence[Op]) -> list[Any]:
        """Run ``ops`` (via :meth:`_apply`) in one transaction and commit durably."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only statement (dialect placeholders), return all rows."""

    @abstractmethod
    def _migrate_locked(self) -> int:
        """Apply missing migrations (:meth:`_apply_migrations`) under a cross-process lock."""

    @abstractmethod
    def _sql(self, sql: str) -> str:
        """``sql`` with the dialect's placeholders."""

    @abstractmethod
    def _ts(self, value: datetime) -> Any: ...

    @abstractmethod
    def _read_ts(self, value: Any) -> datetime: ...

    @abstractmethod
    def _json(self, text: str) -> Any: ...

    @abstractmethod
    def _read_json(self, value: Any) -> Any: ...

    # --- migrations --------------------------------------------------------------------------

    def migrate(self) -> int:
        with self._schema_lock:
            version = self._migrate_locked()
            self._schema_ready = True
            return version

    def _apply_migrations(self, cur: Any) -> int:
        """The migration steps, inside the backend's transaction and lock."""
        cur.execute(VERSION_TABLE[self.dialect])
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM fintwin_schema_version")
        version = cur.fetchone()[0]
        if version > LATEST_VERSION:
            raise StoreError(
                f"the database schema is version {version}, newer than this fintwin knows "
                f"({LATEST_VERSION}); upgrade fintwin"
            )
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            for statement in migration.statements(self.dialect):
                cur.execute(statement)
            cur.execute(
                self._sql(
                    "INSERT INTO fintwin_schema_version (version, description, applied_at)"
                    " VALUES (?, ?, ?)"
                ),
                (migration.version, migration.description, self._ts(now_utc())),
            )
            version = migration.version
        return version

    def schema_version(self) -> int:
        if not self._query(_VERSION_TABLE_EXISTS[self.dialect])[0][0]:
            return 0
        rows = self._query("SELECT COALESCE(MAX(version), 0) FROM fintwin_schema_version")
        return int(rows[0][0])

    def _ready(self) -> None:
        if not self._schema_ready:
            self.migrate()

    # --- writes ------------------------------------------------------------------------------

    def _write(self, ops: Sequence[Op]) -> list[Any]:
        self._ready()
        if self._committer is not None:
            return self._committer.submit(ops, self._write_timeout_s)
        results = self._transaction(ops)
        with self._counter_lock:
            self._direct_commits += 1
            self._direct_writes += len(ops)
        return results

    def _apply_all(self, cur: Any, ops: Sequence[Op]) -> list[Any]:
        """Apply a transaction's ops: its decisions first, in one multi-row insert."""
        results: list[Any] = [None] * len(ops)
        at = [i for i, (kind, _) in enumerate(ops) if kind == "decision"]
        if at:
            decided = self._apply_decisions(cur, [ops[i][1] for i in at])
            for i, result in zip(at, decided, strict=True):
                results[i] = result
        for i, op in enumerate(ops):
            if op[0] != "decision":
                results[i] = self._apply(cur, op)
        return results

    def _apply_decisions(
        self, cur: Any, records: Sequence[DecisionRecord]
    ) -> list[Recorded[DecisionRecord]]:
        # One statement for the batch (one round trip to PostgreSQL, whatever the batch size).
        # ON CONFLICT DO NOTHING skips keys stored earlier AND repeats within the batch;
        # RETURNING names the rows that went in, so each caller learns whether it won.
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(records))
        params: list[Any] = []
        for r in records:
            params += (
                r.decision_id,
                r.idempotency_key,
                r.event_id,
                self._ts(r.received_at),
                self._ts(r.decided_at),
                r.action.value,
                r.score,
                r.model_id,
                r.policy_hash,
                r.degraded,
                self._json(r.body_json()),
            )
        cur.execute(
            self._sql(
                f"INSERT INTO decisions ({_DECISION_COLUMNS}) VALUES {values}"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, decision_id"
            ),
            params,
        )
        inserted = dict(cur.fetchall())  # key -> the decision id that went in
        stored: dict[str, DecisionRecord] = {}
        for r in records:  # the first record of the batch that carries the winning id
            if inserted.get(r.idempotency_key) == r.decision_id:
                stored.setdefault(r.idempotency_key, r)
        missing = sorted({r.idempotency_key for r in records} - stored.keys())
        if missing:
            # taken before this transaction (a retry, or a racing duplicate committed first)
            marks = ", ".join(["?"] * len(missing))
            cur.execute(
                self._sql(
                    f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE idempotency_key IN ({marks})"
                ),
                missing,
            )
            for row in cur.fetchall():
                stored[row[1]] = self._decision(row)
        results = []
        for r in records:
            winner = stored[r.idempotency_key]
            created = inserted.pop(r.idempotency_key, None) == r.decision_id and winner is r
            results.append(Recorded(winner, created=created))
        self._outbox(
            cur,
            [
                (RecordKind.DECISION, r.actor, r.audit_payload())
                for r, x in zip(records, results, strict=True)
                if x.created
            ],
        )
        return results

    def _outbox(
        self,
        cur: Any,
        rows: Sequence[tuple[RecordKind, str | None, Mapping[str, Any] | CanonicalJson]],
    ) -> None:
        """Queue for the audit feed the ledger records of what this transaction created (or,
        after :meth:`chain_in_transaction`, append them to the ledger in this transaction).

        Payloads are stored as the canonical text the ledger hashes
        (:func:`~fintwin.governance.ledger.canonical_payload`), so the feed chains them without
        decoding them, and a payload the ledger would refuse fails this write, not the feed.
        """
        if rows and self._ledger is not None:
            self._ledger.append_in(
                cur.connection,
                [(kind, payload, actor or _UNKNOWN_ACTOR) for kind, actor, payload in rows],
            )
        elif rows:
            cur.executemany(
                self._sql(_INSERT_OUTBOX),
                [
                    (
                        kind.value,
                        actor or _UNKNOWN_ACTOR,
                        payload
                        if isinstance(payload, CanonicalJson)
                        else canonical_payload(payload),
                    )
                    for kind, actor, payload in rows
                ],
            )

    def _apply(self, cur: Any, op: Op) -> Any:
        kind, record = op
        if kind == "verdict":
            return self._apply_verdict(cur, record)
        if kind == "label":
            return self._apply_label(cur, record)
        if kind == "activation":
            return self._apply_activation(cur, record)
        if kind == "policy":
            return self._apply_policy(cur, record)
        raise AssertionError(f"unknown write {kind!r}")

    def _apply_verdict(self, cur: Any, v: ReviewVerdict) -> Recorded[ReviewVerdict]:
        found = cur.execute(
            self._sql("SELECT 1 FROM decisions WHERE decision_id = ?"), (v.decision_id,)
        ).fetchone()
        if found is None:
            raise DecisionNotFoundError(f"no stored decision has id {v.decision_id!r}")
        cur.execute(
            self._sql(_INSERT_VERDICT),
            (
                v.verdict_id,
                v.decision_id,
                v.verdict.value,
                None if v.action is None else v.action.value,
                v.analyst,
                v.comment,
                self._ts(v.created_at),
            ),
        )
        if cur.rowcount == 1:
            self._outbox(cur, [(RecordKind.REVIEW, v.analyst, v.to_json())])
            return Recorded(v, created=True)
        row = cur.execute(
            self._sql(f"SELECT {_VERDICT_COLUMNS} FROM review_verdicts WHERE verdict_id = ?"),
            (v.verdict_id,),
        ).fetchone()
        return Recorded(self._verdict(row), created=False)

    def _apply_label(self, cur: Any, label: Label) -> Recorded[Label]:
        cur.execute(
            self._sql(_INSERT_LABEL),
            (
                label.event_id,
                label.source,
                label.is_fraud,
                self._ts(label.available_at),
                self._ts(label.recorded_at),
            ),
        )
        if cur.rowcount == 1:
            self._outbox(cur, [(RecordKind.LABEL, label.actor, label.to_json())])
            return Recorded(label, created=True)
        row = cur.execute(
            self._sql(f"SELECT {_LABEL_COLUMNS} FROM labels WHERE event_id = ? AND source = ?"),
            (label.event_id, label.source),
        ).fetchone()
        return Recorded(self._label(row), created=False)

    def _apply_activation(self, cur: Any, a: ModelActivation) -> Recorded[ModelActivation]:
        cur.execute(
            self._sql(_INSERT_ACTIVATION),
            (a.activation_id, a.model_id, a.activated_by, a.note, self._ts(a.activated_at)),
        )
        if cur.rowcount == 1:
            self._outbox(cur, [(RecordKind.MODEL_ACTIVATION, a.activated_by, a.to_json())])
            return Recorded(a, created=True)
        row = cur.execute(
            self._sql(
                f"SELECT {_ACTIVATION_COLUMNS} FROM model_activations WHERE activation_id = ?"
            ),
            (a.activation_id,),
        ).fetchone()
        return Recorded(self._activation(row), created=False)

    def _apply_policy(self, cur: Any, c: PolicyChange) -> Recorded[PolicyChange]:
        cur.execute(
            self._sql(_INSERT_POLICY),
            (
                c.change_id,
                c.model_id,
                c.policy_hash,
                c.policy_yaml,
                c.changed_by,
                c.note,
                self._ts(c.changed_at),
            ),
        )
        if cur.rowcount == 1:
            self._outbox(cur, [(RecordKind.POLICY_CHANGE, c.changed_by, c.to_json())])
            return Recorded(c, created=True)
        row = cur.execute(
            self._sql(f"SELECT {_POLICY_COLUMNS} FROM policy_changes WHERE change_id = ?"),
            (c.change_id,),
        ).fetchone()
        return Recorded(self._policy(row), created=False)

    def record_decision(self, record: DecisionRecord) -> Recorded[DecisionRecord]:
        return self._write([("decision", record)])[0]

    def record_decisions(self, records: Sequence[DecisionRecord]) -> list[Recorded[DecisionRecord]]:
        return self._write([("decision", r) for r in records]) if records else []

    def record_verdict(self, verdict: ReviewVerdict) -> Recorded[ReviewVerdict]:
        return self._write([("verdict", verdict)])[0]

    def record_label(self, label: Label) -> Recorded[Label]:
        return self._write([("label", label)])[0]

    def record_labels(self, labels: Sequence[Label]) -> list[Recorded[Label]]:
        return self._write([("label", x) for x in labels]) if labels else []

    def record_activation(self, activation: ModelActivation) -> Recorded[ModelActivation]:
        return self._write([("activation", activation)])[0]

    def record_policy_change(self, change: PolicyChange) -> Recorded[PolicyChange]:
        return self._write([("policy", change)])[0]

    # --- reads -------------------------------------------------------------------------------

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._ready()
        return self._query(self._sql(sql), params)

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        rows = self._read(
            f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,)
        )
        return self._decision(rows[0]) if rows else None

    def find_decision(self, idempotency_key: str) -> DecisionRecord | None:
        return self.find_decisions([idempotency_key]).get(idempotency_key)

    def find_decisions(self, idempotency_keys: Sequence[str]) -> dict[str, DecisionRecord]:
        keys = list(dict.fromkeys(idempotency_keys))
        found: dict[str, DecisionRecord] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            rows = self._read(
                f"SELECT {_DECISION_COLUMNS} FROM decisions"
                f" WHERE idempotency_key IN ({', '.join(['?'] * len(chunk))})",
                chunk,
            )
            for row in rows:
                found[row[1]] = self._decision(row)
        return found

    def review_queue(self, limit: int = 50, cursor: str | None = None) -> ReviewPage:
        if not 1 <= limit <= 1000:
            raise ParameterError(f"limit must be in [1, 1000] (got {limit})")
        if cursor is None:
            rows = self._read(_REVIEW_QUEUE.format(after=""), (limit + 1,))
        else:
            received_at, decision_id = _parse_cursor(cursor)
            rows = self._read(
                _REVIEW_QUEUE.format(after="AND (d.received_at, d.decision_id) > (?, ?)"),
                (self._ts(received_at), decision_id, limit + 1),
            )
        items = tuple(self._decision(row) for row in rows[:limit])
        more = len(rows) > limit
        next_cursor = (
            f"{items[-1].received_at.isoformat()}|{items[-1].decision_id}" if more else None
        )
        return ReviewPage(items, next_cursor)

    def verdicts(self, decision_id: str) -> list[ReviewVerdict]:
        rows = self._read(
            f"SELECT {_VERDICT_COLUMNS} FROM review_verdicts WHERE decision_id = ?"
            " ORDER BY created_at, verdict_id",
            (decision_id,),
        )
        return [self._verdict(row) for row in rows]

    def labels(self, event_id: str) -> list[Label]:
        rows = self._read(
            f"SELECT {_LABEL_COLUMNS} FROM labels WHERE event_id = ? ORDER BY source",
            (event_id,),
        )
        return [self._label(row) for row in rows]

    def activations(self, limit: int = 100) -> list[ModelActivation]:
        rows = self._read(
            f"SELECT {_ACTIVATION_COLUMNS} FROM model_activations"
            " ORDER BY activated_at DESC, activation_id DESC LIMIT ?",
            (limit,),
        )
        return [self._activation(row) for row in rows]

    def policy_changes(self, model_id: str, limit: int = 100) -> list[PolicyChange]:
        rows = self._read(
            f"SELECT {_POLICY_COLUMNS} FROM policy_changes WHERE model_id = ?"
            " ORDER BY changed_at DESC, change_id DESC LIMIT ?",
            (model_id, limit),
        )
        return [self._policy(row) for row in rows]

    def audit_backlog(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM audit_outbox")[0][0])

    def count_decisions(self) -> int:
        """How many decisions are stored (for tests, benchmarks and metrics)."""
        return int(self._read("SELECT COUNT(*) FROM decisions")[0][0])

    # --- health ------------------------------------------------------------------------------

    def ping(self) -> None:
        self._query("SELECT 1")

    def _database_error(self) -> str | None:
        checked_at, error = self._health
        now = time.monotonic()
        if now - checked_at >= _HEALTH_TTL_S:
            try:
                self.ping()
                error = None
            except StoreError as exc:
                error = str(exc)
            self._health = (now, error)
        return error

    def status(self) -> StoreStatus:
        error = self._database_error()
        committer = self._committer
        return StoreStatus(
            backend=self.backend,
            database_ok=error is None,
            database_error=error,
            commits=self._direct_commits if committer is None else committer.commits,
            writes=self._direct_writes if committer is None else committer.writes,
        )

    def _close_committer(self) -> None:
        if self._committer is not None:
            self._committer.close()

    # --- rows --------------------------------------------------------------------------------

    def _decision(self, row: Sequence[Any]) -> DecisionRecord:
        return DecisionRecord(
            decision_id=row[0],
            idempotency_key=row[1],
            event_id=row[2],
            received_at=self._read_ts(row[3]),
            decided_at=self._read_ts(row[4]),
            action=row[5],
            score=row[6],
            model_id=row[7],
            policy_hash=row[8],
            degraded=bool(row[9]),
            body=self._read_json(row[10]),
        )

    def _verdict(self, row: Sequence[Any]) -> ReviewVerdict:
        return ReviewVerdict(
            verdict_id=row[0],
            decision_id=row[1],
            verdict=row[2],
            action=row[3],
            analyst=row[4],
            comment=row[5],
            created_at=self._read_ts(row[6]),
        )

    def _label(self, row: Sequence[Any]) -> Label:
        return Label(
            event_id=row[0],
            source=row[1],
            is_fraud=bool(row[2]),
            available_at=self._read_ts(row[3]),
            recorded_at=self._read_ts(row[4]),
        )

    def _activation(self, row: Sequence[Any]) -> ModelActivation:
        return ModelActivation(
            activation_id=row[0],
            model_id=row[1],
            activated_by=row[2],
            note=row[3],
            activated_at=self._read_ts(row[4]),
        )

    def _policy(self, row: Sequence[Any]) -> PolicyChange:
        return PolicyChange(
            change_id=row[0],
            model_id=row[1],
            policy_hash=row[2],
            policy_yaml=row[3],
            changed_by=row[4],
            note=row[5],
            changed_at=self._read_ts(row[6]),
        )


def _canonical(payload: Mapping[str, Any] | CanonicalJson) -> CanonicalJson:
    return payload if isinstance(payload, CanonicalJson) else canonical_payload(payload)


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        received_at, decision_id = cursor.rsplit("|", 1)
        return utc("cursor", datetime.fromisoformat(received_at)), decision_id
    except (ValueError, ParameterError):
        raise ParameterError(
            f"cursor must be the next_cursor of a review page (got {cursor!r})"
        ) from None
