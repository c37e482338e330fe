"""The stress-testing reports: loss distribution, market risk, pre-play and scenarios; their
figures and tables against the inputs, the embedded JSON, self-contained atomic files."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _report_pages import figure, row_cells, section

from fintwin.credit.model_card import format_rate
from fintwin.data import World
from fintwin.exceptions import ParameterError
from fintwin.report.stress_report import (
    DATA_ID,
    market_report,
    portfolio_report,
    preplay_headline,
    preplay_report,
    render_market_report,
    render_portfolio_report,
    render_preplay_report,
    scenario_paths_figure,
    scenario_report,
    scenario_section,
)
from fintwin.stress.market import TrafficLight, backtest, rolling_var, value_at_risk
from fintwin.stress.policy_change import load_change
from fintwin.stress.portfolio import LossDistribution, Portfolio, simulate_losses
from fintwin.stress.preplay import PreplayResult, preplay
from fintwin.stress.scenarios import builtin_scenario, builtin_scenarios, project_losses

# --- inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def losses() -> LossDistribution:
    """300 obligors in three segments, 4,000 scenarios."""
    rng = np.random.default_rng(5)
    n = 300
    book = Portfolio(
        pd=rng.uniform(0.005, 0.06, n),
        lgd=np.full(n, 0.45),
        ead=rng.uniform(1_000, 50_000, n).round(),
        asset_correlation=0.15,
        segment=np.array(["cards", "mortgages", "sme"])[np.arange(n) % 3],
    )
    return simulate_losses(book, 4_000, seed=3)


@pytest.fixture(scope="module")
def market() -> tuple[pd.Series, pd.Series, dict[str, Any]]:
    """600 business days of returns whose volatility doubles for the last 150: the
    historical VaR lags, so the back-test finds exceptions."""
    rng = np.random.default_rng(7)
    vol = np.where(np.arange(600) < 450, 0.008, 0.016)
    returns = pd.Series(
        rng.standard_t(5, 600) * vol * np.sqrt(3 / 5),
        index=pd.bdate_range("2021-01-04", periods=600, name="date"),
        name="portfolio",
    )
    forecasts = rolling_var(returns, 0.99, "historical", window=250)
    result = {
        "weights": {"equity": 0.6, "bonds": 0.4},
        "days": len(returns),
        "estimate": value_at_risk(returns.iloc[-250:], 0.99).__dict__,
        "backtest": backtest(returns, forecasts, alpha=0.99).__dict__,
    }
    return returns, forecasts, result


@pytest.fixture(scope="module")
def preplayed(lending_world: World, tmp_path_factory: pytest.TempPathFactory) -> PreplayResult:
    change = tmp_path_factory.mktemp("stress-report") / "change.yaml"
    change.write_text("credit:\n  min_bureau_score: 680\n")
    return preplay(lending_world, builtin_scenario("adverse"), load_change(change))


@pytest.fixture(scope="module")
def pages(
    losses: LossDistribution,
    market: tuple[pd.Series, pd.Series, dict[str, Any]],
    preplayed: PreplayResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Each report written alone into its own directory."""
    root = tmp_path_factory.mktemp("pages")
    out = {
        "portfolio": root / "portfolio" / "p.html",
        "market": root / "market" / "m.html",
        "preplay": root / "preplay" / "pre.html",
    }
    assert portfolio_report(losses, out["portfolio"]) == out["portfolio"]
    assert market_report(*market, out["market"]) == out["market"]
    assert preplay_report(preplayed, out["preplay"]) == out["preplay"]
    return out


def read(pages: dict[str, Path], name: str) -> str:
    return pages[name].read_text(encoding="utf-8")


# --- page helpers ---------------------------------------------------------------------------


def embedded(page: str) -> dict:
    found = re.findall(
        rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', page, re.S
    )
    assert len(found) == 1, "one data script per page"
    return json.loads(found[0])


def trace(fig: dict, name: str) -> dict:
    matches = [t for t in fig["data"] if t.get("name") == name]
    assert len(matches) == 1, [t.get("name") for t in fig["data"]]
    return matches[0]


# --- the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["portfolio", "market", "preplay"])
def test_written_atomically_whole_and_self_contained(pages: dict[str, Path], name: str) -> None:
    path = pages[name]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    page = read(pages, name)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", page, re.I)
    assert "Plotly.newPlot" in page
    assert len(page) > 1_000_000  # plotly.js itself is inlined


