"""Pre-play on a real world: both policies over the same applicants, under shipped scenarios,
with a registered fraud model's thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fintwin.cli import app as cli_app
from fintwin.data import World
from fintwin.stress.irb import risk_weighted_assets
from fintwin.stress.lending_replay import lending_book, policy_params
from fintwin.stress.policy_change import load_change
from fintwin.stress.preplay import BASE_LGD, preplay
from fintwin.stress.scenarios import builtin_scenario


@pytest.fixture(scope="module")
def world(lending_world: World) -> World:
    return lending_world


@pytest.fixture(scope="module")
def registry(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fraud model trained on the world (as tests/service do: a couple of seconds)."""
    folder = tmp_path_factory.mktemp("preplay-registry")
    args = ["risk", "train", "--protocol", "fractions", "--json", "--world", str(world.path)]
    result = CliRunner().invoke(cli_app, [*args, "--registry", str(folder)])
    assert result.exit_code == 0, result.output
    return folder, json.loads(result.stdout)["model_id"]


def _change(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "change.yaml"
    path.write_text(text)
    return load_change(path)


def test_an_unchanged_policy_changes_nothing(world: World, tmp_path: Path) -> None:
    same = policy_params(world).min_bureau_score
    result = preplay(
        world,
        builtin_scenario("adverse"),
        _change(tmp_path, f"credit:\n  min_bureau_score: {same}\n"),
    )
    np.testing.assert_array_equal(result.credit["change"].to_numpy(), 0.0)
    assert result.fraud is None


def test_a_stricter_cutoff_approves_less_and_loses_less(world: World, tmp_path: Path) -> None:
    change = _change(tmp_path, "credit:\n  min_bureau_score: 680\n")
    result = preplay(world, builtin_scenario("baseline"), change)
    c = result.credit
    assert c.loc["approved", "proposed"] < c.loc["approved", "current"]
    assert (
        c.loc["expected_credit_loss_scenario", "proposed"]
        < c.loc["expected_credit_loss_scenario", "current"]
    )
    assert c.loc["rwa", "proposed"] < c.loc["rwa", "current"]
    # the current column is the world's own history
    book = lending_book(world)
    assert c.loc["approved", "current"] == book.frame["historical_approved"].sum()


def test_worse_scenarios_cost_more_on_the_same_book(world: World, tmp_path: Path) -> None:
    change = _change(tmp_path, "credit:\n  min_bureau_score: 640\n")
    losses = [
        preplay(world, builtin_scenario(name), change).credit.loc[
            "expected_credit_loss_scenario", "current"
        ]
        for name in ("baseline", "adverse", "severely_adverse")
    ]
    assert losses[0] < losses[1] < losses[2]


def test_loss_and_capital_add_up_from_the_applicants(world: World, tmp_path: Path) -> None:
    scenario = builtin_scenario("adverse")
    result = preplay(world, scenario, _change(tmp_path, "credit:\n  min_bureau_score: 640\n"))
    book = lending_book(world)
    approved = book.replay(policy_params(world))
    u, g, lgd = (result.loan_year[k] for k in ("unemployment", "gdp_growth", "lgd"))
    assert u == pytest.approx(np.mean(scenario.paths["unemployment"][:4]))
    assert lgd == pytest.approx(BASE_LGD + np.mean(scenario.lgd_shift[:4]))
    pd_s = book.pd_under(u, g)
    ead = np.where(approved.approved, approved.approved_minor / 100, 0.0)
    expected = float((pd_s * lgd * ead).sum())
    # same numbers summed in another order: float64 rounding only
    assert result.credit.loc["expected_credit_loss_scenario", "current"] == pytest.approx(
        expected, rel=1e-12
    )
    cards = approved.approved & (book.frame["product"].to_numpy() == 1)  # credit card lines
    rwa_cards = float(np.sum(risk_weighted_assets(pd_s[cards], lgd, ead[cards], "revolving")))
    by_class = result.capital_by_class.set_index(["policy", "asset_class"])
    assert by_class.loc[("current", "revolving"), "rwa"] == pytest.approx(rwa_cards, rel=1e-12)


def test_fraud_thresholds_trade_workload_for_losses(
    world: World, registry: tuple[Path, str], tmp_path: Path
) -> None:
    folder, model = registry
    change = _change(tmp_path, f"fraud:\n  model: {model}\n  alert_rate: 0.05\n")
    result = preplay(world, builtin_scenario("baseline"), change, registry=folder)
    fraud = result.fraud
    assert fraud is not None
    # alerting 5 % of events is far more than at the model's 0.5 % threshold
    assert fraud.loc["alerts", "proposed"] > fraud.loc["alerts", "current"]
    assert fraud.loc["fraud_losses", "proposed"] <= fraud.loc["fraud_losses", "current"]
    total = fraud.loc["fraud_amount", "current"]
    for policy in ("current", "proposed"):
        caught, lost = fraud.loc["fraud_amount_caught", policy], fraud.loc["fraud_losses", policy]
        assert caught + lost == pytest.approx(total, rel=1e-12)
    assert result.credit["change"].abs().sum() == 0  # lending untouched
