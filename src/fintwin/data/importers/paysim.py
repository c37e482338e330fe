"""PaySim's mobile-money log (Lopez-Rojas et al., 2016): one CSV with columns ``step, type,
amount, nameOrig, oldbalanceOrg, newbalanceOrig, nameDest, oldbalanceDest, newbalanceDest,
isFraud, isFlaggedFraud``.

- ``step`` is the hour since the start: a row is dated ``start + step`` hours (``--start``,
  default 2024-01-01; PaySim's first step is 1, so its rows begin at 01:00).
- ``type`` (CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER) becomes the TransferType.
- Account names are replaced by integer keys in order of first appearance (each row's origin
  before its destination): no name is kept. Names starting with ``M`` are merchants; the others
  are customers' wallets, each with one customer keyed like its account.
- An account's opening balance is its balance before its first row (``oldbalanceOrg`` or
  ``oldbalanceDest``); the four balance columns are kept on each transfer.
- ``isFraud`` is the label, with scenario ``account_takeover`` (PaySim's fraud takes over an
  account and empties it); ``isFlaggedFraud`` (PaySim's own rule) is not a label and is ignored.
- Labels become available ``label_delay_days`` (default 7) after the transfer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers import _columns as cols
from fintwin.data.importers._build import Imported
from fintwin.data.importers._read import expand_paths, read_sources
from fintwin.data.importers._transfers import (
    DEFAULT_START,
    KIND_CODE,
    accounts_tables,
    file_names,
    gather_main,
    label_delay_ms,
    start_ms,
    transfers_table,
)
from fintwin.data.importers.mapping import TableRoles, parse_mapping
from fintwin.data.schemas import money_from_minor
from fintwin.data.schemas.vocab import AccountKind, FraudScenario, TransferType

__all__ = ["PAYSIM_ROLES", "import_paysim"]

MS_PER_HOUR = 3_600_000

PAYSIM_ROLES = TableRoles(
    "transfers",
    {
        "step": ("step",),
        "transfer_type": ("type",),
        "amount": ("amount",),
        "src_account_id": ("nameOrig",),
        "src_balance_before": ("oldbalanceOrg",),
        "src_balance_after": ("newbalanceOrig",),
        "dst_account_id": ("nameDest",),
        "dst_balance_before": ("oldbalanceDest",),
        "dst_balance_after": ("newbalanceDest",),
        "is_fraud": ("isFraud",),
    },
    ("step", "transfer_type", "amount", "src_account_id", "dst_account_id", "is_fraud"),
)
_BALANCES = ("src_balance_before", "src_balance_after", "dst_balance_before", "dst_balance_after")
_TYPE_ALIASES = {"cash-in": TransferType.CASH_IN, "cash-out": TransferType.CASH_OUT}


def import_paysim(
    files: Sequence[str | Path],
    *,
    mapping: Mapping[str, str] | None = None,
    label_delay_days: float | None = None,
    start: dt.date | None = None,
) -> Imported:
    """Read PaySim's CSV into ``transfers``, ``accounts`` and ``customers`` (module docstring)."""
    cmap = parse_mapping(mapping, PAYSIM_ROLES)
    delay_days, delay_ms = label_delay_ms(label_delay_days)
    start = DEFAULT_START if start is None else start
    sources = read_sources(expand_paths(files))
    g = gather_main(sources, PAYSIM_ROLES, cmap.for_table("transfers"))

    step = g.values("step", cols.parse_int)
    if (step < 0).any():
        i = int(np.flatnonzero(step < 0)[0])
        raise g.error("step", i, f"step {step[i]} is negative; steps count hours from the start")
    ts = start_ms(start) + step * MS_PER_HOUR
    kinds = g.values(
        "transfer_type",
        lambda s, c: cols.parse_codes(s, c, TransferType, aliases=_TYPE_ALIASES),
    )
    amount = g.values("amount", cols.parse_money)
    balances = {
        role: g.values(role, lambda s, c: cols.parse_money(s, c, allow_negative=True))
        for role in _BALANCES
        if g.has(role)
    }
    is_fraud = g.values("is_fraud", cols.parse_bool)
    src_names = g.arrays("src_account_id", cols.parse_text)
    dst_names = g.arrays("dst_account_id", cols.parse_text)
    for role, names in (("src_account_id", src_names), ("dst_account_id", dst_names)):
        empty = pc.equal(pc.utf8_length(names), 0).to_numpy(zero_copy_only=False)
        if empty.any():
            raise g.error(role, int(np.flatnonzero(empty)[0]), "the account name is empty")

    order = np.argsort(ts, kind="stable")
    take = pa.array(order)
    n = order.size
    # Keys in order of first appearance, each row's origin before its destination.
    both = pa.concat_arrays([src_names.take(take), dst_names.take(take)])
    interleave = np.empty(2 * n, dtype=np.int64)
    interleave[0::2] = np.arange(n)
    interleave[1::2] = np.arange(n) + n
    encoded = both.take(pa.array(interleave)).dictionary_encode()
    keys = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    src_key, dst_key = keys[0::2], keys[1::2]
    names = encoded.dictionary
    k = len(names)
    merchant = pc.starts_with(pc.utf8_upper(names), "M").to_numpy(zero_copy_only=False)
    del both, encoded, names  # no clear name goes further

    # Keys are numbered in order of first appearance: a key is new where it passes the running max.
    running = np.maximum.accumulate(keys)
    first = np.flatnonzero(np.r_[True, keys[1:] > running[:-1]])
    opening = np.zeros(k, dtype=np.int64)
    if "src_balance_before" in balances and "dst_balance_before" in balances:
        before = np.empty(2 * n, dtype=np.int64)
        before[0::2] = balances["src_balance_before"][order]
        before[1::2] = balances["dst_balance_before"][order]
        opening = before[first]
    kind = np.where(merchant, KIND_CODE[AccountKind.MERCHANT], KIND_CODE[AccountKind.WALLET])
    opened = np.full(k, (start - dt.date(1970, 1, 1)).days, dtype=np.int32)
    tables = accounts_tables(np.arange(k, dtype=np.int64), kind, opened, opening, ~merchant)

    fraud = is_fraud[order]
    scenario = np.where(fraud, list(FraudScenario).index(FraudScenario.ACCOUNT_TAKEOVER), -1)
    ts_sorted = ts[order]
    tables["transfers"] = transfers_table(
        timestamp=ts_sorted,
        src=src_key,
        dst=dst_key,
        amount=amount[order],
        transfer_type=kinds[order],
        is_fraud=fraud,
        scenario=scenario,
        available=ts_sorted + delay_ms,
        extra={role: money_from_minor(v[order]) for role, v in balances.items()},
    )
    used = {c for f in g.found for c in f.values()}
    params = {
        "format": "paysim",
        "files": file_names(sources),
        "mapping": cmap.as_json(),
        "start": start.isoformat(),
        "step_hours": 1,
        "label_delay_days": delay_days,
        "ignored_columns": sorted({c for s in sources for c in s.columns if c not in used}),
    }
    return Imported(tables, params)
