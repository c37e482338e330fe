"""Basel IRB risk-weight functions: capital requirement K, risk weight and risk-weighted assets.

The formulas are those of the Basel II framework (BCBS, *International Convergence of Capital
Measurement and Capital Standards: A Revised Framework, Comprehensive Version*, June 2006;
paragraph numbers below refer to it), kept in Basel III's CRE31 with the same functions::

    K   = [LGD * N((1 - R)^-0.5 * G(PD) + (R / (1 - R))^0.5 * G(0.999)) - PD * LGD] * MA
    RW  = K * 12.5 * scaling_factor          (a fraction of EAD: 1.0 is a 100 % risk weight)
    RWA = RW * EAD

where N is the standard normal distribution function, G its inverse, and

* corporate, sovereign and bank exposures (para 272)::

      R  = 0.12 * (1 - e^(-50 PD)) / (1 - e^-50) + 0.24 * [1 - (1 - e^(-50 PD)) / (1 - e^-50)]
      b  = (0.11852 - 0.05478 * ln(PD))^2
      MA = (1 + (M - 2.5) * b) / (1 - 1.5 * b),   M clamped to [1, 5] years (para 320)

* SME borrowers, corporate exposures to firms with sales S below EUR 50 million (para 273)::

      R  = corporate R - 0.04 * (1 - (S - 5) / 45),   S in EUR million, clamped to [5, 50]

* retail (paras 328-330), with no maturity adjustment (MA = 1, para 327)::

      residential mortgage  R = 0.15
      qualifying revolving  R = 0.04
      other retail          R = 0.03 * (1 - e^(-35 PD)) / (1 - e^-35)
                              + 0.16 * [1 - (1 - e^(-35 PD)) / (1 - e^-35)]

* defaulted exposures (PD = 1, or ``defaulted``; paras 272 and 328-330)::

      K = max(0, LGD - EL_BE)

  with LGD as in para 468 and EL_BE the bank's best estimate of expected loss (para 471). When
  no best estimate is given it is taken equal to LGD, so K = 0.

PD and LGD are decimals in [0, 1], maturity M is in years, sales S in EUR million, exposure at
default (EAD) and risk-weighted assets in currency units. Every function is vectorised: array
arguments (NumPy arrays, lists, pandas Series) broadcast together, and the result has their
broadcast shape; when every argument is a scalar the result is a ``float``. The asset class is
one value for the whole call.

Floors and scaling factor (:class:`IRBParameters`)
--------------------------------------------------
* ``pd_floor`` (default 0.0003): Basel II floors the PD of corporate and bank exposures
  (para 285) and of retail exposures (para 331) at 0.03 %; sovereign exposures have no floor,
  so the floor is never applied to :attr:`AssetClass.SOVEREIGN`. Basel III (CRE32.4) raised
  it to 0.05 % for corporate and bank exposures (its retail floors are 0.05 %, and 0.10 % for
  revolving exposures that are not transactors): pass ``IRBParameters(pd_floor=0.0005)``.
* ``lgd_floor`` (default 0): Basel II sets a 10 % LGD floor for retail exposures secured by
  residential property (para 266; kept in December 2009); set ``lgd_floor=0.10`` for
  mortgage books. The floor applies to whatever asset class is asked for.
* ``scaling_factor`` (default 1.06): para 44 applies a scaling factor to the risk-weighted
  asset amounts for credit risk under the IRB approach "to broadly maintain the aggregate
  level of minimum capital requirements"; its footnote gives 1.06 as the best estimate, from
  QIS 3 data adjusted for the expected/unexpected loss decisions. It multiplies every risk
  weight here, defaulted ones included. The December 2017 Basel III reforms dropped it (it no
  longer appears in CRE30-31 as revised): pass ``scaling_factor=1.0`` for Basel III or to
  reproduce the published illustrative table.

The 1.06 scaling factor and the published table
-----------------------------------------------
Annex 5 of the June 2006 framework, "Illustrative IRB risk weights", tabulates risk weights at
M = 2.5 years for corporate (sales EUR 50 million and EUR 5 million) exposures at LGD 45 %,
residential mortgages at LGD 45 % and 25 %, other retail at 45 % and 85 % and qualifying
revolving retail at 45 % and 85 %, for PD from 0.03 % to 20 %. Those figures are
``K * 12.5`` *without* the 1.06 factor: with ``scaling_factor=1.0`` this module reproduces every
cell checked (``tests/stress/test_irb.py``) within 0.0067 percentage points, while with 1.06
every cell is off by 6 % of its value (0.06 pp at the smallest weight, 0.98 %, and 14.3 pp at
the largest, 238.23 %). The annex does not say so in words; the numbers settle it. It is
consistent with the text: the annex says its weights were "produced using the appropriate
risk-weight function" of Part 2, Section III, while para 44 applies the factor afterwards, to
risk-weighted asset amounts.

The published figures are given to two decimals of a per cent. For nine of the 106 cells the
tests check, the published figure is not the formula's value correctly rounded: it differs
from it by 0.0051 to 0.0066 pp (for example PD 15 %, corporate: 221.5334 computed, 221.54
published), so the table was not computed to the last digit. One unit in the last published
place, 0.01 pp, is the tolerance the tests use.

The maturity adjustment is defined only where ``1 - 1.5 b > 0``, that is PD above about
2.93e-6; such a PD can reach the formula only for sovereign exposures (which have no floor) or
with ``pd_floor`` lowered, and is refused. A PD of exactly 0 (for example a sovereign judged
risk-free) gives K = 0: LGD * N(G(0)) - 0 * LGD = 0, and the maturity adjustment, unbounded
there, is not applied.

Not implemented: Basel III's multiplier of 1.25 on the correlation of exposures to large or
unregulated financial institutions (CRE31.6), specialised lending slotting, purchased
receivables and double default.

Inputs are checked before any computation: a parameter breaking its rule, an unknown asset
class or arrays that do not broadcast raise :class:`~fintwin.exceptions.ParameterError`; a
value outside its range (a PD above 1, a negative maturity, a NaN) raises
:class:`~fintwin.exceptions.DataError` naming the argument, the first offending value and its
position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from fintwin._validation import to_enum
from fintwin.exceptions import DataError, ParameterError

__all__ = [
    "MATURITY_ADJUSTED",
    "AssetClass",
    "IRBParameters",
    "capital_requirement",
    "correlation",
    "irb_risk_weight",
    "maturity_adjustment",
    "risk_weighted_assets",
]


class AssetClass(Enum):
    """IRB asset class, choosing the correlation and whether the maturity adjustment applies.

    ``SME`` is a corporate exposure with the firm-size adjustment of para 273 and needs the
    borrower's sales; ``CORPORATE`` given sales below EUR 50 million gets the same adjustment.
    """

    CORPORATE = "corporate"
    SOVEREIGN = "sovereign"
    BANK = "bank"
    SME = "sme"
    MORTGAGE = "mortgage"
    REVOLVING = "revolving"
    OTHER_RETAIL = "other_retail"


MATURITY_ADJUSTED = frozenset(
    {AssetClass.CORPORATE, AssetClass.SOVEREIGN, AssetClass.BANK, AssetClass.SME}
)
"""Classes using the corporate correlation and the maturity adjustment (paras 272-273);
retail classes have neither (para 327)."""

_SALES_CLASSES = frozenset({AssetClass.CORPORATE, AssetClass.SME})

# Para 272: b = (0.11852 - 0.05478 ln PD)^2. 1 - 1.5 b > 0 requires PD above this value.
_PD_MATURITY_MIN = math.exp((0.11852 - math.sqrt(2.0 / 3.0)) / 0.05478)

# Para 320: effective maturity is no less than one year and no greater than five years.
_M_MIN, _M_MAX = 1.0, 5.0
# Para 273: sales S in EUR million; S below 5 is treated as 5, the adjustment ends at 50.
_S_MIN, _S_MAX = 5.0, 50.0


@dataclass(frozen=True)
class IRBParameters:
    """Floors, scaling factor and confidence level of the IRB risk-weight functions.

    Attributes
    ----------
    pd_floor : float, default 0.0003
        Lowest PD used in the formulas, in [0, 1): Basel II's 0.03 % for corporate, bank and
        retail exposures (paras 285, 331). Basel III uses 0.0005 (5 bp) for corporates. Never
        applied to sovereign exposures, which have no PD floor.
    lgd_floor : float, default 0.0
        Lowest LGD used, in [0, 1]; Basel II's residential mortgage floor is 0.10 (para 266).
    scaling_factor : float, default 1.06
        Multiplies every risk weight (para 44, footnote 11); finite and above 0. Basel III
        and the Annex 5 illustrative table use 1.0.
    confidence : float, default 0.999
        Confidence level of the asymptotic single risk factor model, the 0.999 in G(0.999);
        in (0, 1).

    Examples
    --------
    >>> IRBParameters(pd_floor=0.0005).scaling_factor
    1.06
    """

    pd_floor: float = 0.0003
    lgd_floor: float = 0.0
    scaling_factor: float = 1.06
    confidence: float = 0.999

    def __post_init__(self) -> None:
        for name in ("pd_floor", "lgd_floor", "scaling_factor", "confidence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ParameterError(f"{name} must be a number (got {value!r})")
            if not math.isfinite(value):
                raise ParameterError(f"{name} must be finite (got {value!r})")
        if not 0.0 <= self.pd_floor < 1.0:
            raise ParameterError(f"pd_floor must be in [0, 1) (got {self.pd_floor!r})")
        if not 0.0 <= self.lgd_floor <= 1.0:
            raise ParameterError(f"lgd_floor must be in [0, 1] (got {self.lgd_floor!r})")
        if not self.scaling_factor > 0.0:
            raise ParameterError(f"scaling_factor must be above 0 (got {self.scaling_factor!r})")
        if not 0.0 < self.confidence < 1.0:
            raise ParameterError(f"confidence must be in (0, 1) (got {self.confidence!r})")
        for name in ("pd_floor", "lgd_floor", "scaling_factor", "confidence"):
            object.__setattr__(self, name, float(getattr(self, name)))


_DEFAULT_PARAMETERS = IRBParameters()


# --- input checks ---------------------------------------------------------------------------


def _position(array: np.ndarray, bad: np.ndarray) -> str:
    """`` at position i`` (or ``(i, j)``) of the first True in ``bad``; empty for a scalar."""
    if array.ndim == 0:
        return ""
    flat = int(np.flatnonzero(bad)[0])
    if array.ndim == 1:
        return f" at position {flat}"
    return f" at position {tuple(int(i) for i in np.unravel_index(flat, array.shape))}"


def _first(array: np.ndarray, bad: np.ndarray) -> str:
    """The first offending value and where it is, for an error message."""
    value = array[()] if array.ndim == 0 else array.reshape(-1)[np.flatnonzero(bad)[0]]
    return f"got {float(value)!r}{_position(array, bad)}"


def _numbers(name: str, values: ArrayLike) -> np.ndarray:
    """Finite floats of any shape."""
    array = np.asarray(values)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        if array.dtype.kind == "O":
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"{name} must hold numbers (got dtype object)") from None
        else:
            raise DataError(f"{name} must hold numbers (got dtype {array.dtype})")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise DataError(f"{name} must be finite ({_first(array, bad)})")
    return array


def _unit_interval(name: str, values: ArrayLike) -> np.ndarray:
    """Decimals in [0, 1] (PD, LGD, expected loss)."""
    array = _numbers(name, values)
    bad = (array < 0.0) | (array > 1.0)
    if bad.any():
        raise DataError(f"{name} must be in [0, 1] ({_first(array, bad)})")
    return array


def _positive(name: str, values: ArrayLike) -> np.ndarray:
    """Floats above 0 (maturity, sales)."""
    array = _numbers(name, values)
    bad = ~(array > 0.0)
    if bad.any():
        raise DataError(f"{name} must be above 0 ({_first(array, bad)})")
    return array


def _non_negative(name: str, values: ArrayLike) -> np.ndarray:
    """Floats of at least 0 (exposure at default)."""
    array = _numbers(name, values)
    bad = array < 0.0
    if bad.any():
        raise DataError(f"{name} must be at least 0 ({_first(array, bad)})")
    return array


def _flags(name: str, values: ArrayLike) -> np.ndarray:
    """Booleans, or 0/1 numbers, as a boolean array."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise DataError(f"{name} must hold booleans or 0/1 (got dtype {array.dtype})")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        raise DataError(f"{name} must hold booleans or 0/1 ({_first(array, bad)})")
    return array.astype(bool)


