from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import plotly.offline
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import fintwin.report
from fintwin.cli import app
from fintwin.data import World, WorldWriter, open_world
from fintwin.data.schemas import TABLE_SPECS, money_from_minor
from fintwin.report import render_world_report, world_report
from fintwin.report._activity import _buckets, event_daily, map_section
from fintwin.report._finance import loan_section, loan_summary, market_paths

# The module, not the function of the same name that fintwin.report exports.
world_report_module = importlib.import_module("fintwin.report.world_report")
ALL_SECTIONS = ("summary", "volume", "fraud", "map", "loans", "markets")
START = dt.datetime(2024, 1, 1)
EVIL = "</script><script>alert(1)</script>"


# -- a small world with every table the report knows, written through WorldWriter ---------------
def _spec_table(name: str, n: int, **given: object) -> pa.Table:
    """A table of ``name`` with the columns given; other required columns are filled from the
    spec (null where nullable), so the fixture follows the spec as it grows."""
    spec = TABLE_SPECS[name]
    cols: dict[str, pa.Array] = {}
    for col in spec.columns:
        if col.name in given:
            value = given[col.name]
            cols[col.name] = value if isinstance(value, pa.Array) else pa.array(value)
        elif col.required:
            if col.nullable:
                cols[col.name] = pa.nulls(n, col.type)
            elif pa.types.is_dictionary(col.type) or pa.types.is_string(col.type):
                cols[col.name] = pa.array(["x"] * n)
            elif pa.types.is_decimal(col.type):
                cols[col.name] = money_from_minor(np.zeros(n, np.int64))
            elif pa.types.is_timestamp(col.type):
                cols[col.name] = pa.array([START] * n, pa.timestamp("ms"))
            elif pa.types.is_date(col.type):
                cols[col.name] = pa.array([START.date()] * n, pa.date32())
            elif pa.types.is_boolean(col.type):
                cols[col.name] = pa.array([False] * n)
            else:
                cols[col.name] = pa.array(np.arange(n)).cast(col.type)
    return pa.table(cols)


def _events(n_days: int, per_day: int, scenarios: list[str | None], rng) -> dict[str, object]:
    n = n_days * per_day
    ts = np.sort(rng.integers(0, n_days * 86_400_000, n)) + int(START.timestamp() * 1000)
    scenario = [scenarios[i] for i in rng.integers(0, len(scenarios), n)]
    return {
        "timestamp": pa.array(ts, pa.timestamp("ms")),
        "amount": money_from_minor(rng.integers(100, 100_000, n)),
        "is_fraud": pa.array([s is not None for s in scenario]),
        "fraud_scenario": pa.array(scenario, pa.string()),
        "label_available_at": pa.array(ts + 7 * 86_400_000, pa.timestamp("ms")),
    }


