"""`fintwin stress capital | portfolio | market | preplay` on files and worlds: the JSON they
print against the Python API, their reports, and bad input (exit status 2, one error line)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.data import World
from fintwin.stress.irb import capital_requirement, risk_weighted_assets
from fintwin.stress.market import portfolio_returns, read_returns, value_at_risk
from fintwin.stress.policy_change import load_change
from fintwin.stress.portfolio import Portfolio, simulate_losses
from fintwin.stress.preplay import preplay
from fintwin.stress.scenarios import builtin_scenario, builtin_scenario_path
from fintwin.world import simulate

runner = CliRunner()
DATA_SCRIPT = re.compile(r'<script type="application/json" id="stress-data">(.*?)</script>', re.S)


def _ok(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, ["stress", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _fails(args: list[str], *needles: str) -> str:
    """Exit status 2 with an ``error:`` line naming each needle."""
    result = runner.invoke(app, ["stress", *args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return result.output


def _embedded(report: Path) -> dict[str, Any]:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    match = DATA_SCRIPT.search(page)
    assert match, "no stress-data script"
    return json.loads(match.group(1))


# --- worlds ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def market_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two years of asset prices: over 500 business days."""
    return simulate(
        tmp_path_factory.mktemp("stress-cli") / "market",
        "handbook",
        customers=200,
        days=730,
        seed=3,
    )


# --- capital --------------------------------------------------------------------------------

EXPOSURES = pd.DataFrame(
    {
        "pd": [0.01, 0.03, 0.02, 0.05, 0.004, 0.015],
        "lgd": [0.45, 0.40, 0.45, 0.75, 0.20, 0.60],
        "ead": [1_000_000.0, 250_000.0, 5_000.0, 2_000.0, 300_000.0, 40_000.0],
        "asset_class": [
            "corporate",
            "sme",
            "other_retail",
            "revolving",
            "mortgage",
            "other_retail",
        ],
        # retail rows leave maturity and sales blank: neither applies to them
        "maturity": [3.0, 2.0, None, None, None, None],
        "sales_eur_m": [20.0, 8.0, None, None, None, None],
    }
)


def _expected_capital(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in frame.itertuples():
        corporate = r.asset_class in ("corporate", "sme")
        extra = (r.maturity, r.sales_eur_m) if corporate else ()
        rows.append(
            {
                "asset_class": r.asset_class,
                "rwa": float(risk_weighted_assets(r.pd, r.lgd, r.ead, r.asset_class, *extra)),
                "capital": float(capital_requirement(r.pd, r.lgd, r.asset_class, *extra)) * r.ead,
            }
        )
    return pd.DataFrame(rows)


def test_capital_of_a_file_is_the_irb_formula(tmp_path: Path) -> None:
    path = tmp_path / "exposures.csv"
    EXPOSURES.to_csv(path, index=False)
    out = tmp_path / "per-exposure.csv"
    data = _ok(["capital", "--data", str(path), "--out", str(out)])
    expected = _expected_capital(EXPOSURES)
    assert data["exposures"] == len(EXPOSURES)
    assert data["ead"] == pytest.approx(EXPOSURES["ead"].sum(), rel=1e-12)
    assert data["rwa"] == pytest.approx(expected["rwa"].sum(), rel=1e-12)
    assert data["capital"] == pytest.approx(expected["capital"].sum(), rel=1e-12)
    by_class = {row["asset_class"]: row for row in data["by_asset_class"]}
    assert set(by_class) == {"corporate", "sme", "other_retail", "revolving", "mortgage"}
    totals = expected.groupby("asset_class")["rwa"].sum()
    for name, row in by_class.items():
        assert row["rwa"] == pytest.approx(totals[name], rel=1e-12), name
    # the corporate row's sales (EUR 20 million) and maturity were used
    no_adjustment = float(risk_weighted_assets(0.01, 0.45, 1_000_000.0, "corporate"))
    assert by_class["corporate"]["rwa"] < no_adjustment
    written = pd.read_csv(out)
    assert written["rwa"].to_numpy() == pytest.approx(expected["rwa"].to_numpy(), rel=1e-12)


def test_capital_refuses_an_unknown_asset_class(tmp_path: Path) -> None:
    path = tmp_path / "exposures.csv"
    EXPOSURES.assign(
        asset_class=["corporate", "sme", "retail", "revolving", "mortgage", "x"]
    ).to_csv(path, index=False)
    _fails(["capital", "--data", str(path)], "asset_class", "unknown asset class", "exposures.csv")


def test_capital_refuses_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "exposures.csv"
    EXPOSURES.drop(columns="lgd").to_csv(path, index=False)
    _fails(["capital", "--data", str(path)], "'lgd'", "exposures.csv")


def test_capital_needs_exactly_one_source(tmp_path: Path, lending_world: World) -> None:
    path = tmp_path / "exposures.csv"
    EXPOSURES.to_csv(path, index=False)
    _fails(["capital"], "--data", "--world")
    _fails(["capital", "--data", str(path), "--world", str(lending_world.path)], "exactly one")


def test_capital_of_a_world_rises_under_the_adverse_scenario(lending_world: World) -> None:
    world = str(lending_world.path)
    plain = _ok(["capital", "--world", world])
    adverse = _ok(["capital", "--world", world, "--scenario", "adverse"])
    assert plain["exposures"] == adverse["exposures"] > 0
    assert plain["ead"] == pytest.approx(adverse["ead"])
    assert adverse["capital"] > plain["capital"] > 0
    assert adverse["rwa"] > plain["rwa"]
    assert {r["asset_class"] for r in plain["by_asset_class"]} <= {"other_retail", "revolving"}


# --- portfolio ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def obligors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame(
        {
            "pd": rng.uniform(0.002, 0.05, n).round(4),
            "lgd": rng.uniform(0.2, 0.7, n).round(2),
            "ead": rng.uniform(500, 20_000, n).round(),
            "segment": np.array(["cards", "loans", "sme"])[rng.integers(0, 3, n)],
        }
    )
    path = tmp_path_factory.mktemp("stress-portfolio") / "obligors.csv"
    frame.to_csv(path, index=False)
    return path


