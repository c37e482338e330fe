"""Time-based protocols: exact index sets, the handbook's own split code, label leakage."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fintwin.exceptions import DataError, ParameterError
from fintwin.risk import (
    KnownCompromised,
    TimeSplit,
    check_no_label_leakage,
    day_index,
    handbook_split,
    prequential_splits,
)
from fintwin.risk.protocols import HANDBOOK_ORIGIN, HANDBOOK_TEST_START_DAY, MS_PER_DAY

HOUR = 3_600_000


def test_day_index_counts_whole_days_from_the_origin() -> None:
    ts = np.array(["2018-04-01T00:00", "2018-04-01T23:59:59.999", "2018-04-03T12:00"], "M8[ms]")
    assert day_index(ts).tolist() == [0, 0, 2]
    assert day_index(ts, origin=dt.date(2018, 3, 31)).tolist() == [1, 1, 3]
    assert day_index(ts, origin="2018-04-02").tolist() == [-1, -1, 1]
    assert day_index(pa.array(ts), origin=HANDBOOK_ORIGIN).tolist() == [0, 0, 2]
    assert day_index(ts.astype(np.int64) + 0).tolist() == [0, 0, 2]  # integer milliseconds


# A small world, S=1, T=2, D=2, E=3: training days 1-2, delay 3-4, test 5-7. The book's rule
# drops a test event on day t when its card had a fraud on a day in [1, t - 3].
#            index:  0    1    2    3    4    5    6    7    8    9   10   11   12   13   14
SMALL_DAY = [0, 0, 1, 2, 3, 4, 5, 5, 6, 6, 7, 7, 8, 6, 7]
SMALL_CARD = ["A", "F", "A", "B", "C", "D", "B", "C", "C", "D", "D", "F", "A", "E", "E"]
SMALL_FRAUD = [0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]


def _small_ts() -> np.ndarray:
    return np.array(SMALL_DAY) * MS_PER_DAY + 10 * HOUR


def _small_split(available: np.ndarray | None = None, **kwargs: object) -> TimeSplit:
    periods = {"start_day": 1, "train_days": 2, "delay_days": 2, "test_days": 3} | kwargs
    return handbook_split(_small_ts(), SMALL_CARD, SMALL_FRAUD, available, origin=0, **periods)


def test_handbook_split_exact_index_sets() -> None:
    s = _small_split()
    assert s.train.tolist() == [2, 3]
    # B is known from day 5 (fraud day 2), C from day 6 (day 3), D from day 7 (day 4); F's
    # fraud precedes the training start and E's comes too late to count.
    assert s.test_removed.tolist() == [6, 8, 10]
    assert s.test.tolist() == [7, 9, 11, 13, 14]
    assert s.train_unlabelled.tolist() == []
    assert (s.train_start_day, s.train_end_day, s.test_start_day, s.test_end_day) == (1, 3, 5, 8)
    assert s.test_start_ms == 5 * MS_PER_DAY
    assert s.train.dtype == np.int64


def test_keep_rule_drops_nothing() -> None:
    s = _small_split(known_compromised="keep")
    assert s.test.tolist() == [6, 7, 8, 9, 10, 11, 13, 14]
    assert s.test_removed.size == 0


def test_training_labels_must_be_available_at_the_test_start() -> None:
    ts = _small_ts()
    available = ts + 7 * MS_PER_DAY
    # Event 2 (day 1, 10:00) is labelled exactly at the test start: kept. Event 3's label
    # arrives one millisecond after it: left out of training.
    test_start = 5 * MS_PER_DAY
    available[2] = test_start
    available[3] = test_start + 1
    s = _small_split(available)
    assert s.train.tolist() == [2]
    assert s.train_unlabelled.tolist() == [3]
    check_no_label_leakage(available, s.train, s.test_start_ms)
    # The book's removal rule is about fraud days, not label times: B is still dropped.
    assert s.test_removed.tolist() == [6, 8, 10]


def test_label_rule_uses_label_times() -> None:
    ts = _small_ts()
    available = ts + 2 * MS_PER_DAY  # known two days later, at 10:00
    # B's fraud (day 2, 10:00) is known from day 4 10:00, so from the start of day 5;
    # C's (day 3) from day 6; D's (day 4) from day 7; E's (day 6) from day 9.
    s = _small_split(available, known_compromised=KnownCompromised.LABELS)
    assert s.test_removed.tolist() == [6, 8, 10]
    # A slower label for C (known during day 6, not at its start) keeps event 8.
    available[4] = 6 * MS_PER_DAY + 1
    s = _small_split(available, known_compromised="label_available_at")
    assert s.test_removed.tolist() == [6, 10]


def _book_get_train_test_set(
    df: pd.DataFrame, start: dt.datetime, d_train: int, d_delay: int, d_test: int
) -> tuple[list[int], list[int]]:
    """The handbook's get_train_test_set (sampling_ratio=1), on its column names."""
    end = start + dt.timedelta(days=d_train)
    train_df = df[(df["TX_DATETIME"] >= start) & (df["TX_DATETIME"] < end)]
    known = set(train_df[train_df.TX_FRAUD == 1].CUSTOMER_ID)
    start_days = train_df.TX_TIME_DAYS.min()
    test_parts = []
    for day in range(d_test):
        test_day = df[df["TX_TIME_DAYS"] == start_days + d_train + d_delay + day]
        delay_day = df[df["TX_TIME_DAYS"] == start_days + d_train + day - 1]
        known = known.union(set(delay_day[delay_day.TX_FRAUD == 1].CUSTOMER_ID))
        test_parts.append(test_day[~test_day.CUSTOMER_ID.isin(known)])
    test_df = pd.concat(test_parts)
    return (
        list(train_df.sort_values("TRANSACTION_ID").index),
        list(test_df.sort_values("TRANSACTION_ID").index),
    )


