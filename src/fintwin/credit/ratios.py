"""Derived inputs: one numeric input divided by another, computed for every applicant.

Credit analysts derive affordability ratios from an application's own fields: the monthly
instalment (amount / duration), debt to income, utilisation. A :class:`Ratio` declares one
(``--ratio NAME=NUMERATOR/DENOMINATOR`` on the command line); a ratio may divide ratios
declared before it. It is a row-wise formula with
nothing learnt from data, so adding it before cross-validation leaks nothing; a trained
model keeps its ratios and derives them again for every applicant it scores, so callers send
the raw fields only. A zero or missing denominator, or a missing numerator, gives a missing
value, which every model bins or routes as missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fintwin.credit.applications import FeatureKind
from fintwin.exceptions import ParameterError

__all__ = ["Ratio", "add_ratios"]

_SYNTAX = re.compile(r"^\s*([^=/]+?)\s*=\s*([^=/]+?)\s*/\s*([^=/]+?)\s*$")


@dataclass(frozen=True)
class Ratio:
    """The derived input ``name = numerator / denominator``.

    Attributes
    ----------
    name : str
        The new input's name.
    numerator, denominator : str
        Numeric inputs of the applications.
    """

    name: str
    numerator: str
    denominator: str

    @classmethod
    def parse(cls, text: str) -> Ratio:
        """Read ``NAME=NUMERATOR/DENOMINATOR`` (names without ``=`` or ``/``).

        >>> Ratio.parse("monthly_payment = credit_amount / duration_in_month")
        Ratio(name='monthly_payment', numerator='credit_amount', denominator='duration_in_month')
        """
        match = _SYNTAX.match(text)
        if match is None:
            raise ParameterError(
                f"a ratio is NAME=NUMERATOR/DENOMINATOR, with names free of '=' and '/' "
                f"(got {text!r})"
            )
        return cls(*match.groups())

    def __str__(self) -> str:
        return f"{self.name}={self.numerator}/{self.denominator}"


def add_ratios(
    features: pd.DataFrame, kinds: Mapping[str, FeatureKind], ratios: Sequence[Ratio]
) -> tuple[pd.DataFrame, dict[str, FeatureKind]]:
    """``features`` with one numeric column more per ratio, and the kinds of all columns.

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_applicants, n_inputs)
        Numeric inputs as float64 (NaN = missing), as :class:`CreditData` holds them.
    kinds : mapping of str to FeatureKind
        The kind of every column of ``features``.
    ratios : sequence of Ratio
        In order: a ratio may use the ones before it.

    Returns
    -------
    (pandas.DataFrame of shape (n_applicants, n_inputs + len(ratios)), dict)

    Raises
    ------
    ParameterError
        A ratio names an input that is not numeric or not there, or takes a name already
        used.
    """
    out = features.copy()
    out_kinds = dict(kinds)
    for ratio in ratios:
        for role, name in (("numerator", ratio.numerator), ("denominator", ratio.denominator)):
            if out_kinds.get(name) is not FeatureKind.NUMERIC:
                numeric = [n for n, k in out_kinds.items() if k is FeatureKind.NUMERIC]
                raise ParameterError(
                    f"ratio {ratio}: the {role} {name!r} must be a numeric input "
                    f"(numeric inputs: {', '.join(numeric) or 'none'})"
                )
        if ratio.name in out_kinds:
            raise ParameterError(f"ratio {ratio}: {ratio.name!r} is already an input's name")
        numerator = out[ratio.numerator].to_numpy(dtype=np.float64)
        denominator = out[ratio.denominator].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(denominator == 0, np.nan, numerator / denominator)
        out[ratio.name] = value
        out_kinds[ratio.name] = FeatureKind.NUMERIC
    return out, out_kinds
