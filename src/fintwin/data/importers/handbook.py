"""The raw files of the Fraud Detection Handbook's simulator (Le Borgne et al., chapter 3.2).

The book writes one pandas pickle per day (``2018-04-01.pkl`` ...) with columns
``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS,
TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO``; the same columns in CSV or Parquet are read too.
``TX_TIME_SECONDS`` and ``TX_TIME_DAYS`` repeat ``TX_DATETIME`` and are ignored.

``TX_FRAUD_SCENARIO`` 1, 2, 3 become ``amount_over_threshold``, ``compromised_terminal``,
``compromised_customer`` (0: genuine). Labels become available 7 days after the payment (the
book's delay period) unless ``--label-delay`` says otherwise.

The book's customer and terminal profile tables may be given with ``--customers`` and
``--terminals`` (``CUSTOMER_ID, x_customer_id, y_customer_id`` and ``TERMINAL_ID,
x_terminal_id, y_terminal_id``): they give the locations the payments lack.

Pickles run code when loaded: import only pickles you trust. fintwin loads pickles only from the
files or directory you name.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin.data.importers import _columns as cols
from fintwin.data.importers._read import Source
from fintwin.data.importers.cards import CardFormat, parse_scenario_names
from fintwin.data.importers.mapping import TableRoles
from fintwin.data.schemas.vocab import FraudScenario

__all__ = ["BOOK_SCENARIOS", "HANDBOOK", "parse_book_scenarios"]

#: TX_FRAUD_SCENARIO code -> scenario (0 is genuine).
BOOK_SCENARIOS = {
    1: FraudScenario.AMOUNT_OVER_THRESHOLD,
    2: FraudScenario.COMPROMISED_TERMINAL,
    3: FraudScenario.COMPROMISED_CUSTOMER,
}
_CODE = {s: i for i, s in enumerate(FraudScenario)}
#: the book's delay period, in days
BOOK_LABEL_DELAY_DAYS = 7


def parse_book_scenarios(src: Source, column: str, arr: pa.Array | None = None) -> np.ndarray:
    """Codes into FraudScenario (-1: none) from the book's 0-3, or from scenario names.

    Examples
    --------
    >>> from pathlib import Path
    >>> src = Source(Path("day.csv"), pa.table({"s": ["0", "2", "3"]}))
    >>> parse_book_scenarios(src, "s").tolist()
    [-1, 1, 2]
    """
    arr = src.array(column) if arr is None else arr
    numeric = pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
    if not numeric and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        digits = pc.match_substring_regex(pc.utf8_trim_whitespace(arr), r"^\d+$")
        numeric = bool(pc.all(pc.fill_null(digits, True)).as_py())
    if not numeric:
        return parse_scenario_names(src, column, arr)
    values, valid = np.zeros(len(arr), np.int64), arr.is_valid().to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(valid)
    if idx.size:
        values[idx] = cols.parse_int(src.subset(idx), column, arr.filter(pa.array(valid)))
    bad = valid & ((values < 0) | (values > 3))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.error(
            f"{values[i]} is not a handbook scenario; expected 0 (genuine), 1, 2 or 3",
            index=i,
            column=column,
        )
    lookup = np.array([-1] + [_CODE[BOOK_SCENARIOS[k]] for k in (1, 2, 3)], dtype=np.int8)
    out = lookup[values]
    out[~valid] = -1
    return out


HANDBOOK = CardFormat(
    "handbook",
    TableRoles(
        "transactions",
        {
            "transaction_id": ("TRANSACTION_ID", "transaction_id"),
            "timestamp": ("TX_DATETIME", "timestamp"),
            "customer_id": ("CUSTOMER_ID", "customer_id"),
            "terminal_id": ("TERMINAL_ID", "terminal_id"),
            "amount": ("TX_AMOUNT", "amount"),
            "is_fraud": ("TX_FRAUD", "is_fraud"),
            "fraud_scenario": ("TX_FRAUD_SCENARIO", "fraud_scenario"),
            "label_available_at": ("label_available_at",),
        },
        ("timestamp", "customer_id", "terminal_id", "amount"),
    ),
    parse_book_scenarios,
    BOOK_LABEL_DELAY_DAYS,
)
