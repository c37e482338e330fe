"""``fintwin stress``: regulatory capital, portfolio losses, macro scenarios, market risk, and
the pre-play of a policy change in the twin.

Every command prints JSON on standard output (figures in currency units and fractions) and,
with ``--report FILE``, writes a self-contained HTML page. On a world (``--world DIR``) the
credit book is the loans its historical policy granted, each with its true 12-month PD; a
scenario is a shipped name (``baseline``, ``adverse``, ``severely_adverse``) or a YAML file.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from fintwin.cli._common import parse_pairs, reports_errors
from fintwin.exceptions import DataError, ParameterError

app = typer.Typer(
    help="Stress testing: capital, portfolio losses, scenarios and ECL, market risk, pre-play.",
    no_args_is_help=True,
)

WorldOption = Annotated[Path | None, typer.Option("--world", help="World directory.")]
ReportOption = Annotated[Path | None, typer.Option("--report", help="HTML report to write.")]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", help="Shipped scenario name or a YAML file.")
]


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=1, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | pd.Index):
        return value.tolist()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def _scenario(text: str):  # type: ignore[no-untyped-def]
    from fintwin.stress.scenarios import builtin_scenarios, load_scenario

    shipped = builtin_scenarios()
    if text in shipped:
        return shipped[text]
    if not Path(text).is_file():
        raise ParameterError(
            f"--scenario must be one of {sorted(shipped)} or a YAML file (got {text!r})"
        )
    return load_scenario(text)


def _world_book(world: Path):  # type: ignore[no-untyped-def]
    """The world's lending book and the loans its historical policy granted."""
    from fintwin.data import open_world
    from fintwin.stress.lending_replay import lending_book, policy_params

    opened = open_world(world)
    book = lending_book(opened)
    return book, book.approved_loans(policy_params(opened))


def _read_exposures(path: Path) -> pd.DataFrame:
    from fintwin.credit.applications import read_table

    frame = read_table(path)
    for column in ("pd", "lgd", "ead", "asset_class"):
        if column not in frame.columns:
            raise DataError(
                f"needs the columns pd, lgd, ead, asset_class (missing {column!r})", file=path
            )
    return frame


@app.command()
@reports_errors
def capital(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="CSV/Parquet: pd, lgd, ead, asset_class[, maturity, sales_eur_m]"
        ),
    ] = None,
    world: WorldOption = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="With --world: PDs under this scenario.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Per-exposure CSV (--data).")] = None,
) -> None:
    """Basel IRB risk-weighted assets and capital, by asset class."""
    from fintwin.stress.irb import (
        MATURITY_ADJUSTED,
        AssetClass,
        capital_requirement,
        irb_risk_weight,
    )
    from fintwin.stress.preplay import ASSET_CLASS_OF_PRODUCT, BASE_LGD, loan_year

    if (data is None) == (world is None):
        raise ParameterError("give exactly one of --data FILE and --world DIR")
    if data is not None:
        frame = _read_exposures(data)
    else:
        book, loans = _world_book(world)
        pd_used, lgd = loans["pd_12m"].to_numpy(), BASE_LGD
        if scenario is not None:
            year = loan_year(_scenario(scenario))
            lgd = year["lgd"]
            pd_used = book.pd_under(year["unemployment"], year["gdp_growth"])
            pd_used = pd_used[loans["row"].to_numpy()]
        classes = loans["product"].map(lambda p: ASSET_CLASS_OF_PRODUCT[p].value)
        frame = pd.DataFrame(
            {"pd": pd_used, "lgd": lgd, "ead": loans["ead"], "asset_class": classes}
        )
    blank = frame["asset_class"].isna().to_numpy()
    if blank.any():
        row = int(np.argmax(blank)) + 1
        raise DataError("the asset class is blank", file=data, row=row, column="asset_class")
    frame["risk_weight"] = np.nan
    frame["capital"] = np.nan
    for name, rows in frame.groupby("asset_class").groups.items():
        try:
            asset_class = AssetClass(str(name))
        except ValueError:
            raise DataError(
                f"unknown asset class {name!r} (expected one of {[c.value for c in AssetClass]})",
                file=data,
                column="asset_class",
            ) from None
        part = frame.loc[rows]
        # retail rows have no maturity adjustment and only corporate and SME rows a sales
        # adjustment: their cells of these columns (often blank) are not passed on
        adjusted = asset_class in MATURITY_ADJUSTED
        maturity = part["maturity"].to_numpy() if "maturity" in part and adjusted else 2.5
        with_sales = "sales_eur_m" in part and asset_class in (AssetClass.CORPORATE, AssetClass.SME)
        sales = part["sales_eur_m"].to_numpy() if with_sales else None
        if sales is not None and asset_class is AssetClass.CORPORATE:
            # a corporate without reported sales gets no firm-size adjustment (as at 50 m)
            sales = np.where(np.isnan(sales), 50.0, sales)
        args = (part["pd"].to_numpy(), part["lgd"].to_numpy(), asset_class, maturity, sales)
        frame.loc[rows, "risk_weight"] = irb_risk_weight(*args)
        frame.loc[rows, "capital"] = capital_requirement(*args) * part["ead"].to_numpy()
    frame["rwa"] = frame["risk_weight"] * frame["ead"]
    by_class = frame.groupby("asset_class")[["ead", "rwa", "capital"]].sum()
    if out is not None:
        from fintwin._files import write_atomic

        write_atomic(out, frame.to_csv(index=False))
    _print(
        {
            "exposures": len(frame),
            "ead": float(frame["ead"].sum()),
            "rwa": float(frame["rwa"].sum()),
            "capital": float(frame["capital"].sum()),
            "by_asset_class": by_class.reset_index().to_dict("records"),
        }
    )


