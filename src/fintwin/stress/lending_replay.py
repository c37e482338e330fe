"""The twin's lending, replayed: any approval policy and any macro path on the same applicants.

A world records every loan application, the customers' stated data and, in its ground truth,
each applicant's true 12-month probability of default given the macro path that happened
(``loan_truth.pd_12m``) and their sensitivity to the macro cycle. The twin's PD model is (see
:mod:`fintwin.world.lending`)::

    logit PD = ... + s (d_u (u - u*) - d_g (g - g*))

with ``u`` and ``g`` the unemployment and growth averaged over the loan's year. Replacing the
realised averages by a scenario's gives each applicant's PD *under the scenario*, everything
else (creditworthiness, product, burden) as it was: the twin itself, not a proxy of it. The
historical policy (:func:`fintwin.world.lending_policy.historical_policy`) is re-run with any
parameters (cut-off, delinquencies, thin-file rules, limits as income caps) on the same
applicants.

This module reads the world's ground truth: pre-play is what the twin is for. No model is
fitted on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from fintwin.data.schemas.economy import LoanProduct
from fintwin.data.world_dir import World
from fintwin.exceptions import DataError
from fintwin.world.lending import LendingParams
from fintwin.world.lending_policy import PolicyDecision, PolicyParams, historical_policy
from fintwin.world.macro import MacroParams

__all__ = ["LendingBook", "lending_book", "policy_params"]

_EPOCH = dt.date(1970, 1, 1)
_PRODUCTS = [p.value for p in LoanProduct]


def _from_dict(cls: type, values: dict[str, Any]) -> Any:
    """A parameter dataclass from a manifest's dict (lists back to tuples; unknown keys out)."""
    known = {f.name for f in fields(cls)}
    return cls(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
    )


def policy_params(world: World) -> PolicyParams:
    """The historical policy the world was simulated with (from its manifest)."""
    return _lending_params(world).policy


def _lending_params(world: World) -> LendingParams:
    economy = world.manifest.parameters.get("economy")
    if not isinstance(economy, dict) or "lending" not in economy:
        raise DataError("the world's manifest records no lending parameters", file=world.path)
    lending = dict(economy["lending"])
    policy = _from_dict(PolicyParams, lending.pop("policy", {}))
    return _from_dict(LendingParams, {**lending, "policy": policy})


def _macro_params(world: World) -> MacroParams:
    return _from_dict(MacroParams, world.manifest.parameters["economy"].get("macro", {}))


@dataclass(frozen=True)
class LendingBook:
    """Every application of a world with what a replay needs, in application order.

    Attributes
    ----------
    frame : pandas.DataFrame of shape (n_applications, ...)
        ``application_id``, ``product`` (code in :class:`LoanProduct` order), ``requested``,
        ``income``, ``thin_file``, ``bureau_score``, ``delinquencies``, ``tenure_months``,
        ``policy_rate`` (%), ``historical_approved``, ``pd_12m`` (true, given the realised
        macro), ``macro_sensitivity``, ``macro_term`` (the realised macro's part of the logit
        before the sensitivity: ``d_u (u - u*) - d_g (g - g*)``).
    lending : LendingParams
    macro : MacroParams
    """

    frame: pd.DataFrame
    lending: LendingParams
    macro: MacroParams

    def __len__(self) -> int:
        return len(self.frame)

    def replay(self, params: PolicyParams) -> PolicyDecision:
        """Decide every application with ``params`` (amounts in minor units, as recorded)."""
        f = self.frame
        return historical_policy(
            params,
            product=f["product"].to_numpy(),
            requested=f["requested"].to_numpy(),
            income=f["income"].to_numpy(),
            thin_file=f["thin_file"].to_numpy(),
            bureau_score=f["bureau_score"].to_numpy(),
            delinquencies=f["delinquencies"].to_numpy(),
            tenure_months=f["tenure_months"].to_numpy(),
            policy_rate=f["policy_rate"].to_numpy(),
        )

    def approved_loans(self, params: PolicyParams) -> pd.DataFrame:
        """The book ``params`` would have granted, one row per loan.

        Columns: ``application_id``, ``product`` (name), ``pd_12m`` (true, as realised),
        ``ead`` (amount granted, currency units), ``interest_rate`` (% a year, as offered),
        ``term_months``, ``thin_file``, ``row`` (position in :attr:`frame`, for
        :meth:`pd_under`).
        """
        decision = self.replay(params)
        rows = np.flatnonzero(decision.approved)
        f = self.frame.iloc[rows]
        return pd.DataFrame(
            {
                "application_id": f["application_id"].to_numpy(),
                "product": np.asarray(_PRODUCTS)[f["product"].to_numpy()],
                "pd_12m": f["pd_12m"].to_numpy(),
                "ead": decision.approved_minor[rows] / 100.0,
                "interest_rate": decision.interest_rate[rows],
                "term_months": f["term_months"].to_numpy(),
                "thin_file": f["thin_file"].to_numpy(),
                "row": rows,
            }
        )

    def pd_under(self, unemployment: float, gdp_growth: float) -> np.ndarray:
        """Each applicant's 12-month PD if the loan's year had these macro averages.

        Parameters
        ----------
        unemployment, gdp_growth : float
            Averages over the loan's year, % (as in the world's ``macro`` table).

        Returns
        -------
        numpy.ndarray of shape (n_applications,)
        """
        p, m = self.lending, self.macro
        term = p.pd_unemployment * (unemployment - m.natural_unemployment) - p.pd_growth * (
            gdp_growth - m.potential_growth
        )
        pd_true = np.clip(self.frame["pd_12m"].to_numpy(), 1e-12, 1 - 1e-12)
        shift = term - self.frame["macro_term"].to_numpy()
        logit = np.log(pd_true / (1 - pd_true)) + self.frame["macro_sensitivity"].to_numpy() * shift
        return 1.0 / (1.0 + np.exp(-logit))


