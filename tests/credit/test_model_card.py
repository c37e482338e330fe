"""The model card: every number is the record's, flagged groups are said plainly, the
Hanley-McNeil standard error is right, optional sections appear only when recorded."""

from __future__ import annotations

import copy
import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from fintwin.credit.applications import CreditData, feature_kinds, normalise_features
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.model import CreditModel, TrainingOptions, train_credit_model
from fintwin.credit.model_card import (
    auc_interval,
    format_number,
    format_rate,
    hanley_mcneil_se,
    render_model_card,
)
from fintwin.exceptions import ParameterError

SECTIONS = [
    "## Model details",
    "## Intended use",
    "## Data",
    "## Metrics",
    "## Cut-off",
    "## Fairness",
    "## Limitations",
    "## Approval status",
]


def synthetic(n: int = 2000) -> CreditData:
    """Applicants whose bad rate rises with x1 and category C and falls with x2.

    ``marital_status`` is noise whose name marks it as a proxy (never a reason); ``sex``
    (with a tiny group ``X``) and ``age`` are protected and independent of everything.
    """
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    cat = rng.choice(np.array(["A", "B", "C", "D"], dtype=object), size=n)
    marital = rng.choice(np.array(["single", "married"], dtype=object), size=n)
    logit = -1.0 + 1.0 * x1 - 0.8 * x2 + 1.0 * (cat == "C")
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    sex = rng.choice(np.array(["F", "M", "X"], dtype=object), size=n, p=[0.49, 0.49, 0.02])
    age = rng.uniform(18, 75, size=n).round()
    frame = pd.DataFrame({"x1": x1, "x2": x2, "cat": cat, "marital_status": marital})
    kinds = feature_kinds(frame)
    protected = pd.DataFrame({"sex": sex, "age": age})
    return CreditData(normalise_features(frame, kinds), bad, protected, kinds, "synthetic")


@pytest.fixture(scope="module")
def model() -> CreditModel:
    options = TrainingOptions(max_bad_rate=0.2, challenger=ChallengerConfig(n_estimators=100))
    return train_credit_model(synthetic(), options)


def with_record(model: CreditModel, **changes: object) -> CreditModel:
    """A copy of ``model`` with a deep copy of its record, updated by ``changes``."""
    other = copy.copy(model)
    other.record = copy.deepcopy(model.record)
    other.record.update(changes)
    return other


def set_rates(audit: dict, rates: dict[str, float]) -> None:
    """Rewrite an audit's approval rates and, from them, its ratios and flags (4/5 rule)."""
    air = audit["adverse_impact"]
    air["rates"].update(rates)
    for g in audit["groups"]:
        g["approval_rate"] = air["rates"][g["group"]]
    compared = air["compared"]
    reference = max(compared, key=lambda name: air["rates"][name])
    air["reference_group"] = reference
    air["ratios"] = {k: v / air["rates"][reference] for k, v in air["rates"].items()}
    air["flagged"] = [name for name in compared if air["ratios"][name] < 0.8]
    air["min_ratio"] = min(air["ratios"][name] for name in compared)


def section(card: str, heading: str) -> str:
    """The text of one ``## `` section of the card, up to the next one."""
    start = card.index(heading + "\n")
    end = card.find("\n## ", start + len(heading))
    return card[start : end if end >= 0 else len(card)]


def table_row(text: str, first_cell: str) -> list[str]:
    """Cells of the Markdown table row whose first cell is ``first_cell``."""
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if cells[0] == first_cell:
                return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


# --- structure ------------------------------------------------------------------------------


def test_card_has_every_section_in_order(model: CreditModel) -> None:
    card = render_model_card(model, name="synthetic scorecard")
    assert card.startswith("# Model card: synthetic scorecard\n")
    positions = [card.index(f"\n{heading}\n") for heading in SECTIONS]
    assert positions == sorted(positions)


def test_card_is_a_pure_function_of_the_model(model: CreditModel) -> None:
    before = copy.deepcopy(model.record)
    assert render_model_card(model) == render_model_card(model)
    assert model.record == before


# --- numbers equal the record's -------------------------------------------------------------


def test_metrics_table_prints_the_record(model: CreditModel) -> None:
    metrics = model.record["metrics"]
    text = section(render_model_card(model), "## Metrics")
    for key, label in (("auc", "AUC"), ("gini", "Gini"), ("ks", "KS"), ("brier", "Brier score")):
        expected = [
            f"{metrics[m][s][key]:.4g}"
            for s in ("test", "train")
            for m in ("scorecard", "challenger")
        ]
        assert table_row(text, label)[1:] == expected
    psi = table_row(text, "PSI, train to test")
    assert psi[1:3] == [f"{metrics[m]['psi_train_test']:.4g}" for m in ("scorecard", "challenger")]


