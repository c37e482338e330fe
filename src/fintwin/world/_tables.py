"""Event tables built the same way by every preset."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import category, money_from_minor
from fintwin.data.schemas.vocab import FraudScenario, LaunderingTypology, TransferType, labels

__all__ = ["transfers_table"]


def transfers_table(
    transfer_id: np.ndarray,
    timestamp_ms: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    amount_minor: np.ndarray,
    transfer_type: np.ndarray,
    src_before: np.ndarray,
    dst_before: np.ndarray,
    fraud_scenario: np.ndarray,
    label_available_at_ms: np.ndarray,
    *,
    laundering_typology: np.ndarray | None = None,
    alert_id: np.ndarray | None = None,
    device_id: np.ndarray | None = None,
    ip_prefix: pa.Array | None = None,
) -> pa.Table:
    """The ``transfers`` table of one chunk.

    Parameters
    ----------
    transfer_id, src, dst : ndarray of int64, shape (n,)
    timestamp_ms, label_available_at_ms : ndarray of int64, shape (n,)
        Milliseconds since the Unix epoch.
    amount_minor, src_before, dst_before : ndarray of int64, shape (n,)
        Amount and the two accounts' balances before the row, in minor units; the balances
        after are derived, so they always equal before -/+ amount.
    transfer_type : ndarray of int, shape (n,)
        Codes into :class:`TransferType`.
    fraud_scenario : ndarray of int, shape (n,)
        Codes into :class:`FraudScenario`, -1 for genuine rows (``is_fraud`` follows).
    laundering_typology, alert_id : ndarray of int, shape (n,), optional
        Codes into :class:`LaunderingTypology` and alert groups, -1 where not laundering
        (``is_laundering`` follows); omitted: no laundering columns.
    device_id : ndarray of int, shape (n,), optional
        -1 for none.
    ip_prefix : pyarrow.Array of string, length n, optional
    """
    columns: dict[str, pa.Array | np.ndarray] = {
        "transfer_id": transfer_id,
        "timestamp": pa.array(timestamp_ms, pa.timestamp("ms")),
        "src_account_id": src,
        "dst_account_id": dst,
        "amount": money_from_minor(amount_minor),
        "transfer_type": category(transfer_type, labels(TransferType)),
    }
    if device_id is not None:
        columns["device_id"] = pa.array(device_id.astype(np.int64), mask=device_id < 0)
    if ip_prefix is not None:
        columns["ip_prefix"] = ip_prefix
    columns |= {
        "src_balance_before": money_from_minor(src_before),
        "src_balance_after": money_from_minor(src_before - amount_minor),
        "dst_balance_before": money_from_minor(dst_before),
        "dst_balance_after": money_from_minor(dst_before + amount_minor),
        "is_fraud": fraud_scenario >= 0,
        "fraud_scenario": category(fraud_scenario, labels(FraudScenario)),
        "label_available_at": pa.array(label_available_at_ms, pa.timestamp("ms")),
    }
    if laundering_typology is not None:
        laundering = laundering_typology >= 0
        columns["is_laundering"] = laundering
        columns["laundering_typology"] = category(laundering_typology, labels(LaunderingTypology))
        columns["alert_id"] = pa.array(np.asarray(alert_id, dtype=np.int64), mask=~laundering)
    return pa.table(columns)
