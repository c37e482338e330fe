"""A world's labelled history and the protocols that split it into training and test periods.

:func:`load_events` reads a world's card payments in the order the feature engines process
them (``timestamp``, then id), with what training and evaluation need: labels, label times,
the card (or customer) key, amounts and the fraud scenario. :func:`resolve_protocol` turns a
:class:`Protocol` into day counts for that world, and :func:`protocol_splits` into
:class:`~fintwin.risk.protocols.TimeSplit` objects whose indices are rows of the events.

Protocols
---------
On worlds of the Fraud Detection Handbook (the ``handbook`` preset, or data imported with
``--format handbook``) the book's own protocol applies: 7 training days, a 7-day delay period,
7 test days, training from day :data:`~fintwin.risk.protocols.HANDBOOK_TEST_START_DAY` (136)
counted from the world's first day, test events of cards with a fraud already known dropped
by the book's rule (:attr:`~fintwin.risk.protocols.KnownCompromised.DELAY`).

- :attr:`Protocol.HANDBOOK`: that one split (fold 0 of the book's test protocol, days 136-156).
- :attr:`Protocol.PREQUENTIAL`: the book's 4 prequential folds from day 136 (training starts
  136, 129, 122, 115); the book reports the mean of each metric over them.

Other worlds (``retail-bank``, imports of other formats) have no published protocol, so the
day counts come from the period the events cover (``n`` whole days from the midnight before
the first event) and the label delay ``D`` (the median time from a genuine event to its
label, rounded up to whole days: 7 for every preset and for imports by default). Test events
of cards whose fraud label was available by the start of the test day are dropped
(:attr:`~fintwin.risk.protocols.KnownCompromised.LABELS`).

- :attr:`Protocol.HANDBOOK` and :attr:`Protocol.FRACTIONS`: train on the first 60 % of the
  days, then the delay period, then test on the rest (``floor(0.6 n)``, ``D``, the remainder).
- :attr:`Protocol.PREQUENTIAL`: 4 folds with training and test periods of equal length
  ``E = floor((n - D) / 5)``; fold 0's test period ends with the last day and each earlier
  fold is shifted back by ``E`` days, as the book's folds are.

:attr:`Protocol.FRACTIONS` applies the fraction split to a handbook world too (a short one,
for instance, which the book's days do not fit). In every protocol a training event whose label
became available after the test start is left out of training (not counted genuine).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fintwin._validation import to_enum
from fintwin.data import World
from fintwin.exceptions import DataError, ParameterError
from fintwin.features import FeatureSet, compute_world
from fintwin.features._columns import id_column
from fintwin.risk._arrays import MS_PER_DAY
from fintwin.risk.evaluation import FraudEvaluation, evaluate_scores
from fintwin.risk.protocols import (
    HANDBOOK_TEST_START_DAY,
    KnownCompromised,
    TimeSplit,
    handbook_split,
    prequential_splits,
)

__all__ = [
    "PREQUENTIAL_FOLDS",
    "TRAIN_FRACTION",
    "LabelledEvents",
    "Protocol",
    "ProtocolPlan",
    "WorldFeatures",
    "evaluate_split",
    "is_handbook_world",
    "label_delay_days",
    "load_events",
    "protocol_splits",
    "resolve_protocol",
    "resolve_splits",
    "world_features",
    "world_fingerprint",
]

TRAIN_FRACTION = 0.6
"""Share of a non-handbook world's days that trains under the fraction split."""
PREQUENTIAL_FOLDS = 4
"""Folds of the prequential protocol (the book's ``n_folds``)."""
_BOOK_DAYS = 7  # the book's delta_train = delta_delay = delta_test


class Protocol(StrEnum):
    """How a world's history is split into training and test periods (see the module doc)."""

    HANDBOOK = "handbook"
    """The book's split on handbook worlds; the fraction split elsewhere."""
    PREQUENTIAL = "prequential"
    """The book's 4 prequential folds on handbook worlds; 4 equal-length folds elsewhere."""
    FRACTIONS = "fractions"
    """60 % of the days train, then the label delay, then the rest tests; on any world."""


