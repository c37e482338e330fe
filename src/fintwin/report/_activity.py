"""Sections about the world's people and payments: summary, daily volume, fraud, map.

Every aggregate is computed by DuckDB over the world's Parquet files; only per-day results (a few
hundred rows) and bounded samples of points reach pandas, so a 20-million-row world costs one
scan per event table.
"""

from __future__ import annotations

import datetime as dt
import html

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from fintwin.data.schemas.vocab import FraudScenario
from fintwin.data.world_dir import World
from fintwin.report._db import columns_of, quote
from fintwin.report._html import Section, figure_html, notice_html, table_html
from fintwin.world.describe import describe_world

__all__ = [
    "EVENT_TABLES",
    "MAX_MAP_POINTS",
    "event_daily",
    "fraud_section",
    "map_section",
    "summary_section",
    "volume_section",
]

#: Event tables summarised per day, with the words used for them on the page.
EVENT_TABLES = {"transactions": "card payments", "transfers": "account transfers"}
#: Upper bound on customers and on terminals drawn on the map (keeps the page light).
MAX_MAP_POINTS = 5_000
#: Longer worlds are shown per week, so that bars stay readable.
MAX_DAILY_BUCKETS = 120

_TEMPLATE = "plotly_white"
_SCENARIO_ORDER = [s.value for s in FraudScenario]
_PALETTE = qualitative.D3 + qualitative.Set2


def _scenario_colour(scenario: str) -> str:
    # Fixed colour per scenario so that the same typology looks the same in every chart.
    i = _SCENARIO_ORDER.index(scenario) if scenario in _SCENARIO_ORDER else len(_SCENARIO_ORDER)
    return _PALETTE[i % len(_PALETTE)]


def _dates(values: pd.Series) -> list[str]:
    return [d.isoformat() for d in pd.to_datetime(values).dt.date]


# -- summary --------------------------------------------------------------------------------------
def summary_section(world: World) -> Section:
    """What the world is: preset, seed, period and the rows of every table.

    Parameters
    ----------
    world : World

    Returns
    -------
    Section
    """
    m = world.manifest
    start = dt.date.fromisoformat(m.start)
    end = start + dt.timedelta(days=max(m.days, 1) - 1)
    facts = [
        ("Directory", str(world.path)),
        ("Preset", m.preset),
        ("Seed", "none (imported data)" if m.seed is None else str(m.seed)),
        ("Period", f"{start.isoformat()} to {end.isoformat()} ({m.days:,} days)"),
        ("Schema version", str(m.schema_version)),
        ("Made by", f"fintwin {m.fintwin_version}"),
    ]
    body = [
        '<div class="table-wrap"><table class="data"><tbody>',
        *(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts),
        "</tbody></table></div>\n",
    ]
    for title, frame in describe_world(world)[1:]:
        if title == "tables":
            body.append(
                '<h3>Tables</h3>\n<p class="caption">Rows and files of every table in the '
                "manifest; truth tables hold the simulator's ground truth, which engines never "
                "read.</p>\n"
            )
            body.append(table_html(frame, row_key="table"))
        else:
            body.append(f"<h3>{html.escape(title.capitalize())}</h3>\n")
            body.append(
                '<p class="caption">Rows per fraud scenario (genuine rows included), their share '
                "of all rows, total amount, and the mean days until the label became known.</p>\n"
            )
            body.append(table_html(frame, percent=("share",)))
    return Section("summary", "World summary", "".join(body))


