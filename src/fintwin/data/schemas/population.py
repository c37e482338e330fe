"""Who and where: customers, terminals, devices, cards, accounts."""

from __future__ import annotations

import pyarrow as pa

from fintwin.data.schemas._spec import CATEGORY, MONEY, TIMESTAMP, Column, TableSpec

CUSTOMERS = TableSpec(
    "customers",
    "One row per customer of the institution.",
    (
        Column("customer_id", pa.int64(), "Customer key (a token, not a real identifier).", "id"),
        # Optional: imported data often has no locations (the handbook's raw payments, PaySim).
        Column(
            "home_x",
            pa.float64(),
            "Home location, east coordinate on the twin's map (absent when unknown: imports).",
            "km",
            False,
        ),
        Column(
            "home_y",
            pa.float64(),
            "Home location, north coordinate on the twin's map.",
            "km",
            False,
        ),
        Column("age", pa.int16(), "Age at the world's start date.", "years", False, True),
        Column("sex", CATEGORY, "Sex.", "F, M", False, True),
        Column("region", CATEGORY, "Region of residence.", "region name", False, True),
        Column("income", MONEY, "Annual income.", "currency units per year", False, True),
        Column(
            "segment",
            CATEGORY,
            "Customer segment.",
            "salaried, self_employed, sme_owner, student, retired",
            False,
            True,
        ),
        Column(
            "thin_file",
            pa.bool_(),
            "No credit bureau record exists for this customer.",
            "bool",
            False,
            True,
        ),
        Column(
            "risk_appetite",
            pa.int8(),
            "Stated investment risk appetite.",
            "1 (low)..5",
            False,
            True,
        ),
        Column(
            "customer_since",
            pa.date32(),
            "Date the relationship began (tenure).",
            "date",
            False,
            True,
        ),
    ),
)

TERMINALS = TableSpec(
    "terminals",
    "One row per payment terminal (a merchant's point of sale or web shop).",
    (
        Column("terminal_id", pa.int64(), "Terminal key.", "id"),
        # Optional for the same reason as customers.home_x.
        Column(
            "x",
            pa.float64(),
            "Terminal location, east coordinate (absent when unknown: imports).",
            "km",
            False,
        ),
        Column("y", pa.float64(), "Terminal location, north coordinate.", "km", False),
        Column("merchant_id", pa.int64(), "Merchant owning the terminal.", "id", False, True),
        Column(
            "merchant_category",
            CATEGORY,
            "Merchant category (grocery, fuel, travel ...).",
            "category name",
            False,
            True,
        ),
        Column("country", CATEGORY, "Country of the terminal.", "ISO 3166 alpha-2", False, True),
        Column("is_ecommerce", pa.bool_(), "Web shop rather than a physical POS.", "bool", False),
    ),
)

DEVICES = TableSpec(
    "devices",
    "One row per device (phone, computer) seen by the institution.",
    (
        Column("device_id", pa.int64(), "Device key.", "id"),
        Column("device_type", CATEGORY, "Kind of device.", "mobile, desktop, tablet"),
        Column(
            "owner_customer_id",
            pa.int64(),
            "Customer the device was first registered to (null: unknown owner).",
            "id",
            True,
            True,
        ),
        Column("ip_prefix", pa.string(), "Usual /24 network prefix of the device.", "a.b.c"),
        Column("first_seen", TIMESTAMP, "First time the device was seen.", "timestamp"),
    ),
)

CARDS = TableSpec(
    "cards",
    "One row per payment card.",
    (
        Column("card_id", pa.int64(), "Card key (a token, never the card number).", "id"),
        Column("customer_id", pa.int64(), "Card holder.", "id"),
        Column("account_id", pa.int64(), "Account the card draws on.", "id"),
        Column("issued_at", pa.date32(), "Issue date.", "date"),
    ),
)

ACCOUNTS = TableSpec(
    "accounts",
    "One row per account. Money that enters or leaves the institution moves through "
    "accounts of kind 'external', so every transfer has a debit and a credit side.",
    (
        Column("account_id", pa.int64(), "Account key.", "id"),
        Column(
            "customer_id",
            pa.int64(),
            "Owning customer (null for agent, merchant and external accounts).",
            "id",
            True,
            True,
        ),
        Column(
            "kind",
            CATEGORY,
            "What the account is.",
            "current, savings, wallet, agent, merchant, external",
        ),
        Column("opened_at", pa.date32(), "Opening date.", "date"),
        Column(
            "opening_balance",
            MONEY,
            "Balance at the world's start (or when opened, if later).",
            "currency units",
        ),
    ),
)

TABLES = (CUSTOMERS, TERMINALS, DEVICES, CARDS, ACCOUNTS)
