"""The business case of alternative data, measured on the twin's applicants.

Two versions of each model are fitted on the same approved, observed loans of the earlier part
of a world: one that sees the application and the bureau file only, one that also sees
alternative data (payment inflows and outflows, bill punctuality, e-commerce activity, phone
tenure). Each is then run over the whole later flow of applicants at a cut-off chosen so that
its expected bad rate among approvals equals the same target (by default the bad rate the
historical policy had). The question the documents ask is answered by one column: how many
thin-file applicants, invisible to the bureau, each version can approve at that risk. The twin
also knows what every applicant would have done, so the realised bad rate of each approved set
is reported next to the expected one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from fintwin.credit.challenger import Challenger, ChallengerConfig
from fintwin.credit.cutoff import cutoff_for_bad_rate
from fintwin.credit.metrics import credit_metrics
from fintwin.credit.scorecard import Scorecard, ScorecardConfig
from fintwin.credit.twin import (
    ALTERNATIVE_FEATURES,
    APPLICATION_FEATURES,
    BUREAU_FEATURES,
    TwinApplications,
)
from fintwin.credit.validation import ModelKind
from fintwin.exceptions import ParameterError

__all__ = ["DATA_VERSIONS", "alternative_data_value", "time_split"]

#: The two views of an applicant compared.
DATA_VERSIONS = {
    "bureau_only": APPLICATION_FEATURES + BUREAU_FEATURES,
    "with_alternative_data": APPLICATION_FEATURES + BUREAU_FEATURES + ALTERNATIVE_FEATURES,
}


def time_split(applications: TwinApplications, train_share: float) -> int:
    """Index of the first application of the later (evaluation) part."""
    if not 0 < train_share < 1:
        raise ParameterError(f"train_share must be in (0, 1) (got {train_share})")
    return round(len(applications.frame) * train_share)


def _fitters(
    scorecard: ScorecardConfig, challenger: ChallengerConfig
) -> dict[ModelKind, Callable[..., Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]]]:
    """Per model kind: fit on data, return a function giving (safety score, bad rate)."""

    def fit_scorecard(data):  # type: ignore[no-untyped-def]
        model = Scorecard.fit(data, scorecard)
        return lambda x: (model.score(x), model.predicted_bad_rate(x))

    def fit_challenger(data):  # type: ignore[no-untyped-def]
        # the bureau-only view lacks some constrained inputs: keep the constraints it has
        kept = {k: v for k, v in challenger.monotone.items() if k in data.kinds}
        model = Challenger.fit(data, replace(challenger, monotone=kept))
        return lambda x: (-(p := model.predicted_bad_rate(x)), p)

    return {ModelKind.SCORECARD: fit_scorecard, ModelKind.CHALLENGER: fit_challenger}


def alternative_data_value(
    applications: TwinApplications,
    true_bad: np.ndarray,
    *,
    train_share: float = 0.7,
    max_bad_rate: float | None = None,
    scorecard: ScorecardConfig | None = None,
    challenger: ChallengerConfig | None = None,
) -> pd.DataFrame:
    """Bureau-only against with-alternative-data models, at the same expected bad rate.

    Parameters
    ----------
    applications : TwinApplications
    true_bad : numpy.ndarray of shape (n_applications,)
        What each applicant would have done if approved (:func:`~.twin.true_outcomes`); used
        only for the realised bad rate and the through-the-door AUC.
    train_share : float
        Earliest share of applications to fit on (their approved, observed loans).
    max_bad_rate : float, optional
        Target expected bad rate among approvals; default the historical policy's observed
        bad rate in the training part.
    scorecard, challenger : optional
        Model settings.

    Returns
    -------
    pandas.DataFrame
        One row per model kind and data version: ``model``, ``data``, ``auc`` (all later
        applicants, true outcomes), ``cutoff``, ``approval_rate``,
        ``thin_file_approval_rate``, ``expected_bad_rate``, ``realised_bad_rate``, and the
        ``target_bad_rate``.
    """
    frame = applications.frame
    split = time_split(applications, train_share)
    observed = frame["bad"].notna().to_numpy()
    train_rows = np.flatnonzero(observed[:split])
    later = np.arange(split, len(frame))
    if max_bad_rate is None:
        max_bad_rate = float(frame["bad"].to_numpy()[train_rows].mean())
    thin = frame["thin_file"].to_numpy(dtype=bool)[later]
    truth_later = np.asarray(true_bad, dtype=float)[later]
    fitters = _fitters(scorecard or ScorecardConfig(), challenger or ChallengerConfig())
    rows = []
    for kind, fit in fitters.items():
        for version, features in DATA_VERSIONS.items():
            predict = fit(applications.credit_data(features, train_rows))
            test = applications.credit_data(features, later, bad=true_bad)
            safety, bad_rate = predict(test.features)
            choice = cutoff_for_bad_rate(safety, bad_rate, max_bad_rate)
            approved = safety >= choice.cutoff
            rows.append(
                {
                    "model": kind.value,
                    "data": version,
                    "auc": credit_metrics(test.bad, bad_rate).auc,
                    "target_bad_rate": max_bad_rate,
                    "cutoff": choice.cutoff,
                    "approval_rate": choice.approval_rate,
                    "thin_file_approval_rate": float(approved[thin].mean()) if thin.any() else 0.0,
                    "expected_bad_rate": choice.expected_bad_rate,
                    "realised_bad_rate": float(truth_later[approved].mean())
                    if approved.any()
                    else float("nan"),
                }
            )
    return pd.DataFrame(rows)
