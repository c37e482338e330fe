"""The institution's historical credit policy: the rules that decided the twin's past loan
applications, and so which outcomes were ever observed.

Rules (version ``PolicyParams.version``):

- **Applicants with a bureau file** are approved when ``bureau_score >= min_bureau_score`` and
  ``bureau_delinquencies_24m <= max_delinquencies``; the amount granted is the amount asked,
  capped at ``income_cap[product]`` times the annual income.
- **Thin-file applicants** (no bureau record) are approved only for small requests (at most
  ``thin_file_max_amount``) and only when they have banked with the institution for at least
  ``thin_file_min_tenure_months``: most are declined, the rest get small amounts. The policy
  does not look at alternative data, which is what a new model can add.
- An approval whose capped amount would be below 50 currency units is a decline.
- **Price**: the quarter's policy rate plus the product's margin plus a risk margin:
  ``score_margin_per_point`` per bureau point below ``score_margin_reference``, or
  ``thin_file_margin`` for a thin file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fintwin._validation import check_non_negative, check_positive
from fintwin.data.schemas.economy import Decision, LoanProduct
from fintwin.data.schemas.vocab import labels
from fintwin.exceptions import ParameterError

__all__ = ["PolicyDecision", "PolicyParams", "historical_policy"]

_MIN_GRANT = 50.0


@dataclass(frozen=True)
class PolicyParams:
    """The historical approval and pricing rules (see the module docstring).

    Parameters
    ----------
    version : str
        Name recorded in ``loan_applications.policy_version``.
    min_bureau_score : int
        Score cut-off for bureau applicants (600).
    max_delinquencies : int
        Most delinquencies in 24 months still approved (2).
    income_cap : tuple of 4 float
        Largest amount granted as a share of annual income, per product in
        :class:`LoanProduct` order (personal 0.5, card line 0.2, SME working capital 0.8,
        microloan 0.1).
    thin_file_min_tenure_months : int
        Months of relationship a thin-file applicant needs (24).
    thin_file_max_amount : float
        Largest request granted to a thin-file applicant (1,500 currency units).
    product_margin : tuple of 4 float
        Margin over the policy rate per product (% per year: 3, 12, 4, 8).
    score_margin_per_point : float
        Risk margin per bureau point below the reference (0.04 % per year).
    score_margin_reference : int
        Score from which no risk margin is charged (800).
    thin_file_margin : float
        Risk margin of a thin file (10 % per year).
    """

    version: str = "bureau-cutoff-v1"
    min_bureau_score: int = 600
    max_delinquencies: int = 2
    income_cap: tuple[float, ...] = (0.5, 0.2, 0.8, 0.1)
    thin_file_min_tenure_months: int = 24
    thin_file_max_amount: float = 1_500.0
    product_margin: tuple[float, ...] = (3.0, 12.0, 4.0, 8.0)
    score_margin_per_point: float = 0.04
    score_margin_reference: int = 800
    thin_file_margin: float = 10.0

    def __post_init__(self) -> None:
        if not self.version:
            raise ParameterError("version must be a non-empty name (got '')")
        k = len(LoanProduct)
        for name in ("income_cap", "product_margin"):
            value = getattr(self, name)
            if len(value) != k or min(value) < 0:
                raise ParameterError(f"{name} must have {k} non-negative entries (got {value!r})")
        for name in (
            "max_delinquencies",
            "thin_file_min_tenure_months",
            "score_margin_per_point",
            "thin_file_margin",
        ):
            check_non_negative(name, getattr(self, name))
        check_positive("thin_file_max_amount", self.thin_file_max_amount)


@dataclass(frozen=True)
class PolicyDecision:
    """Decisions on ``m`` applications, shape (m,) each.

    Attributes
    ----------
    approved : ndarray of bool
    code : ndarray of int32
        Index into ``labels`` (:class:`Decision` order).
    approved_minor : ndarray of int64
        Amount granted in minor units (0 when declined).
    interest_rate : ndarray of float
        Annual rate offered, % (NaN when declined).
    labels : list of str
    """

    approved: np.ndarray
    code: np.ndarray
    approved_minor: np.ndarray
    interest_rate: np.ndarray
    labels: list[str]


def historical_policy(
    params: PolicyParams,
    *,
    product: np.ndarray,
    requested: np.ndarray,
    income: np.ndarray,
    thin_file: np.ndarray,
    bureau_score: np.ndarray,
    delinquencies: np.ndarray,
    tenure_months: np.ndarray,
    policy_rate: np.ndarray,
) -> PolicyDecision:
    """Apply the historical policy to ``m`` applications.

    Parameters
    ----------
    params : PolicyParams
    product : ndarray of int, shape (m,)
        Codes in :class:`LoanProduct` order.
    requested, income : ndarray of float, shape (m,)
        Amount asked and annual income, currency units.
    thin_file : ndarray of bool, shape (m,)
    bureau_score, delinquencies : ndarray of int, shape (m,)
        Bureau values (ignored where ``thin_file``).
    tenure_months : ndarray of int, shape (m,)
    policy_rate : ndarray of float, shape (m,)
        Policy rate of the application's quarter, % per year.

    Returns
    -------
    PolicyDecision

    Examples
    --------
    >>> d = historical_policy(PolicyParams(), product=np.array([0, 0, 3]),
    ...     requested=np.array([25000.0, 5000.0, 1000.0]), income=np.full(3, 40000.0),
    ...     thin_file=np.array([False, False, True]), bureau_score=np.array([700, 550, 0]),
    ...     delinquencies=np.zeros(3, int), tenure_months=np.array([5, 5, 30]),
    ...     policy_rate=np.full(3, 2.0))
    >>> d.approved.tolist(), (d.approved_minor // 100).tolist()
    ([True, False, True], [20000, 0, 1000])
    """
    p = params
    cap = np.asarray(p.income_cap)[product] * income
    bureau_ok = (bureau_score >= p.min_bureau_score) & (delinquencies <= p.max_delinquencies)
    thin_ok = tenure_months >= p.thin_file_min_tenure_months
    thin_ok = thin_ok & (requested <= p.thin_file_max_amount)
    amount = np.where(
        thin_file, requested, np.minimum(requested, np.floor(cap / _MIN_GRANT) * _MIN_GRANT)
    )
    approved = np.where(thin_file, thin_ok, bureau_ok) & (amount >= _MIN_GRANT)
    risk_margin = np.where(
        thin_file,
        p.thin_file_margin,
        p.score_margin_per_point * np.maximum(0, p.score_margin_reference - bureau_score),
    )
    rate = np.round(policy_rate + np.asarray(p.product_margin)[product] + risk_margin, 2)
    decision_labels = labels(Decision)
    code = np.where(
        approved,
        decision_labels.index(Decision.APPROVED),
        decision_labels.index(Decision.DECLINED),
    ).astype(np.int32)
    return PolicyDecision(
        approved=approved,
        code=code,
        approved_minor=np.where(approved, np.round(amount * 100), 0).astype(np.int64),
        interest_rate=np.where(approved, rate, np.nan),
        labels=decision_labels,
    )