def test_pages_are_the_rendered_documents(
    pages: dict[str, Path],
    losses: LossDistribution,
    market: tuple[pd.Series, pd.Series, dict[str, Any]],
    preplayed: PreplayResult,
) -> None:
    assert read(pages, "portfolio") == render_portfolio_report(losses)
    assert read(pages, "market") == render_market_report(*market)
    assert read(pages, "preplay") == render_preplay_report(preplayed)


def test_an_existing_file_is_replaced_and_a_directory_refused(
    losses: LossDistribution, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    out.write_text("x" * 10_000_000)  # longer than the page: a partial overwrite would show
    portfolio_report(losses, out, title="Second run")
    page = out.read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>")
    assert "<title>Second run</title>" in page
    assert "x" * 100 not in page
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ParameterError):
        portfolio_report(losses, empty)
    assert list(empty.iterdir()) == []


# --- the portfolio's loss distribution ------------------------------------------------------


def test_portfolio_json_holds_the_distributions_numbers(
    pages: dict[str, Path], losses: LossDistribution
) -> None:
    data = embedded(read(pages, "portfolio"))
    assert data["kind"] == "portfolio"
    assert data["n_scenarios"] == 4_000
    assert data["expected_loss"] == losses.expected_loss
    levels = {lv["alpha"]: lv for lv in data["levels"]}
    assert sorted(levels) == [0.99, 0.999]
    for a, level in levels.items():
        assert level["var"] == losses.var(a)
        assert level["expected_shortfall"] == losses.expected_shortfall(a)
        assert level["tail_scenarios"] == int((losses.losses >= losses.var(a)).sum())
    assert data["segments"] == losses.to_dict()["segments"]
    hist = data["histogram"]
    assert sum(hist["counts"]) == losses.n_scenarios
    assert hist["edges"][0] == losses.losses.min()
    assert hist["edges"][-1] == losses.losses.max()


def test_var_and_es_markers_sit_at_the_distributions_values(
    pages: dict[str, Path], losses: LossDistribution
) -> None:
    fig = figure(read(pages, "portfolio"), "loss-distribution")
    shapes = {s["name"]: s for s in fig["layout"]["shapes"]}
    expected = {
        "expected_loss": losses.expected_loss,
        "var_0.99": losses.var(0.99),
        "expected_shortfall_0.99": losses.expected_shortfall(0.99),
        "var_0.999": losses.var(0.999),
        "expected_shortfall_0.999": losses.expected_shortfall(0.999),
    }
    assert set(shapes) == set(expected)
    for key, value in expected.items():
        assert shapes[key]["x0"] == shapes[key]["x1"] == value, key
    labels = {a["name"]: a["text"] for a in fig["layout"]["annotations"]}
    assert labels["var_0.999"] == f"VaR 99.9%: {losses.var(0.999):,.0f}"
    assert labels["expected_shortfall_0.99"] == f"ES 99%: {losses.expected_shortfall(0.99):,.0f}"
    bars = fig["data"][0]
    assert sum(bars["y"]) == losses.n_scenarios
    assert min(bars["x"]) < losses.expected_loss < losses.var(0.99) < max(bars["x"])


def test_portfolio_summary_table(pages: dict[str, Path], losses: LossDistribution) -> None:
    part = section(read(pages, "portfolio"), "distribution")
    cells = row_cells(part, "var_0.999")
    assert cells[1] == "VaR at 99.9%"
    assert cells[2] == f"{losses.var(0.999):,.0f}"
    assert cells[4] == f"{int((losses.losses >= losses.var(0.999)).sum()):,}"
    lo, hi = losses.var_interval(0.999)
    assert cells[5] == f"{lo:,.0f} to {hi:,.0f}"
    es = row_cells(part, "expected_shortfall_0.99")
    assert es[2] == f"{losses.expected_shortfall(0.99):,.0f}"
    assert es[3] == f"{losses.expected_shortfall(0.99) / losses.expected_loss:.2f}x"


