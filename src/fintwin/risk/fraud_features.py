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
    Entity,
    FeatureDefinition,
    FeatureSet,
    LabelRisk,
    LabelStat,
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
      reference for a spending change (the book's third scenario multiplies amounts by 5).

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
    31
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
