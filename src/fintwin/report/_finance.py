"""Sections about lending and markets: loan outcomes by segment, market paths.

Both read tables that only some worlds hold (``loan_applications``, ``asset_prices``); each
checks the table and its columns first and says plainly what is missing instead of failing.
"""

from __future__ import annotations

import html

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from fintwin.report._db import columns_of, first_present, quote
from fintwin.report._html import Section, figure_html, notice_html, table_html

__all__ = ["loan_section", "loan_summary", "market_paths", "market_section"]

_TEMPLATE = "plotly_white"
_LOAN_COLUMNS = ("customer_id", "decision", "default_12m")
#: Names tried, in order, for the level column of ``asset_prices``.
PRICE_COLUMNS = ("price", "index", "level", "close", "value")
#: Names tried, in order, for an instrument key inside an asset class.
ASSET_KEYS = ("asset_id", "asset", "ticker", "symbol", "instrument_id", "instrument")
_DATE_COLUMNS = ("date", "timestamp", "day")


# -- loans ----------------------------------------------------------------------------------------
def loan_summary(con: duckdb.DuckDBPyConnection, by: str | None) -> pd.DataFrame:
    """Approval and observed default rates of loan applications, per customer group.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``loan_applications`` (customer_id, decision 'approved'/'declined',
        default_12m: true/false, null when declined or not yet observed) and, when ``by`` is
        given, ``customers``.
    by : {"segment", "thin_file"} or None
        Customer column to group by; None gives one row for all applications.

    Returns
    -------
    DataFrame
        One row per group: ``group`` (str), ``applications``, ``approved``, ``approval_rate``
        (share of applications approved), ``outcomes`` (approved loans whose 12-month outcome is
        known) and ``default_rate`` (share of those that defaulted; NaN when none is known).
    """
    if by is None:
        group, join = "'all applications'", ""
    else:
        join = "LEFT JOIN customers c ON c.customer_id = l.customer_id"
        if by == "thin_file":
            group = (
                "CASE WHEN c.thin_file THEN 'thin file' "
                "WHEN NOT c.thin_file THEN 'bureau file' ELSE 'unknown' END"
            )
        else:
            group = f"coalesce(c.{quote(by)}::VARCHAR, 'unknown')"
    return con.sql(
        f"""
        WITH l AS (
            SELECT customer_id,
                   lower(trim(decision::VARCHAR)) = 'approved' AS approved,
                   default_12m::BOOLEAN AS defaulted
            FROM loan_applications
        )
        SELECT {group} AS "group",
               count(*) AS applications,
               count(*) FILTER (WHERE l.approved) AS approved,
               avg(l.approved::INTEGER)::DOUBLE AS approval_rate,
               count(l.defaulted) FILTER (WHERE l.approved) AS outcomes,
               (avg(l.defaulted::INTEGER) FILTER (WHERE l.approved))::DOUBLE
                   AS default_rate
        FROM l {join}
        GROUP BY ALL ORDER BY "group"
        """
    ).df()


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names of :func:`loan_summary` as shown to a reader."""
    return frame.rename(
        columns={
            "group": "applicants",
            "approval_rate": "approval rate",
            "outcomes": "outcomes known",
            "default_rate": "default rate",
        }
    )


def loan_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Approval rate and observed default rate by customer segment and by thin-file flag.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``loan_applications`` and ``customers`` (either may be absent).

    Returns
    -------
    Section
    """
    title = "Loan outcomes by segment and credit file"
    cols = columns_of(con, "loan_applications")
    if cols is None:
        return Section(
            "loans",
            title,
            notice_html("This world has no loan_applications table, so no loan outcomes."),
            present=False,
        )
    missing = [c for c in _LOAN_COLUMNS if c not in cols]
    if missing:
        return Section(
            "loans",
            title,
            notice_html(f"The loan_applications table lacks the columns: {', '.join(missing)}."),
            present=False,
        )
    customers = columns_of(con, "customers") or {}
    groupings = [c for c in ("segment", "thin_file") if c in customers]
    overall = loan_summary(con, None)
    parts: list[str] = []
    for c in ("segment", "thin_file"):
        if c not in groupings:
            parts.append(notice_html(f"Customers have no {c} column; no breakdown by it."))
    frames = {by: loan_summary(con, by) for by in groupings}
    titles = {"segment": "By customer segment", "thin_file": "By credit bureau file"}
    if frames:
        fig = make_subplots(
            rows=1,
            cols=len(frames),
            shared_yaxes=True,
            subplot_titles=[titles[b] for b in frames],
            horizontal_spacing=0.06,
        )
        for col, frame in enumerate(frames.values(), start=1):
            for measure, colour, name in (
                ("approval_rate", qualitative.D3[0], "approval rate"),
                ("default_rate", qualitative.D3[3], "observed default rate (approved loans)"),
            ):
                fig.add_trace(
                    go.Bar(
                        x=frame["group"].astype(str).tolist(),
                        y=np.round(100 * frame[measure].to_numpy(dtype=float), 3),
                        name=name,
                        legendgroup=measure,
                        showlegend=col == 1,
                        marker={"color": colour},
                    ),
                    row=1,
                    col=col,
                )
        fig.update_layout(
            template=_TEMPLATE,
            barmode="group",
            # Room above the subplot titles for the chart's tool bar.
            margin={"l": 60, "r": 20, "t": 70, "b": 40},
            legend={"orientation": "h", "y": -0.15},
        )
        fig.update_yaxes(title_text="%", row=1, col=1)
        parts.append(
            figure_html(
                fig,
                "fig-loans",
                "Share of loan applications approved, and among approved loans whose 12-month "
                "outcome is known the share that defaulted, per customer segment and for "
                "customers with and without a credit bureau file.",
                height=420,
            )
        )
    pct = ("approval rate", "default rate")
    parts.append("<h3>All applications</h3>\n" + table_html(_readable(overall), percent=pct))
    for by, frame in frames.items():
        parts.append(
            f"<h3>{html.escape(titles[by])}</h3>\n" + table_html(_readable(frame), percent=pct)
        )
    return Section("loans", title, "".join(parts))


