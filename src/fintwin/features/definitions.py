"""Feature definitions: one frozen dataclass per family, written once and compiled to two engines.

:func:`~fintwin.features.compute_offline` computes a whole table at once (vectorised);
:class:`~fintwin.features.OnlineFeatureEngine` updates state one event at a time. Both follow
these semantics exactly, and a property test holds them to identical values.

Semantics
---------
- **Order.** Events are processed in ``(timestamp, id)`` order, where ``id`` is
  ``transaction_id`` (or ``transfer_id`` for a transfers table). "Earlier" means earlier in that
  order, so of two events with the same timestamp the one with the smaller id comes first.
- **What event i may see.** Its own columns (amount, time, keys: all known when it is decided)
  and the columns of earlier events. Never its own ``is_fraud``, nothing from ``truth/``.
- **Windows** are ``(t_i - w, t_i]`` on event time: event j is in the window of event i when j
  is event i itself or earlier, has the same key, and ``t_j > t_i - w``.
- **Labels.** The label of event j may be used at event i only if j is earlier than i and
  ``label_available_at_j <= t_i``.
- **Missing values** are NaN: a null key (a POS payment has no device), no previous event within
  the horizon, a customer without a home.
- **Money** is handled in integer cents, so sums are exact; amount features are returned in
  currency units (``cents / 100``).
- **Values** are float64 (counts and flags are whole numbers), computed by the same float
  operations on the same integers in both engines, so they agree bit for bit.
- **Memory.** Every family that looks back has a finite window or horizon, so the online state is
  bounded by the events inside the windows (expired entries are dropped).

Families (one output column each; ``name`` is stable and derived from the parameters)
-------------------------------------------------------------------------------------
:class:`Velocity`
    count, sum, mean or max of the amount, or the number of distinct non-null values of another
    entity, over the window of the key (event i included). ``card_count_1d``,
    ``card_amount_sum_1d``, ``card_distinct_terminal_1d``, ``device_distinct_card_30d``.
:class:`Recency`
    seconds since the previous event of the key (0 for a tie), NaN if there is none within
    ``horizon_seconds`` (``t_i - t_prev < horizon``).
:class:`Novelty`
    1 if no earlier event of the key used this value of ``of`` within the window
    ``(t_i - w, t_i]``, else 0; NaN if the key or the value is null. A window rather than "ever"
    keeps memory bounded; use a long window (90 days) for "first use".
:class:`DistanceFromHome`
    km from the customer's home (``customers.home_x, home_y``) to ``location_x, location_y``:
    ``sqrt(dx*dx + dy*dy)``.
:class:`SpeedFromPrevious`
    km/h from the previous *located* event of the key (card-present, i.e. ``channel == 'pos'``,
    when ``card_present_only``; any event otherwise) to this event's location:
    ``distance * 3600 / max(seconds, min_seconds)``; NaN without such an event within the
    horizon. Every event gets a value (an e-commerce payment is placed at its IP's location);
    only located events update the previous location.
:class:`Calendar`
    hour of day, weekend (Saturday, Sunday) or night (``night_start_hour <= hour <
    night_end_hour``, wrapping midnight when start > end) from the naive local timestamp.
:class:`LabelRisk`
    over the earlier events j of the key with ``t_i - d - w < t_j <= t_i - d`` whose label is
    available (``label_available_at_j <= t_i``): their number (``labelled_count``), their frauds
    (``fraud_count``) or the ratio (``fraud_rate``, 0 when there is none, as the handbook does).
    With ``delay_seconds = d`` equal to a fixed label delay this is the handbook's
    ``TERMINAL_ID_RISK_<w>DAY_WINDOW`` (window shifted back by the 7-day delay period).
:class:`Amount`
    the event's own amount.
:class:`~fintwin.features.history.AmountProfile`
    the amount against the key's *earlier* amounts (event i excluded) over ``(t_i - w, t_i]``:
    their mean, standard deviation, the ratio amount / mean, or the z-score
    ``(amount - mean) / max(std, 1 % of max(mean, 1))``.
:class:`~fintwin.features.history.LabelAge`
    seconds since the key's first or last fraud label, or last genuine label, became known,
    among the labels of earlier events that became available within ``(t_i - w, t_i]`` (label
    time, not event time) and arrived less than ``max_label_delay_seconds`` after their event.
:class:`~fintwin.features.graph.FraudDistance`
    hops from the event's card to a card with confirmed fraud (an earlier fraud of that card
    whose label is available at ``t_i``, committed within ``fraud_horizon_seconds``) in the
    card–device graph of the window ``(t_i - w, t_i]`` (this event's edge included); two cards
    sharing a device are one hop apart; 0 for a confirmed card itself, ``max_hops + 1`` when none
    lies within ``max_hops`` (or within the search budget ``max_nodes``).
:class:`~fintwin.features.graph.ComponentSize`
    cards in the connected component of the event's card in that windowed graph (1 alone),
    capped at ``max_size``.
:class:`~fintwin.features.graph.ShortCycle`
    on transfers: length of the shortest directed cycle this transfer closes (``1 +`` the
    shortest path from its destination back to its source over the window's transfers, through
    accounts with at most ``max_degree`` counterparties), 0 if none up to ``max_length``.
    Fan-in / fan-out need no graph family: ``Velocity(DESTINATION_ACCOUNT, w, DISTINCT_COUNT,
    of=SOURCE_ACCOUNT)`` and the reverse, and SUM for the amounts.

Examples
--------
>>> Velocity(Entity.CARD, DAY, Aggregation.SUM).name
'card_amount_sum_1d'
>>> LabelRisk(Entity.TERMINAL, 7 * DAY, delay_seconds=7 * DAY).name
'terminal_fraud_rate_7d_delay_7d'
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar

from fintwin._validation import to_enum
from fintwin.exceptions import ParameterError
from fintwin.features.vocab import (
    DAY,
    HOUR,
    MINUTE,
    Aggregation,
    CalendarField,
    Entity,
    Family,
    LabelAgeStat,
    LabelStat,
    ProfileStat,
    Value,
)

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "Aggregation",
    "Amount",
    "AmountProfile",
    "Calendar",
    "CalendarField",
    "ComponentSize",
    "DistanceFromHome",
    "Entity",
    "Family",
    "FeatureDefinition",
    "FraudDistance",
    "LabelAge",
    "LabelAgeStat",
    "LabelRisk",
    "LabelStat",
    "Novelty",
    "ProfileStat",
    "Recency",
    "ShortCycle",
    "SpeedFromPrevious",
    "Value",
    "Velocity",
    "definition_from_json",
]


def span_label(seconds: int) -> str:
    """Short label of a duration for feature names: ``86400 -> '1d'``, ``5400 -> '90m'``."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _check_seconds(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} must be a whole number of seconds (got {value!r})")
    if value < 0 or (value == 0 and not allow_zero):
        rule = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name} must be {rule} (got {value!r})")