def _write_full_world(path: Path, n_customers: int = 300) -> World:
    rng = np.random.default_rng(5)
    n_days, n_loans = 10, 400
    segments = ["salaried", "student", "retired"]
    customers = _spec_table(
        "customers",
        n_customers,
        customer_id=np.arange(n_customers),
        home_x=rng.uniform(0, 100, n_customers),
        home_y=rng.uniform(0, 100, n_customers),
        region=pa.array([["north", "south", EVIL][i % 3] for i in range(n_customers)]),
        segment=pa.array([segments[i % 3] for i in range(n_customers)]),
        thin_file=pa.array(rng.random(n_customers) < 0.3),
    )
    terminals = _spec_table("terminals", 50, x=rng.uniform(0, 100, 50), y=rng.uniform(0, 100, 50))
    tx = _events(n_days, 100, [None] * 8 + ["card_testing", "compromised_terminal"], rng)
    n_tx = len(tx["timestamp"])
    transactions = _spec_table(
        "transactions",
        n_tx,
        transaction_id=np.arange(n_tx),
        customer_id=rng.integers(0, n_customers, n_tx),
        terminal_id=rng.integers(0, 50, n_tx),
        **tx,
    )
    tr = _events(n_days, 40, [None] * 9 + ["mule_ring"], rng)
    n_tr = len(tr["timestamp"])
    transfers = _spec_table("transfers", n_tr, transfer_id=np.arange(n_tr), **tr)
    approved = rng.random(n_loans) < 0.6
    default = np.where(approved, rng.random(n_loans) < 0.1, False)
    loans = _spec_table(
        "loan_applications",
        n_loans,
        application_id=np.arange(n_loans),
        customer_id=rng.integers(0, n_customers, n_loans),
        decision=pa.array(np.where(approved, "approved", "declined")),
        default_12m=pa.array(default, mask=~approved),
    )
    dates = pd.bdate_range("2024-01-01", periods=30).date
    classes = ["domestic_equity", "gold"]
    prices = _spec_table(
        "asset_prices",
        len(dates) * 2,
        date=pa.array([d for d in dates for _ in classes], pa.date32()),
        asset_class=pa.array(classes * len(dates)),
        price=np.exp(np.cumsum(rng.normal(0, 0.01, (len(dates), 2)), axis=0)).ravel() * 250.0,
    )
    with WorldWriter(path) as w:
        for name, table in [
            ("customers", customers),
            ("terminals", terminals),
            ("transactions", transactions),
            ("transfers", transfers),
            ("loan_applications", loans),
            ("asset_prices", prices),
        ]:
            w.write_table(name, table)
        w.commit(preset="import", seed=None, start="2024-01-01", days=n_days, parameters={})
    return open_world(path)


@pytest.fixture(scope="module")
def full_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _write_full_world(tmp_path_factory.mktemp("report") / "full")


