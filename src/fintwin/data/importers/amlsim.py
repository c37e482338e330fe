"""AMLSim's output (IBM's anti-money-laundering simulator): ``transactions.csv`` with
``tran_id, orig_acct, bene_acct, tx_type, base_amt, tran_timestamp, is_sar, alert_id``, and
optionally ``accounts.csv`` (``acct_id, ... type, initial_deposit, open_dt ...``) and an alerts
file (``alert_transactions.csv`` or ``alert_accounts.csv``: ``alert_id, alert_type, ...``).

Give the output directory (its ``transactions.csv``, ``accounts.csv`` and alert files are taken
by name) or the files themselves (told apart by their columns: ``alert_type`` makes an alerts
file, ``acct_id`` without ``tran_id`` an accounts file).

- ``is_sar`` (older AMLSim versions: ``is_fraud``) becomes ``is_laundering``; ``is_fraud`` of
  every transfer is false (AMLSim simulates laundering, not fraud).
- ``alert_id`` is kept on laundering transfers (AMLSim's -1 and alerts on non-SAR transfers
  become null, as the transfers schema defines); ``laundering_typology`` comes from the alerts
  file's ``alert_type`` (``fan_out``, ``cycle`` ...); types outside LaunderingTypology
  (AMLSim's ``random``) and alerts absent from the file give null, listed in the manifest.
- ``tran_timestamp`` is an ISO date-time, or a day number counted from ``--start``.
- Account identifiers that are whole numbers are kept, others are replaced by keys in order of
  first appearance. Each account has one customer, keyed like the account. ``type`` ``SAV...``
  gives a savings account, anything else a current account.
- ``tx_type``: TRANSFER, WIRE, CHECK and CREDIT are transfers; DEPOSIT/CASH-IN and
  WITHDRAWAL/CASH-OUT are cash movements; PAYMENT and DEBIT keep their names.
- Labels (SAR findings) become available ``label_delay_days`` (default 7) after the transfer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers import _columns as cols
from fintwin.data.importers._build import MS_PER_DAY, Imported, parse_nullable
from fintwin.data.importers._read import Source, expand_paths, read_source
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
from fintwin.data.schemas import category
from fintwin.data.schemas.vocab import AccountKind, LaunderingTypology, TransferType, labels
from fintwin.exceptions import DataError

__all__ = ["ACCOUNT_ROLES", "ALERT_ROLES", "TRANSACTION_ROLES", "import_amlsim"]

TRANSACTION_ROLES = TableRoles(
    "transfers",
    {
        "transfer_id": ("tran_id",),
        "src_account_id": ("orig_acct",),
        "dst_account_id": ("bene_acct",),
        "transfer_type": ("tx_type",),
        "amount": ("base_amt",),
        "timestamp": ("tran_timestamp",),
        "is_laundering": ("is_sar", "is_fraud"),
        "alert_id": ("alert_id",),
    },
    ("src_account_id", "dst_account_id", "amount", "timestamp", "is_laundering"),
)
ACCOUNT_ROLES = TableRoles(
    "accounts",
    {
        "account_id": ("acct_id",),
        "kind": ("type",),
        "opening_balance": ("initial_deposit",),
        "opened_at": ("open_dt",),
    },
    ("account_id",),
)
ALERT_ROLES = TableRoles(
    "alerts",
    {"alert_id": ("alert_id",), "laundering_typology": ("alert_type",)},
    ("alert_id", "laundering_typology"),
)
_OUTPUT_NAMES = {
    "transactions": "transactions.csv",
    "accounts": "accounts.csv",
    "alerts": ("alert_transactions.csv", "alert_accounts.csv"),
}
_TYPE_ALIASES = {
    "wire": TransferType.TRANSFER,
    "check": TransferType.TRANSFER,
    "cheque": TransferType.TRANSFER,
    "credit": TransferType.TRANSFER,
    "deposit": TransferType.CASH_IN,
    "cash-in": TransferType.CASH_IN,
    "withdrawal": TransferType.CASH_OUT,
    "cash-out": TransferType.CASH_OUT,
}
_TYPOLOGIES = labels(LaunderingTypology)


def _discover(files: Sequence[str | Path]) -> tuple[list[Source], Source | None, list[Source]]:
    """Transactions, accounts and alerts sources among ``files`` (see the module docstring)."""
    tx: list[Source] = []
    accounts: list[Source] = []
    alerts: list[Source] = []
    for raw in files:
        path = Path(raw)
        if path.is_dir():
            main = path / _OUTPUT_NAMES["transactions"]
            if not main.is_file():
                raise DataError(
                    f"an AMLSim output directory holds {_OUTPUT_NAMES['transactions']}; "
                    "it is not here (or name the files themselves)",
                    file=path,
                )
            tx.append(read_source(main))
            if (path / _OUTPUT_NAMES["accounts"]).is_file():
                accounts.append(read_source(path / _OUTPUT_NAMES["accounts"]))
            for name in _OUTPUT_NAMES["alerts"]:
                if (path / name).is_file():
                    alerts.append(read_source(path / name))
                    break
            continue
        for p in expand_paths([path]):
            src = read_source(p)
            names = set(src.columns)
            if "alert_type" in names:
                alerts.append(src)
            elif "acct_id" in names and not names & {"tran_id", "orig_acct"}:
                accounts.append(src)
            else:
                tx.append(src)
    if not tx:
        raise DataError("no AMLSim transactions file among the inputs")
    if len(accounts) > 1:
        raise DataError(
            f"more than one accounts file ({', '.join(str(a.path) for a in accounts)}); give one",
            file=accounts[1].path,
        )
    return tx, (accounts[0] if accounts else None), alerts


def _days_or_time(start: dt.date):
    """Parser: a day number from ``start``, or an ISO date-time; ms since 1970."""

    def parse(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
        arr = src.array(column) if arr is None else arr
        numeric = pa.types.is_integer(arr.type)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            digits = pc.match_substring_regex(pc.utf8_trim_whitespace(arr), r"^-?\d+$")
            numeric = bool(pc.all(pc.fill_null(digits, True)).as_py())
        if numeric:
            return start_ms(start) + cols.parse_int(src, column, arr) * MS_PER_DAY
        return cols.parse_timestamp(src, column, arr)

    return parse


def _alert_types(alerts: list[Source], over: Mapping[str, str]) -> tuple[np.ndarray, list[str]]:
    """Alert ids (sorted) and their types (lower case), refusing an alert given two types."""
    ids_parts, type_parts = [], []
    for src in alerts:
        found = ALERT_ROLES.resolve(src, over)
        ALERT_ROLES.check_required(src, found, ALERT_ROLES.required)
        ids = cols.parse_int(src, found["alert_id"])
        types = pc.utf8_lower(cols.parse_text(src, found["laundering_typology"]))
        uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        firsts = types.take(pa.array(first))
        same = pc.equal(firsts.take(pa.array(inverse)), types).to_numpy(zero_copy_only=False)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            raise src.error(
                f"alert {ids[i]} has type {types[i].as_py()!r} here and "
                f"{firsts[int(inverse[i])].as_py()!r} earlier",
                index=i,
                column=found["laundering_typology"],
            )
        ids_parts.append(uniq)
        type_parts.extend(firsts.to_pylist())
    if not ids_parts:
        return np.zeros(0, np.int64), []
    ids = np.concatenate(ids_parts)
    uniq, first = np.unique(ids, return_index=True)
    return uniq, [type_parts[i] for i in first]


def import_amlsim(
    files: Sequence[str | Path],
    *,
    mapping: Mapping[str, str] | None = None,
    label_delay_days: float | None = None,
    start: dt.date | None = None,
) -> Imported:
    """Read AMLSim's output into ``transfers``, ``accounts`` and ``customers`` (module
    docstring)."""
    cmap = parse_mapping(mapping, TRANSACTION_ROLES, (ACCOUNT_ROLES, ALERT_ROLES))
    delay_days, delay_ms = label_delay_ms(label_delay_days)
    start = DEFAULT_START if start is None else start
    sources, acct_src, alert_srcs = _discover(files)
    if cmap.for_table("accounts") and acct_src is None:
        raise DataError("--map accounts.COLUMN is given but no accounts file is among the inputs")
    if cmap.for_table("alerts") and not alert_srcs:
        raise DataError("--map alerts.COLUMN is given but no alerts file is among the inputs")
    g = gather_main(sources, TRANSACTION_ROLES, cmap.for_table("transfers"))
    n = g.size

    ts = g.values("timestamp", _days_or_time(start))
    amount = g.values("amount", cols.parse_money)
    laundering = g.values("is_laundering", cols.parse_bool)
    kinds = (
        g.values(
            "transfer_type",
            lambda s, c: cols.parse_codes(s, c, TransferType, aliases=_TYPE_ALIASES),
        )
        if g.has("transfer_type")
        else np.full(n, list(TransferType).index(TransferType.TRANSFER), np.int8)
    )
    if g.has("alert_id"):
        alert, has_alert = g.nullable("alert_id", cols.parse_int, np.int64)
        has_alert &= (alert >= 0) & laundering
    else:
        alert, has_alert = np.zeros(n, np.int64), np.zeros(n, bool)
    tx_ids = g.arrays("transfer_id", cols.parse_ids) if g.has("transfer_id") else None
    if tx_ids is not None:
        dup = cols.first_duplicate(cols.id_keys(tx_ids))
        if dup is not None:
            raise g.error("transfer_id", dup[1], f"duplicate tran_id {tx_ids[dup[1]].as_py()!r}")
    src_ids = g.arrays("src_account_id", cols.parse_ids)
    dst_ids = g.arrays("dst_account_id", cols.parse_ids)

    # alerts -> typology per laundering transfer
    alert_ids, alert_types = _alert_types(alert_srcs, cmap.for_table("alerts"))
    known = {t.value: i for i, t in enumerate(LaunderingTypology)}
    type_code = np.array([known.get(t, -1) for t in alert_types] + [-1], dtype=np.int8)
    pos = np.searchsorted(alert_ids, alert)
    pos = np.where((pos < alert_ids.size) & has_alert, pos, alert_ids.size)
    found_alert = pos < alert_ids.size
    found_alert[found_alert] = alert_ids[pos[found_alert]] == alert[found_alert]
    typology = np.where(found_alert, type_code[np.where(found_alert, pos, alert_ids.size)], -1)
    unmapped = sorted({t for t in alert_types if t not in known})
    missing_alerts = int((has_alert & ~found_alert).sum()) if alert_srcs else 0

    # accounts
    order = np.argsort(ts, kind="stable")
    take = pa.array(order)
    acct = None
    if acct_src is not None:
        found = ACCOUNT_ROLES.resolve(acct_src, cmap.for_table("accounts"))
        ACCOUNT_ROLES.check_required(acct_src, found, ACCOUNT_ROLES.required)
        acct_ids = cols.parse_ids(acct_src, found["account_id"])
        dup = cols.first_duplicate(cols.id_keys(acct_ids))
        if dup is not None:
            raise acct_src.error(
                f"acct_id {acct_ids[dup[1]].as_py()!r} appears twice (also row {dup[0] + 1})",
                index=dup[1],
                column=found["account_id"],
            )
        for role, raw in (("src_account_id", src_ids), ("dst_account_id", dst_ids)):
            a, b = cols.align_ids(raw, acct_ids)
            unknown = ~pc.is_in(a, value_set=b).to_numpy(zero_copy_only=False)
            if unknown.any():
                i = int(np.flatnonzero(unknown)[0])
                raise g.error(role, i, f"account {raw[i].as_py()!r} is not in {acct_src.path}")
        acct = (acct_src, found, acct_ids)
    parts = ([acct[2]] if acct else []) + [src_ids.take(take), dst_ids.take(take)]
    encoded = [p.to_numpy(zero_copy_only=False) for p in cols.encode_ids(parts)]
    src_key, dst_key = encoded[-2], encoded[-1]
    first_day = int(ts.min()) // MS_PER_DAY
    if acct is not None:
        a_src, found, _ = acct
        keys = encoded[0]
        m = keys.size
        savings = np.zeros(m, bool)
        if "kind" in found:
            text = pc.utf8_upper(cols.parse_text(a_src, found["kind"], nullable=True))
            savings = pc.fill_null(pc.starts_with(text, "SAV"), False).to_numpy(
                zero_copy_only=False
            )
        opening = np.zeros(m, np.int64)
        if "opening_balance" in found:
            opening, _ = parse_nullable(
                a_src,
                found["opening_balance"],
                lambda s, c, arr: cols.parse_money(s, c, arr, allow_negative=True),
                np.int64,
            )
        opened = np.full(m, first_day, np.int32)
        if "opened_at" in found:
            ms, valid = parse_nullable(a_src, found["opened_at"], _days_or_time(start), np.int64)
            opened = np.where(valid, ms // MS_PER_DAY, first_day).astype(np.int32)
        used_acct = set(found.values())
    else:
        keys = np.unique(np.concatenate([src_key, dst_key]))
        m = keys.size
        savings, opening = np.zeros(m, bool), np.zeros(m, np.int64)
        opened = np.full(m, first_day, np.int32)
        used_acct = set()
    kind = np.where(savings, KIND_CODE[AccountKind.SAVINGS], KIND_CODE[AccountKind.CURRENT])
    tables = accounts_tables(keys, kind, opened, opening, np.ones(m, bool))

    ts_sorted = ts[order]
    laundering_sorted = laundering[order]
    has_sorted = has_alert[order]
    tables["transfers"] = transfers_table(
        timestamp=ts_sorted,
        src=src_key,
        dst=dst_key,
        amount=amount[order],
        transfer_type=kinds[order],
        is_fraud=np.zeros(n, bool),
        scenario=np.full(n, -1, np.int8),
        available=ts_sorted + delay_ms,
        transfer_id=None if tx_ids is None else cols.encode_ids([tx_ids.take(take)])[0],
        extra={
            "is_laundering": laundering_sorted,
            "laundering_typology": category(typology[order], _TYPOLOGIES),
            "alert_id": pa.array(alert[order], pa.int64(), mask=~has_sorted),
        },
    )
    used = {c for f in g.found for c in f.values()}
    params = {
        "format": "amlsim",
        "files": file_names([*sources, *([acct_src] if acct_src else []), *alert_srcs]),
        "mapping": cmap.as_json(),
        "start": start.isoformat(),
        "label_delay_days": delay_days,
        "unmapped_alert_types": unmapped,
        "laundering_transfers_without_alert_type": missing_alerts,
        "ignored_columns": sorted({c for s in sources for c in s.columns if c not in used}),
        "ignored_account_columns": sorted(
            c for c in (acct_src.columns if acct_src else []) if c not in used_acct
        ),
    }
    return Imported(tables, params)
