"""Which events the online engine accepts, and as of what time: strict order or allowed lateness.

With no lateness (the default) events must come in strictly increasing ``(timestamp, id)``
order, which is what makes the online values equal the offline ones. With an allowed lateness
``L`` (ms), an event up to ``L`` older than the engine's clock is processed *as of* the clock
time; see :class:`~fintwin.features.OnlineFeatureEngine`.

Examples
--------
>>> from fintwin.features._online_state import Clock
>>> clock = Clock(10_000, 7)
>>> as_of(clock, 12_000, 1, 0), as_of(clock, 9_500, 8, 1_000), as_of(clock, 10_000, 3, 1_000)
(12000, 10000, 10000)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from fintwin.exceptions import DataError, ParameterError
from fintwin.features._online_state import Clock

_EPOCH = dt.datetime(1970, 1, 1)
_ONE_MS = dt.timedelta(milliseconds=1)


def lateness_ms(value: Any) -> int:
    """``allowed_lateness`` (a ``timedelta`` or an int of ms, >= 0) in whole milliseconds.

    Raises
    ------
    ParameterError
        Not a timedelta or an integer, negative, or finer than a millisecond.
    """
    if isinstance(value, dt.timedelta):
        ms, rest = divmod(value, _ONE_MS)
        if rest:
            raise ParameterError(f"allowed_lateness must be whole milliseconds (got {value!r})")
    elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        ms = int(value)
    else:
        raise ParameterError(
            f"allowed_lateness must be a datetime.timedelta or an int of ms (got {value!r})"
        )
    if ms < 0:
        raise ParameterError(f"allowed_lateness must be >= 0 (got {value!r})")
    return ms


def as_of(clock: Clock | None, t: int, eid: int, lateness: int) -> int:
    """The time (ms) the event ``(t, eid)`` is processed as of, given the engine's ``clock``.

    ``t`` itself when the event is later than the clock in ``(timestamp, id)`` order; else,
    with ``lateness > 0``, the clock's time, provided the event is at most ``lateness`` ms
    older than it and is not the clock's own event.

    Raises
    ------
    DataError
        The event is out of order beyond the allowed lateness, or repeats the clock's event.
    """
    if clock is None or (t, eid) > (clock.t, clock.id):
        return t
    if not lateness:
        raise DataError(
            f"event {eid} at {t} ms arrives out of order: the engine has processed up to "
            f"event {clock.id} at {clock.t} ms; events must come in (timestamp, id) order",
            column="timestamp",
        )
    if eid == clock.id:
        raise DataError(
            f"event {eid} at {t} ms is out of order: it repeats the latest event processed "
            f"(event {clock.id} at {clock.t} ms); an event is counted once",
            column="timestamp",
        )
    if t < clock.t - lateness:
        raise DataError(
            f"event {eid} at {t} ms ({_iso(t)}) arrives out of order, {clock.t - t} ms "
            f"late: the engine has processed up to event {clock.id} at {clock.t} ms "
            f"({_iso(clock.t)}) and the allowed lateness is {lateness} ms",
            column="timestamp",
        )
    return clock.t


def _iso(t: int) -> str:
    return (_EPOCH + t * _ONE_MS).isoformat(timespec="milliseconds")
