"""The ASGI fast path of ``POST /v1/decisions``: the service's hot request, answered without
FastAPI's per-request machinery.

FastAPI resolves a route's dependencies, parses and validates its parameters and walks its
middleware for every request; for the decision request that cost more CPU than deciding.
:class:`DecisionFastPath` is called by the app (:class:`~fintwin.service.app.ServiceApp`)
before its middleware, and answers a well-formed decision request itself, doing the same checks
in the same order with the same objects:

1. the API key (``Authorization: Bearer`` or ``X-API-Key``) is authenticated by the app's
   :class:`~fintwin.service.security.SecurityGuard`, its role checked against the
   authorisation matrix, its rate limit taken (429 answered here);
2. the body (``application/json``, within the size limit) is parsed with :func:`json.loads`
   and validated by :class:`~fintwin.service.schemas.PaymentEvent`, as FastAPI does;
3. the payment goes to the decision lane and the stored decision is answered by the route's
   own :func:`~fintwin.service.routers.decisions.answer` (409 and 503 as the route raises them).

Anything else (no key or a refused key, a role that is not allowed, a body too large, not
JSON or invalid, a malformed ``Idempotency-Key``) is handed to the app with the body replayed,
so every refusal is the app's own answer: its 401, 403, 413 or 422, with its body. The
principal authenticated here travels in the request state, so the app neither authenticates
the key again nor takes a second token from its bucket. Requests answered here are counted and
timed in the service metrics as the app's middleware counts the others.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from fintwin.exceptions import StoreUnavailableError
from fintwin.service.decision_lane import DecisionRequest, Refused
from fintwin.service.metrics import ServiceMetrics
from fintwin.service.routers._common import IDEMPOTENCY_KEY_PATTERN, actor, unavailable
from fintwin.service.routers.decisions import answer, event_key, refused
from fintwin.service.schemas import PaymentEvent
from fintwin.service.security import AUTHORISATION_MATRIX, SecurityGuard

__all__ = ["DECISIONS_PATH", "DecisionFastPath"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DECISIONS_PATH = "/v1/decisions"

_ROLES = AUTHORISATION_MATRIX.get("POST", DECISIONS_PATH).roles  # type: ignore[union-attr]
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_WANTED = {b"authorization", b"x-api-key", b"content-type", b"content-length", b"idempotency-key"}


class DecisionFastPath:
    """Answers well-formed ``POST /v1/decisions`` requests for an app.

    Parameters
    ----------
    guard : SecurityGuard
        The app's guard (keys, rate limits).
    max_body_bytes : int
        The app's body size limit: a longer body is left to the app's 413.
    metrics : ServiceMetrics
        The app's metrics.
    """

    def __init__(
        self, *, guard: SecurityGuard, max_body_bytes: int, metrics: ServiceMetrics
    ) -> None:
        self.guard = guard
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    @staticmethod
    def matches(scope: Scope) -> bool:
        """Whether the request is one this path may answer."""
        return (
            scope["type"] == "http"
            and scope["path"] == DECISIONS_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        )

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, *, runtime: Any, app: Any
    ) -> None:
        """Answer the request, or hand it to ``app`` (an ASGI callable) when it is not
        well-formed; ``runtime`` is the app's :class:`~fintwin.service.runtime.ServiceRuntime`.
        """
        start = time.perf_counter()
        status = 500  # if this raises before answering, the server answers 500
        try:
            status = await self._answer(scope, receive, send, runtime, app)
        finally:
            if status:
                self.metrics.observe_request(
                    "POST", DECISIONS_PATH, status, time.perf_counter() - start
                )

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, runtime: Any, app: Any
    ) -> int:
        """The status answered here, or 0 when handed to the app (which counts it)."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED and name not in headers:  # the first, as Starlette reads them
                headers[name] = value
        principal = self._principal(headers)
        if principal is None:
            await app(scope, receive, send)
            return 0
        try:
            self.guard.throttle(principal)
        except HTTPException as exc:
            return await _error(exc, scope, receive, send)
        # the app's role check finds it: no second authentication, no second token
        scope.setdefault("state", {})["principal"] = principal
        messages, complete = await self._read_body(headers, receive)
        payment = _payment(headers, messages) if complete else None
        key = None if payment is None else _idempotency_key(headers, payment)
        if payment is None or key is None:
            await app(scope, _replay(messages, receive), send)
            return 0
        try:
            outcome = await runtime.lane.decide(DecisionRequest(payment, key, actor(principal)))
        except StoreUnavailableError as exc:
            return await _error(unavailable("decision store", exc), scope, receive, send)
        if isinstance(outcome, Refused):
            return await _error(refused(outcome), scope, receive, send)
        await answer(outcome.record, replayed=outcome.replayed)(scope, receive, send)
        return 200

    def _principal(self, headers: dict[bytes, bytes]) -> Any:
        """The caller if its key is valid and its roles allow deciding, else None (the app
        answers: 401 or 403)."""
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not credentials:
                return None
            presented = credentials
        else:
            api_key = headers.get(b"x-api-key")
            if not api_key:
                return None
            presented = api_key.decode("latin-1")
        principal = self.guard.keys.authenticate(presented)
        if principal is None or not _ROLES & principal.roles:
            return None
        return principal

    async def _read_body(
        self, headers: dict[bytes, bytes], receive: Receive
    ) -> tuple[list[Message], bool]:
        """The messages of the body, and whether they hold all of it within the limit (else
        the app is given them again, then the rest)."""
        declared = headers.get(b"content-length")
        if declared is not None and not (
            declared.isdigit() and int(declared) <= self.max_body_bytes
        ):
            return [], False
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, False
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return messages, False
            if not message.get("more_body", False):
                return messages, True


def _payment(headers: dict[bytes, bytes], messages: list[Message]) -> PaymentEvent | None:
    """The body as FastAPI reads it (JSON, then the model), or None when it would refuse."""
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json":
        return None
    try:
        return PaymentEvent.model_validate(json.loads(b"".join(m["body"] for m in messages)))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError included
        return None


def _idempotency_key(headers: dict[bytes, bytes], payment: PaymentEvent) -> str | None:
    given = headers.get(b"idempotency-key")
    if given is None:
        return event_key(payment)
    text = given.decode("latin-1")
    return text if _IDEMPOTENCY_KEY.fullmatch(text) else None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` giving the messages already read first, then the rest of the request."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _error(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> int:
    """``exc`` answered as the app's HTTPException handler answers it; its status."""
    response = JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    await response(scope, receive, send)
    return exc.status_code