def test_data_and_cutoff_figures_are_the_record(model: CreditModel) -> None:
    r = model.record
    card = render_model_card(model)
    data = section(card, "## Data")
    assert f"**Test part (held out)**: {r['n_test']} applicants" in data
    assert f"bad rate {100 * r['bad_rate_test']:.1f}%" in data
    cutoff = section(card, "## Cut-off")
    assert f"**Cut-off**: {r['cutoff']:.4g} points ({r['cutoff_rule']})" in cutoff
    assert f"**Approval rate on the test part**: {100 * r['approval_rate_test']:.1f}%" in cutoff


def test_protected_attributes_and_reason_exclusions_are_listed(model: CreditModel) -> None:
    data = section(render_model_card(model), "## Data")
    protected = next(line for line in data.splitlines() if "**Protected attributes**" in line)
    assert "`sex`, `age`" in protected
    assert "used only for the fairness audit" in protected
    assert model.reason_exclude == ("marital_status",)
    excluded = next(line for line in data.splitlines() if "**Never given as reasons**" in line)
    assert "`marital_status`" in excluded


def test_intended_use_names_champion_cutoff_and_human_review(model: CreditModel) -> None:
    use = section(render_model_card(model), "## Intended use")
    assert f"cut-off of {format_number(model.record['cutoff'])} points" in use
    assert "challenger** is for comparison only" in use
    assert "reviewed by a person" in use


# --- Hanley-McNeil --------------------------------------------------------------------------


def test_hanley_mcneil_against_a_hand_computation() -> None:
    # A = 3/4 with 3 bads and 4 goods: Q1 = A / (2 - A) = 3/5, Q2 = 2 A² / (1 + A) = 9/14,
    # variance = (3/16 + 2 (3/5 - 9/16) + 3 (9/14 - 9/16)) / 12 = 141/3360.
    a = Fraction(3, 4)
    q1, q2 = Fraction(3, 5), Fraction(9, 14)
    variance = (a * (1 - a) + 2 * (q1 - a * a) + 3 * (q2 - a * a)) / 12
    assert variance == Fraction(141, 3360)
    assert hanley_mcneil_se(0.75, 3, 4) == pytest.approx(math.sqrt(141 / 3360), rel=1e-12)
    # the published table (Hanley & McNeil 1982, table 3): A = 0.9, 50 of each: 0.0321
    assert hanley_mcneil_se(0.9, 50, 50) == pytest.approx(0.0321, abs=5e-5)


@pytest.mark.parametrize(("auc", "n_bad", "n_good"), [(1.2, 5, 5), (0.7, 0, 5), (0.7, 5, 2.5)])
def test_hanley_mcneil_refuses_impossible_arguments(auc: float, n_bad: int, n_good: int) -> None:
    with pytest.raises(ParameterError):
        hanley_mcneil_se(auc, n_bad, n_good)


def test_limitations_give_the_test_auc_standard_error(model: CreditModel) -> None:
    r = model.record
    n_bad = round(r["n_test"] * r["bad_rate_test"])
    n_good = r["n_test"] - n_bad
    auc = r["metrics"]["scorecard"]["test"]["auc"]
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt(
        (auc * (1 - auc) + (n_bad - 1) * (q1 - auc**2) + (n_good - 1) * (q2 - auc**2))
        / (n_bad * n_good)
    )
    interval = auc_interval(r)
    assert interval["se"] == pytest.approx(se, rel=1e-12)
    assert interval["low"] == pytest.approx(auc - 1.959964 * se, rel=1e-6)
    limitations = section(render_model_card(model), "## Limitations")
    assert f"({n_bad} bad, {n_good} good)" in limitations
    assert f"is {se:.4g} for the champion (AUC {auc:.4g}" in limitations
    for words in ("Selection bias", "reject inference", "proxy", "PSI"):
        assert words in limitations


# --- fairness -------------------------------------------------------------------------------


def test_fairness_says_what_the_record_flags(model: CreditModel) -> None:
    fairness = section(render_model_card(model), "## Fairness")
    for attribute, audit in model.record["fairness_test"].items():
        part = fairness[fairness.index(f"### {attribute}") :]
        part = part[: part.find("\n### ", 4) if "\n### " in part[4:] else len(part)]
        air = audit["adverse_impact"]
        for group, ratio in air["ratios"].items():
            if group in air["flagged"]:
                expected = "FLAGGED"
            elif group in air["compared"]:
                expected = "ok"
            else:
                expected = "not compared"
            assert table_row(part, group)[3:5] == [f"{ratio:.4g}", expected]
        if air["flagged"]:
            assert "**Flagged** under the four-fifths rule" in part
            assert "No group is flagged" not in part
        else:
            assert "No group is flagged under the four-fifths rule" in part
            assert "**Flagged**" not in part
        difference = audit["equal_opportunity"]["difference"]
        assert f"over the compared groups): {difference:.4g}." in part


