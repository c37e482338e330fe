"""The assembled decision service: a real model, store, ledger and keys file behind TestClient,
and `fintwin serve` as a real uvicorn process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _service_app import TOKEN_KEY, bearer, payment, service_settings
from fastapi.testclient import TestClient

from _postgres_server import free_port
from fintwin.governance.ledger import Ledger, verify
from fintwin.service.app import create_app
from fintwin.service.runtime import STARTUP_ACTOR
from fintwin.service.settings import DegradedMode


def test_decide_is_idempotent_durable_and_audited(
    client: TestClient, keys: tuple[Path, dict[str, str]], model_id: tuple[str, Path]
) -> None:
    scorer = bearer(keys[1]["scorer"])
    headers = {**scorer, "Idempotency-Key": "req-1"}
    first = client.post("/v1/decisions", json=payment(1), headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["action"] in {"approve", "review", "step_up", "decline"}
    assert body["model_id"] == model_id[0]
    assert body["degraded"] is False and body["degraded_reason"] is None
    assert first.headers["Idempotent-Replayed"] == "false"
    # the card number never comes back, nor is it stored
    assert "4111" not in first.text

    # a retry with the same key, even with another body, gets the original decision
    again = client.post("/v1/decisions", json=payment(2), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"

    # without a header the event id is the key
    by_event = [client.post("/v1/decisions", json=payment(3), headers=scorer) for _ in range(2)]
    assert [r.status_code for r in by_event] == [200, 200]
    assert by_event[0].json() == by_event[1].json()
    assert by_event[0].json()["decision_id"] != body["decision_id"]

    rt = client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    assert rt.store.count_decisions() == 2
    rt.feed.catch_up()
    entries = list(rt.ledger.entries())
    # FINTWIN_MODEL was activated at startup, then two decisions
    assert [e.kind.value for e in entries] == ["model_activation", "decision", "decision"]
    assert entries[0].actor == STARTUP_ACTOR
    assert entries[1].payload["decision_id"] == body["decision_id"]
    assert entries[1].actor.startswith("scorer:")
    assert verify(rt.ledger.store).ok

    # read back by id, by every role the matrix allows
    for role in ("scorer", "analyst", "auditor"):
        got = client.get(f"/v1/decisions/{body['decision_id']}", headers=bearer(keys[1][role]))
        assert got.status_code == 200, got.text
        assert got.json() == body
    missing = client.get("/v1/decisions/nope", headers=scorer)
    assert missing.status_code == 404


def test_auth_answers_401_and_403(client: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    none = client.post("/v1/decisions", json=payment(1))
    assert none.status_code == 401
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.post("/v1/decisions", json=payment(1), headers=bearer("fwk_0123456789ab_nope"))
    assert bad.status_code == 401
    for role in ("analyst", "admin", "auditor"):
        r = client.post("/v1/decisions", json=payment(1), headers=bearer(keys[1][role]))
        assert r.status_code == 403, (role, r.text)
    assert client.get("/v1/decisions/x", headers=bearer(keys[1]["admin"])).status_code == 403
    assert client.get("/metrics", headers=bearer(keys[1]["scorer"])).status_code == 403
    # nothing was decided by the refused calls
    assert client.app.state.fintwin_runtime.store.count_decisions() == 0  # type: ignore[attr-defined]


def test_invalid_event_is_422_naming_the_field(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    r = client.post(
        "/v1/decisions", json=payment(1, amount="12.345"), headers=bearer(keys[1]["scorer"])
    )
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == ["amount"]
    r = client.post("/v1/decisions", json=payment(1, surprise=1), headers=bearer(keys[1]["scorer"]))
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == ["surprise"]
    # a bad card number is named but never echoed
    r = client.post(
        "/v1/decisions",
        json=payment(1, card_number="4111111111111112"),
        headers=bearer(keys[1]["scorer"]),
    )
    assert r.status_code == 422 and "card_number" in r.text and "4111111111111112" not in r.text


def test_late_events_within_the_allowed_lateness_only(
    client: TestClient, keys: tuple[Path, dict[str, str]]
) -> None:
    # payments are a minute apart; FINTWIN_ALLOWED_LATENESS_S is 60 s by default
    scorer = bearer(keys[1]["scorer"])
    assert client.post("/v1/decisions", json=payment(5), headers=scorer).status_code == 200
    a_minute_late = client.post("/v1/decisions", json=payment(4), headers=scorer)
    assert a_minute_late.status_code == 200, a_minute_late.text
    too_late = client.post("/v1/decisions", json=payment(3), headers=scorer)
    assert too_late.status_code == 409, too_late.text
    assert "lateness" in too_late.json()["detail"]


def test_readyz_healthz_and_metrics(client: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["state_ok"] is True and body["degraded"] is False
    assert body["store"]["database_ok"] is True

    scorer = bearer(keys[1]["scorer"])
    decided = client.post("/v1/decisions", json=payment(1), headers=scorer).json()
    client.get(f"/v1/decisions/{decided['decision_id']}", headers=scorer)
    client.get("/no/such/path")
    text = client.get("/metrics", headers=bearer(keys[1]["auditor"])).text
    assert f'fintwin_decisions_total{{action="{decided["action"]}"}} 1.0' in text
    assert (
        'fintwin_http_requests_total{method="POST",route="/v1/decisions",status="200"} 1.0' in text
    )
    # the route template, never the raw path with its id
    assert 'route="/v1/decisions/{decision_id}"' in text
    assert decided["decision_id"] not in text
    assert 'route="(unmatched)"' in text
    assert "fintwin_spooled_decisions 0.0" in text


def test_openapi_lists_the_routes_and_their_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    post = paths["/v1/decisions"]["post"]
    assert {"200", "401", "403", "409", "413", "422", "429", "503"} <= set(post["responses"])
    assert any(p["name"] == "idempotency-key" for p in post["parameters"])
    assert {"/v1/decisions/{decision_id}", "/healthz", "/readyz", "/metrics"} <= set(paths)


@pytest.mark.parametrize("mode", list(DegradedMode))
def test_dead_redis_gives_degraded_answers_never_5xx(
    mode: DegradedMode,
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    # nothing listens on a port just freed: every Redis call is refused at once
    settings = service_settings(
        model_id,
        keys[0],
        tmp_path / "data",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        degraded_mode=mode,
    )
    app = create_app(settings)
    scorer = bearer(keys[1]["scorer"])
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [client.post("/v1/decisions", json=payment(i), headers=scorer) for i in range(5)]
        assert [r.status_code for r in answers] == [200] * 5, answers[0].text
        for r in answers:
            body = r.json()
            assert body["degraded"] is True
            assert body["degraded_reason"].startswith("state_unavailable")
            assert body["score"] == 0.0
        if mode is DegradedMode.FAIL_OPEN:
            assert {r.json()["action"] for r in answers} == {"approve"}
            assert all(r.json()["degraded_reason"].endswith("fail_open") for r in answers)
        # degraded decisions are recorded and retried idempotently like any other
        retry = client.post("/v1/decisions", json=payment(0), headers=scorer)
        assert retry.json() == answers[0].json()
        assert client.app.state.fintwin_runtime.store.count_decisions() == 5  # type: ignore[attr-defined]

        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["state_ok"] is False and ready.json()["degraded"] is True
        text = client.get("/metrics", headers=bearer(keys[1]["admin"])).text
        assert "fintwin_degraded_decisions_total" in text
        assert 'status="5' not in text


def test_fintwin_serve_answers_over_http(
    model_id: tuple[str, Path], keys: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    mid, registry = model_id
    port = free_port()
    env = {
        **os.environ,
        "FINTWIN_TOKEN_KEY": TOKEN_KEY,
        "FINTWIN_API_KEYS_FILE": str(keys[0]),
        "FINTWIN_REGISTRY_DIR": str(registry),
    }
    env.pop("FINTWIN_DB_URL", None)
    env.pop("FINTWIN_REDIS_URL", None)
    exe = Path(sys.executable).with_name("fintwin")
    cmd = [str(exe), "serve", "--port", str(port), "--model", mid, "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # import + model load; generous on a shared machine
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "fintwin serve did not become ready in 60 s"
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers=bearer(keys[1]["scorer"])) as http:
            r = http.post("/v1/decisions", json=payment(1), headers={"Idempotency-Key": "srv-1"})
            assert r.status_code == 200, r.text
            again = http.post(
                "/v1/decisions", json=payment(1), headers={"Idempotency-Key": "srv-1"}
            )
            assert again.json() == r.json()
            got = http.get(f"/v1/decisions/{r.json()['decision_id']}")
            assert got.json() == r.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), out.decode()
    assert b"Application shutdown complete" in out, out.decode()
    # the decision outlived the process, recorded once, and the ledger verifies
    with Ledger(tmp_path / "decisions.db") as ledger:
        assert [e.kind.value for e in ledger.entries()] == ["model_activation", "decision"]
        assert verify(ledger.store).ok
