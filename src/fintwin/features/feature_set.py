"""A :class:`FeatureSet` (ordered definitions with a content hash) and the two ready-made sets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from fintwin.exceptions import ParameterError
from fintwin.features.definitions import (
    DAY,
    HOUR,
    Aggregation,
    Amount,
    Calendar,
    CalendarField,
    DistanceFromHome,
    Entity,
    FeatureDefinition,
    LabelRisk,
    LabelStat,
    Novelty,
    Recency,
    SpeedFromPrevious,
    Velocity,
    definition_from_json,
)

__all__ = ["FeatureSet", "handbook_feature_set", "retail_feature_set"]

#: Version of the canonical JSON layout; part of the hash.
_FORMAT = 1


class FeatureSet:
    """An ordered, immutable collection of feature definitions with unique names.

    Parameters
    ----------
    definitions : iterable of FeatureDefinition
        In output column order.

    Examples
    --------
    >>> fs = FeatureSet([Amount(), Velocity(Entity.CARD, DAY)])
    >>> fs.names
    ['amount', 'card_count_1d']
    >>> len(fs.definitions_hash())
    64
    """

    __slots__ = ("_definitions",)

    def __init__(self, definitions: Iterable[FeatureDefinition]) -> None:
        defs = tuple(definitions)
        seen: set[str] = set()
        for d in defs:
            if not isinstance(d, FeatureDefinition):
                raise ParameterError(f"a FeatureSet holds feature definitions (got {d!r})")
            if d.name in seen:
                raise ParameterError(f"feature name {d.name!r} appears twice in the feature set")
            seen.add(d.name)
        if not defs:
            raise ParameterError("a FeatureSet needs at least one definition")
        self._definitions = defs

    @property
    def definitions(self) -> tuple[FeatureDefinition, ...]:
        return self._definitions

    @property
    def names(self) -> list[str]:
        """Output column names, in order."""
        return [d.name for d in self._definitions]

    @property
    def columns(self) -> list[str]:
        """Event-table columns read by some feature (``timestamp`` and the id not included)."""
        return sorted({c for d in self._definitions for c in d.columns})

    @property
    def needs_customers(self) -> bool:
        return any(d.needs_customers for d in self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def __iter__(self) -> Iterator[FeatureDefinition]:
        return iter(self._definitions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSet) and self._definitions == other._definitions

    def __hash__(self) -> int:
        return hash(self._definitions)

    def __repr__(self) -> str:
        return f"FeatureSet({len(self)} features, hash {self.definitions_hash()[:12]})"

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "features": [d.to_json() for d in self._definitions]}

    def canonical_json(self) -> str:
        """The JSON form with sorted keys and no whitespace: what the hash is taken over."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def definitions_hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`; changes with any parameter or the order."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> FeatureSet:
        """Rebuild a set from :meth:`to_json` output (a dict or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ParameterError(f"a feature set JSON must have format {_FORMAT} (got {data!r})")
        return cls(definition_from_json(d) for d in data["features"])

    def restricted_to(self, columns: Iterable[str], *, customers: bool = True) -> FeatureSet:
        """The definitions computable from an event table with ``columns``.

        Parameters
        ----------
        columns : iterable of str
            Columns of the event table.
        customers : bool
            Whether a customers table with homes is available.
        """
        have = set(columns)
        keep = [
            d
            for d in self._definitions
            if set(d.columns) <= have and (customers or not d.needs_customers)
        ]
        return FeatureSet(keep)


def handbook_feature_set(*, label_delay_days: int = 7) -> FeatureSet:
    """The Fraud Detection Handbook's features (chapter 3.4), in the book's order.

    The amount; weekend and night (the book's ``hour <= 6``, i.e. hours 0 to 6); per customer
    the count and mean amount over 1, 7 and 30 days; per terminal the number of labelled
    payments and the fraud rate over 1, 7 and 30 days, the window shifted back by the
    ``label_delay_days`` delay period and counting only labels available at decision time.

    Examples
    --------
    >>> handbook_feature_set().names[:4]
    ['amount', 'is_weekend', 'is_night_0_7h', 'customer_count_1d']
    """
    delay = label_delay_days * DAY
    defs: list[FeatureDefinition] = [
        Amount(),
        Calendar(CalendarField.WEEKEND),
        Calendar(CalendarField.NIGHT, night_start_hour=0, night_end_hour=7),
    ]
    for days in (1, 7, 30):
        defs.append(Velocity(Entity.CUSTOMER, days * DAY, Aggregation.COUNT))
        defs.append(Velocity(Entity.CUSTOMER, days * DAY, Aggregation.MEAN))
    for days in (1, 7, 30):
        defs.append(LabelRisk(Entity.TERMINAL, days * DAY, delay, LabelStat.LABELLED_COUNT))
        defs.append(LabelRisk(Entity.TERMINAL, days * DAY, delay, LabelStat.FRAUD_RATE))
    return FeatureSet(defs)


def retail_feature_set() -> FeatureSet:
    """A richer set for card payments with cards, devices, IPs, countries and locations.

    Built for the ``retail-bank`` preset; on data lacking some columns use
    ``retail_feature_set().restricted_to(table.column_names)``.
    """
    card, dev, ip = Entity.CARD, Entity.DEVICE, Entity.IP
    defs: list[FeatureDefinition] = [
        Amount(),
        Calendar(CalendarField.HOUR_OF_DAY),
        Calendar(CalendarField.NIGHT),
        Calendar(CalendarField.WEEKEND),
        # card behaviour: bursts, spend, spread across merchants, countries, devices
        Velocity(card, HOUR, Aggregation.COUNT),
        Velocity(card, DAY, Aggregation.COUNT),
        Velocity(card, 7 * DAY, Aggregation.COUNT),
        Velocity(card, DAY, Aggregation.SUM),
        Velocity(card, 30 * DAY, Aggregation.MEAN),
        Velocity(card, 7 * DAY, Aggregation.MAX),
        Velocity(card, DAY, Aggregation.DISTINCT_COUNT, of=Entity.TERMINAL),
        Velocity(card, 7 * DAY, Aggregation.DISTINCT_COUNT, of=Entity.COUNTRY),
        Velocity(card, 7 * DAY, Aggregation.DISTINCT_COUNT, of=dev),
        Velocity(Entity.CUSTOMER, DAY, Aggregation.COUNT),
        Velocity(Entity.CUSTOMER, 30 * DAY, Aggregation.MEAN),
        # shared infrastructure: many cards on one device or network is a mule / takeover sign
        Velocity(dev, DAY, Aggregation.COUNT),
        Velocity(dev, 30 * DAY, Aggregation.DISTINCT_COUNT, of=card),
        Velocity(dev, 30 * DAY, Aggregation.DISTINCT_COUNT, of=Entity.CUSTOMER),
        Velocity(ip, HOUR, Aggregation.COUNT),
        Velocity(ip, DAY, Aggregation.DISTINCT_COUNT, of=card),
        # merchants: card testing hits one terminal with many cards and small amounts
        Velocity(Entity.TERMINAL, DAY, Aggregation.COUNT),
        Velocity(Entity.TERMINAL, HOUR, Aggregation.DISTINCT_COUNT, of=card),
        Recency(card, 30 * DAY),
        Recency(dev, 30 * DAY),
        Novelty(card, dev, 90 * DAY),
        Novelty(card, Entity.TERMINAL, 90 * DAY),
        Novelty(card, Entity.COUNTRY, 90 * DAY),
        Novelty(card, ip, 90 * DAY),
        DistanceFromHome(),
        SpeedFromPrevious(card, DAY),
        LabelRisk(Entity.TERMINAL, 7 * DAY, 7 * DAY, LabelStat.LABELLED_COUNT),
        LabelRisk(Entity.TERMINAL, 7 * DAY, 7 * DAY, LabelStat.FRAUD_RATE),
        LabelRisk(Entity.TERMINAL, 30 * DAY, 7 * DAY, LabelStat.FRAUD_RATE),
        # confirmed fraud already seen on this device or network, as soon as labels arrive
        LabelRisk(dev, 30 * DAY, 0, LabelStat.FRAUD_COUNT),
        LabelRisk(ip, 30 * DAY, 0, LabelStat.FRAUD_COUNT),
    ]
    return FeatureSet(defs)
