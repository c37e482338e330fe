"""What the service's routes share: :class:`ServiceRuntime` (store, ledger and its feed, the
decider in force, registry, metrics), opened once per process by :func:`open_runtime` and
reached by routes through :func:`get_runtime`. The routes stay thin: validate, call the
runtime, answer.

Which model and policy decide
-----------------------------
The store is the one source of truth, so that every worker of a deployment decides alike: the
model in force is the latest model activation, and its policy the latest policy change for
that model (else the policy stored with the model, else a score-only one). A worker applies an
activation or policy change it receives at once, and picks up those made through other
workers within ``FINTWIN_CONFIG_POLL_S`` seconds. ``FINTWIN_MODEL``, when set, is activated at
startup (an activation by ``operator:FINTWIN_MODEL``, recorded once however many workers
start together).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

from fastapi import Request

from fintwin.exceptions import ServiceConfigError
from fintwin.features import InMemoryState, RedisState
from fintwin.features.state import StateBackend
from fintwin.governance import LoadedModel, ModelRegistry
from fintwin.governance.ledger import Ledger
from fintwin.risk import Policy, load_policy
from fintwin.service.decider import Decider, servable_feature_set
from fintwin.service.decision_lane import DecisionLane, EventLoopLane, ThreadLane
from fintwin.service.metrics import ServiceMetrics
from fintwin.service.settings import DecisionLaneMode, ServiceSettings
from fintwin.service.tokens import Tokeniser
from fintwin.store.audit_feed import AuditFeed
from fintwin.store.decisions import DecisionStore, ModelActivation, PolicyChange, open_store

__all__ = ["STARTUP_ACTOR", "ServiceRuntime", "get_runtime", "lane_mode", "open_runtime"]

_log = logging.getLogger(__name__)

STARTUP_ACTOR = "operator:FINTWIN_MODEL"
"""Who the ledger says activated the model named by ``FINTWIN_MODEL`` at startup."""


@dataclass
class ServiceRuntime:
    """Everything a request handler needs, opened by :func:`open_runtime`.

    ``decider`` is replaced (never mutated) when the model or policy in force changes, so a
    request that read it decides wholly with one model and one policy.
    """

    settings: ServiceSettings
    tokeniser: Tokeniser
    store: DecisionStore
    ledger: Ledger
    feed: AuditFeed
    registry: ModelRegistry
    metrics: ServiceMetrics
    decider: Decider = field(init=False)
    lane: DecisionLane = field(init=False)
    _states: dict[str, StateBackend] = field(default_factory=dict, init=False)
    _swap: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _poller: threading.Thread | None = field(default=None, init=False)

    # --- model and policy in force ---------------------------------------------------------

    def model(self, model_id: str) -> LoadedModel:
        """The model in force when it is ``model_id`` (no reload), else :meth:`load_servable`."""
        if self.decider.model_id == model_id:
            return self.decider.model
        return self.load_servable(model_id)

    def load_servable(self, model_id: str) -> LoadedModel:
        """The registered model, checked to be servable.

        Raises
        ------
        ModelNotFoundError, ServiceConfigError
        """
        model = self.registry.load(model_id)
        servable_feature_set(model)
        return model

    def check_policy(self, model: LoadedModel, policy_yaml: str) -> Policy:
        """The compiled policy, checked against the model's features (raises PolicyError)."""
        return load_policy(policy_yaml, servable_feature_set(model).names)

    def _state_for(self, model: LoadedModel) -> StateBackend:
        # one state per feature set: models with the same features share their history
        namespace = servable_feature_set(model).definitions_hash()[:16]
        state = self._states.get(namespace)
        if state is None:
            if self.settings.redis_url is None:
                state = InMemoryState()
            else:
                url = self.settings.redis_url.get_secret_value()
                state = RedisState.from_url(url, namespace=namespace)
            self._states[namespace] = state
        return state

    def _policy_of(self, model: LoadedModel, change: PolicyChange | None) -> Policy | None:
        """The compiled policy of a stored change; None: the model's own policy decides."""
        return None if change is None else self.check_policy(model, change.policy_yaml)

    def _serve(self, model: LoadedModel, policy: Policy | None) -> Decider:
        decider = Decider(
            model,
            self._state_for(model),
            self.settings.degraded_mode,
            policy=policy,
            allowed_lateness=dt.timedelta(seconds=self.settings.allowed_lateness_s),
        )
        self.decider = decider
        return decider

    def refresh(self) -> bool:
        """Serve the store's model and policy in force if they changed; True when swapped."""
        active = self.store.active_model()
        if active is None:
            return False
        change = self.store.active_policy(active.model_id)
        with self._swap:
            current = self.decider
            wanted_hash = None if change is None else change.policy_hash
            if current.model_id == active.model_id and (
                wanted_hash is None or current.policy.content_hash == wanted_hash
            ):
                return False
            model = self.model(active.model_id)
            self._serve(model, self._policy_of(model, change))
        _log.info(
            "now serving %s (policy %s)", active.model_id, self.decider.policy.content_hash[:12]
        )
        return True

    def activate(self, activation: ModelActivation) -> tuple[ModelActivation, bool]:
        """Record an activation and serve its model now; (stored activation, created).

        The model is loaded and checked before anything is recorded: a model that cannot be
        served is never activated.
        """
        model = self.load_servable(activation.model_id)
        with self._swap:
            recorded = self.store.record_activation(activation)
            self._serve(model, self._policy_of(model, self.store.active_policy(model.model_id)))
        return recorded.record, recorded.created

    def change_policy(
        self, change: PolicyChange, model: LoadedModel, policy: Policy
    ) -> tuple[PolicyChange, bool]:
        """Record a policy change and serve it now if its model is in force; (stored change,
        created).

        ``policy`` is ``change.policy_yaml`` compiled for ``model`` by :meth:`check_policy`:
        the caller checks the policy before it builds the change, which carries its hash.
        """
        with self._swap:
            recorded = self.store.record_policy_change(change)
            if recorded.created and self.decider.model_id == change.model_id:
                self._serve(model, policy)
        return recorded.record, recorded.created

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.config_poll_s):
            try:
                self.refresh()
            except Exception as exc:  # a store outage or a bad model must not stop polling
                _log.warning("could not refresh the model and policy in force: %s", exc)

    def __post_init__(self) -> None:
        self.lane = (
            EventLoopLane(self, round_delay_s=self.settings.round_delay_ms / 1000)
            if lane_mode(self.settings) is DecisionLaneMode.EVENT_LOOP
            else ThreadLane(self)
        )

    def start(self) -> None:
        """Start the decision lane, the audit feed and the model/policy poller."""
        self.lane.start()
        self.feed.start()
        self._poller = threading.Thread(target=self._poll, name="fintwin-config", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        self.lane.close()
        self.feed.close()
        self.store.close()
        self.ledger.close()


def lane_mode(settings: ServiceSettings) -> DecisionLaneMode:
    """The decision lane the settings ask for, ``auto`` resolved: on the event loop when the
    store is the embedded SQLite file and the feature state is in the process."""
    if settings.decision_lane is not DecisionLaneMode.AUTO:
        return settings.decision_lane
    db_url = None if settings.db_url is None else settings.db_url.get_secret_value()
    local_store = db_url is None or db_url.startswith("sqlite:///")
    if local_store and settings.redis_url is None:
        return DecisionLaneMode.EVENT_LOOP
    return DecisionLaneMode.THREAD


def _startup_model(
    store: DecisionStore, settings: ServiceSettings
) -> tuple[str, PolicyChange | None]:
    """The model to serve at startup, activating ``FINTWIN_MODEL`` when it is not in force."""
    active = store.active_model()
    if settings.model is not None and (active is None or active.model_id != settings.model):
        # the id derives from the activation it replaces: workers starting together record one
        previous = "none" if active is None else active.activation_id
        active = store.record_activation(
            ModelActivation(
                settings.model,
                activated_by=STARTUP_ACTOR,
                note="FINTWIN_MODEL at startup",
                activation_id=f"startup:{settings.model}:{previous}",
            )
        ).record
    if active is None:
        raise ServiceConfigError(
            "no model to serve: set FINTWIN_MODEL (e.g. fraud-handbook/1) or activate one"
        )
    return active.model_id, store.active_policy(active.model_id)


def open_runtime(
    settings: ServiceSettings, *, metrics: ServiceMetrics | None = None
) -> ServiceRuntime:
    """Open the store, the ledger (in the store's database) and its feed, and the decider of
    the model and policy in force. Call :meth:`ServiceRuntime.start` to run the feed.

    Raises
    ------
    ServiceConfigError
        No model given and none activated, or the model cannot be served.
    """
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    tokeniser = settings.tokeniser()
    db_url = None if settings.db_url is None else settings.db_url.get_secret_value()
    store = open_store(db_url, data_dir=data)
    ledger = None
    try:
        # the ledger shares the store's database: SQLite writes chain their records in their
        # own transactions; elsewhere the feed chains the outbox atomically
        ledger = Ledger(db_url or data / "decisions.db")
        store.chain_in_transaction(ledger)
        runtime = ServiceRuntime(
            settings,
            tokeniser,
            store,
            ledger,
            AuditFeed(store, ledger),
            ModelRegistry(settings.registry_dir),
            metrics or ServiceMetrics(),
        )
        model_id, change = _startup_model(store, settings)
        model = runtime.load_servable(model_id)
        runtime._serve(model, runtime._policy_of(model, change))
    except BaseException:
        if ledger is not None:
            ledger.close()
        store.close()
        raise
    return runtime


async def get_runtime(request: Request) -> ServiceRuntime:
    """The app's :class:`ServiceRuntime` (a FastAPI dependency; async, so that FastAPI does not
    spend a threadpool hop on it)."""
    return request.app.state.fintwin_runtime  # type: ignore[no-any-return]
