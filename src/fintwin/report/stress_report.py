"""Stress-testing reports: self-contained HTML pages for ``fintwin stress ... --report FILE``.

Three pages, each one file with plotly.js inlined (nothing loaded from the network) and written
atomically:

* :func:`portfolio_report`: the loss distribution of a credit portfolio
  (:class:`~fintwin.stress.portfolio.LossDistribution`), with the expected loss and VaR and ES
  at each level marked on it, and each segment's EL and ES contributions;
* :func:`market_report`: a portfolio's daily losses against the rolling VaR forecasts, the
  current VaR and ES, and the Basel back-test with its traffic-light zone;
* :func:`preplay_report`: a policy change tried in the twin under a scenario
  (:class:`~fintwin.stress.preplay.PreplayResult`), told in one sentence first, then in full.

:func:`scenario_section` (with :func:`scenario_paths_figure`) draws macro scenarios and the
losses projected under them, for a page of scenarios (:func:`scenario_report`).

Every page embeds the numbers its figures and tables show as JSON, in ``<script
type="application/json" id="stress-data">`` (NaN and infinities as ``null``), so that they can
be checked against their source. Money is in the inputs' currency units, shown with thousands
separators; rates are shown as percentages.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots

from fintwin.credit.model_card import format_number, format_rate
from fintwin.exceptions import ParameterError
from fintwin.report._html import (
    Section,
    figure_html,
    notice_html,
    render_page,
    table_html,
    write_atomic,
)
from fintwin.stress.portfolio import LossDistribution
from fintwin.stress.preplay import PreplayResult
from fintwin.stress.scenarios import Scenario

__all__ = [
    "DATA_ID",
    "data_script",
    "json_ready",
    "market_report",
    "portfolio_report",
    "preplay_headline",
    "preplay_report",
    "render_market_report",
    "render_portfolio_report",
    "render_preplay_report",
    "render_scenario_report",
    "scenario_data",
    "scenario_paths_figure",
    "scenario_report",
    "scenario_section",
]

#: HTML id of the embedded JSON of every stress page.
DATA_ID = "stress-data"

_PALETTE = ("#1f5fa8", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d6a9f", "#52606d")
_CURRENT = _PALETTE[6]
_PROPOSED = _PALETTE[0]
_ZONE_COLOURS = {"green": "#2e7d32", "amber": "#e6a700", "red": "#c62828"}
_MISSING = "—"
#: Bars of the loss histogram.
_HISTOGRAM_BINS = 60

# Tables whose cells from the second (or third) column on are numbers formatted as text:
# right-aligned like the numeric columns of table_html.
_CSS = (
    "<style>"
    ".num2 td+td,.num2 th+th,.num3 td+td+td,.num3 th+th+th"
    "{text-align:right;font-variant-numeric:tabular-nums}"
    ".headline{font-size:1.25em;line-height:1.45;margin:8px 0 12px;padding:12px 16px;"
    "background:#f0f5fb;border-left:5px solid #1f5fa8;border-radius:4px}"
    ".zone{display:inline-block;padding:2px 14px;border-radius:12px;color:#fff;"
    "font-weight:bold;letter-spacing:0.05em}"
    "</style>\n"
)


# --- formatting --------------------------------------------------------------------------------


def _finite(value: object) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _money(value: object, *, signed: bool = False) -> str:
    """Currency with thousands separators: whole units from 1,000 on, cents below.

    Examples
    --------
    >>> _money(245962.789), _money(-12.345), _money(1500, signed=True), _money(None)
    ('245,963', '-12.35', '+1,500', '—')
    """
    v = _finite(value)
    if v is None:
        return _MISSING
    if v == 0:
        return "0"
    sign = "+" if signed else ""
    return f"{v:{sign},.0f}" if abs(v) >= 999.995 else f"{v:{sign},.2f}"


def _count(value: object, *, signed: bool = False) -> str:
    v = _finite(value)
    if v is None:
        return _MISSING
    return f"{round(v):{'+' if signed and round(v) != 0 else ''},d}"


def _pp(value: object) -> str:
    """A change of a rate in percentage points.

    Examples
    --------
    >>> _pp(-0.2534948), _pp(0.0067), _pp(0.0)
    ('-25.3 pp', '+0.67 pp', '0 pp')
    """
    v = _finite(value)
    if v is None:
        return _MISSING
    p = 100 * v
    if p == 0:
        return "0 pp"
    return f"{p:+.1f} pp" if abs(p) >= 1 else f"{p:+.2f} pp"


def _relative(change: object, base: object) -> str:
    c, b = _finite(change), _finite(base)
    if c is None or b is None or b == 0:
        return _MISSING
    return f"{100 * c / b:+.1f}%"


def _format(kind: str, value: object, *, signed: bool = False) -> str:
    if kind == "money":
        return _money(value, signed=signed)
    if kind == "count":
        return _count(value, signed=signed)
    if kind == "rate":
        return _pp(value) if signed else format_rate(value)
    text = format_number(value)
    return f"+{text}" if signed and (_finite(value) or 0) > 0 else text


def _caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>\n'


def _level(alpha: float) -> str:
    """``0.999`` -> ``'99.9%'``."""
    return f"{100 * alpha:g}%"


# --- the embedded data -------------------------------------------------------------------------


def json_ready(value: Any) -> Any:
    """``value`` with NumPy, pandas and Enum values as plain JSON ones; NaN and infinities None.

    Examples
    --------
    >>> json_ready({"a": [np.float64(1.5), float("nan")], "d": pd.Timestamp("2024-01-31")})
    {'a': [1.5, None], 'd': '2024-01-31'}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, pd.Index | pd.Series):
        return json_ready(value.tolist())
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else json_ready(pd.Timestamp(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def data_script(data: Mapping[str, Any]) -> str:
    """``data`` as ``<script type="application/json" id="stress-data">`` (one per page)."""
    # "<" as a JSON escape: no text in the data can end or reopen the script element.
    payload = json.dumps(json_ready(data), allow_nan=False, sort_keys=True)
    payload = payload.replace("<", "\\u003c")
    return f'<script type="application/json" id="{DATA_ID}">{payload}</script>\n'


def _labels(index: pd.Index) -> list[Any]:
    """Index labels for the JSON and the figures: dates as ISO text."""
    return json_ready(index)


def _page(title: str, subtitle: str, sections: Sequence[Section], data: Mapping[str, Any]) -> str:
    # the table styles once, at the top; the data once, at the end
    sections = list(sections)
    first = sections[0]
    sections[0] = Section(first.anchor, first.title, _CSS + first.body, first.present)
    last = sections[-1]
    sections[-1] = Section(last.anchor, last.title, last.body + data_script(data), last.present)
    return render_page(title, subtitle, sections, plotly.offline.get_plotlyjs())


# --- the portfolio loss distribution -----------------------------------------------------------


def _markers(losses: LossDistribution, alphas: Sequence[float]) -> list[dict[str, Any]]:
    markers = [
        {
            "key": "expected_loss",
            "label": "EL",
            "measure": "expected_loss",
            "alpha": None,
            "value": losses.expected_loss,
        }
    ]
    for a in alphas:
        for measure, label, value in (
            ("var", "VaR", losses.var(a)),
            ("expected_shortfall", "ES", losses.expected_shortfall(a)),
        ):
            markers.append(
                {
                    "key": f"{measure}_{a:g}",
                    "label": f"{label} {_level(a)}",
                    "measure": measure,
                    "alpha": float(a),
                    "value": value,
                }
            )
    return markers


def _histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + max(1.0, abs(lo))
    counts, edges = np.histogram(values, bins=_HISTOGRAM_BINS, range=(lo, hi))
    return counts, edges


def _distribution_section(
    losses: LossDistribution, alphas: Sequence[float], markers: list[dict[str, Any]]
) -> Section:
    counts, edges = _histogram(np.asarray(losses.losses, dtype=np.float64))
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centres.tolist(),
            y=counts.tolist(),
            width=float(edges[1] - edges[0]),
            marker_color=_PALETTE[2],
            marker_line_width=0,
            name="scenarios",
            hovertemplate="loss %{x:,.0f}<br>%{y:,} scenarios<extra></extra>",
        )
    )
    colours = {"expected_loss": _PALETTE[6], "var": _PALETTE[0], "expected_shortfall": _PALETTE[1]}
    top = max(alphas)
    for i, m in enumerate(sorted(markers, key=lambda m: m["value"])):
        dash = "solid" if m["alpha"] in (None, top) else "dash"
        fig.add_shape(
            type="line",
            x0=m["value"],
            x1=m["value"],
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"color": colours[m["measure"]], "dash": dash, "width": 2},
            name=m["key"],
        )
        fig.add_annotation(
            x=m["value"],
            xref="x",
            y=0.98 - 0.09 * i,
            yref="paper",
            text=f"{m['label']}: {_money(m['value'])}",
            showarrow=False,
            xanchor="left",
            xshift=3,
            font={"color": colours[m["measure"]], "size": 12},
            bgcolor="rgba(255,255,255,0.8)",
            name=m["key"],
        )
    fig.update_layout(
        xaxis_title="portfolio loss over the horizon (currency)",
        yaxis_title="scenarios (log scale)",
        yaxis_type="log",
        bargap=0,
        showlegend=False,
        margin={"t": 30},
    )
    body = figure_html(
        fig,
        "loss-distribution",
        f"Losses of the {losses.n_scenarios:,} simulated scenarios, in {_HISTOGRAM_BINS} bins "
        "(log scale, so that the tail shows). Vertical lines: the expected loss (grey), VaR "
        "(blue) and expected shortfall (red) at each level, solid at the highest.",
        height=460,
    )
    summary = losses.summary(alphas)
    rows = [
        {
            "JSON key": "expected_loss",
            "measure": "expected loss (mean loss)",
            "value": _money(summary["expected_loss"]),
            "share of EL": "1.00x",
            "tail scenarios": f"{summary['n_scenarios']:,}",
            "95% interval of VaR": "",
        }
    ]
    el = summary["expected_loss"]
    for level in summary["levels"]:
        a = level["alpha"]
        lo, hi = losses.var_interval(a)
        for key, name in (("var", "VaR"), ("expected_shortfall", "ES")):
            value = level[key]
            rows.append(
                {
                    "JSON key": f"{key}_{a:g}",
                    "measure": f"{name} at {_level(a)}",
                    "value": _money(value),
                    "share of EL": f"{value / el:.2f}x" if el > 0 else _MISSING,
                    "tail scenarios": f"{level['tail_scenarios']:,}",
                    "95% interval of VaR": f"{_money(lo)} to {_money(hi)}" if key == "var" else "",
                }
            )
    table = pd.DataFrame(rows).rename(columns={"share of EL": "multiple of EL"})
    body += f'<div class="num3">{table_html(table, row_key="JSON key")}</div>'
    body += _caption(
        "VaR is the lower empirical quantile of the simulated losses; ES the mean loss of the "
        "tail scenarios, those losing at least VaR (every tie counted). The interval is the "
        "distribution-free 95% confidence interval of the true quantile from the order "
        "statistics."
    )
    return Section("distribution", "Loss distribution", body)


