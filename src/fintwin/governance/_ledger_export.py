"""A period's entries with Merkle inclusion proofs, and their check without the database.

File format (JSON Lines, UTF-8; ``fintwin-audit-export/1``):

- line 1, the header: ``format``, ``from`` and ``to`` (the period, ledger timestamp text,
  ``from <= ts < to``), ``first`` / ``last`` / ``count`` (the period's entries),
  ``exported_at``, ``source``, ``genesis`` and ``checkpoint`` (the checkpoint JSON every
  proof leads to);
- then one line per entry, in seq order: ``{"role": "before" | "in" | "after", "entry": {seq,
  ts, kind, actor, payload, prev_hash, entry_hash}, "proof": [hex, ...]}``. ``before`` is the
  last entry before the period and ``after`` the first entry after it (when they exist and the
  checkpoint covers them): with consecutive sequence numbers they prove that no entry of the
  period was left out. ``proof`` is the RFC 9162 audit path of leaf ``seq - 1`` in the
  checkpoint's tree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fintwin.exceptions import LedgerError, LedgerFormatError, ParameterError
from fintwin.governance._ledger_canonical import canonical_bytes, format_timestamp
from fintwin.governance._ledger_merkle import leaf_hash, node_hash, tree_hash, verify_inclusion
from fintwin.governance._ledger_records import (
    EXPORT_FORMAT,
    GENESIS_HASH,
    KIND_VALUES,
    Checkpoint,
    CheckpointRow,
    Entry,
    chain_hash,
)
from fintwin.governance._ledger_store import LedgerReader, LedgerStore
from fintwin.governance._ledger_verify import TS_PATTERN, Finding, Problem, VerifyReport


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What :func:`export` wrote: the period's entries ``first..last`` (``count`` of them)."""

    path: Path
    first: int
    last: int
    count: int
    checkpoint: Checkpoint


def export(
    store: LedgerStore,
    start: dt.datetime,
    end: dt.datetime,
    path: str | Path,
    *,
    checkpoint_size: int | None = None,
) -> ExportSummary:
    """Write the entries appended in ``[start, end)`` with inclusion proofs to ``path``.

    Parameters
    ----------
    store : LedgerStore
    start, end : datetime
        Timezone-aware bounds of the period (entry times ``start <= ts < end``).
    path : str or Path
        The JSON Lines file to write (atomically: a temporary file renamed when complete).
    checkpoint_size : int, optional
        Prove against the stored checkpoint of this size (e.g. the one the auditor anchored);
        by default the smallest stored checkpoint covering the export, taken now if none does.

    Raises
    ------
    ParameterError
        Bad bounds, or ``checkpoint_size`` names no stored checkpoint covering the period.
    LedgerError
        The ledger is empty, or its stored hashes are inconsistent (run ``verify``).
    """
    ts_from, ts_to = format_timestamp(start, "start"), format_timestamp(end, "end")
    if ts_from >= ts_to:
        raise ParameterError(f"start must be before end (got {ts_from} and {ts_to})")
    with store.reader() as reader:
        cp = _covering(reader, ts_from, ts_to, checkpoint_size)
    if cp is None:
        from fintwin.governance.ledger import Ledger  # a checkpoint at the head, on demand

        Ledger(store, checkpoint_every=None).checkpoint()
    with store.reader() as reader:
        cp = cp or _covering(reader, ts_from, ts_to, checkpoint_size)
        if cp is None:  # pragma: no cover - the checkpoint just taken covers the head
            raise LedgerError("no checkpoint covers the period")
        return _write(reader, store.url, Checkpoint.from_row(cp), ts_from, ts_to, Path(path))


def _covering(
    reader: LedgerReader, ts_from: str, ts_to: str, size: int | None
) -> CheckpointRow | None:
    last = reader.last_seq()
    if last == 0:
        raise LedgerError("nothing to export: the audit ledger is empty")
    after = reader.first_seq_from(ts_to)
    need = min(after or last, last)
    checkpoints = reader.checkpoints()
    if size is not None:
        match = [c for c in checkpoints if c.size == size]
        if not match or size < reader.last_seq_before(ts_to):
            sizes = ", ".join(str(c.size) for c in checkpoints[-5:])
            raise ParameterError(
                f"checkpoint_size must name a stored checkpoint covering the period "
                f"(got {size}; latest stored: {sizes or 'none'})"
            )
        return match[0]
    return next((c for c in checkpoints if c.size >= need), None)


