"""Versioned decision policies: rules in a safe expression language, score bands, actions.

A policy file (YAML) holds::

    policy: handbook-baseline        # name
    version: 1                       # integer or string such as "2.1"
    model: fraud-handbook/3          # registry id of the scoring model, or null
    thresholds: {review: 0.3, decline: 0.8}    # named score thresholds in [0, 1]
    rules:                           # in order; every rule whose condition holds fires
      - name: large_amount
        when: amount > 220.0 && terminal_risk_7d > 0.1    # CEL over features and `score`
        action: review               # approve | review | step_up | decline
        reason: AMOUNT_ABOVE_220     # reason code reported when the rule fires
        description: optional text for people
    default:
      bands: {review: review, decline: decline}   # score >= thresholds[name] -> action
      otherwise: approve                          # below every band

The decision is the most severe action (approve < review < step_up < decline) among the rules
that fired and the score band the score falls in; every fired rule's reason code is reported.
See ``policies/handbook.yaml`` for a complete example.

Expression engine, and why
--------------------------
Conditions are CEL, evaluated by the Rust interpreter of ``common-expression-language``
(``import cel``); never Python ``eval``. ``bench/bench_policy_expressions.py`` ran the same ten
rules (over ten features and the score) on 20,000 events in three safe engines; minimum of 5
runs, microseconds, 2-core x86_64, Python 3.11.7:

=================================  ========  ========  ==============  ===============
engine                             compile,  one rule  ten rules, one  ten rules as one
                                   per rule  an event  call per rule   program
=================================  ========  ========  ==============  ===============
common-expression-language 0.10.0  18.3      12.9      128.7           28.1
zen-engine 2.1.3, expressions      2.1       5.5       55.2            8.6
zen-engine 2.1.3, decision table   80.3 [1]  --        --              252.2
cel-python 0.5.0 (pure Python)     197.8     335.6     3356.5          2441.8
=================================  ========  ========  ==============  ===============

[1] the whole ten-row table (hit policy ``collect``). All engines gave the same booleans on every
event. An earlier run on the same (shared) machine gave 23.4 for CEL and 8.0 for zen as one
program: the ratio, about 3, is what holds.

zen's expressions are about three times faster, but zen cannot say which variables an
expression reads, and it reads an unknown one as null without error: ``amont == 300`` is just
false and ``amount > 1 ? amont : false`` returns null, so a misspelt feature in a decline rule
would never fire and no check could tell before it runs. CEL lists an expression's variables
and functions at compile time, which is what lets a policy with an undeclared variable or a
foreign function be refused when it loads; it is the fastest engine that allows that. Most of
CEL's per-event cost is converting Python floats (about 1.2 us each), so all conditions run as
one program per event and only the variables the rules use are passed. ``Policy.decide`` on
those ten rules: mean 23.2 us, median 20.2, p99 47.8 per event (43,000 decisions/s on one core),
against a target of 100.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import yaml

from fintwin._yaml import builtin_yaml_path
from fintwin.exceptions import DataError, ParameterError, PolicyError
from fintwin.risk._expressions import CompiledConditions, ConditionError, engine_version
from fintwin.risk._policy_spec import SCORE, Action, PolicySpec, parse_policy

__all__ = [
    "HANDBOOK_FEATURES",
    "Action",
    "Policy",
    "PolicyDecision",
    "Rule",
    "ScoreBand",
    "builtin_policy_path",
    "load_policy",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy.

    Attributes
    ----------
    name : str
        Unique within the policy.
    when : str
        The condition, in CEL, over the declared features and ``score``.
    action : Action
        What the rule asks for when it fires.
    reason : str
        The reason code reported when it fires.
    description : str
        Free text for people.
    """

    name: str
    when: str
    action: Action
    reason: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ScoreBand:
    """A score band: scores ``>= at_least`` (and below the next band) get ``action``.

    Attributes
    ----------
    threshold : str or None
        The threshold's name; None for the band below every threshold.
    at_least : float
        Lower bound of the band, in [0, 1] (0.0 for the lowest band).
    action : Action
    """

    threshold: str | None
    at_least: float
    action: Action


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What a policy decided for one event.

    Attributes
    ----------
    action : Action
        The most severe of the fired rules' actions and the score band's action.
    fired : tuple of Rule
        The rules whose conditions held, in policy order.
    band : ScoreBand
        The band the score fell in.
    score : float
        The model score the decision used.
    policy, version : str
        The policy's name and version, for the decision record.
    """

    action: Action
    fired: tuple[Rule, ...]
    band: ScoreBand
    score: float
    policy: str
    version: str

    @property
    def reasons(self) -> tuple[str, ...]:
        """Reason codes of the fired rules, in policy order."""
        return tuple(r.reason for r in self.fired)


class Policy:
    """A checked, compiled decision policy. Build one with :func:`load_policy`.

    Attributes
    ----------
    name, version : str
    model : str or None
        Registry id of the model whose score the policy expects.
    thresholds : mapping of str to float
    rules : tuple of Rule
    bands : tuple of ScoreBand
        From the highest threshold down; the last is the band below every threshold.
    feature_names : tuple of str
        The features the policy was checked against (sorted).
    features : tuple of str
        The features the rules use (sorted); :meth:`decide` needs only these.
    content_hash : str
        SHA-256 (hex) of the policy's canonical JSON: formatting and comments do not change it.
    source : str or None
        The file it was read from.
    expression_engine : str
        The package and version that evaluates the conditions, for decision records.
    """

    def __init__(
        self,
        spec: PolicySpec,
        rule_variables: Sequence[Sequence[str]],
        feature_names: Iterable[str],
        source: str | None,
    ) -> None:
        self._spec = spec
        self.name = spec.policy
        self.version = str(spec.version)
        self.model = spec.model
        self.thresholds = MappingProxyType(dict(spec.thresholds))
        self.rules = tuple(
            Rule(r.name, r.when, r.action, r.reason, r.description) for r in spec.rules
        )
        bands = [ScoreBand(n, spec.thresholds[n], a) for n, a in spec.default.bands.items()]
        bands.sort(key=lambda b: b.at_least, reverse=True)
        self.bands = (*bands, ScoreBand(None, 0.0, spec.default.otherwise))
        self.feature_names = tuple(sorted(feature_names))
        used = {v for vs in rule_variables for v in vs}
        self.features = tuple(sorted(used - {SCORE}))
        self._uses_score = SCORE in used
        self.source = source
        self.expression_engine = engine_version()
        canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        self.content_hash = hashlib.sha256(canonical.encode()).hexdigest()
        self._conditions = (
            CompiledConditions([r.when for r in self.rules], [r.name for r in self.rules])
            if self.rules
            else None
        )
        self._severities = tuple(r.action.severity for r in self.rules)

    def __repr__(self) -> str:
        return (
            f"Policy({self.name!r}, version={self.version!r}, rules={len(self.rules)}, "
            f"content_hash={self.content_hash[:12]!r})"
        )

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # The compiled CEL program cannot be pickled; rebuild it from the text (worker processes).
        return (_restore, (self.to_yaml(), self.feature_names, self.source))

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, features: Mapping[str, float], score: float) -> PolicyDecision:
        """Decide on one event.

        Parameters
        ----------
        features : mapping of str to float
            Feature values of the event; must hold at least :attr:`features` (others are
            ignored). Counts and flags may be ints or bools; NaN is refused.
        score : float
            The model's score, in [0, 1] (pass 0.0 when the policy has no model).

        Returns
        -------
        PolicyDecision

        Raises
        ------
        ParameterError
            If the score is outside [0, 1].
        DataError
            If a feature the rules use is missing, not a number, or NaN.
        PolicyError
            If a rule fails on this event (for example a type error in a branch the load-time
            check did not reach); the message names the rule.

        Examples
        --------
        >>> policy = load_policy(builtin_policy_path("handbook"), HANDBOOK_FEATURES)
        >>> event = dict.fromkeys(HANDBOOK_FEATURES, 0.0) | {"amount": 250.0}
        >>> decision = policy.decide(event, score=0.05)
        >>> decision.action, decision.reasons
        (<Action.DECLINE: 'decline'>, ('AMOUNT_ABOVE_220',))
        """
        context: dict[str, float] = {}
        for name in self.features:
            try:
                value = features[name]
            except KeyError:
                raise DataError(
                    f"feature {name!r} is missing; policy {self.name!r} uses it", column=name
                ) from None
            # Exact floats go straight through; ints, bools, NumPy scalars and Decimals are
            # converted; strings are refused (float("12") would accept one silently).
            context[name] = value if value.__class__ is float else _number(name, value)
        return self._decide(context, score)

    def decide_many(
        self, features: Mapping[str, Sequence[float]], scores: Sequence[float]
    ) -> list[PolicyDecision]:
        """Decide on many events, column-wise input; gives exactly what :meth:`decide` gives.

        Parameters
        ----------
        features : mapping of str to sequence of float
            One column (list, NumPy array, pandas Series ...) of length n per feature used.
        scores : sequence of float, shape (n,)

        Returns
        -------
        list of PolicyDecision, length n
        """
        scores_list = np.asarray(scores, dtype=np.float64).ravel().tolist()
        n = len(scores_list)
        columns = []
        for name in self.features:
            if name not in features:
                raise DataError(
                    f"feature {name!r} is missing; policy {self.name!r} uses it", column=name
                )
            column = np.asarray(features[name])
            if column.dtype.kind not in "biuf" and any(
                isinstance(v, str | bytes) for v in column.ravel().tolist()
            ):
                raise DataError(f"feature {name!r} must hold numbers, not text", column=name)
            column = column.astype(np.float64)
            if column.shape != (n,):
                raise ParameterError(
                    f"feature {name!r} has shape {column.shape}; expected ({n},) like scores"
                )
            columns.append(column.tolist())
        names = self.features
        rows = zip(*columns, strict=True) if columns else [()] * n
        return [
            self._decide(dict(zip(names, row, strict=True)), score, row=i + 1)
            for i, (row, score) in enumerate(zip(rows, scores_list, strict=True))
        ]

    def _decide(
        self, context: dict[str, float], score: float, row: int | None = None
    ) -> PolicyDecision:
        if score.__class__ is not float:
            score = _score(score)
        if not 0.0 <= score <= 1.0:
            raise ParameterError(
                f"score must be in [0, 1] (got {score!r})"
                + ("" if row is None else f" at row {row}")
            )
        for name, value in context.items():
            if value != value:  # NaN: CEL cannot compare it, and silently false is worse
                raise DataError(
                    f"feature {name!r} is NaN; policy {self.name!r} needs a number",
                    row=row,
                    column=name,
                )
        for band in self.bands:
            if score >= band.at_least:
                break
        action = band.action
        fired: tuple[Rule, ...] = ()
        if self._conditions is not None:
            if self._uses_score:
                context[SCORE] = float(score)
            try:
                hits = self._conditions.evaluate(context)
            except ConditionError as exc:
                raise PolicyError(
                    f"{exc} (policy {self.name!r} version {self.version})",
                    file=self.source,
                    rule=exc.rule,
                ) from None
            severity = action.severity
            chosen = []
            for rule, rule_severity, hit in zip(self.rules, self._severities, hits, strict=True):
                if hit is True:
                    chosen.append(rule)
                    if rule_severity > severity:
                        severity, action = rule_severity, rule.action
                elif hit is not False:
                    raise PolicyError(
                        f"condition returned {type(hit).__name__} {hit!r}, not a boolean",
                        file=self.source,
                        rule=rule.name,
                    )
            fired = tuple(chosen)
        return PolicyDecision(action, fired, band, float(score), self.name, self.version)

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The policy as plain data, in the file's layout (the input of the content hash)."""
        return self._spec.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The policy as YAML text; loading it gives a policy with the same content hash."""
        data = self.to_dict()
        order = ["policy", "version", "model", "thresholds", "rules", "default"]
        return yaml.safe_dump({k: data[k] for k in order}, sort_keys=False, allow_unicode=True)


def _number(name: str, value: object) -> float:
    if isinstance(value, str | bytes):
        raise DataError(f"feature {name!r} must be a number (got {value!r})", column=name)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"feature {name!r} must be a number (got {value!r})", column=name) from None


def _score(score: object) -> float:
    if isinstance(score, str | bytes):
        raise ParameterError(f"score must be a number in [0, 1] (got {score!r})")
    try:
        return float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"score must be a number in [0, 1] (got {score!r})") from None


def _restore(text: str, feature_names: tuple[str, ...], source: str | None) -> Policy:
    policy = load_policy(text, feature_names)
    policy.source = source
    return policy


def load_policy(path_or_text: str | os.PathLike[str], feature_names: Iterable[str]) -> Policy:
    """Read, check and compile a policy.

    Parameters
    ----------
    path_or_text : str or path-like
        A path (``Path``, or a one-line ``str``) to a YAML file, or the YAML text itself (a
        ``str`` holding a newline).
    feature_names : iterable of str
        The features the rules may use (``score`` is always available and may not be one).

    Returns
    -------
    Policy

    Raises
    ------
    PolicyError
        If the file cannot be read or the policy is invalid; the message names the file, the
        line and the rule, and says what is wrong.
    ParameterError
        If ``feature_names`` is a single string or names ``score``.

    Examples
    --------
    >>> policy = load_policy(builtin_policy_path("handbook"), HANDBOOK_FEATURES)
    >>> policy.name, policy.version, len(policy.rules)
    ('handbook-baseline', '1', 6)
    """
    if isinstance(feature_names, str):
        raise ParameterError(
            f"feature_names must be a collection of names, not one string ({feature_names!r})"
        )
    names = frozenset(feature_names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ParameterError(f"feature names must be strings (got {bad[0]!r})")
    if SCORE in names:
        raise ParameterError(f"{SCORE!r} is reserved for the model score; rename that feature")
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        text, source = path_or_text, None
    else:
        source = os.fspath(path_or_text)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read the file: {exc}", file=source) from None
    parsed = parse_policy(text, source or "<text>", names)
    return Policy(parsed.spec, parsed.rule_variables, names, source)


def builtin_policy_path(name: str) -> Path:
    """Path of a policy shipped with fintwin (``src/fintwin/risk/policies/NAME.yaml``).

    Examples
    --------
    >>> builtin_policy_path("handbook").name
    'handbook.yaml'
    """
    return builtin_yaml_path("fintwin.risk", "policies", name, "policy")


HANDBOOK_FEATURES = (
    "amount",
    "is_weekend",
    "is_night_0_7h",
    "customer_count_1d",
    "customer_amount_mean_1d",
    "customer_count_7d",
    "customer_amount_mean_7d",
    "customer_count_30d",
    "customer_amount_mean_30d",
    "terminal_labelled_count_1d_delay_7d",
    "terminal_fraud_rate_1d_delay_7d",
    "terminal_labelled_count_7d_delay_7d",
    "terminal_fraud_rate_7d_delay_7d",
    "terminal_labelled_count_30d_delay_7d",
    "terminal_fraud_rate_30d_delay_7d",
)
"""Feature names the built-in ``handbook`` policy is checked against: the Fraud Detection
Handbook's baseline features as ``fintwin.features.handbook_feature_set()`` names them (amount;
weekend and night flags; customer count and mean amount over 1, 7 and 30 days; terminal labelled
count and fraud rate over 1, 7 and 30 days, shifted back by the 7-day label delay)."""
