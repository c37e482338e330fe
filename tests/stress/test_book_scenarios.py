"""A book under several scenarios: ordering, weighting, staging, and the CLI on a world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.exceptions import ParameterError
from fintwin.stress.book_scenarios import run_scenarios
from fintwin.stress.scenarios import Scenario, builtin_scenarios
from fintwin.world import simulate

RNG = np.random.default_rng(3)
N = 400
PD = RNG.uniform(0.005, 0.08, N)
EAD = RNG.uniform(1_000, 20_000, N)
RATE = RNG.uniform(0.03, 0.15, N)
YEARS = RNG.choice([1.0, 2.0, 3.0, 5.0], N)


def _run(**kw):  # type: ignore[no-untyped-def]
    return run_scenarios(PD, 0.45, EAD, RATE, YEARS, builtin_scenarios(), rho=0.09, **kw)


def test_worse_scenarios_provision_and_lose_more() -> None:
    run = _run()
    ecl = run.ecl.set_index("scenario")["ecl"]
    assert ecl["baseline"] < ecl["adverse"] < ecl["severely_adverse"]
    lost = run.to_dict()["cumulative_loss"]
    assert lost["baseline"] < lost["adverse"] < lost["severely_adverse"]
    # more loans cross the significant-increase test as the scenario worsens
    stage_2 = run.ecl.set_index("scenario")["stage_2_loans"]
    assert stage_2["baseline"] <= stage_2["adverse"] <= stage_2["severely_adverse"]


def test_the_weighted_allowance_is_the_weighted_sum() -> None:
    weights = {"baseline": 0.6, "adverse": 0.3, "severely_adverse": 0.1}
    run = _run(weights=weights)
    ecl = run.ecl.set_index("scenario")["ecl"]
    expected = sum(w * ecl[name] for name, w in weights.items())
    assert run.weighted_ecl == pytest.approx(expected, rel=1e-12)  # float summation order
    assert run.ecl["weight"].tolist() == [0.6, 0.3, 0.1]


def test_a_calm_scenario_keeps_every_loan_in_stage_one_with_twelve_month_ecl() -> None:
    # macro at its long-run values: no significant increase in credit risk anywhere
    calm = Scenario("calm", {"gdp_growth": [1.8] * 8, "unemployment": [5.0] * 8})
    run = run_scenarios(PD, 0.45, EAD, RATE, YEARS, {"calm": calm}, rho=0.09)
    row = run.ecl.iloc[0]
    assert row["stage_1_loans"] == N and row["stage_2_loans"] == 0
    assert row["ecl"] == pytest.approx(row["stage_1_ecl"])


def test_weights_must_name_the_scenarios() -> None:
    with pytest.raises(ParameterError, match="weights must name exactly"):
        _run(weights={"baseline": 1.0})
    with pytest.raises(ParameterError, match="at least one scenario"):
        run_scenarios(PD, 0.45, EAD, RATE, YEARS, {}, rho=0.09)


def test_the_cli_runs_the_world_book(tmp_path: Path) -> None:
    world = simulate(
        tmp_path / "w",
        "handbook",
        customers=1_500,
        days=60,
        seed=2,
        params={"economy.lending.applications_per_year": 3},
    )
    runner = CliRunner()
    args = ["stress", "scenario", "--world", str(world.path), "--report", str(tmp_path / "s.html")]
    weights = ["--weight", "baseline=0.5", "--weight", "adverse=0.3"]
    result = runner.invoke(app, [*args, *weights, "--weight", "severely_adverse=0.2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["loans"] > 100
    ecl = {row["scenario"]: row["ecl"] for row in out["ecl"]}
    assert out["weighted_ecl"] == pytest.approx(
        0.5 * ecl["baseline"] + 0.3 * ecl["adverse"] + 0.2 * ecl["severely_adverse"]
    )
    assert (tmp_path / "s.html").read_text().count('id="stress-data"') == 1
    bad = runner.invoke(app, [*args, "--weight", "baseline=1"])
    assert bad.exit_code == 2 and "weights must name exactly" in bad.output
