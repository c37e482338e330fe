"""The twin's economy in one call: the macro cycle, the markets and lending of a world.

:func:`economy_tables` is what a preset's ``final_tables`` calls. Each part draws from its own
stream of the world's seed (``Stream.MACRO``, ``Stream.MARKETS``, ``Stream.LENDING``), so the
economy never changes the other tables of a world, and changing, say, the credit policy leaves
the macro path, the prices and the applicants as they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa

from fintwin.exceptions import ParameterError
from fintwin.world._engine import WorldConfig
from fintwin.world._seeding import Stream, stream_rng
from fintwin.world.lending import LendingParams, simulate_lending
from fintwin.world.macro import MacroParams, simulate_macro
from fintwin.world.markets import MarketParams, simulate_markets
from fintwin.world.population import Population

__all__ = ["OUTCOME_HORIZON_DAYS", "EconomyParams", "economy_tables"]

#: Days after the world's end that the macro path covers: a loan applied for on the last day
#: has its 12-month outcome decided by the economy of the following year.
OUTCOME_HORIZON_DAYS = 366


@dataclass(frozen=True)
class EconomyParams:
    """Parameters of the economy, one section per part.

    Parameters
    ----------
    macro : MacroParams
        The quarterly business cycle (:mod:`fintwin.world.macro`).
    markets : MarketParams
        Daily asset prices (:mod:`fintwin.world.markets`).
    lending : LendingParams
        Applicants, default model and historical policy (:mod:`fintwin.world.lending`).

    Examples
    --------
    >>> EconomyParams(macro=MacroParams(initial_regime="recession")).macro.initial_regime
    <MacroRegime.RECESSION: 'recession'>
    """

    macro: MacroParams = field(default_factory=MacroParams)
    markets: MarketParams = field(default_factory=MarketParams)
    lending: LendingParams = field(default_factory=LendingParams)

    def __post_init__(self) -> None:
        for name, kind in (
            ("macro", MacroParams),
            ("markets", MarketParams),
            ("lending", LendingParams),
        ):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise ParameterError(
                    f"{name} must be a {kind.__name__} (got {type(value).__name__})"
                )


def economy_tables(
    config: WorldConfig, population: Population, params: EconomyParams | None = None
) -> dict[str, pa.Table]:
    """Every economy table of a world, ground truth included.

    Parameters
    ----------
    config : WorldConfig
        The world's period and seed.
    population : Population
        The world's customers (the applicants for credit).
    params : EconomyParams, optional

    Returns
    -------
    dict of str to pyarrow.Table
        ``macro``, ``asset_prices``, ``loan_applications``, ``sme_cash_flows`` and the truth
        tables ``macro_regimes``, ``market_regimes``, ``loan_truth``; each matches its
        ``TableSpec``.

    Examples
    --------
    >>> import numpy as np
    >>> from fintwin.world.population import draw_population
    >>> cfg = WorldConfig(customers=300, days=60, start=dt.date(2024, 1, 1), seed=1)
    >>> pop = draw_population(300, np.random.default_rng(0), cfg.start)
    >>> sorted(economy_tables(cfg, pop))  # doctest: +NORMALIZE_WHITESPACE
    ['asset_prices', 'loan_applications', 'loan_truth', 'macro', 'macro_regimes',
     'market_regimes', 'sme_cash_flows']
    """
    p = params or EconomyParams()
    seed = config.seed
    end = config.start + dt.timedelta(days=config.days - 1 + OUTCOME_HORIZON_DAYS)
    macro = simulate_macro(config.start, end, stream_rng(seed, Stream.MACRO), p.macro)
    markets = simulate_markets(
        config.start, config.days, macro, stream_rng(seed, Stream.MARKETS), p.markets
    )
    lending = simulate_lending(population, config.start, config.days, macro, seed, p.lending)
    return {
        "macro": macro.table(),
        "macro_regimes": macro.regime_table(),
        "asset_prices": markets.table(),
        "market_regimes": markets.regime_table(),
        **lending,
    }
