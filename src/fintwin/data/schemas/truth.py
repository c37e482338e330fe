"""Ground truth kept under ``truth/``: what the simulator knows and engines must never read."""

from __future__ import annotations

import pyarrow as pa

from fintwin.data.schemas._spec import CATEGORY, TIMESTAMP, Column, TableSpec

CUSTOMER_PROFILES = TableSpec(
    "customer_profiles",
    "Latent spending behaviour of each customer (the handbook's customer profile).",
    (
        Column("customer_id", pa.int64(), "Customer.", "id"),
        Column("mean_amount", pa.float64(), "Mean payment amount.", "currency units"),
        Column(
            "std_amount", pa.float64(), "Standard deviation of payment amounts.", "currency units"
        ),
        Column("mean_nb_tx_per_day", pa.float64(), "Mean number of payments per day.", "1/day"),
        Column(
            "nb_terminals",
            pa.int32(),
            "Terminals within the customer's radius (the ones the customer uses).",
            "count",
        ),
    ),
    truth=True,
)

FRAUD_CAMPAIGNS = TableSpec(
    "fraud_campaigns",
    "One row per fraud campaign: what was compromised, from when to when.",
    (
        Column("campaign_id", pa.int64(), "Campaign key.", "id"),
        Column("scenario", CATEGORY, "Fraud typology.", "see FraudScenario"),
        Column(
            "target_kind",
            CATEGORY,
            "What was compromised.",
            "terminal, customer, card, account, ring",
        ),
        Column("target_id", pa.int64(), "Key of the compromised entity.", "id"),
        Column("start", TIMESTAMP, "Start of the compromise.", "timestamp"),
        Column("end", TIMESTAMP, "End of the compromise (exclusive).", "timestamp"),
    ),
    truth=True,
)

FRAUD_MEMBERSHIP = TableSpec(
    "fraud_membership",
    "Which fraudulent row came from which campaign.",
    (
        Column("table", CATEGORY, "Table of the row.", "transactions, transfers"),
        Column("row_id", pa.int64(), "transaction_id or transfer_id.", "id"),
        Column("campaign_id", pa.int64(), "Campaign.", "id"),
    ),
    truth=True,
)

TABLES = (CUSTOMER_PROFILES, FRAUD_CAMPAIGNS, FRAUD_MEMBERSHIP)
