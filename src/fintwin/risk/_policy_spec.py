"""Reading and validating a policy file: YAML text in, a checked specification out.

Every refusal is a :class:`~fintwin.exceptions.PolicyError` that names the file, the line, the
rule (when one is at fault) and what is wrong. The YAML is parsed once with PyYAML's safe loader
into a node tree, which gives line numbers and catches duplicate keys (``safe_load`` would keep
the last silently); pydantic v2 models then check keys and types; the checks between fields
(thresholds, bands, duplicate names, conditions) follow.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from fintwin._yaml import YamlDocument, YamlDocumentError
from fintwin.exceptions import PolicyError
from fintwin.risk._expressions import ConditionError, check_condition

__all__ = ["SCORE", "Action", "PolicySpec", "RuleSpec", "parse_policy"]

SCORE = "score"
"""The variable that holds the model's score in every condition."""

MAX_POLICY_BYTES = 1 << 20


class Action(Enum):
    """What to do with a payment, from least to most severe.

    ``review`` lets the payment through and queues an alert for an analyst; ``step_up`` holds it
    until the customer passes stronger authentication; ``decline`` refuses it. A decision takes
    the most severe action among the rules that fired and the score band.

    Examples
    --------
    >>> Action.REVIEW.severity < Action.STEP_UP.severity
    True
    >>> max([Action.DECLINE, Action.APPROVE], key=lambda a: a.severity)
    <Action.DECLINE: 'decline'>
    """

    APPROVE = "approve"
    REVIEW = "review"
    STEP_UP = "step_up"
    DECLINE = "decline"

    @property
    def severity(self) -> int:
        """0 for approve up to 3 for decline."""
        return _SEVERITY[self]


_SEVERITY = {a: i for i, a in enumerate(Action)}
_ACTIONS = ", ".join(a.value for a in Action)


