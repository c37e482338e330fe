"""Fraud metrics: hand-computed cases, scikit-learn on random data, the handbook's CP@k code."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sklearn.metrics as skm

from fintwin.exceptions import DataError, ParameterError
from fintwin.risk import (
    alert_rate,
    auc_roc,
    average_precision,
    card_precision_at_k,
    flags_at_alert_rate,
    fraud_amount_caught,
    latency_percentiles,
    precision_recall_curve,
    recall_at_alert_rate,
    recall_by_group,
    threshold_at_alert_rate,
)

# Our sums run in a different order from scikit-learn's; 1e-12 is far above float64 rounding
# for these sizes and far below any difference a definition change would make.
RTOL = 1e-12


# --- threshold-free metrics: hand-computed ---------------------------------------------------


def test_auc_roc_hand_computed() -> None:
    # Frauds 0.35 and 0.8 against genuine 0.1 and 0.4: 3 of 4 pairs ordered right.
    assert auc_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75


def test_auc_roc_counts_a_tie_as_half() -> None:
    # Pairs: (0.5 vs 0.5) tie = 1/2, (0.5 vs 0.2) = 1, (0.9 vs both) = 2 -> 3.5 / 4.
    assert auc_roc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
    assert auc_roc([True, False], [0.3, 0.3]) == 0.5


def test_average_precision_hand_computed() -> None:
    # Thresholds 0.8 (P=1, R=1/2) then 0.35 (P=2/3, R=1): 1/2 * 1 + 1/2 * 2/3.
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6, RTOL)


def test_average_precision_flags_tied_scores_together() -> None:
    # 0.9 is shared by a fraud and a genuine event: P=1/2 at R=1/2, then P=2/3 at R=1.
    ap = average_precision([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])
    assert ap == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3, RTOL)


def test_precision_recall_curve_hand_computed() -> None:
    curve = precision_recall_curve([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])
    np.testing.assert_allclose(curve.threshold, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(curve.precision, [0.5, 2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(curve.recall, [1.0, 1.0, 0.5, 0.0])


# --- threshold-free metrics: equal to scikit-learn ------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_and_ap_equal_sklearn(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    y = rng.random(n) < rng.uniform(0.01, 0.5)
    y[:2] = [True, False]
    score = rng.random(n) + 0.3 * y
    if decimals is not None:  # many ties, across classes
        score = score.round(decimals)
    assert auc_roc(y, score) == pytest.approx(skm.roc_auc_score(y, score), rel=RTOL)
    assert average_precision(y, score) == pytest.approx(
        skm.average_precision_score(y, score), rel=RTOL
    )


@pytest.mark.parametrize("seed", range(3))
def test_precision_recall_curve_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(500) < 0.1
    y[0] = True
    score = rng.random(500).round(2)
    ours = precision_recall_curve(y, score)
    precision, recall, threshold = skm.precision_recall_curve(y, score)
    np.testing.assert_allclose(ours.precision, precision, rtol=RTOL)
    np.testing.assert_allclose(ours.recall, recall, rtol=RTOL)
    np.testing.assert_array_equal(ours.threshold, threshold)


def test_precision_recall_curve_thinning_keeps_both_ends() -> None:
    rng = np.random.default_rng(7)
    y = rng.random(2000) < 0.05
    score = rng.random(2000)
    full = precision_recall_curve(y, score)
    thin = precision_recall_curve(y, score, max_points=50)
    assert thin.threshold.size == 50
    assert thin.threshold[0] == full.threshold[0] and thin.threshold[-1] == full.threshold[-1]
    # Every kept point is a point of the full curve.
    at = np.searchsorted(full.threshold, thin.threshold)
    np.testing.assert_array_equal(full.precision[at], thin.precision[:-1])
    assert thin.to_dict()["recall"][-1] == 0.0


# --- card precision@k -----------------------------------------------------------------------


def test_card_precision_aggregates_per_card_and_day() -> None:
    # Card 1 has a genuine 0.9 and a fraud 0.1 on day 0: its day score is 0.9 and it is
    # frauded, so it is a hit at k=1 though its fraud scored lowest.
    cp = card_precision_at_k([0, 0, 0], [1, 1, 2], [0, 1, 0], [0.9, 0.1, 0.5], k=1)
    assert cp.per_day.tolist() == [1.0]
    assert cp.frauded_cards_per_day.tolist() == [1]


def test_card_precision_divides_by_k_even_with_fewer_cards() -> None:
    cp = card_precision_at_k([3, 3], [1, 2], [1, 0], [0.2, 0.1], k=100)
    assert cp.mean == 0.01
    assert cp.days.tolist() == [3] and cp.k == 100


def test_card_precision_breaks_ties_by_card_key() -> None:
    # Three cards tied at 0.5; the top 2 are the two smallest keys.
    day, card, score = [0, 0, 0], [30, 10, 20], [0.5, 0.5, 0.5]
    assert card_precision_at_k(day, card, [1, 0, 0], score, k=2).mean == 0.0
    assert card_precision_at_k(day, card, [0, 1, 0], score, k=2).mean == 0.5
    assert card_precision_at_k(day, ["c", "a", "b"], [0, 1, 1], score, k=2).mean == 1.0


def test_card_precision_removes_only_detected_cards_from_later_days() -> None:
    # Day 0: A (fraud, 0.9) is detected at k=1; B (fraud, 0.1) is not.
    # Day 1: A (fraud, 0.99) is left out, so B (fraud, 0.5) tops the ranking above C.
    # Day 2: A and B are both gone; C (genuine) is alone: precision 0.
    day = [0, 0, 1, 1, 1, 2, 2, 2]
    card = ["A", "B", "A", "B", "C", "A", "B", "C"]
    fraud = [1, 1, 1, 1, 0, 1, 1, 0]
    score = [0.9, 0.1, 0.99, 0.5, 0.4, 0.9, 0.9, 0.1]
    cp = card_precision_at_k(day, card, fraud, score, k=1)
    assert cp.per_day.tolist() == [1.0, 1.0, 0.0]
    assert cp.frauded_cards_per_day.tolist() == [2, 1, 0]
    assert cp.mean == pytest.approx(2 / 3)
    kept = card_precision_at_k(day, card, fraud, score, k=1, remove_detected=False)
    assert kept.per_day.tolist() == [1.0, 1.0, 1.0]


def test_card_precision_counts_a_day_emptied_by_removal() -> None:
    cp = card_precision_at_k([0, 1], [5, 5], [1, 0], [0.8, 0.3], k=1)
    assert cp.per_day.tolist() == [1.0, 0.0]
    assert cp.mean == 0.5


def _book_card_precision(df: pd.DataFrame, top_k: int) -> tuple[list[int], list[float], float]:
    """The handbook's card_precision_top_k / card_precision_top_k_day, on its column names.

    Written from the book's shared functions; one change: sort_values uses kind="stable"
    where the book relies on pandas' default quicksort, whose order of tied cards is
    unspecified (NumPy may use an unstable SIMD sort), so that tied cards keep key order.
    """
    days = sorted(df["TX_TIME_DAYS"].unique())
    detected: list[int] = []
    per_day: list[float] = []
    frauded_per_day: list[int] = []
    for day in days:
        df_day = df[df["TX_TIME_DAYS"] == day][["predictions", "CUSTOMER_ID", "TX_FRAUD"]]
        df_day = df_day[~df_day.CUSTOMER_ID.isin(detected)]
        frauded_per_day.append(len(df_day[df_day.TX_FRAUD == 1].CUSTOMER_ID.unique()))
        ranked = (
            df_day.groupby("CUSTOMER_ID")
            .max()
            .sort_values(by="predictions", ascending=False, kind="stable")
            .reset_index(drop=False)
        )
        top = ranked.head(top_k)
        hits = list(top[top.TX_FRAUD == 1].CUSTOMER_ID)
        per_day.append(len(hits) / top_k)
        detected.extend(hits)
    return frauded_per_day, per_day, float(np.array(per_day).mean())


@pytest.mark.parametrize(("seed", "k"), [(0, 5), (1, 20), (2, 100)])
def test_card_precision_equals_the_handbook_code(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4000
    df = pd.DataFrame(
        {
            "TX_TIME_DAYS": rng.integers(10, 24, n),
            "CUSTOMER_ID": rng.integers(0, 300, n),
            "TX_FRAUD": (rng.random(n) < 0.05).astype(int),
        }
    )
    # Two decimals: many ties, including at the top-k boundary.
    df["predictions"] = (rng.random(n) * 0.7 + 0.3 * df["TX_FRAUD"]).round(2)
    frauded, per_day, mean = _book_card_precision(df, k)
    cp = card_precision_at_k(
        df["TX_TIME_DAYS"], df["CUSTOMER_ID"], df["TX_FRAUD"], df["predictions"], k
    )
    assert cp.per_day.tolist() == per_day
    assert cp.frauded_cards_per_day.tolist() == frauded
    assert cp.mean == pytest.approx(mean, rel=RTOL)
    assert 0 < cp.mean < 1  # the case exercises both hits and misses


# --- alert-rate metrics ---------------------------------------------------------------------


def test_threshold_at_alert_rate_hand_computed() -> None:
    score = [0.1, 0.9, 0.3, 0.7]
    assert threshold_at_alert_rate(score, 0.5) == 0.7
    assert threshold_at_alert_rate(score, 1.0) == 0.1
    # 0.01 * 4 floors to 0 events; at least one is flagged.
    assert threshold_at_alert_rate(score, 0.01) == 0.9
    assert flags_at_alert_rate(score, 0.5).tolist() == [False, True, False, True]


def test_threshold_reads_the_rate_as_written() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point; the budget is 29 alerts.
    score = np.arange(100.0)
    assert flags_at_alert_rate(score, 0.29).sum() == 29
    assert flags_at_alert_rate(score, 0.005).sum() == 1


def test_ties_at_the_threshold_are_all_flagged() -> None:
    flags = flags_at_alert_rate([0.2, 0.5, 0.5, 0.5, 0.1], 0.2)
    assert flags.tolist() == [False, True, True, True, False]
    assert alert_rate(flags) == 0.6


def test_alert_rate_and_recall_hand_computed() -> None:
    assert alert_rate([True, False, False, False]) == 0.25
    assert alert_rate(np.array([1, 0])) == 0.5
    # Half the events flagged: 0.9 and 0.7; frauds are 0.9 (caught) and 0.3 (missed).
    assert recall_at_alert_rate([0, 1, 1, 0], [0.1, 0.9, 0.3, 0.7], 0.5) == 0.5


def test_recall_by_group_hand_computed() -> None:
    y = [1, 1, 1, 0, 1, 1]
    flags = [True, False, True, True, False, True]
    group = ["a", "b", "a", "a", None, float("nan")]
    assert recall_by_group(y, flags, group) == {"a": (2, 1.0), "b": (1, 0.0), "unknown": (2, 0.5)}


def test_recall_by_group_reads_pandas_and_arrow_categories() -> None:
    y = [1, 0, 1]
    flags = [False, True, True]
    categories = pd.Series(["x", None, "y"], dtype="category")
    expected = {"x": (1, 0.0), "y": (1, 1.0)}
    assert recall_by_group(y, flags, categories) == expected
    assert recall_by_group(y, flags, pa.array(["x", None, "y"]).dictionary_encode()) == expected


def test_fraud_amount_caught_hand_computed() -> None:
    assert fraud_amount_caught([1, 1, 0], [True, False, True], [30.0, 10.0, 500.0]) == 0.75
    money = pa.array([Decimal("30.00"), Decimal("10.00"), Decimal("1.50")], pa.decimal128(18, 2))
    assert fraud_amount_caught([1, 1, 0], [False, True, True], money) == 0.25


def test_latency_percentiles_are_nearest_rank() -> None:
    summary = latency_percentiles(np.arange(1, 101) / 1000)  # 1 ms .. 100 ms
    assert (summary.p50, summary.p90, summary.p99, summary.max) == (0.05, 0.09, 0.099, 0.1)
    assert summary.count == 100
    assert latency_percentiles([0.002]).to_dict() == {
        "p50_s": 0.002,
        "p90_s": 0.002,
        "p99_s": 0.002,
        "max_s": 0.002,
        "count": 1,
    }


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, True, float("nan")])
def test_rate_outside_the_unit_interval_is_refused(rate: float) -> None:
    with pytest.raises(ParameterError, match=r"rate must be in \(0, 1\]"):
        threshold_at_alert_rate([0.1, 0.2], rate)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_k_must_be_a_positive_integer(k: object) -> None:
    with pytest.raises(ParameterError, match=r"k must be a positive integer \(got"):
        card_precision_at_k([0], [1], [1], [0.5], k=k)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: auc_roc([0, 1, 1], [0.1, 0.2]), "score"),
        (lambda: card_precision_at_k([0, 0], [1], [0, 1], [0.1, 0.2]), "card"),
        (lambda: card_precision_at_k([0], [1, 2], [0, 1], [0.1, 0.2]), "day"),
        (lambda: fraud_amount_caught([1, 0], [True, False], [1.0]), "amount"),
        (lambda: recall_by_group([1, 0], [True], ["a", "b"]), "flags"),
    ],
)
def test_mismatched_lengths_name_the_array(call, name: str) -> None:
    with pytest.raises(ParameterError, match=rf"^{name} must hold one value per event.*got \d"):
        call()


def test_bad_values_are_refused_with_the_value() -> None:
    with pytest.raises(DataError, match=r"y_true must hold 0/1 or boolean labels \(got 2\)"):
        auc_roc([0, 2], [0.1, 0.2])
    with pytest.raises(DataError, match=r"y_true must hold 0/1 .*dtype <U1"):
        auc_roc(["a", "b"], [0.1, 0.2])
    with pytest.raises(DataError, match=r"score must be finite \(got nan at position 1\)"):
        average_precision([0, 1], [0.1, float("nan")])
    with pytest.raises(DataError, match=r"day must hold whole numbers"):
        card_precision_at_k([0.5], [1], [1], [0.5])
    with pytest.raises(ParameterError, match=r"score must be one-dimensional \(got shape"):
        auc_roc([0, 1], [[0.1, 0.2]])


def test_undefined_metrics_are_refused() -> None:
    with pytest.raises(DataError, match="both classes to compute auc_roc \\(got only frauds\\)"):
        auc_roc([1, 1], [0.1, 0.2])
    with pytest.raises(DataError, match="at least one fraud to compute average_precision"):
        average_precision([0, 0], [0.1, 0.2])
    with pytest.raises(DataError, match="at least one fraud to compute a recall"):
        recall_at_alert_rate([0, 0], [0.1, 0.2], 0.5)
    with pytest.raises(DataError, match=r"frauds' amounts must sum to a positive amount"):
        fraud_amount_caught([0, 0], [True, False], [1.0, 2.0])
    with pytest.raises(DataError, match="seconds must be non-negative"):
        latency_percentiles([0.1, -0.2])
    with pytest.raises(DataError, match="at least one event"):
        threshold_at_alert_rate([], 0.5)
