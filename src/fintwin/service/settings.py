"""Settings of the decision service, from the environment (prefix ``FINTWIN_``) or a ``.env`` file.

Secrets (database and Redis URLs, which may hold passwords, and the token key) are
:class:`pydantic.SecretStr`: ``repr``, ``str``, JSON dumps and logs show ``**********``. Errors
about them name the setting, never its value.

==============================  =======================================================
variable                        meaning
==============================  =======================================================
``FINTWIN_DB_URL``              decision log database (``postgresql://...``); unset: the
                                embedded default
``FINTWIN_REDIS_URL``           shared online feature state; unset: in-process
``FINTWIN_REGISTRY_DIR``        model registry folder (also ``FINTWIN_REGISTRY``)
``FINTWIN_DATA_DIR``            embedded database (decisions and audit ledger) and spool
``FINTWIN_MODEL``               model id activated at startup; unset: the last activated
``FINTWIN_ALLOWED_LATENESS_S``  how late (seconds behind the latest event seen) an event may
                                arrive and still be decided; older ones get 409
``FINTWIN_CONFIG_POLL_S``       how often a worker looks for model activations and policy
                                changes made through another worker
``FINTWIN_API_KEYS_FILE``       API keys file written by ``fintwin service keys create``
``FINTWIN_TOKEN_KEY``           key of the tokenisation HMAC, >= 32 bytes
``FINTWIN_TOKEN_KEY_FILE``      ...or a file holding it (e.g. a mounted container secret)
``FINTWIN_TOKENISE_FIELDS``     event fields tokenised besides card number, phone and
                                national id, JSON list (e.g. ``["customer_id"]``)
``FINTWIN_RATE_LIMIT_PER_SECOND``  sustained requests per second per API key
``FINTWIN_RATE_LIMIT_BURST``    requests a key may make at once before being limited
``FINTWIN_MAX_BODY_BYTES``      largest request body accepted (413 above)
``FINTWIN_DEGRADED_MODE``       ``fail_open`` or ``rules_only`` when Redis is unavailable
``FINTWIN_DECISION_LANE``       ``auto``, ``event_loop`` or ``thread``: where single decisions
                                run (see :mod:`fintwin.service.decision_lane`)
``FINTWIN_ROUND_DELAY_MS``      how long the event-loop lane gathers requests into a round
``FINTWIN_HOST``, ``_PORT``     where ``fintwin serve`` listens
==============================  =======================================================
"""

from __future__ import annotations

import enum
import functools
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fintwin.exceptions import ServiceConfigError
from fintwin.service.tokens import OPTIONAL_FIELDS, Tokeniser

__all__ = ["DecisionLaneMode", "DegradedMode", "ServiceSettings", "get_settings"]


class DegradedMode(enum.StrEnum):
    """How decisions are made while the shared feature state (Redis) is unavailable."""

    FAIL_OPEN = "fail_open"
    """Approve, marked ``degraded: true``: the payment is never blocked by an outage."""
    RULES_ONLY = "rules_only"
    """Run the policy's rules on the event's own fields, without stateful features."""


class DecisionLaneMode(enum.StrEnum):
    """Where ``POST /v1/decisions`` requests are decided (:mod:`fintwin.service.decision_lane`)."""

    AUTO = "auto"
    """``event_loop`` when every part of a decision is in the process (the embedded SQLite
    store, the in-process feature state), else ``thread``."""
    EVENT_LOOP = "event_loop"
    """On the event loop, in rounds gathered over ``FINTWIN_ROUND_DELAY_MS``; the loop waits
    for each round's commit."""
    THREAD = "thread"
    """On a thread of its own, so the loop serves HTTP while a decision waits on the network."""


