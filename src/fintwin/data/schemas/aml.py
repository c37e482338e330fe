"""Ground truth of money laundering: alert groups (one typology each) and their members."""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

from fintwin.data.schemas._spec import CATEGORY, MONEY, TIMESTAMP, Column, TableSpec


class AlertRole(StrEnum):
    """Place of an account in its alert group's pattern."""

    #: sends the pattern's money first (fan-out origin, a cycle's start, first layer)
    SOURCE = "source"
    #: receives and passes money on (scatter/gather middles, hubs, a stack's middle layer)
    INTERMEDIATE = "intermediate"
    #: where the pattern's money ends (fan-in target, last layer)
    DESTINATION = "destination"


AML_ALERTS = TableSpec(
    "aml_alerts",
    "One row per money-laundering alert group: its typology, when it ran and what it moved. "
    "Its transfers carry its alert_id in transfers.",
    (
        Column("alert_id", pa.int64(), "Alert group key.", "id"),
        Column("typology", CATEGORY, "Laundering pattern.", "see LaunderingTypology"),
        Column("start", TIMESTAMP, "First transfer of the group.", "timestamp"),
        Column("end", TIMESTAMP, "Last transfer of the group.", "timestamp"),
        Column("members", pa.int32(), "Accounts in the group.", "count"),
        Column(
            "transfers",
            pa.int32(),
            "Transfers of the group: cash placed, the pattern's moves, cash taken out.",
            "count",
        ),
        Column(
            "laundered_amount",
            MONEY,
            "Cash placed into the group's accounts to feed the pattern.",
            "currency units",
        ),
    ),
    truth=True,
)

AML_ALERT_MEMBERS = TableSpec(
    "aml_alert_members",
    "One row per (alert group, member account): the group's structure.",
    (
        Column("alert_id", pa.int64(), "Alert group.", "id"),
        Column("account_id", pa.int64(), "Member account.", "id"),
        Column("role", CATEGORY, "Place in the pattern.", "source, intermediate, destination"),
    ),
    truth=True,
)

TABLES = (AML_ALERTS, AML_ALERT_MEMBERS)
