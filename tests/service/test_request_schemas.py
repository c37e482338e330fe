"""Strict request models: unknown fields, decimals, time zones, card numbers, verdict rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fintwin.risk import Action
from fintwin.service.schemas import (
    MAX_BATCH_EVENTS,
    BatchIn,
    LabelIn,
    PaymentEvent,
    ReviewVerdictIn,
    validation_error_body,
)
from fintwin.store.decisions import Verdict

EVENT: dict[str, Any] = {
    "transaction_id": 1,
    "timestamp": "2024-05-01T12:00:00Z",
    "amount": "10.50",
    "customer_id": 7,
    "terminal_id": "shop-12",
    "channel": "pos",
}


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [d["field"] for d in validation_error_body(exc.value.errors())["detail"]]


def test_a_minimal_event_becomes_an_engine_event() -> None:
    e = PaymentEvent.model_validate(EVENT)
    out = e.to_event()
    assert out == {
        "transaction_id": 1,
        "timestamp": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
        "amount": Decimal("10.50"),
        "customer_id": 7,
        "terminal_id": "shop-12",
        "channel": "pos",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"is_fraud": True}, "is_fraud"),  # labels come through /v1/labels only
        ({"timestamp": "2024-05-01T12:00:00"}, "timestamp"),
        ({"timestamp": 1714564800000}, "timestamp"),  # epoch ms carry no zone either
        ({"amount": 10.555}, "amount"),
        ({"amount": "1e-3"}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1" * 17}, "amount"),  # decimal(18,2) holds 16 integer digits
        ({"transaction_id": "12"}, "transaction_id"),  # ids are not coerced from text
        ({"transaction_id": True}, "transaction_id"),
        ({"customer_id": "a b"}, "customer_id"),
        ({"currency": "eur"}, "currency"),
        ({"country": "FRA"}, "country"),
        ({"ip_prefix": "10.1.2.3"}, "ip_prefix"),
        ({"location_x": float("inf")}, "location_x"),
        ({"card_number": "4111-1111-1111-1112"}, "card_number"),
        ({"card_number": "41111"}, "card_number"),
    ],
)
def test_refused_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PaymentEvent.model_validate(EVENT | change)
    assert _fields(exc) == [field]


def test_a_missing_field_is_named() -> None:
    with pytest.raises(ValidationError) as exc:
        PaymentEvent.model_validate({k: v for k, v in EVENT.items() if k != "channel"})
    assert _fields(exc) == ["channel"]


def test_amounts_keep_their_decimals_and_card_numbers_are_normalised() -> None:
    e = PaymentEvent.model_validate(
        EVENT
        | {
            "amount": 0.1,
            "card_number": "4111 1111-1111 1111",
            "timestamp": "2024-05-01T14:00+02:00",
        }
    )
    assert e.amount == Decimal("0.1")
    assert e.card_number == "4111111111111111"
    assert e.timestamp == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def test_batch_size_is_bounded() -> None:
    assert len(BatchIn.model_validate({"events": [EVENT] * MAX_BATCH_EVENTS}).events) == 1000
    for n in (0, MAX_BATCH_EVENTS + 1):
        with pytest.raises(ValidationError) as exc:
            BatchIn.model_validate({"events": [EVENT] * n})
        assert _fields(exc) == ["events"]


def test_review_verdicts() -> None:
    ok = ReviewVerdictIn.model_validate(
        {"verdict": "override", "action": "decline", "comment": "card 4111 1111 1111 1111 stolen"}
    )
    assert ok.verdict is Verdict.OVERRIDE and ok.action is Action.DECLINE
    assert "4111" not in ok.comment and "stolen" in ok.comment
    with pytest.raises(ValidationError, match="required when the verdict is override") as exc:
        ReviewVerdictIn.model_validate({"verdict": "override", "comment": "x"})
    assert _fields(exc) == ["action"]
    with pytest.raises(ValidationError, match="absent when the verdict is confirm") as exc:
        ReviewVerdictIn.model_validate({"verdict": "confirm", "action": "approve", "comment": "x"})
    assert _fields(exc) == ["action"]
    with pytest.raises(ValidationError) as exc:
        ReviewVerdictIn.model_validate({"verdict": "confirm", "comment": ""})
    assert _fields(exc) == ["comment"]


def test_labels() -> None:
    label = LabelIn.model_validate({"transaction_id": 3, "is_fraud": False, "source": "chargeback"})
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    assert label.effective_time(now) == now
    with pytest.raises(ValidationError) as exc:
        LabelIn.model_validate({"transaction_id": 3, "is_fraud": "yes", "source": "guess"})
    assert _fields(exc) == ["is_fraud", "source"]