def _random_events(seed: int, n: int = 6000, days: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ms = np.sort(rng.integers(0, days * MS_PER_DAY, n))
    origin = np.datetime64("2018-04-01", "ms")
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(n),
            "TX_DATETIME": origin + ms.astype("m8[ms]"),
            "TX_TIME_DAYS": ms // MS_PER_DAY,
            "CUSTOMER_ID": rng.integers(0, 150, n),
            "TX_FRAUD": (rng.random(n) < 0.03).astype(int),
        }
    )


@pytest.mark.parametrize(
    ("seed", "start_day", "d_train", "d_delay", "d_test"),
    [(0, 10, 7, 7, 7), (1, 3, 5, 2, 9), (2, 20, 1, 0, 4), (3, 0, 14, 7, 7)],
)
def test_handbook_split_equals_the_book_code(
    seed: int, start_day: int, d_train: int, d_delay: int, d_test: int
) -> None:
    df = _random_events(seed)
    start = dt.datetime(2018, 4, 1) + dt.timedelta(days=start_day)
    train, test = _book_get_train_test_set(df, start, d_train, d_delay, d_test)
    s = handbook_split(
        df.TX_DATETIME,
        df.CUSTOMER_ID,
        df.TX_FRAUD,
        start_day=start_day,
        origin=HANDBOOK_ORIGIN,
        train_days=d_train,
        delay_days=d_delay,
        test_days=d_test,
    )
    assert s.train.tolist() == train
    assert s.test.tolist() == test
    assert s.test_removed.size > 0  # the removal is exercised


def test_label_rule_matches_the_book_under_a_uniform_delay() -> None:
    df = _random_events(4)
    ts = df.TX_DATETIME.to_numpy()
    kwargs = dict(start_day=12, origin=HANDBOOK_ORIGIN)
    book = handbook_split(ts, df.CUSTOMER_ID, df.TX_FRAUD, **kwargs)
    labels = handbook_split(
        ts,
        df.CUSTOMER_ID,
        df.TX_FRAUD,
        ts + np.timedelta64(7, "D"),
        known_compromised="label_available_at",
        **kwargs,
    )
    assert labels.test.tolist() == book.test.tolist()
    assert labels.train.tolist() == book.train.tolist()


def test_future_labels_do_not_change_the_split() -> None:
    # Permuting the labels of events whose label is only known after the test period ends
    # must leave train, test and removals unchanged under the label rule.
    rng = np.random.default_rng(5)
    df = _random_events(5)
    ts = df.TX_DATETIME.to_numpy()
    available = ts + rng.integers(1, 30 * MS_PER_DAY, len(df)).astype("m8[ms]")
    kwargs = dict(start_day=8, origin=HANDBOOK_ORIGIN, known_compromised="label_available_at")
    base = handbook_split(ts, df.CUSTOMER_ID, df.TX_FRAUD, available, **kwargs)
    test_end = np.datetime64(HANDBOOK_ORIGIN, "ms") + np.timedelta64(base.test_end_day, "D")
    future = np.flatnonzero(available > test_end)
    fraud = df.TX_FRAUD.to_numpy().copy()
    fraud[future] = rng.permutation(fraud[future])
    fraud[future[:50]] = 1 - fraud[future[:50]]
    moved = handbook_split(ts, df.CUSTOMER_ID, fraud, available, **kwargs)
    for name in ("train", "test", "train_unlabelled", "test_removed"):
        assert getattr(moved, name).tolist() == getattr(base, name).tolist(), name
    assert base.train_unlabelled.size > 0 and base.test_removed.size > 0
    check_no_label_leakage(available, base.train, base.test_start_ms)


