"""Derived ratio inputs: parsing, checks and values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import FeatureKind
from fintwin.credit.ratios import Ratio, add_ratios
from fintwin.exceptions import ParameterError

KINDS = {
    "amount": FeatureKind.NUMERIC,
    "months": FeatureKind.NUMERIC,
    "job": FeatureKind.CATEGORICAL,
}


def applicants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1200.0, 500.0, np.nan, 300.0],
            "months": [12.0, 0.0, 6.0, np.nan],
            "job": ["a", "b", None, "a"],
        }
    )


def test_values_and_missing() -> None:
    features, kinds = add_ratios(applicants(), KINDS, [Ratio.parse("monthly=amount/months")])
    # A zero denominator and a missing operand are missing, never inf.
    np.testing.assert_array_equal(features["monthly"], [100.0, np.nan, np.nan, np.nan])
    assert kinds["monthly"] is FeatureKind.NUMERIC
    assert list(features.columns) == ["amount", "months", "job", "monthly"]
    assert "monthly" not in applicants().columns  # the input frame is not changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monthly=amount/months", Ratio("monthly", "amount", "months")),
        ("  monthly payment = amount / months ", Ratio("monthly payment", "amount", "months")),
    ],
)
def test_parse(text: str, expected: Ratio) -> None:
    assert Ratio.parse(text) == expected
    assert Ratio.parse(str(expected)) == expected


@pytest.mark.parametrize(
    "text", ["monthly", "monthly=amount", "=amount/months", "a=b/c/d", "a=b=c/d"]
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ParameterError, match="a ratio is NAME=NUMERATOR/DENOMINATOR"):
        Ratio.parse(text)


@pytest.mark.parametrize(
    ("ratio", "message"),
    [
        (Ratio("r", "job", "months"), "ratio r=job/months: the numerator 'job' must be a numeric"),
        (Ratio("r", "amount", "income"), "the denominator 'income' must be a numeric input"),
        (Ratio("amount", "amount", "months"), "'amount' is already an input's name"),
    ],
)
def test_refuses_wrong_inputs(ratio: Ratio, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        add_ratios(applicants(), KINDS, [ratio])
