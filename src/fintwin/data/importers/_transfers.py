"""What the account-movement formats (PaySim, AMLSim) share: reading the main files, label dates,
and the ``transfers``, ``accounts`` and ``customers`` tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from fintwin._validation import check_non_negative
from fintwin.data.importers._build import MS_PER_DAY, Gathered, check_same_roles
from fintwin.data.importers._read import Source
from fintwin.data.importers.mapping import TableRoles
from fintwin.data.schemas import TIMESTAMP, category, money_from_minor
from fintwin.data.schemas.vocab import AccountKind, FraudScenario, TransferType, labels

__all__ = ["DEFAULT_LABEL_DELAY_DAYS", "DEFAULT_START", "accounts_tables", "gather_main"]

#: Day the simulators' relative clocks (PaySim steps, AMLSim day numbers) start on by default.
DEFAULT_START = dt.date(2024, 1, 1)
#: Label delay of the simulators' formats when none is given: the project's default for genuine
#: labels (the handbook's 7-day delay period).
DEFAULT_LABEL_DELAY_DAYS = 7.0
_KINDS = labels(AccountKind)
#: AccountKind -> its code in the ``kind`` column
KIND_CODE = {k: i for i, k in enumerate(AccountKind)}


def gather_main(
    sources: Sequence[Source], roles: TableRoles, overrides: Mapping[str, str]
) -> Gathered:
    """Resolve ``roles`` in every main file, refusing missing or inconsistent columns."""
    found_all = []
    for src in sources:
        found = roles.resolve(src, overrides)
        roles.check_required(src, found, roles.required)
        found_all.append(found)
    check_same_roles(roles.table, sources, found_all, roles.native)
    return Gathered(sources, found_all)


def label_delay_ms(label_delay_days: float | None) -> tuple[float, int]:
    """The delay in days (default applied) and in milliseconds."""
    if label_delay_days is not None:
        check_non_negative("label_delay_days", label_delay_days)
    days = DEFAULT_LABEL_DELAY_DAYS if label_delay_days is None else float(label_delay_days)
    return days, round(days * MS_PER_DAY)


def start_ms(start: dt.date) -> int:
    return (start - dt.date(1970, 1, 1)).days * MS_PER_DAY


def transfers_table(
    *,
    timestamp: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    amount: np.ndarray,
    transfer_type: np.ndarray,
    is_fraud: np.ndarray,
    scenario: np.ndarray,
    available: np.ndarray,
    transfer_id: pa.Array | None = None,
    extra: Mapping[str, pa.Array | np.ndarray] | None = None,
) -> pa.Table:
    """The ``transfers`` table from arrays already in time order, shape (n,) each.

    ``amount`` is in minor units, ``transfer_type`` and ``scenario`` are codes into
    TransferType and FraudScenario (-1: null), times are ms.
    """
    n = timestamp.size
    data: dict[str, pa.Array | np.ndarray] = {
        "transfer_id": (
            pa.array(np.arange(n, dtype=np.int64)) if transfer_id is None else transfer_id
        ),
        "timestamp": pa.array(timestamp, TIMESTAMP),
        "src_account_id": src,
        "dst_account_id": dst,
        "amount": money_from_minor(amount),
        "transfer_type": category(transfer_type, labels(TransferType)),
        "is_fraud": is_fraud,
        "fraud_scenario": category(scenario, labels(FraudScenario)),
        "label_available_at": pa.array(available, TIMESTAMP),
    }
    data.update(extra or {})
    return pa.table(data)


def accounts_tables(
    account_id: np.ndarray,
    kind: np.ndarray,
    opened_day: np.ndarray,
    opening_minor: np.ndarray,
    owned: np.ndarray,
) -> dict[str, pa.Table]:
    """``accounts`` and ``customers`` tables: one customer per owned account, keyed alike.

    Parameters
    ----------
    account_id : ndarray of int64, shape (k,)
    kind : ndarray of int, shape (k,)
        Codes into AccountKind (see :data:`KIND_CODE`).
    opened_day : ndarray of int32, shape (k,)
        Opening date, days since 1970-01-01.
    opening_minor : ndarray of int64, shape (k,)
        Opening balance in minor units.
    owned : ndarray of bool, shape (k,)
        Held by a customer (wallets, current and savings accounts) rather than a merchant.
    """
    order = np.argsort(account_id, kind="stable")
    account_id, kind = account_id[order], kind[order]
    opened_day, opening_minor, owned = opened_day[order], opening_minor[order], owned[order]
    accounts = pa.table(
        {
            "account_id": account_id,
            "customer_id": pa.array(account_id, pa.int64(), mask=~owned),
            "kind": category(kind, _KINDS),
            "opened_at": pa.array(opened_day.astype(np.int32), pa.date32()),
            "opening_balance": money_from_minor(opening_minor),
        }
    )
    customers = pa.table({"customer_id": account_id[owned]})
    return {"accounts": accounts, "customers": customers}


def file_names(sources: Sequence[Source]) -> list[str]:
    return [Path(s.path).name for s in sources]
