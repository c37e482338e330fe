"""The service against its own OpenAPI schema: generated requests, zero 5xx, schema-conformant
answers.

- schemathesis generates requests for every operation of the schema (valid and invalid ones,
  its coverage and fuzzing phases) and checks each answer: no 5xx, a status the schema lists,
  the content type and body the schema declares for that status. Each operation is called
  with a key of a role the authorisation matrix allows on it, and a few times without a key
  and with each role it refuses.
- Hypothesis generates payments that are valid by the documented rules but extreme (times at
  the ends of the calendar with any offset, amounts up to 16 digits, huge locations, text and
  int64 ids, every optional field), which schemathesis rarely builds from the schema alone:
  each is decided or refused (409), never a 5xx; likewise their batches and late labels.

The requests go in-process to the real app (a trained model, SQLite store and audit ledger in a
temp data dir) through schemathesis's ASGI client; Starlette's TestClient runs the app's
lifespan, so the module opens and closes the runtime. Everything is derandomised.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from _service_app import TOKEN_KEY, bearer, payment, service_settings
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fintwin.exceptions import FintwinError
from fintwin.service.apikeys import ApiKeyFile, Role
from fintwin.service.app import create_app
from fintwin.service.security import AUTHORISATION_MATRIX
from fintwin.service.settings import ServiceSettings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# per operation: 30 generated examples with an allowed key (plus schemathesis's coverage
# examples), 5 without a key / with refused roles; a few seconds per operation at most
ALLOWED_EXAMPLES = 30
REFUSED_EXAMPLES = 5
_SETTINGS = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(hypothesis.HealthCheck),
}


def _openapi_document() -> dict[str, Any]:
    """The schema of the app as ``create_app`` builds it (no runtime is opened for this)."""
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.json"
        ApiKeyFile(keys).create([Role.ADMIN])
        settings = ServiceSettings(token_key=TOKEN_KEY, api_keys_file=keys, data_dir=Path(tmp))
        return create_app(settings).openapi()


SCHEMA = schemathesis.openapi.from_dict(_openapi_document())


@dataclass
class Service:
    client: TestClient
    session: ASGIClient
    keys: dict[str, str]


@pytest.fixture(scope="module")
def service(
    model_id: tuple[str, Path],
    keys: tuple[Path, dict[str, str]],
    credit_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("schema") / "data"
    settings = service_settings(
        model_id,
        keys[0],
        data,
        # no rate limit in reach: 429 is declared, but would hide what the operation does
        rate_limit_per_second=1e6,
        rate_limit_burst=1_000_000,
        # generated events have any time: let the engine decide them rather than answer 409
        allowed_lateness_s=1e12,
        credit_model=credit_model,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FINTWIN_DB_URL", raising=False)
        mp.delenv("FINTWIN_REDIS_URL", raising=False)
        app = create_app(settings)
        # TestClient runs the lifespan (store, ledger, feed); schemathesis's client, never
        # entered, sends the generated requests to the same running app
        with TestClient(app, raise_server_exceptions=False) as client:
            scorer = bearer(keys[1]["scorer"])
            # a few decisions, so that reads and reviews can find something
            for i in range(3):
                r = client.post("/v1/decisions", json=payment(i), headers=scorer)
                assert r.status_code == 200, r.text
            session = ASGIClient(app)
            yield Service(client, session, keys[1])
            session.close()


def _roles(method: str, path: str) -> tuple[list[Role], list[Role]]:
    access = AUTHORISATION_MATRIX.get(method, path)
    assert access is not None, f"{method} {path} is not in the authorisation matrix"
    if access.public:
        return list(Role), []
    return sorted(access.roles), sorted(set(Role) - access.roles)


def _call(service: Service, case: Any, headers: dict[str, str]) -> None:
    # the key goes in Authorization, which wins over any X-API-Key schemathesis generates
    response = case.call(session=service.session, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


@SCHEMA.parametrize()
@hypothesis.settings(max_examples=ALLOWED_EXAMPLES, **_SETTINGS)
def test_allowed_role_gets_no_5xx_and_schema_conformant_answers(
    case: Any, service: Service
) -> None:
    # case.method may be one the operation does not have (schemathesis tries those too)
    allowed, _ = _roles(case.operation.method, case.operation.path)
    # spread the examples over the allowed roles, deterministically
    role = allowed[len(repr(case.body)) % len(allowed)]
    _call(service, case, bearer(service.keys[role.value]))


@SCHEMA.parametrize()
@hypothesis.settings(max_examples=REFUSED_EXAMPLES, **_SETTINGS)
def test_no_key_and_refused_roles_get_no_5xx(case: Any, service: Service) -> None:
    _, refused = _roles(case.operation.method, case.operation.path)
    _call(service, case, {})
    for role in refused:
        _call(service, case, bearer(service.keys[role.value]))


# --- valid but extreme events --------------------------------------------------------------

_ID_TEXT = st.from_regex(r"\A[A-Za-z0-9_.:\-]{1,64}\Z")
_INT64 = st.integers(0, 2**63 - 1)
_PAYMENT_ID = st.integers(0, 2**53 - 1)  # exact in JSON and in the audit ledger
_ENTITY = st.one_of(_INT64, _ID_TEXT)
# any offset Python and ISO 8601 allow (up to a minute short of a day), any instant of the
# calendar: a time at its ends with an offset may not exist in UTC
_OFFSET = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)


def _in_utc_range(when: dt.datetime) -> bool:
    try:
        when.astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


# times at the ends of the calendar that UTC cannot hold are invalid (422): tested apart
_TIME = st.datetimes(timezones=_OFFSET).filter(_in_utc_range).map(dt.datetime.isoformat)
_AMOUNT = st.decimals(Decimal("0.01"), Decimal("9999999999999999.99"), places=2).map(str)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def _card_number(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=11, max_size=18))
    total = 0
    for i, ch in enumerate(reversed(body)):  # the digits doubled once the check digit follows
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str(-total % 10)


_OPTIONAL = {
    "currency": st.from_regex(r"\A[A-Z]{3}\Z"),
    "card_id": _ENTITY,
    "card_number": _card_number(),
    "device_id": _ENTITY,
    "ip_prefix": st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
    "location_x": _FLOAT,
    "location_y": _FLOAT,
    "country": st.from_regex(r"\A[A-Z]{2}\Z"),
    "phone": st.from_regex(r"\A\+?[0-9][0-9 ().\-]{4,22}[0-9]\Z"),
    "national_id": st.from_regex(r"\A[A-Z0-9]{4,32}\Z"),
}
EVENTS = st.fixed_dictionaries(
    {
        "transaction_id": _PAYMENT_ID,
        "timestamp": _TIME,
        "amount": _AMOUNT,
        "customer_id": _ENTITY,
        "terminal_id": _ENTITY,
        "channel": st.sampled_from(["pos", "ecom"]),
    },
    optional=_OPTIONAL,
)
# the two ends of the calendar, where an offset takes the time out of what UTC can hold
LATEST = "9999-12-31T23:59:59-14:00"
EARLIEST = "0001-01-01T00:00:00+14:00"


def _label(when: str, source: str) -> dict[str, Any]:
    return {"transaction_id": 10_000, "is_fraud": True, "source": source, "available_at": when}


def _edge(when: str, i: int) -> dict[str, Any]:
    # ids the fixture did not decide: a replay would not reach the engine
    return {**payment(0), "transaction_id": 900_000 + i, "timestamp": when}


@pytest.mark.parametrize("when", [LATEST, EARLIEST])
def test_times_utc_cannot_hold_are_422_naming_the_field(service: Service, when: str) -> None:
    scorer = bearer(service.keys["scorer"])
    r = service.client.post("/v1/decisions", json=_edge(when, 1), headers=scorer)
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == ["timestamp"]
    batch = service.client.post(
        "/v1/decisions/batch", json={"events": [_edge(when, 3), payment(3)]}, headers=scorer
    )
    assert batch.status_code == 422 and batch.json()["detail"][0]["field"] == "events.0.timestamp"
    label = service.client.post(
        "/v1/labels", json={"labels": [_label(when, "chargeback")]}, headers=scorer
    )
    assert label.status_code == 422
    assert label.json()["detail"][0]["field"] == "labels.0.available_at"


@hypothesis.given(event=EVENTS)
@hypothesis.settings(max_examples=60, **_SETTINGS)
def test_valid_extreme_events_are_decided_never_5xx(service: Service, event: dict) -> None:
    scorer = bearer(service.keys["scorer"])
    r = service.client.post("/v1/decisions", json=event, headers=scorer)
    # 409: refused by the engine (e.g. out of order); 422 would mean the event is invalid,
    # which the strategy must not produce
    assert r.status_code in (200, 409), (r.status_code, r.text[:500])
    if r.status_code == 200:
        body = r.json()
        assert body["event_id"] == str(event["transaction_id"])
        assert body["action"] in {"approve", "review", "step_up", "decline"}
        if "card_number" in event:  # tokenised: never answered back
            assert event["card_number"] not in r.text


@hypothesis.given(events=st.lists(EVENTS, min_size=1, max_size=5))
@hypothesis.settings(max_examples=20, **_SETTINGS)
def test_valid_extreme_batches_are_decided_never_5xx(service: Service, events: list) -> None:
    r = service.client.post(
        "/v1/decisions/batch", json={"events": events}, headers=bearer(service.keys["scorer"])
    )
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert len(r.json()["results"]) == len(events)


@hypothesis.given(
    labels=st.lists(
        st.fixed_dictionaries(
            {
                "transaction_id": _PAYMENT_ID,
                "is_fraud": st.booleans(),
                "source": st.sampled_from(["chargeback", "investigation", "customer_report"]),
            },
            optional={"available_at": _TIME},
        ),
        min_size=1,
        max_size=5,
    )
)
# a label before year 1000, sent twice: the second reads the stored one back
@hypothesis.example(labels=[_label("0999-12-31T00:00:00+00:00", "investigation")] * 2)
@hypothesis.settings(max_examples=20, **_SETTINGS)
def test_valid_extreme_labels_are_stored_never_5xx(service: Service, labels: list) -> None:
    r = service.client.post(
        "/v1/labels", json={"labels": labels}, headers=bearer(service.keys["analyst"])
    )
    assert r.status_code == 200, (r.status_code, r.text[:500])


def test_a_payment_with_the_largest_id_reaches_the_audit_ledger(service: Service) -> None:
    """transaction_id goes up to 2**53 - 1; its decision must be chained like any other."""
    scorer = bearer(service.keys["scorer"])
    too_large = {**payment(4), "transaction_id": 2**53}
    refused = service.client.post("/v1/decisions", json=too_large, headers=scorer)
    assert refused.status_code == 422 and "transaction_id" in refused.text
    event = {**payment(4), "transaction_id": 2**53 - 1}
    r = service.client.post("/v1/decisions", json=event, headers=scorer)
    assert r.status_code == 200, r.text
    runtime = service.client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    try:
        runtime.feed.catch_up()
    except FintwinError as exc:  # the record stays in the outbox and blocks all after it
        pytest.fail(f"the audit feed cannot chain the decision: {exc}")
    decided = [
        e.payload.get("decision_id") for e in runtime.ledger.entries() if e.kind.value == "decision"
    ]
    assert r.json()["decision_id"] in decided


def test_everything_generated_reached_the_ledger_and_it_verifies(service: Service) -> None:
    """Last in the module: whatever the generated requests did, the audit feed caught up."""
    runtime = service.client.app.state.fintwin_runtime  # type: ignore[attr-defined]
    runtime.feed.catch_up()
    assert runtime.store.audit_backlog() == 0
    decisions = sum(1 for e in runtime.ledger.entries() if e.kind.value == "decision")
    assert decisions == runtime.store.count_decisions()
    assert runtime.ledger.verify().ok