# -- markets --------------------------------------------------------------------------------------
def market_paths(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame | None, str]:
    """Normalised price paths per asset class (100 on each path's first date).

    Instruments of one class (told apart by an ``asset_id``-like column, if any) are each
    normalised to their first price and then averaged, an equal-weight index of the class.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``asset_prices`` in long format: a date column, ``asset_class`` and a
        level column (one of :data:`PRICE_COLUMNS`).

    Returns
    -------
    (DataFrame or None, str)
        Columns ``date`` (date), ``asset_class`` (str), ``level`` (float, first date = 100),
        sorted by class and date; or None and the reason it cannot be computed.
    """
    cols = columns_of(con, "asset_prices")
    if cols is None:
        return None, "This world has no asset_prices table, so no market paths."
    date = first_present(cols, _DATE_COLUMNS)
    value = first_present(cols, PRICE_COLUMNS)
    if date is None or value is None or "asset_class" not in cols:
        return None, (
            "The asset_prices table needs a date column, asset_class and one of "
            f"{', '.join(PRICE_COLUMNS)}; it has {', '.join(sorted(cols))}."
        )
    key = first_present(cols, ASSET_KEYS)
    key_sql = f"{quote(key)}::VARCHAR" if key else "''"
    frame = con.sql(
        f"""
        WITH p AS (
            SELECT {quote(date)}::DATE AS d, asset_class::VARCHAR AS cls, {key_sql} AS k,
                   avg({quote(value)}::DOUBLE) AS v
            FROM asset_prices
            WHERE {quote(value)} IS NOT NULL AND {quote(value)}::DOUBLE > 0
            GROUP BY ALL
        ),
        n AS (
            SELECT d, cls, v / first_value(v) OVER (PARTITION BY cls, k ORDER BY d) AS rel
            FROM p
        )
        SELECT d AS "date", cls AS asset_class, 100 * avg(rel) AS level
        FROM n GROUP BY ALL ORDER BY asset_class, "date"
        """
    ).df()
    if frame.empty:
        return None, "The asset_prices table has no positive prices."
    return frame, ""


def _path_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per class: first and last date, final level, total return and maximum drawdown."""
    rows = []
    for cls, part in frame.groupby("asset_class", sort=True):
        level = part["level"].to_numpy(dtype=float)
        drawdown = 1 - level / np.maximum.accumulate(level)
        rows.append(
            {
                "asset_class": str(cls),
                "first date": pd.Timestamp(part["date"].iloc[0]).date(),
                "last date": pd.Timestamp(part["date"].iloc[-1]).date(),
                "final level": float(level[-1]),
                "total return": float(level[-1] / level[0] - 1),
                "max drawdown": float(drawdown.max()),
            }
        )
    return pd.DataFrame(rows)


def market_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Normalised market paths per asset class.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection with ``asset_prices`` (may be absent).

    Returns
    -------
    Section
    """
    title = "Market paths"
    frame, reason = market_paths(con)
    if frame is None:
        return Section("markets", title, notice_html(reason), present=False)
    fig = go.Figure()
    palette = qualitative.D3 + qualitative.Set2
    for i, (cls, part) in enumerate(frame.groupby("asset_class", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=[pd.Timestamp(d).date().isoformat() for d in part["date"]],
                y=np.round(part["level"].to_numpy(dtype=float), 4),
                name=str(cls),
                mode="lines",
                line={"color": palette[i % len(palette)]},
            )
        )
    fig.add_hline(y=100, line={"color": "#999", "width": 1, "dash": "dot"})
    fig.update_layout(
        template=_TEMPLATE,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.12},
        hovermode="x unified",
        yaxis_title="level (first date = 100)",
    )
    body = figure_html(
        fig,
        "fig-markets",
        "Price level of each asset class, rescaled to 100 on its first date (instruments of "
        "a class averaged with equal weights), so that paths of different units compare.",
        height=440,
    )
    stats = table_html(_path_stats(frame), percent=("total return", "max drawdown"))
    return Section("markets", title, body + stats)
