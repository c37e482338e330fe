"""The service's endpoints end to end over the assembled app (real model registry, SQLite store,
audit ledger and feed): batch decisions, human review, late labels, models and policies, and
what each leaves in the audit ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _service_app import bearer, payment, service_settings
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fintwin.cli import app as cli_app
from fintwin.governance.ledger import verify
from fintwin.service.app import create_app
from fintwin.world import simulate

REVIEW_LARGE = """\
policy: review-large
version: 1
thresholds:
  review: 0.9
  step_up: 0.95
  decline: 0.99
rules:
  - name: large
    when: amount > 100.0
    action: review
    reason: LARGE_AMOUNT
default:
  bands:
    review: review
    step_up: step_up
    decline: decline
  otherwise: approve
"""


@pytest.fixture(scope="module")
def second_model(model_id: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Version 2 of the model, trained on another world into the same registry."""
    world = simulate(tmp_path_factory.mktemp("hb2") / "hb", "handbook", customers=400, days=50,
                     seed=2)  # fmt: skip
    result = CliRunner().invoke(
        cli_app,
        ["risk", "train", "--protocol", "fractions", "--json", "--world", str(world.path),
         "--registry", str(model_id[1])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["model_id"])


def _as(keys: tuple[Path, dict[str, str]], role: str) -> dict[str, str]:
    return bearer(keys[1][role])


def _ledger_kinds(client: TestClient) -> list[str]:
    rt = client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    rt.feed.catch_up()
    assert verify(rt.ledger.store).ok
    return [e.kind.value for e in rt.ledger.entries()]


def test_batch_decides_in_order_replays_and_reports_refused_events(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    events = [payment(10), payment(11), payment(11), payment(2), payment(12)]
    first = client.post("/v1/decisions/batch", json={"events": events}, headers=_as(keys, "scorer"))
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    # the repeated event gets the decision of its first occurrence; the late one an error
    assert results[2]["decision"] == results[1]["decision"] and results[2]["replayed"] is True
    assert results[3]["decision"] is None and "lateness" in results[3]["error"]["detail"]
    fresh = [results[i] for i in (0, 1, 4)]
    assert all(r["replayed"] is False and r["error"] is None for r in fresh)
    assert len({r["decision"]["decision_id"] for r in fresh}) == 3

    again = client.post("/v1/decisions/batch", json={"events": events}, headers=_as(keys, "scorer"))
    replays = again.json()["results"]
    for before, after in zip(results, replays, strict=True):
        assert after["decision"] == before["decision"]
        assert after["replayed"] is (before["decision"] is not None)
    # the single-event endpoint sees the same decisions
    single = client.post("/v1/decisions", json=payment(12), headers=_as(keys, "scorer"))
    assert single.json() == results[4]["decision"]
    assert _ledger_kinds(client) == ["model_activation"] + ["decision"] * 3

    too_many = client.post(
        "/v1/decisions/batch",
        json={"events": [payment(i) for i in range(1001)]},
        headers=_as(keys, "scorer"),
    )
    assert too_many.status_code in (413, 422)


def _review_policy(client: TestClient, keys: tuple[Path, dict[str, str]]) -> dict[str, object]:
    r = client.post(
        "/v1/policies",
        json={"policy_yaml": REVIEW_LARGE, "note": "review every payment above 100"},
        headers=_as(keys, "admin"),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_review_queue_verdicts_are_appended_never_overwritten(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    _review_policy(client, keys)
    scorer = _as(keys, "scorer")
    small = client.post("/v1/decisions", json=payment(1, amount="20.00"), headers=scorer).json()
    big = [
        client.post("/v1/decisions", json=payment(i, amount="150.00"), headers=scorer).json()
        for i in (2, 3, 4)
    ]
    assert small["action"] == "approve" and {d["action"] for d in big} == {"review"}
    assert big[0]["reasons"] == ["LARGE_AMOUNT"]

    analyst, auditor = _as(keys, "analyst"), _as(keys, "auditor")
    page = client.get("/v1/reviews", params={"limit": 2}, headers=auditor).json()
    assert [d["decision_id"] for d in page["items"]] == [
        big[0]["decision_id"],
        big[1]["decision_id"],
    ]
    rest = client.get("/v1/reviews", params={"cursor": page["next_cursor"]}, headers=analyst).json()
    assert [d["decision_id"] for d in rest["items"]] == [big[2]["decision_id"]]
    assert rest["next_cursor"] is None
    bad_cursor = client.get("/v1/reviews", params={"cursor": "nonsense"}, headers=analyst)
    assert bad_cursor.status_code == 422

    target = big[0]["decision_id"]
    confirm = client.post(
        f"/v1/reviews/{target}",
        json={"verdict": "confirm", "comment": "card 4111 1111 1111 1111 seen before"},
        headers={**analyst, "Idempotency-Key": "v-1"},
    )
    assert confirm.status_code == 200, confirm.text
    assert confirm.json()["action_in_force"] == "review"
    assert "4111" not in confirm.text  # card numbers in comments are masked
    retry = client.post(
        f"/v1/reviews/{target}",
        json={"verdict": "confirm", "comment": "card 4111 1111 1111 1111 seen before"},
        headers={**analyst, "Idempotency-Key": "v-1"},
    )
    assert retry.json() == confirm.json() and retry.headers["Idempotent-Replayed"] == "true"
    override = client.post(
        f"/v1/reviews/{target}",
        json={"verdict": "override", "action": "decline", "comment": "customer confirmed fraud"},
        headers=analyst,
    )
    assert override.json()["action_in_force"] == "decline"

    # the decision is unchanged; both verdicts are kept, the last in force
    assert client.get(f"/v1/decisions/{target}", headers=auditor).json() == big[0]
    rt = client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    assert [v.verdict.value for v in rt.store.verdicts(target)] == ["confirm", "override"]
    queue = client.get("/v1/reviews", headers=analyst).json()["items"]
    assert target not in {d["decision_id"] for d in queue}

    missing = client.post(
        "/v1/reviews/nope", json={"verdict": "confirm", "comment": "x"}, headers=analyst
    )
    assert missing.status_code == 404
    invalid = client.post(
        f"/v1/reviews/{target}", json={"verdict": "override", "comment": "x"}, headers=analyst
    )
    assert invalid.status_code == 422 and "action" in invalid.text
    kinds = _ledger_kinds(client)
    assert kinds.count("review") == 2 and kinds.count("policy_change") == 1


def test_labels_are_stored_once_and_reach_the_engine(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    scorer = _as(keys, "scorer")
    decided = client.post("/v1/decisions", json=payment(1), headers=scorer).json()
    label = {
        "transaction_id": 10_001,
        "is_fraud": True,
        "source": "chargeback",
        "available_at": "2025-03-01T09:30:00Z",
    }
    unknown = {**label, "transaction_id": 99, "source": "investigation"}
    r = client.post("/v1/labels", json={"labels": [label, unknown]}, headers=scorer)
    assert r.status_code == 200, r.text
    out = r.json()["labels"]
    assert [(x["created"], x["applied"]) for x in out] == [(True, True), (True, False)]
    # the same chargeback again: stored once, the first one kept
    again = client.post(
        "/v1/labels", json={"labels": [{**label, "is_fraud": False}]}, headers=_as(keys, "analyst")
    )
    ignored = {"created": False, "applied": False}  # a repeat changes nothing
    assert again.json()["labels"][0] == out[0] | ignored

    # a later payment on the same terminal counts the label (it is available by then)
    later = client.post("/v1/decisions", json=payment(60 * 24 * 8), headers=scorer).json()
    assert later["features"]["terminal_labelled_count_30d_delay_7d"] == 1.0
    assert later["features"]["terminal_fraud_rate_30d_delay_7d"] == 1.0
    assert decided["features"]["terminal_labelled_count_30d_delay_7d"] == 0.0
    naive = client.post(
        "/v1/labels",
        json={"labels": [{**label, "available_at": "2025-03-01T09:30:00"}]},
        headers=scorer,
    )
    assert naive.status_code == 422 and "available_at" in naive.text
    assert _ledger_kinds(client).count("label") == 2


def test_models_are_listed_and_activated_with_an_audit_trail(
    client: TestClient,
    keys: tuple[Path, dict[str, str]],
    model_id: tuple[str, Path],
    second_model: str,
) -> None:
    admin, analyst = _as(keys, "admin"), _as(keys, "analyst")
    listed = client.get("/v1/models", headers=analyst).json()
    assert {m["model_id"] for m in listed["models"]} >= {model_id[0], second_model}
    assert listed["active_model_id"] == listed["serving_model_id"] == model_id[0]

    missing = client.post("/v1/models/nope/9/activate", json={}, headers=admin)
    assert missing.status_code == 404
    r = client.post(
        f"/v1/models/{second_model}/activate",
        json={"note": "challenger won the backtest"},
        headers={**admin, "Idempotency-Key": "act-1"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["model_id"] == second_model and r.json()["activated_by"].startswith("admin:")
    decided = client.post("/v1/decisions", json=payment(1), headers=_as(keys, "scorer")).json()
    assert decided["model_id"] == second_model
    assert client.get("/v1/models", headers=analyst).json()["serving_model_id"] == second_model
    replay = client.post(
        f"/v1/models/{second_model}/activate",
        json={},
        headers={**admin, "Idempotency-Key": "act-1"},
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert _ledger_kinds(client) == ["model_activation", "model_activation", "decision"]


def test_policy_upload_is_validated_against_the_model_and_put_in_force(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    admin = _as(keys, "admin")
    unknown_feature = REVIEW_LARGE.replace("amount > 100.0", "velocity_of_doom > 1.0")
    bad = client.post("/v1/policies", json={"policy_yaml": unknown_feature}, headers=admin)
    assert bad.status_code == 422 and "velocity_of_doom" in bad.json()["message"]
    assert [d["field"] for d in bad.json()["detail"]] == ["policy_yaml"]
    broken = client.post("/v1/policies", json={"policy_yaml": "rules: ["}, headers=admin)
    assert broken.status_code == 422
    before = client.get("/readyz").json()["policy_hash"]

    change = _review_policy(client, keys)
    assert change["in_force"] is True and change["policy_hash"] != before
    assert client.get("/readyz").json()["policy_hash"] == change["policy_hash"]
    decided = client.post(
        "/v1/decisions", json=payment(1, amount="150.00"), headers=_as(keys, "scorer")
    ).json()
    assert decided["policy_hash"] == change["policy_hash"] and decided["action"] == "review"
    assert _ledger_kinds(client) == ["model_activation", "policy_change", "decision"]


def test_another_worker_picks_up_activations_through_the_store(
    model_id: tuple[str, Path],
    second_model: str,
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two apps on one data directory stand for two workers of one deployment
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    settings = service_settings(model_id, keys[0], tmp_path / "data", config_poll_s=0.05)
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as one,
        TestClient(create_app(settings), raise_server_exceptions=False) as two,
    ):
        r = one.post(f"/v1/models/{second_model}/activate", json={}, headers=_as(keys, "admin"))
        assert r.status_code == 200, r.text
        rt = two.app.state.fintwin_runtime  # type: ignore[attr-defined]
        rt.refresh()  # what its poller does every config_poll_s
        assert rt.decider.model_id == second_model
