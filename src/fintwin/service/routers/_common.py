"""What the routers share: how the ledger names a caller, the idempotency header, 503s."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, HTTPException
from fastapi.exceptions import RequestValidationError

from fintwin.service.apikeys import Principal
from fintwin.service.schemas import ErrorOut

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "REPLAYED_HEADER",
    "UNAVAILABLE_RESPONSE",
    "IdempotencyKey",
    "actor",
    "invalid",
    "replayed_header",
    "unavailable",
]

REPLAYED_HEADER = "Idempotent-Replayed"
"""``true`` when the answer is what an earlier request with the same key stored."""

UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "The decision store cannot be reached (for decisions: and no spool)",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    }
}
"""The ``responses=`` entry of a route that answers :func:`unavailable`."""

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
"""What an ``Idempotency-Key`` may be."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retries with the same key get the original answer and change nothing.",
    ),
]


def actor(who: Principal) -> str:
    """How the ledger names a caller: roles and key id, never a secret."""
    return f"{'+'.join(sorted(r.value for r in who.roles))}:{who.key_id}"


def replayed_header(replayed: bool) -> dict[str, str]:
    """The :data:`REPLAYED_HEADER` of an answer."""
    return {REPLAYED_HEADER: "true" if replayed else "false"}


def unavailable(what: str, exc: Exception) -> HTTPException:
    """503 with ``Retry-After``: the store cannot take or give records now."""
    return HTTPException(503, f"{what} unavailable: {exc}", headers={"Retry-After": "1"})


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    """A 422 found by the route (a cursor no page gave, a policy that does not compile), with
    the body of every other 422. ``where`` is ``body``, ``query`` or ``path``."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])
