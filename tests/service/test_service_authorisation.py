"""The authorisation matrix over the real app: every endpoint x every role, no key, bad keys;
and the per-key rate limit (429) and the body size limit (413)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _service_app import bearer, payment, service_settings
from fastapi.testclient import TestClient

from fintwin.risk import builtin_policy_path
from fintwin.service.apikeys import ApiKeyFile, Role
from fintwin.service.app import create_app
from fintwin.service.security import AUTHORISATION_MATRIX, Access

NO_KEY = "no key"
UNKNOWN_KEY = "unknown key"
MALFORMED_KEY = "malformed key"
REVOKED_KEY = "revoked key"
CALLERS = [r.value for r in Role] + [NO_KEY, UNKNOWN_KEY, MALFORMED_KEY, REVOKED_KEY]


@dataclass
class Service:
    client: TestClient
    keys: dict[str, str]  # caller -> key (absent for NO_KEY)
    model_id: str
    decision_id: str
    _events: Iterator[int]

    def headers(self, caller: str) -> dict[str, str]:
        key = self.keys.get(caller)
        return {} if key is None else bearer(key)

    def next_event(self) -> int:
        return next(self._events)


@pytest.fixture(scope="module")
def service(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    credit_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    keys_file, by_role = keys
    file = ApiKeyFile(keys_file)
    revoked = file.create([Role.SCORER, Role.ANALYST, Role.ADMIN, Role.AUDITOR], name="gone")
    file.revoke(revoked.record.id)
    callers = {
        **by_role,
        # the id part of a well-formed key that was never issued
        UNKNOWN_KEY: "fwk_0123456789ab_" + "x" * 40,
        MALFORMED_KEY: "not-a-key",
        REVOKED_KEY: revoked.key,
    }
    data = tmp_path_factory.mktemp("authz") / "data"
    # a limit no test of the matrix reaches: 429 is tested on its own below
    settings = service_settings(
        model_id,
        keys_file,
        data,
        rate_limit_per_second=1e6,
        rate_limit_burst=1_000_000,
        credit_model=credit_model,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FINTWIN_DB_URL", raising=False)
        mp.delenv("FINTWIN_REDIS_URL", raising=False)
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            first = client.post("/v1/decisions", json=payment(0), headers=bearer(by_role["scorer"]))
            assert first.status_code == 200, first.text
            yield Service(
                client, callers, model_id[0], first.json()["decision_id"], itertools.count(1)
            )


def _request(service: Service, access: Access) -> dict[str, Any]:
    """Method, URL and a minimal valid body for one endpoint of the matrix."""
    path = access.path
    body: Any = None
    match (access.method, access.path):
        case ("POST", "/v1/decisions"):
            body = payment(service.next_event())
        case ("POST", "/v1/decisions/batch"):
            body = {"events": [payment(service.next_event())]}
        case ("GET", "/v1/decisions/{id}"):
            path = path.format(id=service.decision_id)
        case ("POST", "/v1/reviews/{id}"):
            path = path.format(id=service.decision_id)
            body = {"verdict": "confirm", "comment": "checked with the card holder"}
        case ("POST", "/v1/labels"):
            body = {
                "labels": [{"transaction_id": 10_000, "is_fraud": False, "source": "chargeback"}]
            }
        case ("POST", "/v1/credit/decisions"):
            body = {"application_id": "a-1", "applicant": {"income": 2500.0, "region": "south"}}
        case ("POST", "/v1/models/{id}/activate"):
            path = path.format(id=service.model_id)
            body = {"note": "authorisation matrix test"}
        case ("POST", "/v1/policies"):
            body = {"policy_yaml": builtin_policy_path("handbook").read_text()}
        case ("GET", _):
            pass
        case _:  # a new endpoint: give it a body here
            pytest.fail(f"no request for {access.method} {access.path}")
    return {"method": access.method, "url": path, **({} if body is None else {"json": body})}


def test_the_matrix_covers_every_route_of_the_app(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path not in ("/openapi.json", "/docs", "/redoc")
    }
    listed = {(a.method, a.path) for a in AUTHORISATION_MATRIX}
    # the matrix names parameters {id}; the app's own names differ, so compare shapes
    assert len(routes) == len(listed)
    assert all(AUTHORISATION_MATRIX.get(m, p) is not None for m, p in routes)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("access", list(AUTHORISATION_MATRIX), ids=lambda a: f"{a.method} {a.path}")
def test_every_endpoint_by_every_caller(service: Service, access: Access, caller: str) -> None:
    before = service.client.app.state.fintwin_runtime.store.count_decisions()  # type: ignore[attr-defined]
    r = service.client.request(**_request(service, access), headers=service.headers(caller))
    role = Role(caller) if caller in Role._value2member_map_ else None
    if access.public:
        assert r.status_code == 200, r.text
    elif caller == NO_KEY or role is None:
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        # refused keys are never echoed
        assert service.keys.get(caller, "\0") not in r.text
    elif role in access.roles:
        assert r.status_code not in (401, 403, 429), r.text
        assert r.status_code < 500, r.text
        # the minimal bodies are valid: an allowed role is served
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert role.value in r.json()["detail"]
    if access.method == "POST" and access.path.startswith("/v1/decisions"):
        after = service.client.app.state.fintwin_runtime.store.count_decisions()  # type: ignore[attr-defined]
        allowed = role is not None and role in access.roles
        assert after == before + (1 if allowed else 0)


def test_rate_limit_gives_429_with_retry_after_per_key(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    monkeypatch.delenv("FINTWIN_REDIS_URL", raising=False)
    # 0.2 tokens/s: after the burst of 3 the next token is 5 s away, whatever the machine's speed
    settings = service_settings(
        model_id, keys[0], tmp_path / "data", rate_limit_per_second=0.2, rate_limit_burst=3
    )
    analyst, auditor = bearer(keys[1]["analyst"]), bearer(keys[1]["auditor"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answers = [client.get("/v1/reviews", headers=analyst) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429], answers[-1].text
        limited = answers[-1]
        assert int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        # another key has its own bucket
        assert client.get("/v1/reviews", headers=auditor).status_code == 200
        # a decision refused by the limit is not decided
        scorer = bearer(keys[1]["scorer"])
        decided = [client.post("/v1/decisions", json=payment(i), headers=scorer) for i in range(4)]
        assert [r.status_code for r in decided] == [200, 200, 200, 429]
        assert client.app.state.fintwin_runtime.store.count_decisions() == 3  # type: ignore[attr-defined]
        # probes are never limited
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_body_over_the_limit_gives_413(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINTWIN_DB_URL", raising=False)
    monkeypatch.delenv("FINTWIN_REDIS_URL", raising=False)
    settings = service_settings(model_id, keys[0], tmp_path / "data", max_body_bytes=2048)
    scorer = bearer(keys[1]["scorer"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        small = client.post("/v1/decisions", json=payment(1), headers=scorer)
        assert small.status_code == 200, small.text
        # 30 events of ~190 bytes: over 2 KiB, with a Content-Length
        big = {"events": [payment(i) for i in range(2, 32)]}
        r = client.post("/v1/decisions/batch", json=big, headers=scorer)
        assert r.status_code == 413, r.text
        assert "detail" in r.json()

        # the same without a Content-Length (chunked): cut off while reading
        def chunks() -> Iterator[bytes]:
            yield b'{"events": ['
            for _ in range(40):
                yield b'{"transaction_id": 1, "amount": "1.00"}, ' * 2

        r = client.post(
            "/v1/decisions/batch",
            content=chunks(),
            headers={**scorer, "Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        # nothing of the refused batches was decided
        assert client.app.state.fintwin_runtime.store.count_decisions() == 1  # type: ignore[attr-defined]
