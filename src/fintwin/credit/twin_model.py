"""A credit model trained on the twin, and pre-played over its flow of applicants.

The model is fitted on the approved, observed loans of the earlier part of the world (the data
a real lender has) and evaluated on the later part. The twin then adds what no real lender can
measure: the new policy and the historical one run over *every* later applicant, declined
ones included, with their realised bad rates from the world's ground truth; and the value of
alternative data (:mod:`.alternative_data`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fintwin.credit.alternative_data import DATA_VERSIONS, alternative_data_value, time_split
from fintwin.credit.challenger import LeafModel, RiskDirection
from fintwin.credit.cutoff import compare_policies
from fintwin.credit.model import CreditModel, TrainingOptions, train_credit_model
from fintwin.credit.twin import true_outcomes, twin_applications
from fintwin.data.world_dir import World

__all__ = ["TWIN_MONOTONE", "TWIN_REASON_TEXTS", "train_on_twin"]

#: Where the business expects risk to move one way (the challenger's monotone constraints).
TWIN_MONOTONE = {
    "bureau_score": RiskDirection.FALLS,
    "bureau_delinquencies_24m": RiskDirection.RISES,
    "bureau_utilisation": RiskDirection.RISES,
    "bill_on_time_share": RiskDirection.FALLS,
    "payment_inflow_cv": RiskDirection.RISES,
    "income": RiskDirection.FALLS,
}

#: Decline-letter wording per input ({bin}: the applicant's bin).
TWIN_REASON_TEXTS = {
    "product": "Type of credit requested ({bin})",
    "requested_amount": "Amount requested ({bin})",
    "term_months": "Term requested, months ({bin})",
    "income": "Income stated on the application ({bin})",
    "bureau_score": "Credit bureau score ({bin})",
    "bureau_open_lines": "Number of open credit lines ({bin})",
    "bureau_delinquencies_24m": "Delinquencies in the last 24 months ({bin})",
    "bureau_utilisation": "Use of revolving credit limits ({bin})",
    "bureau_history_months": "Length of credit history, months ({bin})",
    "tenure_months": "Time as our customer, months ({bin})",
    "payment_inflow_mean": "Monthly money received ({bin})",
    "payment_inflow_cv": "Irregular monthly income ({bin})",
    "payment_outflow_mean": "Monthly money spent ({bin})",
    "payment_outflow_cv": "Irregular monthly spending ({bin})",
    "bill_on_time_share": "Share of bills paid on time ({bin})",
    "ecommerce_orders_per_month": "Online purchase activity ({bin})",
    "phone_tenure_months": "Time with the same phone number, months ({bin})",
}

#: Inputs that are proxies of a protected attribute in the twin: segments include students
#: and retirees (age).
TWIN_REASON_EXCLUDE = ("segment",)


def train_on_twin(
    world: World,
    options: TrainingOptions | None = None,
    *,
    train_share: float = 0.7,
    alternative_data: bool = True,
) -> CreditModel:
    """Train on the world's observed loans, then pre-play the policy over all its applicants.

    Parameters
    ----------
    world : World
    options : TrainingOptions, optional
        ``test_rows``, ``exposure``, reason settings and the challenger's monotone constraints
        are set here (the twin's defaults, unless the options already carry constraints).
    train_share : float
        Earliest share of applications used for fitting.
    alternative_data : bool
        Also compare bureau-only and with-alternative-data models (four more fits).

    Returns
    -------
    CreditModel
        Its record gains ``policy_comparison`` and, if asked, ``alternative_data``.
    """
    options = options or TrainingOptions()
    applications = twin_applications(world)
    frame = applications.frame
    split = time_split(applications, train_share)
    observed = np.flatnonzero(frame["bad"].notna().to_numpy())
    features = DATA_VERSIONS["with_alternative_data"]
    data = applications.credit_data(features, observed)
    challenger = options.challenger
    if not challenger.monotone:
        # The business's constraints hold for constant leaves only (see LeafModel).
        challenger = replace(challenger, monotone=TWIN_MONOTONE, leaves=LeafModel.CONSTANT)
    options = replace(
        options,
        test_rows=np.flatnonzero(observed >= split),
        exposure=frame["exposure"].to_numpy()[observed],
        reason_texts={**TWIN_REASON_TEXTS, **options.reason_texts},
        reason_exclude=(*options.reason_exclude, *TWIN_REASON_EXCLUDE),
        challenger=challenger,
    )
    model = train_credit_model(data, options)

    truth = true_outcomes(world, applications)
    later = np.arange(split, len(frame))
    flow = applications.credit_data(features, later, bad=truth)
    approved = model.scorecard.score(flow.features) >= model.cutoff
    comparison = compare_policies(
        frame["historical_approved"].to_numpy()[later],
        approved,
        model.scorecard.predicted_bad_rate(flow.features),
        frame["exposure"].to_numpy()[later],
        economics=options.economics,
        bad=flow.bad,
        names=("historical", "new"),
    )
    model.record["policy_comparison"] = {
        "applications": len(later),
        "thin_file_share": float(frame["thin_file"].to_numpy()[later].mean()),
        "policies": comparison.reset_index().to_dict("records"),
        "note": "Over every later applicant, declined ones included; observed_bad_rate is "
        "the realised bad rate from the world's ground truth.",
    }
    if alternative_data:
        model.record["alternative_data"] = alternative_data_value(
            applications,
            truth,
            train_share=train_share,
            scorecard=options.scorecard,
            challenger=options.challenger,
        ).to_dict("records")
    return model