@app.command()
@reports_errors
def portfolio(
    world: WorldOption = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV/Parquet: pd, lgd, ead[, segment]")
    ] = None,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Monte Carlo scenarios.")] = 100_000,
    rho: Annotated[float, typer.Option("--rho", help="Asset correlation.")] = 0.15,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workers: Annotated[int, typer.Option("--workers")] = 1,
    ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address.")] = None,
    sampling: Annotated[
        str, typer.Option("--sampling", help="monte-carlo, or stratified (factors; tails)")
    ] = "monte-carlo",
    report: ReportOption = None,
) -> None:
    """Loss distribution of a credit portfolio (Gaussian copula): EL, VaR and ES, by segment."""
    from fintwin.stress.portfolio import FactorSampling, Portfolio, simulate_losses
    from fintwin.stress.preplay import BASE_LGD

    if (data is None) == (world is None):
        raise ParameterError("give exactly one of --data FILE and --world DIR")
    if data is not None:
        from fintwin.credit.applications import read_table

        frame = read_table(data)
        segment = frame["segment"].astype(str).to_numpy() if "segment" in frame else None
        book = Portfolio(
            pd=frame["pd"].to_numpy(),
            lgd=frame["lgd"].to_numpy(),
            ead=frame["ead"].to_numpy(),
            asset_correlation=rho,
            segment=segment,
        )
    else:
        _, loans = _world_book(world)
        book = Portfolio(
            pd=loans["pd_12m"].to_numpy(),
            lgd=np.full(len(loans), BASE_LGD),
            ead=loans["ead"].to_numpy(),
            asset_correlation=rho,
            segment=loans["product"].to_numpy(),
        )
    try:
        factor_sampling = FactorSampling(sampling)
    except ValueError:
        choices = [m.value for m in FactorSampling]
        raise ParameterError(f"--sampling must be one of {choices} (got {sampling!r})") from None
    losses = simulate_losses(
        book,
        scenarios,
        seed=seed,
        workers=workers,
        ray_address=ray,
        factor_sampling=factor_sampling,
    )
    if report is not None:
        from fintwin.report.stress_report import portfolio_report

        portfolio_report(losses, report)
    _print({"obligors": book.n_obligors, "rho": rho, **losses.to_dict()})