def test_a_group_below_four_fifths_is_reported_flagged(model: CreditModel) -> None:
    flagged = with_record(model)
    audit = flagged.record["fairness_test"]["sex"]
    set_rates(audit, {"F": 0.30, "M": 0.60})
    assert audit["adverse_impact"]["flagged"] == ["F"]
    card = render_model_card(flagged)
    fairness = section(card, "## Fairness")
    assert "**Flagged groups**: `sex`: F" in fairness
    sex = fairness[fairness.index("### sex") :]
    assert "**Flagged** under the four-fifths rule" in sex
    assert "F (ratio 0.5)" in sex
    row = table_row(sex, "F")
    assert row[2:5] == ["30.0%", "0.5", "FLAGGED"]
    assert table_row(sex, "M")[4] == "ok"


def test_no_flagged_group_is_said_plainly(model: CreditModel) -> None:
    clean = with_record(model)
    for audit in clean.record["fairness_test"].values():
        set_rates(audit, dict.fromkeys(audit["adverse_impact"]["rates"], 0.5))
    fairness = section(render_model_card(clean), "## Fairness")
    assert "**No group of any protected attribute is flagged**" in fairness
    assert "FLAGGED" not in fairness
    assert fairness.count("No group is flagged under the four-fifths rule") == 2


def test_small_groups_are_not_compared(model: CreditModel) -> None:
    audit = model.record["fairness_test"]["sex"]
    n_x = audit["adverse_impact"]["counts"]["X"]
    assert n_x < audit["min_group_size"]
    sex = section(render_model_card(model), "## Fairness")
    sex = sex[sex.index("### sex") :]
    assert table_row(sex, "X")[4] == "not compared"
    assert "Not compared, as they hold fewer than 30 test applicants" in sex
    assert f"X ({n_x})" in sex


def test_attribute_that_could_not_be_audited(model: CreditModel) -> None:
    broken = with_record(model)
    broken.record["fairness_test"]["age"] = {"error": "every group is too small"}
    fairness = section(render_model_card(broken), "## Fairness")
    assert "- Not audited: every group is too small" in fairness


# --- optional sections and status -----------------------------------------------------------


def test_optional_sections_only_when_recorded(model: CreditModel) -> None:
    bare = with_record(model)
    optional = ("mitigation", "alternative_data", "cross_validation", "policy_comparison")
    for key in optional:
        bare.record.pop(key, None)
    card = render_model_card(bare)
    for heading in (
        "### Mitigation",
        "### Alternative data",
        "### Cross-validation",
        "### Policy comparison",
    ):
        assert heading not in card

    full = with_record(
        bare,
        mitigation={
            "sex": {
                "candidates": [
                    {"strength": 0.0, "auc": 0.81234, "min_adverse_impact_ratio": 0.7},
                    {"strength": 1.0, "auc": 0.80111, "min_adverse_impact_ratio": 0.9},
                ],
                "proposed": {"strength": 1.0, "auc": 0.80111, "min_adverse_impact_ratio": 0.9},
            }
        },
        alternative_data=[
            {"model": "scorecard", "data": "bureau_only", "auc": 0.7123, "approval_rate": 0.41},
        ],
        cross_validation={"scorecard": {"auc_mean": 0.7777, "auc_std": 0.0211}},
        policy_comparison={
            "applications": 1234,
            "policies": [
                {"policy": "historical", "approval_rate": 0.5, "expected_profit": 12.345},
                {"policy": "new", "approval_rate": 0.625, "expected_profit": 23.456},
            ],
        },
    )
    card = render_model_card(full)
    policy = card[card.index("### Policy comparison") :]
    assert table_row(policy, "applications") == ["applications", "1,234"]
    assert table_row(policy, "new")[1:] == ["62.5%", "23.46"]
    mitigation = card[card.index("### Mitigation") :]
    assert table_row(mitigation, "1")[1:] == ["0.8011", "0.9"]
    assert "Proposed less-discriminatory alternative: strength 1; auc 0.8011" in mitigation
    alternative = card[card.index("### Alternative data") :]
    assert table_row(alternative, "scorecard")[1:] == ["bureau_only", "0.7123", "41.0%"]
    cross = card[card.index("### Cross-validation") :]
    assert table_row(cross, "scorecard")[1:] == ["0.7777", "0.0211"]


def test_approval_status_and_history(model: CreditModel) -> None:
    draft = section(render_model_card(model), "## Approval status")
    assert "**draft**" in draft
    assert "must not decide" in draft
    approved = with_record(
        model,
        approval_status="approved",
        status_history=[{"status": "approved", "by": "model risk", "at": "2026-01-02T03:04:05"}],
    )
    card = render_model_card(approved)
    status = section(card, "## Approval status")
    assert "**approved**" in status
    assert table_row(status, "approved") == ["approved", "model risk", "2026-01-02T03:04:05"]
    assert "approved (by model risk at 2026-01-02T03:04:05)" in section(card, "## Model details")


# --- formatting -----------------------------------------------------------------------------


def test_number_and_rate_formats() -> None:
    assert format_number(0.80674603) == "0.8067"
    assert format_number(12) == "12"
    assert format_number(-1234.6) == "-1,235"
    assert format_number(None) == "—"
    assert format_rate(0.27666) == "27.7%"
    assert format_rate(0.0512) == "5.12%"
    assert format_rate(float("nan")) == "—"