@pytest.fixture(scope="module")
def full_html(full_world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = world_report(full_world, tmp_path_factory.mktemp("out") / "full.html")
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def handbook_html(handbook_world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = world_report(handbook_world.path, tmp_path_factory.mktemp("out") / "hb.html")
    return out.read_text(encoding="utf-8")


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match is not None, f"no section {anchor}"
    return match.group(1)


# -- the page -------------------------------------------------------------------------------------
def test_public_api() -> None:
    assert sorted(fintwin.report.__all__) == [
        "render_world_report",
        "world_report",
        "world_sections",
    ]


@pytest.mark.parametrize("page", ["full_html", "handbook_html"])
def test_page_is_self_contained(page: str, request: pytest.FixtureRequest) -> None:
    text = request.getfixturevalue(page)
    assert re.search(r"<script[^>]*\ssrc\s*=", text) is None
    assert re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", text) is None
    assert text.count(plotly.offline.get_plotlyjs()) == 1
    assert text.count("<script") == text.count("</script>")


def test_every_present_section_has_its_chart(full_html: str) -> None:
    for anchor in ALL_SECTIONS:
        body = _section(full_html, anchor)
        assert "has no" not in body, anchor
        assert f'href="#{anchor}"' in full_html  # listed in the table of contents
    for fig in ("volume", "fraud-transactions", "fraud-transfers", "map", "loans", "markets"):
        assert f'id="fig-{fig}"' in full_html
    assert "(not in this world)" not in full_html
    # Each chart is followed by the sentence that says what it shows.
    assert full_html.count('<p class="caption">') >= 6


def test_payments_only_world_gets_notices(handbook_world: World, tmp_path: Path) -> None:
    # An imported card-payments file: no loans, markets or transfers.
    with WorldWriter(tmp_path / "w") as w:
        w.write_table("customers", handbook_world.arrow("customers", ["customer_id"]))
        w.write_table("transactions", handbook_world.arrow("transactions"))
        w.commit(preset="import", seed=None, start="2018-04-01", days=40, parameters={})
    page = world_report(tmp_path / "w", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no loan_applications table" in _section(page, "loans")
    assert "no asset_prices table" in _section(page, "markets")
    assert "no transfers table" in _section(page, "volume")
    assert 'id="fig-loans"' not in page
    assert 'id="fig-markets"' not in page
    assert page.count("(not in this world)") == 3  # loans, markets, and the map (no homes)


def test_absent_tables_get_a_notice(handbook_html: str) -> None:
    # The handbook world has card payments, loans and markets, but no account transfers.
    assert "no transfers table" in _section(handbook_html, "volume")
    assert 'id="fig-fraud-transactions"' in handbook_html
    assert 'id="fig-fraud-transfers"' not in handbook_html
    assert 'id="fig-loans"' in handbook_html
    assert 'id="fig-markets"' in handbook_html


@pytest.mark.parametrize("which", ["full", "handbook"])
def test_summary_rows_equal_the_manifest(
    which: str, request: pytest.FixtureRequest, full_world: World, handbook_world: World
) -> None:
    world = full_world if which == "full" else handbook_world
    summary = _section(request.getfixturevalue(f"{which}_html"), "summary")
    for name, entry in world.manifest.tables.items():
        row = re.search(rf'<tr data-key="{name}">(.*?)</tr>', summary)
        assert row is not None, name
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[1] == f"{entry.rows:,}", name
    if world.manifest.seed is not None:
        assert f"seed {world.manifest.seed}" in request.getfixturevalue(f"{which}_html")


def test_data_values_cannot_break_out_of_scripts(full_html: str) -> None:
    # A region named like a closing script tag is data, and stays data.
    assert EVIL not in full_html
    assert "alert(1)" in _section(full_html, "map")


def test_report_is_deterministic(full_world: World, tmp_path: Path) -> None:
    assert render_world_report(full_world) == render_world_report(full_world)


def test_map_is_sampled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fintwin.report._activity as activity

    world = _write_full_world(tmp_path / "w", n_customers=120)
    monkeypatch.setattr(activity, "MAX_MAP_POINTS", 40)
    page = render_world_report(world)
    caption = _section(page, "map")
    assert "homes of 40 of 120 customers" in caption
    assert "40 of 50 physical terminals" in caption


# -- aggregates against independent pandas computations ------------------------------------------
def test_event_daily_matches_pandas(full_world: World) -> None:
    con = full_world.connect()
    daily = event_daily(con, "transactions")
    frame = full_world.frame("transactions")
    assert daily["rows"].sum() == full_world.manifest.tables["transactions"].rows
    by_scenario = daily.groupby("scenario")["rows"].sum().to_dict()
    assert by_scenario == frame["fraud_scenario"].value_counts().to_dict()
    # Amounts are decimals summed exactly in SQL; the float conversion loses < 1e-6 relative.
    assert daily["amount"].sum() == pytest.approx(float(frame["amount"].sum()), rel=1e-9)
    assert event_daily(con, "nonexistent") is None


def test_long_worlds_are_shown_per_week() -> None:
    days = pd.date_range("2024-01-01", periods=200).date
    daily = pd.DataFrame({"day": days, "scenario": None, "rows": 2, "amount": 1.0})
    weekly, unit = _buckets(daily)
    assert unit == "week"
    assert weekly["rows"].sum() == 400
    assert (pd.to_datetime(weekly["day"]).dt.day_of_week == 0).all()
    assert _buckets(daily.iloc[:100])[1] == "day"


def test_loan_rates_match_pandas(full_world: World) -> None:
    con = full_world.connect()
    loans = full_world.frame("loan_applications").merge(
        full_world.frame("customers"), on="customer_id"
    )
    got = loan_summary(con, "segment").set_index("group")
    for segment, part in loans.groupby("segment", observed=True):
        approved = part["decision"] == "approved"
        assert got.loc[segment, "applications"] == len(part)
        assert got.loc[segment, "approval_rate"] == pytest.approx(approved.mean())
        observed = part.loc[approved, "default_12m"].astype(float)
        assert got.loc[segment, "default_rate"] == pytest.approx(observed.mean())
    thin = loan_summary(con, "thin_file").set_index("group")
    assert set(thin.index) == {"thin file", "bureau file"}
    assert thin["applications"].sum() == len(loans)


def test_loan_section_on_frames_without_customers() -> None:
    con = duckdb.connect()
    loans = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "decision": ["approved", "approved", "declined", "approved"],
            "default_12m": [True, False, None, None],
        }
    )
    con.register("loan_applications", loans)
    overall = loan_summary(con, None).iloc[0]
    assert overall["approval_rate"] == pytest.approx(0.75)
    assert overall["outcomes"] == 2  # the approved loan with an unknown outcome is not counted
    assert overall["default_rate"] == pytest.approx(0.5)
    section = loan_section(con)
    assert section.present
    assert "no segment column" in section.body and "no thin_file column" in section.body
    con.register("loan_applications", loans.drop(columns="decision"))
    section = loan_section(con)
    assert not section.present and "lacks the columns: decision" in section.body


def test_market_paths_start_at_100_and_keep_ratios(full_world: World) -> None:
    paths, reason = market_paths(full_world.connect())
    assert reason == ""
    prices = full_world.frame("asset_prices")
    for cls, part in paths.groupby("asset_class"):
        raw = prices[prices["asset_class"] == cls].sort_values("date")["price"].to_numpy()
        np.testing.assert_allclose(part["level"].to_numpy(), 100 * raw / raw[0], rtol=1e-12)


def test_market_paths_average_instruments_of_a_class() -> None:
    con = duckdb.connect()
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"] * 2).date,
            "asset_class": ["equity"] * 4,
            "ticker": ["A", "A", "B", "B"],
            "close": [10.0, 11.0, 200.0, 180.0],
        }
    )
    con.register("asset_prices", frame)
    paths, _ = market_paths(con)
    # Equal-weight index: A +10 %, B -10 %.
    np.testing.assert_allclose(paths["level"].to_numpy(), [100.0, 100.0])
    con.register("asset_prices", frame.drop(columns="close"))
    paths, reason = market_paths(con)
    assert paths is None and "one of price, index" in reason