@app.command()
@reports_errors
def scenario(
    world: Annotated[Path, typer.Option("--world", help="World directory.")],
    scenarios: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Shipped name or YAML file (repeat; default: shipped)."),
    ] = None,
    weights: Annotated[
        list[str] | None,
        typer.Option("--weight", help="SCENARIO=PROBABILITY (repeat; default equal)."),
    ] = None,
    rho: Annotated[float, typer.Option("--rho", help="Asset correlation.")] = 0.09,
    report: ReportOption = None,
) -> None:
    """Project the world's credit book under macro scenarios: losses and IFRS 9 ECL."""
    from fintwin.stress.book_scenarios import run_scenarios
    from fintwin.stress.preplay import BASE_LGD
    from fintwin.stress.scenarios import builtin_scenarios

    chosen = {s.name: s for s in map(_scenario, scenarios)} if scenarios else builtin_scenarios()
    try:
        mix = {k: float(v) for k, v in parse_pairs(weights, "--weight").items()} or None
    except ValueError:
        raise ParameterError(f"--weight takes SCENARIO=NUMBER (got {weights})") from None
    book, loans = _world_book(world)
    # the through-the-cycle PD: the twin's PD with the macro at its long-run values
    neutral = book.pd_under(book.macro.natural_unemployment, book.macro.potential_growth)
    run = run_scenarios(
        neutral[loans["row"].to_numpy()],
        BASE_LGD,
        loans["ead"].to_numpy(),
        loans["interest_rate"].to_numpy() / 100.0,
        loans["term_months"].to_numpy() / 12.0,
        chosen,
        rho=rho,
        weights=mix,
    )
    if report is not None:
        from fintwin.report.stress_report import scenario_report

        scenario_report(chosen, report, run.projections, title="Credit book under scenarios")
    _print({"loans": len(loans), "rho": rho, **run.to_dict()})


@app.command()
@reports_errors
def market(
    world: WorldOption = None,
    returns: Annotated[
        Path | None, typer.Option("--returns", help="Returns file (wide or long).")
    ] = None,
    weights: Annotated[
        list[str] | None, typer.Option("--weight", help="ASSET=WEIGHT (repeat; default equal).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.99,
    method: Annotated[
        str, typer.Option("--method", help="historical|parametric|...")
    ] = "historical",
    window: Annotated[int, typer.Option("--window", help="Days of history per forecast.")] = 250,
    report: ReportOption = None,
) -> None:
    """VaR and ES of a portfolio of the twin's assets or your returns, and the Basel back-test."""
    from fintwin.stress.market import (
        VarMethod,
        backtest,
        portfolio_returns,
        read_returns,
        rolling_var,
        value_at_risk,
        world_returns,
    )

    if (returns is None) == (world is None):
        raise ParameterError("give exactly one of --returns FILE and --world DIR")
    frame = world_returns(world) if world is not None else read_returns(returns)
    pairs = parse_pairs(weights, "--weight")
    try:
        mix = {k: float(v) for k, v in pairs.items()} or {
            c: 1.0 / frame.shape[1] for c in frame.columns
        }
    except ValueError:
        raise ParameterError(f"--weight takes ASSET=NUMBER (got {weights})") from None
    try:
        chosen = VarMethod(method)
    except ValueError:
        raise ParameterError(
            f"--method must be one of {[m.value for m in VarMethod]} (got {method!r})"
        ) from None
    series = portfolio_returns(frame, mix)
    estimate = value_at_risk(series.iloc[-window:], alpha, chosen)
    forecasts = rolling_var(series, alpha, chosen, window=window)
    result = {
        "weights": mix,
        "days": len(series),
        "estimate": estimate.__dict__,
    }
    if len(forecasts) >= 250:
        result["backtest"] = backtest(series, forecasts, alpha=alpha).__dict__
    if report is not None:
        from fintwin.report.stress_report import market_report

        market_report(series, forecasts, result, report)
    _print(result)


@app.command()
@reports_errors
def preplay(
    world: Annotated[Path, typer.Option("--world", help="World directory.")],
    change: Annotated[Path, typer.Option("--change", help="Policy change (YAML).")],
    scenario: ScenarioOption = "baseline",
    registry: Annotated[
        Path | None, typer.Option("--registry", envvar="FINTWIN_REGISTRY", help="Fraud models.")
    ] = None,
    report: ReportOption = None,
) -> None:
    """Try a policy change in the twin under a scenario, side by side with the current one."""
    from fintwin.data import open_world
    from fintwin.stress.policy_change import load_change
    from fintwin.stress.preplay import preplay as run_preplay

    result = run_preplay(
        open_world(world), _scenario(scenario), load_change(change), registry=registry
    )
    if report is not None:
        from fintwin.report.stress_report import preplay_report

        preplay_report(result, report)
    _print(result.to_dict())
