"""The presets: named, documented parameter sets, each with its world model."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fintwin.exceptions import ParameterError
from fintwin.world import handbook
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
}


def _coerce(field: dataclasses.Field, raw: Any, preset: Preset) -> Any:
    """Parse a CLI string into the field's type (ints, floats, bools, enums)."""
    if not isinstance(raw, str):
        return raw
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes"):
                return True
            if raw.lower() in ("0", "false", "no"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ParameterError(
            f"{preset} parameter {field.name} must be {kind} (got {raw!r})"
        ) from None
    return raw


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
    from fintwin._validation import to_enum

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
    fields = {f.name: f for f in dataclasses.fields(info.params_type)}
    given = dict(params or {})
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ParameterError(
            f"unknown parameters {unknown} for preset {preset.value!r}; known: {sorted(fields)}"
        )
    values = {k: _coerce(fields[k], v, preset) for k, v in given.items()}
    return info.model(config, info.params_type(**values))
