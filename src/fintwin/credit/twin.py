"""The twin's loan applications as credit data: inputs, outcomes, protected attributes.

A world's ``loan_applications`` table holds what the institution saw of every applicant
(the application, the bureau file when there is one, alternative data when there is some) and
the historical policy's decision; outcomes are observed for approved loans only, as in a real
portfolio. The customers table adds what an application form states (income, occupation
segment) and the protected attributes (sex, age), which are kept for the audit only.

Because the twin knows what every declined applicant would have done (``truth/loan_truth``),
it can score a policy on the whole flow of applicants, not only on those the old policy let
in. That ground truth is read only through :func:`true_outcomes`, explicitly, and only to
evaluate; no model is ever fitted on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fintwin.credit.applications import CreditData, FeatureKind, normalise_features
from fintwin.credit.fairness import age_band
from fintwin.data.world_dir import World
from fintwin.exceptions import DataError

__all__ = [
    "ALTERNATIVE_FEATURES",
    "APPLICATION_FEATURES",
    "BUREAU_FEATURES",
    "TWIN_PROTECTED",
    "TwinApplications",
    "true_outcomes",
    "twin_applications",
]

APPLICATION_FEATURES = ("product", "requested_amount", "term_months", "income", "segment")
BUREAU_FEATURES = (
    "bureau_score",
    "bureau_open_lines",
    "bureau_delinquencies_24m",
    "bureau_utilisation",
    "bureau_history_months",
    "tenure_months",
)
ALTERNATIVE_FEATURES = (
    "payment_inflow_mean",
    "payment_inflow_cv",
    "payment_outflow_mean",
    "payment_outflow_cv",
    "bill_on_time_share",
    "ecommerce_orders_per_month",
    "phone_tenure_months",
)
TWIN_PROTECTED = ("sex", "age_band")

_CATEGORICAL = {"product", "segment"}


@dataclass(frozen=True)
class TwinApplications:
    """Every application of a world, in time order.

    Attributes
    ----------
    frame : pandas.DataFrame of shape (n_applications, ...)
        ``application_id``, ``applied_at``, the feature columns, ``thin_file``,
        ``historical_approved`` (bool), ``exposure`` (requested amount, currency units),
        ``bad`` (observed outcome: float 1/0, NaN when declined) and the protected columns.
    source : str
        ``world:<directory>``.
    """

    frame: pd.DataFrame
    source: str

    def credit_data(
        self, features: Sequence[str], rows: np.ndarray | None = None, bad: np.ndarray | None = None
    ) -> CreditData:
        """The applications at ``rows`` as :class:`CreditData`.

        Parameters
        ----------
        features : sequence of str
            Model inputs (e.g. ``APPLICATION_FEATURES + BUREAU_FEATURES``).
        rows : numpy.ndarray, optional
            Integer or boolean index; default every application with an observed outcome.
        bad : numpy.ndarray, optional
            Outcomes to use instead of the observed ones (e.g. :func:`true_outcomes`, to
            evaluate on the whole flow), one per application.
        """
        outcome = self.frame["bad"].to_numpy() if bad is None else np.asarray(bad, dtype=float)
        if rows is None:
            rows = np.flatnonzero(~np.isnan(outcome))
        selected = self.frame.iloc[rows].reset_index(drop=True)
        chosen = np.asarray(outcome)[rows]
        if np.isnan(chosen).any():
            raise DataError("some selected applications have no outcome", file=self.source)
        kinds = {
            f: FeatureKind.CATEGORICAL if f in _CATEGORICAL else FeatureKind.NUMERIC
            for f in features
        }
        return CreditData(
            normalise_features(selected[list(features)], kinds),
            chosen.astype(bool),
            selected[list(TWIN_PROTECTED)],
            kinds,
            self.source,
        )


def twin_applications(world: World) -> TwinApplications:
    """Read a world's applications joined with its applicants' stated and protected data."""
    if "loan_applications" not in world.tables:
        raise DataError("the world has no loan_applications table", file=str(world.path))
    applications = world.frame("loan_applications")
    customers = world.frame(
        "customers", columns=["customer_id", "income", "segment", "thin_file", "age", "sex"]
    )
    frame = applications.merge(customers, on="customer_id", how="left", validate="many_to_one")
    frame = frame.sort_values(["applied_at", "application_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["historical_approved"] = (frame["decision"].astype(str) == "approved").to_numpy()
    frame["exposure"] = frame["requested_amount"].astype(float)
    frame["bad"] = frame["default_12m"].astype("float64")
    frame["age_band"] = age_band(frame["age"].astype("float64").to_numpy())
    frame["sex"] = frame["sex"].astype(str)
    for name in _CATEGORICAL:
        frame[name] = frame[name].astype(str)
    return TwinApplications(frame, f"world:{world.path}")


def true_outcomes(world: World, applications: TwinApplications) -> np.ndarray:
    """Whether each application's loan would default if granted as asked (ground truth).

    Returns
    -------
    numpy.ndarray of shape (n_applications,), float 0/1
        In the order of ``applications.frame``.
    """
    truth = world.truth("loan_truth").to_pandas()[["application_id", "default_12m_if_approved"]]
    joined = applications.frame[["application_id"]].merge(
        truth, on="application_id", how="left", validate="one_to_one"
    )
    values = joined["default_12m_if_approved"]
    if values.isna().any():
        raise DataError("loan_truth lacks some applications", file=str(world.path))
    return values.astype("float64").to_numpy()
