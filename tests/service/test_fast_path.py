"""The ASGI fast path of ``POST /v1/decisions`` answers exactly as FastAPI's route does.

Two apps serve the same model on their own stores, one with the fast path and one without; the
same requests (well-formed, replayed, refused for every reason the route refuses) must get the
same status, the same headers that matter and the same body, decision ids and times aside.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _service_app import bearer, payment, service_settings
from fastapi.testclient import TestClient

from fintwin.service.app import create_app
from fintwin.service.fast_path import DecisionFastPath

_VARYING = ("decision_id", "received_at", "decided_at", "latency_s")


@pytest.fixture
def apps(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, TestClient]]:
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    clients = []
    for fast in (True, False):
        settings = service_settings(
            model_id,
            keys[0],
            tmp_path / f"data-{fast}",
            max_body_bytes=4096,
            rate_limit_per_second=0.001,
            rate_limit_burst=40,
        )
        clients.append(TestClient(create_app(settings, fast_path=fast)))
    with clients[0] as fast_client, clients[1] as slow_client:
        yield fast_client, slow_client


def _seen(response: Any) -> tuple[int, dict[str, str], Any]:
    """What a client sees, without what differs between two stores (ids, times)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: ("<varies>" if k in _VARYING else v) for k, v in body.items()}
    headers = {
        name: response.headers[name]
        for name in ("content-type", "www-authenticate", "retry-after", "idempotent-replayed")
        if name in response.headers
    }
    return response.status_code, headers, body


def test_every_answer_is_the_routes_answer(
    apps: tuple[TestClient, TestClient],
    keys: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast, slow = apps
    answered_here: list[int] = []  # per request: the status the fast path sent, 0: handed over
    answer = DecisionFastPath._answer

    async def spy(self: DecisionFastPath, *args: Any) -> int:
        answered_here.append(await answer(self, *args))
        return answered_here[-1]

    monkeypatch.setattr(DecisionFastPath, "_answer", spy)
    scorer = bearer(keys[1]["scorer"])
    as_json = {"Content-Type": "application/json"}

    def body(i: int, **kw: object) -> bytes:
        return json.dumps(payment(i, **kw)).encode()

    cases: list[tuple[int, str, dict[str, str], bytes]] = [
        (200, "decided", scorer, body(1)),
        (200, "replayed by event id", scorer, body(1)),
        (200, "decided under a key", {**scorer, "Idempotency-Key": "req-2"}, body(2)),
        (200, "replayed by key", {**scorer, "Idempotency-Key": "req-2"}, body(3)),
        (200, "X-API-Key", {"X-API-Key": keys[1]["scorer"]}, body(4)),
        (409, "beyond the allowed lateness", scorer, body(-10)),
        (401, "no key", {}, body(5)),
        (401, "unknown key", bearer("fwk_0123456789ab_nope"), body(5)),
        (401, "basic scheme", {"Authorization": "Basic abc"}, body(5)),
        (403, "analyst", bearer(keys[1]["analyst"]), body(5)),
        (422, "not JSON", scorer, b"{not json"),
        (400, "not UTF-8", scorer, b'{"transaction_id": "\xff"}'),
        (422, "a list", scorer, b"[1, 2]"),
        (422, "unknown field", scorer, body(5, extra=1)),
        (422, "naive time", scorer, body(5, timestamp="2025-03-01T09:00:00")),
        (422, "bad Idempotency-Key", {**scorer, "Idempotency-Key": "a b"}, body(5)),
        (413, "too large", scorer, body(5, national_id="x" * 5000)),
        (422, "text/plain", {**scorer, "Content-Type": "text/plain"}, body(5)),
    ]
    for status, name, headers, content in cases:
        send = {**as_json, **headers}
        got = _seen(fast.post("/v1/decisions", content=content, headers=send))
        want = _seen(slow.post("/v1/decisions", content=content, headers=send))
        assert got == want, name
        assert got[0] == status, name
    # well-formed requests (and their 409) were answered by the fast path, the rest by FastAPI
    assert answered_here == [200] * 5 + [409] + [0] * 12
    # the cases above decided payments 1, 2 and 4 and replayed two: both stores agree
    for client in apps:
        assert client.app.state.fintwin_runtime.store.count_decisions() == 3  # type: ignore[attr-defined]


def test_rate_limit_is_taken_once_per_request(
    apps: tuple[TestClient, TestClient], keys: tuple[Path, dict[str, str]]
) -> None:
    """A request the fast path hands to FastAPI (here: a 422) costs one token, not two: the
    bucket of 40 (refilled at 0.001/s) runs out at the same request with and without it."""
    fast, slow = apps
    scorer = {**bearer(keys[1]["scorer"]), "Content-Type": "application/json"}
    for client in apps:
        statuses = [
            client.post("/v1/decisions", content=b"{}", headers=scorer).status_code
            for _ in range(41)
        ]
        assert statuses == [422] * 40 + [429]
    refused = fast.post("/v1/decisions", content=b"{}", headers=scorer)
    assert (
        _seen(refused)[:2] == _seen(slow.post("/v1/decisions", content=b"{}", headers=scorer))[:2]
    )
    assert refused.headers["retry-after"].isdigit()


def test_answers_are_counted_in_the_metrics(
    apps: tuple[TestClient, TestClient], keys: tuple[Path, dict[str, str]]
) -> None:
    fast, _ = apps
    scorer = bearer(keys[1]["scorer"])
    assert fast.post("/v1/decisions", json=payment(1), headers=scorer).status_code == 200
    assert fast.post("/v1/decisions", json=payment(-10), headers=scorer).status_code == 409
    text = fast.get("/metrics", headers=bearer(keys[1]["auditor"])).text
    for status in ("200", "409"):
        line = (
            'fintwin_http_requests_total{method="POST",route="/v1/decisions",'
            f'status="{status}"}} 1.0'
        )
        assert line in text


def test_only_the_decision_request_takes_the_fast_path() -> None:
    def scope(**kw: Any) -> dict[str, Any]:
        return {"type": "http", "path": "/v1/decisions", "method": "POST", "root_path": "", **kw}

    assert DecisionFastPath.matches(scope())
    assert not DecisionFastPath.matches(scope(method="GET"))
    assert not DecisionFastPath.matches(scope(path="/v1/decisions/batch"))
    assert not DecisionFastPath.matches(scope(root_path="/risk"))
    assert not DecisionFastPath.matches(scope(type="websocket"))
