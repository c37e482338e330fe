"""Walk a ledger's whole chain and its checkpoints; report the first entry that is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fintwin.governance._ledger_merkle import Frontier
from fintwin.governance._ledger_records import (
    GENESIS_HASH,
    KIND_VALUES,
    CheckpointRow,
    EntryRow,
    chain_hash,
    record_bytes,
)
from fintwin.governance._ledger_store import LedgerStore

TS_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class Problem(Enum):
    """What is wrong at the first bad entry."""

    HASH_MISMATCH = "hash_mismatch"  # the record's content is not what was hashed: changed
    CHAIN_BROKEN = "chain_broken"  # an intact entry no longer follows its predecessor
    GAP = "gap"  # entries are missing (removed)
    DUPLICATE = "duplicate"  # a sequence number appears twice
    TIME_REVERSED = "time_reversed"  # a timestamp earlier than its predecessor's
    MALFORMED = "malformed"  # a field cannot be read (kind, timestamp, hash length ...)
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # a checkpoint's root or head differs
    TRUNCATED = "truncated"  # a checkpoint covers entries that are no longer there
    PROOF_INVALID = "proof_invalid"  # (exports) an inclusion proof fails
    OUTSIDE_PERIOD = "outside_period"  # (exports) an entry's time contradicts the period
    ANCHOR_MISMATCH = "anchor_mismatch"  # (exports) the checkpoint differs from the anchor


@dataclass(frozen=True, slots=True)
class Finding:
    """The first problem found.

    Attributes
    ----------
    seq : int
        The entry at fault: for a gap the first missing seq; for a checkpoint problem the
        checkpoint's size (its last entry).
    problem : Problem
    detail : str
        One sentence for a person.
    """

    seq: int
    problem: Problem
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "problem": self.problem.value, "detail": self.detail}

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify` or :func:`verify_export` found.

    Attributes
    ----------
    ok : bool
        No problem found.
    source : str
        The store (URL without password) or export file checked.
    entries : int
        Entries checked before the first problem (all of them when ``ok``).
    checkpoints : int
        Checkpoints that matched.
    head : str or None
        Hex hash of the last good entry.
    root : str or None
        Hex Merkle root over the entries checked (store verification only).
    first_problem : Finding or None
    """

    ok: bool
    source: str
    entries: int
    checkpoints: int
    head: str | None
    root: str | None
    first_problem: Finding | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "head": self.head,
            "root": self.root,
            "first_problem": None if self.first_problem is None else self.first_problem.to_dict(),
        }


def check_row(row: EntryRow, expected_seq: int, prev: bytes, last_ts: str) -> Finding | None:
    """Problems of one stored row given the chain so far (``prev``: previous entry hash)."""
    if row.seq < expected_seq:
        return Finding(row.seq, Problem.DUPLICATE, f"sequence number {row.seq} appears again")
    if row.seq > expected_seq:
        missing = (
            f"entry {expected_seq} is" if row.seq == expected_seq + 1
            else f"entries {expected_seq}..{row.seq - 1} are"
        )  # fmt: skip
        return Finding(expected_seq, Problem.GAP, f"{missing} missing (removed)")
    if row.kind not in KIND_VALUES:
        return Finding(row.seq, Problem.MALFORMED, f"unknown kind {row.kind!r}")
    if not isinstance(row.ts, str) or not TS_PATTERN.fullmatch(row.ts):
        return Finding(row.seq, Problem.MALFORMED, f"timestamp {row.ts!r} is not ledger time")
    if len(row.entry_hash) != 32 or len(row.prev_hash) != 32:
        return Finding(row.seq, Problem.MALFORMED, "a stored hash is not 32 bytes")
    record = record_bytes(row.seq, row.ts, row.kind, row.actor, row.payload)
    stored = bytes(row.entry_hash)
    if chain_hash(prev, record) != stored:
        if bytes(row.prev_hash) != prev and chain_hash(bytes(row.prev_hash), record) == stored:
            return Finding(
                row.seq,
                Problem.CHAIN_BROKEN,
                "the entry is intact but does not follow the previous one: an entry before it "
                "was removed, inserted or reordered",
            )
        return Finding(
            row.seq,
            Problem.HASH_MISMATCH,
            "the stored hash does not match the record: its content (payload, actor, kind, "
            "time or position) was changed",
        )
    if bytes(row.prev_hash) != prev:
        return Finding(row.seq, Problem.CHAIN_BROKEN, "its stored prev_hash was altered")
    if row.ts < last_ts:
        return Finding(row.seq, Problem.TIME_REVERSED, f"time {row.ts} is before {last_ts}")
    return None


def _check_checkpoint(cp: CheckpointRow, frontier: Frontier, head: bytes) -> Finding | None:
    root = frontier.root()
    for what, stored, actual in (("Merkle root", cp.root, root), ("head hash", cp.head, head)):
        if bytes(stored) != actual:
            return Finding(
                cp.size,
                Problem.CHECKPOINT_MISMATCH,
                f"the checkpoint of size {cp.size} records {what} {bytes(stored).hex()}, "
                f"the entries give {actual.hex()}",
            )
    return None


def verify(store: LedgerStore, *, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check every entry's hash and link and every checkpoint; stop at the first problem.

    Streams the entries from one read snapshot (memory stays O(log n) plus one fetch batch),
    so concurrent appends neither block nor disturb it.

    Parameters
    ----------
    store : LedgerStore
    progress : callable, optional
        Called with the number of entries checked, every 100,000 entries.

    Returns
    -------
    VerifyReport
        ``ok`` and counts; otherwise ``first_problem`` locates the first entry that was
        changed (HASH_MISMATCH, MALFORMED), removed (GAP, or TRUNCATED at the tail up to a
        checkpoint), reordered (HASH_MISMATCH or CHAIN_BROKEN at the first moved position),
        duplicated, or the first checkpoint that does not match (CHECKPOINT_MISMATCH).
    """
    frontier = Frontier()
    prev, last_ts, expected, matched = GENESIS_HASH, "", 1, 0
    finding: Finding | None = None
    with store.reader() as reader:
        checkpoints = reader.checkpoints()
        pending = iter(checkpoints)
        cp = next(pending, None)
        if cp is not None and cp.size < 1:
            finding = Finding(cp.size, Problem.MALFORMED, f"a checkpoint of size {cp.size}")
        for row in reader.entries() if finding is None else ():
            finding = check_row(row, expected, prev, last_ts)
            if finding is not None:
                break
            prev, last_ts = bytes(row.entry_hash), row.ts
            frontier.append_entry(prev)
            expected += 1
            while cp is not None and cp.size == row.seq:
                finding = _check_checkpoint(cp, frontier, prev)
                if finding is not None:
                    break
                matched += 1
                cp = next(pending, None)
            if finding is not None:
                break
            if progress is not None and row.seq % 100_000 == 0:
                progress(row.seq)
        if finding is None and cp is not None:
            finding = Finding(
                expected,
                Problem.TRUNCATED,
                f"checkpoint of size {cp.size} covers entries up to {cp.size}, but the ledger "
                f"ends at {expected - 1}: entries {expected}..{cp.size} were removed",
            )
    return VerifyReport(
        ok=finding is None,
        source=store.url,
        entries=expected - 1,
        checkpoints=matched,
        head=None if expected == 1 else prev.hex(),
        root=None if expected == 1 else frontier.root().hex(),
        first_problem=finding,
    )