def _segments_section(losses: LossDistribution, alphas: Sequence[float]) -> Section:
    segments = losses.to_dict(alphas)["segments"]
    top = max(alphas)
    key = str(float(top))
    es_top = losses.expected_shortfall(top)
    el = losses.expected_loss
    names = sorted(segments, key=lambda s: -segments[s]["es_contributions"][key])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=[segments[s]["expected_loss"] for s in names],
            name="expected loss",
            marker_color=_PALETTE[6],
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[segments[s]["es_contributions"][key] for s in names],
            name=f"contribution to ES {_level(top)}",
            marker_color=_PALETTE[1],
        )
    )
    fig.update_layout(
        barmode="group",
        yaxis_title="currency",
        legend={"orientation": "h", "y": 1.08},
        margin={"t": 40},
    )
    body = figure_html(
        fig,
        "segment-contributions",
        f"Each segment's expected loss and its mean loss in the scenarios where the portfolio "
        f"loses at least VaR {_level(top)}: the contributions add up to ES {_level(top)} "
        f"({_money(es_top)}), as the expected losses add up to EL ({_money(el)}).",
        height=400,
    )
    rows = []
    for s in names:
        row: dict[str, Any] = {
            "segment": s,
            "expected loss": _money(segments[s]["expected_loss"]),
            "share of EL": format_rate(segments[s]["expected_loss"] / el) if el > 0 else _MISSING,
        }
        for a in alphas:
            value = segments[s]["es_contributions"][str(float(a))]
            row[f"ES {_level(a)} contribution"] = _money(value)
        es_share = segments[s]["es_contributions"][key] / es_top if es_top > 0 else None
        row[f"share of ES {_level(top)}"] = format_rate(es_share)
        rows.append(row)
    table = pd.DataFrame(rows)
    body += f'<div class="num2">{table_html(table, row_key="segment")}</div>'
    return Section("segments", "Contributions by segment", body)


