"""The fraud evaluation report: one self-contained HTML page about a model on a world.

:func:`risk_evaluation` (in :mod:`fintwin.report._risk_evaluation`) computes a
:class:`RiskEvaluation`; this module only renders it. Sections, in page order: headline
metrics (with the Fraud Detection Handbook's best published results when the book's protocol
applies), precision-recall and ROC curves, card precision@100 per day, recall per fraud
scenario at the alert rate, decision latency percentiles, prequential folds (that protocol
only), and the model's metadata (training window, label cut-off, data and feature hashes,
features). The evaluation's JSON (:meth:`RiskEvaluation.to_dict`, what ``fintwin risk evaluate
--json`` prints) is embedded in the page as ``<script type="application/json"
id="evaluation-data">``, so every figure on the page can be checked against it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from fintwin.report._html import (
    Section,
    figure_html,
    notice_html,
    render_page,
    table_html,
    write_atomic,
)
from fintwin.report._risk_evaluation import (
    BOOK_BEST,
    LATENCY_SAMPLE,
    LATENCY_WARMUP,
    RiskEvaluation,
    RocCurve,
    risk_evaluation,
    roc_curve,
)

__all__ = [
    "BOOK_BEST",
    "LATENCY_SAMPLE",
    "LATENCY_WARMUP",
    "RiskEvaluation",
    "RocCurve",
    "default_report_path",
    "render_risk_report",
    "risk_evaluation",
    "risk_report",
    "risk_sections",
    "roc_curve",
]

_PALETTE = ("#1f5fa8", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d6a9f", "#52606d")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _headline(ev: RiskEvaluation) -> Section:
    e = ev.evaluation
    k = e.k
    cp_key = f"card_precision_at_{k}"
    rows = [
        ("auc_roc", "AUC ROC", _fmt(e.auc_roc)),
        ("average_precision", "Average precision", _fmt(e.average_precision)),
        (cp_key, f"Card precision@{k} (mean per day)", _fmt(e.card_precision_at_k)),
        ("alert_rate", "Alert rate (realised)", _pct(e.alert_rate)),
        ("alert_rate_target", "Alert rate (target)", _pct(ev.alert_rate_target)),
        ("threshold", "Score threshold at that rate", _fmt(e.threshold)),
        ("recall", "Recall (frauds flagged)", _pct(e.recall)),
        ("precision", "Precision of the alerts", _pct(e.precision)),
        ("fraud_amount_caught", "Fraud amount caught", _pct(e.fraud_amount_caught)),
        ("n_events", "Test events", f"{e.n_events:,}"),
        ("n_frauds", "Test frauds", f"{e.n_frauds:,}"),
    ]
    frame = pd.DataFrame(rows, columns=["JSON key", "metric", "value"])
    if ev.book_reference:
        frame["handbook best"] = [_fmt(BOOK_BEST.get(key)) for key in frame["JSON key"]]
    s = ev.split
    caption = (
        f"Test period: days {s.test_start_day} to {s.test_end_day - 1} from "
        f"{np.datetime64(s.origin_ms, 'ms').astype('datetime64[D]')} (protocol "
        f"{ev.plan.protocol.value}; training days {s.train_start_day} to "
        f"{s.train_end_day - 1}); {s.test_removed.size:,} test events of cards already known "
        "to be compromised were left out. Alert-rate metrics flag the events scoring at or "
        "above the threshold that flags the target share of test events."
    )
    if ev.book_reference:
        caption += (
            " 'handbook best' is the best test result published by the Fraud Detection "
            "Handbook (a mean over its 4 prequential folds)."
        )
    body = (
        table_html(frame, row_key="JSON key") + f'<p class="caption">{html.escape(caption)}</p>\n'
    )
    return Section("headline", "Headline metrics", body)


def _curves(ev: RiskEvaluation) -> Section:
    e = ev.evaluation
    pr = e.pr_curve
    fig = go.Figure(
        go.Scatter(
            x=pr.recall.tolist(),
            y=pr.precision.tolist(),
            mode="lines",
            line={"shape": "hv", "color": _PALETTE[0]},
            name="precision-recall",
        )
    )
    base = e.n_frauds / e.n_events
    fig.add_hline(y=base, line={"dash": "dot", "color": _PALETTE[6]})
    fig.update_layout(
        xaxis_title="recall",
        yaxis_title="precision",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
        margin={"t": 30},
    )
    body = figure_html(
        fig,
        "pr-curve",
        f"Precision against recall as the threshold falls; average precision "
        f"{e.average_precision:.4f}. The dotted line is the fraud rate of the test events "
        f"({100 * base:.2f}%), a random ranking's precision.",
    )
    roc = go.Figure(
        go.Scatter(
            x=ev.roc.fpr.tolist(),
            y=ev.roc.tpr.tolist(),
            mode="lines",
            line={"color": _PALETTE[1]},
            name="ROC",
        )
    )
    roc.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": _PALETTE[6]},
            name="chance",
        )
    )
    roc.update_layout(
        xaxis_title="false positive rate",
        yaxis_title="true positive rate (recall)",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
        showlegend=False,
        margin={"t": 30},
    )
    body += figure_html(
        roc,
        "roc-curve",
        f"Share of frauds flagged against share of genuine events flagged; AUC {e.auc_roc:.4f}. "
        "The diagonal is a random ranking.",
    )
    return Section("curves", "Precision-recall and ROC curves", body)


def _card_precision(ev: RiskEvaluation) -> Section:
    e = ev.evaluation
    cp = e.card_precision
    if cp is None:
        return Section(
            "card-precision",
            f"Card precision@{e.k} per day",
            notice_html("Card precision needs each event's day and card; not computed."),
            present=False,
        )
    origin = np.datetime64(ev.split.origin_ms, "ms").astype("datetime64[D]")
    dates = [str(origin + int(d)) for d in cp.days]
    fig = go.Figure(
        go.Bar(x=dates, y=cp.per_day.tolist(), marker_color=_PALETTE[2], name=f"CP@{e.k}")
    )
    fig.add_hline(y=cp.mean, line={"dash": "dash", "color": _PALETTE[1]})
    fig.update_layout(xaxis_title="test day", yaxis_title=f"card precision@{e.k}", margin={"t": 30})
    body = figure_html(
        fig,
        "card-precision-chart",
        f"Per test day, the share of the {e.k} cards with the highest score that were frauded "
        f"(cards caught on earlier days left out, as the handbook defines it); the dashed line "
        f"is the mean, {cp.mean:.4f}.",
        height=360,
    )
    return Section("card-precision", f"Card precision@{e.k} per day", body)


def _scenarios(ev: RiskEvaluation) -> Section:
    e = ev.evaluation
    title = "Recall per fraud scenario"
    if not e.recall_by_scenario:
        return Section(
            "scenarios",
            title,
            notice_html(
                "The events carry no fraud scenario (no fraud_scenario column), so recall is "
                "not broken down."
            ),
            present=False,
        )
    names = list(e.recall_by_scenario)
    recall = [e.recall_by_scenario[n] for n in names]
    frauds = [e.frauds_by_scenario[n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=recall,
            marker_color=[_PALETTE[i % len(_PALETTE)] for i in range(len(names))],
            text=[f"{100 * r:.1f}% of {n:,}" for r, n in zip(recall, frauds, strict=True)],
            textposition="outside",
        )
    )
    fig.update_layout(
        yaxis_title="recall at the alert rate",
        yaxis_range=[0, 1.1],
        yaxis_tickformat=".0%",
        margin={"t": 30},
    )
    rate = _pct(ev.alert_rate_target)
    body = figure_html(
        fig,
        "scenario-recall",
        f"Share of each scenario's test frauds flagged when {rate} of test events are alerted "
        f"(threshold {e.threshold:.4f}).",
        height=380,
    )
    frame = pd.DataFrame({"scenario": names, "frauds": frauds, "recall": recall})
    body += table_html(frame, percent=["recall"], row_key="scenario")
    return Section("scenarios", f"{title} at a {rate} alert rate", body)


def _latency(ev: RiskEvaluation) -> Section:
    lat = ev.evaluation.latency
    if lat is None:
        return Section(
            "latency",
            "Decision latency",
            notice_html("Latency was not measured (latency sample of 0 events)."),
            present=False,
        )
    frame = pd.DataFrame(
        {
            "percentile": ["p50", "p90", "p99", "max"],
            "milliseconds": [f"{1000 * v:.3f}" for v in (lat.p50, lat.p90, lat.p99, lat.max)],
        }
    )
    body = table_html(frame, row_key="percentile")
    body += f'<p class="caption">{html.escape(ev.latency_source)}.</p>\n'
    return Section("latency", "Decision latency", body)


def _prequential(ev: RiskEvaluation) -> Section | None:
    pre = ev.prequential
    if pre is None:
        return None
    d = pre.to_dict()
    k = pre.folds[0].k
    cp = f"card_precision_at_{k}"
    rows = [
        {
            "fold": i,
            "training from day": f["train_start_day"],
            "test from day": f["test_start_day"],
            "rounds": f["num_boost_round"],
            "AUC ROC": _fmt(f["auc_roc"]),
            "average precision": _fmt(f["average_precision"]),
            f"CP@{k}": _fmt(f[cp]),
            "test frauds": f["n_frauds"],
        }
        for i, f in enumerate(d["folds"])
    ]
    rows.append(
        {
            "fold": "mean",
            "AUC ROC": _fmt(d["mean"]["auc_roc"]),
            "average precision": _fmt(d["mean"]["average_precision"]),
            f"CP@{k}": _fmt(d["mean"][cp]),
        }
    )
    frame = pd.DataFrame(rows).astype(object).where(lambda f: f.notna(), None)
    body = table_html(frame, row_key="fold")
    body += (
        '<p class="caption">The model\'s recipe (its feature set, LightGBM parameters and seed) '
        "trained and tested on each prequential fold, as the handbook reports its results; "
        "the headline metrics are those of the registered model on fold 0.</p>\n"
    )
    return Section("prequential", "Prequential folds", body)


def _model(ev: RiskEvaluation) -> Section:
    m = ev.model_summary()
    trained_on = m["trained_on"] or {}
    rows = [
        ("model id", ev.model_id),
        ("model digest (manifest SHA-256)", ev.model_digest),
        ("training window", f"{m['training_start']} to {m['training_end']}"),
        ("label cut-off", m["label_cutoff"]),
        ("training rows (frauds)", f"{m['training_rows']} ({m['training_frauds']})"),
        ("boosting rounds", m["num_boost_round"]),
        ("training data hash", m["data_hash"]),
        ("feature definitions hash", m["feature_definitions_hash"]),
        ("trained on", f"{trained_on.get('path')} (preset {trained_on.get('preset')})"),
        ("evaluated on", f"{ev.world_path} (preset {ev.world_preset}, table {ev.table})"),
        ("evaluated table fingerprint", ev.world_fingerprint),
        ("policy (latency sample)", f"{ev.policy_name} v{ev.policy_version}"),
        ("created", m["created_at"]),
        *((f"library: {k}", v) for k, v in sorted(m["library_versions"].items())),
    ]
    frame = pd.DataFrame(rows, columns=["field", "value"]).astype({"value": str})
    body = table_html(frame, row_key="field")
    feats = ", ".join(m["features"])
    body += f"<h3>Features ({len(m['features'])})</h3>\n<p>{html.escape(feats)}</p>\n"
    # "<" as a JSON escape: no text in the data can end or reopen the script element.
    payload = json.dumps(ev.to_dict(), allow_nan=False, sort_keys=True).replace("<", "\\u003c")
    body += f'<script type="application/json" id="evaluation-data">{payload}</script>\n'
    return Section("model", "The model", body)


def risk_sections(ev: RiskEvaluation) -> list[Section]:
    """The report's sections, in page order (the prequential one only for that protocol)."""
    sections = [
        _headline(ev),
        _curves(ev),
        _card_precision(ev),
        _scenarios(ev),
        _latency(ev),
        _prequential(ev),
        _model(ev),
    ]
    return [s for s in sections if s is not None]


