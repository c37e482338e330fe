"""A tamper-evident, append-only audit ledger: a SHA-256 hash chain with Merkle checkpoints.

Every decision, review verdict, label, model activation and policy change is appended as one
entry. Anyone holding a checkpoint (a 300-byte JSON, see :class:`Checkpoint`) can later prove
that no entry up to it was changed, removed or reordered, without trusting the database.

What an entry is
----------------
``seq`` (1, 2, 3 ... without gaps), ``ts`` (when it was appended: UTC text
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, never decreasing along the chain), ``kind`` (a
:class:`RecordKind` value), ``actor`` (who caused it: an API key id and role such as
``"analyst:key_7f3a"``, never a secret) and ``payload`` (a JSON object: what was decided and why).

Canonical encoding (RFC 8785, JSON Canonicalization Scheme)
-----------------------------------------------------------
The hashed bytes of an entry are the UTF-8 RFC 8785 encoding of the JSON object
``{"actor": ..., "kind": ..., "payload": ..., "seq": ..., "ts": ...}``: keys sorted (by UTF-16
code units), no whitespace, strings escaping only ``"``, ``\\`` and control characters, numbers
as ECMAScript prints doubles. Python values map onto JSON first: ``Decimal`` amounts become
strings (``"12.30"``), aware datetimes the timestamp text above, Enums their values; integers
beyond 2**53, NaN, naive datetimes are refused (:mod:`._ledger_canonical` states every rule).
Any JCS library in any language reproduces these bytes.

Hash chain
----------
``entry_hash[n] = SHA-256(entry_hash[n-1] || canonical(entry n))`` with the 32 raw hash bytes
first, and ``entry_hash[0]`` = :data:`GENESIS_HASH` = SHA-256 of the ASCII text
``fintwin audit ledger v1``. Each row also stores its ``prev_hash``, so a verifier can tell an
entry whose content changed from an intact entry that no longer follows its predecessor.

Merkle checkpoints (RFC 6962 / RFC 9162 trees)
----------------------------------------------
Leaf ``i`` (0-based) is ``SHA-256(0x00 || entry_hash[i+1])``, a node ``SHA-256(0x01 || left ||
right)``; the prefixes make a node unable to pass for a leaf. A checkpoint of size ``n`` stores
the tree hash over entries ``1..n`` (**every entry since the start**, not since the previous
checkpoint) and ``entry_hash[n]``. Cumulative trees cost nothing more to keep (a checkpoint
extends the previous one's O(log n) frontier) and mean the latest anchored checkpoint alone
protects all history, and any entry has an O(log n) inclusion proof against any later
checkpoint. :class:`Ledger` takes one every ``checkpoint_every`` entries, inside the appending
transaction, and one on demand with :meth:`Ledger.checkpoint`.

Verification and export
-----------------------
:func:`verify` streams the whole chain (bounded memory), recomputes every hash and every
checkpoint, and returns the FIRST problem (:class:`Finding`: seq, :class:`Problem`, detail).
Entries removed from the tail after the last checkpoint leave no trace inside the database:
anchor checkpoints outside it, often. :func:`export` writes a period's entries (and the entry
just before and just after, proving nothing was left out) with their inclusion proofs against
one checkpoint, as JSON Lines; :func:`verify_export` checks such a file without the database.

Storage: :class:`SqliteLedgerStore` (embedded default) or :class:`PostgresLedgerStore`
(``FINTWIN_DB_URL``); :func:`open_store` picks by URL. ``docs/audit.md`` is the user's guide.

Examples
--------
>>> import tempfile, decimal
>>> ledger = Ledger(tempfile.mkdtemp() + "/audit.db", checkpoint_every=2)
>>> entry = ledger.append(RecordKind.DECISION, {"id": "d1", "amount": decimal.Decimal("12.30")},
...                      actor="scorer:key_1")
>>> entry.seq, entry.payload_json
(1, '{"amount":"12.30","id":"d1"}')
>>> _ = ledger.append(RecordKind.REVIEW, {"decision": "d1", "verdict": "confirm"},
...                   actor="analyst:key_2")
>>> [c.size for c in ledger.checkpoints()]
[2]
>>> report = verify(ledger.store)
>>> report.ok, report.entries, report.checkpoints
(True, 2, 1)
>>> ledger.close()
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from fintwin._validation import check_positive, to_enum
from fintwin.exceptions import LedgerError, ParameterError
from fintwin.governance._ledger_canonical import (
    CanonicalJson,
    canonical_json,
    canonical_payload,
    format_timestamp,
    to_json_value,
)
from fintwin.governance._ledger_export import export, verify_export
from fintwin.governance._ledger_merkle import Frontier
from fintwin.governance._ledger_postgres import PostgresLedgerStore
from fintwin.governance._ledger_records import (
    GENESIS_HASH,
    Checkpoint,
    CheckpointRow,
    Entry,
    EntryRow,
    RecordKind,
    chain_hash,
    record_bytes,
)
from fintwin.governance._ledger_store import (
    LedgerStore,
    LedgerWriter,
    SqliteLedgerStore,
    SqlWriter,
    open_store,
)
from fintwin.governance._ledger_verify import Finding, Problem, VerifyReport, verify

__all__ = [
    "GENESIS_HASH",
    "CanonicalJson",
    "Checkpoint",
    "Entry",
    "Finding",
    "Ledger",
    "LedgerStore",
    "PostgresLedgerStore",
    "Problem",
    "RecordKind",
    "SqliteLedgerStore",
    "VerifyReport",
    "canonical_json",
    "canonical_payload",
    "export",
    "open_store",
    "to_json_value",
    "verify",
    "verify_export",
]

DEFAULT_CHECKPOINT_EVERY = 1024
MAX_ACTOR_CHARS = 200


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger:
    """Appends records to a store's hash chain, taking Merkle checkpoints as it goes.

    Parameters
    ----------
    store : LedgerStore, str or Path
        A store, or where one is (see :func:`open_store`); created if missing.
    checkpoint_every : int or None
        Take a checkpoint when ``seq`` reaches a multiple of this (None: only on demand).
    clock : callable, optional
        Returns the current timezone-aware time (tests inject one); the entry's ``ts`` is
        ``max(clock(), previous ts)`` so timestamps never decrease along the chain.

    Notes
    -----
    Thread-safe and multi-process safe: appends serialise on the store's chain-head lock. An
    append is durable when it returns (see the stores). :meth:`append_many` encodes the
    payloads before the lock is taken, so the time spent under the lock is a read of the head,
    one SHA-256 per record and the insert (plus, every ``checkpoint_every`` entries, the hashes
    since the last checkpoint); :meth:`append_within` encodes under the lock, where its
    records are read.
    """

    def __init__(
        self,
        store: LedgerStore | str | Path,
        *,
        checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if checkpoint_every is not None:
            check_positive("checkpoint_every", checkpoint_every)
        self.store = store if isinstance(store, LedgerStore) else open_store(store)
        self.checkpoint_every = checkpoint_every
        self.clock = clock or _utc_now

    # --- writing ------------------------------------------------------------------------------

    def append(self, kind: RecordKind | str, payload: Mapping[str, Any], *, actor: str) -> Entry:
        """Append one record; returns it once durably stored.

        Raises
        ------
        ParameterError
            ``kind`` unknown, ``actor`` empty or too long, ``payload`` not JSON-encodable
            (the message names the offending member, e.g. ``payload.amount``).
        LedgerUnavailableError
            The database cannot be reached or refused the write: nothing was appended.
        """
        return self.append_many([(kind, payload, actor)])[0]

    def append_many(
        self, records: Iterable[tuple[RecordKind | str, Mapping[str, Any], str]]
    ) -> list[Entry]:
        """Append ``(kind, payload, actor)`` records in order, in one transaction.

        One commit (one fsync) for the lot: the group commit a batch endpoint should use.
        All or none are appended.
        """
        prepared = [self._prepare(kind, payload, actor) for kind, payload, actor in records]
        if not prepared:
            return []
        with self.store.writer() as writer:
            return self._append_locked(writer, prepared)

    def append_within(
        self,
        take: Callable[
            [SqlWriter], Iterable[tuple[RecordKind | str, Mapping[str, Any] | CanonicalJson, str]]
        ],
    ) -> list[Entry]:
        """Append the ``(kind, payload, actor)`` records ``take(writer)`` returns, in the
        transaction ``take`` ran in.

        A payload may be given already encoded, as the :class:`CanonicalJson` of
        :func:`canonical_payload` (an outbox stores it so): it is chained as it is.

        ``take`` may run its own statements on ``writer.conn`` (placeholder ``writer.mark``):
        a transactional outbox kept in the ledger's database is read, chained and emptied
        atomically, so each of its records is appended exactly once. A record ``take`` returns
        that cannot be appended rolls the whole transaction back.
        """
        with self.store.writer() as writer:
            if not isinstance(writer, SqlWriter):  # pragma: no cover - both stores use it
                raise LedgerError(f"{self.store.url}: append_within needs an SQL store")
            records = take(writer)
            prepared = [self._prepare(kind, payload, actor) for kind, payload, actor in records]
            return self._append_locked(writer, prepared) if prepared else []

    def append_in(
        self,
        conn: Any,
        records: Iterable[tuple[RecordKind | str, Mapping[str, Any] | CanonicalJson, str]],
    ) -> list[Entry]:
        """Append ``(kind, payload, actor)`` records inside a write transaction the caller
        holds on this ledger's SQLite file, committed (or rolled back) by the caller.

        A decision store keeping the ledger in its own SQLite file chains what it writes in
        the same commit: its ``BEGIN IMMEDIATE`` already holds the file's write lock, which is
        the chain-head lock of an SQLite ledger, so this costs no concurrency and saves the
        outbox round (insert, read, delete) and a second commit.

        Parameters
        ----------
        conn : sqlite3.Connection
            A connection to this ledger's file, inside ``BEGIN IMMEDIATE``.
        records : iterable of (kind, payload, actor)
            As :meth:`append_within` takes them.

        Raises
        ------
        LedgerError
            The ledger is not an SQLite one.
        """
        if not isinstance(self.store, SqliteLedgerStore):
            raise LedgerError(f"{self.store.url}: append_in needs an SQLite ledger")
        prepared = [self._prepare(kind, payload, actor) for kind, payload, actor in records]
        return self._append_locked(SqlWriter(conn, "?"), prepared) if prepared else []

    def _append_locked(
        self, writer: LedgerWriter, prepared: list[tuple[str, str, str]]
    ) -> list[Entry]:
        now = format_timestamp(self.clock(), "clock()")
        last = writer.last_entry()
        seq0 = 0 if last is None else last.seq
        prev = GENESIS_HASH if last is None else bytes(last.entry_hash)
        ts = now if last is None or now > last.ts else last.ts
        rows = []
        for i, (kind, actor, payload_json) in enumerate(prepared, start=seq0 + 1):
            h = chain_hash(prev, record_bytes(i, ts, kind, actor, payload_json))
            rows.append(EntryRow(i, ts, kind, actor, payload_json, prev, h))
            prev = h
        writer.insert_entries(rows)
        if self.checkpoint_every is not None:
            every = self.checkpoint_every
            sizes = range((seq0 // every + 1) * every, rows[-1].seq + 1, every)
            if sizes:
                _take_checkpoints(writer, list(sizes), ts)
        return [Entry.from_row(row) for row in rows]

    @staticmethod
    def _prepare(
        kind: RecordKind | str, payload: Mapping[str, Any] | CanonicalJson, actor: str
    ) -> tuple[str, str, str]:
        kind = to_enum(RecordKind, "kind", kind)
        if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR_CHARS:
            raise ParameterError(
                f"actor must be a non-empty key id / role of at most {MAX_ACTOR_CHARS} "
                f"characters (got {actor!r})"
            )
        if isinstance(payload, CanonicalJson):
            return kind.value, actor, payload
        return kind.value, actor, canonical_payload(payload)

    def checkpoint(self) -> Checkpoint | None:
        """A checkpoint at the current head (the existing one if the head already has one).

        Returns None while the ledger is empty.
        """
        now = format_timestamp(self.clock(), "clock()")
        with self.store.writer() as writer:
            last = writer.last_entry()
            if last is None:
                return None
            cp = writer.last_checkpoint()
            if cp is not None and cp.size == last.seq:
                return Checkpoint.from_row(cp)
            return _take_checkpoints(writer, [last.seq], max(now, last.ts))

    # --- reading ------------------------------------------------------------------------------

    def head(self) -> Entry | None:
        """The last entry, or None."""
        with self.store.reader() as reader:
            last = reader.last_seq()
            rows = list(reader.entries(last, last)) if last else []
        return Entry.from_row(rows[-1]) if rows else None

    def entries(self, first: int = 1, last: int | None = None) -> Iterator[Entry]:
        """Entries ``first..last`` in order, streamed from one snapshot."""
        with self.store.reader() as reader:
            for row in reader.entries(first, last):
                yield Entry.from_row(row)

    def checkpoints(self) -> list[Checkpoint]:
        with self.store.reader() as reader:
            return [Checkpoint.from_row(row) for row in reader.checkpoints()]

    def verify(self) -> VerifyReport:
        """:func:`verify` of this ledger's store."""
        return verify(self.store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _take_checkpoints(writer: LedgerWriter, sizes: list[int], created_at: str) -> Checkpoint:
    """Insert checkpoints at ``sizes`` (increasing) within ``writer``'s transaction."""
    frontier = _frontier_from(writer.last_checkpoint())
    if frontier is None:  # missing or inconsistent stored frontier: rebuild from the start
        frontier = Frontier()
    todo = iter(sizes)
    target = next(todo)
    cp = None
    for seq, h in enumerate(writer.entry_hashes(frontier.size + 1, sizes[-1]), frontier.size + 1):
        frontier.append_entry(h)
        if seq == target:
            row = CheckpointRow(seq, frontier.root(), h, created_at,
                                json.dumps([n.hex() for n in frontier.nodes]))  # fmt: skip
            writer.insert_checkpoint(row)
            cp = Checkpoint.from_row(row)
            target = next(todo, -1)
    if cp is None or cp.size != sizes[-1]:
        raise LedgerError(f"could not checkpoint at {sizes[-1]}: entries are missing")
    return cp


def _frontier_from(row: CheckpointRow | None) -> Frontier | None:
    if row is None:
        return Frontier()
    try:
        frontier = Frontier(row.size, [bytes.fromhex(n) for n in json.loads(row.frontier)])
    except (ValueError, TypeError):
        return None
    return frontier if frontier.root() == bytes(row.root) else None
