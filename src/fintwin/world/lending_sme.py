"""Monthly cash flows of small businesses that ask the twin's institution for credit.

Each business (one per SME applicant) has a monthly revenue level (a multiple of its owner's
income: 4x for an SME owner, 1.8x for the self-employed), a seasonal swing, a trend, and noise;
its costs are a share of revenue. The owner's latent creditworthiness ``z`` shows in all of them:
better businesses grow (trend ``0.8 % z`` a month), keep more of their revenue (cost ratio
``0.92 - 0.05 z``) and are steadier (revenue noise ``15 % exp(-0.3 z)``). Revenue also follows
the economy: ``exp(0.02 s (g - g*))`` with ``s`` the macro sensitivity and ``g`` the quarter's GDP
growth (months before the simulated quarters see potential growth). Balances are exact sums of
the rounded flows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fintwin.data.schemas import money_from_minor
from fintwin.world.macro import MacroPath, quarter_number

__all__ = ["sme_cash_flows"]

_MIN_MONTHS, _MAX_MONTHS = 12, 24


def _month_of(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def sme_cash_flows(
    *,
    customer: np.ndarray,
    application_day: np.ndarray,
    income: np.ndarray,
    sme_owner: np.ndarray,
    creditworthiness: np.ndarray,
    macro_sensitivity: np.ndarray,
    macro: MacroPath,
    rng: np.random.Generator,
    customer_id: np.ndarray,
) -> pa.Table:
    """The ``sme_cash_flows`` table for ``a`` SME applications.

    Every business gets 12 to 24 months of history before its owner's first SME application,
    continued to the month before the last one.

    Parameters
    ----------
    customer : ndarray of int, shape (a,)
        Applicant of each application, as an index into ``customer_id``.
    application_day : ndarray of int, shape (a,)
        Day of each application, days since 1970-01-01.
    income : ndarray of float, shape (a,)
        Owner's annual income, currency units.
    sme_owner : ndarray of bool, shape (a,)
        SME owner (else self-employed).
    creditworthiness, macro_sensitivity : ndarray of float, shape (a,)
        The owner's latent traits.
    macro : MacroPath
    rng : numpy.random.Generator
    customer_id : ndarray of int64, shape (n,)
        Keys of the population.

    Returns
    -------
    pyarrow.Table
        Sorted by customer, then month.
    """
    month_app = _month_of(application_day)
    uniq, first_idx, inv = np.unique(customer, return_index=True, return_inverse=True)
    k = uniq.size
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, inv, month_app)
    np.maximum.at(last, inv, month_app)
    z = creditworthiness[first_idx]
    sens = macro_sensitivity[first_idx]

    history = rng.integers(_MIN_MONTHS, _MAX_MONTHS + 1, k)
    begin = first - history
    count = last - begin
    e = rng.standard_normal((k, 3))
    phase = rng.uniform(0, 2 * np.pi, k)
    amplitude = rng.uniform(0.0, 0.25, k)
    opening = rng.uniform(0.3, 2.0, k)
    base = income[first_idx] / 12 * np.where(sme_owner[first_idx], 4.0, 1.8) * np.exp(0.3 * e[:, 0])
    growth = 0.008 * z + 0.004 * e[:, 1]
    sigma = np.clip(0.15 * np.exp(-0.3 * z), 0.05, 0.5)
    cost_ratio = np.clip(0.92 - 0.05 * z + 0.03 * e[:, 2], 0.6, 1.2)

    row = np.repeat(np.arange(k), count)
    offset = np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)
    month = begin[row] + offset
    month_day = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    qpos = quarter_number(month_day) - macro.first_quarter
    known = (qpos >= 0) & (qpos < macro.size)
    growth_gap = (
        np.where(known, macro.gdp_growth[np.clip(qpos, 0, macro.size - 1)], macro.potential_growth)
        - macro.potential_growth
    )
    noise = rng.standard_normal((row.size, 2))
    s = sigma[row]
    inflow = (
        base[row]
        * (1 + amplitude[row] * np.sin(2 * np.pi * (month % 12) / 12 + phase[row]))
        * np.exp(growth[row] * offset)
        * np.exp(0.02 * sens[row] * growth_gap)
        * np.exp(s * noise[:, 0] - s**2 / 2)
    )
    outflow = inflow * cost_ratio[row] * np.exp(0.06 * noise[:, 1] - 0.0018)
    in_minor = np.round(inflow * 100).astype(np.int64)
    out_minor = np.round(outflow * 100).astype(np.int64)
    net = in_minor - out_minor
    running = np.cumsum(net)
    # Every business has at least 12 months, so each group's first row exists.
    group_start = np.cumsum(count) - count
    before = np.repeat(running[group_start] - net[group_start], count)
    opening_minor = np.round(base * opening * 100).astype(np.int64)
    closing = opening_minor[row] + running - before

    ids = customer_id[uniq][row]
    order = np.lexsort((month, ids))
    return pa.table(
        {
            "customer_id": ids[order].astype(np.int64),
            "month": pa.array(month_day[order].astype(np.int32), pa.date32()),
            "inflow": money_from_minor(in_minor[order]),
            "outflow": money_from_minor(out_minor[order]),
            "closing_balance": money_from_minor(closing[order]),
        }
    )
