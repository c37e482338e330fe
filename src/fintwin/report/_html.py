"""The page shell of fintwin reports: sections, tables, embedded figures, atomic writing.

A report is one self-contained HTML file: plotly.js is copied from the installed ``plotly``
package into the page once (never fetched from a CDN), and every figure is a ``<div>`` drawn by
a small inline script from the figure's JSON. Nothing on the page reaches the network.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fintwin._files import write_atomic

__all__ = [
    "Section",
    "figure_html",
    "notice_html",
    "render_page",
    "table_html",
    "write_atomic",
]

#: Options of every figure: fit the page width, no plotly logo, no links to plotly's site.
_PLOT_CONFIG = {"responsive": True, "displaylogo": False, "showLink": False}

_CSS = """
:root { --fg: #1f2933; --muted: #52606d; --line: #d9e2ec; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 1.8em; margin: 0 0 4px; }
h2 { font-size: 1.35em; margin: 40px 0 8px; padding-top: 8px; border-top: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 20px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
nav.toc { background: #f5f7fa; border: 1px solid var(--line); border-radius: 6px;
          padding: 10px 20px; margin: 16px 0 8px; }
nav.toc ol { margin: 6px 0; padding-left: 22px; }
nav.toc .absent { color: var(--muted); }
a { color: var(--accent); }
.figure { width: 100%; }
p.caption { color: var(--muted); font-size: 0.92em; margin: 2px 0 18px; }
p.notice { background: #fff8e6; border-left: 4px solid #e6a700; padding: 8px 12px; }
.table-wrap { overflow-x: auto; margin: 6px 0 14px; }
table.data { border-collapse: collapse; font-size: 0.9em; }
table.data th, table.data td { padding: 3px 10px; border-bottom: 1px solid var(--line);
                               text-align: left; white-space: nowrap; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data thead th { border-bottom: 2px solid var(--muted); }
footer { color: var(--muted); font-size: 0.85em; margin-top: 48px; }
"""


@dataclass
class Section:
    """One section of a report.

    Attributes
    ----------
    anchor : str
        HTML id of the section (also its table-of-contents link).
    title : str
        Heading.
    body : str
        HTML under the heading.
    present : bool
        False when the section only says that its data is absent (shown muted in the contents).
    """

    anchor: str
    title: str
    body: str
    present: bool = True


def _script_safe(text: str) -> str:
    # A data value such as "</script>" must not end the inline script early.
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def figure_html(fig: go.Figure, div_id: str, caption: str, *, height: int = 420) -> str:
    """A figure as a ``<div>`` with the inline script that draws it, and its caption.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    div_id : str
        HTML id of the figure's div; unique within the page.
    caption : str
        One plain sentence saying what the chart shows (escaped here).
    height : int
        Height of the figure in CSS pixels; the width follows the page.

    Returns
    -------
    str
        HTML.
    """
    fig.update_layout(height=height, autosize=True)
    payload = _script_safe(fig.to_json())
    config = json.dumps(_PLOT_CONFIG)
    ident = html.escape(div_id, quote=True)
    return (
        f'<div id="{ident}" class="figure" style="height:{int(height)}px"></div>\n'
        f"<script>(function(){{var f={payload};"
        f'Plotly.newPlot("{ident}",f.data,f.layout,{config});}})();</script>\n'
        f'<p class="caption">{html.escape(caption)}</p>\n'
    )


def notice_html(text: str) -> str:
    """A plainly visible notice (e.g. that a table is absent from the world)."""
    return f'<p class="notice">{html.escape(text)}</p>\n'


def _cell(value: object) -> tuple[str, bool]:
    """Formatted text of one cell and whether it is numeric (right-aligned)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "", False
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower(), False
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}", True
    if isinstance(value, numbers.Real):
        v = float(value)
        return (f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4g}"), True
    if isinstance(value, dt.date):
        return value.isoformat(), False
    return str(value), False


def table_html(
    frame: pd.DataFrame,
    *,
    percent: Sequence[str] = (),
    row_key: str | None = None,
) -> str:
    """A small frame as an HTML table (horizontally scrollable on narrow screens).

    Parameters
    ----------
    frame : DataFrame
        At most a few hundred rows; every value is escaped.
    percent : sequence of str
        Columns holding shares in [0, 1], shown as percentages.
    row_key : str, optional
        Column whose value is copied to each row's ``data-key`` attribute, so that tests and
        scripts can find a row without parsing formatted numbers.

    Returns
    -------
    str
        HTML.
    """
    cols = [str(c) for c in frame.columns]
    numeric = [frame[c].dtype.kind in "iuf" and frame[c].dtype != bool for c in frame.columns]
    head = "".join(
        f'<th class="num">{html.escape(c)}</th>' if num else f"<th>{html.escape(c)}</th>"
        for c, num in zip(cols, numeric, strict=True)
    )
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(cols, record, strict=True):
            if col in percent and value is not None and not pd.isna(value):
                text, num = f"{100 * float(value):.2f}%", True
            else:
                text, num = _cell(value)
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        key = ""
        if row_key is not None:
            key = f' data-key="{html.escape(str(record[cols.index(row_key)]), quote=True)}"'
        rows.append(f"<tr{key}>{''.join(cells)}</tr>")
    return (
        '<div class="table-wrap"><table class="data">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>\n"
    )


def render_page(title: str, subtitle: str, sections: Sequence[Section], plotlyjs: str) -> str:
    """The whole page: head with plotly.js inlined once, title, table of contents, sections.

    Parameters
    ----------
    title, subtitle : str
        Plain text (escaped here).
    sections : sequence of Section
    plotlyjs : str
        The plotly.js bundle (``plotly.offline.get_plotlyjs()``).

    Returns
    -------
    str
        A complete HTML document.
    """
    toc = "".join(
        f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>'
        if s.present
        else f'<li class="absent"><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a>'
        " (not in this world)</li>"
        for s in sections
    )
    body = "".join(
        f'<section id="{html.escape(s.anchor)}">\n<h2>{html.escape(s.title)}</h2>\n{s.body}'
        "</section>\n"
        for s in sections
    )
    from fintwin import __version__

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n"
        f'<script type="text/javascript">{plotlyjs}</script>\n'
        "</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="subtitle">{html.escape(subtitle)}</p>\n'
        f'<nav class="toc"><strong>Contents</strong><ol>{toc}</ol></nav>\n'
        f"{body}"
        f"<footer>Made by fintwin {html.escape(__version__)}. "
        "Self-contained page: it loads nothing from the network.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )
