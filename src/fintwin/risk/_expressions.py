"""Rule conditions in CEL: checked and compiled once, evaluated once per event.

The engine is the Rust CEL interpreter behind the PyPI package ``common-expression-language``
(import name ``cel``): non-Turing-complete, no I/O, no attribute access to Python objects, no
``eval``. On top of the engine's own sandbox a condition is refused before it can run unless

- it is at most :data:`MAX_EXPRESSION_CHARS` characters (the parser recurses, and a huge input
  makes it panic rather than fail);
- it parses;
- it calls only the operators and conversions in :data:`ALLOWED_FUNCTIONS` (CEL evaluates
  ``false && f()`` without looking ``f`` up, so an unknown function has to be caught statically);
- it selects no member (``x.y``, ``x.f()``): features are plain numbers, so a dot after a value
  can only be a mistake or a probe;
- every variable it names is a declared feature or ``score``;
- on a sample where every variable is 0.0 it evaluates without error to a boolean.

Every event's conditions run as *one* CEL program, the list ``[c1, c2, ...]``: one crossing from
Python into Rust per event instead of one per rule (the crossing, mostly converting the
variables, costs more than the comparisons; see bench/bench_policy_expressions.py). CEL has no
side effects, so evaluating the list gives the same booleans as evaluating the conditions one by
one; when the list fails, the conditions are re-run one by one to name the rule at fault.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cel

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_EXPRESSION_CHARS",
    "CompiledConditions",
    "ConditionError",
    "check_condition",
    "engine_version",
]

MAX_EXPRESSION_CHARS = 2000
"""Longest condition accepted, in characters."""

ALLOWED_FUNCTIONS = frozenset(
    {
        "!_",
        "-_",
        "_&&_",
        "_||_",
        "_?_:_",
        "_+_",
        "_-_",
        "_*_",
        "_/_",
        "_%_",
        "_<_",
        "_<=_",
        "_>_",
        "_>=_",
        "_==_",
        "_!=_",
        "_in_",
        "double",
        "int",
    }
)
"""The CEL operators and functions a condition may use: arithmetic, comparison, logic,
``x in [a, b]`` and the ``double()``/``int()`` conversions."""

# A string literal (single, double or triple quoted, optional r/b prefixes), so that a dot
# inside a literal is not mistaken for member selection.
_STRING = re.compile(
    r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(\\.|[^'\\])*'|"(\\.|[^"\\])*")""", re.S
)
_MEMBER = re.compile(r"\.\s*[A-Za-z_]\w*")


class ConditionError(ValueError):
    """A condition is refused or fails; the message says why (the caller adds file and rule).

    ``rule`` names the failing rule when :class:`CompiledConditions` found it.
    """

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


@functools.cache
def engine_version() -> str:
    """Name and version of the expression engine, for the policy's provenance."""
    from importlib.metadata import version

    return f"common-expression-language {version('common-expression-language')}"


def _compile(text: str) -> cel.Program:
    # Imported on first use: the package's __init__ also loads its command line (typer,
    # prompt_toolkit), about 0.3 s that `import fintwin.risk` should not pay.
    import cel

    try:
        return cel.compile(text)
    except BaseException as exc:
        # pyo3 reports a panic of the Rust parser as PanicException, a BaseException.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise ConditionError(f"does not compile: {_engine_message(exc)}") from None


def _engine_message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _run(program: cel.Program, context: Mapping[str, float]) -> object:
    try:
        return program.execute(dict(context))
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise ConditionError(_engine_message(exc)) from None


