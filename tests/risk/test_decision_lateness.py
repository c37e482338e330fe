"""DecisionEngine passes allowed_lateness to its online engine: a late payment is decided with
features as of the latest time seen, and its decision carries its own id and timestamp."""

from __future__ import annotations

import datetime as dt

import pytest

from fintwin.exceptions import DataError, ParameterError
from fintwin.features import handbook_feature_set
from fintwin.risk import Action, DecisionEngine, builtin_policy_path, load_policy

FS = handbook_feature_set()
POLICY = load_policy(builtin_policy_path("handbook"), FS.names)
T0 = 1_704_067_200_000  # 2024-01-01 00:00


def payment(i: int, t: int, amount: str) -> dict:
    return {"transaction_id": i, "timestamp": t, "customer_id": 3, "terminal_id": 8,
            "amount": amount}  # fmt: skip


def test_a_late_payment_is_decided_as_of_the_clock() -> None:
    engine = DecisionEngine(FS, None, POLICY, allowed_lateness=dt.timedelta(seconds=5))
    assert engine.allowed_lateness == 5000 and engine.online.allowed_lateness == 5000
    engine.decide(payment(2, T0 + 10_000, "20.00"))
    late = engine.decide(payment(1, T0 + 6_000, "250.00"))
    assert (late.transaction_id, late.timestamp) == (1, T0 + 6_000)
    assert engine.online.clock == (T0 + 10_000, 2)
    # a strict engine given the same payment re-timed to the clock decides the same
    strict = DecisionEngine(FS, None, POLICY)
    strict.decide(payment(2, T0 + 10_000, "20.00"))
    want = strict.decide(payment(3, T0 + 10_000, "250.00"))
    assert dict(late.features) == dict(want.features)
    assert (
        (late.action, late.reasons)
        == (want.action, want.reasons)
        == (
            Action.DECLINE,
            ("AMOUNT_ABOVE_220",),
        )
    )
    assert late.features["customer_count_1d"] == 2.0
    with pytest.raises(DataError, match="allowed lateness is 5000 ms"):
        engine.decide(payment(4, T0 + 4_999, "1.00"))


def test_the_default_is_the_strict_order() -> None:
    engine = DecisionEngine(FS, None, POLICY)
    assert engine.allowed_lateness == 0
    engine.decide(payment(2, T0 + 10_000, "20.00"))
    with pytest.raises(DataError, match=r"out of order: .* events must come in \(timestamp, id\)"):
        engine.decide(payment(1, T0 + 9_999, "20.00"))


def test_an_invalid_lateness_is_refused() -> None:
    with pytest.raises(ParameterError, match="allowed_lateness"):
        DecisionEngine(FS, None, POLICY, allowed_lateness=-5)
