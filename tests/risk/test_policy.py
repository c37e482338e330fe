"""Decision policies: loading, every refusal naming file, line and rule, decisions, no eval."""

from __future__ import annotations

import builtins
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from fintwin.exceptions import DataError, FintwinError, ParameterError, PolicyError
from fintwin.risk.policy import (
    HANDBOOK_FEATURES,
    Action,
    Policy,
    builtin_policy_path,
    load_policy,
)

FEATURES = ("amount", "terminal_risk_7d", "customer_amount_mean_30d", "customer_count_1d")

# Line numbers below are 1-based lines of this text (line 1 is "policy: test").
VALID = """\
policy: test
version: 7
model: fraud-handbook/3
thresholds:
  review: 0.3
  step_up: 0.6
  decline: 0.8
rules:
  - name: big_amount
    when: amount > 220.0
    action: review
    reason: BIG
  - name: spike
    when: customer_amount_mean_30d > 0.0 && amount >= 4.0 * customer_amount_mean_30d
    action: step_up
    reason: SPIKE
  - name: bad_terminal
    when: terminal_risk_7d >= 0.5
    action: decline
    reason: TERMINAL
  - name: score_and_burst
    when: score >= 0.5 && customer_count_1d >= 5.0
    action: review
    reason: BURST
default:
  bands:
    review: review
    step_up: step_up
    decline: decline
  otherwise: approve
"""


def event(**values: float) -> dict[str, float]:
    return dict.fromkeys(FEATURES, 0.0) | values


def refused(text: str, features: tuple[str, ...] = FEATURES) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(text, features)
    return info.value


def with_rule(when: str, name: str = "probe", action: str = "review") -> str:
    """VALID with one more rule appended to the rules (its `when` is on line 26)."""
    extra = (
        f"  - name: {name}\n    when: {json.dumps(when)}\n    action: {action}\n    reason: PROBE\n"
    )
    return VALID.replace("default:\n", extra + "default:\n")


# -- loading -----------------------------------------------------------------------------------


def test_valid_policy_loads() -> None:
    p = load_policy(VALID, FEATURES)
    assert (p.name, p.version, p.model) == ("test", "7", "fraud-handbook/3")
    assert [r.name for r in p.rules] == ["big_amount", "spike", "bad_terminal", "score_and_burst"]
    assert p.rules[1].action is Action.STEP_UP and p.rules[1].reason == "SPIKE"
    assert dict(p.thresholds) == {"review": 0.3, "step_up": 0.6, "decline": 0.8}
    assert [(b.threshold, b.at_least, b.action) for b in p.bands] == [
        ("decline", 0.8, Action.DECLINE),
        ("step_up", 0.6, Action.STEP_UP),
        ("review", 0.3, Action.REVIEW),
        (None, 0.0, Action.APPROVE),
    ]
    assert p.features == tuple(sorted(FEATURES))
    assert len(p.content_hash) == 64 and p.source is None
    assert p.expression_engine.startswith("common-expression-language ")


def test_round_trip_through_yaml_and_file(tmp_path: Path) -> None:
    p = load_policy(VALID, FEATURES)
    again = load_policy(p.to_yaml(), FEATURES)
    assert again.content_hash == p.content_hash
    assert again.rules == p.rules and again.bands == p.bands and again.version == p.version
    assert again.to_dict() == p.to_dict()
    path = tmp_path / "policy.yaml"
    path.write_text(VALID)
    for source in (path, str(path)):
        from_file = load_policy(source, FEATURES)
        assert from_file.content_hash == p.content_hash
        assert from_file.source == str(path)


def test_content_hash_ignores_layout_but_not_content() -> None:
    base = load_policy(VALID, FEATURES).content_hash
    relaid = "# a comment\n" + VALID.replace("review: 0.3", "review: 0.30   # why")
    assert load_policy(relaid, FEATURES).content_hash == base
    assert load_policy(VALID.replace("review: 0.3", "review: 0.31"), FEATURES).content_hash != base
    assert load_policy(VALID.replace("version: 7", "version: 8"), FEATURES).content_hash != base


def test_pickled_policy_decides_the_same() -> None:
    p = load_policy(VALID, FEATURES)
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, Policy) and q.content_hash == p.content_hash
    e = event(amount=300.0, terminal_risk_7d=0.6)
    assert q.decide(e, 0.1) == p.decide(e, 0.1)