def _write(
    reader: LedgerReader, source: str, cp: Checkpoint, ts_from: str, ts_to: str, path: Path
) -> ExportSummary:
    before = min(reader.last_seq_before(ts_from), cp.size)
    after = reader.first_seq_from(ts_to)
    first = before + 1
    last = min((after or cp.size + 1) - 1, cp.size)
    lo = max(before, 1) if before else first  # exported seqs lo..hi
    hi = after if after is not None and after <= cp.size else last
    hashes = [bytes(row.entry_hash) for row in reader.entries(lo, hi)] if lo <= hi else []
    if len(hashes) != max(0, hi - lo + 1):
        raise LedgerError(f"entries {lo}..{hi} are not all stored: run `fintwin audit verify`")
    memo: dict[tuple[int, int], bytes] = {}

    def subtree(start: int, end: int) -> bytes:  # leaves [start, end), 0-based
        key = (start, end)
        if key not in memo:
            if end - start == 1 and lo - 1 <= start < hi:
                memo[key] = leaf_hash(hashes[start - (lo - 1)])
            elif end <= lo - 1 or start >= hi:  # outside the export: stream from the store
                stored = [bytes(r.entry_hash) for r in reader.entries(start + 1, end)]
                if len(stored) != end - start:
                    raise LedgerError(f"entries {start + 1}..{end} are not all stored")
                memo[key] = tree_hash(stored)
            else:
                k = 1 << ((end - start - 1).bit_length() - 1)
                memo[key] = node_hash(subtree(start, start + k), subtree(start + k, end))
        return memo[key]

    def proof(seq: int) -> list[str]:
        path_: list[str] = []
        start, end, index = 0, cp.size, seq - 1
        while end - start > 1:
            k = 1 << ((end - start - 1).bit_length() - 1)
            if index - start < k:
                path_.append(subtree(start + k, end).hex())
                end = start + k
            else:
                path_.append(subtree(start, start + k).hex())
                start += k
        return path_[::-1]

    header = {
        "format": EXPORT_FORMAT,
        "from": ts_from,
        "to": ts_to,
        "first": first,
        "last": last,
        "count": max(0, last - first + 1),
        "exported_at": format_timestamp(dt.datetime.now(dt.UTC)),
        "source": source,
        "genesis": GENESIS_HASH.hex(),
        "checkpoint": cp.to_dict(),
    }
    tmp = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header, sort_keys=True, ensure_ascii=False) + "\n")
        for row in reader.entries(lo, hi) if lo <= hi else ():
            role = "before" if row.seq < first else "after" if row.seq > last else "in"
            line = {"role": role, "entry": Entry.from_row(row).to_dict(), "proof": proof(row.seq)}
            out.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return ExportSummary(path, first, last, int(header["count"]), cp)


# --- checking an export, without the database -------------------------------------------------


