"""The credit model report: one self-contained HTML page about a champion and its challenger.

It renders what :func:`~fintwin.credit.model.train_credit_model` recorded in
:attr:`CreditModel.record <fintwin.credit.model.CreditModel.record>`; it computes nothing
new. Sections, in page order: headline metrics side by side (champion and challenger, test and
train), calibration by band, the cut-off (chart and table), fairness per protected attribute,
mitigation, the policy comparison, alternative data and cross-validation (each only when the
record holds it), the scorecard's points, and the model card
(:func:`~fintwin.credit.model_card.render_model_card`, its Markdown converted to HTML).
Numbers are formatted by the model card's functions, so page and card agree. The record is
embedded in the page as ``<script type="application/json" id="credit-data">`` (NaN and
infinities as ``null``), so every figure can be checked against it.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from fintwin.credit.model import CreditModel
from fintwin.credit.model_card import (
    auc_interval,
    fairness_findings,
    fairness_table,
    flagged_groups,
    format_number,
    format_rate,
    metrics_table,
    mitigation_blocks,
    render_model_card,
    value_tables,
)
from fintwin.report._html import (
    Section,
    figure_html,
    notice_html,
    render_page,
    table_html,
    write_atomic,
)

__all__ = [
    "credit_report",
    "credit_sections",
    "json_ready",
    "markdown_html",
    "render_credit_report",
]

_PALETTE = ("#1f5fa8", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d6a9f", "#52606d")
_MODEL_LABELS = {"scorecard": "champion (scorecard)", "challenger": "challenger (LightGBM)"}


def _caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>\n'


# --- Markdown, the small part the model card uses ----------------------------------------------


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])", r"<em>\1</em>", out)


def _md_cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_html(text: str) -> str:
    """HTML of the Markdown the model card writes: headings, bullets, tables, paragraphs,
    ``code``, **bold** and *emphasis*. Everything else is text (escaped). Headings go two
    levels down (``#`` is ``<h3>``, ``##`` ``<h4>``...): the page's sections are ``<h2>``.

    Examples
    --------
    >>> markdown_html("## Data\\n\\n- **n**: `x` < 3")
    '<h4>Data</h4>\\n<ul><li><strong>n</strong>: <code>x</code> &lt; 3</li></ul>\\n'
    """
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"(#{1,6}) (.*)", line)
        if not line.strip():
            i += 1
        elif heading:
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>\n")
            i += 1
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>\n")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(_md_cells(lines[i]))
                i += 1
            head = "".join(f"<th>{_inline(c)}</th>" for c in block[0])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                for row in block[2:]
            )
            out.append(
                '<div class="table-wrap"><table class="data">'
                f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>\n"
            )
        else:
            para = []
            while (
                i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |- |\|)", lines[i])
            ):
                para.append(_inline(lines[i]))
                i += 1
            out.append(f"<p>{' '.join(para)}</p>\n")
    return "".join(out)


# --- the embedded record -----------------------------------------------------------------------


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python ones and NaN or infinities as None.

    Examples
    --------
    >>> json_ready({"a": [np.float64(1.5), float("nan")], "b": np.int64(2)})
    {'a': [1.5, None], 'b': 2}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def _record_script(record: Mapping[str, Any]) -> str:
    # "<" as a JSON escape: no text in the record can end or reopen the script element.
    payload = json.dumps(json_ready(record), allow_nan=False, sort_keys=True)
    payload = payload.replace("<", "\\u003c")
    return f'<script type="application/json" id="credit-data">{payload}</script>\n'


# --- sections ----------------------------------------------------------------------------------


def _headline(record: Mapping[str, Any]) -> Section:
    frame = metrics_table(record).rename(columns={"key": "JSON key"})
    body = table_html(frame, row_key="JSON key")
    champion = auc_interval(record, "scorecard")
    challenger = auc_interval(record, "challenger")
    body += _caption(
        f"Each model trained on {format_number(int(record['n_train']))} applicants and tested "
        f"on {format_number(int(record['n_test']))} held out. The champion approves at "
        f"{format_number(record['cutoff'])} points ({record.get('cutoff_rule')}), "
        f"{format_rate(record['approval_rate_test'])} of the test applicants. Standard error of "
        f"the test AUC (Hanley & McNeil): {format_number(champion['se'])} for the champion, "
        f"{format_number(challenger['se'])} for the challenger. PSI compares each model's "
        "score on the test part with the training part."
    )
    return Section("headline", "Champion and challenger", body)


def _calibration(record: Mapping[str, Any]) -> Section:
    bands = record.get("calibration_test") or {}
    fig = go.Figure()
    top = 0.0
    frames = []
    for i, (model, label) in enumerate(_MODEL_LABELS.items()):
        rows = bands.get(model) or []
        if not rows:
            continue
        frame = pd.DataFrame(rows)
        top = max(top, float(frame["mean_predicted"].max()), float(frame["observed"].max()))
        fig.add_trace(
            go.Scatter(
                x=frame["mean_predicted"].tolist(),
                y=frame["observed"].tolist(),
                mode="lines+markers",
                name=label,
                line={"color": _PALETTE[i]},
                text=[
                    f"band {b}, {n} applicants"
                    for b, n in zip(frame["band"], frame["n"], strict=True)
                ],
                hovertemplate="%{text}<br>predicted %{x:.1%}<br>observed %{y:.1%}",
            )
        )
        frames.append(frame.assign(model=label)[["model", *frame.columns]])
    if not frames:
        return Section(
            "calibration",
            "Calibration by band",
            notice_html("The record holds no calibration table."),
        )
    top = min(1.0, top * 1.05 + 0.01)
    fig.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            line={"dash": "dot", "color": _PALETTE[6]},
            name="perfect calibration",
        )
    )
    fig.update_layout(
        xaxis_title="mean predicted bad rate in the band",
        yaxis_title="observed bad rate in the band",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        xaxis_range=[0, top],
        yaxis_range=[0, top],
        margin={"t": 30},
    )
    body = figure_html(
        fig,
        "calibration-chart",
        "Test applicants in bands of each model's predicted bad rate (1 = safest): the "
        "band's mean prediction against its observed bad rate. Points on the dotted diagonal "
        "are perfectly calibrated; above it the model underestimates the risk.",
    )
    table = pd.concat(frames, ignore_index=True)
    body += table_html(
        table, percent=["min_predicted", "max_predicted", "mean_predicted", "observed"]
    )
    return Section("calibration", "Calibration by band", body)


def _cutoff(record: Mapping[str, Any]) -> Section:
    rows = record.get("cutoff_table_test") or []
    cutoff = float(record["cutoff"])
    economics = record.get("economics") or {}
    head = _caption(
        f"Cut-off {format_number(cutoff)} points ({record.get('cutoff_rule')}); approval rate "
        f"on the test part {format_rate(record['approval_rate_test'])}; loss given default "
        f"{format_rate(economics.get('lgd'))}, margin {format_rate(economics.get('margin'))}."
    )
    if not rows:
        return Section(
            "cutoff", "Cut-off", head + notice_html("The record holds no cut-off table.")
        )
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    for i, (column, label, dash) in enumerate(
        (
            ("approval_rate", "approval rate", None),
            ("expected_bad_rate", "expected bad rate (approved)", None),
            ("observed_bad_rate", "observed bad rate (approved)", "dot"),
        )
    ):
        if column in frame:
            fig.add_trace(
                go.Scatter(
                    x=frame["cutoff"].tolist(),
                    y=frame[column].tolist(),
                    mode="lines",
                    name=label,
                    line={"color": _PALETTE[i], "dash": dash},
                )
            )
    fig.add_trace(
        go.Scatter(
            x=frame["cutoff"].tolist(),
            y=frame["expected_profit"].tolist(),
            mode="lines",
            name="expected profit (right axis)",
            line={"color": _PALETTE[4], "width": 3},
            yaxis="y2",
        )
    )
    if math.isfinite(cutoff):
        fig.add_vline(
            x=cutoff,
            line={"dash": "dash", "color": _PALETTE[6]},
            annotation_text=f"cut-off {format_number(cutoff)}",
            annotation_position="top",
        )
    fig.update_layout(
        xaxis_title="cut-off (scorecard points; approve at or above)",
        yaxis={"title": "share", "tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={
            "title": "expected profit (exposure units)",
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 40},
    )
    body = head + figure_html(
        fig,
        "cutoff-chart",
        "What each cut-off would give on the test applicants: the share approved, the "
        "champion's expected and the observed bad rate among them, and the expected profit "
        "(margin on expected goods minus expected loss on expected bads). The dashed line is "
        "the model's cut-off.",
        height=460,
    )
    body += table_html(
        frame,
        percent=["approval_rate", "expected_bad_rate", "observed_bad_rate"],
        row_key="cutoff",
    )
    return Section("cutoff", "Cut-off", body)


def _fairness(record: Mapping[str, Any]) -> Section:
    audits = record.get("fairness_test") or {}
    if not audits:
        return Section(
            "fairness",
            "Fairness",
            notice_html("No protected attribute was given: the decisions were not audited."),
        )
    flagged = {a: flagged_groups(audit) for a, audit in audits.items()}
    body = _caption(
        "The champion's decisions at the cut-off on the test part, per protected attribute. "
        "A group is flagged when its approval rate is below four fifths of the reference "
        "group's; groups below the minimum size are shown but not compared."
    )
    if any(flagged.values()):
        listed = "; ".join(f"{a}: {', '.join(g)}" for a, g in flagged.items() if g)
        body += notice_html(f"Flagged by the four-fifths rule: {listed}.")
    else:
        body += "<p><strong>No group of any protected attribute is flagged.</strong></p>\n"
    for attribute, audit in audits.items():
        body += f"<h3>{html.escape(str(attribute))}</h3>\n"
        items = "".join(f"<li>{_inline(s)}</li>" for s in fairness_findings(audit))
        body += f"<ul>{items}</ul>\n"
        if "error" not in audit:
            body += table_html(fairness_table(audit), row_key="group")
    return Section("fairness", "Fairness", body)


def _tables(value: object) -> str:
    body = ""
    for title, frame in value_tables(value):
        if title:
            body += f"<h3>{html.escape(title)}</h3>\n"
        body += table_html(frame)
    return body


def _mitigation(record: Mapping[str, Any]) -> Section | None:
    if "mitigation" not in record:
        return None
    body = _caption(
        "Scorecards refitted with reweighing (Kamiran & Calders, 2012) of increasing strength, "
        "each at the baseline's training approval rate, measured on the test part. The "
        "protected attribute only weights the training data; no candidate sees it."
    )
    for title, sentences, frame in mitigation_blocks(record["mitigation"]):
        if title:
            body += f"<h3>{html.escape(title)}</h3>\n"
        if sentences:
            body += "<ul>" + "".join(f"<li>{_inline(s)}</li>" for s in sentences) + "</ul>\n"
        if frame is not None and not frame.empty:
            body += table_html(frame)
    return Section("mitigation", "Mitigation", body)


def _alternative_data(record: Mapping[str, Any]) -> Section | None:
    if "alternative_data" not in record:
        return None
    body = _caption(
        "Bureau-only models against models that also see alternative data, each at a cut-off "
        "giving the same target expected bad rate; realised bad rates are the twin's truth."
    )
    return Section(
        "alternative-data", "Alternative data", body + _tables(record["alternative_data"])
    )


def _policy_comparison(record: Mapping[str, Any]) -> Section | None:
    if "policy_comparison" not in record:
        return None
    body = _caption(
        "The new policy (the champion at its cut-off) against the historical one over the same "
        "later applicants, declined ones included."
    )
    return Section(
        "policy-comparison", "Policy comparison", body + _tables(record["policy_comparison"])
    )


def _cross_validation(record: Mapping[str, Any]) -> Section | None:
    if "cross_validation" not in record:
        return None
    body = _caption(
        "Repeated stratified k-fold cross-validation: everything learnt from data is learnt "
        "inside each fold."
    )
    return Section(
        "cross-validation", "Cross-validation", body + _tables(record["cross_validation"])
    )


def _scorecard(model: CreditModel) -> Section:
    table = model.scorecard.points_table()
    body = _caption(
        "Each variable's bins with the training applicants' count and bad rate, weight of "
        "evidence and points; an applicant's score is the sum of the points of their bins. "
        "Missing and Unseen bins take the points of a missing or never-seen value."
    )
    body += table_html(table, percent=["bad_rate"])
    return Section("scorecard", "Scorecard points", body)


def _card(model: CreditModel, name: str) -> Section:
    card = render_model_card(model, name=name)
    body = markdown_html(card)
    body += (
        "<details><summary>Markdown source of the model card</summary>"
        f"<pre>{html.escape(card)}</pre></details>\n"
    )
    body += _record_script(model.record)
    return Section("model-card", "Model card", body)


def credit_sections(model: CreditModel, *, name: str = "credit model") -> list[Section]:
    """The report's sections, in page order (optional ones only when the record holds them)."""
    record = model.record
    sections = [
        _headline(record),
        _calibration(record),
        _cutoff(record),
        _fairness(record),
        _mitigation(record),
        _policy_comparison(record),
        _alternative_data(record),
        _cross_validation(record),
        _scorecard(model),
        _card(model, name),
    ]
    return [s for s in sections if s is not None]


def render_credit_report(model: CreditModel, *, name: str = "credit model") -> str:
    """The credit model report as a complete HTML document (plotly.js inlined once)."""
    record = model.record
    subtitle = (
        f"Trained {record.get('trained_at')} on {record.get('source')}: "
        f"{format_number(int(record['n_train']))} training and "
        f"{format_number(int(record['n_test']))} test applicants. Status: "
        f"{record.get('approval_status', 'draft')}."
    )
    return render_page(
        f"Credit model report: {name}",
        subtitle,
        credit_sections(model, name=name),
        plotly.offline.get_plotlyjs(),
    )


def credit_report(model: CreditModel, out: str | Path, *, name: str = "credit model") -> Path:
    """Write the report of ``model`` to ``out`` atomically (no partial file on error).

    Parameters
    ----------
    model : CreditModel
    out : str or Path
        HTML file; its parent directory is created if needed.
    name : str
        Name of the model, in the title and the model card.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        ``out`` is an existing directory.
    """
    return write_atomic(out, render_credit_report(model, name=name))
