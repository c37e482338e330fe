"""Families over a key's history: how an amount compares with the key's earlier amounts, and how
long ago the key's labels became known.

The semantics follow :mod:`fintwin.features.definitions` (processing order, "earlier", labels
usable only once available, NaN for missing, exact integer cents, bounded memory); this module
states what is particular to each family. Both engines compute these values with the same float
operations on the same integers, so they agree bit for bit.

Examples
--------
>>> AmountProfile(Entity.CUSTOMER, 30 * DAY, ProfileStat.ZSCORE).name
'customer_amount_zscore_prev_30d'
>>> LabelAge(Entity.TERMINAL, 35 * DAY, LabelAgeStat.FIRST_FRAUD).name
'terminal_first_fraud_label_age_35d'
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from fintwin.features.definitions import FeatureDefinition, _check_seconds, span_label
from fintwin.features.vocab import DAY, Entity, Family, LabelAgeStat, ProfileStat

__all__ = ["Z_FLOOR_FRACTION", "Z_FLOOR_MIN_CENTS", "AmountProfile", "LabelAge"]

#: The z-score's standard deviation is floored at this fraction of the mean (at least
#: :data:`Z_FLOOR_MIN_CENTS`), so a key that always paid the same amount gives a large finite z.
Z_FLOOR_FRACTION = 0.01
#: The mean below which the floor stops shrinking: 100 cents, one currency unit.
Z_FLOOR_MIN_CENTS = 100.0


@dataclasses.dataclass(frozen=True)
class AmountProfile(FeatureDefinition):
    """This event's amount against the key's *earlier* amounts (event i excluded).

    Over the key's earlier events j with ``t_j > t_i - w``, with n events, ``S1`` the sum of
    their amounts in cents and ``S2`` the sum of their squares (exact integers):
    ``mean = S1 / n`` and ``std = sqrt((n * S2 - S1 ** 2) / n ** 2)`` (the population
    standard deviation, from the exact integer numerator). In currency units:

    - ``MEAN``: mean; NaN if n = 0;
    - ``STD``: std; NaN if n < 2;
    - ``RATIO``: amount / mean; NaN if n = 0 or the mean is 0;
    - ``ZSCORE``: (amount - mean) / max(std, 1 % of max(mean, 1)); NaN if n < 2. The floor
      keeps a key that always paid the same amount finite.

    Excluding the event itself keeps an unusual amount from hiding in its own reference
    (the book's "spending change" scenario multiplies a customer's amounts by five).

    Parameters
    ----------
    key : Entity
        Usually the customer (or the card); a null key gives NaN.
    window_seconds : int
        Window length w in seconds.
    stat : ProfileStat
    """

    family: ClassVar[Family] = Family.AMOUNT_PROFILE
    key: Entity
    window_seconds: int
    stat: ProfileStat = ProfileStat.ZSCORE

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        self._enum("stat", ProfileStat)
        _check_seconds("AmountProfile.window_seconds", self.window_seconds)

    @property
    def name(self) -> str:
        w = span_label(self.window_seconds)
        if self.stat in (ProfileStat.MEAN, ProfileStat.STD):
            return f"{self.key}_prev_amount_{self.stat}_{w}"
        return f"{self.key}_amount_{self.stat}_prev_{w}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, "amount")

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds


@dataclasses.dataclass(frozen=True)
class LabelAge(FeatureDefinition):
    """Seconds since a label of the key's earlier events became known (label time).

    The labels considered at event i are those of the key's earlier events j that are
    available (``label_available_at_j <= t_i``), became available within the window
    (``label_available_at_j > t_i - w``) and arrived less than ``max_label_delay_seconds``
    after their event. The value is ``t_i - label_available_at`` in seconds of

    - ``FIRST_FRAUD``: the earliest fraud label among them: the age of the key's current
      known-fraud episode (a compromise that has lasted long is likely to end soon);
    - ``LAST_FRAUD``: the latest fraud label;
    - ``LAST_GENUINE``: the latest genuine label;

    NaN if there is none.

    Parameters
    ----------
    key : Entity
        Usually the terminal.
    window_seconds : int
        How long a label stays in the window after it became known.
    stat : LabelAgeStat
    max_label_delay_seconds : int, default 60 days
        Labels that arrive this long or longer after their event are ignored, which bounds the
        events the online engine keeps while their labels are pending.
    """

    family: ClassVar[Family] = Family.LABEL_AGE
    key: Entity
    window_seconds: int
    stat: LabelAgeStat = LabelAgeStat.FIRST_FRAUD
    max_label_delay_seconds: int = 60 * DAY

    def __post_init__(self) -> None:
        self._enum("key", Entity)
        self._enum("stat", LabelAgeStat)
        _check_seconds("LabelAge.window_seconds", self.window_seconds)
        _check_seconds("LabelAge.max_label_delay_seconds", self.max_label_delay_seconds)

    @property
    def name(self) -> str:
        base = f"{self.key}_{self.stat}_label_age_{span_label(self.window_seconds)}"
        if self.max_label_delay_seconds != 60 * DAY:
            base += f"_max_delay_{span_label(self.max_label_delay_seconds)}"
        return base

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key.column, "is_fraud", "label_available_at")

    @property
    def lookback_seconds(self) -> int:
        return self.window_seconds + self.max_label_delay_seconds