def test_segment_contributions_add_up_to_es(
    pages: dict[str, Path], losses: LossDistribution
) -> None:
    page = read(pages, "portfolio")
    fig = figure(page, "segment-contributions")
    es = trace(fig, "contribution to ES 99.9%")
    el = trace(fig, "expected loss")
    assert sorted(es["x"]) == ["cards", "mortgages", "sme"]
    assert sum(es["y"]) == pytest.approx(losses.expected_shortfall(0.999), rel=1e-12)
    assert sum(el["y"]) == pytest.approx(losses.expected_loss, rel=1e-12)
    # largest contributor first
    assert es["y"] == sorted(es["y"], reverse=True)
    contrib = losses.segment_contributions(0.999)
    cells = row_cells(section(page, "segments"), "sme")
    assert cells[0] == "sme"
    assert cells[1] == f"{losses.segment_expected_losses['sme']:,.0f}"
    assert cells[4] == f"{contrib['sme']:,.0f}"
    assert cells[5] == format_rate(contrib["sme"] / losses.expected_shortfall(0.999))


def test_levels_outside_the_unit_interval_are_refused(losses: LossDistribution) -> None:
    with pytest.raises(ParameterError, match="alphas"):
        render_portfolio_report(losses, alphas=(0.99, 1.0))


# --- market risk ----------------------------------------------------------------------------


def test_market_json_holds_estimate_backtest_and_series(
    pages: dict[str, Path], market: tuple[pd.Series, pd.Series, dict[str, Any]]
) -> None:
    returns, forecasts, result = market
    data = embedded(read(pages, "market"))
    assert data["kind"] == "market"
    est = result["estimate"]
    assert data["estimate"]["var"] == est["var"]
    assert data["estimate"]["es"] == est["es"]
    assert data["estimate"]["method"] == "historical"
    bt = result["backtest"]
    assert bt["exceptions"] > 0  # the inputs were made to give some
    assert data["backtest"]["exceptions"] == bt["exceptions"]
    assert data["backtest"]["zone"] == bt["zone"].value
    assert data["backtest"]["kupiec_lr"] == bt["kupiec_lr"]
    assert data["backtest"]["kupiec_p_value"] == bt["kupiec_p_value"]
    assert data["backtest"]["exception_dates"] == [
        d.date().isoformat() for d in bt["exception_dates"]
    ]
    assert data["returns"]["values"] == returns.tolist()
    assert data["forecasts"]["values"] == forecasts.tolist()
    assert data["forecasts"]["dates"][0] == returns.index[250].date().isoformat()
    assert data["weights"] == result["weights"]


def test_market_chart_marks_the_exceptions(
    pages: dict[str, Path], market: tuple[pd.Series, pd.Series, dict[str, Any]]
) -> None:
    returns, forecasts, result = market
    fig = figure(read(pages, "market"), "market-losses")
    line = trace(fig, "VaR 99% forecast")
    assert line["y"] == forecasts.tolist()
    assert line["x"] == [d.date().isoformat() for d in forecasts.index]
    assert trace(fig, "daily loss (gains below 0)")["y"] == (-returns).tolist()
    marked = trace(fig, "back-test exception")
    dates = result["backtest"]["exception_dates"]
    assert marked["x"] == [d.date().isoformat() for d in dates]
    assert marked["y"] == (-returns.loc[dates]).tolist()
    # every marked day lost more than its forecast, earlier exceedances included
    earlier = [t for t in fig["data"] if t.get("name") == "earlier exceedance"]
    for t in [marked, *earlier]:
        for day, loss in zip(t["x"], t["y"], strict=True):
            assert loss > forecasts.loc[pd.Timestamp(day)]


def test_backtest_section_shows_zone_in_its_colour(
    pages: dict[str, Path], market: tuple[pd.Series, pd.Series, dict[str, Any]]
) -> None:
    _, _, result = market
    bt = result["backtest"]
    part = section(read(pages, "market"), "backtest")
    zone = bt["zone"].value
    colour = {"green": "#2e7d32", "amber": "#e6a700", "red": "#c62828"}[zone]
    assert re.search(rf'data-zone="{zone}" style="background:{colour}">{zone.upper()}<', part)
    assert row_cells(part, "exceptions")[2] == str(bt["exceptions"])
    assert row_cells(part, "kupiec_lr")[2] == f"{bt['kupiec_lr']:.4f}"
    assert row_cells(part, "kupiec_p_value")[2] == f"{bt['kupiec_p_value']:.4f}"
    plus = bt["plus_factor"]
    assert row_cells(part, "plus_factor")[2] == f"{plus:.2f}"
    assert row_cells(part, "capital_multiplier")[2] == f"{3 + plus:.2f}"


