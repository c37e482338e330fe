"""A Ray session for the duration of a run: connect (or start a local cluster), then shut down
what this run started. Ray is the optional ``ray`` extra, imported only here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fintwin.exceptions import ParameterError

__all__ = ["ray_session"]


@contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """The ``ray`` module, connected to ``address`` (``""`` or ``"local"``: a local cluster).

    A session already initialised by the caller is used as it is and left running.

    Raises
    ------
    ParameterError
        Ray is not installed.
    """
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the extra
        raise ParameterError("ray is not installed: pip install 'fintwin[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=None if address in ("", "local") else address,
            log_to_driver=False,
            include_dashboard=False,
        )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