def _portfolio_data(
    losses: LossDistribution, alphas: Sequence[float], markers: list[dict[str, Any]]
) -> dict[str, Any]:
    counts, edges = _histogram(np.asarray(losses.losses, dtype=np.float64))
    return {
        "kind": "portfolio",
        **losses.to_dict(alphas),
        "markers": markers,
        "var_intervals_95": {str(float(a)): list(losses.var_interval(a)) for a in alphas},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    levels = [float(a) for a in alphas]
    if not levels or any(not 0 < a < 1 for a in levels):
        raise ParameterError(f"alphas must be levels in (0, 1), at least one (got {alphas!r})")
    return levels


def render_portfolio_report(
    losses: LossDistribution,
    *,
    title: str = "Portfolio credit losses",
    alphas: Sequence[float] = (0.99, 0.999),
) -> str:
    """The loss-distribution page as a complete HTML document (see :func:`portfolio_report`)."""
    levels = _check_alphas(alphas)
    markers = _markers(losses, levels)
    top = max(levels)
    subtitle = (
        f"{losses.n_scenarios:,} scenarios of a Gaussian-copula default model (seed "
        f"{losses.seed}, factor sampling {losses.factor_sampling.value}): expected loss "
        f"{_money(losses.expected_loss)}, VaR {_level(top)} {_money(losses.var(top))}, "
        f"ES {_level(top)} {_money(losses.expected_shortfall(top))}."
    )
    sections = [
        _distribution_section(losses, levels, markers),
        _segments_section(losses, levels),
    ]
    return _page(title, subtitle, sections, _portfolio_data(losses, levels, markers))


def portfolio_report(
    losses: LossDistribution,
    out: str | Path,
    *,
    title: str = "Portfolio credit losses",
    alphas: Sequence[float] = (0.99, 0.999),
) -> Path:
    """Write the page of a simulated loss distribution to ``out`` atomically.

    Sections: the distribution (a histogram with EL, and VaR and ES at each level, marked and
    labelled; a table of :meth:`LossDistribution.summary` with VaR's confidence intervals) and
    the segments (EL and contributions to ES at the highest level, chart and table).

    Parameters
    ----------
    losses : LossDistribution
        From :func:`fintwin.stress.portfolio.simulate_losses`.
    out : str or Path
        HTML file; its parent directory is created if needed.
    title : str
        Page title.
    alphas : sequence of float
        Levels of VaR and ES.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        ``out`` is an existing directory, or a level is outside (0, 1).
    """
    return write_atomic(out, render_portfolio_report(losses, title=title, alphas=alphas))


# --- market risk -------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _zone_name(zone: Any) -> str:
    """``TrafficLight.GREEN``, ``"green"`` or ``"TrafficLight.GREEN"`` -> ``"green"``."""
    return str(_value(zone)).rsplit(".", 1)[-1].lower()


def _exceedances(series: pd.Series, forecasts: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """Forecast days held by both and whether each day's loss was strictly above VaR."""
    index = series.index[series.index.isin(forecasts.index)]
    loss = -series.loc[index].to_numpy(dtype=np.float64)
    var = forecasts.loc[index].to_numpy(dtype=np.float64)
    return index, loss > var


def _measure(value: float | None, unit_value: float | None) -> str:
    if value is None:
        return _MISSING
    return format_rate(value) if unit_value is None else _money(value)


def _market_chart(
    series: pd.Series, forecasts: pd.Series, backtest: Mapping[str, Any] | None, alpha: float
) -> str:
    loss = -series
    fig = go.Figure(
        go.Bar(
            x=_labels(series.index),
            y=loss.tolist(),
            name="daily loss (gains below 0)",
            marker_color=_PALETTE[6],
            marker_line_width=0,
            opacity=0.7,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=_labels(forecasts.index),
            y=forecasts.tolist(),
            mode="lines",
            name=f"VaR {_level(alpha)} forecast",
            line={"color": _PALETTE[0], "width": 2},
        )
    )
    index, hit = _exceedances(series, forecasts)
    tested = set()
    if backtest is not None:
        tested = set(_labels(pd.Index(list(backtest.get("exception_dates", [])))))
        days = int(backtest["days"])
        window = index[-days:] if days <= len(index) else index
        if len(window):
            first, last = _labels(window[[0, -1]])
            fig.add_vrect(
                x0=first,
                x1=last,
                fillcolor=_PALETTE[3],
                opacity=0.12,
                line_width=0,
                annotation_text=f"back-test: last {days} days",
                annotation_position="top left",
            )
    days_hit = _labels(index[hit])
    losses_hit = (-series.loc[index[hit]]).tolist()
    in_test = [d in tested for d in days_hit]
    for flag, name, colour, symbol in (
        (True, "back-test exception", _PALETTE[1], "x"),
        (False, "earlier exceedance", _PALETTE[3], "circle-open"),
    ):
        xs = [d for d, t in zip(days_hit, in_test, strict=True) if t is flag]
        ys = [v for v, t in zip(losses_hit, in_test, strict=True) if t is flag]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=name,
                    marker={"color": colour, "symbol": symbol, "size": 10, "line": {"width": 2}},
                )
            )
    fig.update_layout(
        yaxis_title="loss (fraction of the portfolio's value)",
        yaxis_tickformat=".1%",
        bargap=0,
        legend={"orientation": "h", "y": 1.1},
        margin={"t": 50},
    )
    return figure_html(
        fig,
        "market-losses",
        "Each day's portfolio loss (minus its simple return) and the VaR forecast made for "
        "that day from the window of days before it. Marked: the days whose loss exceeded "
        "the forecast; the shaded days are those of the back-test.",
        height=460,
    )


