"""`fintwin risk train | evaluate | decide` from the command line, bad input included."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from typer.testing import CliRunner

from fintwin.cli import app
from fintwin.data import World
from fintwin.governance import ModelRegistry
from fintwin.risk import builtin_policy_path
from fintwin.world import simulate

runner = CliRunner()
HANDBOOK_POLICY = builtin_policy_path("handbook")
# 500 customers over 60 days hold ~60,000 payments and ~200 test frauds: enough for the
# fraction protocol (36 training days, 7 delay, 17 test) and a model well above chance, while
# training takes about 2 s. The book's own days (136-156) would need a 157-day world.
TRAIN = ["risk", "train", "--protocol", "fractions", "--json"]


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _fails(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return result.output


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return simulate(
        tmp_path_factory.mktemp("risk-cli") / "hb", "handbook", customers=500, days=60, seed=1
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def trained(world: World, registry: Path) -> dict:
    """The handbook world's model, trained with the built-in handbook policy stored beside it."""
    args = [*TRAIN, "--world", str(world.path), "--registry", str(registry)]
    return _json(runner.invoke(app, [*args, "--policy", str(HANDBOOK_POLICY)]))


def _transactions_csv(world: World, path: Path, *, all_genuine: bool = False) -> Path:
    """The world's payments as a generic CSV with fintwin's column names."""
    t = world.arrow("transactions")
    scenario = t.column("fraud_scenario").cast(pa.string())
    fraud = t.column("is_fraud")
    if all_genuine:
        fraud = pa.array([False] * t.num_rows)
        scenario = pa.nulls(t.num_rows, pa.string())
    t = t.set_column(t.schema.get_field_index("fraud_scenario"), "fraud_scenario", scenario)
    t = t.set_column(t.schema.get_field_index("is_fraud"), "is_fraud", fraud)
    # ISO 8601 with a "T" and whole seconds, which the importer reads.
    for name in ("timestamp", "label_available_at"):
        text = pa.array([v.strftime("%Y-%m-%dT%H:%M:%S") for v in t.column(name).to_pylist()])
        t = t.set_column(t.schema.get_field_index(name), name, text)
    pcsv.write_csv(t, path)
    return path


