"""The fraud evaluation report: its model (ROC curve, latency sample, prequential folds) and
the self-contained page, whose figures and tables must hold the numbers of the JSON."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import plotly.offline
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve

from fintwin.data import World, WorldWriter, open_world
from fintwin.exceptions import ParameterError
from fintwin.governance import LoadedModel, ModelRegistry
from fintwin.report.risk_report import (
    BOOK_BEST,
    RiskEvaluation,
    default_report_path,
    render_risk_report,
    risk_evaluation,
    risk_report,
    roc_curve,
)
from fintwin.risk import train_fraud_model
from fintwin.risk.model_policy import score_only_policy
from fintwin.world import simulate

# Few, small trees: the report's properties do not depend on the model's quality.
FAST = {"num_boost_round": 40, "early_stopping_rounds": 10, "num_leaves": 7}
SECTIONS = ("headline", "curves", "card-precision", "scenarios", "latency", "model")
EVIL = "<script>alert(1)"  # no "/": it must be a legal directory name


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    # A hostile directory name: it appears in the page's tables and embedded JSON.
    root = tmp_path_factory.mktemp("risk-report")
    return simulate(root / f"hb{EVIL}", "handbook", customers=500, days=60, seed=2)


@pytest.fixture(scope="module")
def model(world: World, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    result = train_fraud_model(
        world, protocol="fractions", registry=registry, name="fraud-hb", params=FAST
    )
    return registry.load(result.model_id)


@pytest.fixture(scope="module")
def evaluation(world: World, model: LoadedModel) -> RiskEvaluation:
    return risk_evaluation(world, model, latency_sample=300, latency_warmup=500)


@pytest.fixture(scope="module")
def page(evaluation: RiskEvaluation) -> str:
    return render_risk_report(evaluation)


def _figure(page: str, div_id: str) -> dict:
    """The plotly figure drawn into ``div_id``, parsed from its inline script."""
    head = rf'<div id="{div_id}" class="figure"[^>]*></div>\s*<script>\(function\(\)\{{var f='
    m = re.search(head + rf'(.*?);Plotly\.newPlot\("{div_id}"', page, flags=re.S)
    assert m is not None, div_id
    return json.loads(m.group(1))


def _row(page: str, key: str) -> str:
    m = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', page)
    assert m is not None, key
    return m.group(1)


# --- the model -------------------------------------------------------------------------------


def test_roc_curve_equals_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.1
    s = np.round(rng.random(500) + y * 0.3, 2)  # rounding makes ties
    fpr, tpr, thr = sk_roc_curve(y, s, drop_intermediate=False)
    c = roc_curve(y, s, max_points=10_000)
    np.testing.assert_array_equal(c.fpr, fpr)
    np.testing.assert_array_equal(c.tpr, tpr)
    np.testing.assert_array_equal(c.threshold, thr[1:])  # scikit-learn prepends +inf
    few = roc_curve(y, s, max_points=20)
    assert few.fpr.size == 21 and (few.fpr[-1], few.tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(few.fpr) >= 0) and np.all(np.diff(few.tpr) >= 0)
    with pytest.raises(ParameterError, match="both frauds and genuine"):
        roc_curve(np.zeros(3, bool), np.arange(3.0))


def test_score_only_policy_reviews_at_the_recorded_threshold(model: LoadedModel) -> None:
    policy = score_only_policy(model)
    threshold = model.metadata.metrics["threshold"]
    assert (policy.name, policy.rules, policy.features) == ("score-only", (), ())
    assert policy.decide({}, threshold).action.value == "review"
    assert policy.decide({}, np.nextafter(threshold, 0)).action.value == "approve"


def test_evaluation_json(evaluation: RiskEvaluation, model: LoadedModel) -> None:
    d = evaluation.to_dict()
    # Same world, same protocol: the metrics recorded at training.
    for key in ("auc_roc", "average_precision", "card_precision_at_100", "alert_rate"):
        assert d[key] == model.metadata.metrics[key], key
    assert d["model_id"] == model.model_id and d["model_digest"] == model.version.digest
    assert d["latency"]["count"] == 300
    assert "after 500 untimed warm-up events" in d["latency_source"]
    assert d["policy"]["name"] == "score-only" and d["prequential"] is None
    assert d["model"]["features"] == list(model.metadata.feature_names)
    assert d["model"]["data_hash"] == model.metadata.data_hash
    assert d["split"]["test_start_day"] == 43  # 60 days: 36 training, 7 delay, 17 test
    json.dumps(d, allow_nan=False)  # plain JSON, no NaN


def test_no_latency_and_bad_parameters(world: World, model: LoadedModel) -> None:
    ev = risk_evaluation(world, model, latency_sample=0)
    assert ev.evaluation.latency is None and ev.to_dict()["latency"] is None
    assert "not measured" in render_risk_report(ev)
    with pytest.raises(ParameterError, match="latency_sample"):
        risk_evaluation(world, model, latency_sample=-1)
    with pytest.raises(ParameterError, match="rate must be in"):
        risk_evaluation(world, model, rate=1.5)
    with pytest.raises(ParameterError, match="protocol must be one of"):
        risk_evaluation(world, model, protocol="weekly")


# --- the page --------------------------------------------------------------------------------


def test_page_is_self_contained_and_has_every_section(page: str) -> None:
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    assert plotly.offline.get_plotlyjs() in page  # inlined, once
    assert page.count("<script") == page.count("</script>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert EVIL not in page  # the hostile world name is escaped everywhere
    assert "prequential" not in re.findall(r'<section id="([^"]+)"', page)
    # a figure drawn into a section sharing its id lands above the section's heading
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)


def test_page_numbers_equal_the_json(page: str, evaluation: RiskEvaluation) -> None:
    d = evaluation.to_dict()
    embedded = re.search(r'id="evaluation-data">(.*?)</script>', page).group(1)
    assert json.loads(embedded) == d
    for key in ("auc_roc", "average_precision", "card_precision_at_100", "threshold"):
        assert f"<td>{d[key]:.4f}</td>" in _row(page, key), key
    for key in ("alert_rate", "recall", "precision", "fraud_amount_caught"):
        assert f"<td>{100 * d[key]:.2f}%</td>" in _row(page, key), key

    pr = _figure(page, "pr-curve")["data"][0]
    curve = evaluation.evaluation.pr_curve
    assert (pr["x"], pr["y"]) == (curve.recall.tolist(), curve.precision.tolist())
    roc = _figure(page, "roc-curve")["data"][0]
    assert (roc["x"], roc["y"]) == (evaluation.roc.fpr.tolist(), evaluation.roc.tpr.tolist())
    # The ROC curve's trapezoids give the AUC (200 points of ~9,000 events: within 0.01).
    assert np.trapezoid(roc["y"], roc["x"]) == pytest.approx(d["auc_roc"], abs=0.01)
    cp = _figure(page, "card-precision-chart")["data"][0]
    assert cp["y"] == d["card_precision_at_100_per_day"]
    assert len(cp["x"]) == len(d["card_precision_days"])
    bars = _figure(page, "scenario-recall")["data"][0]
    assert dict(zip(bars["x"], bars["y"], strict=True)) == d["recall_by_scenario"]
    for name, recall in d["recall_by_scenario"].items():
        assert f"{100 * recall:.2f}%" in _row(page, name)
    for p in ("p50", "p90", "p99", "max"):
        assert f"<td>{1000 * d['latency'][f'{p}_s']:.3f}</td>" in _row(page, p)
    assert d["model"]["data_hash"] in _row(page, "training data hash")
    assert d["model"]["training_start"] in _row(page, "training window")
    assert "handbook best" not in page  # not the book's days


def test_book_reference_shown_on_the_books_protocol(evaluation: RiskEvaluation) -> None:
    book = dataclasses.replace(evaluation, plan=dataclasses.replace(evaluation.plan, book=True))
    page = render_risk_report(book)
    assert "handbook best" in page
    assert f"<td>{BOOK_BEST['auc_roc']:.4f}</td>" in _row(page, "auc_roc")


def test_prequential_section(world: World, model: LoadedModel, tmp_path: Path) -> None:
    # The same payments as an import: not the book's world, so 4 folds of 10 days fit in 60.
    with WorldWriter(tmp_path / "imported") as writer:
        for table in world.tables:
            writer.write_table(table, world.arrow(table))
        m = world.manifest
        writer.commit(preset="import", seed=None, start=m.start, days=m.days, parameters={})
    ev = risk_evaluation(
        open_world(tmp_path / "imported"), model, protocol="prequential", latency_sample=0
    )
    pre = ev.to_dict()["prequential"]
    assert len(pre["folds"]) == 4
    page = render_risk_report(ev)
    assert '<section id="prequential">' in page
    assert f"<td>{pre['mean']['auc_roc']:.4f}</td>" in _row(page, "mean")
    for i, fold in enumerate(pre["folds"]):
        assert f"<td>{fold['auc_roc']:.4f}</td>" in _row(page, str(i))


def test_writing_the_report(evaluation: RiskEvaluation, tmp_path: Path) -> None:
    out = risk_report(evaluation, tmp_path / "a" / "r.html")
    assert out.read_text(encoding="utf-8") == render_risk_report(evaluation)
    with pytest.raises(ParameterError, match="directory"):
        risk_report(evaluation, tmp_path)
    assert default_report_path(tmp_path / "w", "m/2") == tmp_path / "w-risk-m-2.html"
