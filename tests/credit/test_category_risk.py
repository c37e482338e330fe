"""Categorical inputs as smoothed log-odds of bad."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.category_risk import MISSING_CATEGORY, CategoryRisk
from fintwin.exceptions import ParameterError


def test_values_by_hand() -> None:
    # 10 applicants, 3 bad (rate 0.3): A has 1 bad of 4, B 2 of 4, missing 0 of 2.
    frame = pd.DataFrame({"c": ["A"] * 4 + ["B"] * 4 + [None, np.nan]})
    bad = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    risk = CategoryRisk.fit(frame, bad, prior_weight=2.0)

    def expected(bads: int, n: int) -> float:
        rate = (bads + 2.0 * 0.3) / (n + 2.0)
        return math.log(rate / (1 - rate)) - math.log(0.3 / 0.7)

    values = risk.values["c"]
    assert values["A"] == pytest.approx(expected(1, 4), rel=1e-12)
    assert values["B"] == pytest.approx(expected(2, 4), rel=1e-12)
    assert values[MISSING_CATEGORY] == pytest.approx(expected(0, 2), rel=1e-12)
    assert values["B"] > 0 > values["A"] > values[MISSING_CATEGORY]

    scored = risk.transform(pd.DataFrame({"c": ["B", None, "never seen", "A"]}))
    np.testing.assert_array_equal(
        scored["c"].to_numpy(), [values["B"], values[MISSING_CATEGORY], 0.0, values["A"]]
    )


def test_unseen_and_untrained_missing_are_average() -> None:
    risk = CategoryRisk.fit(pd.DataFrame({"c": ["A", "B", "A", "B"]}), np.array([1, 0, 0, 0]))
    scored = risk.transform(pd.DataFrame({"c": [None, "Z"]}))
    assert scored["c"].tolist() == [0.0, 0.0]


def test_json_round_trip() -> None:
    risk = CategoryRisk.fit(pd.DataFrame({"c": ["A", "B", None]}), np.array([1, 0, 0]))
    assert CategoryRisk.from_json(risk.to_json()) == risk


@pytest.mark.parametrize(
    ("bad", "prior", "message"),
    [
        (np.array([0, 0]), 10.0, "both goods and bads"),
        (np.array([1, 0]), 0.0, "prior_weight must be > 0"),
    ],
)
def test_refuses(bad: np.ndarray, prior: float, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        CategoryRisk.fit(pd.DataFrame({"c": ["A", "B"]}), bad, prior_weight=prior)
