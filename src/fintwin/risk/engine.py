"""The decision engine: features, model score, policy and reasons for each payment.

:meth:`DecisionEngine.decide` takes one event (a mapping, as
:meth:`~fintwin.features.OnlineFeatureEngine.update` reads it), in time order, and returns a
:class:`Decision`:

1. online features from incremental state (:class:`~fintwin.features.OnlineFeatureEngine`);
2. the model's calibrated fraud probability (0.0 without a model);
3. the policy's action: the most severe of the fired rules and the score band;
4. reasons: the fired rules' reason codes and, when the decision is explained, the model's
   largest positive exact tree-SHAP contributions (LightGBM ``pred_contrib``);
5. the feature snapshot, the latency and the ids a decision record needs.

:meth:`DecisionEngine.decide_batch` gives the same decisions for a whole table at once (offline
features, one vectorised prediction, :meth:`Policy.decide_many`): a fresh engine fed the table's
rows in ``(timestamp, id)`` order decides identically, scores equal to the last bit.

Which decisions are explained (:class:`Explain`)
-------------------------------------------------
Tree SHAP costs far more than the score. ``bench/bench_decisions.py`` on the handbook features
(one thread, median of single rows): 16 us to fill the row and score it with 300 trees of 15
leaves, against 0.24 ms for the contributions of 100 such trees, 0.69 ms for 300 and 2.1 ms for
300 trees of 31 leaves; the cost grows with trees x leaves x path length. Explaining every
decision would multiply the decision's cost by five or more. The default,
:attr:`Explain.ALERTS`, explains only the decisions that are not ``approve``: those are the ones
a customer may contest or an analyst reviews, and a small share of payments (1.1% in the
benchmark), so the bulk of the latency distribution does not pay for it; its tail does, once
alerts exceed 1% of decisions, p99 includes one explanation. Fired rules are reported for every
decision. :attr:`Explain.ALL` explains every decision, :attr:`Explain.NONE` none;
:meth:`DecisionEngine.explain` explains any feature snapshot later (an approval a customer asks
about, or alerts explained after the answer, off the payment's critical path).

Examples
--------
A rules-only engine (no model: the score is 0.0) with the built-in handbook policy:

>>> from fintwin.features import handbook_feature_set
>>> from fintwin.risk import builtin_policy_path, load_policy
>>> fs = handbook_feature_set()
>>> engine = DecisionEngine(fs, None, load_policy(builtin_policy_path("handbook"), fs.names))
>>> event = {"transaction_id": 1, "timestamp": 0, "customer_id": 3, "terminal_id": 8}
>>> d = engine.decide(event | {"amount": "250.00"})
>>> d.action, d.reasons, d.score
(<Action.DECLINE: 'decline'>, ('AMOUNT_ABOVE_220',), 0.0)
>>> engine.decide(event | {"transaction_id": 2, "amount": "12.50"}).action
<Action.APPROVE: 'approve'>
"""

from __future__ import annotations

import datetime as dt
import operator
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fintwin._validation import to_enum
from fintwin.exceptions import DataError, ParameterError
from fintwin.features import FeatureSet, OnlineFeatureEngine, StateBackend, compute_offline
from fintwin.governance import LoadedModel
from fintwin.risk._scorer import ModelScorer, top_contributions
from fintwin.risk.decision import DECISION_SCHEMA, Decision, Explain, Explanation
from fintwin.risk.policy import Action, Policy

__all__ = ["DecisionEngine"]


