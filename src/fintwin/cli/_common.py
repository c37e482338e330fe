"""What every sub-app shares: turning fintwin errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from fintwin.exceptions import FintwinError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print a :class:`FintwinError` as ``error: ...`` on stderr and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except FintwinError as exc:
            # escaped: a path or name in brackets ("[raw]") is text, not Rich markup
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper


def parse_pairs(pairs: list[str] | None, option: str, sep: str = "=") -> dict[str, str]:
    """``["a=b", "c=d"]`` -> ``{"a": "b", "c": "d"}``; a malformed pair names the option."""
    from fintwin.exceptions import ParameterError

    out: dict[str, str] = {}
    for pair in pairs or []:
        key, found, value = pair.partition(sep)
        if not found or not key.strip():
            raise ParameterError(f"{option} takes KEY{sep}VALUE (got {pair!r})")
        out[key.strip()] = value.strip()
    return out
