"""Time-based evaluation protocols: which events train a model and which test it.

The Fraud Detection Handbook's protocol (chapter 3 "Baseline fraud detection system" and
chapter 5 "Validation strategies", ``get_train_test_set`` and ``prequentialSplit``), over
event timestamps, as pure functions returning index arrays. Days are whole days counted from
an ``origin`` (a midnight), as the book's ``TX_TIME_DAYS`` counts them from 2018-04-01.

For a training start day ``S`` and lengths ``T`` (train), ``D`` (delay), ``E`` (test)::

    days  S ........ S+T-1 | S+T ..... S+T+D-1 | S+T+D ...... S+T+D+E-1
          training period  | delay period      | test period
                           (neither trained on nor tested)

**Training labels.** The model is trained at the start of the test period, day ``S+T+D``,
and may use only labels known then. With ``label_available_at`` given, a training event
whose label became available after the start of day ``S+T+D`` is left out of ``train`` and
listed in ``train_unlabelled`` (what the caller does with it, such as counting it genuine, is
its choice); :func:`check_no_label_leakage` verifies a training set against this rule. The
book has no label times and simply trusts the delay period: without ``label_available_at``
every training event keeps its label. In the ``handbook`` preset every label arrives 7 days
after its event, so with ``D = 7`` the two agree.

**Known compromised cards.** The book drops from each test day the events of cards already
known to be compromised, which an institution would have blocked. Its rule
(:attr:`KnownCompromised.DELAY`): an event on test day ``t`` is dropped when its card had a
fraud on some day in ``[S, t - D - 1]``, that is a fraud from the training period, or from the
delay period seen ``D`` whole days before ``t``. :attr:`KnownCompromised.LABELS` uses the
labels' own times instead: dropped when its card had a fraud at or after the training start
whose ``label_available_at`` is at or before the start of day ``t``; with a uniform
``D``-day label delay this is the book's rule (it differs only for a fraud stamped exactly at
midnight). :attr:`KnownCompromised.KEEP` drops nothing.

**The book's figures.** Its simulated data start on 2018-04-01 (day 0), as the ``handbook``
preset's worlds do by default. The baseline of chapter 3 trains from day 115 (2018-07-25).
The model-selection chapters report validation as the mean over 4 prequential folds from
day :data:`HANDBOOK_VALIDATION_START_DAY` and test performance (the published best AUC 0.879,
AP 0.694, CP@100 0.305) as the mean over 4 prequential folds from day
:data:`HANDBOOK_TEST_START_DAY`.

One deviation: the book places the test days after the first day holding a training event
(``train_df.TX_TIME_DAYS.min()``); here they follow ``start_day`` itself. The two agree
whenever the first training day holds an event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike

from fintwin._validation import to_enum
from fintwin.exceptions import DataError, ParameterError
from fintwin.risk._arrays import (
    MS_PER_DAY,
    as_1d,
    as_labels,
    as_ms,
    check_days,
    same_length,
    scalar_ms,
)

__all__ = [
    "HANDBOOK_ORIGIN",
    "HANDBOOK_TEST_START_DAY",
    "HANDBOOK_VALIDATION_START_DAY",
    "MS_PER_DAY",
    "KnownCompromised",
    "TimeSplit",
    "check_no_label_leakage",
    "day_index",
    "handbook_split",
    "prequential_splits",
]

HANDBOOK_ORIGIN = dt.date(2018, 4, 1)
"""Day 0 of the book's simulated data and of the ``handbook`` preset's default world."""
HANDBOOK_VALIDATION_START_DAY = 101
"""2018-07-11: the book's ``start_date_training_for_valid`` (day 115 - delay - validation)."""
HANDBOOK_TEST_START_DAY = 136
"""2018-08-15: the book's ``start_date_training_for_test`` (day 115 + 3 test lengths)."""


class KnownCompromised(StrEnum):
    """How test events of cards already known to be compromised are dropped."""

    DELAY = "delay"
    """The book's rule: frauds on days ``[S, t - D - 1]`` are known on test day ``t``."""
    LABELS = "label_available_at"
    """Frauds since the training start whose label is available by the start of day ``t``."""
    KEEP = "keep"
    """Drop nothing."""