@dataclass(frozen=True)
class ProtocolPlan:
    """A protocol resolved to day counts for one world.

    Attributes
    ----------
    protocol : Protocol
    book : bool
        Whether the book's fixed days were used (a handbook world).
    origin_ms : int
        Midnight of day 0, ms since 1970-01-01 (naive local time).
    start_day : int
        Training start of fold 0, in days from the origin.
    train_days, delay_days, test_days : int
        Lengths of the periods, in days.
    n_folds : int
        1, or more for prequential folds (fold f starts ``f * test_days`` earlier).
    known_compromised : KnownCompromised
        Rule dropping test events of cards already known to be compromised.
    """

    protocol: Protocol
    book: bool
    origin_ms: int
    start_day: int
    train_days: int
    delay_days: int
    test_days: int
    n_folds: int
    known_compromised: KnownCompromised

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values, the origin as an ISO date)."""
        out = asdict(self)
        out["protocol"] = self.protocol.value
        out["known_compromised"] = self.known_compromised.value
        out["origin"] = str(np.datetime64(self.origin_ms, "ms").astype("datetime64[D]"))
        return out


@dataclass(frozen=True, eq=False)
class LabelledEvents:
    """A world's events in processing order (``timestamp``, then id), with their labels.

    Row ``i`` of every array is the ``i``-th event in that order, which is also the row order
    of :func:`fintwin.features.compute_world` output; split indices refer to these rows.

    Attributes
    ----------
    table : str
        World table the events come from (``transactions``).
    id_column, card_column : str
        The id column and the column used as the card key (``card_id``, or ``customer_id``
        where there is no card, as in the book).
    ids : ndarray of int64, shape (n,)
    timestamp_ms : ndarray of int64, shape (n,)
        Naive local time, ms since 1970-01-01.
    card : ndarray, shape (n,)
    is_fraud : ndarray of bool, shape (n,)
    label_available_at_ms : ndarray of int64, shape (n,)
    amount : ndarray of float64, shape (n,)
        Currency units.
    scenario : ndarray of object, shape (n,), or None
        ``fraud_scenario`` (None on genuine rows), where the table has it.
    """

    table: str
    id_column: str
    card_column: str
    ids: np.ndarray
    timestamp_ms: np.ndarray
    card: np.ndarray
    is_fraud: np.ndarray
    label_available_at_ms: np.ndarray
    amount: np.ndarray
    scenario: np.ndarray | None

    def __len__(self) -> int:
        return int(self.ids.size)

    def day(self, origin_ms: int) -> np.ndarray:
        """Whole days since ``origin_ms``, shape (n,)."""
        return (self.timestamp_ms - origin_ms) // MS_PER_DAY


def _ms(column: pa.ChunkedArray, name: str, table: str) -> np.ndarray:
    if column.null_count:
        raise DataError("must not be null for training or evaluation", file=table, column=name)
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ms"), safe=False)
    return column.cast(pa.int64()).to_numpy().astype(np.int64, copy=False)


def load_events(world: World, table: str = "transactions") -> LabelledEvents:
    """Read a world's labelled events for training and evaluation (never its ``truth/``).

    Parameters
    ----------
    world : World
    table : str, default "transactions"
        A card-payment table: ``timestamp``, ``customer_id`` (and ``card_id`` if known),
        ``amount``, ``is_fraud`` and ``label_available_at`` are read.

    Returns
    -------
    LabelledEvents

    Raises
    ------
    DataError
        The table has no events, or lacks (or has nulls in) ``is_fraud`` or
        ``label_available_at``: a model needs labels and the time each became known.
    """
    files = world.files(table)
    names = pq.read_schema(files[0]).names if files else world.arrow(table).column_names
    id_name = id_column(names)
    # The book keys cards by customer; a table whose cards are not all known does too.
    card = "customer_id"
    if "card_id" in names and not world.arrow(table, columns=["card_id"])["card_id"].null_count:
        card = "card_id"
    for col in ("timestamp", card, "amount", "is_fraud", "label_available_at"):
        if col not in names:
            why = "labels" if col in ("is_fraud", "label_available_at") else "this column"
            raise DataError(
                f"training and evaluation need {why}; the table has {names}",
                file=table,
                column=col,
            )
    wanted = [id_name, "timestamp", card, "amount", "is_fraud", "label_available_at"]
    if "fraud_scenario" in names:
        wanted.append("fraud_scenario")
    t = world.arrow(table, columns=wanted)
    if t.num_rows == 0:
        raise DataError("holds no event to train or evaluate on", file=table)
    ids = t.column(id_name).cast(pa.int64()).to_numpy()
    ts = _ms(t.column("timestamp"), "timestamp", table)
    order = np.lexsort((ids, ts))
    if t.column("is_fraud").null_count:
        raise DataError(
            "must not be null for training or evaluation", file=table, column="is_fraud"
        )
    scenario = None
    if "fraud_scenario" in wanted:
        col = t.column("fraud_scenario")
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        scenario = col.to_numpy(zero_copy_only=False).astype(object)[order]
    return LabelledEvents(
        table=table,
        id_column=id_name,
        card_column=card,
        ids=ids[order],
        timestamp_ms=ts[order],
        card=t.column(card).to_numpy()[order],
        is_fraud=t.column("is_fraud").to_numpy().astype(bool)[order],
        label_available_at_ms=_ms(t.column("label_available_at"), "label_available_at", table)[
            order
        ],
        amount=t.column("amount").cast(pa.float64()).to_numpy()[order],
        scenario=scenario,
    )


def is_handbook_world(world: World) -> bool:
    """Whether the book's protocol applies: the ``handbook`` preset or a handbook import."""
    m = world.manifest
    return m.preset == "handbook" or (
        m.preset == "import" and m.parameters.get("format") == "handbook"
    )


