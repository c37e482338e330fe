"""Money movements: card payments (``transactions``) and account movements (``transfers``)."""

from __future__ import annotations

import pyarrow as pa

from fintwin.data.schemas._spec import CATEGORY, MONEY, TIMESTAMP, Column, TableSpec

_LABEL_COLUMNS = (
    Column("is_fraud", pa.bool_(), "Confirmed fraud (the label).", "bool"),
    Column(
        "fraud_scenario",
        CATEGORY,
        "Typology that produced the fraud (null for genuine rows).",
        "see FraudScenario",
        True,
        True,
    ),
    Column(
        "label_available_at",
        TIMESTAMP,
        "When the label became known to the institution (chargeback, investigation); "
        "a decision at time t may use the label only if label_available_at <= t.",
        "timestamp",
    ),
)

TRANSACTIONS = TableSpec(
    "transactions",
    "One row per card payment, partitioned by day.",
    (
        Column("transaction_id", pa.int64(), "Transaction key, increasing with time.", "id"),
        Column("timestamp", TIMESTAMP, "When the payment was authorised.", "timestamp"),
        Column("customer_id", pa.int64(), "Card holder.", "id"),
        Column("card_id", pa.int64(), "Card used.", "id", False),
        Column("terminal_id", pa.int64(), "Terminal (merchant point of sale or web shop).", "id"),
        Column("amount", MONEY, "Amount paid.", "currency units"),
        Column("channel", CATEGORY, "Card present or not.", "pos, ecom", False),
        Column(
            "device_id",
            pa.int64(),
            "Device used for an e-commerce payment (null at a POS).",
            "id",
            False,
            True,
        ),
        Column(
            "ip_prefix",
            pa.string(),
            "/24 network prefix of an e-commerce payment (null at a POS).",
            "a.b.c",
            False,
            True,
        ),
        Column(
            "location_x",
            pa.float64(),
            "Where the payer was: the terminal for POS, the IP's geolocation for e-commerce.",
            "km",
            False,
        ),
        Column("location_y", pa.float64(), "North coordinate of location_x.", "km", False),
        Column("country", CATEGORY, "Country of the payment location.", "ISO 3166 alpha-2", False),
        *_LABEL_COLUMNS,
    ),
    partitioned_by_day=True,
)

TRANSFERS = TableSpec(
    "transfers",
    "One row per movement of money from one account to another, partitioned by day. "
    "Every row debits src_account_id and credits dst_account_id with the same amount.",
    (
        Column("transfer_id", pa.int64(), "Transfer key, increasing with time.", "id"),
        Column("timestamp", TIMESTAMP, "When the transfer was booked.", "timestamp"),
        Column("src_account_id", pa.int64(), "Debited account.", "id"),
        Column("dst_account_id", pa.int64(), "Credited account.", "id"),
        Column("amount", MONEY, "Amount moved (positive).", "currency units"),
        Column("transfer_type", CATEGORY, "Kind of movement.", "see TransferType"),
        Column(
            "device_id", pa.int64(), "Device that initiated it (null: none).", "id", False, True
        ),
        Column(
            "ip_prefix",
            pa.string(),
            "/24 prefix that initiated it (null: none).",
            "a.b.c",
            False,
            True,
        ),
        Column(
            "src_balance_before",
            MONEY,
            "Debited account's balance before.",
            "currency units",
            False,
        ),
        Column(
            "src_balance_after", MONEY, "Debited account's balance after.", "currency units", False
        ),
        Column(
            "dst_balance_before",
            MONEY,
            "Credited account's balance before.",
            "currency units",
            False,
        ),
        Column(
            "dst_balance_after", MONEY, "Credited account's balance after.", "currency units", False
        ),
        *_LABEL_COLUMNS,
        Column(
            "is_laundering",
            pa.bool_(),
            "Part of a money-laundering alert group.",
            "bool",
            False,
        ),
        Column(
            "laundering_typology",
            CATEGORY,
            "Laundering pattern (null unless is_laundering).",
            "see LaunderingTypology",
            False,
            True,
        ),
        Column(
            "alert_id",
            pa.int64(),
            "Alert group the laundering transfer belongs to (null unless is_laundering).",
            "id",
            False,
            True,
        ),
    ),
    partitioned_by_day=True,
)

TABLES = (TRANSACTIONS, TRANSFERS)