class ServiceSettings(BaseSettings):
    """Everything the service reads from its environment.

    Examples
    --------
    >>> s = ServiceSettings(token_key="t" * 40, db_url="postgresql://app:hunter2@db/fintwin")
    >>> "hunter2" in repr(s) or "tttt" in str(s)
    False
    >>> s.degraded_mode
    <DegradedMode.RULES_ONLY: 'rules_only'>
    """

    model_config = SettingsConfigDict(
        env_prefix="FINTWIN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    db_url: SecretStr | None = Field(
        default=None, description="Decision log database URL; None: embedded default."
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis URL of the shared online feature state; None: in-process."
    )
    registry_dir: Path = Field(
        default=Path("models"),
        validation_alias=AliasChoices("registry_dir", "FINTWIN_REGISTRY_DIR", "FINTWIN_REGISTRY"),
        description="Model registry folder.",
    )
    data_dir: Path = Field(
        default=Path("fintwin-data"),
        description="Embedded database (decisions, audit ledger) and spool folder.",
    )
    model: str | None = Field(
        default=None,
        description="Model id activated at startup (recorded as an activation); None: the "
        "last activated model.",
    )
    credit_model: Path | None = Field(
        default=None,
        description="Credit model directory (fintwin credit train --out) that "
        "POST /v1/credit/decisions decides with; None: that endpoint answers 503.",
    )
    allowed_lateness_s: float = Field(
        default=60.0,
        ge=0,
        description="Seconds an event may lag the latest event seen and still be decided.",
    )
    config_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between a worker's checks for activations and policy changes.",
    )
    api_keys_file: Path = Field(
        default=Path("fintwin-keys.json"), description="API keys file (hashes only)."
    )
    token_key: SecretStr | None = Field(default=None, description="Tokenisation HMAC key.")
    token_key_file: Path | None = Field(
        default=None, description="File holding the tokenisation key (trailing newline ignored)."
    )
    tokenise_fields: tuple[str, ...] = Field(
        default=(), description="Event fields tokenised besides the person identifiers."
    )
    rate_limit_per_second: float = Field(
        default=200.0, gt=0, description="Sustained requests per second per API key."
    )
    rate_limit_burst: int = Field(default=400, ge=1, description="Bucket size per API key.")
    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="Largest request body, bytes (413 above)."
    )
    degraded_mode: DegradedMode = Field(
        default=DegradedMode.RULES_ONLY, description="Decisions while Redis is unavailable."
    )
    decision_lane: DecisionLaneMode = Field(
        default=DecisionLaneMode.AUTO, description="Where single decisions are made."
    )
    round_delay_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="Milliseconds the event-loop lane gathers requests into one round.",
    )
    host: str = Field(default="127.0.0.1", description="Listen address of fintwin serve.")
    port: int = Field(default=8000, ge=1, le=65535, description="Listen port of fintwin serve.")

    @field_validator("tokenise_fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(OPTIONAL_FIELDS))
        if unknown:
            raise ValueError(f"{unknown} are not among {', '.join(OPTIONAL_FIELDS)}")
        return value

    def token_key_bytes(self) -> bytes:
        """The tokenisation key, from ``FINTWIN_TOKEN_KEY`` or the file ``FINTWIN_TOKEN_KEY_FILE``.

        Raises
        ------
        ServiceConfigError
            Neither or both are set, the file cannot be read, or the key is shorter than 32
            bytes. The message never contains the key.
        """
        # checked here rather than in a validator: pydantic's errors quote their input
        if self.token_key is not None and self.token_key_file is not None:
            raise ServiceConfigError("set FINTWIN_TOKEN_KEY or FINTWIN_TOKEN_KEY_FILE, not both")
        if self.token_key is not None:
            key = self.token_key.get_secret_value().strip().encode()
            source = "FINTWIN_TOKEN_KEY"
        elif self.token_key_file is not None:
            try:
                key = self.token_key_file.read_bytes().strip()
            except OSError as exc:
                raise ServiceConfigError(
                    f"FINTWIN_TOKEN_KEY_FILE {self.token_key_file} cannot be read: {exc.strerror}"
                ) from None
            source = f"FINTWIN_TOKEN_KEY_FILE {self.token_key_file}"
        else:
            raise ServiceConfigError(
                "no tokenisation key: set FINTWIN_TOKEN_KEY or FINTWIN_TOKEN_KEY_FILE (identifiers "
                "of people are tokenised before storage and cannot be without a key)"
            )
        try:
            Tokeniser(key)  # checks the length
        except ServiceConfigError as exc:
            raise ServiceConfigError(f"{source}: {exc}") from None
        return key

    def tokeniser(self) -> Tokeniser:
        """The :class:`~fintwin.service.tokens.Tokeniser` of :meth:`token_key_bytes`."""
        return Tokeniser(self.token_key_bytes())


@functools.lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The settings read once from the environment: the app's cached dependency (override it in
    tests with ``app.dependency_overrides[get_settings]``).

    Raises
    ------
    ServiceConfigError
        A variable breaks its rule; the message names each such variable and its rule, never
        its value (pydantic's own errors quote the input, which may be a secret).
    """
    try:
        return ServiceSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ServiceConfigError(f"invalid service settings: {problems}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of an error's location (a field, or the alias it was read by)."""
    name = "_".join(str(part) for part in loc).upper()
    return name if name.startswith("FINTWIN_") else f"FINTWIN_{name}"
