"""The credit model report: numbers and charts from the record, the record embedded as JSON,
flagged groups shown, optional sections only when recorded, a self-contained atomic file."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _report_pages import figure, row_cells, section

from fintwin.credit.applications import CreditData, feature_kinds, normalise_features
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.model import CreditModel, TrainingOptions, train_credit_model
from fintwin.credit.model_card import render_model_card
from fintwin.exceptions import ParameterError
from fintwin.report.credit_report import (
    credit_report,
    json_ready,
    markdown_html,
    render_credit_report,
)

NAME = "synthetic scorecard"


def synthetic_applicants(n: int = 2000) -> CreditData:
    """Bad rate rising with x1 and category C, falling with x2; sex (with a tiny group X) and
    age protected and independent of everything."""
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    cat = rng.choice(np.array(["A", "B", "C", "D"], dtype=object), size=n)
    logit = -1.0 + 1.0 * x1 - 0.8 * x2 + 1.0 * (cat == "C")
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    sex = rng.choice(np.array(["F", "M", "X"], dtype=object), size=n, p=[0.49, 0.49, 0.02])
    age = rng.uniform(18, 75, size=n).round()
    frame = pd.DataFrame({"x1": x1, "x2": x2, "cat": cat})
    kinds = feature_kinds(frame)
    protected = pd.DataFrame({"sex": sex, "age": age})
    return CreditData(normalise_features(frame, kinds), bad, protected, kinds, "synthetic")


@pytest.fixture(scope="module")
def model() -> CreditModel:
    options = TrainingOptions(max_bad_rate=0.2, challenger=ChallengerConfig(n_estimators=100))
    return train_credit_model(synthetic_applicants(), options)


@pytest.fixture(scope="module")
def written(model: CreditModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("credit-report") / "report.html"
    assert credit_report(model, out, name=NAME) == out
    return out


@pytest.fixture(scope="module")
def page(written: Path) -> str:
    return written.read_text(encoding="utf-8")


def with_record(model: CreditModel, **changes: object) -> CreditModel:
    other = copy.copy(model)
    other.record = copy.deepcopy(model.record)
    other.record.update(changes)
    return other


def embedded(page: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="credit-data">(.*?)</script>', page, re.S
    )
    assert match
    return json.loads(match.group(1))


# --- the file -------------------------------------------------------------------------------


def test_written_atomically_and_whole(model: CreditModel, written: Path, page: str) -> None:
    assert [p.name for p in written.parent.iterdir()] == ["report.html"]  # no temporary file
    assert page == render_credit_report(model, name=NAME)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")


def test_page_is_self_contained(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", page, re.I)
    assert not re.search(r"<img[^>]*src\s*=\s*[\"']?https?:", page, re.I)
    assert "Plotly.newPlot" in page
    assert len(page) > 1_000_000  # plotly.js itself is inlined


def test_a_directory_is_refused(model: CreditModel, tmp_path: Path) -> None:
    with pytest.raises(ParameterError):
        credit_report(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- the record, embedded and printed -------------------------------------------------------


def test_embedded_json_is_the_record(model: CreditModel, page: str) -> None:
    data = embedded(page)
    assert data == model.record
    assert (
        data["metrics"]["scorecard"]["test"]["auc"]
        == model.record["metrics"]["scorecard"]["test"]["auc"]
    )


def test_embedded_json_survives_nan_and_script_text(model: CreditModel) -> None:
    odd = with_record(model, source="</script><script>alert(1)</script>")
    odd.record["cutoff_table_test"][0]["observed_bad_rate"] = float("nan")
    page = render_credit_report(odd)
    data = embedded(page)
    assert data["source"] == "</script><script>alert(1)</script>"
    assert data["cutoff_table_test"][0]["observed_bad_rate"] is None
    assert data == json_ready(odd.record)


def test_headline_prints_the_record(model: CreditModel, page: str) -> None:
    metrics = model.record["metrics"]
    headline = section(page, "headline")
    for key in ("auc", "gini", "ks", "brier"):
        expected = [
            f"{metrics[m][s][key]:.4g}"
            for s in ("test", "train")
            for m in ("scorecard", "challenger")
        ]
        assert row_cells(headline, key)[2:] == expected
    psi = row_cells(headline, "psi_train_test")
    assert psi[2:4] == [f"{metrics[m]['psi_train_test']:.4g}" for m in ("scorecard", "challenger")]
    rate = model.record["approval_rate_test"]
    assert f"{100 * rate:.1f}% of the test applicants" in headline


def test_calibration_chart_is_the_recorded_bands(model: CreditModel, page: str) -> None:
    fig = figure(page, "calibration-chart")
    traces = {t["name"]: t for t in fig["data"]}
    for model_key, label in (
        ("scorecard", "champion (scorecard)"),
        ("challenger", "challenger (LightGBM)"),
    ):
        bands = model.record["calibration_test"][model_key]
        assert traces[label]["x"] == pytest.approx([b["mean_predicted"] for b in bands])
        assert traces[label]["y"] == pytest.approx([b["observed"] for b in bands])
    diagonal = traces["perfect calibration"]
    assert diagonal["x"] == diagonal["y"]


def test_cutoff_chart_and_table(model: CreditModel, page: str) -> None:
    rows = model.record["cutoff_table_test"]
    fig = figure(page, "cutoff-chart")
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["approval rate"]["y"] == pytest.approx([r["approval_rate"] for r in rows])
    profit = traces["expected profit (right axis)"]
    assert profit["y"] == pytest.approx([r["expected_profit"] for r in rows])
    assert profit["yaxis"] == "y2"
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert [s["x0"] for s in lines] == [pytest.approx(model.record["cutoff"])]
    cutoff = section(page, "cutoff")
    assert cutoff.count("<tr data-key=") == len(rows)
    first = row_cells(cutoff, repr(rows[0]["cutoff"]))
    assert first[1] == f"{rows[0]['approved']:,}"
    assert first[2] == f"{100 * rows[0]['approval_rate']:.2f}%"


def test_fairness_tables_follow_the_record(model: CreditModel, page: str) -> None:
    fairness = section(page, "fairness")
    for attribute, audit in model.record["fairness_test"].items():
        assert f"<h3>{attribute}</h3>" in fairness
        air = audit["adverse_impact"]
        part = fairness[fairness.index(f"<h3>{attribute}</h3>") :]
        for group, ratio in air["ratios"].items():
            cells = row_cells(part, group)
            assert cells[1] == str(air["counts"][group])
            assert cells[3] == f"{ratio:.4g}"
            if group in air["flagged"]:
                assert cells[4] == "FLAGGED"
            elif group not in air["compared"]:
                assert cells[4] == "not compared"


def test_a_flagged_group_is_shown(model: CreditModel) -> None:
    flagged = with_record(model)
    air = flagged.record["fairness_test"]["sex"]["adverse_impact"]
    air["rates"].update({"F": 0.3, "M": 0.6})
    air["ratios"].update({"F": 0.5, "M": 1.0})
    air["reference_group"], air["flagged"], air["min_ratio"] = "M", ["F"], 0.5
    fairness = section(render_credit_report(flagged), "fairness")
    notice = re.search(r'<p class="notice">(.*?)</p>', fairness, re.S)
    assert notice
    assert "sex: F" in html.unescape(notice.group(1))
    assert row_cells(fairness, "F")[3:5] == ["0.5", "FLAGGED"]
    assert row_cells(fairness, "M")[3:5] == ["1", "ok"]
    assert "<strong>Flagged</strong> under the four-fifths rule" in fairness


def test_no_flag_is_said_plainly(model: CreditModel) -> None:
    clean = with_record(model)
    for audit in clean.record["fairness_test"].values():
        air = audit["adverse_impact"]
        air["flagged"] = []
        air["ratios"] = dict.fromkeys(air["ratios"], 1.0)
    fairness = section(render_credit_report(clean), "fairness")
    assert "No group of any protected attribute is flagged." in fairness
    assert 'class="notice"' not in fairness
    assert "FLAGGED" not in fairness


# --- other sections -------------------------------------------------------------------------


def test_optional_sections_only_when_recorded(model: CreditModel) -> None:
    bare = with_record(model)
    for key in ("mitigation", "alternative_data", "cross_validation", "policy_comparison"):
        bare.record.pop(key, None)
    page = render_credit_report(bare)
    for anchor in ("mitigation", "alternative-data", "cross-validation", "policy-comparison"):
        assert f'<section id="{anchor}">' not in page

    full = with_record(
        bare,
        mitigation={"sex": {"error": "no group of 30 applicants"}},
        alternative_data=[
            {"model": "challenger", "data": "with_alternative_data", "auc": 0.74321},
            {"model": "scorecard", "data": "bureau_only", "auc": 0.70123},
        ],
        cross_validation={"folds": 5, "repeats": 2},
        policy_comparison={"applications": 1234, "policies": [{"policy": "new", "swap_in": 7}]},
    )
    page = render_credit_report(full)
    policy = section(page, "policy-comparison")
    assert "<td>applications</td><td>1,234</td>" in policy
    assert "<td>new</td><td>7</td>" in policy
    assert "Not searched: no group of 30 applicants" in section(page, "mitigation")
    alternative = section(page, "alternative-data")
    assert "0.7432" in alternative
    assert "0.7012" in alternative
    assert "<td>repeats</td><td>2</td>" in section(page, "cross-validation")


def test_scorecard_points_section(model: CreditModel, page: str) -> None:
    points = section(page, "scorecard")
    table = model.scorecard.points_table()
    assert points.count("<tr>") == 1 + len(table)  # the header and one row per bin
    for variable in model.record["scorecard_variables"]:
        assert f"<td>{variable}</td>" in points


def test_model_card_is_included(model: CreditModel, page: str) -> None:
    card = section(page, "model-card")
    assert f"<pre>{html.escape(render_model_card(model, name=NAME))}</pre>" in card
    assert f"<h3>Model card: {NAME}</h3>" in card
    for heading in ("Model details", "Intended use", "Limitations", "Approval status"):
        assert f"<h4>{heading}</h4>" in card


def test_markdown_conversion() -> None:
    text = "# T\n\nSome *words* and `x < y`.\n\n| a | b |\n|---|---|\n| 1 \\| 2 | **3** |\n"
    assert markdown_html(text) == (
        "<h3>T</h3>\n"
        "<p>Some <em>words</em> and <code>x &lt; y</code>.</p>\n"
        '<div class="table-wrap"><table class="data"><thead><tr><th>a</th><th>b</th></tr>'
        "</thead><tbody><tr><td>1 | 2</td><td><strong>3</strong></td></tr></tbody></table>"
        "</div>\n"
    )
