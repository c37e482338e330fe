"""YAML documents read into strict pydantic models, with errors that name file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fintwin.exceptions import DataError

__all__ = ["field_path", "load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("paths", "unemployment", 3)`` -> ``paths.unemployment[3]``."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker of a bad mapping key: the key is the field
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Parse ``path`` as YAML and validate it as ``model``.

    Raises
    ------
    DataError
        The file cannot be read, is not YAML, or breaks the model: the message names the file
        and, as ``column``, the field path (``credit.min_bureau_score``,
        ``paths.unemployment[3]``) with what was expected.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot be read: {error.strerror}", file=path) from None
    except yaml.YAMLError as error:
        raise DataError(f"is not YAML: {error}", file=path) from None
    if not isinstance(data, dict):
        raise DataError("must be a YAML mapping at the top level", file=path)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise DataError(
            f"{first['msg']} (got {first.get('input')!r}){more}",
            file=path,
            column=field_path(tuple(first["loc"])) or None,
        ) from None