def test_portfolio_of_a_file(obligors: Path, tmp_path: Path) -> None:
    args = ["portfolio", "--data", str(obligors), "--scenarios", "2000", "--seed", "1"]
    report = tmp_path / "portfolio.html"
    data = _ok([*args, "--report", str(report)])
    assert data["obligors"] == 300
    assert data["n_scenarios"] == 2000
    levels = {level["alpha"]: level for level in data["levels"]}
    assert sorted(levels) == [0.99, 0.999]
    assert data["expected_loss"] < levels[0.99]["var"] <= levels[0.999]["var"]
    for level in levels.values():
        assert level["var"] <= level["expected_shortfall"]
    assert set(data["segments"]) == {"cards", "loans", "sme"}
    # the Python API gives the same numbers
    frame = pd.read_csv(obligors)
    book = Portfolio(
        pd=frame["pd"].to_numpy(),
        lgd=frame["lgd"].to_numpy(),
        ead=frame["ead"].to_numpy(),
        asset_correlation=0.15,
        segment=frame["segment"].astype(str).to_numpy(),
    )
    losses = simulate_losses(book, 2000, seed=1)
    assert data["expected_loss"] == losses.expected_loss
    assert levels[0.999]["var"] == losses.var(0.999)
    assert levels[0.999]["expected_shortfall"] == losses.expected_shortfall(0.999)
    # the report holds the same numbers
    page = _embedded(report)
    assert page["kind"] == "portfolio"
    assert page["expected_loss"] == data["expected_loss"]
    assert page["levels"] == data["levels"]


def test_portfolio_is_reproducible_by_seed(obligors: Path) -> None:
    args = ["portfolio", "--data", str(obligors), "--scenarios", "2000"]
    first = runner.invoke(app, ["stress", *args, "--seed", "1"])
    again = runner.invoke(app, ["stress", *args, "--seed", "1"])
    other = runner.invoke(app, ["stress", *args, "--seed", "2"])
    assert first.exit_code == again.exit_code == other.exit_code == 0, first.output
    assert first.stdout == again.stdout
    assert json.loads(first.stdout)["levels"] != json.loads(other.stdout)["levels"]


def test_portfolio_of_a_world(lending_world: World) -> None:
    data = _ok(["portfolio", "--world", str(lending_world.path), "--scenarios", "2000"])
    capital = _ok(["capital", "--world", str(lending_world.path)])
    assert data["obligors"] == capital["exposures"]
    assert data["expected_loss"] > 0
    assert set(data["segments"]) <= {
        "personal_loan",
        "credit_card_line",
        "sme_working_capital",
        "microloan",
    }


# --- market ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def returns_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 business days of two assets' daily log returns (seeded, fat-tailed)."""
    rng = np.random.default_rng(42)
    n = 600
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2022-01-03", periods=n).strftime("%Y-%m-%d"),
            "equity": 0.0003 + 0.012 * rng.standard_t(4, n) / np.sqrt(2),
            "bonds": 0.0001 + 0.004 * rng.standard_normal(n),
        }
    )
    path = tmp_path_factory.mktemp("stress-market") / "returns.csv"
    frame.to_csv(path, index=False)
    return path


ESTIMATE_KEYS = {
    "var",
    "es",
    "method",
    "alpha",
    "n_observations",
    "horizon_days",
    "value",
    "distribution",
    "dof",
}
BACKTEST_KEYS = {
    "exceptions",
    "days",
    "alpha",
    "expected_exceptions",
    "zone",
    "plus_factor",
    "kupiec_lr",
    "kupiec_p_value",
    "reject_at_5pct",
    "exception_dates",
}