# -- per-day aggregation shared by volume and fraud ---------------------------------------------
def event_daily(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame | None:
    """Rows, amount and fraud per day and fraud scenario of one event table, in one scan.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``table`` as a view or registered frame.
    table : str
        ``transactions`` or ``transfers`` (anything with ``timestamp``, ``amount``, ``is_fraud``).

    Returns
    -------
    DataFrame or None
        Columns ``day`` (date), ``scenario`` (str, None for genuine rows), ``rows`` (int),
        ``amount`` (float, currency units); one row per (day, scenario) present. None when the
        table or one of its needed columns is absent.
    """
    cols = columns_of(con, table)
    if cols is None or not {"timestamp", "amount"} <= cols.keys():
        return None
    if "is_fraud" in cols:
        scenario = (
            "CASE WHEN is_fraud THEN coalesce(fraud_scenario::VARCHAR, 'unspecified') END"
            if "fraud_scenario" in cols
            else "CASE WHEN is_fraud THEN 'unspecified' END"
        )
    else:
        scenario = "NULL::VARCHAR"
    return con.sql(
        f"""
        SELECT "timestamp"::DATE AS day, {scenario} AS scenario,
               count(*) AS rows, coalesce(sum(amount), 0)::DOUBLE AS amount
        FROM {quote(table)} GROUP BY ALL ORDER BY day, scenario NULLS FIRST
        """
    ).df()


def _buckets(daily: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per-day rows summed per week when there are too many days; returns the frame and unit."""
    frame = daily.copy()
    frame["day"] = pd.to_datetime(frame["day"])
    n_days = frame["day"].nunique()
    if n_days <= MAX_DAILY_BUCKETS:
        return frame, "day"
    frame["day"] = frame["day"] - pd.to_timedelta(frame["day"].dt.day_of_week, unit="D")
    grouped = frame.groupby(["day", "scenario"], dropna=False, as_index=False)
    return grouped[["rows", "amount"]].sum(), "week"


# -- daily volume ---------------------------------------------------------------------------------
def volume_section(daily: dict[str, pd.DataFrame | None]) -> Section:
    """Count and amount per day of each event table.

    Parameters
    ----------
    daily : dict of str to DataFrame or None
        :func:`event_daily` of each table in :data:`EVENT_TABLES` (None: absent).

    Returns
    -------
    Section
    """
    present = {t: f for t, f in daily.items() if f is not None}
    absent = [t for t, f in daily.items() if f is None]
    notes = "".join(
        notice_html(f"This world has no {t} table ({EVENT_TABLES.get(t, t)}); it is not shown.")
        for t in absent
    )
    if not present:
        return Section("volume", "Daily volume", notes, present=False)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Number per day", "Amount per day (currency units)"),
    )
    for i, (table, frame) in enumerate(present.items()):
        per_day = frame.groupby("day", as_index=False)[["rows", "amount"]].sum()
        x = _dates(per_day["day"])
        colour = _PALETTE[i]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=per_day["rows"].to_numpy(),
                name=table,
                legendgroup=table,
                mode="lines",
                line={"color": colour},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=per_day["amount"].round(2).to_numpy(),
                name=table,
                legendgroup=table,
                showlegend=False,
                mode="lines",
                line={"color": colour},
            ),
            row=2,
            col=1,
        )
    fig.update_layout(
        template=_TEMPLATE,
        margin={"l": 70, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": -0.08},
        hovermode="x unified",
    )
    fig.update_yaxes(rangemode="tozero")
    names = " and ".join(f"{EVENT_TABLES.get(t, t)} ({t})" for t in present)
    body = figure_html(
        fig,
        "fig-volume",
        f"Number (top) and total amount (bottom) per calendar day of {names}, genuine and "
        "fraudulent together.",
        height=560,
    )
    return Section("volume", "Daily volume", notes + body)


# -- fraud ----------------------------------------------------------------------------------------
def _fraud_figure(frame: pd.DataFrame, table: str, unit: str) -> go.Figure | None:
    totals = frame.groupby("day", as_index=False)["rows"].sum()
    fraud = frame[frame["scenario"].notna()]
    if fraud.empty:
        return None
    counts = fraud.pivot_table(index="day", columns="scenario", values="rows", aggfunc="sum")
    counts = counts.reindex(totals["day"]).fillna(0)
    x = _dates(totals["day"])
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    known = [s for s in _SCENARIO_ORDER if s in counts.columns]
    for scenario in known + sorted(set(counts.columns) - set(known)):
        fig.add_trace(
            go.Bar(
                x=x,
                y=counts[scenario].to_numpy(dtype=np.int64),
                name=scenario,
                marker={"color": _scenario_colour(scenario)},
            ),
            secondary_y=False,
        )
    rate = 100 * counts.sum(axis=1).to_numpy() / totals["rows"].to_numpy()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.round(rate, 4),
            name="fraud rate (%)",
            mode="lines",
            line={"color": "#222", "width": 2},
        ),
        secondary_y=True,
    )
    fig.update_layout(
        template=_TEMPLATE,
        barmode="stack",
        bargap=0.15,
        margin={"l": 70, "r": 70, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
    )
    fig.update_yaxes(title_text=f"fraudulent {table} per {unit}", secondary_y=False)
    # Own ticks for the rate axis: synced ticks would give it values such as 1.597.
    fig.update_yaxes(
        title_text="fraud rate",
        rangemode="tozero",
        showgrid=False,
        tickmode="auto",
        nticks=6,
        ticksuffix="%",
        secondary_y=True,
    )
    return fig


def fraud_section(daily: dict[str, pd.DataFrame | None]) -> Section:
    """Fraudulent rows per day (or week) and fraud scenario, with the fraud rate.

    Parameters
    ----------
    daily : dict of str to DataFrame or None
        :func:`event_daily` of each table in :data:`EVENT_TABLES` (None: absent).

    Returns
    -------
    Section
    """
    parts: list[str] = []
    shown = False
    for table, frame in daily.items():
        words = EVENT_TABLES.get(table, table)
        if frame is None:
            parts.append(notice_html(f"This world has no {table} table ({words})."))
            continue
        buckets, unit = _buckets(frame)
        fig = _fraud_figure(buckets, table, unit)
        parts.append(f"<h3>{html.escape(table.capitalize())}</h3>\n")
        if fig is None:
            parts.append(notice_html(f"No {table} row is labelled as fraud."))
            continue
        shown = True
        parts.append(
            figure_html(
                fig,
                f"fig-fraud-{table}",
                f"Fraudulent {words} per {unit}, stacked by fraud scenario (bars, left axis), "
                f"and the share of all {words} that {unit} that were fraud (line, right axis).",
                height=440,
            )
        )
    return Section("fraud", "Fraud by scenario over time", "".join(parts), present=shown)


# -- map ------------------------------------------------------------------------------------------
def _sample(
    con: duckdb.DuckDBPyConnection, table: str, key: str, columns: list[str], where: str = "TRUE"
) -> tuple[pd.DataFrame, int]:
    """At most MAX_MAP_POINTS rows, chosen by a hash of the key (the same rows every run)."""
    total = con.sql(f"SELECT count(*) FROM {quote(table)} WHERE {where}").fetchall()[0][0]
    select = ", ".join(quote(c) for c in columns)
    frame = con.sql(
        f"SELECT {select} FROM {quote(table)} WHERE {where} "
        f"ORDER BY hash({quote(key)}), {quote(key)} LIMIT {MAX_MAP_POINTS}"
    ).df()
    return frame, int(total)


def map_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Customers' homes coloured by region (or segment), with the terminals overlaid.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``customers`` and optionally ``terminals``.

    Returns
    -------
    Section
    """
    title = "Customer and merchant map"
    cust_cols = columns_of(con, "customers")
    term_cols = columns_of(con, "terminals")
    has_customers = cust_cols is not None and {"home_x", "home_y"} <= cust_cols.keys()
    has_terminals = term_cols is not None and {"x", "y"} <= term_cols.keys()
    notes = ""
    if not has_customers:
        notes += notice_html("This world has no customers table with home locations.")
    if not has_terminals:
        notes += notice_html("This world has no terminals table with locations.")
    if not (has_customers or has_terminals):
        return Section("map", title, notes, present=False)
    fig = go.Figure()
    said: list[str] = []
    if has_terminals:
        physical = "NOT coalesce(is_ecommerce, FALSE)" if "is_ecommerce" in term_cols else "TRUE"
        outside = 0
        if has_customers:
            # Terminals abroad lie thousands of km away and would shrink the country to a dot:
            # draw only those in the customers' area (its bounding box plus 10 %), count the rest.
            x0, x1, y0, y1 = con.sql(
                "SELECT min(home_x), max(home_x), min(home_y), max(home_y) FROM customers"
            ).fetchall()[0]
            pad_x, pad_y = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
            inside = (
                f"x BETWEEN {x0 - pad_x!r} AND {x1 + pad_x!r} "
                f"AND y BETWEEN {y0 - pad_y!r} AND {y1 + pad_y!r}"
            )
            outside = con.sql(
                f"SELECT count(*) FROM terminals WHERE {physical} AND NOT ({inside})"
            ).fetchall()[0][0]
            physical = f"{physical} AND {inside}"
        terms, n_terms = _sample(con, "terminals", "terminal_id", ["x", "y"], physical)
        fig.add_trace(
            go.Scatter(
                x=terms["x"].round(3).to_numpy(),
                y=terms["y"].round(3).to_numpy(),
                mode="markers",
                name="terminal",
                marker={
                    "symbol": "x-thin",
                    "size": 5,
                    "color": "rgba(90,90,90,0.35)",
                    "line": {"width": 1, "color": "rgba(90,90,90,0.35)"},
                },
                hoverinfo="skip",
            )
        )
        said.append(f"{len(terms):,} of {n_terms:,} physical terminals (grey crosses)")
        if outside:
            said.append(f"not the {outside:,} more outside the area where customers live (abroad)")
    if has_customers:
        colour_by = next(
            (
                c
                for c in ("region", "segment")
                if c in cust_cols
                and con.sql(f"SELECT count({quote(c)}) FROM customers").fetchall()[0][0] > 0
            ),
            None,
        )
        cols = ["home_x", "home_y"] + ([colour_by] if colour_by else [])
        cust, n_cust = _sample(con, "customers", "customer_id", cols)
        groups = (
            sorted(cust[colour_by].dropna().astype(str).unique()) if colour_by else ["customer"]
        )
        for i, group in enumerate(groups):
            part = cust[cust[colour_by].astype(str) == group] if colour_by else cust
            fig.add_trace(
                go.Scatter(
                    x=part["home_x"].round(3).to_numpy(),
                    y=part["home_y"].round(3).to_numpy(),
                    mode="markers",
                    name=group,
                    marker={"size": 5, "color": _PALETTE[i % len(_PALETTE)], "opacity": 0.8},
                    hovertemplate=f"{html.escape(group)}<br>x %{{x}} km, y %{{y}} km"
                    "<extra></extra>",
                )
            )
        by = f", coloured by {colour_by}" if colour_by else ""
        said.insert(0, f"homes of {len(cust):,} of {n_cust:,} customers (dots{by})")
    fig.update_layout(
        template=_TEMPLATE,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        # Below the map: a legend at its side would cover the map on narrow screens.
        legend={"itemsizing": "constant", "orientation": "h", "y": -0.12},
    )
    fig.update_xaxes(title_text="east (km)", constrain="domain")
    # Equal scales so that distances on the map look like distances on the ground.
    fig.update_yaxes(title_text="north (km)", scaleanchor="x", scaleratio=1)
    caption = (
        "Where people live and where they pay: "
        + ", ".join(said)
        + ". Larger tables are shown as a fixed pseudo-random sample."
    )
    return Section("map", title, notes + figure_html(fig, "fig-map", caption, height=640))
