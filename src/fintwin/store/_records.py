"""The records a :class:`~fintwin.store.decisions.DecisionStore` keeps, and what it answers.

Every record is frozen, validated on construction (timestamps must be timezone-aware and are
kept in UTC) and converts to and from JSON-ready dicts (:meth:`to_json` / ``from_json``), the
form the spool writes and the service returns.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fintwin._validation import to_enum
from fintwin.exceptions import ParameterError
from fintwin.governance.ledger import CanonicalJson, canonical_json
from fintwin.risk.policy import Action

if TYPE_CHECKING:
    from fintwin.risk.decision import Decision

__all__ = [
    "DecisionRecord",
    "Label",
    "ModelActivation",
    "PolicyChange",
    "Recorded",
    "ReviewPage",
    "ReviewVerdict",
    "StoreStatus",
    "Verdict",
]

# Keys that would hold a person's identifier in clear; the security layer tokenises such
# values before a decision is built, so meeting one here is a bug upstream, refused loudly.
_CLEAR_IDENTIFIER_KEYS = frozenset(
    {"pan", "card_number", "cardnumber", "cvv", "cvc", "phone", "phone_number", "id_number"}
)


def utc(name: str, value: datetime) -> datetime:
    """``value`` in UTC; refuses naive datetimes (their instant is unknown)."""
    if not isinstance(value, datetime):
        raise ParameterError(f"{name} must be a datetime (got {type(value).__name__})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ParameterError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise ParameterError(f"{name} must be a non-empty string of at most 512 characters")
    return value


# a clear-identifier key as it appears in lower-cased JSON text ("pan":); a key inside a
# string value is escaped (\"pan\":) and does not match, so a miss proves the body holds none
_CLEAR_IDENTIFIER_JSON = tuple(f'"{key}":' for key in sorted(_CLEAR_IDENTIFIER_KEYS))


def _refuse_clear_identifiers(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() in _CLEAR_IDENTIFIER_KEYS:
                raise ParameterError(
                    f"decision body field {path}{key} would store a person's identifier; "
                    "tokenise it before storing (fintwin.service.security)"
                )
            _refuse_clear_identifiers(item, f"{path}{key}.")
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_clear_identifiers(item, path)


PackedDecision = tuple[
    str, str, str, datetime, datetime, str, float, "str | None", str, bool, str, "str | None"
]
"""A :class:`DecisionRecord` as :meth:`DecisionRecord.packed` gives it."""


class Verdict(Enum):
    """An analyst's verdict on a decision: it stands, or another action replaces it."""

    CONFIRM = "confirm"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision as the service answered it, and as the store keeps it.

    Attributes
    ----------
    decision_id : str
        Unique id the service gave the decision (a UUID unless chosen otherwise).
    idempotency_key : str
        The request's ``Idempotency-Key`` (or the event id): one stored decision per key.
    event_id : str
        The scored event's id.
    received_at, decided_at : datetime
        When the request arrived and when the decision was made; timezone-aware, kept in UTC.
    action : Action
    score : float
        The model's fraud probability, finite.
    model_id : str or None
        The registry id of the model that scored, None without a model.
    policy_hash : str
        Content hash of the policy that decided.
    degraded : bool
        True when the decision was made in a degraded mode (e.g. without shared feature state).
    body : mapping
        The full decision as the client received it (JSON-ready; NaN is refused).
    actor : str or None
        Who asked (role and API key id, never a secret): the audit ledger's actor. Kept in the
        ledger and the spool, not in the decision table, and not compared.
    """

    decision_id: str
    idempotency_key: str
    event_id: str
    received_at: datetime
    decided_at: datetime
    action: Action
    score: float
    model_id: str | None
    policy_hash: str
    degraded: bool
    body: Mapping[str, Any]
    actor: str | None = field(default=None, compare=False)
    # the body's canonical JSON, encoded once: stored, answered and chained from this text
    _body_json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _text("decision_id", self.decision_id)
        _text("idempotency_key", self.idempotency_key)
        _text("event_id", self.event_id)
        _text("policy_hash", self.policy_hash)
        if self.model_id is not None:
            _text("model_id", self.model_id)
        object.__setattr__(self, "received_at", utc("received_at", self.received_at))
        object.__setattr__(self, "decided_at", utc("decided_at", self.decided_at))
        object.__setattr__(self, "action", to_enum(Action, "action", self.action))
        score = float(self.score)
        if not math.isfinite(score):
            raise ParameterError(f"score must be finite (got {self.score})")
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "degraded", bool(self.degraded))
        if not isinstance(self.body, Mapping):
            raise ParameterError(f"body must be a mapping (got {type(self.body).__name__})")
        try:
            # RFC 8785 text: what is stored, answered and chained, encoded once
            body_json = canonical_json(self.body)
        except ParameterError as exc:
            raise ParameterError(f"decision body must be JSON without NaN: {exc}") from None
        lowered = body_json.lower()
        if any(key in lowered for key in _CLEAR_IDENTIFIER_JSON):  # walk to name the field
            _refuse_clear_identifiers(self.body, "")
        object.__setattr__(self, "_body_json", body_json)

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        idempotency_key: str,
        event_id: str,
        received_at: datetime,
        decided_at: datetime | None = None,
        degraded: bool = False,
        degraded_reason: str | None = None,
        decision_id: str | None = None,
        actor: str | None = None,
    ) -> DecisionRecord:
        """Build the record of a :class:`~fintwin.risk.decision.Decision`.

        The body is ``decision.to_dict()`` plus ``decision_id``, ``idempotency_key``,
        ``event_id``, ``received_at`` / ``decided_at`` (ISO 8601, UTC), ``degraded`` and
        ``degraded_reason``: what the service returns to the client, and what the audit
        ledger records.
        """
        decision_id = decision_id or uuid.uuid4().hex
        received_at = utc("received_at", received_at)
        decided_at = utc("decided_at", decided_at or now_utc())
        body = decision.to_dict()
        body.update(
            decision_id=decision_id,
            idempotency_key=idempotency_key,
            event_id=event_id,
            received_at=received_at.isoformat(),
            decided_at=decided_at.isoformat(),
            degraded=degraded,
            degraded_reason=degraded_reason,
        )
        return cls(
            decision_id=decision_id,
            idempotency_key=idempotency_key,
            event_id=event_id,
            received_at=received_at,
            decided_at=decided_at,
            action=decision.action,
            score=decision.score,
            model_id=decision.model_id,
            policy_hash=decision.policy_hash,
            degraded=degraded,
            body=body,
            actor=actor,
        )

    def body_json(self) -> str:
        """The body as canonical JSON text (RFC 8785): what the client was answered."""
        return self._body_json

    def to_json(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "idempotency_key": self.idempotency_key,
            "event_id": self.event_id,
            "received_at": self.received_at.isoformat(),
            "decided_at": self.decided_at.isoformat(),
            "action": self.action.value,
            "score": self.score,
            "model_id": self.model_id,
            "policy_hash": self.policy_hash,
            "degraded": self.degraded,
            "body": self.body,
            "actor": self.actor,
        }

    def packed(self) -> PackedDecision:
        """The record as a tuple of scalars, the body as its JSON text: what an in-memory
        cache should hold, since the garbage collector stops scanning such a tuple (a
        record's body is a handful of dicts and lists it would scan at every full
        collection)."""
        return (
            self.decision_id,
            self.idempotency_key,
            self.event_id,
            self.received_at,
            self.decided_at,
            self.action.value,
            self.score,
            self.model_id,
            self.policy_hash,
            self.degraded,
            self._body_json,
            self.actor,
        )

    @classmethod
    def unpacked(cls, packed: PackedDecision) -> DecisionRecord:
        """The record of :meth:`packed`."""
        *head, body_json, actor = packed
        return cls(*head, body=json.loads(body_json), actor=actor)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DecisionRecord:
        return cls(
            decision_id=data["decision_id"],
            idempotency_key=data["idempotency_key"],
            event_id=data["event_id"],
            received_at=datetime.fromisoformat(data["received_at"]),
            decided_at=datetime.fromisoformat(data["decided_at"]),
            action=data["action"],
            score=data["score"],
            model_id=data["model_id"],
            policy_hash=data["policy_hash"],
            degraded=data["degraded"],
            body=data["body"],
            actor=data.get("actor"),
        )

    def audit_payload(self) -> CanonicalJson:
        """What the audit ledger records of the decision, encoded: its body, which holds its
        idempotency key (added when the body lacks it)."""
        if self.body.get("idempotency_key") == self.idempotency_key:
            return CanonicalJson(self._body_json)
        return CanonicalJson(canonical_json({"idempotency_key": self.idempotency_key, **self.body}))


@dataclass(frozen=True, slots=True)
class ReviewVerdict:
    """An analyst's verdict on a stored decision; verdicts are appended, never changed.

    Attributes
    ----------
    decision_id : str
        The decision reviewed.
    verdict : Verdict
    analyst : str
        Who decided (an API key's name or a tokenised user id).
    comment : str
        Free text; may be empty.
    action : Action or None
        For :attr:`Verdict.OVERRIDE`, the action that replaces the decision's; None for a
        confirmation.
    created_at : datetime
        Timezone-aware; now by default.
    verdict_id : str
        Unique id; a retried request that sends the same id gets the original verdict back.
    """

    decision_id: str
    verdict: Verdict
    analyst: str
    comment: str = ""
    action: Action | None = None
    created_at: datetime = field(default_factory=now_utc)
    verdict_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        _text("decision_id", self.decision_id)
        _text("analyst", self.analyst)
        _text("verdict_id", self.verdict_id)
        verdict = to_enum(Verdict, "verdict", self.verdict)
        object.__setattr__(self, "verdict", verdict)
        if not isinstance(self.comment, str) or len(self.comment) > 10_000:
            raise ParameterError("comment must be a string of at most 10000 characters")
        if self.action is not None:
            object.__setattr__(self, "action", to_enum(Action, "action", self.action))
        if (verdict is Verdict.OVERRIDE) != (self.action is not None):
            raise ParameterError(
                "an override must name the action that replaces the decision's, and a "
                f"confirmation must not (verdict {verdict.value}, action {self.action})"
            )
        object.__setattr__(self, "created_at", utc("created_at", self.created_at))

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict_id": self.verdict_id,
            "decision_id": self.decision_id,
            "verdict": self.verdict.value,
            "action": None if self.action is None else self.action.value,
            "analyst": self.analyst,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Label:
    """What became known about an event later (a chargeback, a confirmed fraud, a cleared alert).

    Attributes
    ----------
    event_id : str
    is_fraud : bool
    available_at : datetime
        When the label became known; timezone-aware.
    source : str
        Where it came from (``chargeback``, ``review``, ``customer_report``...); one label per
        event and source.
    recorded_at : datetime
        When the store received it; now by default.
    actor : str or None
        Who sent it (role and API key id): the audit ledger's actor; not compared.
    """

    event_id: str
    is_fraud: bool
    available_at: datetime
    source: str
    recorded_at: datetime = field(default_factory=now_utc)
    actor: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _text("event_id", self.event_id)
        _text("source", self.source)
        if not isinstance(self.is_fraud, bool):
            raise ParameterError(f"is_fraud must be a bool (got {self.is_fraud!r})")
        object.__setattr__(self, "available_at", utc("available_at", self.available_at))
        object.__setattr__(self, "recorded_at", utc("recorded_at", self.recorded_at))

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "is_fraud": self.is_fraud,
            "available_at": self.available_at.isoformat(),
            "source": self.source,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ModelActivation:
    """One activation of a registered model: the latest activation is the active model.

    Attributes
    ----------
    model_id : str
        The registry id activated.
    activated_by : str
        Who asked (an admin key's name).
    note : str
        Why; may be empty.
    activated_at : datetime
        Timezone-aware; now by default.
    activation_id : str
        Unique id; resending the same id records nothing new.
    """

    model_id: str
    activated_by: str
    note: str = ""
    activated_at: datetime = field(default_factory=now_utc)
    activation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        _text("model_id", self.model_id)
        _text("activated_by", self.activated_by)
        _text("activation_id", self.activation_id)
        if not isinstance(self.note, str):
            raise ParameterError("note must be a string")
        object.__setattr__(self, "activated_at", utc("activated_at", self.activated_at))

    def to_json(self) -> dict[str, Any]:
        return {
            "activation_id": self.activation_id,
            "model_id": self.model_id,
            "activated_by": self.activated_by,
            "note": self.note,
            "activated_at": self.activated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """A decision policy put into force for a model; the latest change for a model is in force.

    Attributes
    ----------
    model_id : str
        The registry id of the model the policy decides with.
    policy_hash : str
        Content hash of the compiled policy (:attr:`fintwin.risk.Policy.content_hash`).
    policy_yaml : str
        The policy text as uploaded.
    changed_by : str
        Who uploaded it (an admin key's role and id).
    note : str
        Why; may be empty.
    changed_at : datetime
        Timezone-aware; now by default.
    change_id : str
        Unique id; resending the same id records nothing new.
    """

    model_id: str
    policy_hash: str
    policy_yaml: str
    changed_by: str
    note: str = ""
    changed_at: datetime = field(default_factory=now_utc)
    change_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        _text("model_id", self.model_id)
        _text("policy_hash", self.policy_hash)
        _text("changed_by", self.changed_by)
        _text("change_id", self.change_id)
        if not isinstance(self.policy_yaml, str) or not self.policy_yaml.strip():
            raise ParameterError("policy_yaml must be a non-empty string")
        if not isinstance(self.note, str):
            raise ParameterError("note must be a string")
        object.__setattr__(self, "changed_at", utc("changed_at", self.changed_at))

    def to_json(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "model_id": self.model_id,
            "policy_hash": self.policy_hash,
            "policy_yaml": self.policy_yaml,
            "changed_by": self.changed_by,
            "note": self.note,
            "changed_at": self.changed_at.isoformat(),
        }


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    """What a write returns.

    Attributes
    ----------
    record : T
        The stored record: the caller's when it was new, the ORIGINAL one when its key (or id)
        was already stored.
    created : bool
        True when this call stored it; False when it returns what an earlier call stored.
    spooled : bool
        True when the record is durable in the local spool, not yet in the database.
    """

    record: T
    created: bool
    spooled: bool = False


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of the review queue, oldest decision first.

    Attributes
    ----------
    items : tuple of DecisionRecord
    next_cursor : str or None
        Pass it back as ``cursor`` for the next page; None on the last page.
    """

    items: tuple[DecisionRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """Health and counters of a store, for ``/readyz`` and ``/metrics``.

    Attributes
    ----------
    backend : str
        ``"sqlite"`` or ``"postgres"``.
    database_ok : bool
        The database answered a trivial query just now (or within the last second).
    database_error : str or None
        Why not, when it did not.
    spooled : int
        Decisions held in the local spool, waiting for the database.
    spool_bytes : int
        Size of the spool files.
    torn_records : int
        Torn or corrupt spool records skipped since the store opened (a crash mid-append).
    drained : int
        Decisions replayed from the spool into the database since the store opened.
    spool_enabled : bool
        Decisions go to a local spool when the database is unavailable.
    commits : int
        Write transactions committed since the store opened (one fsync each).
    writes : int
        Records written by those transactions (``writes / commits`` is the group-commit
        batching factor).
    """

    backend: str
    database_ok: bool
    database_error: str | None
    spooled: int = 0
    spool_bytes: int = 0
    torn_records: int = 0
    drained: int = 0
    spool_enabled: bool = False
    commits: int = 0
    writes: int = 0

    @property
    def ready(self) -> bool:
        """Decisions can be made durable now: the database answers, or the spool takes them."""
        return self.database_ok or self.spool_enabled