def test_a_red_backtest_is_red(market: tuple[pd.Series, pd.Series, dict[str, Any]]) -> None:
    returns, forecasts, result = market
    red = {**result, "backtest": {**result["backtest"], "zone": TrafficLight.RED}}
    part = section(render_market_report(returns, forecasts, red), "backtest")
    assert 'data-zone="red" style="background:#c62828">RED<' in part


def test_market_without_backtest(market: tuple[pd.Series, pd.Series, dict[str, Any]]) -> None:
    returns, forecasts, result = market
    short = {k: v for k, v in result.items() if k != "backtest"}
    page = render_market_report(returns, forecasts, short)
    assert "Not back-tested" in section(page, "backtest")
    assert "backtest" not in embedded(page)
    fig = figure(page, "market-losses")
    assert not [t for t in fig["data"] if t.get("name") == "back-test exception"]


def test_market_estimate_table(
    pages: dict[str, Path], market: tuple[pd.Series, pd.Series, dict[str, Any]]
) -> None:
    est = market[2]["estimate"]
    part = section(read(pages, "market"), "estimate")
    assert row_cells(part, "var")[1:] == ["VaR (99%, 1 day)", format_rate(est["var"])]
    assert row_cells(part, "es")[1:] == ["ES (99%, 1 day)", format_rate(est["es"])]
    assert row_cells(part, "method")[2] == "historical"
    assert row_cells(part, "equity") == ["equity", "60.00%"]


# --- pre-play -------------------------------------------------------------------------------


def test_preplay_json_is_the_result(pages: dict[str, Path], preplayed: PreplayResult) -> None:
    data = embedded(read(pages, "preplay"))
    expected = preplayed.to_dict()
    assert data["kind"] == "preplay"
    assert data["scenario"] == "adverse"
    assert data["credit"] == expected["credit"]
    assert data["loan_year"] == expected["loan_year"]
    assert data["capital_by_class"] == expected["capital_by_class"]
    assert data["fraud"] is None
    c = preplayed.credit
    assert data["headline"]["approved_change"] == c.loc["approved", "change"]
    assert data["headline"]["capital_change"] == pytest.approx(c.loc["capital", "change"])


def test_headline_sentence_matches_the_result(
    pages: dict[str, Path], preplayed: PreplayResult
) -> None:
    page = read(pages, "preplay")
    match = re.search(r'<p class="headline" id="preplay-headline">(.*?)</p>', page, re.S)
    assert match
    sentence = html.unescape(match.group(1))
    assert sentence == preplay_headline(preplayed)
    numbers = re.fullmatch(
        r"Under adverse, the proposed policy approves ([\d,]+) fewer applicants "
        r"\((-[\d.]+) pp\), cuts expected credit loss by ([\d,]+) \((-[\d.]+)%\) and "
        r"capital by ([\d,]+) \((-[\d.]+)%\)\.",
        sentence,
    )
    assert numbers, sentence
    c = preplayed.credit
    approved, pp, ecl, ecl_pct, capital, capital_pct = numbers.groups()
    assert int(approved.replace(",", "")) == -c.loc["approved", "change"] > 0
    assert float(pp) == round(100 * c.loc["approval_rate", "change"], 1)
    ecl_change = c.loc["expected_credit_loss_scenario", "change"]
    assert int(ecl.replace(",", "")) == round(-ecl_change)
    assert float(ecl_pct) == round(
        100 * ecl_change / c.loc["expected_credit_loss_scenario", "current"], 1
    )
    assert int(capital.replace(",", "")) == round(-c.loc["capital", "change"])
    assert float(capital_pct) == round(
        100 * c.loc["capital", "change"] / c.loc["capital", "current"], 1
    )