def verify_export(path: str | Path, *, anchor: Checkpoint | None = None) -> VerifyReport:
    """Check an export file on its own: hashes, links, inclusion proofs, period completeness.

    Every entry's hash is recomputed from its fields with RFC 8785 (as an auditor in another
    language would), linked to its predecessor, and proved against the checkpoint in the
    header; the ``before`` / ``after`` entries must lie outside the period and the entries in
    between inside it. Compare the checkpoint with one anchored elsewhere by passing
    ``anchor``: without it, the export only shows that it is consistent with *its own*
    checkpoint.

    Raises
    ------
    LedgerFormatError
        The file is not an export (unreadable header).
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline())
            if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
                raise ValueError(f"format is not {EXPORT_FORMAT}")
            cp = Checkpoint.from_dict(header["checkpoint"])
            period = (str(header["from"]), str(header["to"]))
            count, first = int(header["count"]), int(header["first"])
            state = _ExportCheck(cp, period, anchor)
            finding = state.anchor_finding()
            for number, text in enumerate(f, start=2):
                if finding is not None:
                    break
                finding = state.line(text, number)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LedgerFormatError(f"{path} is not a readable {EXPORT_FORMAT} file: {exc}") from None
    if finding is None:
        finding = state.finish(count, first)
    return VerifyReport(
        ok=finding is None,
        source=str(path),
        entries=state.checked,
        checkpoints=int(finding is None),
        head=None if state.prev is None else state.prev.hex(),
        root=cp.root.hex(),
        first_problem=finding,
    )


class _ExportCheck:
    """The state of :func:`verify_export` between lines."""

    def __init__(self, cp: Checkpoint, period: tuple[str, str], anchor: Checkpoint | None):
        self.cp, self.period, self.anchor = cp, period, anchor
        self.prev: bytes | None = None
        self.seq: int | None = None
        self.roles: list[str] = []
        self.checked = 0
        self.in_count = 0
        self.first_in: int | None = None

    def anchor_finding(self) -> Finding | None:
        a, cp = self.anchor, self.cp
        if a is None or (a.size == cp.size and a.root == cp.root and a.head == cp.head):
            return None
        return Finding(
            cp.size,
            Problem.ANCHOR_MISMATCH,
            f"the export is proved against checkpoint size {cp.size} root {cp.root.hex()}, the "
            f"anchor is size {a.size} root {a.root.hex()}",
        )

    def line(self, text: str, number: int) -> Finding | None:
        expected = 1 if self.seq is None else self.seq + 1
        try:
            item: dict[str, Any] = json.loads(text)
            role, e, proof = item["role"], item["entry"], [bytes.fromhex(p) for p in item["proof"]]
            seq, ts, kind = int(e["seq"]), str(e["ts"]), str(e["kind"])
            prev, stored = bytes.fromhex(e["prev_hash"]), bytes.fromhex(e["entry_hash"])
            record = canonical_bytes({k: e[k] for k in ("actor", "kind", "payload", "seq", "ts")})
        except (ValueError, KeyError, TypeError) as exc:
            return Finding(expected, Problem.MALFORMED, f"line {number} cannot be read: {exc}")
        if self.seq is not None and seq != expected:
            problem = Problem.GAP if seq > expected else Problem.DUPLICATE
            return Finding(
                expected if seq > expected else seq, problem, f"line {number}: seq {seq}"
            )
        if self.seq is None and seq == 1 and prev != GENESIS_HASH:
            return Finding(1, Problem.CHAIN_BROKEN, "entry 1 does not follow the genesis hash")
        if kind not in KIND_VALUES or not TS_PATTERN.fullmatch(ts) or role not in _ROLES:
            return Finding(seq, Problem.MALFORMED, f"line {number}: bad kind, ts or role")
        if chain_hash(prev, record) != stored:
            return Finding(seq, Problem.HASH_MISMATCH, "the entry's hash does not match its record")
        if self.prev is not None and prev != self.prev:
            return Finding(seq, Problem.CHAIN_BROKEN, "the entry does not follow the previous one")
        if not verify_inclusion(seq - 1, self.cp.size, stored, proof, self.cp.root):
            return Finding(seq, Problem.PROOF_INVALID, "the inclusion proof does not lead to the "
                           "checkpoint's root")  # fmt: skip
        if seq == self.cp.size and stored != self.cp.head:
            return Finding(seq, Problem.CHECKPOINT_MISMATCH, "the checkpoint's head differs")
        order = _ROLES[role]
        repeated = role != "in" and role in self.roles
        if (self.roles and order < _ROLES[self.roles[-1]]) or repeated:
            return Finding(seq, Problem.MALFORMED, f"line {number}: role {role!r} out of order")
        lo, hi = self.period
        inside = lo <= ts < hi
        if (
            inside != (role == "in")
            or (role == "before" and ts >= hi)
            or (role == "after" and ts < lo)
        ):
            return Finding(seq, Problem.OUTSIDE_PERIOD, f"{role} entry has time {ts}")
        if self.seq is None and role != "before" and seq != 1:
            return Finding(seq - 1, Problem.GAP, "entries before the first shown are not "
                           "shown to lie outside the period")  # fmt: skip
        if role == "in" and self.first_in is None:
            self.first_in = seq
        self.roles.append(role)
        self.in_count += role == "in"
        self.prev, self.seq = stored, seq
        self.checked += 1
        return None

    def finish(self, count: int, first: int) -> Finding | None:
        if self.in_count != count or (count and self.first_in != first):
            return Finding(first, Problem.GAP, f"the header announces {count} entries from "
                           f"{first}, the file holds {self.in_count}")  # fmt: skip
        if "after" not in self.roles and (self.seq or 0) != self.cp.size:
            return Finding((self.seq or 0) + 1, Problem.GAP, "entries after the last shown, up "
                           f"to the checkpoint's {self.cp.size}, are left out")  # fmt: skip
        return None


_ROLES = {"before": 0, "in": 1, "after": 2}
