"""POST /v1/credit/decisions against a real app, a real credit model and the audit ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _service_app import bearer, service_settings
from fastapi.testclient import TestClient

from fintwin.credit.applications import CreditData, FeatureKind
from fintwin.credit.challenger import ChallengerConfig
from fintwin.credit.model import CreditModel, TrainingOptions, train_credit_model
from fintwin.credit.ratios import Ratio
from fintwin.service.app import create_app

URL = "/v1/credit/decisions"


@pytest.fixture
def credit_client(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    credit_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    settings = service_settings(model_id, keys[0], tmp_path / "data", credit_model=credit_model)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _post(client: TestClient, key: str, applicant: dict, application_id: str = "a-1"):  # type: ignore[no-untyped-def]
    body = {"application_id": application_id, "applicant": applicant}
    return client.post(URL, json=body, headers=bearer(key))


def test_a_decision_matches_the_model_and_is_in_the_ledger(
    credit_client: TestClient, keys: tuple[Path, dict[str, str]], credit_model: Path
) -> None:
    model = CreditModel.load(credit_model)
    scorer = keys[1]["scorer"]
    risky = _post(credit_client, scorer, {"income": 500.0, "region": "south"}, "risky")
    safe = _post(credit_client, scorer, {"income": 9000.0, "region": "north"}, "safe")
    assert risky.status_code == safe.status_code == 200, risky.text
    r, s = risky.json(), safe.json()
    # the synthetic truth: low income in the south is the riskiest profile
    assert r["score"] < s["score"]
    assert s["approved"] and not r["approved"]
    assert r["cutoff"] == pytest.approx(model.cutoff)
    # the answer is the model's own decision on the same applicant
    expected = model.decide(pd.DataFrame({"income": [500.0], "region": ["south"]}))[0]
    assert r["score"] == pytest.approx(expected.score)
    assert [x["variable"] for x in r["reasons"]] == [x["variable"] for x in expected.reasons]
    assert r["reasons"] and all(x["points_below_maximum"] > 0 for x in r["reasons"])
    assert s["reasons"] == []
    runtime = credit_client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    entries = [e for e in runtime.ledger.entries() if e.kind.value == "credit_decision"]
    assert [e.seq for e in entries] == [r["ledger_seq"], s["ledger_seq"]]
    assert entries[0].payload["applicant"] == {"income": 500.0, "region": "south"}
    assert entries[0].actor.startswith("scorer:")
    assert runtime.ledger.verify().ok


def test_missing_inputs_and_unseen_categories_still_score(
    credit_client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    scorer = keys[1]["scorer"]
    for applicant in ({}, {"income": None}, {"region": "atlantis"}):
        r = _post(credit_client, scorer, applicant)
        assert r.status_code == 200, r.text
        assert r.json()["score"] == pytest.approx(r.json()["score"])  # not NaN


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        ({"national_id": "123"}, "applicant.national_id"),
        ({"income": "a lot"}, "applicant.income"),
    ],
)
def test_bad_applicants_get_422_naming_the_field(
    credit_client: TestClient, keys: tuple[Path, dict[str, str]], applicant: dict, field: str
) -> None:
    r = _post(credit_client, keys[1]["scorer"], applicant)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_unknown_top_level_fields_are_refused(
    credit_client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    body = {"application_id": "a", "applicant": {}, "sex": "F"}
    r = credit_client.post(URL, json=body, headers=bearer(keys[1]["scorer"]))
    assert r.status_code == 422 and "sex" in r.text


def test_without_a_credit_model_the_endpoint_says_so(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    r = _post(client, keys[1]["scorer"], {})
    assert r.status_code == 503
    assert "FINTWIN_CREDIT_MODEL" in r.json()["detail"]


def test_a_model_with_a_ratio_derives_it_from_the_applicant(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    n = 600
    income = rng.lognormal(8.0, 0.4, n)
    debt = income * rng.uniform(0.05, 0.6, n)
    bad = rng.random(n) < 1 / (1 + np.exp(-(-3.5 + 8.0 * debt / income)))
    kinds = {"income": FeatureKind.NUMERIC, "debt": FeatureKind.NUMERIC}
    frame = pd.DataFrame({"income": income, "debt": debt})
    data = CreditData(frame, bad, pd.DataFrame(index=range(n)), kinds, "synthetic")
    options = TrainingOptions(
        mitigation=False,
        ratios=[Ratio.parse("debt_to_income=debt/income")],
        challenger=ChallengerConfig(n_estimators=50),
    )
    directory = train_credit_model(data, options).save(tmp_path / "model")
    model = CreditModel.load(directory)
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    settings = service_settings(model_id, keys[0], tmp_path / "data", credit_model=directory)
    scorer = keys[1]["scorer"]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        heavy = _post(client, scorer, {"income": 3000.0, "debt": 1500.0}, "heavy")
        light = _post(client, scorer, {"income": 3000.0, "debt": 150.0}, "light")
        sent = _post(client, scorer, {"income": 3000.0, "debt_to_income": 0.05}, "sent")
    assert heavy.status_code == light.status_code == 200, heavy.text
    expected = model.decide(pd.DataFrame({"income": [3000.0], "debt": [1500.0]}))[0]
    assert heavy.json()["score"] == pytest.approx(expected.score)
    assert heavy.json()["score"] < light.json()["score"]  # the ratio, derived, drives risk
    assert sent.status_code == 422 and "applicant.debt_to_income" in sent.text