class FeatureDefinition(ABC):
    """One feature: a frozen dataclass of a family. Subclasses define ``family`` and ``name``."""

    family: ClassVar[Family]

    def _set(self, field: str, value: object) -> None:
        object.__setattr__(self, field, value)

    def _enum(self, field: str, enum_type: type) -> None:
        value = getattr(self, field)
        if value is not None:
            self._set(field, to_enum(enum_type, f"{type(self).__name__}.{field}", value))

    @property
    @abstractmethod
    def name(self) -> str:
        """Stable column name derived from the parameters."""

    @property
    @abstractmethod
    def columns(self) -> tuple[str, ...]:
        """Columns of the event table this feature reads (besides ``timestamp`` and the id)."""

    @property
    def needs_customers(self) -> bool:
        """Whether the customers table (homes) is needed."""
        return False

    @property
    def lookback_seconds(self) -> int:
        """How far back this feature looks (0: only the event itself)."""
        return 0

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON form: the family and every parameter, enums as their values."""
        out: dict[str, Any] = {"family": self.family.value}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = v.value if isinstance(v, StrEnum) else v
        return out


@dataclasses.dataclass(frozen=True)
class Velocity(FeatureDefinition):
    """Aggregate over the sliding window ``(t_i - w, t_i]`` of the key, event i included.

    Parameters
    ----------
    key : Entity
        Events are grouped by this entity; a null key gives NaN.
    window_seconds : int
        Window length w in seconds.
    aggregation : Aggregation
        COUNT (events), SUM / MEAN / MAX (of ``value``, in currency units) or DISTINCT_COUNT
        (distinct non-null values of ``of``).
    value : Value, optional
        What SUM / MEAN / MAX aggregate (the amount; set automatically for them).
    of : Entity, optional
        The entity DISTINCT_COUNT counts (distinct terminals per card, cards per device).
    """

    family: ClassVar[Family] = Family.VELOCITY
    key: Entity
    window_seconds: int
    aggregation: Aggregation = Aggregation.COUNT
    value: Value | None = None
    of: Entity | None = None

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        self._enum("aggregation", Aggregation)
        self._enum("value", Value)
        self._enum("of", Entity)
        _check_seconds("Velocity.window_seconds", self.window_seconds)
        agg = self.aggregation
        if agg in (Aggregation.SUM, Aggregation.MEAN, Aggregation.MAX):
            if self.value is None:
                self._set("value", Value.AMOUNT)
        elif self.value is not None:
            raise ParameterError(f"Velocity.value applies to sum, mean and max, not {agg.value}")
        if agg is Aggregation.DISTINCT_COUNT:
            if self.of is None or self.of is self.key:
                raise ParameterError(
                    "Velocity with distinct_count needs `of`, an entity other than the key "
                    f"(got key={self.key.value!r}, of={self.of and self.of.value!r})"
                )
        elif self.of is not None:
            raise ParameterError(f"Velocity.of applies to distinct_count only, not {agg.value}")

    @property
    def name(self) -> str:
        w = span_label(self.window_seconds)
        if self.aggregation is Aggregation.COUNT:
            return f"{self.key}_count_{w}"
        if self.aggregation is Aggregation.DISTINCT_COUNT:
            return f"{self.key}_distinct_{self.of}_{w}"
        return f"{self.key}_{self.value}_{self.aggregation}_{w}"

    @property
    def columns(self) -> tuple[str, ...]:
        cols = [self.key.column]
        if self.value is not None:
            cols.append(self.value.value)
        if self.of is not None:
            cols.append(self.of.column)
        return tuple(cols)

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds


@dataclasses.dataclass(frozen=True)
class Recency(FeatureDefinition):
    """Seconds since the previous event of the key, NaN if none within ``horizon_seconds``."""

    family: ClassVar[Family] = Family.RECENCY
    key: Entity
    horizon_seconds: int = 30 * DAY

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        _check_seconds("Recency.horizon_seconds", self.horizon_seconds)

    @property
    def name(self) -> str:
        return f"{self.key}_seconds_since_prev_{span_label(self.horizon_seconds)}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column,)

    @property
    def lookback_seconds(self) -> int:
        return self.horizon_seconds


@dataclasses.dataclass(frozen=True)
class Novelty(FeatureDefinition):
    """1 if the key has not used this value of ``of`` earlier within the window, else 0."""

    family: ClassVar[Family] = Family.NOVELTY
    key: Entity
    of: Entity
    window_seconds: int = 90 * DAY

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        self._enum("of", Entity)
        _check_seconds("Novelty.window_seconds", self.window_seconds)
        if self.of is self.key:
            raise ParameterError(f"Novelty.of must differ from the key (both {self.key.value!r})")

    @property
    def name(self) -> str:
        return f"{self.key}_new_{self.of}_{span_label(self.window_seconds)}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, self.of.column)

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds


@dataclasses.dataclass(frozen=True)
class DistanceFromHome(FeatureDefinition):
    """km from the customer's home to the event's location (needs the customers table)."""

    family: ClassVar[Family] = Family.DISTANCE_FROM_HOME

    @property
    def name(self) -> str:
        return "distance_from_home_km"

    @property
    def columns(self) -> tuple[str, ...]:
        return ("customer_id", "location_x", "location_y")

    @property
    def needs_customers(self) -> bool:
        return True


@dataclasses.dataclass(frozen=True)
class SpeedFromPrevious(FeatureDefinition):
    """km/h from the previous located event of the key (impossible travel).

    Parameters
    ----------
    key : Entity
        Usually the card.
    horizon_seconds : int
        Previous events at least this old are ignored (NaN).
    card_present_only : bool
        Only card-present events (``channel == 'pos'``) count as a previous location.
    min_seconds : int
        Elapsed time is taken as at least this, so that two places at the same second give a
        large finite speed rather than infinity.
    """

    family: ClassVar[Family] = Family.SPEED_FROM_PREVIOUS
    key: Entity = Entity.CARD
    horizon_seconds: int = DAY
    card_present_only: bool = True
    min_seconds: int = 60

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        _check_seconds("SpeedFromPrevious.horizon_seconds", self.horizon_seconds)
        _check_seconds("SpeedFromPrevious.min_seconds", self.min_seconds)
        if not isinstance(self.card_present_only, bool):
            raise ParameterError(
                "SpeedFromPrevious.card_present_only must be a bool "
                f"(got {self.card_present_only!r})"
            )

    @property
    def name(self) -> str:
        prev = "prev_pos" if self.card_present_only else "prev"
        return f"{self.key}_speed_from_{prev}_kmh_{span_label(self.horizon_seconds)}"

    @property
    def columns(self) -> tuple[str, ...]:
        cols = (self.key.column, "location_x", "location_y")
        return (*cols, "channel") if self.card_present_only else cols

    @property
    def lookback_seconds(self) -> int:
        return self.horizon_seconds


@dataclasses.dataclass(frozen=True)
class Calendar(FeatureDefinition):
    """Hour of day, weekend flag or night flag from the naive local timestamp."""

    family: ClassVar[Family] = Family.CALENDAR
    field: CalendarField
    night_start_hour: int = 0
    night_end_hour: int = 6

    def __post_init__(self) -> None:
        self._enum("field", CalendarField)
        for name in ("night_start_hour", "night_end_hour"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 24:
                raise ParameterError(f"Calendar.{name} must be an hour in 0..24 (got {v!r})")
        if self.night_start_hour == self.night_end_hour:
            raise ParameterError(
                f"Calendar night hours must differ (got {self.night_start_hour} twice)"
            )

    @property
    def name(self) -> str:
        if self.field is CalendarField.HOUR_OF_DAY:
            return "hour_of_day"
        if self.field is CalendarField.WEEKEND:
            return "is_weekend"
        if (self.night_start_hour, self.night_end_hour) == (0, 6):
            return "is_night"
        return f"is_night_{self.night_start_hour}_{self.night_end_hour}h"

    @property
    def columns(self) -> tuple[str, ...]:
        return ()


@dataclasses.dataclass(frozen=True)
class LabelRisk(FeatureDefinition):
    """Fraud among the key's earlier events whose labels are available (delayed labels).

    Parameters
    ----------
    key : Entity
        Usually the terminal.
    window_seconds : int
        Window length w.
    delay_seconds : int
        The window is shifted back by d: events with ``t_i - d - w < t_j <= t_i - d``.
    stat : LabelStat
        FRAUD_RATE (frauds / labelled, 0 if none), FRAUD_COUNT or LABELLED_COUNT.
    """

    family: ClassVar[Family] = Family.LABEL_RISK
    key: Entity
    window_seconds: int
    delay_seconds: int = 0
    stat: LabelStat = LabelStat.FRAUD_RATE

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        self._enum("stat", LabelStat)
        _check_seconds("LabelRisk.window_seconds", self.window_seconds)
        _check_seconds("LabelRisk.delay_seconds", self.delay_seconds, allow_zero=True)

    @property
    def name(self) -> str:
        base = f"{self.key}_{self.stat}_{span_label(self.window_seconds)}"
        return f"{base}_delay_{span_label(self.delay_seconds)}" if self.delay_seconds else base

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, "is_fraud", "label_available_at")

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds + self.delay_seconds


@dataclasses.dataclass(frozen=True)
class Amount(FeatureDefinition):
    """The event's own amount, in currency units."""

    family: ClassVar[Family] = Family.AMOUNT

    @property
    def name(self) -> str:
        return "amount"

    @property
    def columns(self) -> tuple[str, ...]:
        return ("amount",)