def lending_book(world: World) -> LendingBook:
    """Read a world's applications, applicants, macro path and lending ground truth."""
    if "loan_applications" not in world.tables or "loan_truth" not in world.truth_tables:
        raise DataError("the world has no loan applications and their truth", file=world.path)
    lending, macro_params = _lending_params(world), _macro_params(world)
    apps = world.frame("loan_applications")
    customers = world.frame("customers", columns=["customer_id", "income", "thin_file"])
    truth = world.truth("loan_truth").to_pandas()[["application_id", "pd_12m", "macro_sensitivity"]]
    frame = apps.merge(customers, on="customer_id", how="left", validate="many_to_one")
    frame = frame.merge(truth, on="application_id", how="left", validate="one_to_one")
    if frame["pd_12m"].isna().any():
        raise DataError("loan_truth lacks some applications", file=world.path)
    frame = frame.sort_values("application_id", kind="stable").reset_index(drop=True)
    day = (
        frame["applied_at"].to_numpy().astype("datetime64[D]").astype(np.int64)
    )  # days since 1970-01-01
    macro = world.frame("macro").sort_values("quarter_start").reset_index(drop=True)
    starts = macro["quarter_start"].to_numpy().astype("datetime64[D]").astype(np.int64)
    position = np.searchsorted(starts, day, side="right") - 1
    if (position < 0).any():
        raise DataError("an application predates the macro path", file=world.path)
    # The loan's year: its quarter and the four after it, as the twin's PD model averages.
    window = np.minimum(position[:, None] + np.arange(5), len(macro) - 1)
    u_gap = macro["unemployment"].to_numpy()[window].mean(axis=1) - (
        macro_params.natural_unemployment
    )
    g_gap = macro["gdp_growth"].to_numpy()[window].mean(axis=1) - macro_params.potential_growth
    out = pd.DataFrame(
        {
            "application_id": frame["application_id"].to_numpy(),
            "product": pd.Categorical(frame["product"].astype(str), _PRODUCTS).codes.astype(
                np.int64
            ),
            "requested": frame["requested_amount"].astype(float).to_numpy(),
            "income": frame["income"].astype(float).to_numpy(),
            "thin_file": frame["thin_file"].astype(bool).to_numpy(),
            "bureau_score": frame["bureau_score"].fillna(0).astype(np.int64).to_numpy(),
            "delinquencies": frame["bureau_delinquencies_24m"]
            .fillna(0)
            .astype(np.int64)
            .to_numpy(),
            "tenure_months": frame["tenure_months"].astype(np.int64).to_numpy(),
            "term_months": frame["term_months"].astype(np.int64).to_numpy(),
            "policy_rate": macro["policy_rate"].to_numpy()[position],
            "historical_approved": (frame["decision"].astype(str) == "approved").to_numpy(),
            "pd_12m": frame["pd_12m"].astype(float).to_numpy(),
            "macro_sensitivity": frame["macro_sensitivity"].astype(float).to_numpy(),
            "macro_term": lending.pd_unemployment * u_gap - lending.pd_growth * g_gap,
        }
    )
    return LendingBook(out, lending, macro_params)
