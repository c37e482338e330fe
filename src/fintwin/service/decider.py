""":class:`Decider`: one model and policy over one feature state, turning a tokenised event
into a decision, degraded when the state is down; and taking late labels.

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
import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fintwin.exceptions import DataError, PolicyError, ServiceConfigError, StateUnavailableError
from fintwin.features import FeatureSet, InMemoryState, OnlineFeatureEngine, RedisState
from fintwin.features.state import StateBackend
from fintwin.governance import LoadedModel
from fintwin.risk import Action, DecisionEngine, Policy
from fintwin.risk.decision import Decision
from fintwin.risk.model_evaluation import model_feature_set
from fintwin.risk.model_policy import policy_for_model
from fintwin.service.settings import DegradedMode

__all__ = ["STATE_UNAVAILABLE", "Decider"]

T = TypeVar("T")

STATE_UNAVAILABLE = "state_unavailable"
"""``degraded_reason`` when the shared feature state could not be reached."""


class Decider:
    """One engine over one state backend, serialised by a lock, with the degraded fallback.

    Parameters
    ----------
    model : LoadedModel
        The registered model.
    state : StateBackend
        :class:`~fintwin.features.RedisState` (decisions run in ``state.atomic``) or an
        in-process one.
    degraded_mode : DegradedMode
        What to answer while the state raises ``StateUnavailableError``.
    policy : Policy, optional
        The policy in force; default: the one stored with the model, else a score-only one.
    allowed_lateness : timedelta
        How far behind the latest event seen an event may be and still be decided.

    Notes
    -----
    The engine is not thread-safe, so :meth:`decide` holds a lock: one process decides one
    event at a time (a few hundred microseconds in memory). Scale with processes.
    """

    def __init__(
        self,
        model: LoadedModel,
        state: StateBackend,
        degraded_mode: DegradedMode,
        *,
        policy: Policy | None = None,
        allowed_lateness: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self.model = model
        self.feature_set = servable_feature_set(model)
        self.policy = policy or policy_for_model(model)
        self.state = state
        self.degraded_mode = degraded_mode
        self.allowed_lateness = allowed_lateness
        # the engine reads its stamp from the state when built: with Redis down at startup
        # it is built by the first decision that reaches Redis (until then: degraded)
        self.engine: DecisionEngine | None = None
        # a second engine whose online state is replaced for every degraded event
        self._cold = self._engine(InMemoryState())
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
                return self._on_state(lambda engine: engine.decide(event)), None
            except StateUnavailableError:
                return self._degraded(event)

    def add_label(self, event_id: int, is_fraud: bool, available_at: dt.datetime) -> bool:
        """Give the engine a late label of an event it decided (the delayed-label features).

        Returns
        -------
        bool
            True when the label will count; False when the event is unknown to the state
            (decided by another model, in degraded mode, or too long ago), already labelled,
            or the state is unavailable.
        """
        with self._lock:
            try:
                return self._on_state(
                    lambda engine: engine.add_label(event_id, is_fraud, available_at)
                )
            except StateUnavailableError:
                return False

    def _on_state(self, call: Callable[[DecisionEngine], T]) -> T:
        """``call(engine)`` on the shared state, as one transaction on Redis; under the lock.

        Raises StateUnavailableError when the state cannot be reached.
        """
        if self.engine is None:
            self.engine = self._engine(self.state)
        if self._atomic:
            return self.state.atomic(call, self.engine)  # type: ignore[attr-defined,no-any-return]
        return call(self.engine)

    def _engine(self, state: StateBackend) -> DecisionEngine:
        return DecisionEngine(
            self.feature_set,
            self.model,
            self.policy,
            state=state,
            allowed_lateness=self.allowed_lateness,
        )

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


def servable_feature_set(model: LoadedModel) -> FeatureSet:
    """The model's feature set, if the service can compute it from a payment event.

    Raises
    ------
    ServiceConfigError
        The model uses features of the customer's home (the service has no customer table).
    """
    feature_set = model_feature_set(model)
    if feature_set.needs_customers:
        raise ServiceConfigError(
            f"model {model.model_id} uses features of the customer's home, which the "
            "service cannot compute yet: serve a model trained without them"
        )
    return feature_set
