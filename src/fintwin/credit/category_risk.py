"""Categorical inputs as numbers: each category's smoothed log-odds of bad.

The challenger gives LightGBM numbers only. A category becomes the log-odds of bad among
training applicants in it, shrunk towards the overall rate by ``prior_weight`` pseudo-applicants
(an empirical-Bayes estimate, as in LightGBM's own ``cat_smooth``), minus the overall log-odds:
0 is an average risk, positive is riskier. A linear leaf can then weigh a category like a
scorecard weighs its WoE (this is minus the WoE, smoothed). Missing is a category of its own
when training had it; a category never seen in training, or missing when training had none,
is 0: the average risk, never a NaN. (A category literally named ``<missing>`` shares missing's
value.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fintwin.exceptions import ParameterError

__all__ = ["MISSING_CATEGORY", "CategoryRisk"]

#: The key under which missing values are kept.
MISSING_CATEGORY = "<missing>"


@dataclass(frozen=True)
class CategoryRisk:
    """Smoothed log-odds of bad per category of each categorical input.

    Attributes
    ----------
    values : mapping of str to mapping of str to float
        Per input, per category (missing under :data:`MISSING_CATEGORY`): log-odds of bad
        minus the overall log-odds.
    prior_weight : float
        Pseudo-applicants at the overall rate added to each category.
    """

    values: Mapping[str, Mapping[str, float]]
    prior_weight: float

    @classmethod
    def fit(
        cls, categories: pd.DataFrame, bad: np.ndarray, *, prior_weight: float = 10.0
    ) -> CategoryRisk:
        """Learn the values from training applicants.

        Parameters
        ----------
        categories : pandas.DataFrame of shape (n_applicants, n_categorical)
            Categorical inputs only (strings; None or NaN = missing).
        bad : numpy.ndarray of shape (n_applicants,), bool
        prior_weight : float
            Must be > 0.
        """
        if not prior_weight > 0:
            raise ParameterError(f"prior_weight must be > 0 (got {prior_weight})")
        bad = np.asarray(bad, dtype=bool)
        rate = float(bad.mean())
        if not 0 < rate < 1:
            raise ParameterError("the training applicants must hold both goods and bads")
        overall = np.log(rate / (1 - rate))
        values = {}
        for name in categories.columns:
            keys = _keys(categories[name])
            counts = (
                pd.DataFrame({"key": keys, "bad": bad}).groupby("key")["bad"].agg(["sum", "count"])
            )
            smoothed = (counts["sum"] + prior_weight * rate) / (counts["count"] + prior_weight)
            log_odds = np.log(smoothed / (1 - smoothed)) - overall
            values[name] = {str(k): float(v) for k, v in log_odds.items()}
        return cls(values, float(prior_weight))

    def transform(self, categories: pd.DataFrame) -> pd.DataFrame:
        """The values of each applicant's categories, float64, same shape as ``categories``."""
        return pd.DataFrame(
            {
                name: pd.Series(_keys(categories[name]))
                .map(self.values[name])
                .fillna(0.0)
                .to_numpy(dtype=np.float64)
                for name in self.values
            },
            index=categories.index,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "values": {k: dict(v) for k, v in self.values.items()},
            "prior_weight": self.prior_weight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CategoryRisk:
        return cls({k: dict(v) for k, v in data["values"].items()}, float(data["prior_weight"]))


def _keys(column: pd.Series) -> np.ndarray:
    return np.array(
        [MISSING_CATEGORY if pd.isna(v) else str(v) for v in column.to_numpy(dtype=object)],
        dtype=object,
    )
