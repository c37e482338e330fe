"""Labels of card payments: from the payments' own columns or a labels file, dated by the data or
by a delay after the payment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers import _columns as cols
from fintwin.data.importers._build import MS_PER_DAY, Gathered, parse_nullable
from fintwin.data.importers._read import Source
from fintwin.data.importers.mapping import TableRoles
from fintwin.exceptions import DataError

__all__ = ["LABEL_ROLES", "Labels", "date_labels", "labels_from_file", "labels_from_main"]

#: ``parse_scenario(source, column, array)`` -> codes into FraudScenario, -1 for none.
ScenarioParser = Callable[[Source, str, pa.Array | None], np.ndarray]

LABEL_ROLES = TableRoles(
    "labels",
    {
        "transaction_id": ("transaction_id", "TRANSACTION_ID"),
        "is_fraud": ("is_fraud", "TX_FRAUD"),
        "fraud_scenario": ("fraud_scenario", "TX_FRAUD_SCENARIO"),
        "label_available_at": ("label_available_at",),
    },
    ("transaction_id", "is_fraud"),
)


@dataclass
class Labels:
    """Labels of n payments, in the order of the gathered files."""

    is_fraud: np.ndarray  # bool (n,)
    scenario: np.ndarray  # int8 codes (n,), -1 none
    available: np.ndarray  # int64 ms (n,)
    dated: np.ndarray  # bool (n,): available holds a date


def labels_from_main(g: Gathered, parse_scenario: ScenarioParser) -> Labels:
    """Labels from the payments' own ``is_fraud`` (+ optional scenario and date) columns."""
    n = g.size
    is_fraud = g.values("is_fraud", cols.parse_bool)
    scenario = (
        g.values("fraud_scenario", parse_scenario)
        if g.has("fraud_scenario")
        else np.full(n, -1, np.int8)
    )
    if g.has("label_available_at"):
        available, dated = g.nullable("label_available_at", cols.parse_timestamp, np.int64)
    else:
        available, dated = np.zeros(n, np.int64), np.zeros(n, bool)
    wrong = ~is_fraud & (scenario >= 0)
    if wrong.any():
        raise g.error(
            "fraud_scenario",
            int(np.flatnonzero(wrong)[0]),
            "a fraud scenario on a row whose label says genuine (is_fraud false); leave it empty",
        )
    return Labels(is_fraud, scenario, available, dated)


def labels_from_file(
    g: Gathered,
    parse_scenario: ScenarioParser,
    tx_ids: pa.Array | None,
    lsrc: Source,
    over: Mapping[str, str],
) -> Labels:
    """Labels from a labels file joined on transaction_id; payments absent from it are genuine.

    Refuses labels given twice (file and columns), duplicate or unknown transaction ids.
    """
    if g.has("is_fraud"):
        raise DataError(
            f"labels are given twice: by this column and by --labels {lsrc.path}; drop one",
            file=g.sources[0].path,
            column=g.column("is_fraud"),
        )
    if tx_ids is None:
        raise DataError(
            "--labels joins on transaction_id, but the transactions have no transaction_id "
            "column (name yours with --map YOUR_COLUMN=transaction_id)",
            file=lsrc.path,
        )
    found = LABEL_ROLES.resolve(lsrc, over)
    LABEL_ROLES.check_required(lsrc, found, LABEL_ROLES.required)
    id_col = found["transaction_id"]
    lid = cols.parse_ids(lsrc, id_col)
    dup = cols.first_duplicate(cols.id_keys(lid))
    if dup is not None:
        raise lsrc.error(
            f"transaction_id {lid[dup[1]].as_py()!r} is labelled twice (also row {dup[0] + 1})",
            index=dup[1],
            column=id_col,
        )
    lfraud = cols.parse_bool(lsrc, found["is_fraud"])
    m = len(lid)
    lscen = (
        parse_scenario(lsrc, found["fraud_scenario"], None)
        if "fraud_scenario" in found
        else np.full(m, -1, np.int8)
    )
    wrong = ~lfraud & (lscen >= 0)
    if wrong.any():
        raise lsrc.error(
            "a fraud scenario on a row whose label says genuine (is_fraud false)",
            index=int(np.flatnonzero(wrong)[0]),
            column=found["fraud_scenario"],
        )
    if "label_available_at" in found:
        ldate, ldated = parse_nullable(
            lsrc, found["label_available_at"], cols.parse_timestamp, np.int64
        )
    else:
        ldate, ldated = np.zeros(m, np.int64), np.zeros(m, bool)
    a, b = cols.align_ids(tx_ids, lid)
    orphan = ~pc.is_in(b, value_set=a).to_numpy(zero_copy_only=False)
    if orphan.any():
        j = int(np.flatnonzero(orphan)[0])
        raise lsrc.error(
            f"transaction_id {lid[j].as_py()!r} is not among the imported transactions "
            f"({orphan.sum()} labels like it)",
            index=j,
            column=id_col,
        )
    pos = pc.fill_null(pc.index_in(a, value_set=b), -1).to_numpy(zero_copy_only=False)
    hit = pos >= 0
    n = g.size
    out = Labels(
        np.zeros(n, bool), np.full(n, -1, np.int8), np.zeros(n, np.int64), np.zeros(n, bool)
    )
    for target, source in (
        (out.is_fraud, lfraud),
        (out.scenario, lscen),
        (out.available, ldate),
        (out.dated, ldated),
    ):
        target[hit] = source[pos[hit]]
    return out


def date_labels(
    g: Gathered, lab: Labels, ts: np.ndarray, delay_days: float | None, flag_hint: str
) -> np.ndarray:
    """label_available_at for every row: the data's date, else timestamp + delay."""
    available = lab.available.copy()
    missing = ~lab.dated
    if missing.any():
        if delay_days is None:
            if lab.dated.any():
                raise g.error(
                    "label_available_at",
                    int(np.flatnonzero(missing)[0]),
                    f"this row has no label date; give one or pass {flag_hint} to date "
                    "undated labels at timestamp + DAYS",
                )
            raise DataError(
                "no label dates: neither the transactions nor --labels have a "
                f"label_available_at column; pass {flag_hint} to set "
                "label_available_at = timestamp + DAYS",
                file=g.sources[0].path,
                column="label_available_at",
            )
        available[missing] = ts[missing] + round(delay_days * MS_PER_DAY)
    early = available < ts
    if early.any():
        i = int(np.flatnonzero(early)[0])
        raise g.error(
            "label_available_at",
            i,
            "label_available_at is before the transaction's timestamp "
            f"({np.datetime64(int(available[i]), 'ms')} < {np.datetime64(int(ts[i]), 'ms')})",
        )
    return available
