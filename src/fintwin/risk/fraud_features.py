"""Feature sets for fraud models, built only from :mod:`fintwin.features` definitions.

Every feature here is a declarative definition, so the online engine computes the very values
the model was trained on. :func:`handbook_plus_feature_set` extends the book's 15 features for
tables without cards or devices (the ``handbook`` preset, the book's own data);
:func:`default_feature_set` picks a set for a world.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from fintwin.data import World
from fintwin.features import (
    DAY,
    Aggregation,
    AmountProfile,
    Entity,
    FeatureDefinition,
    FeatureSet,
    LabelAge,
    LabelAgeStat,
    LabelRisk,
    LabelStat,
    ProfileStat,
    Velocity,
    handbook_feature_set,
    retail_feature_set,
)
from fintwin.risk.replay import LabelledEvents, label_delay_days

__all__ = ["default_feature_set", "handbook_plus_feature_set"]


def handbook_plus_feature_set(*, label_delay_days: int = 7) -> FeatureSet:
    """The book's features and more of the same families, for card payments without cards.

    Added to :func:`fintwin.features.handbook_feature_set`, with ``d`` the label delay:

    - the terminal's frauds by week, ``(t - d - 7k - 7, t - d - 7k]`` for k = 0..3 (fraud
      and labelled counts): a compromise that is still going on shows in the latest week, one
      that has ended only in older weeks;
    - the terminal's fraud rate and labelled count over 2 and 3 days after the delay, and its
      fraud count over 1, 7 and 30 days (a rate of 1 out of 1 and 10 out of 10 differ);
    - the customer's mean amount over 14 and 90 days and maximum over 30 days: a stable
      reference for a spending change (the book's third scenario multiplies amounts by 5);
    - the amount against the customer's *earlier* payments over 7, 30 and 90 days
      (:class:`~fintwin.features.AmountProfile`: the ratio amount / mean and the z-score).
      Unlike the book's means, these leave the payment itself out, so a five-fold amount
      stands out against the reference instead of raising it;
    - how long ago the terminal's labels became known (:class:`~fintwin.features.LabelAge`,
      label time): its first fraud label of the last 35 and 60 days, the age of a compromise
      still going on (the book's compromised terminals stay so for 28 days), and its latest
      fraud and genuine labels of the last 60 days.

    Each group was kept because it raised the mean over the 4 validation folds (from day 101)
    of the ``handbook`` worlds of seeds 0 to 2; see :mod:`fintwin.risk.training` for figures.

    Parameters
    ----------
    label_delay_days : int, default 7
        Days after which labels are assumed known (the book's delay period).

    Examples
    --------
    >>> fs = handbook_plus_feature_set()
    >>> fs.names[:15] == handbook_feature_set().names
    True
    >>> len(fs)
    41
    """
    day = DAY
    d = label_delay_days * day
    term, cust = Entity.TERMINAL, Entity.CUSTOMER
    defs: list[FeatureDefinition] = list(handbook_feature_set(label_delay_days=label_delay_days))
    for k in range(4):
        for stat in (LabelStat.FRAUD_COUNT, LabelStat.LABELLED_COUNT):
            defs.append(LabelRisk(term, 7 * day, d + 7 * k * day, stat))
    for days in (2, 3):
        defs.append(LabelRisk(term, days * day, d, LabelStat.FRAUD_RATE))
        defs.append(LabelRisk(term, days * day, d, LabelStat.LABELLED_COUNT))
    for days in (1, 7, 30):
        defs.append(LabelRisk(term, days * day, d, LabelStat.FRAUD_COUNT))
    defs += [
        Velocity(cust, 90 * day, Aggregation.MEAN),
        Velocity(cust, 30 * day, Aggregation.MAX),
        Velocity(cust, 14 * day, Aggregation.MEAN),
    ]
    for days in (7, 30, 90):
        defs += [
            AmountProfile(cust, days * day, s) for s in (ProfileStat.RATIO, ProfileStat.ZSCORE)
        ]
    defs += [
        LabelAge(term, 35 * day, LabelAgeStat.FIRST_FRAUD),
        LabelAge(term, 60 * day, LabelAgeStat.FIRST_FRAUD),
        LabelAge(term, 60 * day, LabelAgeStat.LAST_FRAUD),
        LabelAge(term, 60 * day, LabelAgeStat.LAST_GENUINE),
    ]
    # The book's set already holds the (7-day window, d delay) labelled count.
    return FeatureSet(dict.fromkeys(defs))


def default_feature_set(world: World, events: LabelledEvents) -> FeatureSet:
    """The feature set :func:`fintwin.risk.train_fraud_model` uses when none is given.

    Tables with a ``card_id`` column get :func:`fintwin.features.retail_feature_set`, tables
    without (the book's layout) :func:`handbook_plus_feature_set` with the data's label
    delay; either restricted to the columns the table has (and to features without homes
    when the world has no customers table).
    """
    files = world.files(events.table)
    columns = pq.read_schema(files[0]).names if files else world.arrow(events.table).column_names
    customers = "customers" in world.tables
    if events.card_column == "card_id":
        full = retail_feature_set()
    else:
        full = handbook_plus_feature_set(label_delay_days=label_delay_days(events))
    return full.restricted_to(columns, customers=customers)
