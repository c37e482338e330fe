"""Strict request models of the decision service (pydantic v2).

Every model forbids unknown fields, takes amounts as decimals (at most two decimals, so a float
such as ``12.345`` is refused rather than rounded) and times only with a timezone. A refused
request gets a 422 whose ``detail`` names each field (:func:`validation_error_body`), without
echoing the values sent: they may hold a card number.

Send amounts as JSON strings (``"12.34"``) when they may exceed 15 significant digits: a JSON
number passes through a binary float on the way in.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from fintwin.data.schemas.vocab import Channel
from fintwin.risk import Action
from fintwin.service.tokens import _luhn_ok, _normalise, mask_card_numbers
from fintwin.store.decisions import Verdict

__all__ = [
    "MAX_BATCH_EVENTS",
    "MAX_COMMENT_CHARS",
    "BatchIn",
    "ErrorOut",
    "FieldErrorOut",
    "LabelIn",
    "LabelSource",
    "LabelsIn",
    "PaymentEvent",
    "ReviewVerdictIn",
    "ValidationErrorOut",
    "validation_error_body",
]

MAX_BATCH_EVENTS = 1000
"""Most events in one ``POST /v1/decisions/batch``."""
MAX_COMMENT_CHARS = 2000

_INT64_MAX = 2**63 - 1
_JSON_SAFE_MAX = 2**53 - 1
_ID_TEXT = r"^[A-Za-z0-9_.:\-]{1,64}$"

Id = Annotated[StrictInt, Field(ge=0, le=_JSON_SAFE_MAX)]
"""A non-negative payment key below 2**53: exact as a JSON number in every client (and in the
audit ledger, whose canonical JSON refuses larger integers)."""
_ID_RE = re.compile(_ID_TEXT)


def _entity_id(value: Any) -> int | str:
    if type(value) is int and 0 <= value <= _INT64_MAX:
        return value
    if isinstance(value, str) and _ID_RE.fullmatch(value):
        return value
    raise ValueError(
        "must be a non-negative 64-bit integer or a text id of 1 to 64 letters, digits or _.:-"
    )


def _time_text(value: Any) -> Any:
    # epoch numbers would be read as seconds or milliseconds depending on their size
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 text with a timezone, not a number")
    return value


EntityId = Annotated[
    int | str,
    PlainValidator(_entity_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": _INT64_MAX},
                {"type": "string", "pattern": _ID_TEXT},
            ]
        }
    ),
]
"""An entity key: an int64 as in a world directory, or a short text id (letters, digits,
``_.:-``)."""


def _in_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00 is after the last representable instant
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


Time = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_in_utc)]
"""A time with a timezone, as ISO 8601 text; kept in UTC."""
Amount = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2, allow_inf_nan=False)]
"""A positive amount in currency units with at most two decimals (the ``decimal(18,2)`` of
the world's tables)."""
Comment = Annotated[str, Field(min_length=1, max_length=MAX_COMMENT_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class PaymentEvent(_Strict):
    """One card payment to decide on: the fields of the ``transactions`` table the feature
    engine reads (docs/world.md), plus person identifiers that are tokenised before storage.

    Labels (``is_fraud``, ``label_available_at``) are not accepted here: they arrive later
    through ``POST /v1/labels``.
    """

    transaction_id: Id = Field(description="Payment key, unique; increasing with time.")
    timestamp: Time = Field(
        description="When the payment was authorised, with a timezone (ISO 8601, e.g. "
        "2024-05-01T12:00:00Z)."
    )
    amount: Amount = Field(description="Amount paid, currency units, > 0, at most 2 decimals.")
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code; null: the institution's currency.",
    )
    customer_id: EntityId = Field(description="Card holder.")
    card_id: EntityId | None = Field(
        default=None, description="Card used (null: the card number's token stands for it)."
    )
    card_number: str | None = Field(
        default=None,
        description="Card number (PAN), 12 to 19 digits passing the Luhn check; spaces and "
        "hyphens allowed. Tokenised before anything is stored.",
    )
    terminal_id: EntityId = Field(description="Terminal (merchant point of sale or web shop).")
    channel: Channel = Field(description="pos (card present) or ecom.")
    device_id: EntityId | None = Field(default=None, description="Device of an ecom payment.")
    ip_prefix: str | None = Field(
        default=None,
        pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}$",
        description="/24 network prefix a.b.c of an ecom payment.",
    )
    location_x: float | None = Field(
        default=None, allow_inf_nan=False, description="Where the payer was, east km."
    )
    location_y: float | None = Field(
        default=None, allow_inf_nan=False, description="Where the payer was, north km."
    )
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2 of the location."
    )
    phone: str | None = Field(
        default=None,
        pattern=r"^\+?[0-9 ().\-]{6,24}$",
        description="Payer's phone number. Tokenised before anything is stored.",
    )
    national_id: str | None = Field(
        default=None,
        min_length=4,
        max_length=32,
        description="Payer's national id number. Tokenised before anything is stored.",
    )

    @field_validator("card_number")
    @classmethod
    def _card_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = _normalise("card_number", value)
        if not (digits.isdigit() and 12 <= len(digits) <= 19):
            raise ValueError("must be 12 to 19 digits (spaces and hyphens allowed)")
        if not _luhn_ok(digits):
            raise ValueError("fails the Luhn check digit")
        return digits

    def to_event(self) -> dict[str, Any]:
        """The event as the decision engine reads it (nulls left out; identifiers in clear:
        tokenise with :func:`fintwin.service.tokens.service_event` before storing)."""
        # the fields are flat scalars: read them directly (model_dump costs more than deciding
        # on some of them)
        out = {name: value for name in _EVENT_FIELDS if (value := getattr(self, name)) is not None}
        out["channel"] = self.channel.value
        return out