def _estimate_section(
    series: pd.Series, forecasts: pd.Series, result: Mapping[str, Any]
) -> Section:
    est = result["estimate"]
    alpha = float(est["alpha"])
    unit_value = _finite(est.get("value"))
    horizon = int(est.get("horizon_days", 1))
    level = f"{_level(alpha)}, {horizon} day{'s' if horizon != 1 else ''}"
    rows = [
        ("var", f"VaR ({level})", _measure(_finite(est["var"]), unit_value)),
        ("es", f"ES ({level})", _measure(_finite(est["es"]), unit_value)),
        ("method", "method", str(_value(est.get("method")))),
        ("n_observations", "days in the estimation window", _count(est.get("n_observations"))),
        ("days", "days of portfolio returns", _count(result.get("days", len(series)))),
    ]
    if est.get("distribution") is not None:
        rows.append(("distribution", "distribution", str(_value(est["distribution"]))))
    if est.get("dof") is not None:
        rows.append(("dof", "Student-t degrees of freedom", format_number(est["dof"])))
    if unit_value is not None:
        rows.append(("value", "portfolio value", _money(unit_value)))
    frame = pd.DataFrame(rows, columns=["JSON key", "measure", "value"])
    body = f'<div class="num3">{table_html(frame, row_key="JSON key")}</div>'
    unit = "fractions of the portfolio's value" if unit_value is None else "currency"
    body += _caption(
        f"VaR: the loss exceeded with probability at most {format_rate(1 - alpha)}; ES: the "
        f"mean loss beyond it; both positive losses in {unit}, from the last "
        f"{_count(est.get('n_observations'))} days of returns."
    )
    weights = result.get("weights") or {}
    if weights:
        wf = pd.DataFrame({"asset": list(weights), "weight": [float(w) for w in weights.values()]})
        body += "<h3>Portfolio weights</h3>\n" + table_html(wf, percent=["weight"], row_key="asset")
    if len(forecasts):
        body += _market_chart(series, forecasts, result.get("backtest"), alpha)
    else:
        body += notice_html("No VaR forecast: the returns do not outlast one estimation window.")
    return Section("estimate", "Value at risk and expected shortfall", body)


def _backtest_section(result: Mapping[str, Any]) -> Section:
    bt = result.get("backtest")
    if bt is None:
        return Section(
            "backtest",
            "Back-test",
            notice_html(
                "Not back-tested: fewer than 250 days have a VaR forecast (the Basel back-test "
                "compares 250 days' losses with the forecasts made the day before)."
            ),
        )
    zone = _zone_name(bt["zone"])
    colour = _ZONE_COLOURS.get(zone, _PALETTE[6])
    plus = _finite(bt.get("plus_factor"))
    rows = [
        ("exceptions", "exceptions (loss above the forecast VaR)", _count(bt["exceptions"])),
        ("days", "days tested", _count(bt["days"])),
        ("expected_exceptions", "exceptions expected", f"{float(bt['expected_exceptions']):.2f}"),
        ("zone", "traffic-light zone", zone),
        ("plus_factor", "Basel plus factor", _MISSING if plus is None else f"{plus:.2f}"),
        (
            "capital_multiplier",
            "capital multiplier (3 + plus factor)",
            _MISSING if plus is None else f"{3 + plus:.2f}",
        ),
        ("kupiec_lr", "Kupiec likelihood ratio", f"{float(bt['kupiec_lr']):.4f}"),
        ("kupiec_p_value", "Kupiec p-value", f"{float(bt['kupiec_p_value']):.4f}"),
        ("reject_at_5pct", "coverage rejected at 5%", "yes" if bt["reject_at_5pct"] else "no"),
    ]
    body = (
        f'<p>Traffic-light zone: <span class="zone" id="zone" data-zone="{html.escape(zone)}" '
        f'style="background:{colour}">{html.escape(zone.upper())}</span> &nbsp; '
        f"{html.escape(_count(bt['exceptions']))} exceptions in "
        f"{html.escape(_count(bt['days']))} days "
        f"({float(bt['expected_exceptions']):.2f} expected).</p>\n"
    )
    frame = pd.DataFrame(rows, columns=["JSON key", "measure", "value"])
    body += f'<div class="num3">{table_html(frame, row_key="JSON key")}</div>'
    dates = list(bt.get("exception_dates", []))
    if dates:
        body += f"<p>Exception days: {html.escape(', '.join(map(str, _labels(pd.Index(dates)))))}"
        body += "</p>\n"
    body += _caption(
        "Basel (1996) zones: with X binomial over the days tested at the VaR's exception "
        "probability, a count is green while P(X <= count) is below 95%, red from 99.99%, "
        "amber between (at 250 days and 99%: green 0-4, amber 5-9, red 10 or more). "
        "Kupiec's proportion-of-failures test compares the exception rate with 1 - alpha."
    )
    return Section("backtest", "Back-test", body)


