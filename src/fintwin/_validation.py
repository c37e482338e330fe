"""Parameter checks shared by every module: one place, messages that state rule and value."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from fintwin.exceptions import ParameterError

E = TypeVar("E", bound=Enum)


def check_positive(name: str, value: float) -> None:
    """Refuse ``value <= 0``."""
    if not value > 0:
        raise ParameterError(f"{name} must be positive (got {value!r})")


def check_non_negative(name: str, value: float) -> None:
    """Refuse ``value < 0``."""
    if not value >= 0:
        raise ParameterError(f"{name} must be non-negative (got {value!r})")


def check_probability(name: str, value: float) -> None:
    """Refuse a value outside [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ParameterError(f"{name} must be a probability in [0, 1] (got {value!r})")


def to_enum(enum_type: type[E], name: str, value: object) -> E:
    """Convert ``value`` to ``enum_type`` or raise a message listing the allowed values."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum_type)
        raise ParameterError(f"{name} must be one of {allowed} (got {value!r})") from None