def label_delay_days(events: LabelledEvents) -> int:
    """Median time from a genuine event to its label, rounded up to whole days (at least 0)."""
    genuine = ~events.is_fraud
    pick = genuine if genuine.any() else np.ones_like(genuine)
    lag = events.label_available_at_ms[pick] - events.timestamp_ms[pick]
    return max(0, math.ceil(float(np.median(lag)) / MS_PER_DAY))


def _midnight_ms(date: str) -> int:
    return int(np.datetime64(dt.date.fromisoformat(date), "ms").astype(np.int64))


def resolve_protocol(
    world: World, events: LabelledEvents, protocol: Protocol | str = Protocol.HANDBOOK
) -> ProtocolPlan:
    """The day counts of ``protocol`` on ``world`` (rules in the module docstring).

    Raises
    ------
    ParameterError
        The world's days do not hold the protocol's periods; the message names ``protocol``,
        the days needed and the days the world has.
    """
    proto = to_enum(Protocol, "protocol", protocol)
    folds = 1 if proto is not Protocol.PREQUENTIAL else PREQUENTIAL_FOLDS
    if proto is not Protocol.FRACTIONS and is_handbook_world(world):
        origin = _midnight_ms(world.manifest.start)
        last_day = int((events.timestamp_ms.max() - origin) // MS_PER_DAY)
        need = HANDBOOK_TEST_START_DAY + 3 * _BOOK_DAYS
        if last_day + 1 < need:
            raise ParameterError(
                f"protocol={proto.value!r} on a handbook world needs days 0 to {need - 1} "
                f"(the book's folds train from day {HANDBOOK_TEST_START_DAY} and test to day "
                f"{need - 1}); this world's events cover days 0 to {last_day}: simulate at "
                f"least {need} days or use protocol='fractions'"
            )
        return ProtocolPlan(
            proto,
            True,
            origin,
            HANDBOOK_TEST_START_DAY,
            _BOOK_DAYS,
            _BOOK_DAYS,
            _BOOK_DAYS,
            folds,
            KnownCompromised.DELAY,
        )
    origin = int(events.timestamp_ms.min() // MS_PER_DAY * MS_PER_DAY)
    n = int((events.timestamp_ms.max() - origin) // MS_PER_DAY) + 1
    delay = label_delay_days(events)
    if folds == 1:
        train = int(TRAIN_FRACTION * n)
        test = n - train - delay
        start = 0
    else:
        train = test = (n - delay) // (folds + 1)
        start = n - train - delay - test
    if train < 2 or test < 1:
        raise ParameterError(
            f"protocol={proto.value!r} needs at least 2 training days and 1 test day after the "
            f"{delay}-day label delay; this world's events cover {n} days, which gives "
            f"{train} training and {test} test days"
        )
    return ProtocolPlan(
        proto, False, origin, start, train, delay, test, folds, KnownCompromised.LABELS
    )


def protocol_splits(plan: ProtocolPlan, events: LabelledEvents) -> list[TimeSplit]:
    """The splits of a resolved protocol, fold 0 (the latest) first; indices are event rows.

    Raises
    ------
    DataError
        A training or test period holds no event.
    """
    common = {
        "train_days": plan.train_days,
        "delay_days": plan.delay_days,
        "test_days": plan.test_days,
        "origin": plan.origin_ms,
        "known_compromised": plan.known_compromised,
    }
    args = (events.timestamp_ms, events.card, events.is_fraud, events.label_available_at_ms)
    if plan.n_folds == 1:
        return [handbook_split(*args, start_day=plan.start_day, **common)]
    return prequential_splits(*args, start_day=plan.start_day, n_folds=plan.n_folds, **common)


def resolve_splits(
    world: World,
    events: LabelledEvents,
    split: TimeSplit | None = None,
    protocol: Protocol | str = Protocol.HANDBOOK,
) -> tuple[list[TimeSplit], ProtocolPlan | None]:
    """``[split]`` if given (checked against the events), else the protocol's splits and plan.

    Raises
    ------
    ParameterError
        ``split`` is not a :class:`TimeSplit` or indexes past the events; the world is too
        short for ``protocol``.
    """
    if split is None:
        plan = resolve_protocol(world, events, protocol)
        return protocol_splits(plan, events), plan
    if not isinstance(split, TimeSplit):
        raise ParameterError(f"split must be a TimeSplit (got {type(split).__name__})")
    n = len(events)
    for name in ("train", "test"):
        idx = getattr(split, name)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx.max() if idx.max() >= n else idx.min())
            raise ParameterError(
                f"split.{name} must index the {n} events of load_events(world) (got index {bad})"
            )
    return [split], None


# --- features and scores over a world --------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WorldFeatures:
    """Offline features of every event of a world table, rows aligned with its events.

    Attributes
    ----------
    events : LabelledEvents
    feature_set : FeatureSet
    columns : dict of str to ndarray of float64, shape (n,) each
    """

    events: LabelledEvents
    feature_set: FeatureSet
    columns: dict[str, np.ndarray]

    def matrix(self, rows: np.ndarray) -> np.ndarray:
        """Features of event ``rows``, shape (len(rows), n_features), in the set's order."""
        out = np.empty((rows.size, len(self.feature_set)), dtype=np.float64)
        for j, name in enumerate(self.feature_set.names):
            out[:, j] = self.columns[name][rows]
        return out


def world_features(world: World, feature_set: FeatureSet, events: LabelledEvents) -> WorldFeatures:
    """:func:`fintwin.features.compute_world` over ``events.table``, aligned with ``events``.

    Raises
    ------
    ParameterError
        ``feature_set`` is not a FeatureSet.
    DataError
        A column a feature needs is missing, or the feature rows do not match the events.
    """
    if not isinstance(feature_set, FeatureSet):
        raise ParameterError(f"feature_set must be a FeatureSet (got {type(feature_set).__name__})")
    feats = compute_world(feature_set, world, events.table)
    ids = feats.column(events.id_column).to_numpy()
    if ids.size != len(events) or not np.array_equal(ids, events.ids):
        raise DataError("the feature rows do not match the events (ids differ)", file=events.table)
    columns = {n: feats.column(n).to_numpy() for n in feature_set.names}
    return WorldFeatures(events, feature_set, columns)


def evaluate_split(
    features: WorldFeatures,
    split: TimeSplit,
    predict: Callable[[np.ndarray], np.ndarray],
    **options: Any,
) -> FraudEvaluation:
    """Score a split's test events with ``predict`` (features matrix -> scores) and evaluate.

    Card precision uses the events' card key and the split's day numbering; ``options`` go to
    :func:`fintwin.risk.evaluate_scores` (``rate``, ``threshold``, ``k``, ``latency_s`` ...).
    """
    ev = features.events
    test = split.test
    return evaluate_scores(
        ev.is_fraud[test],
        predict(features.matrix(test)),
        day=ev.day(split.origin_ms)[test],
        card=ev.card[test],
        amount=ev.amount[test],
        scenario=None if ev.scenario is None else ev.scenario[test],
        **options,
    )


def world_fingerprint(world: World, table: str) -> str:
    """SHA-256 over the file digests of ``table`` in the world's manifest: same data, same value."""
    entry = world.manifest.tables[table]
    joined = "\n".join(f"{k} {v}" for k, v in sorted(entry.files.items()))
    return hashlib.sha256(joined.encode()).hexdigest()