def test_market_of_a_returns_file(returns_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "market.html"
    data = _ok(["market", "--returns", str(returns_file), "--report", str(report)])
    assert data["weights"] == {"equity": 0.5, "bonds": 0.5}
    assert data["days"] == 600
    assert set(data["estimate"]) == ESTIMATE_KEYS
    assert data["estimate"]["method"] == "historical"
    assert data["estimate"]["n_observations"] == 250
    series = portfolio_returns(read_returns(returns_file), data["weights"])
    expected = value_at_risk(series.iloc[-250:], 0.99, "historical")
    assert data["estimate"]["var"] == expected.var
    assert data["estimate"]["es"] == expected.es
    bt = data["backtest"]
    assert set(bt) == BACKTEST_KEYS
    assert bt["days"] == 250
    assert bt["zone"] in ("green", "amber", "red")
    assert len(bt["exception_dates"]) == bt["exceptions"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in bt["exception_dates"])
    page = _embedded(report)
    assert page["kind"] == "market"
    assert page["estimate"]["var"] == data["estimate"]["var"]
    assert page["backtest"]["exceptions"] == bt["exceptions"]


def test_market_parametric_and_weights(returns_file: Path) -> None:
    args = ["market", "--returns", str(returns_file), "--method", "parametric"]
    data = _ok([*args, "--weight", "equity=0.7", "--weight", "bonds=0.3", "--alpha", "0.975"])
    assert data["weights"] == {"equity": 0.7, "bonds": 0.3}
    assert data["estimate"]["method"] == "parametric"
    assert data["estimate"]["distribution"] == "normal"
    assert data["estimate"]["alpha"] == 0.975
    series = portfolio_returns(read_returns(returns_file), {"equity": 0.7, "bonds": 0.3})
    expected = value_at_risk(series.iloc[-250:], 0.975, "parametric")
    assert data["estimate"]["var"] == pytest.approx(expected.var, rel=1e-12)
    assert data["backtest"]["alpha"] == 0.975


def test_market_refuses_bad_options(returns_file: Path) -> None:
    base = ["market", "--returns", str(returns_file)]
    _fails([*base, "--method", "guess"], "--method", "historical", "parametric", "'guess'")
    _fails([*base, "--weight", "equity"], "--weight")
    _fails([*base, "--weight", "gold=1"], "gold")


def test_market_of_a_world(market_world: World) -> None:
    data = _ok(["market", "--world", str(market_world.path)])
    assert data["days"] > 500
    assert len(data["weights"]) == 8
    assert sum(data["weights"].values()) == pytest.approx(1.0)
    assert data["estimate"]["var"] > 0
    assert set(data["backtest"]) == BACKTEST_KEYS


# --- pre-play -------------------------------------------------------------------------------


def test_preplay_of_a_change(lending_world: World, tmp_path: Path) -> None:
    change = tmp_path / "change.yaml"
    change.write_text("credit:\n  min_bureau_score: 680\n")
    report = tmp_path / "r.html"
    args = ["preplay", "--world", str(lending_world.path), "--change", str(change)]
    data = _ok([*args, "--scenario", "adverse", "--report", str(report)])
    assert data["scenario"] == "adverse"
    credit = data["credit"]
    assert {"approved", "approval_rate", "expected_credit_loss_scenario", "capital"} <= set(credit)
    assert credit["approved"]["proposed"] < credit["approved"]["current"]
    assert credit["capital"]["change"] < 0
    expected = preplay(lending_world, builtin_scenario("adverse"), load_change(change))
    assert credit == expected.to_dict()["credit"]
    page = _embedded(report)
    assert page["kind"] == "preplay"
    assert page["credit"] == credit
    assert "approves" in page["headline"]["text"]


def test_preplay_reads_a_scenario_file(lending_world: World, tmp_path: Path) -> None:
    change = tmp_path / "change.yaml"
    change.write_text("credit:\n  min_bureau_score: 680\n")
    scenario = tmp_path / "my-scenario.yaml"
    shutil.copy(builtin_scenario_path("severely_adverse"), scenario)
    args = ["preplay", "--world", str(lending_world.path), "--change", str(change)]
    from_file = _ok([*args, "--scenario", str(scenario)])
    by_name = _ok([*args, "--scenario", "severely_adverse"])
    assert from_file == by_name


def test_preplay_refuses_an_unknown_scenario(lending_world: World, tmp_path: Path) -> None:
    change = tmp_path / "change.yaml"
    change.write_text("credit:\n  min_bureau_score: 680\n")
    args = ["preplay", "--world", str(lending_world.path), "--change", str(change)]
    _fails(
        [*args, "--scenario", "recession"],
        "--scenario",
        "'recession'",
        "baseline",
        "adverse",
        "severely_adverse",
    )


def test_preplay_refuses_a_bad_change_file(lending_world: World, tmp_path: Path) -> None:
    change = tmp_path / "bad-change.yaml"
    change.write_text("credit:\n  min_bureau_score: 9000\n")
    args = ["preplay", "--world", str(lending_world.path), "--change", str(change)]
    _fails(args, "bad-change.yaml", "credit.min_bureau_score")