class DecisionEngine:
    """Decide on payments one at a time, or replay a table, with one feature set, model and policy.

    Parameters
    ----------
    feature_set : FeatureSet
        The features; the model and the policy must have been built on it.
    model : LoadedModel or None
        A binary LightGBM model from the registry whose metadata records this feature set's
        definitions hash and whose features are among its names. None: rules only, score 0.0.
    policy : Policy
        Every feature its rules use must be in ``feature_set``. If it names a model
        (``policy.model``), ``model`` must be that one.
    state : StateBackend, optional
        Online feature state (a fresh in-memory one by default); see
        :class:`~fintwin.features.OnlineFeatureEngine`.
    customers : pyarrow.Table, optional
        ``customer_id, home_x, home_y``, for features that need homes.
    top_reasons : int
        How many contributing features an explanation lists.
    explain : Explain or str
        Which decisions are explained; :attr:`Explain.ALERTS` (non-approve) by default.
    allowed_lateness : datetime.timedelta or int
        Passed to :class:`~fintwin.features.OnlineFeatureEngine`: how much older than the
        latest event seen (timedelta, or ms) an event may be; it is then decided with features
        as of that latest time. 0 (default): strict ``(timestamp, id)`` order, and
        :meth:`decide_batch` gives the same decisions.

    Raises
    ------
    ParameterError
        The model was trained on other feature definitions or on features the set lacks, the
        policy uses features the set lacks or names another model, or a parameter is invalid.

    Attributes
    ----------
    feature_set, model, policy, customers, top_reasons
        As given.
    explain_mode : Explain
        Which decisions :meth:`decide` and :meth:`decide_batch` explain.
    online : OnlineFeatureEngine
        The online features; its ``state`` is :attr:`state`.

    Notes
    -----
    Not thread-safe: the online state and the prepared single-row predictors are mutated by
    every decision. Use one engine per thread (or per process) over a shared state backend.
    If the policy refuses an event's features (say a NaN a rule needs) :meth:`decide` raises
    after the online state has counted the event: the payment happened, whatever the decision.
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        model: LoadedModel | None,
        policy: Policy,
        *,
        state: StateBackend | None = None,
        customers: pa.Table | None = None,
        top_reasons: int = 3,
        explain: Explain | str = Explain.ALERTS,
        allowed_lateness: dt.timedelta | int = 0,
    ) -> None:
        if not isinstance(feature_set, FeatureSet):
            raise ParameterError(f"feature_set must be a FeatureSet (got {type(feature_set)})")
        if model is not None and not isinstance(model, LoadedModel):
            raise ParameterError(f"model must be a LoadedModel or None (got {type(model)})")
        if not isinstance(policy, Policy):
            raise ParameterError(f"policy must be a Policy (got {type(policy)})")
        if isinstance(top_reasons, bool) or not isinstance(top_reasons, int) or top_reasons < 0:
            raise ParameterError(f"top_reasons must be an integer >= 0 (got {top_reasons!r})")
        self.explain_mode = to_enum(Explain, "explain", explain)
        _check_policy(feature_set, policy, model)
        if model is not None:
            _check_model(feature_set, model)
        self.feature_set = feature_set
        self.model = model
        self.policy = policy
        self.top_reasons = top_reasons
        self.customers = customers
        self.online = OnlineFeatureEngine(
            feature_set, state=state, customers=customers, allowed_lateness=allowed_lateness
        )
        self._scorer = None if model is None else ModelScorer(model)
        self._model_id = None if model is None else model.model_id
        self._model_digest = None if model is None else model.version.digest
        if self._scorer is not None:
            names = self._scorer.feature_names
            # itemgetter of one name returns a scalar, not a tuple
            self._pick = operator.itemgetter(*names) if len(names) > 1 else _one(names[0])

    @property
    def state(self) -> StateBackend:
        """The online feature state."""
        return self.online.state

    @property
    def allowed_lateness(self) -> int:
        """The allowed lateness of events, ms (0: strict order)."""
        return self.online.allowed_lateness

    def __repr__(self) -> str:
        return (
            f"DecisionEngine({self.feature_set!r}, model={self._model_id!r}, "
            f"policy={self.policy.name!r} v{self.policy.version}, "
            f"explain={self.explain_mode.value!r})"
        )

    # -- online ------------------------------------------------------------------------------
    def decide(self, event: Mapping[str, Any]) -> Decision:
        """Decide on one event, updating the online state.

        Parameters
        ----------
        event : mapping
            One payment as :meth:`OnlineFeatureEngine.update` reads it; events must come in
            ``(timestamp, id)`` order, or late by at most ``allowed_lateness`` (the decision
            then uses features as of the latest time seen, and carries the event's own
            timestamp). A replayed event may carry ``is_fraud`` and ``label_available_at``,
            which count only once they are available.

        Returns
        -------
        Decision

        Raises
        ------
        DataError
            The event is out of order (beyond the allowed lateness) or malformed, or a
            feature a rule needs is NaN.
        PolicyError
            A rule fails on this event.
        """
        start = time.perf_counter()
        online = self.online
        feats = online.update(event)
        t, event_id = online.last_event  # type: ignore[misc]  # set by the update just made
        scorer = self._scorer
        score = 0.0
        if scorer is not None:
            scorer.row[:] = self._pick(feats)
            score = scorer.score_row()
        decision = self.policy.decide(feats, score)
        explanation = None
        if scorer is not None and (
            self.explain_mode is Explain.ALL
            or (self.explain_mode is Explain.ALERTS and decision.action is not Action.APPROVE)
        ):
            explanation = self._explain_row(scorer.row.tolist(), scorer.contributions_row())
        latency = time.perf_counter() - start
        return Decision(
            event_id,
            t,
            decision.action,
            decision.score,
            decision.band.threshold,
            tuple([r.name for r in decision.fired]),
            decision.reasons,
            explanation,
            MappingProxyType(feats),
            latency,
            self._model_id,
            self._model_digest,
            self.policy.name,
            self.policy.version,
            self.policy.content_hash,
        )

    def explain(self, features: Mapping[str, float]) -> Explanation:
        """The model's explanation of a feature snapshot, such as :attr:`Decision.features`.

        For decisions :meth:`decide` did not explain (see :class:`Explain`): an approval a
        customer asks about, or explanations computed after the answer, off the payment's
        critical path. Equals what :meth:`decide` with :attr:`Explain.ALL` would have attached.

        Raises
        ------
        ParameterError
            The engine has no model.
        KeyError
            A model feature is missing from ``features``.
        """
        scorer = self._scorer
        if scorer is None:
            raise ParameterError("this engine has no model, so no contributions to explain")
        scorer.row[:] = self._pick(features)
        return self._explain_row(scorer.row.tolist(), scorer.contributions_row())

    def _explain_row(self, values: list[float], contributions: list[float]) -> Explanation:
        names = self._scorer.feature_names  # type: ignore[union-attr]
        bias = contributions[-1]
        return Explanation(
            margin=sum(contributions),
            bias=bias,
            contributions=MappingProxyType(dict(zip(names, contributions, strict=False))),
            top=top_contributions(names, values, contributions, self.top_reasons),
        )

    def add_label(self, event_id: int, is_fraud: bool, available_at: Any) -> bool:
        """Record a live label of an event decided earlier; see
        :meth:`OnlineFeatureEngine.add_label`."""
        return self.online.add_label(event_id, is_fraud, available_at)

    # -- batch -------------------------------------------------------------------------------
    def decide_batch(self, table: pa.Table, *, num_threads: int = 1) -> pa.Table:
        """Decide on every event of a table at once, as a fresh engine would one by one.

        The engine's own online state is neither read nor changed.

        Parameters
        ----------
        table : pyarrow.Table
            Events (a ``transactions`` or ``transfers`` table) with the id, ``timestamp`` and
            the columns the features need; any row order.
        num_threads : int
            LightGBM threads for the vectorised prediction (0: LightGBM's default).

        Returns
        -------
        pyarrow.Table
            :data:`DECISION_SCHEMA`, one row per event in ``(timestamp, id)`` order.
        """
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
            raise ParameterError(f"num_threads must be an integer >= 0 (got {num_threads!r})")
        feats = compute_offline(self.feature_set, table, self.customers)
        id_name = feats.column_names[0]
        ids = feats.column(0).to_numpy()
        order = pc.sort_indices(table, [("timestamp", "ascending"), (id_name, "ascending")])
        times = table.column("timestamp").take(order).cast(pa.timestamp("ms"))
        if not np.array_equal(table.column(id_name).take(order).to_numpy(), ids):
            raise DataError("events must be unique by (timestamp, id)", column=id_name)
        n = len(ids)
        x = None
        scores = np.zeros(n)
        if self._scorer is not None:
            x = np.empty((n, len(self._scorer.feature_names)), dtype=np.float64)
            for j, name in enumerate(self._scorer.feature_names):
                x[:, j] = feats.column(name).to_numpy()
            scores = self._scorer.score_matrix(x, num_threads)
        columns = {name: feats.column(name).to_numpy() for name in self.policy.features}
        decisions = self.policy.decide_many(columns, scores)
        actions = [d.action for d in decisions]
        margin: list[float | None] = [None] * n
        bias: list[float | None] = [None] * n
        top: list[list[dict[str, Any]] | None] = [None] * n
        if self._scorer is not None and self.explain_mode is not Explain.NONE:
            rows = np.arange(n)
            if self.explain_mode is Explain.ALERTS:
                rows = np.flatnonzero([a is not Action.APPROVE for a in actions])
            contributions = self._scorer.contributions_matrix(x[rows], num_threads)
            for i, vals, contrib in zip(
                rows.tolist(), x[rows].tolist(), contributions.tolist(), strict=True
            ):
                e = self._explain_row(vals, contrib)
                margin[i], bias[i] = e.margin, e.bias
                top[i] = [
                    {"feature": c.feature, "value": c.value, "contribution": c.contribution}
                    for c in e.top
                ]
        metadata = {
            "model_id": self._model_id or "",
            "model_digest": self._model_digest or "",
            "policy": self.policy.name,
            "policy_version": self.policy.version,
            "policy_hash": self.policy.content_hash,
        }
        return pa.table(
            [
                pa.array(ids, pa.int64()),
                times,
                pa.array([a.value for a in actions], pa.string()),
                pa.array(scores, pa.float64()),
                pa.array([d.band.threshold for d in decisions], pa.string()),
                pa.array([[r.name for r in d.fired] for d in decisions], pa.list_(pa.string())),
                pa.array([list(d.reasons) for d in decisions], pa.list_(pa.string())),
                pa.array(margin, pa.float64()),
                pa.array(bias, pa.float64()),
                pa.array(top, DECISION_SCHEMA.field("top_features").type),
            ],
            schema=DECISION_SCHEMA.with_metadata(metadata),
        )


def _one(name: str) -> Any:
    def pick(feats: Mapping[str, float]) -> tuple[float]:
        return (feats[name],)

    return pick


def _check_model(feature_set: FeatureSet, model: LoadedModel) -> None:
    meta = model.metadata
    digest = feature_set.definitions_hash()
    if meta.feature_definitions_hash != digest:
        raise ParameterError(
            f"model {model.model_id} was trained on feature definitions "
            f"{meta.feature_definitions_hash[:12]!r}, but the feature set's definitions hash is "
            f"{digest[:12]!r}: score with the feature set the model was trained on"
        )
    missing = [n for n in meta.feature_names if n not in set(feature_set.names)]
    if missing:
        raise ParameterError(
            f"model {model.model_id} takes features the feature set does not define: {missing}"
        )


def _check_policy(feature_set: FeatureSet, policy: Policy, model: LoadedModel | None) -> None:
    missing = [n for n in policy.features if n not in set(feature_set.names)]
    if missing:
        raise ParameterError(
            f"policy {policy.name!r} version {policy.version} uses features the feature set "
            f"does not define: {missing}"
        )
    if policy.model is not None:
        given = None if model is None else model.model_id
        if given != policy.model:
            raise ParameterError(
                f"policy {policy.name!r} version {policy.version} expects model "
                f"{policy.model!r}, got {given!r}"
            )