@dataclass(frozen=True, eq=False)
class TimeSplit:
    """One train/test split: event indices (ascending, int64) and the periods' day bounds.

    Attributes
    ----------
    train : ndarray of shape (n_train,)
        Training-period events whose label is known at the start of the test period.
    test : ndarray of shape (n_test,)
        Test-period events, without those of cards known to be compromised.
    train_unlabelled : ndarray of shape (n_unlabelled,)
        Training-period events whose label was not yet available at the test start.
    test_removed : ndarray of shape (n_removed,)
        Test-period events dropped because their card was known to be compromised.
    origin_ms : int
        Midnight of day 0, in milliseconds since 1970-01-01.
    train_start_day, train_end_day, test_start_day, test_end_day : int
        Starts and (exclusive) ends of the training and test periods, as day indices; the
        delay period is ``[train_end_day, test_start_day)``.
    """

    train: np.ndarray
    test: np.ndarray
    train_unlabelled: np.ndarray
    test_removed: np.ndarray
    origin_ms: int
    train_start_day: int
    train_end_day: int
    test_start_day: int
    test_end_day: int

    @property
    def test_start_ms(self) -> int:
        """Start of the test period (the training labels' cut-off), ms since 1970-01-01."""
        return self.origin_ms + self.test_start_day * MS_PER_DAY


