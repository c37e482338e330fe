"""What the service's routes share: the runtime (store, ledger, decider, metrics) and the
decider, which turns one tokenised event into a decision, degraded when the state is down.

:class:`ServiceRuntime` is built once per app in its lifespan (:func:`open_runtime`) and
reached by routes through :func:`get_runtime`. The routes stay thin: validate, call the
runtime, answer.

Degraded mode (``FINTWIN_DEGRADED_MODE``)
-----------------------------------------
When the shared feature state (Redis) raises
:class:`~fintwin.exceptions.StateUnavailableError`, the decision is still made, marked
``degraded: true`` with ``degraded_reason``:

- ``rules_only``: features are computed from the event alone (a cold, per-event state: counts
  and sums see this payment only), the policy's rules run on them with score 0.0 (no model:
  its history features would be meaningless). If a rule cannot run on a cold state (a NaN
  feature), the answer falls back to fail-open and the reason says so.
- ``fail_open``: approve, score 0.0, no rules.

The online state is not updated by a degraded decision: after the outage the payment is
missing from its card's history.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from fintwin.exceptions import (
    DataError,
    PolicyError,
    ServiceConfigError,
    StateUnavailableError,
)
from fintwin.features import InMemoryState, OnlineFeatureEngine, RedisState
from fintwin.features.state import StateBackend
from fintwin.governance import LoadedModel, ModelRegistry
from fintwin.governance.ledger import Ledger
from fintwin.risk import Action, DecisionEngine
from fintwin.risk.decision import Decision
from fintwin.risk.model_evaluation import model_feature_set
from fintwin.risk.model_policy import policy_for_model
from fintwin.service.metrics import ServiceMetrics
from fintwin.service.settings import DegradedMode, ServiceSettings
from fintwin.service.tokens import Tokeniser
from fintwin.store.decisions import DecisionStore, open_store

__all__ = [
    "DATA_DIR_ENV",
    "MODEL_ENV",
    "Decider",
    "ServiceRuntime",
    "get_runtime",
    "open_runtime",
]

DATA_DIR_ENV = "FINTWIN_DATA_DIR"
"""Folder of the embedded decision database, its spool and the audit ledger."""
MODEL_ENV = "FINTWIN_MODEL"
"""Model id the service decides with (default: the store's last activated model)."""

STATE_UNAVAILABLE = "state_unavailable"
"""``degraded_reason`` when the shared feature state could not be reached."""


class Decider:
    """One engine over one state backend, serialised by a lock, with the degraded fallback.

    Parameters
    ----------
    model : LoadedModel
        The registered model; its stored policy (else a score-only one) decides.
    state : StateBackend
        :class:`~fintwin.features.RedisState` (decisions run in ``state.atomic``) or an
        in-process one.
    degraded_mode : DegradedMode
        What to answer while the state raises ``StateUnavailableError``.

    Notes
    -----
    The engine is not thread-safe, so :meth:`decide` holds a lock: one process decides one
    event at a time (a few hundred microseconds in memory). Scale with processes.
    """

    def __init__(
        self, model: LoadedModel, state: StateBackend, degraded_mode: DegradedMode
    ) -> None:
        self.model = model
        self.feature_set = model_feature_set(model)
        if self.feature_set.needs_customers:
            raise ServiceConfigError(
                f"model {model.model_id} uses features of the customer's home, which the "
                "service cannot compute yet: serve a model trained without them"
            )
        self.policy = policy_for_model(model)
        self.state = state
        self.degraded_mode = degraded_mode
        # the engine reads its stamp from the state when built: with Redis down at startup
        # it is built by the first decision that reaches Redis (until then: degraded)
        self.engine: DecisionEngine | None = None
        # a second engine whose online state is replaced for every degraded event
        self._cold = DecisionEngine(self.feature_set, model, self.policy, state=InMemoryState())
        self._atomic = isinstance(state, RedisState)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def decide(self, event: Mapping[str, Any]) -> tuple[Decision, str | None]:
        """Decide on one tokenised event.

        Returns
        -------
        (Decision, str or None)
            The decision and its degraded reason (None when not degraded).

        Raises
        ------
        DataError, PolicyError
            The event is out of order or malformed (the client's error, not an outage).
        """
        with self._lock:
            try:
                engine = self.engine
                if engine is None:
                    engine = self.engine = DecisionEngine(
                        self.feature_set, self.model, self.policy, state=self.state
                    )
                if self._atomic:
                    return self.state.atomic(engine.decide, event), None  # type: ignore[attr-defined]
                return engine.decide(event), None
            except StateUnavailableError:
                return self._degraded(event)

    def ping_state(self) -> bool:
        """Whether the feature state answers (always for an in-process one)."""
        ping = getattr(self.state, "ping", None)
        return True if ping is None else bool(ping())

    def _degraded(self, event: Mapping[str, Any]) -> tuple[Decision, str]:
        cold = self._cold
        cold.online = OnlineFeatureEngine(self.feature_set, state=InMemoryState())
        decision = cold.decide(event)
        if self.degraded_mode is DegradedMode.RULES_ONLY:
            try:
                ruled = self.policy.decide(decision.features, 0.0)
            except (DataError, PolicyError) as exc:
                reason = f"{STATE_UNAVAILABLE}; rules failed on a cold state ({exc}): fail_open"
            else:
                return (
                    dataclasses.replace(
                        decision,
                        action=ruled.action,
                        score=0.0,
                        band=ruled.band.threshold,
                        rules=tuple(r.name for r in ruled.fired),
                        reasons=ruled.reasons,
                        explanation=None,
                    ),
                    f"{STATE_UNAVAILABLE}: rules_only",
                )
        else:
            reason = f"{STATE_UNAVAILABLE}: fail_open"
        approved = dataclasses.replace(
            decision,
            action=Action.APPROVE,
            score=0.0,
            band=None,
            rules=(),
            reasons=(),
            explanation=None,
        )
        return approved, reason


@dataclass
class ServiceRuntime:
    """Everything a request handler needs, opened by :func:`open_runtime`."""

    settings: ServiceSettings
    tokeniser: Tokeniser
    store: DecisionStore
    ledger: Ledger
    decider: Decider
    metrics: ServiceMetrics

    def close(self) -> None:
        self.store.close()
        self.ledger.close()


def _state(settings: ServiceSettings, namespace: str) -> StateBackend:
    if settings.redis_url is None:
        return InMemoryState()
    return RedisState.from_url(settings.redis_url.get_secret_value(), namespace=namespace)


def open_runtime(
    settings: ServiceSettings,
    *,
    data_dir: str | Path | None = None,
    model_id: str | None = None,
    metrics: ServiceMetrics | None = None,
) -> ServiceRuntime:
    """Open the store, the ledger, the model's engine and its state backend.

    Parameters
    ----------
    settings : ServiceSettings
    data_dir : str or Path, optional
        Holds the embedded database, its spool and ``audit.db``; default ``FINTWIN_DATA_DIR``,
        else ``./fintwin-data``.
    model_id : str, optional
        Default ``FINTWIN_MODEL``, else the store's last activated model.

    Raises
    ------
    ServiceConfigError
        No model given and none activated, or the model cannot be served.
    """
    data = Path(data_dir or os.environ.get(DATA_DIR_ENV) or "fintwin-data")
    data.mkdir(parents=True, exist_ok=True)
    tokeniser = settings.tokeniser()
    db_url = None if settings.db_url is None else settings.db_url.get_secret_value()
    store = open_store(db_url, data_dir=data)
    try:
        ledger = Ledger(db_url or data / "audit.db")
        try:
            chosen = model_id or os.environ.get(MODEL_ENV)
            if not chosen:
                active = store.active_model()
                if active is None:
                    raise ServiceConfigError(
                        f"no model to serve: set {MODEL_ENV} (e.g. fraud-handbook/1) or "
                        "activate one"
                    )
                chosen = active.model_id
            model = ModelRegistry(settings.registry_dir).load(chosen)
            fs = model_feature_set(model)
            state = _state(settings, fs.definitions_hash()[:16])
            decider = Decider(model, state, settings.degraded_mode)
        except BaseException:
            ledger.close()
            raise
    except BaseException:
        store.close()
        raise
    return ServiceRuntime(settings, tokeniser, store, ledger, decider, metrics or ServiceMetrics())


def get_runtime(request: Request) -> ServiceRuntime:
    """The app's :class:`ServiceRuntime` (a FastAPI dependency)."""
    return request.app.state.fintwin_runtime  # type: ignore[no-any-return]