def _no_blank(kind: str, value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{kind} must be non-empty and contain no whitespace (got {value!r})")
    return value


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    when: StrictStr
    action: Action
    reason: StrictStr
    description: StrictStr = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _no_blank("a rule name", v)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return _no_blank("a reason code", v)


class DefaultSpec(BaseModel):
    """The score bands: threshold name -> action, and the action below every band."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: dict[StrictStr, Action] = Field(default_factory=dict)
    otherwise: Action = Action.APPROVE


class PolicySpec(BaseModel):
    """A whole policy file, keys and types checked (not yet the relations between fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: StrictStr
    version: Any
    model: StrictStr | None = None
    thresholds: dict[StrictStr, float] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    default: DefaultSpec

    @field_validator("policy")
    @classmethod
    def _policy(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the policy name must not be empty")
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> str:
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return str(v)
        if isinstance(v, str):
            return _no_blank("version", v)
        raise ValueError(
            f"version must be a non-negative integer or a string such as '2.1' (got {v!r})"
        )

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        return None if v is None else _no_blank("the model reference", v)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _threshold_numbers(cls, v: object) -> object:
        # pydantic's lax mode would turn "0.3" and true into numbers.
        if isinstance(v, dict):
            for name, value in v.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"threshold {name!r} must be a number (got {value!r})")
        return v


@dataclass(frozen=True)
class ParsedPolicy:
    """A fully checked policy: the specification and the variables each rule uses."""

    spec: PolicySpec
    rule_variables: tuple[tuple[str, ...], ...]


class _Source(YamlDocument):
    """The YAML node tree of one policy file, to find the line of any key or value."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        try:
            super().__init__(text, max_bytes=MAX_POLICY_BYTES, kind="a policy file")
        except YamlDocumentError as problem:
            raise PolicyError(problem.message, file=file, line=problem.line) from None


def _rule_label(data: object, index: int) -> str:
    rules = data.get("rules") if isinstance(data, dict) else None
    rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
    name = rule.get("name") if isinstance(rule, dict) else None
    return name if isinstance(name, str) and name else f"#{index + 1} (unnamed)"


_FIELDS = {
    (): PolicySpec.model_fields,
    ("rules",): RuleSpec.model_fields,
    ("default",): DefaultSpec.model_fields,
}


def _describe(err: dict[str, Any]) -> tuple[str, tuple[int | str, ...]]:
    """What is wrong, in words, and the location inside the rule (or file) it concerns."""
    loc = tuple(err["loc"])
    inner = loc[2:] if loc[:1] == ("rules",) and len(loc) > 1 else loc
    where = ".".join(str(p) for p in inner)
    kind = err["type"]
    if kind == "missing":
        return f"missing field {where!r}", loc[:-1]
    if kind == "extra_forbidden":
        parent = tuple(p for p in loc[:-1] if not isinstance(p, int))
        allowed = ", ".join(_FIELDS.get(parent, {}))
        return f"unknown key {loc[-1]!r} (allowed: {allowed})", loc
    if kind == "enum":
        label = f" in band {loc[-1]!r}" if loc[:2] == ("default", "bands") else f" in {where!r}"
        label = "" if where == "action" else label
        return f"unknown action {err['input']!r}{label} (expected one of {_ACTIONS})", loc
    if kind == "value_error":
        return str(err["ctx"]["error"]), loc
    if kind in {"dict_type", "list_type", "model_type"}:
        want = {"dict_type": "a mapping", "list_type": "a list", "model_type": "a mapping"}[kind]
        return f"{where or 'the policy'} must be {want} (got {err['input']!r})", loc
    return f"{where}: {err['msg']} (got {err['input']!r})", loc


def parse_policy(text: str, file: str, feature_names: frozenset[str]) -> ParsedPolicy:
    """Parse and check a policy; raise :class:`PolicyError` on the first problem found.

    Parameters
    ----------
    text : str
        The YAML text.
    file : str
        Where the text came from, for messages (a path, or ``"<text>"``).
    feature_names : frozenset of str
        The features a condition may use besides ``score``.

    Returns
    -------
    ParsedPolicy
    """
    source = _Source(text, file)
    data = source.data
    if not isinstance(data, dict):
        raise PolicyError(
            "a policy must be a YAML mapping with keys policy, version, model, thresholds, "
            f"rules and default (got {type(data).__name__})",
            file=file,
            line=source.line(()),
        )
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        # A misspelt key also makes its field missing: report the misspelling first.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        what, loc = _describe(errors[0])
        rule = None
        if loc[:1] == ("rules",) and len(loc) > 1 and isinstance(loc[1], int):
            rule = _rule_label(data, loc[1])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        key = errors[0]["type"] == "extra_forbidden"
        raise PolicyError(
            what + more, file=file, rule=rule, line=source.line(loc, key=key)
        ) from None
    _check_thresholds(spec, source)
    return ParsedPolicy(spec, _check_rules(spec, source, feature_names))


def _check_thresholds(spec: PolicySpec, source: _Source) -> None:
    for name, value in spec.thresholds.items():
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise PolicyError(
                f"threshold {name!r} must be in [0, 1] (got {value!r})",
                file=source.file,
                line=source.line(("thresholds", name)),
            )
    bands = spec.default.bands
    for name in bands:
        if name not in spec.thresholds:
            known = ", ".join(spec.thresholds) or "none are declared"
            raise PolicyError(
                f"band {name!r} names no threshold (thresholds: {known})",
                file=source.file,
                line=source.line(("default", "bands", name), key=True),
            )
    ordered = sorted(bands.items(), key=lambda b: spec.thresholds[b[0]])
    steps: list[tuple[str, Action, float]] = [("otherwise", spec.default.otherwise, -1.0)]
    steps += [(n, a, spec.thresholds[n]) for n, a in ordered]
    for (lo_name, lo_action, lo), (hi_name, hi_action, hi) in itertools.pairwise(steps):
        if hi == lo or hi_action.severity <= lo_action.severity:
            lo_text = "otherwise" if lo < 0 else f"{lo_name!r} ({lo})"
            raise PolicyError(
                f"thresholds are not ordered: band {hi_name!r} ({hi}) is at or above "
                f"{lo_text} but its action {hi_action.value} is not more severe than "
                f"{lo_action.value}; a higher threshold must lead to a more severe action",
                file=source.file,
                line=source.line(("default", "bands", hi_name)),
            )


def _check_rules(
    spec: PolicySpec, source: _Source, feature_names: frozenset[str]
) -> tuple[tuple[str, ...], ...]:
    first: dict[str, int] = {}
    used: list[tuple[str, ...]] = []
    allowed = feature_names | {SCORE}
    for i, rule in enumerate(spec.rules):
        line = source.line(("rules", i))
        if rule.name in first:
            raise PolicyError(
                f"duplicate rule name (first defined at line {first[rule.name]})",
                file=source.file,
                rule=rule.name,
                line=line,
            )
        first[rule.name] = line or 0
        try:
            used.append(check_condition(rule.when, allowed))
        except ConditionError as exc:
            raise PolicyError(
                f"condition {rule.when!r} {exc}",
                file=source.file,
                rule=rule.name,
                line=source.line(("rules", i, "when")),
            ) from None
    return tuple(used)