def _market_data(
    series: pd.Series, forecasts: pd.Series, result: Mapping[str, Any]
) -> dict[str, Any]:
    index, hit = _exceedances(series, forecasts)
    data: dict[str, Any] = {
        "kind": "market",
        **{k: v for k, v in result.items() if k != "backtest"},
        "returns": {"dates": _labels(series.index), "values": series.tolist()},
        "forecasts": {"dates": _labels(forecasts.index), "values": forecasts.tolist()},
        "exceedance_dates": _labels(index[hit]),
    }
    bt = result.get("backtest")
    if bt is not None:
        plus = _finite(bt.get("plus_factor"))
        data["backtest"] = {
            **bt,
            "zone": _zone_name(bt["zone"]),
            "capital_multiplier": None if plus is None else 3 + plus,
            "exception_dates": _labels(pd.Index(list(bt.get("exception_dates", [])))),
        }
    return data


def _check_market(series: object, forecasts: object, result: object) -> None:
    if not isinstance(series, pd.Series) or not isinstance(forecasts, pd.Series):
        raise ParameterError("series and forecasts must be pandas Series (returns and VaR)")
    if not isinstance(result, Mapping) or "estimate" not in result:
        raise ParameterError("result must be a mapping with an 'estimate' (RiskEstimate fields)")


def render_market_report(
    series: pd.Series,
    forecasts: pd.Series,
    result: Mapping[str, Any],
    *,
    title: str = "Market risk: VaR, ES and back-test",
) -> str:
    """The market-risk page as a complete HTML document (see :func:`market_report`)."""
    _check_market(series, forecasts, result)
    est = result["estimate"]
    first, last = _labels(series.index[[0, -1]]) if len(series) else (_MISSING, _MISSING)
    subtitle = (
        f"{len(series):,} days of portfolio returns, {first} to {last}; "
        f"{_value(est.get('method'))} VaR at {_level(float(est['alpha']))}."
    )
    sections = [_estimate_section(series, forecasts, result), _backtest_section(result)]
    return _page(title, subtitle, sections, _market_data(series, forecasts, result))


def market_report(
    series: pd.Series,
    forecasts: pd.Series,
    result: Mapping[str, Any],
    out: str | Path,
    *,
    title: str = "Market risk: VaR, ES and back-test",
) -> Path:
    """Write the market-risk page to ``out`` atomically.

    Sections: VaR and ES (a table, the portfolio's weights, and a chart of each day's loss
    against the rolling VaR forecast with the exceedances marked) and the back-test (its
    traffic-light zone in its colour, exceptions, plus factor, Kupiec's test).

    Parameters
    ----------
    series : pandas.Series
        Daily simple returns of the portfolio (:func:`fintwin.stress.market.portfolio_returns`).
    forecasts : pandas.Series
        One-day VaR forecasts on (part of) the same index
        (:func:`fintwin.stress.market.rolling_var`).
    result : mapping
        As ``fintwin stress market`` builds it: ``weights``, ``days``, ``estimate`` (the
        fields of a :class:`~fintwin.stress.market.RiskEstimate`) and, when back-tested,
        ``backtest`` (the fields of a :class:`~fintwin.stress.market.Backtest`).
    out : str or Path
        HTML file; its parent directory is created if needed.
    title : str
        Page title.

    Returns
    -------
    Path
        ``out``.
    """
    return write_atomic(out, render_market_report(series, forecasts, result, title=title))


# --- pre-play ----------------------------------------------------------------------------------

_CREDIT_ROWS = {
    "applications": ("applications replayed", "count"),
    "approved": ("applicants approved", "count"),
    "approval_rate": ("approval rate", "rate"),
    "thin_file_approval_rate": ("approval rate of thin-file applicants", "rate"),
    "approved_exposure": ("approved exposure", "money"),
    "expected_bad_rate_scenario": ("expected bad rate of the approved, scenario", "rate"),
    "expected_bad_rate_as_realised": ("expected bad rate of the approved, as realised", "rate"),
    "expected_credit_loss_scenario": ("expected credit loss, scenario", "money"),
    "expected_credit_loss_as_realised": ("expected credit loss, as realised", "money"),
    "rwa": ("risk-weighted assets (IRB)", "money"),
    "capital": ("capital requirement (IRB)", "money"),
}
_FRAUD_ROWS = {
    "threshold": ("alert threshold (fraud probability)", "number"),
    "alerts": ("alerts", "count"),
    "alerts_per_day": ("alerts per day", "number"),
    "frauds": ("frauds", "count"),
    "frauds_caught": ("frauds caught", "count"),
    "fraud_amount": ("fraud amount", "money"),
    "fraud_amount_caught": ("fraud amount caught", "money"),
    "fraud_losses": ("fraud losses (frauds not alerted)", "money"),
    "precision": ("precision of the alerts", "rate"),
}


