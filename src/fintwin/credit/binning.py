"""Optimal binning of credit variables (optbinning), kept as plain data that scores by itself.

optbinning finds the bins (mixed-integer programming with monotonic trend constraints); this
module keeps the result as :class:`VariableBins`: split points or category groups and the
weight of evidence of every bin, serialisable to JSON and applied without optbinning. Two bins
exist for every variable whatever the training data held:

- **Missing**: a NaN or None value. Its WoE is estimated when training had missing values,
  and is 0 (the population's odds) otherwise.
- **Unseen**: a category that training never saw. Its WoE is 0: nothing is known of it, so it
  counts as an average applicant, and explanations name it as unseen.

So a score is never a silent NaN. Weight of evidence follows optbinning's sign:
``WoE = ln(share of goods / share of bads)``, higher is safer.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "BinningConfig",
    "MonotonicTrend",
    "VariableBins",
    "fit_binning",
]

MISSING = "Missing"
UNSEEN = "Unseen"


class MonotonicTrend(Enum):
    """Shape of the bad rate over a numeric variable's bins (optbinning's ``monotonic_trend``).

    ``AUTO_ASC_DESC`` lets optbinning choose ascending or descending: the business rule that
    risk moves one way along a variable, without saying which. ``NONE`` lets the data decide.
    """

    AUTO_ASC_DESC = "auto_asc_desc"
    ASCENDING = "ascending"
    DESCENDING = "descending"
    PEAK = "peak"
    VALLEY = "valley"
    NONE = "none"

    @property
    def optbinning(self) -> str | None:
        return None if self is MonotonicTrend.NONE else self.value


@dataclass(frozen=True)
class BinningConfig:
    """How variables are binned.

    Attributes
    ----------
    trend : MonotonicTrend
        Default trend of numeric variables.
    trends : mapping of str to MonotonicTrend
        Per-variable trends, overriding ``trend``.
    min_bin_share : float
        Smallest share of applicants in a bin (optbinning's ``min_bin_size``), in (0, 0.5].
    max_bins : int
        Most bins per variable, missing and unseen apart.
    min_information_value : float
        Variables below this information value are dropped (0 keeps every variable).
    """

    trend: MonotonicTrend = MonotonicTrend.AUTO_ASC_DESC
    trends: Mapping[str, MonotonicTrend] = field(default_factory=dict)
    min_bin_share: float = 0.05
    max_bins: int = 8
    min_information_value: float = 0.02

    def __post_init__(self) -> None:
        if not 0 < self.min_bin_share <= 0.5:
            raise ParameterError(f"min_bin_share must be in (0, 0.5] (got {self.min_bin_share})")
        if self.max_bins < 2:
            raise ParameterError(f"max_bins must be at least 2 (got {self.max_bins})")
        if self.min_information_value < 0:
            raise ParameterError(
                f"min_information_value must be >= 0 (got {self.min_information_value})"
            )


@dataclass(frozen=True)
class VariableBins:
    """The bins of one variable and their weight of evidence.

    Attributes
    ----------
    name : str
        The variable.
    kind : FeatureKind
        Numeric (``splits``) or categorical (``groups``).
    splits : tuple of float
        Numeric: ascending split points; bin ``i`` is ``[splits[i-1], splits[i])``, the first
        and last open-ended (optbinning's convention). Empty for categorical variables.
    groups : tuple of tuple of str
        Categorical: the categories of each bin. Empty for numeric variables.
    woe : tuple of float
        WoE of each regular bin, then of Missing, then of Unseen (``n_bins + 2`` values).
    counts : tuple of int
        Training applicants in each regular bin and in Missing (``n_bins + 1`` values).
    bad_rates : tuple of float
        Training bad rate of the same bins (0 for an empty bin).
    information_value : float
        The variable's information value on the training data.
    """

    name: str
    kind: FeatureKind
    splits: tuple[float, ...]
    groups: tuple[tuple[str, ...], ...]
    woe: tuple[float, ...]
    counts: tuple[int, ...]
    bad_rates: tuple[float, ...]
    information_value: float

    @property
    def n_bins(self) -> int:
        """Regular bins (without Missing and Unseen)."""
        return len(self.woe) - 2

    @property
    def missing_bin(self) -> int:
        return self.n_bins

    @property
    def unseen_bin(self) -> int:
        return self.n_bins + 1

    def labels(self) -> list[str]:
        """A readable label per bin, Missing and Unseen included."""
        if self.kind is FeatureKind.NUMERIC:
            edges = [-np.inf, *self.splits, np.inf]
            regular = [
                f"[{_number(lo)}, {_number(hi)})" if np.isfinite(lo) else f"< {_number(hi)}"
                for lo, hi in itertools.pairwise(edges)
            ]
            if len(regular) > 1:
                regular[-1] = f">= {_number(edges[-2])}"
            else:
                regular = ["all values"]
        else:
            regular = [", ".join(group) for group in self.groups]
        return [*regular, MISSING, UNSEEN]

    def assign(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """The bin index of each value.

        Parameters
        ----------
        values : array-like of shape (n,)
            Numbers (NaN missing) for a numeric variable; strings (None or NaN missing) for a
            categorical one.

        Returns
        -------
        numpy.ndarray of shape (n,), int64
            In ``0 .. n_bins + 1``: regular bins, then :attr:`missing_bin`,
            :attr:`unseen_bin`.
        """
        if self.kind is FeatureKind.NUMERIC:
            x = np.asarray(values, dtype=np.float64)
            bins = np.digitize(x, np.asarray(self.splits, dtype=np.float64))
            return np.where(np.isnan(x), self.missing_bin, bins).astype(np.int64)
        lookup = {category: i for i, group in enumerate(self.groups) for category in group}
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                out[i] = self.missing_bin
            else:
                out[i] = lookup.get(str(value), self.unseen_bin)
        return out

    def woe_of(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """The WoE of each value, shape (n,)."""
        return np.asarray(self.woe)[self.assign(values)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "splits": list(self.splits),
            "groups": [list(g) for g in self.groups],
            "woe": list(self.woe),
            "counts": list(self.counts),
            "bad_rates": list(self.bad_rates),
            "information_value": self.information_value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariableBins:
        try:
            return cls(
                str(data["name"]),
                FeatureKind(data["kind"]),
                tuple(float(s) for s in data["splits"]),
                tuple(tuple(str(c) for c in g) for g in data["groups"]),
                tuple(float(w) for w in data["woe"]),
                tuple(int(c) for c in data["counts"]),
                tuple(float(r) for r in data["bad_rates"]),
                float(data["information_value"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"a variable's bins are malformed: {error!r}") from None


def _number(value: float) -> str:
    return f"{value:.4g}"


def _from_optbinning(name: str, kind: FeatureKind, optimal: Any) -> VariableBins:
    # No totals row: optbinning writes it with "" in float columns, which pandas 3 deprecates
    # (Pandas4Warning); the information value is the table's ``iv`` instead.
    rows = optimal.binning_table.build(add_totals=False)
    regular = rows.iloc[:-2]  # optbinning puts Special then Missing last
    missing = rows.iloc[-1]
    if kind is FeatureKind.NUMERIC:
        splits = tuple(float(s) for s in optimal.splits)
        groups: tuple[tuple[str, ...], ...] = ()
    else:
        splits = ()
        groups = tuple(tuple(str(c) for c in group) for group in optimal.splits)
        # optbinning leaves out categories it saw too rarely to place: they count as unseen.
    woe = [*map(float, regular["WoE"]), float(missing["WoE"]), 0.0]
    counts = [*map(int, regular["Count"]), int(missing["Count"])]
    rates = [*map(float, regular["Event rate"]), float(missing["Event rate"])]
    return VariableBins(
        name,
        kind,
        splits,
        groups,
        tuple(woe),
        tuple(counts),
        tuple(rates),
        float(optimal.binning_table.iv),
    )


def fit_binning(
    data: CreditData,
    config: BinningConfig | None = None,
    sample_weight: np.ndarray | None = None,
) -> list[VariableBins]:
    """Bin every input of ``data`` with optbinning and keep those informative enough.

    Parameters
    ----------
    data : CreditData
        Training applicants.
    config : BinningConfig, optional
        Trends, bin sizes and the information-value floor.
    sample_weight : numpy.ndarray of shape (n_applicants,), optional
        Weight of each applicant in the bins' counts (reweighing for fairness).

    Returns
    -------
    list of VariableBins
        In the order of ``data.features``'s columns, variables below
        ``config.min_information_value`` left out.

    Raises
    ------
    DataError
        No variable reaches the information-value floor.
    """
    from optbinning import BinningProcess  # imported here: ortools takes a second to load

    config = config or BinningConfig()
    unknown = set(config.trends) - set(data.features.columns)
    if unknown:
        raise ParameterError(f"trends name variables that are not inputs: {sorted(unknown)}")
    names = list(data.features.columns)
    categorical = [n for n in names if data.kinds[n] is FeatureKind.CATEGORICAL]
    fit_params = {
        name: {"monotonic_trend": config.trends.get(name, config.trend).optbinning}
        for name in names
        if data.kinds[name] is FeatureKind.NUMERIC
    }
    process = BinningProcess(
        names,
        categorical_variables=categorical,
        min_bin_size=config.min_bin_share,
        max_n_bins=config.max_bins,
        binning_fit_params=fit_params,
    )
    frame = data.features.copy()
    for name in categorical:
        # optbinning compares categories as strings: a missing value must stay NaN, not None.
        frame[name] = frame[name].astype(object).where(frame[name].notna(), np.nan)
    with warnings.catch_warnings():
        # optbinning and ortools warn about solver internals a user cannot act on.
        warnings.simplefilter("ignore")
        process.fit(frame, data.bad.astype(np.int64), sample_weight=sample_weight)
    bins = [
        _from_optbinning(name, data.kinds[name], process.get_binned_variable(name))
        for name in names
    ]
    kept = [b for b in bins if b.information_value >= config.min_information_value]
    if not kept:
        best = max(bins, key=lambda b: b.information_value)
        raise DataError(
            f"no variable reaches the information value {config.min_information_value} "
            f"(best: {best.name!r} with {best.information_value:.4f})",
            file=data.source,
        )
    return kept


def woe_matrix(bins: list[VariableBins], features: pd.DataFrame) -> np.ndarray:
    """WoE of every applicant and variable, shape (n_applicants, len(bins))."""
    missing = [b.name for b in bins if b.name not in features.columns]
    if missing:
        raise DataError(f"the applicants lack the model's variables {missing}")
    if not bins:
        return np.empty((len(features), 0))
    return np.column_stack([b.woe_of(features[b.name].to_numpy()) for b in bins])
