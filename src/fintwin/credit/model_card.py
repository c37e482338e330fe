"""The model card of a credit model: what it is, what it is for, how good and how fair it is.

:func:`render_model_card` writes a Markdown model card in the manner of Mitchell et al. (2019),
"Model Cards for Model Reporting", from a :class:`~fintwin.credit.model.CreditModel` and the
evaluation record :func:`~fintwin.credit.model.train_credit_model` kept in it. It reads the
record only; it computes nothing new except the Hanley-McNeil standard error of the test AUC
(:func:`hanley_mcneil_se`) and a calibration summary. Every number is printed by
:func:`format_number` or :func:`format_rate`, which the HTML credit report
(:mod:`fintwin.report.credit_report`) shares, so the card and the report agree digit for digit.

Sections: model details, intended use, data, metrics, cut-off, fairness, limitations,
approval status; and, only when the record holds them, cross-validation, mitigation, policy
comparison and alternative data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from fintwin.exceptions import ParameterError

if TYPE_CHECKING:
    from fintwin.credit.model import CreditModel

__all__ = [
    "PSI_ACT",
    "PSI_WATCH",
    "auc_interval",
    "fairness_findings",
    "fairness_table",
    "flagged_groups",
    "format_number",
    "format_rate",
    "format_value",
    "hanley_mcneil_se",
    "metrics_table",
    "mitigation_blocks",
    "records_table",
    "render_model_card",
    "value_tables",
]

#: PSI from which a shift is worth watching, and from which it calls for action.
PSI_WATCH = 0.1
PSI_ACT = 0.25
#: Two-sided 95 % normal quantile, for intervals of the test AUC.
_Z95 = 1.959963984540054
_MISSING = "—"

_METRICS = (
    ("auc", "AUC"),
    ("gini", "Gini"),
    ("ks", "KS"),
    ("brier", "Brier score"),
)
_MODELS = (("scorecard", "champion (scorecard)"), ("challenger", "challenger (LightGBM)"))


# --- formatting -------------------------------------------------------------------------------


def _finite(value: object) -> float | None:
    """``value`` as a float, or None when it is missing, not a number or NaN."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return None if math.isnan(v) else v