def test_builtin_handbook_policy() -> None:
    p = load_policy(builtin_policy_path("handbook"), HANDBOOK_FEATURES)
    assert p.name == "handbook-baseline" and p.source is not None
    assert set(p.features) <= set(HANDBOOK_FEATURES) and len(p.rules) >= 5
    quiet = dict.fromkeys(HANDBOOK_FEATURES, 0.0) | {"amount": 40.0}
    assert p.decide(quiet, 0.01).action is Action.APPROVE
    bad_terminal = quiet | {
        "terminal_fraud_rate_7d_delay_7d": 0.6,
        "terminal_labelled_count_7d_delay_7d": 3,
        "terminal_fraud_rate_30d_delay_7d": 0.2,
    }
    d = p.decide(bad_terminal, 0.01)
    assert d.action is Action.DECLINE
    assert d.reasons == ("TERMINAL_FRAUD_7D", "TERMINAL_FRAUD_30D")
    with pytest.raises(ParameterError, match=r"available: .*handbook"):
        builtin_policy_path("nope")


def test_handbook_features_are_the_feature_sets_names() -> None:
    # The built-in policy must load against the features fintwin computes for the handbook.
    features = pytest.importorskip("fintwin.features")
    assert tuple(features.handbook_feature_set().names) == HANDBOOK_FEATURES


# -- refusals: every one names the file, the rule (when one is at fault) and what is wrong ----


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace("    action: step_up\n", "    action: [step_up\n"))
    with pytest.raises(PolicyError) as info:
        load_policy(path, FEATURES)
    err = info.value
    assert err.file == str(path) and f"policy {path}" in str(err)
    assert "YAML syntax error" in str(err) and err.line == 16
    assert "flow sequence started at line 15" in str(err)


@pytest.mark.parametrize(
    ("text", "rule", "line", "what"),
    [
        (VALID.replace("    when: amount > 220.0", "    whne: amount > 220.0"), "big_amount", 10,
         "unknown key 'whne' (allowed: name, when, action, reason, description)"),
        (VALID.replace("    reason: SPIKE\n", ""), "spike", 13, "missing field 'reason'"),
        (VALID.replace("action: decline\n    reason: TERMINAL", "action: block\n    reason: T"),
         "bad_terminal", 19,
         "unknown action 'block' (expected one of approve, review, step_up, decline)"),
        (VALID.replace("    reason: SPIKE", "    reason: not a code"), "spike", 16,
         "a reason code must be non-empty and contain no whitespace"),
        (VALID.replace("name: spike", "name: big_amount"), "big_amount", 13,
         "duplicate rule name (first defined at line 9)"),
        (VALID.replace("when: terminal_risk_7d >= 0.5", "when: terminal_risk_7d >= "),
         "bad_terminal", 18, "does not compile"),
        (VALID.replace("when: terminal_risk_7d >= 0.5", "when: terminal_risk_7 >= 0.5"),
         "bad_terminal", 18, "refers to 'terminal_risk_7', which is neither a declared feature"),
        (VALID.replace("when: terminal_risk_7d >= 0.5", "when: terminal_risk_7d * 2.0"),
         "bad_terminal", 18, "does not return a boolean: with every variable 0.0 it returns float"),
        (VALID.replace("when: terminal_risk_7d >= 0.5", "when: terminal_risk_7d + 1 > 0.5"),
         "bad_terminal", 18, "fails when every variable is 0.0"),
        (VALID.replace("when: terminal_risk_7d >= 0.5", "when: amount / terminal_risk_7d > 2.0"),
         "bad_terminal", 18, "guard it"),
    ],
)  # fmt: skip
def test_invalid_rule_is_refused_naming_it(text: str, rule: str, line: int, what: str) -> None:
    err = refused(text)
    assert err.rule == rule and f"rule {rule!r}" in str(err)
    assert err.line == line and "policy <text>" in str(err)
    assert what in str(err)