def test_prequential_folds_shift_back_by_the_test_length() -> None:
    df = _random_events(6)
    args = (df.TX_DATETIME, df.CUSTOMER_ID, df.TX_FRAUD)
    folds = prequential_splits(*args, start_day=20, n_folds=3, origin=HANDBOOK_ORIGIN)
    assert [f.train_start_day for f in folds] == [20, 13, 6]
    assert [(f.test_start_day, f.test_end_day) for f in folds] == [(34, 41), (27, 34), (20, 27)]
    for f in folds:
        one = handbook_split(*args, start_day=f.train_start_day, origin=HANDBOOK_ORIGIN)
        assert f.train.tolist() == one.train.tolist()
        assert f.test.tolist() == one.test.tolist()


def test_handbook_constants_are_the_books_dates() -> None:
    assert HANDBOOK_ORIGIN + dt.timedelta(days=HANDBOOK_TEST_START_DAY) == dt.date(2018, 8, 15)


def test_check_no_label_leakage_names_the_offenders() -> None:
    available = np.array([5, 20, 30, 8])
    check_no_label_leakage(available, [0, 3], 10)
    check_no_label_leakage(available, np.array([], dtype=np.int64), 10)
    with pytest.raises(DataError, match=r"^2 training label\(s\) became available after"):
        check_no_label_leakage(available, [0, 1, 2], 10)
    with pytest.raises(DataError, match=r"first: event 1, label available at 1970-01-01T00:00"):
        check_no_label_leakage(available, np.array([True, True, False, False]), 10)
    with pytest.raises(ParameterError, match=r"train must index .* 4 events \(got index 9\)"):
        check_no_label_leakage(available, [0, 9], 10)
    with pytest.raises(ParameterError, match=r"train must hold one value per event"):
        check_no_label_leakage(available, np.array([True, False]), 10)


@pytest.mark.parametrize(
    ("param", "value", "rule"),
    [
        ("train_days", 0, "a positive integer"),
        ("train_days", -7, "a positive integer"),
        ("delay_days", -1, "a non-negative integer"),
        ("test_days", 0, "a positive integer"),
        ("start_day", -3, "a non-negative integer"),
        ("test_days", 7.0, "a positive integer"),
    ],
)
def test_bad_periods_name_the_parameter(param: str, value: object, rule: str) -> None:
    kwargs: dict[str, object] = {"start_day": 1, param: value}
    with pytest.raises(ParameterError, match=rf"^{param} must be {rule} \(got {value!r}\)"):
        handbook_split(_small_ts(), SMALL_CARD, SMALL_FRAUD, origin=0, **kwargs)  # type: ignore[arg-type]


def test_prequential_refuses_folds_before_day_zero() -> None:
    with pytest.raises(ParameterError, match=r"n_folds=4 .* day -7, before day 0 .* at most 3"):
        prequential_splits(_small_ts(), SMALL_CARD, SMALL_FRAUD, start_day=14, n_folds=4)
    with pytest.raises(ParameterError, match=r"n_folds must be a positive integer \(got 0\)"):
        prequential_splits(_small_ts(), SMALL_CARD, SMALL_FRAUD, start_day=14, n_folds=0)


def test_bad_inputs_are_refused() -> None:
    ts = _small_ts()
    with pytest.raises(ParameterError, match=r"^entity must hold one value per event"):
        handbook_split(ts, SMALL_CARD[:-1], SMALL_FRAUD, start_day=1)
    with pytest.raises(ParameterError, match=r"^label_available_at must hold one value"):
        handbook_split(ts, SMALL_CARD, SMALL_FRAUD, ts[:3], start_day=1)
    with pytest.raises(ParameterError, match=r"needs label_available_at \(got None\)"):
        handbook_split(
            ts, SMALL_CARD, SMALL_FRAUD, start_day=1, known_compromised=KnownCompromised.LABELS
        )
    with pytest.raises(ParameterError, match=r"known_compromised must be one of 'delay'"):
        handbook_split(ts, SMALL_CARD, SMALL_FRAUD, start_day=1, known_compromised="book")
    with pytest.raises(DataError, match=r"the test period \(days 13 to 19\) holds no event"):
        handbook_split(ts, SMALL_CARD, SMALL_FRAUD, origin=0, start_day=4, train_days=2)
    with pytest.raises(DataError, match=r"timestamp must hold timestamps or integer milli"):
        handbook_split(ts.astype(float), SMALL_CARD, SMALL_FRAUD, start_day=1)
    with pytest.raises(ParameterError, match=r"origin must be a timestamp .* \(got 'soon'\)"):
        day_index(ts, origin="soon")
