"""What one ledger entry is, and the bytes its hash covers (:mod:`fintwin.governance.ledger`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from fintwin.governance._ledger_canonical import canonical_string, parse_timestamp

FORMAT = "fintwin-audit-ledger/1"
"""Format of a store (its ``audit_meta`` row ``format``)."""
CHECKPOINT_FORMAT = "fintwin-audit-checkpoint/1"
EXPORT_FORMAT = "fintwin-audit-export/1"
GENESIS_HASH = hashlib.sha256(b"fintwin audit ledger v1").digest()
"""``prev_hash`` of entry 1: SHA-256 of the ASCII bytes ``fintwin audit ledger v1``."""


class RecordKind(Enum):
    """What an entry records."""

    DECISION = "decision"  # a decision the engine made (and answered)
    REVIEW = "review"  # an analyst's verdict on a decision: confirms or overrides it
    LABEL = "label"  # a chargeback or confirmed fraud/genuine label arriving later
    MODEL_ACTIVATION = "model_activation"  # a model version put into (or out of) service
    POLICY_CHANGE = "policy_change"  # a policy uploaded or activated
    CREDIT_DECISION = "credit_decision"  # a credit application decided, with its reasons


KIND_VALUES = frozenset(k.value for k in RecordKind)


class EntryRow(NamedTuple):
    """One stored entry, as the store holds it (hashes as 32 raw bytes)."""

    seq: int
    ts: str
    kind: str
    actor: str
    payload: str
    prev_hash: bytes
    entry_hash: bytes


class CheckpointRow(NamedTuple):
    size: int
    root: bytes
    head: bytes
    created_at: str
    frontier: str  # JSON list of hex node hashes (the Merkle frontier at ``size``)


def record_bytes(seq: int, ts: str, kind: str, actor: str, payload_json: str) -> bytes:
    """RFC 8785 bytes of ``{"actor", "kind", "payload", "seq", "ts"}``.

    ``payload_json`` must already be canonical JSON text (as the store holds it); the other
    members are encoded here, in the sorted key order RFC 8785 prescribes.

    >>> record_bytes(1, "2026-01-01T00:00:00.000000Z", "label", "analyst:k1", '{"a":1}')
    b'{"actor":"analyst:k1","kind":"label","payload":{"a":1},"seq":1,"ts":"2026-01-01T00:00:00.000000Z"}'
    """
    return (
        f'{{"actor":{canonical_string(actor)},"kind":{canonical_string(kind)},'
        f'"payload":{payload_json},"seq":{seq},"ts":{canonical_string(ts)}}}'
    ).encode()


def chain_hash(prev_hash: bytes, record: bytes) -> bytes:
    """``SHA-256(prev_hash || record)``, prev_hash as 32 raw bytes."""
    return hashlib.sha256(prev_hash + record).digest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the ledger.

    Attributes
    ----------
    seq : int
        1-based position in the chain.
    ts : str
        When it was appended, UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; never decreases along the chain.
    kind : RecordKind
    actor : str
        Who caused it: an API key id and role (``"analyst:key_7f3a"``), never a secret.
    payload_json : str
        The record's payload as canonical JSON text (:attr:`payload` parses it).
    prev_hash, entry_hash : bytes
        32-byte SHA-256 values: the previous entry's hash (genesis for entry 1) and this one's.
    """

    seq: int
    ts: str
    kind: RecordKind
    actor: str
    payload_json: str
    prev_hash: bytes
    entry_hash: bytes

    @classmethod
    def from_row(cls, row: EntryRow) -> Entry:
        return cls(row.seq, row.ts, RecordKind(row.kind), row.actor, row.payload,
                   bytes(row.prev_hash), bytes(row.entry_hash))  # fmt: skip

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)

    @property
    def timestamp(self) -> dt.datetime:
        return parse_timestamp(self.ts)

    def record_bytes(self) -> bytes:
        """The canonical bytes this entry's hash covers (after ``prev_hash``)."""
        return record_bytes(self.seq, self.ts, self.kind.value, self.actor, self.payload_json)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON values (hashes in lower-case hex)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind.value,
            "actor": self.actor,
            "payload": self.payload,
            "prev_hash": self.prev_hash.hex(),
            "entry_hash": self.entry_hash.hex(),
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A Merkle checkpoint: the RFC 6962 root over entries ``1..size`` and the chain head.

    Attributes
    ----------
    size : int
        Entries covered (entries 1 to ``size``).
    root : bytes
        Merkle tree hash over their entry hashes.
    head : bytes
        Entry hash of entry ``size`` (the chain head at that point).
    created_at : str
        When it was taken (ledger timestamp text).
    """

    size: int
    root: bytes
    head: bytes
    created_at: str

    @classmethod
    def from_row(cls, row: CheckpointRow) -> Checkpoint:
        return cls(row.size, bytes(row.root), bytes(row.head), row.created_at)

    def to_dict(self) -> dict[str, Any]:
        """The small JSON to anchor elsewhere (print, e-mail, timestamp)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "size": self.size,
            "root": self.root.hex(),
            "head": self.head.hex(),
            "created_at": self.created_at,
            "genesis": GENESIS_HASH.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        if data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} object (format {data.get('format')!r})")
        return cls(
            int(data["size"]),
            bytes.fromhex(data["root"]),
            bytes.fromhex(data["head"]),
            str(data["created_at"]),
        )