# The history and graph families subclass FeatureDefinition: imported once it exists.
from fintwin.features.graph import ComponentSize, FraudDistance, ShortCycle  # noqa: E402
from fintwin.features.history import AmountProfile, LabelAge  # noqa: E402

_FAMILIES: dict[Family, type[FeatureDefinition]] = {
    cls.family: cls
    for cls in (
        Velocity,
        Recency,
        Novelty,
        DistanceFromHome,
        SpeedFromPrevious,
        Calendar,
        LabelRisk,
        Amount,
        AmountProfile,
        LabelAge,
        FraudDistance,
        ComponentSize,
        ShortCycle,
    )
}


def definition_from_json(data: dict[str, Any]) -> FeatureDefinition:
    """Rebuild a definition from :meth:`FeatureDefinition.to_json` output.

    Raises
    ------
    ParameterError
        Unknown family or parameter, or a parameter outside its rule.
    """
    if not isinstance(data, dict) or "family" not in data:
        raise ParameterError(f"a feature definition must be an object with 'family' (got {data!r})")
    params = dict(data)
    family = to_enum(Family, "family", params.pop("family"))
    cls = _FAMILIES[family]
    allowed = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParameterError(
            f"unknown parameters {unknown} for family {family.value!r}; allowed: {sorted(allowed)}"
        )
    return cls(**params)