def _import(csv: Path, out: Path) -> Path:
    result = runner.invoke(app, ["data", "import", "transactions", str(csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# --- train -----------------------------------------------------------------------------------


def test_train_json_holds_the_model_id_and_test_metrics(trained: dict, registry: Path) -> None:
    assert re.fullmatch(r"fraud-handbook/\d+", trained["model_id"])
    metrics = trained["metrics"]
    # A model clearly above chance on ~200 test frauds (the default feature set reaches 0.95).
    assert 0.8 < metrics["auc_roc"] <= 1
    for key in ("average_precision", "card_precision_at_100", "alert_rate", "recall_by_scenario"):
        assert key in metrics
    assert trained["protocol"]["protocol"] == "fractions"
    loaded = ModelRegistry(registry).load(trained["model_id"])
    assert loaded.metadata.metrics["auc_roc"] == metrics["auc_roc"]
    # The policy travels with the model: a verbatim copy in its version folder.
    stored = Path(trained["policy"]["stored"])
    assert stored == loaded.version.path / "policy.yaml"
    assert stored.read_bytes() == HANDBOOK_POLICY.read_bytes()
    assert trained["policy"]["name"] == "handbook-baseline"


def test_train_registry_from_the_environment_and_readable_summary(
    world: World, tmp_path: Path
) -> None:
    env_registry = tmp_path / "from-env"
    result = runner.invoke(
        app,
        ["risk", "train", "--world", str(world.path), "--protocol", "fractions", "--name", "x"],
        env={"FINTWIN_REGISTRY": str(env_registry)},
    )
    assert result.exit_code == 0, result.output
    assert "registered x/1" in result.stdout
    assert "auc_roc" in result.stdout and "test days 43-59" in result.stdout
    assert [v.model_id for v in ModelRegistry(env_registry).list()] == ["x/1"]


def test_train_refuses_a_policy_that_cannot_run(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        HANDBOOK_POLICY.read_text().replace(
            "when: amount > 220.0", "when: amount > 220.0 && device_count_1d > 2.0"
        )
    )
    reg = tmp_path / "reg"
    args = [*TRAIN, "--world", str(world.path), "--registry", str(reg), "--policy", str(bad)]
    _fails(runner.invoke(app, args), "error:", "large_amount", "device_count_1d")
    assert not reg.exists()  # refused before any training or registration

    named = tmp_path / "named.yaml"
    named.write_text(HANDBOOK_POLICY.read_text().replace("model: null", "model: other/1"))
    args[-1] = str(named)
    _fails(runner.invoke(app, args), "names model 'other/1'", "model: null")
    assert not reg.exists()


def test_train_bad_inputs(world: World, tmp_path: Path) -> None:
    base = ["risk", "train", "--world", str(world.path), "--registry", str(tmp_path / "r")]
    _fails(runner.invoke(app, [*base, "--protocol", "weekly"]), "weekly")
    # The book's protocol on a 60-day handbook world: the days it needs, and the way out.
    _fails(runner.invoke(app, base), "days 0 to 156", "protocol='fractions'")
    _fails(runner.invoke(app, [*base, "--name", "a/b"]), "model name")
    _fails(runner.invoke(app, [*base, "-p", "objective=regression"]), "objective")
    _fails(runner.invoke(app, [*base[:3], str(tmp_path / "nowhere")]), "no such world")


def test_worlds_without_usable_labels_are_refused(world: World, tmp_path: Path, trained) -> None:
    genuine = _import(
        _transactions_csv(world, tmp_path / "g.csv", all_genuine=True), tmp_path / "g"
    )
    reg = str(tmp_path / "r")
    _fails(
        runner.invoke(app, [*TRAIN, "--world", str(genuine), "--registry", reg]),
        "no event is labelled fraud",
    )
    aml = simulate(tmp_path / "aml", "aml", customers=100, days=3, seed=1)
    _fails(
        runner.invoke(app, [*TRAIN, "--world", str(aml.path), "--registry", reg]),
        "no table 'transactions'",
    )


# --- evaluate --------------------------------------------------------------------------------


def _evaluate(world: Path, model_id: str, registry: Path, *extra: str) -> dict:
    args = ["risk", "evaluate", "--world", str(world), "--model", model_id]
    return _json(runner.invoke(app, [*args, "--registry", str(registry), "--json", *extra]))


def test_evaluate_reproduces_the_training_metrics_and_writes_the_report(
    world: World, registry: Path, trained: dict
) -> None:
    out = _evaluate(world.path, trained["model_id"], registry)
    for key in ("auc_roc", "average_precision", "card_precision_at_100", "alert_rate"):
        assert out[key] == trained["metrics"][key], key
    assert out["alert_rate_target"] == 0.005
    assert out["recall_by_scenario"] == trained["metrics"]["recall_by_scenario"]
    assert 0 <= out["fraud_amount_caught"] <= 1
    lat = out["latency"]
    assert lat["count"] == 2000 and 0 < lat["p50_s"] <= lat["p99_s"] <= lat["max_s"]
    assert "DecisionEngine.decide" in out["latency_source"]
    assert out["policy"]["name"] == "handbook-baseline"  # the copy stored with the model
    assert out["model"]["features"] == trained_features(registry, trained["model_id"])
    # Default report path: next to the world directory.
    report = Path(out["report"])
    assert report == world.path.parent / f"hb-risk-{trained['model_id'].replace('/', '-')}.html"
    page = report.read_text(encoding="utf-8")
    embedded = re.search(r'id="evaluation-data">(.*?)</script>', page).group(1)
    assert json.loads(embedded) == {k: v for k, v in out.items() if k != "report"}


def trained_features(registry: Path, model_id: str) -> list[str]:
    return list(ModelRegistry(registry).load(model_id).metadata.feature_names)


def test_evaluate_options_and_bad_inputs(world: World, registry: Path, trained, tmp_path) -> None:
    model_id = trained["model_id"]
    report = tmp_path / "sub" / "r.html"
    out = _evaluate(
        world.path, model_id, registry, "--alert-rate", "0.02", "--report", str(report),
        "--latency-sample", "0",
    )  # fmt: skip
    assert out["alert_rate_target"] == 0.02 and 0.02 <= out["alert_rate"] < 0.021
    assert out["latency"] is None and Path(out["report"]) == report and report.is_file()
    assert _evaluate(world.path, model_id, registry, "--no-report")["report"] is None

    base = ["risk", "evaluate", "--world", str(world.path), "--registry", str(registry)]
    _fails(runner.invoke(app, [*base, "--model", "nope/1"]), "no model 'nope/1'")
    _fails(runner.invoke(app, [*base, "--model", "nope"]), "must look like 'name/3'")
    _fails(runner.invoke(app, [*base, "--model", model_id, "--protocol", "weekly"]), "weekly")
    _fails(
        runner.invoke(app, [*base, "--model", model_id, "--protocol", "prequential"]),
        "days 0 to 156",
    )
    _fails(runner.invoke(app, [*base, "--model", model_id, "--alert-rate", "0"]), "rate must")


def test_evaluate_runs_the_same_on_imported_data(
    world: World, registry: Path, trained: dict, tmp_path: Path
) -> None:
    """A generic CSV import of the same payments gives the same metrics; a handbook-format
    import trains and evaluates end to end."""
    generic = _import(_transactions_csv(world, tmp_path / "tx.csv"), tmp_path / "generic")
    model_id = trained["model_id"]
    sim = _evaluate(world.path, model_id, registry, "--no-report", "--latency-sample", "0")
    imp = _evaluate(generic, model_id, registry, "--no-report", "--latency-sample", "0")
    for key in ("auc_roc", "average_precision", "card_precision_at_100", "recall_by_scenario"):
        assert imp[key] == sim[key], key
    assert imp["world"]["preset"] == "import"

    t = world.arrow("transactions")
    codes = {None: 0, "amount_over_threshold": 1, "compromised_terminal": 2}
    codes["compromised_customer"] = 3
    book = pa.table(
        {
            "TRANSACTION_ID": t["transaction_id"],
            "TX_DATETIME": pa.array(
                [v.strftime("%Y-%m-%d %H:%M:%S") for v in t["timestamp"].to_pylist()]
            ),
            "CUSTOMER_ID": t["customer_id"],
            "TERMINAL_ID": t["terminal_id"],
            "TX_AMOUNT": t["amount"],
            "TX_FRAUD": t["is_fraud"].cast(pa.int8()),
            "TX_FRAUD_SCENARIO": [codes[s] for s in t["fraud_scenario"].to_pylist()],
        }
    )
    pcsv.write_csv(book, tmp_path / "book.csv")
    imported = tmp_path / "book"
    csv = str(tmp_path / "book.csv")
    args = ["data", "import", "transactions", csv, "-f", "handbook", "-o", str(imported)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    reg = tmp_path / "reg"
    new = _json(runner.invoke(app, [*TRAIN, "--world", str(imported), "--registry", str(reg)]))
    assert new["model_id"] == "fraud-import/1"
    out = _evaluate(imported, new["model_id"], reg, "--latency-sample", "200")
    assert out["auc_roc"] == new["metrics"]["auc_roc"] > 0.8
    assert set(out["recall_by_scenario"]) <= {"compromised_customer", "compromised_terminal"}
    assert Path(out["report"]).is_file()


def test_evaluate_prequential_on_an_imported_world(
    world: World, registry: Path, trained: dict, tmp_path: Path
) -> None:
    generic = _import(_transactions_csv(world, tmp_path / "tx.csv"), tmp_path / "generic")
    out = _evaluate(
        generic, trained["model_id"], registry, "--protocol", "prequential", "--no-report",
        "--latency-sample", "0",
    )  # fmt: skip
    pre = out["prequential"]
    assert len(pre["folds"]) == 4
    # Fold 0 of 60 days with a 7-day delay: (60 - 7) // 5 = 10-day periods, tests days 50-59.
    assert (out["split"]["test_start_day"], out["split"]["test_end_day"]) == (50, 60)
    assert pre["folds"][0]["test_start_day"] == 50
    mean = sum(f["auc_roc"] for f in pre["folds"]) / 4
    assert pre["mean"]["auc_roc"] == pytest.approx(mean, rel=1e-12)  # float summation order


# --- decide ----------------------------------------------------------------------------------


def _events(world: World, n: int, start: int = 0) -> list[dict]:
    t = world.arrow("transactions").sort_by([("timestamp", "ascending")]).slice(start, n)
    return [
        {
            "transaction_id": r["transaction_id"],
            "timestamp": r["timestamp"].isoformat(),
            "customer_id": r["customer_id"],
            "terminal_id": r["terminal_id"],
            "amount": str(r["amount"]),
        }
        for r in t.to_pylist()
    ]


def test_decide_reads_json_lines_and_reports_bad_lines(
    world: World, registry: Path, trained: dict
) -> None:
    ev = _events(world, 4)
    big = dict(ev[3], transaction_id=10**9, amount=250.0)
    early = dict(ev[0], transaction_id=10**9 + 1)  # before the events already decided
    missing = {k: v for k, v in ev[2].items() if k != "terminal_id"}
    lines = [
        json.dumps(ev[0]),
        "{not json",
        json.dumps(ev[1]),
        "",
        json.dumps(missing),
        json.dumps(ev[2] | {"timestamp": "yesterday"}),
        json.dumps(ev[2] | {"transaction_id": "7"}),
        "[1, 2]",
        json.dumps(ev[2]),
        json.dumps(big),
        json.dumps(early),
        json.dumps(ev[3] | {"amount": [1]}),
    ]
    model_id = trained["model_id"]
    args = ["risk", "decide", "--model", model_id, "--registry", str(registry)]
    result = runner.invoke(app, args, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(out) == len(lines) - 1  # the blank line is skipped, not answered
    errors = {r["line"]: r["error"] for r in out if "error" in r}
    assert set(errors) == {2, 5, 6, 7, 8, 11, 12}
    assert errors[2].startswith("invalid JSON")
    assert "'terminal_id'" in errors[5] and "lacks" in errors[5]
    assert "'timestamp'" in errors[6] and "ISO 8601" in errors[6]
    assert "integer id" in errors[7]
    assert "JSON object" in errors[8]
    assert "out of order" in errors[11]
    assert "'amount'" in errors[12]
    decisions = [r for r in out if "error" not in r]
    assert [d["transaction_id"] for d in decisions] == [e["transaction_id"] for e in (*ev[:3], big)]
    for d in decisions:
        assert d["model_id"] == model_id and d["policy"] == "handbook-baseline"
        assert 0 <= d["score"] <= 1 and d["latency_s"] > 0
    # The stored handbook policy declines any payment above 220 with its reason code.
    assert decisions[-1]["action"] == "decline"
    assert "AMOUNT_ABOVE_220" in decisions[-1]["reasons"]
    assert decisions[-1]["top_features"]  # alerts are explained
    assert "7 line(s) refused" in result.stderr


def test_decide_with_another_policy_and_bad_options(
    world: World, registry: Path, trained: dict, tmp_path: Path
) -> None:
    model_id = trained["model_id"]
    args = ["risk", "decide", "--model", model_id, "--registry", str(registry)]
    ev = _events(world, 1)[0] | {"amount": 250.0}
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(
        "policy: lenient\nversion: 2\nmodel: null\nthresholds: {review: 0.99}\n"
        "rules:\n  - {name: big, when: amount > 200.0, action: review, reason: BIG}\n"
        "default: {bands: {review: review}, otherwise: approve}\n"
    )
    out = _json(runner.invoke(app, [*args, "--policy", str(lenient)], input=json.dumps(ev)))
    assert (out["policy"], out["action"], out["reasons"]) == ("lenient", "review", ["BIG"])

    other = tmp_path / "other.yaml"
    other.write_text(HANDBOOK_POLICY.read_text().replace("model: null", "model: other/1"))
    _fails(runner.invoke(app, [*args, "--policy", str(other)], input=""), "expects model")
    _fails(runner.invoke(app, [*args[:2], "--model", "nope/1", *args[4:]]), "no model")


def test_decide_through_a_pipe_answers_each_line_as_it_arrives(
    registry: Path, trained: dict, world: World
) -> None:
    """A real process: the answer to a line comes before the next line is written."""
    exe = Path(sys.executable).with_name("fintwin")
    cmd = [str(exe), "risk", "decide", "--model", trained["model_id"], "--registry", str(registry)]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "FINTWIN_REGISTRY": "/nonexistent"},  # --registry wins
    )
    answers: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [answers.put(x) for x in proc.stdout], daemon=True).start()
    ev = _events(world, 2)
    try:
        for i, line in enumerate([json.dumps(ev[0]), "oops", json.dumps(ev[1])], start=1):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            # Generous: the first answer waits for the process to start and load the model.
            record = json.loads(answers.get(timeout=60))
            if i == 2:
                assert record["line"] == 2 and "invalid JSON" in record["error"]
            else:
                assert record["transaction_id"] == ev[i // 2]["transaction_id"]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


# --- a retail-bank world: fraud typologies and homes ----------------------------------------


def test_retail_bank_recall_per_typology_and_homes(tmp_path: Path) -> None:
    # 1,000 customers over 45 days: the smallest retail world whose validation and test
    # periods reliably hold frauds of several typologies (at 400 customers over 40 days the
    # validation slice held none).
    world = simulate(tmp_path / "bank", "retail-bank", customers=1000, days=45, seed=3)
    reg = tmp_path / "reg"
    trained = _json(
        runner.invoke(app, [*TRAIN, "--world", str(world.path), "--registry", str(reg)])
    )
    model_id = trained["model_id"]
    assert model_id == "fraud-retail-bank/1"
    out = _evaluate(world.path, model_id, reg, "--latency-sample", "300")
    assert out["alert_rate_target"] == 0.005
    by_typology = out["recall_by_scenario"]
    assert by_typology and set(by_typology) == set(out["frauds_by_scenario"])
    assert sum(out["frauds_by_scenario"].values()) == out["n_frauds"]
    page = Path(out["report"]).read_text(encoding="utf-8")
    assert "Recall per fraud scenario at a 0.50% alert rate" in page
    for name, recall in by_typology.items():
        row = re.search(rf'<tr data-key="{name}">(.*?)</tr>', page).group(1)
        assert f"{100 * recall:.2f}%" in row

    # Its features need the customers' homes: decide asks for the world that has them.
    tx = world.arrow("transactions").sort_by("timestamp").slice(0, 1).to_pylist()[0]
    event = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in tx.items()}
    event = {k: v for k, v in event.items() if k not in ("is_fraud", "fraud_scenario")}
    event["amount"] = str(event["amount"])
    event.pop("label_available_at")
    args = ["risk", "decide", "--model", model_id, "--registry", str(reg)]
    _fails(runner.invoke(app, args, input=json.dumps(event)), "--world")
    d = _json(runner.invoke(app, [*args, "--world", str(world.path)], input=json.dumps(event)))
    assert d["transaction_id"] == event["transaction_id"] and d["policy"] == "score-only"