def _parameters(params: IRBParameters) -> IRBParameters:
    if not isinstance(params, IRBParameters):
        raise ParameterError(f"params must be an IRBParameters (got {type(params).__name__})")
    return params


def _broadcast(**arrays: np.ndarray | None) -> tuple[int, ...]:
    """The broadcast shape of the arrays given; refuses arrays whose shapes do not match."""
    given = {name: a for name, a in arrays.items() if a is not None}
    try:
        return np.broadcast_shapes(*(a.shape for a in given.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in given.items())
        raise ParameterError(
            f"{', '.join(given)} must have matching (broadcastable) shapes (got {shapes})"
        ) from None


def _sales(cls: AssetClass, sales_eur_m: ArrayLike | None) -> np.ndarray | None:
    if sales_eur_m is None:
        if cls is AssetClass.SME:
            raise ParameterError(
                "sales_eur_m is required for asset_class 'sme': the firm-size adjustment of "
                "para 273 depends on the borrower's sales (got None)"
            )
        return None
    if cls not in _SALES_CLASSES:
        raise ParameterError(
            "sales_eur_m applies only to asset_class 'corporate' or 'sme' (para 273) "
            f"(got sales for {cls.value!r})"
        )
    return _positive("sales_eur_m", sales_eur_m)


def _check_maturity_domain(
    p: np.ndarray, where: np.ndarray, pd_input: np.ndarray, *, zero_allowed: bool
) -> None:
    """Refuse a PD at or below the pole of the maturity adjustment (1 - 1.5 b <= 0)."""
    bad = where & (p <= _PD_MATURITY_MIN)
    if bad.any():
        # Report the PD as given, at its position in the caller's argument (before flooring).
        shown = np.broadcast_to(pd_input, p.shape)
        rule = ("0 or above " if zero_allowed else "above ") + f"{_PD_MATURITY_MIN:.3g}"
        raise DataError(
            f"pd must be {rule} for the maturity adjustment: at or below "
            f"{_PD_MATURITY_MIN:.3g}, 1 - 1.5 b <= 0 and the adjustment of para 272 is "
            f"undefined ({_first(shown, bad)})"
        )


def _result(values: np.ndarray) -> np.ndarray | float:
    return float(values) if values.ndim == 0 else values


# --- formula pieces -------------------------------------------------------------------------


def _correlation(p: np.ndarray, cls: AssetClass, s: np.ndarray | None) -> np.ndarray:
    if cls in MATURITY_ADJUSTED:
        # Para 272: between 0.24 at PD = 0 and 0.12 at PD = 1, weights exponential in PD.
        w = -np.expm1(-50.0 * p) / -math.expm1(-50.0)
        r = 0.12 * w + 0.24 * (1.0 - w)
        if s is not None:
            # Para 273: firm-size adjustment, S in EUR million clamped to [5, 50].
            r = r - 0.04 * (1.0 - (np.clip(s, _S_MIN, _S_MAX) - 5.0) / 45.0)
        return r
    if cls is AssetClass.MORTGAGE:
        return np.full_like(p, 0.15)  # para 328
    if cls is AssetClass.REVOLVING:
        return np.full_like(p, 0.04)  # para 329
    # Para 330, other retail: between 0.16 at PD = 0 and 0.03 at PD = 1.
    w = -np.expm1(-35.0 * p) / -math.expm1(-35.0)
    return 0.03 * w + 0.16 * (1.0 - w)


def _maturity_factor(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    # Para 272: b = (0.11852 - 0.05478 ln PD)^2; para 320: M in [1, 5] years.
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    return (1.0 + (np.clip(m, _M_MIN, _M_MAX) - 2.5) * b) / (1.0 - 1.5 * b)


def _capital(
    pd: ArrayLike,
    lgd: ArrayLike,
    asset_class: AssetClass | str,
    maturity: ArrayLike,
    sales_eur_m: ArrayLike | None,
    params: IRBParameters,
    defaulted: ArrayLike | None,
    expected_loss_best_estimate: ArrayLike | None,
    ead: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """K per unit of EAD with the floors applied, and the EAD, in their broadcast shape."""
    cls = to_enum(AssetClass, "asset_class", asset_class)
    params = _parameters(params)
    p_in = _unit_interval("pd", pd)
    lgd_in = _unit_interval("lgd", lgd)
    e_in = None if ead is None else _non_negative("ead", ead)
    m_in = _positive("maturity", maturity)
    s_in = _sales(cls, sales_eur_m)
    d_in = None if defaulted is None else _flags("defaulted", defaulted)
    el_in = (
        None
        if expected_loss_best_estimate is None
        else _unit_interval("expected_loss_best_estimate", expected_loss_best_estimate)
    )
    shape = _broadcast(
        pd=p_in,
        lgd=lgd_in,
        ead=e_in,
        maturity=m_in,
        sales_eur_m=s_in,
        defaulted=d_in,
        expected_loss_best_estimate=el_in,
    )

    def full(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, shape)

    # Paras 285, 331: PD floor for corporate, bank and retail exposures, none for sovereigns.
    p = full(p_in) if cls is AssetClass.SOVEREIGN else np.maximum(full(p_in), params.pd_floor)
    lgd_eff = np.maximum(full(lgd_in), params.lgd_floor)
    # Para 285: a defaulted borrower has PD = 100 %.
    is_defaulted = p == 1.0
    if d_in is not None:
        is_defaulted = is_defaulted | full(d_in)
    live = ~is_defaulted & (p > 0.0)
    if cls in MATURITY_ADJUSTED:
        _check_maturity_domain(p, live, p_in, zero_allowed=True)

    k = np.zeros(shape)
    # Paras 272, 328-330: defaulted exposures, K = max(0, LGD - EL_BE); EL_BE defaults to LGD.
    el = lgd_eff if el_in is None else full(el_in)
    k[is_defaulted] = np.maximum(0.0, lgd_eff - el)[is_defaulted]

    # Non-defaulted exposures with PD > 0 (PD = 0 keeps K = 0).
    pl, ll = p[live], lgd_eff[live]
    r = _correlation(pl, cls, None if s_in is None else full(s_in)[live])
    conditional_pd = ndtr((ndtri(pl) + np.sqrt(r) * ndtri(params.confidence)) / np.sqrt(1.0 - r))
    k_live = ll * conditional_pd - pl * ll
    if cls in MATURITY_ADJUSTED:
        k_live = k_live * _maturity_factor(pl, full(m_in)[live])
    k[live] = k_live
    return k, None if e_in is None else full(e_in)


# --- public functions -----------------------------------------------------------------------


def correlation(
    pd: ArrayLike, asset_class: AssetClass | str, sales_eur_m: ArrayLike | None = None
) -> np.ndarray | float:
    """Asset correlation R of the IRB risk-weight function (paras 272-273, 328-330).

    No floor is applied to ``pd`` here: R is computed at the PD given.

    Parameters
    ----------
    pd : float or array-like
        Probability of default, decimals in [0, 1]; any shape.
    asset_class : AssetClass or str
        The asset class (or its value, such as ``"corporate"``).
    sales_eur_m : float or array-like, optional
        Borrower's annual sales in EUR million, above 0, broadcasting with ``pd``; required
        for ``"sme"``, optional for ``"corporate"`` (firm-size adjustment when below 50), not
        allowed for other classes. Clamped to [5, 50].

    Returns
    -------
    float or numpy.ndarray
        R, in the broadcast shape of ``pd`` and ``sales_eur_m``; a float for scalar inputs.
        Corporate, sovereign and bank R lies in [0.12, 0.24], SME R in [0.08, 0.24], other
        retail R in [0.03, 0.16].

    Examples
    --------
    >>> round(correlation(0.01, "corporate"), 6)
    0.192784
    >>> correlation(0.01, AssetClass.MORTGAGE)
    0.15
    """
    cls = to_enum(AssetClass, "asset_class", asset_class)
    p = _unit_interval("pd", pd)
    s = _sales(cls, sales_eur_m)
    shape = _broadcast(pd=p, sales_eur_m=s)
    r = _correlation(
        np.broadcast_to(p, shape), cls, None if s is None else np.broadcast_to(s, shape)
    )
    return _result(np.asarray(r, dtype=np.float64))


def maturity_adjustment(pd: ArrayLike, maturity: ArrayLike) -> np.ndarray | float:
    """Maturity adjustment ``(1 + (M - 2.5) b) / (1 - 1.5 b)`` of para 272.

    ``b = (0.11852 - 0.05478 ln PD)^2`` and M is clamped to [1, 5] years (para 320), so the
    adjustment is exactly 1 at M = 1 and increases with M. Applies to corporate, sovereign,
    bank and SME exposures only; retail functions have none (para 327).

    Parameters
    ----------
    pd : float or array-like
        Probability of default, decimals in (0, 1] and above about 2.93e-6 (where
        ``1 - 1.5 b`` turns negative); any shape. No floor is applied here.
    maturity : float or array-like
        Effective maturity M in years, above 0; broadcasts with ``pd``.

    Returns
    -------
    float or numpy.ndarray
        The multiplier of K, in the broadcast shape; a float for scalar inputs.

    Examples
    --------
    >>> maturity_adjustment(0.01, 1.0)
    1.0
    >>> round(maturity_adjustment(0.01, 2.5), 4)
    1.2598
    """
    p = _unit_interval("pd", pd)
    m = _positive("maturity", maturity)
    shape = _broadcast(pd=p, maturity=m)
    p_full = np.broadcast_to(p, shape)
    _check_maturity_domain(p_full, np.ones(shape, dtype=bool), p, zero_allowed=False)
    return _result(np.asarray(_maturity_factor(p_full, np.broadcast_to(m, shape))))


def capital_requirement(
    pd: ArrayLike,
    lgd: ArrayLike,
    asset_class: AssetClass | str,
    maturity: ArrayLike = 2.5,
    sales_eur_m: ArrayLike | None = None,
    *,
    params: IRBParameters = _DEFAULT_PARAMETERS,
    defaulted: ArrayLike | None = None,
    expected_loss_best_estimate: ArrayLike | None = None,
) -> np.ndarray | float:
    """Capital requirement K per unit of EAD, before the 12.5 and the scaling factor.

    The PD and LGD floors of ``params`` are applied first; see :func:`irb_risk_weight` for the
    arguments. ``irb_risk_weight == capital_requirement * 12.5 * params.scaling_factor``.

    Returns
    -------
    float or numpy.ndarray
        K as a fraction of EAD, in the broadcast shape of the array arguments; a float when
        they are all scalars.

    Examples
    --------
    >>> round(capital_requirement(0.01, 0.45, "corporate"), 6)
    0.073853
    """
    k, _ = _capital(
        pd,
        lgd,
        asset_class,
        maturity,
        sales_eur_m,
        params,
        defaulted,
        expected_loss_best_estimate,
    )
    return _result(k)


def irb_risk_weight(
    pd: ArrayLike,
    lgd: ArrayLike,
    asset_class: AssetClass | str,
    maturity: ArrayLike = 2.5,
    sales_eur_m: ArrayLike | None = None,
    *,
    params: IRBParameters = _DEFAULT_PARAMETERS,
    defaulted: ArrayLike | None = None,
    expected_loss_best_estimate: ArrayLike | None = None,
) -> np.ndarray | float:
    """IRB risk weight, ``K * 12.5 * scaling_factor``, as a fraction of EAD.

    Parameters
    ----------
    pd : float or array-like
        Probability of default, decimals in [0, 1]; any shape. Raised to ``params.pd_floor``
        except for sovereign exposures; PD = 1 means defaulted.
    lgd : float or array-like
        Loss given default, decimals in [0, 1]; raised to ``params.lgd_floor``.
    asset_class : AssetClass or str
        The asset class (or its value, such as ``"other_retail"``), one for the whole call.
    maturity : float or array-like, default 2.5
        Effective maturity M in years, above 0, clamped to [1, 5]; ignored for retail.
    sales_eur_m : float or array-like, optional
        Borrower's annual sales in EUR million, above 0, clamped to [5, 50]; required for
        ``"sme"``, optional for ``"corporate"`` (adjusts R when below 50), refused otherwise.
    params : IRBParameters, keyword-only
        Floors, scaling factor and confidence level; Basel II's by default.
    defaulted : bool or array-like of bool, keyword-only, optional
        Marks defaulted exposures (in addition to those with PD = 1).
    expected_loss_best_estimate : float or array-like, keyword-only, optional
        The bank's best estimate of expected loss EL_BE for defaulted exposures, decimals in
        [0, 1] of EAD (para 471); ignored for others. Defaults to the (floored) LGD, so a
        defaulted exposure has K = 0 unless given.

    Returns
    -------
    float or numpy.ndarray
        Risk weight as a fraction of EAD (1.0 is a 100 % risk weight), in the broadcast shape
        of the array arguments; a float when they are all scalars.

    Raises
    ------
    ParameterError
        An unknown asset class, ``params`` of the wrong type, ``sales_eur_m`` missing for
        ``"sme"`` or given for a class other than corporate, or shapes that do not broadcast.
    DataError
        A value outside its range, NaN or infinite: names the argument, the value and its
        position.

    Examples
    --------
    Annex 5 of Basel II, corporate at LGD 45 %, M = 2.5 and PD 1 %: 92.32 %, without the 1.06.

    >>> basel_ii_table = IRBParameters(scaling_factor=1.0)
    >>> round(irb_risk_weight(0.01, 0.45, "corporate", params=basel_ii_table), 4)
    0.9232
    >>> irb_risk_weight([0.0003, 0.01], 0.45, AssetClass.MORTGAGE, params=basel_ii_table).round(4)
    array([0.0415, 0.564 ])

    A defaulted exposure (PD = 1) with LGD 45 % and a best estimate of expected loss of 35 %:
    K = 0.10, so RW = 0.10 * 12.5 * 1.06.

    >>> irb_risk_weight(1.0, 0.45, "corporate", expected_loss_best_estimate=0.35)
    1.325
    """
    k, _ = _capital(
        pd,
        lgd,
        asset_class,
        maturity,
        sales_eur_m,
        params,
        defaulted,
        expected_loss_best_estimate,
    )
    return _result(k * 12.5 * params.scaling_factor)


def risk_weighted_assets(
    pd: ArrayLike,
    lgd: ArrayLike,
    ead: ArrayLike,
    asset_class: AssetClass | str,
    maturity: ArrayLike = 2.5,
    sales_eur_m: ArrayLike | None = None,
    *,
    params: IRBParameters = _DEFAULT_PARAMETERS,
    defaulted: ArrayLike | None = None,
    expected_loss_best_estimate: ArrayLike | None = None,
) -> np.ndarray | float:
    """Risk-weighted assets, ``irb_risk_weight * EAD``, in currency units.

    Parameters
    ----------
    ead : float or array-like
        Exposure at default in currency units, at least 0; broadcasts with the others.

    See :func:`irb_risk_weight` for the other arguments.

    Returns
    -------
    float or numpy.ndarray
        RWA per exposure, in the broadcast shape; a float when every argument is a scalar.
        Sum it for a portfolio's RWA.

    Examples
    --------
    >>> round(risk_weighted_assets(0.01, 0.45, 1_000_000, "corporate"), 2)
    978558.09
    """
    k, e = _capital(
        pd,
        lgd,
        asset_class,
        maturity,
        sales_eur_m,
        params,
        defaulted,
        expected_loss_best_estimate,
        ead=ead,
    )
    assert e is not None
    return _result(k * 12.5 * params.scaling_factor * e)