def test_compile_error_carries_the_engine_message() -> None:
    err = refused(with_rule("amount > 220.0 &&"))
    assert err.rule == "probe" and err.line == 26
    assert "Syntax error" in str(err)  # the CEL parser's own words


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (VALID.replace("default:", "defaults:"), 25, "unknown key 'defaults'"),
        (VALID.replace("version: 7\n", ""), 1, "missing field 'version'"),
        (VALID.replace("version: 7", "version: 1.5"), 2, "version must be a non-negative integer"),
        (VALID.replace("    decline: decline\n", "    decline: block\n"), 29,
         "unknown action 'block' in band 'decline'"),
        (VALID.replace("  decline: 0.8", "  decline: 1.5"), 7,
         "threshold 'decline' must be in [0, 1] (got 1.5)"),
        (VALID.replace("  review: 0.3", "  review: '0.3'"), 5,
         "threshold 'review' must be a number"),
        (VALID.replace("  review: 0.3", "  review: 0.9"), 27,
         "thresholds are not ordered: band 'review' (0.9) is at or above 'decline' (0.8)"),
        (VALID.replace("  step_up: 0.6", "  step_up: 0.8"), 29,
         "band 'decline' (0.8) is at or above 'step_up' (0.8)"),
        (VALID.replace("otherwise: approve", "otherwise: review"), 27,
         "action review is not more severe than review"),
        (VALID.replace("    step_up: step_up\n", "    stepup: step_up\n"), 28,
         "band 'stepup' names no threshold"),
        ("policy: p\nversion: 1\nrules: 3\ndefault: {}\n", 3, "rules must be a list"),
        (VALID.replace("rules:\n", "rules: 3\nold_rules:\n"), 9, "unknown key 'old_rules'"),
        (VALID + "policy: again\n", 31, "duplicate key 'policy' (first at line 1)"),
        ("- just\n- a list\n", 1, "a policy must be a YAML mapping"),
    ],
)  # fmt: skip
def test_invalid_policy_is_refused(text: str, line: int, what: str) -> None:
    err = refused(text)
    assert err.line == line and what in str(err) and "policy <text>" in str(err)


def test_missing_file_and_bad_feature_names(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(PolicyError, match="cannot read") as info:
        load_policy(missing, FEATURES)
    assert info.value.file == str(missing)
    with pytest.raises(ParameterError, match="not one string"):
        load_policy(VALID, "amount")
    with pytest.raises(ParameterError, match="'score' is reserved"):
        load_policy(VALID, (*FEATURES, "score"))


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, FintwinError) and issubclass(PolicyError, ValueError)


# -- no eval: hostile conditions are refused before anything runs ------------------------------