def format_number(value: object) -> str:
    """A number to 4 significant digits (thousands separated from 1,000 on).

    Examples
    --------
    >>> format_number(0.8067460317), format_number(537.314), format_number(-22430.61)
    ('0.8067', '537.3', '-22,431')
    >>> format_number(300), format_number(float("nan")), format_number(float("inf"))
    ('300', '—', '∞')
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    v = _finite(value)
    if v is None:
        return _MISSING
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def format_rate(value: object) -> str:
    """A share in [0, 1] as a percentage: 1 decimal from 10 % on, 2 below (3 significant digits).

    Examples
    --------
    >>> format_rate(0.27666), format_rate(0.0333333), format_rate(1.0), format_rate(None)
    ('27.7%', '3.33%', '100.0%', '—')
    """
    v = _finite(value)
    if v is None or math.isinf(v):
        return _MISSING
    percent = 100 * v
    return f"{percent:.1f}%" if abs(percent) >= 10 else f"{percent:.2f}%"


def _is_rate_key(key: str) -> bool:
    return "rate" in key or "share" in key


def format_value(key: str, value: object) -> str:
    """One value of a record: rates (keys naming a rate or share) as %, lists joined.

    Examples
    --------
    >>> format_value("approval_rate", 0.5), format_value("auc", 0.75), format_value("x", ["a", "b"])
    ('50.0%', '0.75', 'a, b')
    """
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return ", ".join(format_value(key, v) for v in value) or "none"
    if isinstance(value, numbers.Real):
        if _is_rate_key(key) and not isinstance(value, numbers.Integral):
            return format_rate(value)
        return format_number(value)
    return str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(_md_cell(str(c)) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = [
        "| " + " | ".join(_md_cell(str(v)) for v in row) + " |"
        for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([head, rule, *rows])


def _code(name: str) -> str:
    return f"`{name}`"


def _names(names: Sequence[str]) -> str:
    return ", ".join(_code(n) for n in names) if names else "none"


# --- statistics -------------------------------------------------------------------------------


def hanley_mcneil_se(auc: float, n_bad: int, n_good: int) -> float:
    """Standard error of an AUC by Hanley & McNeil (1982), from its value and the class sizes.

    ``SE = sqrt((A (1 - A) + (n_bad - 1)(Q1 - A²) + (n_good - 1)(Q2 - A²)) / (n_bad n_good))``
    with ``Q1 = A / (2 - A)`` and ``Q2 = 2 A² / (1 + A)``.

    Parameters
    ----------
    auc : float
        In [0, 1].
    n_bad, n_good : int
        Bads (the event the model ranks) and goods in the sample, each at least 1.

    Examples
    --------
    Hanley & McNeil's own table gives 0.032 for A = 0.9 with 50 of each:

    >>> round(hanley_mcneil_se(0.9, 50, 50), 4)
    0.0321
    """
    a = _finite(auc)
    if a is None or not 0 <= a <= 1:
        raise ParameterError(f"auc must be in [0, 1] (got {auc!r})")
    for name, n in (("n_bad", n_bad), ("n_good", n_good)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ParameterError(f"{name} must be a whole number >= 1 (got {n!r})")
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (n_bad - 1) * (q1 - a * a) + (n_good - 1) * (q2 - a * a)) / (
        n_bad * n_good
    )
    return math.sqrt(max(variance, 0.0))


def _test_classes(record: Mapping[str, Any]) -> tuple[int, int]:
    n = int(record["n_test"])
    n_bad = round(n * float(record["bad_rate_test"]))
    return n_bad, n - n_bad


def auc_interval(record: Mapping[str, Any], model: str = "scorecard") -> dict[str, float]:
    """The test AUC of ``model`` with its Hanley-McNeil standard error and 95 % interval.

    The class sizes are ``n_test`` and ``round(n_test * bad_rate_test)`` of the record.

    Returns
    -------
    dict
        ``auc``, ``se``, ``low``, ``high`` (the interval clipped to [0, 1]), ``n_bad``,
        ``n_good``.
    """
    auc = float(record["metrics"][model]["test"]["auc"])
    n_bad, n_good = _test_classes(record)
    se = hanley_mcneil_se(auc, n_bad, n_good)
    return {
        "auc": auc,
        "se": se,
        "low": max(0.0, auc - _Z95 * se),
        "high": min(1.0, auc + _Z95 * se),
        "n_bad": n_bad,
        "n_good": n_good,
    }


def _calibration_error(records: Sequence[Mapping[str, Any]]) -> tuple[float, Mapping[str, Any]]:
    """Mean |predicted - observed| over bands weighted by applicants, and the worst band."""
    total = sum(int(r["n"]) for r in records)
    gaps = [abs(float(r["mean_predicted"]) - float(r["observed"])) for r in records]
    mean = sum(g * int(r["n"]) for g, r in zip(gaps, records, strict=True)) / total
    worst = records[max(range(len(records)), key=gaps.__getitem__)]
    return mean, worst


# --- tables shared with the HTML report -------------------------------------------------------


def metrics_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Champion against challenger, test then train: the rows of the headline table.

    Returns
    -------
    pandas.DataFrame of str
        Columns ``metric``, ``key`` (the JSON key under ``metrics.<model>.<sample>``), and one
        per model and sample. PSI (train to test) is shown in the test columns.
    """
    m = record["metrics"]
    columns = {
        f"{label}, {sample}": (model, sample)
        for sample in ("test", "train")
        for model, label in _MODELS
    }
    rows = []
    for key, label in _METRICS:
        row = {"metric": label, "key": key}
        for column, (model, sample) in columns.items():
            row[column] = format_number(m[model][sample].get(key))
        rows.append(row)
    psi = {"metric": "PSI, train to test", "key": "psi_train_test"}
    for column, (model, sample) in columns.items():
        psi[column] = format_number(m[model]["psi_train_test"]) if sample == "test" else _MISSING
    rows.append(psi)
    for key, label, fmt in (("n", "applicants", format_number), ("bad_rate", "bad rate", None)):
        row = {"metric": label, "key": key}
        for column, (model, sample) in columns.items():
            value = m[model][sample].get(key)
            row[column] = fmt(value) if fmt else format_rate(value)
        rows.append(row)
    return pd.DataFrame(rows)


