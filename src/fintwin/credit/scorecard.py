"""The WoE logistic scorecard: bins, coefficients and points, readable and exportable.

A scorecard is fitted in three steps: optimal binning of every input (:mod:`.binning`), a
logistic regression of the bad flag on the bins' weights of evidence, then points scaling.
Variables whose coefficient comes out with the wrong sign (a variable that would score
*safer* applicants lower, which happens when inputs are collinear) are dropped one at a time
and the regression refitted, as credit modellers do, so every variable's points move the way
its bad rate does.

Points scaling (:class:`PointsScaling`): with ``factor = points_to_double_odds / ln 2`` and
``offset = base_score - factor * ln(base_odds)``, an applicant's score is
``offset + factor * ln(odds of good)``. Each variable receives an equal share of the offset and
the intercept, so the score is the sum of one number of points per variable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fintwin._files import write_atomic
from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.credit.binning import BinningConfig, VariableBins, fit_binning, woe_matrix
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "PointsScaling",
    "Reason",
    "Scorecard",
    "ScorecardConfig",
]

FORMAT = "fintwin-scorecard/1"


@dataclass(frozen=True)
class PointsScaling:
    """How log-odds become points.

    Attributes
    ----------
    base_score : float
        Score at which the odds of good to bad equal ``base_odds``.
    base_odds : float
        Odds good:bad at ``base_score`` (50 means 50 goods per bad).
    points_to_double_odds : float
        Points added when the odds of good double (PDO).

    Examples
    --------
    >>> scaling = PointsScaling(base_score=600, base_odds=50, points_to_double_odds=20)
    >>> round(float(scaling.score(math.log(100))), 6)  # odds doubled: 20 points more
    620.0
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    points_to_double_odds: float = 20.0

    def __post_init__(self) -> None:
        if not self.base_odds > 0:
            raise ParameterError(f"base_odds must be > 0 (got {self.base_odds})")
        if not self.points_to_double_odds > 0:
            raise ParameterError(
                f"points_to_double_odds must be > 0 (got {self.points_to_double_odds})"
            )

    @property
    def factor(self) -> float:
        """Points per unit of log-odds."""
        return self.points_to_double_odds / math.log(2)

    @property
    def offset(self) -> float:
        """Score at even odds (log-odds 0)."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, log_odds_good: np.ndarray | float) -> np.ndarray | float:
        """Points for a log-odds of good to bad."""
        return self.offset + self.factor * np.asarray(log_odds_good)

    def bad_rate(self, score: np.ndarray | float) -> np.ndarray | float:
        """Probability of bad at a score (the inverse of :meth:`score`)."""
        return 1.0 / (1.0 + np.exp((np.asarray(score) - self.offset) / self.factor))


@dataclass(frozen=True)
class ScorecardConfig:
    """How a scorecard is fitted.

    Attributes
    ----------
    binning : BinningConfig
        Trends and bin sizes.
    regularisation : float
        Inverse L2 strength of the logistic regression (scikit-learn's ``C``). Small data
        (about a thousand applicants) gains from 0.1; large portfolios may raise it.
    scaling : PointsScaling
        Points scaling.
    """

    binning: BinningConfig = field(default_factory=BinningConfig)
    regularisation: float = 0.1
    scaling: PointsScaling = field(default_factory=PointsScaling)

    def __post_init__(self) -> None:
        if not self.regularisation > 0:
            raise ParameterError(f"regularisation must be > 0 (got {self.regularisation})")


@dataclass(frozen=True)
class Reason:
    """One principal reason for a decline: a variable that cost the applicant points.

    Attributes
    ----------
    variable : str
        The variable.
    bin : str
        The applicant's bin.
    points_below_maximum : float
        Points the applicant would have gained in the variable's best bin.
    """

    variable: str
    bin: str
    points_below_maximum: float


def _fit_logistic(
    woe: np.ndarray, bad: np.ndarray, c: float, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(woe, bad.astype(np.int64), sample_weight=sample_weight)
    return model.coef_[0].copy(), float(model.intercept_[0])


class Scorecard:
    """A fitted scorecard.

    Use :meth:`fit` to build one, :meth:`score` and :meth:`explain` to apply it, and
    :meth:`save` / :meth:`load` (JSON) or :meth:`points_table` (CSV) to export it.

    Parameters
    ----------
    variables : sequence of VariableBins
        The binned variables kept in the model.
    coefficients : array-like of shape (n_variables,)
        Logistic-regression coefficients of the WoE (negative: higher WoE, fewer bads).
    intercept : float
        Intercept of the regression (log-odds of bad).
    scaling : PointsScaling
        Points scaling.
    """

    def __init__(
        self,
        variables: Sequence[VariableBins],
        coefficients: Sequence[float] | np.ndarray,
        intercept: float,
        scaling: PointsScaling,
    ) -> None:
        self.variables = tuple(variables)
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        if self.coefficients.shape != (len(self.variables),):
            raise ParameterError(
                f"coefficients must hold one value per variable ({len(self.variables)}), "
                f"got shape {self.coefficients.shape}"
            )
        self.intercept = float(intercept)
        self.scaling = scaling
        k = len(self.variables)
        share = (scaling.offset - scaling.factor * self.intercept) / k
        # points[j][b]: the points of bin b of variable j (Missing and Unseen included).
        self._points = [
            share - scaling.factor * beta * np.asarray(v.woe)
            for v, beta in zip(self.variables, self.coefficients, strict=True)
        ]

    # --- fitting -----------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        data: CreditData,
        config: ScorecardConfig | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Scorecard:
        """Bin, regress, drop wrong-signed variables and scale.

        Parameters
        ----------
        data : CreditData
            Training applicants.
        config : ScorecardConfig, optional
        sample_weight : numpy.ndarray of shape (n_applicants,), optional
            Weight of each applicant in binning and regression (reweighing for fairness).

        Returns
        -------
        Scorecard
        """
        config = config or ScorecardConfig()
        bins = fit_binning(data, config.binning, sample_weight)
        woe = woe_matrix(bins, data.features)
        keep = list(range(len(bins)))
        while True:
            coefficients, intercept = _fit_logistic(
                woe[:, keep], data.bad, config.regularisation, sample_weight
            )
            # WoE is higher for safer bins, so a sound coefficient on it is negative.
            worst = int(np.argmax(coefficients))
            if coefficients[worst] <= 0 or len(keep) == 1:
                break
            del keep[worst]
        return cls([bins[i] for i in keep], coefficients, intercept, config.scaling)

    # --- applying ----------------------------------------------------------------------------

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def _bins(self, features: pd.DataFrame) -> np.ndarray:
        missing = [n for n in self.variable_names if n not in features.columns]
        if missing:
            raise DataError(f"the applicants lack the scorecard's variables {missing}")
        return np.column_stack([v.assign(features[v.name].to_numpy()) for v in self.variables])

    def attribute_points(self, features: pd.DataFrame) -> np.ndarray:
        """Points of every applicant on every variable, shape (n_applicants, n_variables)."""
        bins = self._bins(features)
        return np.column_stack([p[bins[:, j]] for j, p in enumerate(self._points)])

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Total points, shape (n_applicants,); higher is safer."""
        return self.attribute_points(features).sum(axis=1)

    def predicted_bad_rate(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of bad implied by the score, shape (n_applicants,)."""
        return np.asarray(self.scaling.bad_rate(self.score(features)))

    def explain(self, applicant: Mapping[str, Any]) -> pd.DataFrame:
        """Points per attribute for one applicant.

        Parameters
        ----------
        applicant : mapping of str to value
            The applicant's values by variable name; absent variables count as missing.

        Returns
        -------
        pandas.DataFrame
            One row per variable: ``variable``, ``value``, ``bin``, ``points``,
            ``max_points``. Its ``points`` sum to the applicant's score.
        """
        row = pd.DataFrame({v.name: [applicant.get(v.name)] for v in self.variables}).astype(
            {v.name: "float64" for v in self.variables if v.kind is FeatureKind.NUMERIC}
        )
        bins = self._bins(row)[0]
        return pd.DataFrame(
            {
                "variable": self.variable_names,
                "value": [applicant.get(v.name) for v in self.variables],
                "bin": [v.labels()[b] for v, b in zip(self.variables, bins, strict=True)],
                "points": [p[b] for p, b in zip(self._points, bins, strict=True)],
                "max_points": [self._max_points(j) for j in range(len(self.variables))],
            }
        )

    def _max_points(self, j: int) -> float:
        # The best bin a real applicant can be in: regular bins and Missing if it was seen.
        variable, points = self.variables[j], self._points[j]
        reachable = points[: variable.n_bins + (1 if variable.counts[-1] else 0)]
        return float(reachable.max())

    def reasons(
        self, features: pd.DataFrame, *, n: int = 4, exclude: Sequence[str] = ()
    ) -> list[list[Reason]]:
        """Principal reasons per applicant: variables ranked by points below their maximum.

        Parameters
        ----------
        features : pandas.DataFrame of shape (n_applicants, ...)
        n : int
            Most reasons per applicant (US Regulation B practice: four).
        exclude : sequence of str
            Variables never given as reasons (protected attributes and their proxies).

        Returns
        -------
        list of list of Reason
            Per applicant, up to ``n`` reasons with a positive shortfall, largest first.
        """
        if n < 1:
            raise ParameterError(f"n must be >= 1 (got {n})")
        points = self.attribute_points(features)
        maxima = np.array([self._max_points(j) for j in range(len(self.variables))])
        shortfall = maxima[None, :] - points
        allowed = np.array([name not in set(exclude) for name in self.variable_names])
        shortfall[:, ~allowed] = -np.inf
        bins = self._bins(features)
        labels = [v.labels() for v in self.variables]
        out = []
        for i in range(len(features)):
            order = np.argsort(-shortfall[i], kind="stable")[:n]
            out.append(
                [
                    Reason(self.variable_names[j], labels[j][bins[i, j]], float(shortfall[i, j]))
                    for j in order
                    if shortfall[i, j] > 1e-9
                ]
            )
        return out

    # --- export ------------------------------------------------------------------------------

    def points_table(self) -> pd.DataFrame:
        """The scorecard as a table: one row per variable and bin (Missing, Unseen included).

        Columns: ``variable``, ``bin``, ``count``, ``bad_rate``, ``woe``, ``coefficient``,
        ``points``. ``count`` and ``bad_rate`` are the training data's (Unseen: 0 and NaN).
        """
        rows = []
        for v, beta, points in zip(self.variables, self.coefficients, self._points, strict=True):
            for b, label in enumerate(v.labels()):
                seen = b < len(v.counts)
                rows.append(
                    {
                        "variable": v.name,
                        "bin": label,
                        "count": v.counts[b] if seen else 0,
                        "bad_rate": v.bad_rates[b] if seen and v.counts[b] else float("nan"),
                        "woe": v.woe[b],
                        "coefficient": float(beta),
                        "points": float(points[b]),
                    }
                )
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "scaling": {
                "base_score": self.scaling.base_score,
                "base_odds": self.scaling.base_odds,
                "points_to_double_odds": self.scaling.points_to_double_odds,
            },
            "intercept": self.intercept,
            "coefficients": self.coefficients.tolist(),
            "variables": [v.to_json() for v in self.variables],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scorecard:
        if data.get("format") != FORMAT:
            raise DataError(f"not a scorecard in {FORMAT} (format: {data.get('format')!r})")
        try:
            return cls(
                [VariableBins.from_json(v) for v in data["variables"]],
                data["coefficients"],
                data["intercept"],
                PointsScaling(**data["scaling"]),
            )
        except (KeyError, TypeError) as error:
            raise DataError(f"the scorecard is malformed: {error!r}") from None

    def save(self, path: str | Path) -> None:
        """Write the scorecard as JSON (``.json``) or its points table as CSV (``.csv``).

        Written to a temporary file and renamed, so a crash never leaves half a file.
        """
        path = Path(path)
        if path.suffix.lower() == ".csv":
            text = self.points_table().to_csv(index=False)
        else:
            text = json.dumps(self.to_json(), indent=1)
        write_atomic(path, text)

    @classmethod
    def load(cls, path: str | Path) -> Scorecard:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read a scorecard: {error}", file=path) from None
        try:
            return cls.from_json(data)
        except DataError as error:
            raise DataError(str(error), file=path) from None
