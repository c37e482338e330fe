"""evaluate_scores: the bundle agrees with the single metrics, is JSON-ready, runs on a world."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fintwin.data import World
from fintwin.exceptions import DataError, ParameterError
from fintwin.risk import (
    DEFAULT_ALERT_RATE,
    auc_roc,
    average_precision,
    card_precision_at_k,
    check_no_label_leakage,
    day_index,
    evaluate_scores,
    handbook_split,
    recall_at_alert_rate,
    threshold_at_alert_rate,
)


def _case(seed: int = 0, n: int = 3000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.04
    return {
        "y_true": y,
        "score": (rng.random(n) + 0.6 * y).round(3),
        "day": rng.integers(0, 7, n),
        "card": rng.integers(0, 400, n),
        "amount": rng.gamma(2.0, 40.0, n).round(2),
        "scenario": np.where(rng.random(n) < 0.5, "card_testing", "account_takeover"),
    }


def test_bundle_agrees_with_the_single_metrics() -> None:
    c = _case()
    latency = np.full(10, 0.0004)
    ev = evaluate_scores(**c, latency_s=latency, rate=0.02, k=50)
    assert ev.auc_roc == auc_roc(c["y_true"], c["score"])
    assert ev.average_precision == average_precision(c["y_true"], c["score"])
    cp = card_precision_at_k(c["day"], c["card"], c["y_true"], c["score"], 50)
    assert ev.card_precision_at_k == cp.mean
    assert ev.threshold == threshold_at_alert_rate(c["score"], 0.02)
    assert ev.recall == recall_at_alert_rate(c["y_true"], c["score"], 0.02)
    assert ev.alert_rate == pytest.approx(0.02, abs=0.005)  # ties at 3 decimals add a few
    assert ev.n_frauds == int(c["y_true"].sum()) and ev.n_events == 3000
    assert sum(ev.frauds_by_scenario.values()) == ev.n_frauds
    assert ev.latency is not None and ev.latency.p99 == 0.0004


def test_to_dict_is_json_with_the_cli_names() -> None:
    ev = evaluate_scores(**_case(1))
    out = json.loads(json.dumps(ev.to_dict(curve=True), allow_nan=False))
    for key in (
        "auc_roc",
        "average_precision",
        "card_precision_at_100",
        "card_precision_at_100_per_day",
        "alert_rate",
        "fraud_amount_caught",
        "recall_by_scenario",
        "threshold",
        "pr_curve",
    ):
        assert key in out, key
    assert out["latency"] is None  # no latencies given
    assert len(out["card_precision_at_100_per_day"]) == 7
    assert out["card_precision_days"] == list(range(7))
    assert set(out["recall_by_scenario"]) == {"account_takeover", "card_testing"}
    assert len(out["pr_curve"]["threshold"]) <= 200
    assert "pr_curve" not in ev.to_dict()


def test_default_rate_and_given_threshold() -> None:
    c = _case(2)
    ev = evaluate_scores(c["y_true"], c["score"])
    assert ev.threshold == threshold_at_alert_rate(c["score"], DEFAULT_ALERT_RATE)
    assert ev.card_precision is None and ev.fraud_amount_caught is None
    assert ev.to_dict()["card_precision_at_100"] is None
    ev = evaluate_scores(c["y_true"], c["score"], threshold=1.2)
    assert ev.alert_rate == float(np.mean(c["score"] >= 1.2))
    # A threshold above every score flags nothing: precision is 0, not undefined.
    ev = evaluate_scores(c["y_true"], c["score"], threshold=5.0)
    assert (ev.alert_rate, ev.recall, ev.precision) == (0.0, 0.0, 0.0)


def test_bad_arguments_are_refused() -> None:
    c = _case(3, n=50)
    y, s = c["y_true"], c["score"]
    with pytest.raises(ParameterError, match=r"give rate or threshold, not both"):
        evaluate_scores(y, s, rate=0.1, threshold=0.5)
    with pytest.raises(ParameterError, match=r"day and card must be given together"):
        evaluate_scores(y, s, day=c["day"])
    with pytest.raises(ParameterError, match=r"threshold must be a finite number \(got nan\)"):
        evaluate_scores(y, s, threshold=float("nan"))
    with pytest.raises(ParameterError, match=r"rate must be in \(0, 1\] \(got 0\)"):
        evaluate_scores(y, s, rate=0)
    with pytest.raises(ParameterError, match=r"^amount must hold one value per event"):
        evaluate_scores(y, s, amount=c["amount"][:-1])
    with pytest.raises(DataError, match=r"both classes"):
        evaluate_scores(np.zeros(50, bool), s)


def test_handbook_world_end_to_end(handbook_world: World) -> None:
    # Score each payment by its amount: it must catch every fraud of the handbook's scenario 1
    # (every amount above 220 is fraud) once the threshold is 220.01, and no other scenario
    # can do better than chance by much.
    tx = handbook_world.frame("transactions")
    origin = handbook_world.manifest.start
    split = handbook_split(
        tx["timestamp"],
        tx["customer_id"],
        tx["is_fraud"],
        tx["label_available_at"],
        start_day=10,
        origin=origin,
    )
    # The preset's labels arrive 7 days after the event: the 7-day delay covers all of them.
    assert split.train_unlabelled.size == 0
    check_no_label_leakage(tx["label_available_at"], split.train, split.test_start_ms)
    test = tx.iloc[split.test]
    days = day_index(test["timestamp"], origin=origin)
    assert days.min() == 24 and days.max() == 30
    ev = evaluate_scores(
        test["is_fraud"],
        test["amount"].astype(float),
        day=days,
        card=test["customer_id"],
        amount=test["amount"],
        scenario=test["fraud_scenario"],
        threshold=220.01,
    )
    assert ev.recall_by_scenario["amount_over_threshold"] == 1.0
    assert ev.precision == 1.0  # above 220 everything is fraud
    assert 0.5 < ev.auc_roc < 1.0
    json.dumps(ev.to_dict(), allow_nan=False)


def test_public_names() -> None:
    import fintwin.risk

    mine = {
        "DEFAULT_ALERT_RATE", "CardPrecision", "FraudEvaluation", "KnownCompromised",
        "LatencySummary", "PRCurve", "TimeSplit", "alert_rate", "auc_roc", "average_precision",
        "card_precision_at_k", "check_no_label_leakage", "day_index", "evaluate_scores",
        "flags_at_alert_rate", "fraud_amount_caught", "handbook_split", "latency_percentiles",
        "precision_recall_curve", "prequential_splits", "recall_at_alert_rate",
        "recall_by_group", "threshold_at_alert_rate",
    }  # fmt: skip
    assert mine <= set(fintwin.risk.__all__)
    for name in fintwin.risk.__all__:
        assert hasattr(fintwin.risk, name), name