def flagged_groups(audit: Mapping[str, Any]) -> list[str]:
    """Groups of one attribute's audit flagged by the four-fifths rule (empty if not audited)."""
    return [str(g) for g in audit.get("adverse_impact", {}).get("flagged", [])]


def fairness_table(audit: Mapping[str, Any]) -> pd.DataFrame:
    """One row per group of one protected attribute's audit (``FairnessAudit.to_dict()``).

    Returns
    -------
    pandas.DataFrame of str
        ``group``, ``applicants``, ``approval rate``, ``adverse-impact ratio``,
        ``four-fifths rule`` (``FLAGGED``, ``ok``, or ``not compared`` for a group below the
        minimum size), ``approval rate among goods``, ``mean predicted bad rate``,
        ``observed bad rate``, ``calibration gap``.
    """
    air = audit["adverse_impact"]
    flagged = set(flagged_groups(audit))
    compared = {str(g) for g in air.get("compared", [])}
    gaps = audit.get("calibration_gap") or {}
    rows = []
    for g in audit["groups"]:
        name = str(g["group"])
        if name in flagged:
            rule = "FLAGGED"
        elif name in compared:
            rule = "ok"
        else:
            rule = "not compared"
        rows.append(
            {
                "group": name,
                "applicants": format_number(int(g["n"])),
                "approval rate": format_rate(g["approval_rate"]),
                "adverse-impact ratio": format_number(air["ratios"].get(name)),
                "four-fifths rule": rule,
                "approval rate among goods": format_rate(g.get("true_positive_rate")),
                "mean predicted bad rate": format_rate(g.get("mean_predicted_bad_rate")),
                "observed bad rate": format_rate(g.get("observed_bad_rate")),
                "calibration gap": format_number(gaps.get(name)),
            }
        )
    return pd.DataFrame(rows)


def fairness_findings(audit: Mapping[str, Any]) -> list[str]:
    """Plain sentences on one attribute's audit: flagged groups first, in Markdown.

    An audit that could not run (``{"error": ...}``) gives one sentence saying why.
    """
    if "error" in audit:
        return [f"Not audited: {audit['error']}"]
    air = audit["adverse_impact"]
    minimum = int(audit.get("min_group_size", 0))
    ratios = air["ratios"]
    rates = air["rates"]
    flagged = flagged_groups(audit)
    compared = [str(g) for g in air.get("compared", [])]
    out = []
    if flagged:
        listed = ", ".join(f"{g} (ratio {format_number(ratios[g])})" for g in flagged)
        out.append(
            f"**Flagged** under the four-fifths rule (approval rate below 80% of the "
            f"reference group's): {listed}."
        )
    else:
        out.append(
            "No group is flagged under the four-fifths rule (smallest adverse-impact ratio "
            f"among the compared groups: {format_number(air.get('min_ratio'))})."
        )
    reference = air["reference_group"]
    out.append(
        f"Reference group: {reference}, the highest approval rate among the compared groups "
        f"({format_rate(rates.get(reference))})."
    )
    small = [
        f"{g} ({format_number(int(n))})" for g, n in air["counts"].items() if g not in compared
    ]
    if small:
        out.append(
            f"Not compared, as they hold fewer than {minimum} test applicants (their rates "
            f"are too noisy to be flagged or be the reference): {', '.join(small)}."
        )
    else:
        out.append(f"Every group holds at least {minimum} test applicants and is compared.")
    opportunity = audit.get("equal_opportunity")
    if opportunity:
        out.append(
            "Equal-opportunity difference (highest minus lowest approval rate among applicants "
            f"who repaid, over the compared groups): {format_number(opportunity['difference'])}."
        )
    gaps = audit.get("calibration_gap") or {}
    among = {g: v for g, v in gaps.items() if g in compared and _finite(v) is not None}
    if among:
        worst = max(among, key=lambda g: among[g])
        out.append(
            "Calibration gap (mean |predicted - observed| bad rate over bands of prediction, "
            f"weighted by applicants): largest among the compared groups {worst} "
            f"({format_number(among[worst])})."
        )
    return out