def _origin_ms(ts: np.ndarray, origin: object) -> int:
    if origin is not None:
        return scalar_ms("origin", origin)
    if ts.size == 0:
        raise DataError("timestamp holds no event, so no origin can be inferred; give origin")
    return int(ts.min() // MS_PER_DAY * MS_PER_DAY)


def day_index(timestamp: ArrayLike, origin: object = None) -> np.ndarray:
    """Whole days since ``origin``: ``floor((timestamp - origin) / 1 day)``.

    Parameters
    ----------
    timestamp : array-like of shape (n_events,)
        datetime64 values, Arrow timestamps, or integer milliseconds since 1970-01-01.
    origin : date, datetime, datetime64, str or int, optional
        Day 0 (normally a midnight). By default the midnight before the earliest timestamp,
        as the book's ``TX_TIME_DAYS``.

    Returns
    -------
    ndarray of int64, shape (n_events,)

    Examples
    --------
    >>> ts = np.array(["2018-04-01T23:59", "2018-04-02T00:00"], dtype="datetime64[ms]")
    >>> day_index(ts).tolist()
    [0, 1]
    """
    ts = as_ms("timestamp", timestamp)
    return (ts - _origin_ms(ts, origin)) // MS_PER_DAY


# --- the splits -----------------------------------------------------------------------------


def _split(
    ts: np.ndarray,
    entity: np.ndarray,
    fraud: np.ndarray,
    available: np.ndarray | None,
    origin: int,
    start_day: int,
    train_days: int,
    delay_days: int,
    test_days: int,
    rule: KnownCompromised,
) -> TimeSplit:
    day = (ts - origin) // MS_PER_DAY
    test_start = start_day + train_days + delay_days
    test_end = test_start + test_days
    in_train = (day >= start_day) & (day < start_day + train_days)
    in_test = (day >= test_start) & (day < test_end)
    for period, mask, lo, hi in (
        ("training", in_train, start_day, start_day + train_days),
        ("test", in_test, test_start, test_end),
    ):
        if not mask.any():
            raise DataError(f"the {period} period (days {lo} to {hi - 1}) holds no event")

    labelled = in_train.copy()
    if available is not None:
        labelled &= available <= origin + test_start * MS_PER_DAY

    # The first day on which each card counts as known compromised; a test event on that day
    # or later is dropped.
    _, code = np.unique(entity, return_inverse=True)
    known_from = np.full(code.max(initial=-1) + 1, np.iinfo(np.int64).max)
    since_start = fraud & (day >= start_day)
    if rule is KnownCompromised.DELAY:
        np.minimum.at(known_from, code[since_start], day[since_start] + delay_days + 1)
    elif rule is KnownCompromised.LABELS:
        # Known on the first day whose midnight is at or after the label time.
        known_day = -((origin - available[since_start]) // MS_PER_DAY)
        np.minimum.at(known_from, code[since_start], known_day)
    removed = in_test & (day >= known_from[code])
    return TimeSplit(
        train=np.flatnonzero(labelled),
        test=np.flatnonzero(in_test & ~removed),
        train_unlabelled=np.flatnonzero(in_train & ~labelled),
        test_removed=np.flatnonzero(removed),
        origin_ms=origin,
        train_start_day=start_day,
        train_end_day=start_day + train_days,
        test_start_day=test_start,
        test_end_day=test_end,
    )


def _prepare(
    timestamp: ArrayLike,
    entity: ArrayLike,
    is_fraud: ArrayLike,
    label_available_at: ArrayLike | None,
    origin: object,
    rule: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int, KnownCompromised]:
    ts = as_ms("timestamp", timestamp)
    ent = as_1d("entity", entity)
    fraud = as_labels("is_fraud", is_fraud)
    same_length("timestamp", ts.size, entity=ent, is_fraud=fraud)
    available = None
    if label_available_at is not None:
        available = as_ms("label_available_at", label_available_at)
        same_length("timestamp", ts.size, label_available_at=available)
    known = to_enum(KnownCompromised, "known_compromised", rule)
    if known is KnownCompromised.LABELS and available is None:
        raise ParameterError(
            "known_compromised='label_available_at' needs label_available_at (got None)"
        )
    return ts, ent, fraud, available, _origin_ms(ts, origin), known


def handbook_split(
    timestamp: ArrayLike,
    entity: ArrayLike,
    is_fraud: ArrayLike,
    label_available_at: ArrayLike | None = None,
    *,
    start_day: int,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
    origin: object = None,
    known_compromised: KnownCompromised | str = KnownCompromised.DELAY,
) -> TimeSplit:
    """The handbook's train / delay / test split (``get_train_test_set``).

    See the module docstring for the periods, the training-label rule and the removal of
    known compromised cards.

    Parameters
    ----------
    timestamp : array-like of shape (n_events,)
        Event times: datetime64, Arrow timestamps or integer ms since 1970-01-01.
    entity : array-like of shape (n_events,)
        The card of each event (the customer where there is no card, as in the book).
    is_fraud : array-like of shape (n_events,)
        1 (or True) for fraud.
    label_available_at : array-like of shape (n_events,), optional
        When each label became known, in the same units as ``timestamp``.
    start_day : int
        First training day (day index from ``origin``), non-negative.
    train_days : int, default 7
        Length of the training period (the book's ``delta_train``), positive.
    delay_days : int, default 7
        Length of the delay period (``delta_delay``), non-negative.
    test_days : int, default 7
        Length of the test period (``delta_test``), positive.
    origin : date, datetime, datetime64, str or int, optional
        Day 0; by default the midnight before the earliest event.
    known_compromised : KnownCompromised or str, default "delay"
        Rule for dropping test events of cards known to be compromised.

    Returns
    -------
    TimeSplit

    Examples
    --------
    Card 1 is frauded in training, so its test event (index 3) is dropped.

    >>> day = np.array([0, 0, 2, 3, 3])
    >>> s = handbook_split(day * MS_PER_DAY, [1, 2, 2, 1, 2], [1, 0, 0, 0, 1], origin=0,
    ...                    start_day=0, train_days=1, delay_days=2, test_days=1)
    >>> s.train.tolist(), s.test.tolist(), s.test_removed.tolist()
    ([0, 1], [4], [3])
    """
    check_days("start_day", start_day, 0)
    check_days("train_days", train_days, 1)
    check_days("delay_days", delay_days, 0)
    check_days("test_days", test_days, 1)
    ts, ent, fraud, available, origin_ms, rule = _prepare(
        timestamp, entity, is_fraud, label_available_at, origin, known_compromised
    )
    return _split(
        ts,
        ent,
        fraud,
        available,
        origin_ms,
        int(start_day),
        int(train_days),
        int(delay_days),
        int(test_days),
        rule,
    )


def prequential_splits(
    timestamp: ArrayLike,
    entity: ArrayLike,
    is_fraud: ArrayLike,
    label_available_at: ArrayLike | None = None,
    *,
    start_day: int,
    n_folds: int = 4,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
    origin: object = None,
    known_compromised: KnownCompromised | str = KnownCompromised.DELAY,
) -> list[TimeSplit]:
    """The handbook's prequential folds (``prequentialSplit``).

    Fold ``f`` (``f = 0 .. n_folds - 1``) is :func:`handbook_split` from training start day
    ``start_day - f * test_days``: fold 0 is the latest and each earlier fold is shifted back
    by one test length. The book reports the mean of a metric over the folds.

    Parameters
    ----------
    timestamp, entity, is_fraud, label_available_at
        As for :func:`handbook_split`, shape (n_events,).
    start_day : int
        Training start of fold 0.
    n_folds : int, default 4
        Number of folds, positive; the earliest fold must not start before day 0.
    train_days, delay_days, test_days, origin, known_compromised
        As for :func:`handbook_split` (``test_days`` is the book's ``delta_assessment``).

    Returns
    -------
    list of TimeSplit
        ``n_folds`` splits, fold 0 first.

    Examples
    --------
    >>> day = np.arange(6)
    >>> folds = prequential_splits(day * MS_PER_DAY, day, np.zeros(6), origin=0, start_day=2,
    ...                            n_folds=2, train_days=2, delay_days=1, test_days=1)
    >>> [(f.train.tolist(), f.test.tolist()) for f in folds]
    [([2, 3], [5]), ([1, 2], [4])]
    """
    check_days("n_folds", n_folds, 1)
    check_days("start_day", start_day, 0)
    check_days("train_days", train_days, 1)
    check_days("delay_days", delay_days, 0)
    check_days("test_days", test_days, 1)
    earliest = int(start_day) - (int(n_folds) - 1) * int(test_days)
    if earliest < 0:
        raise ParameterError(
            f"n_folds={n_folds} with test_days={test_days} moves the earliest fold's training "
            f"start to day {earliest}, before day 0 (start_day={start_day}); "
            f"n_folds must be at most {int(start_day) // int(test_days) + 1}"
        )
    ts, ent, fraud, available, origin_ms, rule = _prepare(
        timestamp, entity, is_fraud, label_available_at, origin, known_compromised
    )
    return [
        _split(
            ts,
            ent,
            fraud,
            available,
            origin_ms,
            int(start_day) - f * int(test_days),
            int(train_days),
            int(delay_days),
            int(test_days),
            rule,
        )
        for f in range(int(n_folds))
    ]


def check_no_label_leakage(
    label_available_at: ArrayLike, train: ArrayLike, test_start: object
) -> None:
    """Refuse a training set that uses a label not yet known at the test start.

    Parameters
    ----------
    label_available_at : array-like of shape (n_events,)
        When each event's label became known (datetime64, Arrow timestamps or integer ms).
    train : array-like
        The training events: int indices into ``label_available_at``, or a boolean mask of
        shape (n_events,).
    test_start : date, datetime, datetime64, str or int
        Start of the test period (for a split, ``TimeSplit.test_start_ms``).

    Raises
    ------
    DataError
        When a training event's ``label_available_at`` is after ``test_start``; the message
        gives how many, and the first one's index and label time.

    Examples
    --------
    >>> check_no_label_leakage([5, 20], [0, 1], 10)
    Traceback (most recent call last):
    ...
    fintwin.exceptions.DataError: 1 training label(s) became available after the test start ...
    """
    available = as_ms("label_available_at", label_available_at)
    start = scalar_ms("test_start", test_start)
    idx = as_1d("train", train)
    if idx.dtype == bool:
        same_length("label_available_at", available.size, train=idx)
        idx = np.flatnonzero(idx)
    elif idx.dtype.kind in "iu" or idx.size == 0:
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= available.size):
            raise ParameterError(
                f"train must index label_available_at's {available.size} events "
                f"(got index {int(idx.min() if idx.min() < 0 else idx.max())})"
            )
    else:
        raise ParameterError(f"train must be integer indices or a boolean mask (got {idx.dtype})")
    late = idx[available[idx] > start]
    if late.size:
        first = int(late[0])
        raise DataError(
            f"{late.size} training label(s) became available after the test start "
            f"{_iso(start)}: a training label must be available by then (first: event {first}, "
            f"label available at {_iso(int(available[first]))})"
        )


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms"))
