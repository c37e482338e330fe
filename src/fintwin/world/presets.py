"""The presets: named, documented parameter sets, each with its world model."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fintwin._validation import to_enum
from fintwin.exceptions import ParameterError
from fintwin.world import aml, handbook, mobile_money, retail_bank
from fintwin.world._engine import Preset, WorldConfig, WorldModel

__all__ = ["PRESETS", "Preset", "PresetInfo", "build_model"]


@dataclass(frozen=True)
class PresetInfo:
    """How to build one preset's model.

    Attributes
    ----------
    params_type : type
        Frozen dataclass of the preset's own parameters.
    model : callable
        ``model(config, params) -> WorldModel``.
    defaults : mapping
        Default ``customers``, ``days`` and ``start``.
    """

    params_type: type
    model: Callable[[WorldConfig, Any], WorldModel]
    defaults: Mapping[str, Any]


PRESETS: dict[Preset, PresetInfo] = {
    Preset.HANDBOOK: PresetInfo(handbook.HandbookParams, handbook.HandbookModel, handbook.DEFAULTS),
    Preset.MOBILE_MONEY: PresetInfo(
        mobile_money.MobileMoneyParams, mobile_money.MobileMoneyModel, mobile_money.DEFAULTS
    ),
    Preset.AML: PresetInfo(aml.AmlParams, aml.AmlModel, aml.DEFAULTS),
    Preset.RETAIL_BANK: PresetInfo(
        retail_bank.RetailBankParams, retail_bank.RetailBankModel, retail_bank.DEFAULTS
    ),
}


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    """Parse a command-line string into ``kind`` (int, float, bool, str or an Enum)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        # e.g. ``MacroRegime | str | None``: the most specific member decides how to parse.
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        enums = [a for a in members if isinstance(a, type) and issubclass(a, Enum)]
        kind = (enums or members)[0]
    if not isinstance(raw, str) or kind is str:
        return raw
    if isinstance(kind, type) and issubclass(kind, Enum):
        return to_enum(kind, name, raw)
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes"):
                return True
            if raw.lower() in ("0", "false", "no"):
                return False
            raise ValueError(raw)
        if kind in (int, float):
            return kind(raw)
    except ValueError:
        raise ParameterError(f"{name} must be {kind.__name__} (got {raw!r})") from None
    raise ParameterError(f"{name} cannot be set from text (it is a {kind})")


def apply_overrides(params: Any, overrides: Mapping[str, Any], prefix: str = "") -> Any:
    """A copy of the dataclass ``params`` with ``overrides`` applied.

    Keys may be dotted to reach nested sections (``"economy.lending.policy.bureau_score_cutoff"``);
    string values are parsed into each field's declared type.
    """
    hints = typing.get_type_hints(type(params))
    fields = {f.name for f in dataclasses.fields(params)}
    nested: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}
    for key, raw in overrides.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            raise ParameterError(
                f"unknown parameter {prefix + key!r}; known here: {sorted(fields)}"
            )
        if rest:
            nested.setdefault(head, {})[rest] = raw
        else:
            values[head] = _coerce(prefix + head, hints[head], raw)
    for head, sub in nested.items():
        section = getattr(params, head)
        if not dataclasses.is_dataclass(section):
            raise ParameterError(f"{prefix + head} has no sub-parameters")
        values[head] = apply_overrides(section, sub, prefix + head + ".")
    return dataclasses.replace(params, **values)


def build_model(
    preset: Preset | str,
    *,
    customers: int | None = None,
    days: int | None = None,
    start: dt.date | str | None = None,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> WorldModel:
    """Build the world model of ``preset``; ``params`` override the preset's own parameters."""
    preset = to_enum(Preset, "preset", preset)
    if preset not in PRESETS:
        raise ParameterError(f"preset {preset.value!r} is not available yet")
    info = PRESETS[preset]
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            raise ParameterError(f"start must be a date YYYY-MM-DD (got {start!r})") from None
    config = WorldConfig(
        customers=info.defaults["customers"] if customers is None else int(customers),
        days=info.defaults["days"] if days is None else int(days),
        start=info.defaults["start"] if start is None else start,
        seed=int(seed),
    )
    return info.model(config, apply_overrides(info.params_type(), dict(params or {})))