def records_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Records (dicts with the same keys) as a frame of text, rates as %, lists joined."""
    keys: list[str] = []
    for r in records:
        keys.extend(k for k in r if k not in keys)
    return pd.DataFrame(
        [{k.replace("_", " "): format_value(k, r.get(k)) for k in keys} for r in records]
    )


def _is_records(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def value_tables(value: object, title: str = "") -> list[tuple[str, pd.DataFrame]]:
    """Any JSON value as titled tables: records as rows, dicts of scalars as fields.

    A dict whose values are all dicts of scalars becomes one table with a row per key (a
    summary per model, say); other nesting gives one table per level, titled by the path.
    """
    if _is_records(value):
        return [(title, records_table(value))]  # type: ignore[arg-type]
    if not isinstance(value, Mapping):
        return [
            (title, pd.DataFrame({"field": [title or "value"], "value": [format_value("", value)]}))
        ]
    nested = {k: v for k, v in value.items() if isinstance(v, Mapping) or _is_records(v)}
    scalars = {k: v for k, v in value.items() if k not in nested}
    if (
        nested
        and not scalars
        and all(
            isinstance(v, Mapping)
            and not any(isinstance(x, Mapping) or _is_records(x) for x in v.values())
            for v in nested.values()
        )
    ):
        rows = [{"": str(k), **v} for k, v in nested.items()]
        frame = records_table(rows)
        return [(title, frame)]
    out = []
    if scalars:
        frame = pd.DataFrame(
            {
                "field": [str(k).replace("_", " ") for k in scalars],
                "value": [format_value(str(k), v) for k, v in scalars.items()],
            }
        )
        out.append((title, frame))
    for k, v in nested.items():
        out.extend(value_tables(v, f"{title} / {k}" if title else str(k)))
    return out


def mitigation_blocks(value: object) -> list[tuple[str, list[str], pd.DataFrame | None]]:
    """The record's ``mitigation`` entry as (title, sentences, table) per protected attribute.

    Reads ``{attribute: {"candidates": [...], "proposed": {...} or None}}`` (or ``{"error":
    ...}``) as :func:`~fintwin.credit.model.train_credit_model` writes it; any other shape is
    shown as plain tables.
    """
    shaped = isinstance(value, Mapping) and all(
        isinstance(v, Mapping) and ("candidates" in v or "error" in v) for v in value.values()
    )
    if not shaped:
        return [(title, [], frame) for title, frame in value_tables(value)]
    out: list[tuple[str, list[str], pd.DataFrame | None]] = []
    for attribute, entry in value.items():  # type: ignore[union-attr]
        if "error" in entry:
            out.append((str(attribute), [f"Not searched: {entry['error']}"], None))
            continue
        proposed = entry.get("proposed")
        if proposed:
            text = "; ".join(
                f"{k.replace('_', ' ')} {format_value(k, v)}" for k, v in proposed.items()
            )
            sentence = f"Proposed less-discriminatory alternative: {text}."
        else:
            sentence = (
                "No candidate raises the smallest adverse-impact ratio above the baseline's "
                "(strength 0): none is proposed."
            )
        out.append((str(attribute), [sentence], records_table(entry.get("candidates") or [])))
    return out


# --- the card ---------------------------------------------------------------------------------


def _status_history(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(record.get("status_history") or [])


def _details(model: CreditModel, record: Mapping[str, Any]) -> list[str]:
    scaling = model.scorecard.scaling
    config = model.challenger.config
    variables = record.get("scorecard_variables") or []
    history = _status_history(record)
    last = history[-1] if history else None
    status = str(record.get("approval_status", "draft"))
    by = f" (by {last['by']} at {last['at']})" if last else ""
    return [
        "## Model details",
        "",
        f"- **Champion (decides)**: a points scorecard, logistic regression on the weight of "
        f"evidence of {len(variables)} binned inputs; {format_number(scaling.base_score)} points "
        f"at good:bad odds of {format_number(scaling.base_odds)}:1, "
        f"{format_number(scaling.points_to_double_odds)} points to double the odds. Higher "
        "points mean a safer applicant.",
        f"- **Challenger (compared only)**: LightGBM gradient-boosted trees with "
        f"{config.leaves.value} leaves ({format_number(config.n_estimators)} rounds, "
        f"{format_number(config.num_leaves)} leaves per tree, learning rate "
        f"{format_number(config.learning_rate)}), its probabilities calibrated on "
        "out-of-fold margins.",
        f"- **Trained at**: {record.get('trained_at', _MISSING)}",
        f"- **Approval status**: {status}{by}; "
        + (
            f"{len(history)} status change(s) recorded, listed under Approval status."
            if history
            else "no status change recorded since training."
        ),
        "- **Reference**: model cards after Mitchell et al. (2019), *Model Cards for Model "
        "Reporting*.",
    ]


def _intended_use(record: Mapping[str, Any]) -> list[str]:
    return [
        "## Intended use",
        "",
        "- **Use**: credit decisions on applicants like those of the training population "
        f"(source `{record.get('source', _MISSING)}`), for the same product and market.",
        f"- **Decisions** are made by the champion scorecard alone: an applicant scoring at or "
        f"above the cut-off of {format_number(record['cutoff'])} points is approved, below it "
        "declined, with up to four principal reasons taken from the scorecard's points.",
        "- **The challenger** is for comparison only (discrimination, calibration, reasons); "
        "it never decides.",
        "- **Human review**: a declined applicant may ask for the decision to be reviewed by a "
        "person, who sees the score, the reasons and the application.",
        "- **Out of scope**: applicants unlike the training population (other products, "
        "channels, countries or periods), pricing or limit setting, and any use of the "
        "protected attributes to decide.",
    ]


def _data(model: CreditModel, record: Mapping[str, Any]) -> list[str]:
    features = list(record.get("features") or [])
    variables = list(record.get("scorecard_variables") or [])
    protected = list(record.get("protected") or [])
    return [
        "## Data",
        "",
        f"- **Source**: `{record.get('source', _MISSING)}`",
        f"- **Training part**: {format_number(int(record['n_train']))} applicants, bad rate "
        f"{format_rate(record['bad_rate_train'])}.",
        f"- **Test part (held out)**: {format_number(int(record['n_test']))} applicants, bad "
        f"rate {format_rate(record['bad_rate_test'])}. Every figure below is on the test part "
        "unless it says otherwise.",
        "- **Outcome**: bad means the applicant defaulted; the models predict the probability "
        "of bad.",
        f"- **Inputs** ({len(features)}): {_names(features)}.",
        *(
            [f"- **Derived ratios** ({len(ratios)}): {_names(ratios)}."]
            if (ratios := list(record.get("ratios") or []))
            else []
        ),
        f"- **Kept by the scorecard** ({len(variables)}): {_names(variables)}.",
        f"- **Protected attributes** ({len(protected)}): {_names(protected)}. They are held "
        "out as inputs and used only for the fairness audit; numeric ones (ages) are audited "
        "in bands.",
        f"- **Never given as reasons**: {_names(list(model.reason_exclude))} (inputs whose "
        "names mark them as a protected attribute or an obvious proxy, and any excluded when "
        "training).",
    ]


def _metrics(record: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Metrics",
        "",
        "AUC, Gini (2 AUC - 1) and KS measure how well a model ranks bads above goods (higher is "
        "better); the Brier score is the mean squared error of the predicted bad rate (lower "
        "is better); the PSI compares the score distribution of the test part with the "
        f"training part's (below {format_number(PSI_WATCH)} stable, above "
        f"{format_number(PSI_ACT)} a shift to act on).",
        "",
        _md_table(metrics_table(record).drop(columns="key")),
    ]
    calibration = record.get("calibration_test") or {}
    sentences = []
    for model, label in _MODELS:
        bands = calibration.get(model)
        if not bands:
            continue
        mean, worst = _calibration_error(bands)
        sentences.append(
            f"{label}: mean |predicted - observed| bad rate {format_number(mean)} over "
            f"{len(bands)} bands of prediction, largest in band {worst['band']} (predicted "
            f"{format_rate(worst['mean_predicted'])}, observed {format_rate(worst['observed'])} "
            f"of {format_number(int(worst['n']))})"
        )
    if sentences:
        lines += ["", "Calibration on the test part: " + "; ".join(sentences) + "."]
    if "cross_validation" in record:
        lines += ["", "### Cross-validation", ""]
        for title, frame in value_tables(record["cross_validation"]):
            if title:
                lines += [f"*{title}*", ""]
            lines += [_md_table(frame), ""]
        lines.pop()
    return lines


def _cutoff(record: Mapping[str, Any]) -> list[str]:
    economics = record.get("economics") or {}
    lines = [
        "## Cut-off",
        "",
        f"- **Cut-off**: {format_number(record['cutoff'])} points ({record.get('cutoff_rule')}).",
        f"- **Approval rate on the test part**: {format_rate(record['approval_rate_test'])}.",
        f"- **Economics**: loss given default {format_rate(economics.get('lgd'))}, margin "
        f"{format_rate(economics.get('margin'))} of the exposure; expected profit of an "
        "approved loan is (1 - PD) x margin - PD x LGD, per unit of exposure.",
    ]
    table = record.get("cutoff_table_test") or []
    profits = [r for r in table if _finite(r.get("expected_profit")) is not None]
    if profits:
        best = max(profits, key=lambda r: float(r["expected_profit"]))
        lines.append(
            f"- **Best of the {len(table)} cut-offs tried on the test part**: "
            f"{format_number(best['cutoff'])} points, approving "
            f"{format_rate(best['approval_rate'])} with expected bad rate "
            f"{format_rate(best.get('expected_bad_rate'))} and expected profit "
            f"{format_number(best['expected_profit'])} (exposure units)."
        )
    if "policy_comparison" in record:
        lines += ["", "### Policy comparison", ""]
        lines.append(
            "The new policy (the champion at its cut-off) against the historical one over the "
            "same later applicants:"
        )
        for title, frame in value_tables(record["policy_comparison"]):
            lines += ["", *([f"*{title}*", ""] if title else []), _md_table(frame)]
    if "alternative_data" in record:
        lines += ["", "### Alternative data", ""]
        lines.append(
            "Bureau-only models against models that also see alternative data, each run at a "
            "cut-off giving the same target expected bad rate:"
        )
        for title, frame in value_tables(record["alternative_data"]):
            lines += ["", *([f"*{title}*", ""] if title else []), _md_table(frame)]
    return lines


def _fairness(record: Mapping[str, Any]) -> list[str]:
    audits: Mapping[str, Mapping[str, Any]] = record.get("fairness_test") or {}
    lines = [
        "## Fairness",
        "",
        "The champion's decisions at the cut-off on the test part, audited per protected "
        "attribute: the adverse-impact ratio is each group's approval rate over the reference "
        "group's, flagged below four fifths (the US EEOC's indicator of adverse impact); "
        "groups below the minimum size are reported but not compared.",
        "",
    ]
    flagged = {a: flagged_groups(audit) for a, audit in audits.items()}
    if not audits:
        lines.append("No protected attribute was given: the decisions were not audited.")
    elif any(flagged.values()):
        listed = "; ".join(f"`{a}`: {', '.join(g)}" for a, g in flagged.items() if g)
        lines.append(f"**Flagged groups**: {listed}.")
    else:
        lines.append("**No group of any protected attribute is flagged** by the four-fifths rule.")
    for attribute, audit in audits.items():
        lines += ["", f"### {attribute}", ""]
        lines += [f"- {s}" for s in fairness_findings(audit)]
        if "error" not in audit:
            lines += ["", _md_table(fairness_table(audit))]
    if "mitigation" in record:
        lines += [
            "",
            "### Mitigation",
            "",
            "Scorecards refitted with reweighing (Kamiran & Calders, 2012) of increasing "
            "strength, each at the baseline's training approval rate, measured on the test "
            "part; the protected attribute only weights the training data.",
        ]
        for title, sentences, frame in mitigation_blocks(record["mitigation"]):
            if title:
                lines += ["", f"*{title}*"]
            lines += ["", *(f"- {s}" for s in sentences)] if sentences else []
            if frame is not None and not frame.empty:
                lines += ["", _md_table(frame)]
    return lines


def _limitations(record: Mapping[str, Any]) -> list[str]:
    champion = auc_interval(record, "scorecard")
    challenger = auc_interval(record, "challenger")
    difference = challenger["auc"] - champion["auc"]
    in_se = (
        f" ({format_number(difference / champion['se'])} standard errors)"
        if champion["se"] > 0
        else ""
    )
    psi = {model: record["metrics"][model]["psi_train_test"] for model, _ in _MODELS}
    small = sorted(
        {
            attribute
            for attribute, audit in (record.get("fairness_test") or {}).items()
            if "error" not in audit
            and set(audit["adverse_impact"]["counts"]) - set(audit["adverse_impact"]["compared"])
        }
    )
    lines = [
        "## Limitations",
        "",
        "- **Selection bias**: outcomes exist only for applicants approved in the past, so the "
        "models learnt from, and were tested on, the approved population. No reject inference "
        "was made: the performance on the whole through-the-door population, including "
        "applicants the former policy declined, is not known.",
        f"- **Small test sample**: {format_number(int(record['n_test']))} test applicants "
        f"({format_number(champion['n_bad'])} bad, {format_number(champion['n_good'])} good). "
        "The standard error of the test AUC by Hanley & McNeil (1982) is "
        f"{format_number(champion['se'])} for the champion (AUC {format_number(champion['auc'])}, "
        f"95% interval {format_number(champion['low'])} to {format_number(champion['high'])}) and "
        f"{format_number(challenger['se'])} for the challenger (AUC "
        f"{format_number(challenger['auc'])}, 95% interval {format_number(challenger['low'])} to "
        f"{format_number(challenger['high'])}). The challenger's AUC differs from the "
        f"champion's by {format_number(difference)}{in_se}: a gap within about two standard "
        "errors is no evidence that one model ranks better than the other (DeLong's test, "
        "which accounts for both AUCs being measured on the same applicants, is the exact "
        "comparison).",
        "- **Proxies**: protected attributes are not inputs, but dropping them does not remove "
        "every proxy: inputs correlated with sex or age can carry their effect. The fairness "
        "audit measures the decisions' outcome by group, whatever the route.",
        f"- **Drift**: the score distribution must be monitored on new applicants by its PSI "
        f"against the training part (now {format_number(psi['scorecard'])} for the champion and "
        f"{format_number(psi['challenger'])} for the challenger between training and test); "
        f"above {format_number(PSI_WATCH)} investigate, above {format_number(PSI_ACT)} "
        "recalibrate or retrain. Outcomes of new loans arrive only months later.",
    ]
    if small:
        lines.append(
            f"- **Small groups**: some groups of {_names(small)} hold too few test applicants to "
            "be compared; the audit says nothing about them."
        )
    return lines


def _approval(record: Mapping[str, Any]) -> list[str]:
    status = str(record.get("approval_status", "draft"))
    meaning = {
        "draft": "a draft: it must not decide on applicants until model governance approves it.",
        "approved": "approved by model governance for the intended use above.",
        "rejected": "rejected by model governance: it must not decide on applicants.",
    }.get(status, "in a status this card does not know.")
    lines = ["## Approval status", "", f"**{status}**: the model is {meaning}"]
    history = _status_history(record)
    if history:
        frame = pd.DataFrame(
            {
                "status": [str(h.get("status")) for h in history],
                "by": [str(h.get("by")) for h in history],
                "at": [str(h.get("at")) for h in history],
            }
        )
        lines += ["", _md_table(frame)]
    else:
        lines += ["", "No status change recorded since training."]
    return lines


def render_model_card(model: CreditModel, *, name: str = "credit model") -> str:
    """The Markdown model card of ``model`` (Mitchell et al., 2019), from its record.

    Parameters
    ----------
    model : CreditModel
        A trained or loaded model; only its record, scorecard scaling, challenger settings and
        reason exclusions are read.
    name : str
        Name of the model, in the title.

    Returns
    -------
    str
        Markdown: a title and the sections model details, intended use, data, metrics
        (with cross-validation when recorded), cut-off (with the policy comparison and
        alternative data when recorded),
        fairness (with mitigation when recorded), limitations and approval status.
    """
    record = model.record
    parts = [
        [f"# Model card: {name}"],
        _details(model, record),
        _intended_use(record),
        _data(model, record),
        _metrics(record),
        _cutoff(record),
        _fairness(record),
        _limitations(record),
        _approval(record),
    ]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"
