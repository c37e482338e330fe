"""Tokens: keyed, deterministic, normalised, domain-separated; card numbers masked in free text."""

from __future__ import annotations

import re

import pytest

from fintwin.exceptions import ServiceConfigError
from fintwin.service.schemas import PaymentEvent
from fintwin.service.tokens import (
    Tokeniser,
    mask_card_numbers,
    service_event,
    tokenise_event,
)

KEY = b"0123456789abcdef0123456789abcdef"
PAN = "5555555555554444"


def test_token_format_and_determinism() -> None:
    t = Tokeniser(KEY)
    tok = t.token("card_number", PAN)
    assert re.fullmatch(r"tok_[a-z2-7]{26}", tok)
    assert tok == Tokeniser(KEY).token("card_number", "5555 5555-5555 4444")
    assert tok != Tokeniser(KEY[::-1]).token("card_number", PAN)  # keyed
    assert tok != t.token("phone", PAN)  # kinds do not join
    assert t.token("national_id", "ab 12") == t.token("national_id", "AB12")
    assert len({t.token("card_number", str(4000000000000000 + i)) for i in range(1000)}) == 1000


def test_short_keys_are_refused_without_echo() -> None:
    with pytest.raises(ServiceConfigError, match="at least 32 bytes") as exc:
        Tokeniser(b"short-secret")
    assert "short-secret" not in str(exc.value)
    assert "short" not in repr(Tokeniser(KEY))


def test_tokenise_event_touches_only_the_fields_given() -> None:
    t = Tokeniser(KEY)
    event = {"card_number": PAN, "customer_id": 12, "phone": None, "amount": 3}
    out = tokenise_event(event, ["card_number", "customer_id", "phone", "absent"], t)
    assert out["card_number"] == t.token("card_number", PAN)
    assert out["customer_id"] == t.token("customer_id", 12)
    assert out["phone"] is None and out["amount"] == 3 and "absent" not in out
    assert event["card_number"] == PAN  # the input is not changed


def test_service_event_always_tokenises_people() -> None:
    t = Tokeniser(KEY)
    p = PaymentEvent.model_validate(
        {
            "transaction_id": 1,
            "timestamp": "2024-01-01T00:00:00Z",
            "amount": 1,
            "customer_id": 5,
            "terminal_id": 2,
            "channel": "ecom",
            "card_number": PAN,
            "phone": "+1 555 0100 200",
            "national_id": "AB123456",
        }
    )
    out = service_event(p, t)
    assert PAN not in str(out) and "AB123456" not in str(out) and "0100" not in str(out)
    assert out["card_id"] == out["card_number"]
    assert out["customer_id"] == 5
    assert service_event(p, t, ["customer_id"])["customer_id"].startswith("tok_")
    with_card = service_event(p.model_copy(update={"card_id": 99}), t)
    assert with_card["card_id"] == 99


def test_mask_card_numbers() -> None:
    text = f"pan {PAN}, grouped 5555-5555-5555-4444, ref 5555555555554445, tel 0044123456789"
    out = mask_card_numbers(text)
    assert PAN not in out and "5555-5555-5555-4444" not in out
    assert "5555555555554445" in out  # fails Luhn: not a card number
    assert out.count("[card number removed]") == 2