def _kind(key: str, known: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    if key in known:
        return known[key]
    return key.replace("_", " "), "rate" if "rate" in key or "share" in key else "number"


def _comparison_table(table: pd.DataFrame, known: Mapping[str, tuple[str, str]]) -> str:
    rows = []
    for key, row in table.iterrows():
        label, kind = _kind(str(key), known)
        change = row["proposed"] - row["current"] if "change" not in row else row["change"]
        rows.append(
            {
                "JSON key": str(key),
                "metric": label,
                "current": _format(kind, row["current"]),
                "proposed": _format(kind, row["proposed"]),
                "change": _format(kind, change, signed=True),
                "change (%)": _MISSING if kind == "rate" else _relative(change, row["current"]),
            }
        )
    frame = pd.DataFrame(rows)
    return f'<div class="num3">{table_html(frame, row_key="JSON key")}</div>'


def _credit_value(result: PreplayResult, metric: str, column: str) -> float:
    return float(result.credit.loc[metric, column])


def _headline_numbers(result: PreplayResult) -> dict[str, float]:
    def change(metric: str) -> float:
        return _credit_value(result, metric, "proposed") - _credit_value(result, metric, "current")

    return {
        "approved_change": change("approved"),
        "approval_rate_change": change("approval_rate"),
        "expected_credit_loss_change": change("expected_credit_loss_scenario"),
        "expected_credit_loss_current": _credit_value(
            result, "expected_credit_loss_scenario", "current"
        ),
        "capital_change": change("capital"),
        "capital_current": _credit_value(result, "capital", "current"),
    }


def _moves(change: float, base: float, down: str, up: str, what: str) -> str:
    if change == 0:
        return f"leaves {what} unchanged"
    rel = _relative(change, base)
    rel = "" if rel == _MISSING else f" ({rel})"
    return f"{down if change < 0 else up} {what} by {_money(abs(change))}{rel}"


def preplay_headline(result: PreplayResult) -> str:
    """One sentence: what the proposed policy does under the scenario, against the current one.

    Approvals (count and percentage points of approval rate), expected credit loss under the
    scenario and IRB capital; changes are proposed minus current.

    Examples
    --------
    >>> credit = pd.DataFrame(
    ...     {"current": [725.0, 0.675, 516418.3, 608250.7], "proposed": [453.0, 0.422, 270455.5,
    ...      392224.7]},
    ...     index=["approved", "approval_rate", "expected_credit_loss_scenario", "capital"],
    ... )
    >>> print(preplay_headline(PreplayResult("adverse", {}, credit, pd.DataFrame(), None)))
    Under adverse, the proposed policy approves 272 fewer applicants (-25.3 pp), cuts expected
    credit loss by 245,963 (-47.6%) and capital by 216,026 (-35.5%).
    """
    n = _headline_numbers(result)
    approved = n["approved_change"]
    if approved == 0:
        approvals = "approves as many applicants"
    else:
        more = "more" if approved > 0 else "fewer"
        approvals = f"approves {_count(abs(approved))} {more} applicants"
    approvals += f" ({_pp(n['approval_rate_change'])})"
    ecl = _moves(
        n["expected_credit_loss_change"],
        n["expected_credit_loss_current"],
        "cuts",
        "raises",
        "expected credit loss",
    )
    cap = _moves(n["capital_change"], n["capital_current"], "cuts", "raises", "capital")
    loss_change, capital_change = n["expected_credit_loss_change"], n["capital_change"]
    if loss_change != 0 and capital_change != 0 and (loss_change < 0) == (capital_change < 0):
        cap = cap.split(" ", 1)[1]  # "cuts X and capital by Y": the verb once
    return f"Under {result.scenario}, the proposed policy {approvals}, {ecl} and {cap}."


def _preplay_headline_section(result: PreplayResult) -> Section:
    c = result.credit
    sentence = preplay_headline(result)
    body = f'<p class="headline" id="preplay-headline">{html.escape(sentence)}</p>\n'
    exposure = (c.loc["approved_exposure", "current"], c.loc["approved_exposure", "proposed"])
    bad = (
        c.loc["expected_bad_rate_scenario", "current"],
        c.loc["expected_bad_rate_scenario", "proposed"],
    )
    body += (
        f"<p>Approved exposure goes from {html.escape(_money(exposure[0]))} to "
        f"{html.escape(_money(exposure[1]))}; the approved applicants' expected bad rate "
        f"under the scenario from {html.escape(format_rate(bad[0]))} to "
        f"{html.escape(format_rate(bad[1]))}.</p>\n"
    )
    bars = [
        ("expected_credit_loss_scenario", "expected credit loss<br>(scenario)"),
        ("expected_credit_loss_as_realised", "expected credit loss<br>(as realised)"),
        ("capital", "capital requirement<br>(IRB, scenario)"),
    ]
    fig = go.Figure()
    for column, colour in (("current", _CURRENT), ("proposed", _PROPOSED)):
        values = [float(c.loc[k, column]) for k, _ in bars]
        fig.add_trace(
            go.Bar(
                x=[label for _, label in bars],
                y=values,
                name=f"{column} policy",
                marker_color=colour,
                text=[_money(v) for v in values],
                textposition="outside",
                cliponaxis=False,
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="currency",
        legend={"orientation": "h", "y": 1.12},
        margin={"t": 50},
    )
    body += figure_html(
        fig,
        "preplay-comparison",
        f"Expected credit loss of the approved book under {result.scenario} and as the world "
        "realised it, and the IRB capital requirement at the scenario's PDs, for the current "
        "policy and the proposed one.",
        height=420,
    )
    return Section("headline", "The change in one sentence", body)


def _loan_year_section(result: PreplayResult) -> Section:
    year = result.loan_year
    rows = []
    for key, label, text in (
        ("unemployment", "unemployment rate", lambda v: f"{v:.2f}%"),
        ("gdp_growth", "GDP growth (annualised)", lambda v: f"{v:+.2f}%"),
        ("lgd", "loss given default", format_rate),
    ):
        if key in year:
            v = _finite(year[key])
            rows.append((key, label, _MISSING if v is None else text(v)))
    for key in year:
        if key not in ("unemployment", "gdp_growth", "lgd"):
            rows.append((key, key.replace("_", " "), format_number(year[key])))
    frame = pd.DataFrame(rows, columns=["JSON key", "variable", "average over the loan's year"])
    body = f'<div class="num3">{table_html(frame, row_key="JSON key")}</div>'
    body += _caption(
        f"Every applicant's 12-month PD is the twin's own with the realised economy replaced "
        f"by {result.scenario}'s averages over its first four quarters; the loss given default "
        "is 45% plus the scenario's average LGD shift."
    )
    return Section("scenario", f"Scenario: {result.scenario}", body)


def _credit_section(result: PreplayResult) -> Section:
    body = _comparison_table(result.credit, _CREDIT_ROWS)
    body += _caption(
        "Both policies decide every loan application of the world. 'Scenario' figures use the "
        "PDs under the scenario's first year; 'as realised' ones the world's own PDs. Change "
        "is proposed minus current; rates change in percentage points (pp)."
    )
    return Section("credit", "Credit: current against proposed", body)


def _capital_section(result: PreplayResult) -> Section:
    cap = result.capital_by_class
    if cap is None or cap.empty:
        return Section(
            "capital",
            "Capital by asset class",
            notice_html("No capital by asset class in the result."),
        )
    wide = cap.pivot_table(
        index="asset_class", columns="policy", values=["rwa", "capital"], aggfunc="sum"
    )
    rows = []
    for asset_class in wide.index:
        row: dict[str, Any] = {"asset class": str(asset_class)}
        for measure, name in (("rwa", "RWA"), ("capital", "capital")):
            current = wide.loc[asset_class, (measure, "current")]
            proposed = wide.loc[asset_class, (measure, "proposed")]
            row[f"{name}, current"] = _money(current)
            row[f"{name}, proposed"] = _money(proposed)
            row[f"{name}, change"] = _money(proposed - current, signed=True)
        rows.append(row)
    frame = pd.DataFrame(rows)
    body = f'<div class="num2">{table_html(frame, row_key="asset class")}</div>'
    body += _caption(
        "Basel IRB risk-weighted assets and capital of each policy's approved book at the "
        "scenario's PDs and LGD: credit card lines are qualifying revolving retail; personal "
        "loans, microloans and SME working capital other retail."
    )
    return Section("capital", "Capital by asset class", body)


def _fraud_section(result: PreplayResult) -> Section:
    if result.fraud is None:
        return Section(
            "fraud",
            "Fraud alerts",
            notice_html("The change has no fraud section: the fraud threshold is unchanged."),
        )
    body = _comparison_table(result.fraud, _FRAUD_ROWS)
    body += _caption(
        "The fraud model's current and proposed thresholds replayed over the world's test "
        "period: analysts' workload, frauds caught and the losses of frauds not alerted."
    )
    return Section("fraud", "Fraud alerts: current against proposed", body)


def _preplay_data(result: PreplayResult) -> dict[str, Any]:
    return {
        "kind": "preplay",
        **result.to_dict(),
        "headline": {"text": preplay_headline(result), **_headline_numbers(result)},
    }


def render_preplay_report(result: PreplayResult, *, title: str | None = None) -> str:
    """The pre-play page as a complete HTML document (see :func:`preplay_report`)."""
    applications = float(result.credit.loc["applications", "current"])
    subtitle = (
        f"{_count(applications)} loan applications of the world decided by the current policy "
        f"and by the proposed one, under the {result.scenario} scenario's first year."
    )
    sections = [
        _preplay_headline_section(result),
        _loan_year_section(result),
        _credit_section(result),
        _capital_section(result),
        _fraud_section(result),
    ]
    return _page(
        title or f"Pre-play under {result.scenario}: proposed against current policy",
        subtitle,
        sections,
        _preplay_data(result),
    )


def preplay_report(result: PreplayResult, out: str | Path, *, title: str | None = None) -> Path:
    """Write the pre-play page to ``out`` atomically.

    Sections: the change in one sentence (:func:`preplay_headline`) with a chart of expected
    credit loss and capital under both policies; the scenario's loan-year averages; the credit
    table (current, proposed, change); capital by asset class; fraud alerts (when the change
    has a fraud section).

    Parameters
    ----------
    result : PreplayResult
        From :func:`fintwin.stress.preplay.preplay`.
    out : str or Path
        HTML file; its parent directory is created if needed.
    title : str, optional
        Page title (default names the scenario).

    Returns
    -------
    Path
        ``out``.
    """
    return write_atomic(out, render_preplay_report(result, title=title))


# --- scenarios ---------------------------------------------------------------------------------


def scenario_paths_figure(scenarios: Mapping[str, Scenario]) -> go.Figure:
    """Unemployment and GDP growth of each scenario, quarter by quarter, in two subplots.

    Parameters
    ----------
    scenarios : mapping of str to Scenario
        Name (legend label) to scenario; one colour per scenario in both subplots.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``unemployment`` (first subplot) then ``gdp_growth`` (second), per scenario.

    Examples
    --------
    >>> s = Scenario("x", {"gdp_growth": [1.0, -2.0], "unemployment": [5.0, 6.5]})
    >>> fig = scenario_paths_figure({"x": s})
    >>> [(t.name, t.meta, list(t.y)) for t in fig.data]
    [('x', 'unemployment', [5.0, 6.5]), ('x', 'gdp_growth', [1.0, -2.0])]
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Unemployment rate (%)", "GDP growth (% a year, annualised)"),
        horizontal_spacing=0.1,
    )
    for i, (name, scenario) in enumerate(scenarios.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        quarters = list(range(1, scenario.horizon + 1))
        for col, variable in ((1, "unemployment"), (2, "gdp_growth")):
            fig.add_trace(
                go.Scatter(
                    x=quarters,
                    y=[float(v) for v in scenario.paths[variable]],
                    mode="lines+markers",
                    name=str(name),
                    legendgroup=str(name),
                    showlegend=col == 1,
                    line={"color": colour},
                    meta=variable,
                    hovertemplate="%{fullData.name}, quarter %{x}: %{y:.2f}%<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="quarter of the scenario", dtick=1)
    fig.update_yaxes(title_text="%", row=1, col=1)
    fig.update_layout(legend={"orientation": "h", "y": -0.2}, margin={"t": 40})
    return fig


def _long_losses(losses: pd.DataFrame | Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Projected losses as one frame with a ``scenario`` column."""
    if isinstance(losses, pd.DataFrame):
        frame = losses
    elif isinstance(losses, Mapping):
        frame = pd.concat(
            [pd.DataFrame(t).assign(scenario=str(name)) for name, t in losses.items()],
            ignore_index=True,
        )
    else:
        raise ParameterError(
            "losses must be a DataFrame with a scenario column or a mapping of scenario to "
            f"project_losses tables (got {type(losses).__name__})"
        )
    missing = [c for c in ("scenario", "quarter", "loss", "cumulative_loss") if c not in frame]
    if missing:
        raise ParameterError(
            f"losses must have the columns scenario, quarter, loss, cumulative_loss "
            f"(missing {', '.join(missing)})"
        )
    return frame


def scenario_data(
    scenarios: Mapping[str, Scenario],
    losses: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """What :func:`scenario_section` shows, JSON-ready: each scenario's paths, and the losses."""
    data: dict[str, Any] = {
        "kind": "scenarios",
        "scenarios": {
            str(name): {
                "name": s.name,
                "description": s.description,
                "start": None if s.start is None else s.start.isoformat(),
                "horizon": s.horizon,
                "paths": {v: [float(x) for x in p] for v, p in s.paths.items()},
                "lgd_shift": [float(x) for x in s.lgd_shift],
            }
            for name, s in scenarios.items()
        },
    }
    if losses is not None:
        frame = _long_losses(losses)
        data["losses"] = {
            str(name): json_ready(part.drop(columns="scenario").to_dict("list"))
            for name, part in frame.groupby("scenario", sort=False)
        }
    return data


def scenario_section(
    scenarios: Mapping[str, Scenario],
    losses: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    *,
    anchor: str = "scenarios",
    title: str = "Macro scenarios",
) -> Section:
    """A report section: the scenarios' paths and, given projected losses, cumulative losses.

    Parameters
    ----------
    scenarios : mapping of str to Scenario
        Name to scenario (:func:`fintwin.stress.scenarios.builtin_scenarios` gives one).
    losses : DataFrame or mapping of str to DataFrame, optional
        Losses projected under each scenario: a mapping of scenario name to
        :func:`fintwin.stress.scenarios.project_losses` tables, or one frame with a
        ``scenario`` column and at least ``quarter``, ``loss`` and ``cumulative_loss``.
    anchor, title : str
        HTML id and heading of the section (figure ids start with ``anchor``).

    Returns
    -------
    Section
        Its body embeds no JSON: a page adds :func:`data_script` of :func:`scenario_data`
        once (as :func:`render_scenario_report` does).
    """
    if not scenarios:
        raise ParameterError("scenarios must hold at least one scenario (got none)")
    body = figure_html(
        scenario_paths_figure(scenarios),
        f"{anchor}-paths",
        "Each scenario's unemployment rate and annualised GDP growth, quarter by quarter "
        "from its start.",
        height=400,
    )
    rows = [
        {
            "scenario": str(name),
            "start": _MISSING if s.start is None else s.start.isoformat(),
            "quarters": s.horizon,
            "peak unemployment": f"{float(np.max(s.paths['unemployment'])):.2f}%",
            "lowest GDP growth": f"{float(np.min(s.paths['gdp_growth'])):+.2f}%",
            "largest LGD shift": f"{100 * float(np.max(s.lgd_shift)):+.1f} pp",
            "description": s.description,
        }
        for name, s in scenarios.items()
    ]
    body += table_html(pd.DataFrame(rows), row_key="scenario")
    if losses is not None:
        frame = _long_losses(losses)
        names = list(dict.fromkeys(frame["scenario"].astype(str)))
        order = {str(n): i for i, n in enumerate(scenarios)}
        fig = go.Figure()
        totals = []
        for j, name in enumerate(names):
            part = frame[frame["scenario"].astype(str) == name].sort_values("quarter")
            colour = _PALETTE[order.get(name, len(order) + j) % len(_PALETTE)]
            fig.add_trace(
                go.Scatter(
                    x=[int(q) for q in part["quarter"]],
                    y=[float(v) for v in part["cumulative_loss"]],
                    mode="lines+markers",
                    name=name,
                    line={"color": colour},
                )
            )
            quarterly = part["loss"].to_numpy(dtype=np.float64)
            totals.append(
                {
                    "scenario": name,
                    "quarters": len(part),
                    "cumulative loss": _money(part["cumulative_loss"].iloc[-1]),
                    "worst quarter's loss": _money(quarterly.max() if quarterly.size else None),
                }
            )
        fig.update_layout(
            xaxis_title="quarter of the scenario",
            xaxis_dtick=1,
            yaxis_title="cumulative expected loss (currency)",
            legend={"orientation": "h", "y": 1.1},
            margin={"t": 40},
        )
        body += "<h3>Projected credit losses</h3>\n"
        body += figure_html(
            fig,
            f"{anchor}-losses",
            "Expected credit loss of the portfolio accumulated quarter by quarter under each "
            "scenario (a closed book run off: defaulted exposure is not replaced).",
            height=400,
        )
        body += f'<div class="num2">{table_html(pd.DataFrame(totals), row_key="scenario")}</div>'
    return Section(anchor, title, body)


def render_scenario_report(
    scenarios: Mapping[str, Scenario],
    losses: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    *,
    title: str = "Macro scenarios",
    subtitle: str = "",
) -> str:
    """A page of :func:`scenario_section` with :func:`scenario_data` embedded."""
    section = scenario_section(scenarios, losses)
    default = f"{len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''}: " + ", ".join(
        map(str, scenarios)
    )
    return _page(title, subtitle or default, [section], scenario_data(scenarios, losses))


def scenario_report(
    scenarios: Mapping[str, Scenario],
    out: str | Path,
    losses: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    *,
    title: str = "Macro scenarios",
    subtitle: str = "",
) -> Path:
    """Write a page of scenarios (and their projected losses) to ``out`` atomically."""
    return write_atomic(
        out, render_scenario_report(scenarios, losses, title=title, subtitle=subtitle)
    )
