"""Enumerations used as column values across tables (stored as dictionary-encoded strings)."""

from __future__ import annotations

from enum import StrEnum


class Segment(StrEnum):
    """Customer segment."""

    SALARIED = "salaried"
    SELF_EMPLOYED = "self_employed"
    SME_OWNER = "sme_owner"
    STUDENT = "student"
    RETIRED = "retired"


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"


class Channel(StrEnum):
    """Where a card payment happened."""

    POS = "pos"
    ECOM = "ecom"


class AccountKind(StrEnum):
    """What an account is; ``external`` accounts stand for money outside the institution so that
    every transfer has a debit and a credit side."""

    CURRENT = "current"
    SAVINGS = "savings"
    WALLET = "wallet"
    AGENT = "agent"
    MERCHANT = "merchant"
    EXTERNAL = "external"


class TransferType(StrEnum):
    """Kind of account movement (the PaySim vocabulary plus retail-bank flows)."""

    TRANSFER = "transfer"
    PAYMENT = "payment"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    DEBIT = "debit"
    SALARY = "salary"
    BILL = "bill"


class FraudScenario(StrEnum):
    """Fraud typology that produced a labelled transaction or transfer."""

    # handbook (the book's TX_FRAUD_SCENARIO 1, 2, 3)
    AMOUNT_OVER_THRESHOLD = "amount_over_threshold"
    COMPROMISED_TERMINAL = "compromised_terminal"
    COMPROMISED_CUSTOMER = "compromised_customer"
    # retail-bank
    CARD_NOT_PRESENT = "card_not_present"
    ACCOUNT_TAKEOVER = "account_takeover"
    CARD_TESTING = "card_testing"
    MULE_RING = "mule_ring"
    IMPOSSIBLE_TRAVEL = "impossible_travel"


class LaunderingTypology(StrEnum):
    """Money-laundering pattern of an alert group (the AMLSim catalogue)."""

    FAN_OUT = "fan_out"
    FAN_IN = "fan_in"
    CYCLE = "cycle"
    SCATTER_GATHER = "scatter_gather"
    GATHER_SCATTER = "gather_scatter"
    BIPARTITE = "bipartite"
    STACK = "stack"


def labels(enum_type: type[StrEnum]) -> list[str]:
    """The enum's values in declaration order: the dictionary of its category columns."""
    return [m.value for m in enum_type]