@pytest.mark.parametrize(
    ("when", "what"),
    [
        ("__import__('os').system('touch pwned') == 0", "calls '__import__'"),
        ("false && __import__('os') == 1", "calls '__import__'"),  # CEL would skip it at runtime
        ("amount > 1.0 || exec('1') == 1", "calls 'exec'"),
        ("amount.__class__ == 1", "selects a member ('.__class__')"),
        ("false && amount.__globals__ == 1", "selects a member"),
        ("size('abc') > 1", "calls 'size'"),
        ("[1.0, 2.0].exists(x, x > amount)", "calls"),
        ("amount > " + " + ".join(["1.0"] * 700), "characters long"),
        ("(" * 200 + "amount" + ")" * 200 + " > 1.0", "does not compile"),
    ],
)
def test_hostile_conditions_are_refused(
    when: str, what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = refused(with_rule(when))
    assert err.rule == "probe" and what in str(err)
    assert not (tmp_path / "pwned").exists()


def test_no_python_eval_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("Python eval/exec was called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    p = load_policy(VALID, FEATURES)
    assert p.decide(event(amount=300.0), 0.1).action is Action.REVIEW


def test_dots_inside_string_literals_are_not_member_selection() -> None:
    p = load_policy(with_rule("'a.b' == 'a.b' && amount > 1000.0"), FEATURES)
    assert p.decide(event(amount=2000.0), 0.0).reasons == ("BIG", "PROBE")


# -- decisions ---------------------------------------------------------------------------------


def test_action_severity_order() -> None:
    assert sorted(Action, key=lambda a: a.severity) == [
        Action.APPROVE,
        Action.REVIEW,
        Action.STEP_UP,
        Action.DECLINE,
    ]


@pytest.mark.parametrize(
    ("values", "score", "action", "reasons"),
    [
        ({}, 0.0, Action.APPROVE, ()),
        ({"amount": 300.0}, 0.0, Action.REVIEW, ("BIG",)),
        # spike (step_up) beats big_amount (review)
        ({"amount": 300.0, "customer_amount_mean_30d": 50.0}, 0.0, Action.STEP_UP,
         ("BIG", "SPIKE")),
        # decline beats everything, and every fired rule still reports its reason
        ({"amount": 300.0, "customer_amount_mean_30d": 50.0, "terminal_risk_7d": 0.9}, 0.0,
         Action.DECLINE, ("BIG", "SPIKE", "TERMINAL")),
        # the score band beats a weaker rule ...
        ({"amount": 300.0}, 0.85, Action.DECLINE, ("BIG",)),
        # ... and a stronger rule beats the band
        ({"terminal_risk_7d": 0.5}, 0.35, Action.DECLINE, ("TERMINAL",)),
        # a rule over the score itself
        ({"customer_count_1d": 5.0}, 0.5, Action.REVIEW, ("BURST",)),
        ({"customer_count_1d": 5.0}, 0.49, Action.REVIEW, ()),
    ],
)  # fmt: skip
def test_action_precedence_and_reasons(
    values: dict[str, float], score: float, action: Action, reasons: tuple[str, ...]
) -> None:
    d = load_policy(VALID, FEATURES).decide(event(**values), score)
    assert d.action is action and d.reasons == reasons
    assert [r.reason for r in d.fired] == list(reasons)
    assert (d.policy, d.version, d.score) == ("test", "7", score)


@pytest.mark.parametrize(
    ("score", "band", "action"),
    [
        (0.0, None, Action.APPROVE),
        (0.2999, None, Action.APPROVE),
        (0.3, "review", Action.REVIEW),
        (0.5999, "review", Action.REVIEW),
        (0.6, "step_up", Action.STEP_UP),
        (0.8, "decline", Action.DECLINE),
        (1.0, "decline", Action.DECLINE),
    ],
)
def test_score_bands(score: float, band: str | None, action: Action) -> None:
    d = load_policy(VALID, FEATURES).decide(event(), score)
    assert d.band.threshold == band and d.action is action and d.fired == ()


def test_policy_without_rules_or_bands() -> None:
    p = load_policy("policy: empty\nversion: x1\ndefault: {}\n", ())
    assert p.rules == () and p.features == ()
    assert p.decide({}, 0.99).action is Action.APPROVE


def test_bad_events_are_refused() -> None:
    p = load_policy(VALID, FEATURES)
    with pytest.raises(DataError, match="feature 'terminal_risk_7d' is missing"):
        p.decide({"amount": 1.0, "customer_amount_mean_30d": 1.0, "customer_count_1d": 1}, 0.1)
    with pytest.raises(DataError, match="'amount' is NaN"):
        p.decide(event(amount=float("nan")), 0.1)
    with pytest.raises(DataError, match="'amount' must be a number"):
        p.decide(event(amount="12"), 0.1)  # type: ignore[arg-type]
    for score in (-0.1, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="score must be in"):
            p.decide(event(), score)
    # ints, bools and NumPy scalars are numbers too
    ok = p.decide(event(customer_count_1d=np.int64(5), terminal_risk_7d=True), 0.5)
    assert ok.reasons == ("TERMINAL", "BURST")


def test_rule_failing_on_an_event_is_named() -> None:
    # Passes the zero-sample check (short-circuit) but adds an int to a double when amount > 1.
    p = load_policy(with_rule("amount > 1.0 && amount + 1 > 2.0", name="sloppy"), FEATURES)
    with pytest.raises(PolicyError) as info:
        p.decide(event(amount=5.0), 0.1)
    assert info.value.rule == "sloppy"
    assert "rule 'sloppy': fails on this event" in str(info.value)
    assert "policy 'test' version 7" in str(info.value)
    p = load_policy(with_rule("amount > 1.0 ? amount : false", name="ternary"), FEATURES)
    with pytest.raises(PolicyError, match="not a boolean") as info:
        p.decide(event(amount=5.0), 0.1)
    assert info.value.rule == "ternary"


def test_decide_many_equals_decide() -> None:
    rng = np.random.default_rng(3)
    n = 400
    cols = {
        "amount": rng.lognormal(4.0, 1.0, n),
        "terminal_risk_7d": rng.beta(0.5, 2.0, n),
        "customer_amount_mean_30d": rng.lognormal(3.5, 0.5, n),
        "customer_count_1d": rng.poisson(3.0, n).astype(float),
    }
    scores = rng.random(n)
    p = load_policy(VALID, FEATURES)
    batch = p.decide_many(cols, scores)
    one_by_one = [p.decide({k: v[i] for k, v in cols.items()}, scores[i]) for i in range(n)]
    assert batch == one_by_one
    # the sample exercises every action, so the comparison is not vacuous
    assert {d.action for d in batch} == set(Action)
    with pytest.raises(ParameterError, match="expected \\(3,\\)"):
        p.decide_many(cols, scores[:3])