def test_credit_table_is_formatted(pages: dict[str, Path], preplayed: PreplayResult) -> None:
    part = section(read(pages, "preplay"), "credit")
    c = preplayed.credit
    rate = row_cells(part, "approval_rate")
    assert rate[2:5] == [
        format_rate(c.loc["approval_rate", "current"]),
        format_rate(c.loc["approval_rate", "proposed"]),
        f"{100 * c.loc['approval_rate', 'change']:+.1f} pp",
    ]
    money = row_cells(part, "expected_credit_loss_scenario")
    assert money[2] == f"{c.loc['expected_credit_loss_scenario', 'current']:,.0f}"
    assert money[3] == f"{c.loc['expected_credit_loss_scenario', 'proposed']:,.0f}"
    assert money[4] == f"{c.loc['expected_credit_loss_scenario', 'change']:+,.0f}"
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", row_cells(part, "approved_exposure")[2])
    assert row_cells(part, "approved")[2:5] == [
        f"{int(c.loc['approved', 'current']):,}",
        f"{int(c.loc['approved', 'proposed']):,}",
        f"{int(c.loc['approved', 'change']):+,}",
    ]
    assert len(re.findall(r"<tr data-key=", part)) == len(c)


def test_preplay_chart_compares_both_policies(
    pages: dict[str, Path], preplayed: PreplayResult
) -> None:
    fig = figure(read(pages, "preplay"), "preplay-comparison")
    assert fig["layout"]["barmode"] == "group"
    c = preplayed.credit
    keys = ["expected_credit_loss_scenario", "expected_credit_loss_as_realised", "capital"]
    for policy in ("current", "proposed"):
        bars = trace(fig, f"{policy} policy")
        assert bars["y"] == [c.loc[k, policy] for k in keys]


def test_preplay_scenario_and_capital_sections(
    pages: dict[str, Path], preplayed: PreplayResult
) -> None:
    page = read(pages, "preplay")
    year = preplayed.loan_year
    scenario = section(page, "scenario")
    assert row_cells(scenario, "unemployment")[2] == f"{year['unemployment']:.2f}%"
    assert row_cells(scenario, "gdp_growth")[2] == f"{year['gdp_growth']:+.2f}%"
    assert row_cells(scenario, "lgd")[2] == format_rate(year["lgd"])
    cap = preplayed.capital_by_class.set_index(["policy", "asset_class"])
    cells = row_cells(section(page, "capital"), "revolving")
    assert cells[1] == f"{cap.loc[('current', 'revolving'), 'rwa']:,.0f}"
    assert cells[5] == f"{cap.loc[('proposed', 'revolving'), 'capital']:,.0f}"
    assert "no fraud section" in section(page, "fraud")


def _synthetic(current: list[float], proposed: list[float], fraud: bool = False) -> PreplayResult:
    index = ["applications", "approved", "approval_rate", "approved_exposure"]
    index += ["expected_bad_rate_scenario", "expected_credit_loss_scenario"]
    index += ["expected_credit_loss_as_realised", "capital"]
    credit = pd.DataFrame({"current": current, "proposed": proposed}, index=index)
    credit["change"] = credit["proposed"] - credit["current"]
    capital = pd.DataFrame(
        [
            {"policy": p, "asset_class": "other_retail", "rwa": 10.0 * k, "capital": k}
            for p, k in (("current", current[-1]), ("proposed", proposed[-1]))
        ]
    )
    table = None
    if fraud:
        table = pd.DataFrame(
            {
                "current": [0.5, 120, 2.0, 40, 30, 9000.0, 7000.0, 2000.0, 0.25],
                "proposed": [0.3, 300, 5.0, 40, 36, 9000.0, 8200.0, 800.0, 0.12],
            },
            index=[
                "threshold",
                "alerts",
                "alerts_per_day",
                "frauds",
                "frauds_caught",
                "fraud_amount",
                "fraud_amount_caught",
                "fraud_losses",
                "precision",
            ],
        )
        table["change"] = table["proposed"] - table["current"]
    year = {"unemployment": 5.0, "gdp_growth": 1.8, "lgd": 0.45}
    return PreplayResult("baseline", year, credit, capital, table)