_EVENT_FIELDS = tuple(PaymentEvent.model_fields)


class BatchIn(_Strict):
    """Several payments decided in one request, in the order given."""

    events: list[PaymentEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class LabelSource(enum.StrEnum):
    """Where a late label comes from."""

    CHARGEBACK = "chargeback"
    INVESTIGATION = "investigation"
    CUSTOMER_REPORT = "customer_report"


class LabelIn(_Strict):
    """A label arriving after the decision: a chargeback, a confirmed fraud or a cleared payment."""

    transaction_id: Id = Field(description="The payment the label is about.")
    is_fraud: StrictBool
    source: LabelSource
    available_at: Time | None = Field(
        default=None, description="When the label became known; null: when received."
    )

    def effective_time(self, received: dt.datetime) -> dt.datetime:
        """``available_at``, or ``received`` (tz-aware) when the label gave none."""
        return self.available_at or received


class LabelsIn(_Strict):
    """Labels arriving together (a day's chargebacks), recorded in one commit."""

    labels: list[LabelIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class ReviewVerdictIn(_Strict):
    """An analyst's verdict. ``override`` names the action that replaces the engine's (recorded
    beside it, never over it); ``confirm`` takes no action. Card numbers in the comment are
    masked."""

    verdict: Verdict
    action: Action | None = Field(
        default=None,
        validate_default=True,
        description="The action replacing the engine's: required with override, absent with "
        "confirm.",
    )
    comment: Comment

    @field_validator("action")
    @classmethod
    def _action_with_override(cls, value: Action | None, info: ValidationInfo) -> Action | None:
        verdict = info.data.get("verdict")
        if verdict is Verdict.OVERRIDE and value is None:
            raise ValueError("is required when the verdict is override")
        if verdict is Verdict.CONFIRM and value is not None:
            raise ValueError("must be absent when the verdict is confirm")
        return value

    @field_validator("comment")
    @classmethod
    def _no_pan(cls, value: str) -> str:
        return mask_card_numbers(value)


class FieldErrorOut(BaseModel):
    field: str = Field(description="Dotted name of the field, e.g. events.3.amount.")
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """Body of every 422: each refused field named, never the value sent."""

    message: str
    detail: list[FieldErrorOut]


class ErrorOut(BaseModel):
    """Body of every 4xx answer of the security layer (401, 403, 413, 429)."""

    detail: str


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The 422 body for pydantic/FastAPI validation errors: each error with the dotted ``field``
    it is about, its ``loc``, message and type, and a one-line ``message``; never the input
    value (it may be a card number).

    Examples
    --------
    >>> body = validation_error_body(
    ...     [{"loc": ("body", "amount"), "msg": "too many decimals", "type": "x", "input": 1.234}]
    ... )
    >>> body["message"], body["detail"][0]["field"], "input" in body["detail"][0]
    ('invalid request: amount: too many decimals', 'amount', False)
    """
    detail = [
        {
            "field": _field_name(tuple(e.get("loc", ()))),
            "loc": list(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]
    message = "; ".join(f"{d['field']}: {d['msg']}" for d in detail)
    return {"message": f"invalid request: {message}", "detail": detail}