def check_condition(text: str, variables: Collection[str]) -> tuple[str, ...]:
    """Check one rule condition and return the variables it uses.

    Parameters
    ----------
    text : str
        The condition, in CEL.
    variables : collection of str
        Names the condition may use (the declared features and ``score``).

    Returns
    -------
    tuple of str
        The variables the condition names, sorted.

    Raises
    ------
    ConditionError
        If the condition breaks one of the rules in this module's docstring.

    Examples
    --------
    >>> check_condition("amount > 220.0 && score >= 0.5", {"amount", "score"})
    ('amount', 'score')
    >>> check_condition("amount.__class__", {"amount"})
    Traceback (most recent call last):
    ...
    fintwin.risk._expressions.ConditionError: selects a member ('.__class__'); ...
    """
    if not text.strip():
        raise ConditionError("is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ConditionError(
            f"is {len(text)} characters long; at most {MAX_EXPRESSION_CHARS} are allowed"
        )
    program = _compile(text)
    refs = program.references()
    banned = sorted(set(refs["functions"]) - ALLOWED_FUNCTIONS)
    if banned:
        allowed = "arithmetic, comparison, &&, ||, !, ?:, in, double(), int()"
        raise ConditionError(
            f"calls {', '.join(repr(f) for f in banned)}, which policies may not use "
            f"(allowed: {allowed})"
        )
    member = _MEMBER.search(_STRING.sub('""', text))
    if member is not None:
        raise ConditionError(
            f"selects a member ({member.group(0)!r}); features are plain numbers, "
            "so write the feature's name alone"
        )
    used = tuple(sorted(refs["variables"]))
    unknown = [v for v in used if v not in variables]
    if unknown:
        raise ConditionError(
            f"refers to {', '.join(repr(v) for v in unknown)}, which is neither a declared "
            "feature nor 'score'"
        )
    try:
        value = _run(program, dict.fromkeys(used, 0.0))
    except ConditionError as exc:
        hint = (
            " (a division by a feature that is 0 gives NaN or infinity: guard it, e.g. "
            "'x > 0.0 && y / x > 3.0', or multiply instead)"
            if "/" in text
            else ""
        )
        raise ConditionError(f"fails when every variable is 0.0: {exc}{hint}") from None
    if not isinstance(value, bool):
        raise ConditionError(
            f"does not return a boolean: with every variable 0.0 it returns "
            f"{type(value).__name__} {value!r}"
        )
    return used


class CompiledConditions:
    """The conditions of a policy's rules, compiled into one CEL program.

    Parameters
    ----------
    conditions : sequence of str
        One checked condition per rule (see :func:`check_condition`), in rule order.
    names : sequence of str
        The rules' names, in the same order; used only to name a rule that fails.

    Examples
    --------
    >>> cc = CompiledConditions(["amount > 100.0", "score >= 0.5"], ["big", "risky"])
    >>> cc.evaluate({"amount": 150.0, "score": 0.2})
    [True, False]
    """

    __slots__ = ("_conditions", "_names", "_program")

    def __init__(self, conditions: Sequence[str], names: Sequence[str]) -> None:
        self._conditions = tuple(conditions)
        self._names = tuple(names)
        # Parentheses keep each condition's own precedence inside the list literal.
        self._program = _compile("[" + ", ".join(f"({c})" for c in self._conditions) + "]")

    def evaluate(self, context: dict[str, float]) -> list[object]:
        """Values of all conditions for one event, in rule order.

        Parameters
        ----------
        context : dict of str to float
            Every variable any condition uses.

        Returns
        -------
        list
            One value per rule; a checked condition gives a bool, but the caller must still
            treat anything else as an error (the zero sample cannot cover every branch).

        Raises
        ------
        ConditionError
            If a condition fails on this event; its ``rule`` names the rule.
        """
        try:
            return self._program.execute(context)
        except BaseException as exc:
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            self._name_the_failure(context, exc)
            raise  # pragma: no cover - _name_the_failure always raises

    def _name_the_failure(self, context: dict[str, float], exc: BaseException) -> None:
        for name, condition in zip(self._names, self._conditions, strict=True):
            try:
                _run(_compile(condition), context)
            except ConditionError as inner:
                raise ConditionError(f"fails on this event: {inner}", rule=name) from None
        raise ConditionError(f"the policy's conditions fail: {_engine_message(exc)}") from None