def test_headline_of_a_looser_and_of_an_unchanged_policy() -> None:
    base = [1000.0, 600.0, 0.6, 5e6, 0.05, 100_000.0, 90_000.0, 300_000.0]
    looser = _synthetic(base, [1000.0, 700.0, 0.7, 6e6, 0.06, 150_000.0, 130_000.0, 350_000.0])
    assert preplay_headline(looser) == (
        "Under baseline, the proposed policy approves 100 more applicants (+10.0 pp), raises "
        "expected credit loss by 50,000 (+50.0%) and capital by 50,000 (+16.7%)."
    )
    same = _synthetic(base, base)
    assert preplay_headline(same) == (
        "Under baseline, the proposed policy approves as many applicants (0 pp), leaves "
        "expected credit loss unchanged and leaves capital unchanged."
    )
    mixed = _synthetic(base, [1000.0, 600.0, 0.6, 5e6, 0.05, 90_000.0, 90_000.0, 310_000.0])
    assert preplay_headline(mixed).endswith(
        "cuts expected credit loss by 10,000 (-10.0%) and raises capital by 10,000 (+3.3%)."
    )


def test_fraud_table_when_the_change_has_one() -> None:
    base = [1000.0, 600.0, 0.6, 5e6, 0.05, 100_000.0, 90_000.0, 300_000.0]
    page = render_preplay_report(_synthetic(base, base, fraud=True))
    part = section(page, "fraud")
    assert row_cells(part, "alerts")[2:5] == ["120", "300", "+180"]
    assert row_cells(part, "fraud_losses")[2:5] == ["2,000", "800.00", "-1,200"]
    assert row_cells(part, "precision")[2:5] == ["25.0%", "12.0%", "-13.0 pp"]
    assert embedded(page)["fraud"]["frauds_caught"] == {
        "current": 30.0,
        "proposed": 36.0,
        "change": 6.0,
    }


# --- scenarios ------------------------------------------------------------------------------


def test_scenario_paths_figure() -> None:
    scenarios = builtin_scenarios()
    fig = scenario_paths_figure(scenarios)
    assert len(fig.data) == 2 * len(scenarios)
    for name, s in scenarios.items():
        traces = {t.meta: t for t in fig.data if t.name == name}
        assert list(traces["unemployment"].y) == s.paths["unemployment"].tolist()
        assert list(traces["gdp_growth"].y) == s.paths["gdp_growth"].tolist()
        assert traces["unemployment"].xaxis == "x"
        assert traces["gdp_growth"].xaxis == "x2"
        assert traces["unemployment"].line.color == traces["gdp_growth"].line.color
    assert sum(bool(t.showlegend) for t in fig.data) == len(scenarios)


def test_scenario_section_with_projected_losses(tmp_path: Path) -> None:
    scenarios = builtin_scenarios()
    pd_ttc = np.linspace(0.005, 0.05, 50)
    tables = {n: project_losses(pd_ttc, 0.45, 1_000.0, 0.1, s) for n, s in scenarios.items()}
    long = pd.concat([t.assign(scenario=n) for n, t in tables.items()], ignore_index=True)
    from_mapping = scenario_section(scenarios, tables)
    from_long = scenario_section(scenarios, long)
    assert from_mapping.body == from_long.body
    fig = figure(from_mapping.body, "scenarios-losses")
    for name, table in tables.items():
        assert trace(fig, name)["y"] == table["cumulative_loss"].tolist()
    totals = {n: t["cumulative_loss"].iloc[-1] for n, t in tables.items()}
    assert totals["baseline"] < totals["adverse"] < totals["severely_adverse"]
    projected = from_mapping.body.split("Projected credit losses", 1)[1]
    total = totals["adverse"]
    assert row_cells(projected, "adverse")[2] == (
        f"{total:,.0f}" if total >= 1000 else f"{total:,.2f}"
    )
    with pytest.raises(ParameterError, match="cumulative_loss"):
        scenario_section(scenarios, long.drop(columns="cumulative_loss"))

    out = scenario_report(scenarios, tmp_path / "s.html", tables)
    page = out.read_text(encoding="utf-8")
    data = embedded(page)
    assert data["scenarios"]["adverse"]["paths"]["unemployment"] == (
        scenarios["adverse"].paths["unemployment"].tolist()
    )
    assert data["losses"]["severely_adverse"]["cumulative_loss"] == (
        tables["severely_adverse"]["cumulative_loss"].tolist()
    )
    assert figure(page, "scenarios-paths")["data"]


def test_scenario_section_without_losses() -> None:
    part = scenario_section({"adverse": builtin_scenario("adverse")}).body
    assert "scenarios-losses" not in part
    assert row_cells(part, "adverse")[3] == "8.00%"  # peak unemployment