# -- atomic writing -------------------------------------------------------------------------------
def test_error_while_rendering_leaves_no_file(
    full_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(con: duckdb.DuckDBPyConnection) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(world_report_module, "map_section", boom)
    with pytest.raises(RuntimeError, match="boom"):
        world_report(full_world, tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []
    # An older report at the target survives a failed rewrite.
    (tmp_path / "r.html").write_text("old")
    with pytest.raises(RuntimeError):
        world_report(full_world, tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


# -- command line ---------------------------------------------------------------------------------
def test_cli_writes_the_report(full_world: World, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.html"
    result = CliRunner().invoke(app, ["report", "world", str(full_world.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_missing_world_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "world", str(tmp_path / "nope"), "--out", str(out)])
    assert result.exit_code == 2
    assert "error:" in result.output and "no such world directory" in result.output
    assert not out.exists()


def test_cli_refuses_a_directory_as_output(full_world: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "world", str(full_world.path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "must be a file path" in result.output


def test_figures_are_valid_json(full_html: str) -> None:
    for payload in re.findall(r"var f=(.*?);Plotly\.newPlot", full_html):
        figure = json.loads(payload.replace("<\\/", "</").replace("<\\!--", "<!--"))
        assert figure["data"], "a chart without traces"


def test_map_leaves_out_terminals_abroad() -> None:
    con = duckdb.connect()
    con.register(
        "customers",
        pd.DataFrame({"customer_id": [0, 1], "home_x": [0.0, 100.0], "home_y": [0.0, 100.0]}),
    )
    con.register(
        "terminals",
        pd.DataFrame(
            {"terminal_id": [0, 1, 2], "x": [50.0, 105.0, 5000.0], "y": [50.0, 50.0, -3000.0]}
        ),
    )
    section = map_section(con)
    # 105 km lies inside the customers' box plus 10 %; 5,000 km does not.
    assert "2 of 2 physical terminals" in section.body
    assert "not the 1 more outside the area where customers live (abroad)" in section.body
