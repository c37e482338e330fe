"""What the routers share: how the ledger names a caller, the idempotency header, 503s."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, HTTPException
from fastapi.exceptions import RequestValidationError

from fintwin.service.apikeys import Principal

__all__ = ["REPLAYED_HEADER", "IdempotencyKey", "actor", "invalid", "unavailable"]

REPLAYED_HEADER = "Idempotent-Replayed"
"""``true`` when the answer is what an earlier request with the same key stored."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        pattern=r"^[A-Za-z0-9_.:\-]{1,128}$",
        description="Retries with the same key get the original answer and change nothing.",
    ),
]


def actor(who: Principal) -> str:
    """How the ledger names a caller: roles and key id, never a secret."""
    return f"{'+'.join(sorted(r.value for r in who.roles))}:{who.key_id}"


def unavailable(what: str, exc: Exception) -> HTTPException:
    """503 with ``Retry-After``: the store cannot take or give records now."""
    return HTTPException(503, f"{what} unavailable: {exc}", headers={"Retry-After": "1"})


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    """A 422 found by the route (a cursor no page gave, a policy that does not compile), with
    the body of every other 422. ``where`` is ``body``, ``query`` or ``path``."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])