def render_risk_report(ev: RiskEvaluation) -> str:
    """The fraud evaluation report as a complete HTML document (plotly.js inlined once)."""
    s = ev.split
    subtitle = (
        f"Model {ev.model_id} on {Path(ev.world_path).name} (preset {ev.world_preset}): "
        f"protocol {ev.plan.protocol.value}, test days {s.test_start_day}-{s.test_end_day - 1}, "
        f"{ev.evaluation.n_events:,} test events, alert rate {100 * ev.alert_rate_target:g}%."
    )
    return render_page(
        f"Fraud evaluation: {ev.model_id}",
        subtitle,
        risk_sections(ev),
        plotly.offline.get_plotlyjs(),
    )


def default_report_path(world_path: str | Path, model_id: str) -> Path:
    """Where ``fintwin risk evaluate`` writes its report by default: next to the world
    directory, ``WORLD-risk-NAME-VERSION.html``.

    Examples
    --------
    >>> default_report_path("worlds/handbook", "fraud-handbook/3").as_posix()
    'worlds/handbook-risk-fraud-handbook-3.html'
    """
    world = Path(world_path)
    return world.parent / f"{world.name}-risk-{model_id.replace('/', '-')}.html"


def risk_report(ev: RiskEvaluation, out: str | Path) -> Path:
    """Write the report of ``ev`` to ``out`` atomically (no partial file on error).

    Parameters
    ----------
    ev : RiskEvaluation
    out : str or Path
        HTML file; its parent directory is created if needed.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        ``out`` is an existing directory.
    """
    return write_atomic(out, render_risk_report(ev))
