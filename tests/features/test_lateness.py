"""Allowed lateness of the online engine: the strict default is unchanged; a late event within
the lateness is processed as of the clock (its features are those of the same event re-timed
to the clock, calendar features aside, which keep its own time); older ones are refused with
both times named; the clock never goes back; the same over RedisState."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from _feature_streams import T0, customers_table, event_streams, every_family, in_order, to_event
from _redis import fresh_namespace, redis_server  # noqa: F401  (fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fintwin.exceptions import DataError, ParameterError
from fintwin.features import (
    DAY,
    HOUR,
    Aggregation,
    Calendar,
    ComponentSize,
    Entity,
    FeatureSet,
    FraudDistance,
    OnlineFeatureEngine,
    Recency,
    RedisState,
    ShortCycle,
    Velocity,
)
from fintwin.features._event_values import calendar_value

FS = FeatureSet(
    [
        *every_family(),
        FraudDistance(window_seconds=DAY, max_hops=3, fraud_horizon_seconds=2 * DAY),
        ComponentSize(window_seconds=6 * HOUR, max_size=4),
        ShortCycle(DAY, max_length=4, max_degree=4),
    ]
)
CALENDAR = {d.name: d for d in FS if isinstance(d, Calendar)}
SMALL = FeatureSet([Velocity(Entity.CARD, DAY, Aggregation.SUM), Recency(Entity.CARD)])
LATENESS_MS = 2 * HOUR * 1000
LABELS = ("is_fraud", "label_available_at")


def event(i: int, t: int, **kw) -> dict:
    return {"transaction_id": i, "timestamp": t, "card_id": 1, "amount": "1.00", **kw}


# -- the strict default --------------------------------------------------------------------------


@pytest.mark.parametrize("lateness", [None, 0, dt.timedelta(0), np.int64(0)])
@pytest.mark.parametrize(
    ("second", "why"),
    [
        (event(1, T0 - 1), "earlier timestamp"),
        (event(1, T0), "same timestamp, smaller id"),
        (event(2, T0), "the same event again"),
    ],
)
def test_zero_lateness_is_the_strict_order(lateness, second, why) -> None:
    kw = {} if lateness is None else {"allowed_lateness": lateness}
    eng = OnlineFeatureEngine(SMALL, **kw)
    assert eng.allowed_lateness == 0
    eng.update(event(2, T0))
    with pytest.raises(DataError) as err:
        eng.update(second)
    # the message of the strict engine, word for word
    assert str(err.value) == (
        f"column 'timestamp': event {second['transaction_id']} at {second['timestamp']} ms "
        f"arrives out of order: the engine has processed up to event 2 at {T0} ms; events "
        "must come in (timestamp, id) order"
    ), why
    assert eng.clock == (T0, 2) and eng.last_event == (T0, 2) and eng.last_as_of == T0


@pytest.mark.parametrize(
    ("value", "ms"),
    [(dt.timedelta(seconds=2), 2000), (1500, 1500), (np.int32(7), 7), (dt.timedelta(0), 0)],
)
def test_lateness_accepts_a_timedelta_or_milliseconds(value, ms) -> None:
    assert OnlineFeatureEngine(SMALL, allowed_lateness=value).allowed_lateness == ms


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (-1, ">= 0"),
        (dt.timedelta(seconds=-1), ">= 0"),
        (dt.timedelta(microseconds=1500), "whole milliseconds"),
        (1.5, "timedelta or an int"),
        (True, "timedelta or an int"),
        ("2s", "timedelta or an int"),
    ],
)
def test_invalid_lateness_is_refused(value, match) -> None:
    with pytest.raises(ParameterError, match=match):
        OnlineFeatureEngine(SMALL, allowed_lateness=value)


# -- late events ---------------------------------------------------------------------------------


def test_an_event_beyond_the_lateness_is_refused_and_leaves_no_trace() -> None:
    eng = OnlineFeatureEngine(SMALL, allowed_lateness=dt.timedelta(seconds=1))
    eng.update(event(5, T0 + 5000))
    msg = (
        rf"event 1 at {T0 + 3999} ms \(2024-01-01T00:00:03\.999\) arrives out of order, "
        rf"1001 ms late: the engine has processed up to event 5 at {T0 + 5000} ms "
        r"\(2024-01-01T00:00:05\.000\) and the allowed lateness is 1000 ms"
    )
    with pytest.raises(DataError, match=msg):
        eng.update(event(1, T0 + 3999))
    assert eng.clock == (T0 + 5000, 5)
    # exactly the lateness late is accepted, as of the clock; the refused event is not counted
    out = eng.update(event(2, T0 + 4000))
    assert out == {"card_amount_sum_1d": 2.0, "card_seconds_since_prev_30d": 0.0}
    assert eng.clock == (T0 + 5000, 5)
    assert eng.last_event == (T0 + 4000, 2) and eng.last_as_of == T0 + 5000


@pytest.mark.parametrize("t", [T0 + 5000, T0 + 4500])
def test_the_clock_event_again_is_refused_as_a_repeat(t) -> None:
    eng = OnlineFeatureEngine(SMALL, allowed_lateness=1000)
    eng.update(event(5, T0 + 5000))
    with pytest.raises(DataError, match="repeats the latest event processed"):
        eng.update(event(5, t))
    assert eng.update(event(6, T0 + 5000))["card_amount_sum_1d"] == 2.0


def test_a_tie_with_a_smaller_id_is_processed_at_its_time() -> None:
    eng = OnlineFeatureEngine(SMALL, allowed_lateness=1)
    eng.update(event(5, T0))
    assert eng.update(event(3, T0))["card_seconds_since_prev_30d"] == 0.0
    assert eng.clock == (T0, 5) and eng.last_event == (T0, 3) and eng.last_as_of == T0
    eng.update(event(4, T0 + 1))  # later: moves the clock, whatever its id
    assert eng.clock == (T0 + 1, 4)


@st.composite
def late_streams(draw) -> tuple[list[dict], list[bool]]:
    """Events of every family arriving up to LATENESS_MS out of order: sorted by timestamp
    plus a delay in [0, L], so each is at most L older than any event before it. Per event,
    whether its label comes live (add_label) instead of with it."""
    events = in_order(draw(event_streams(max_events=40)))
    accounts = draw(st.integers(1, 4))
    for e in events:
        e["src_account_id"] = draw(st.one_of(st.none(), st.integers(1, accounts)))
        e["dst_account_id"] = draw(st.integers(1, accounts))
    delay = st.one_of(st.just(0), st.integers(0, LATENESS_MS), st.just(LATENESS_MS))
    delays = draw(st.lists(delay, min_size=len(events), max_size=len(events)))
    order = sorted(range(len(events)), key=lambda i: (events[i]["timestamp"] + delays[i], i))
    live = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    return [events[i] for i in order], live


def check_late_stream(engine: OnlineFeatureEngine, events: list[dict], live: list[bool], call):
    """Feed ``events`` (arrival order) to ``engine`` and, re-timed, to a strict engine.

    The strict engine gets each event at ``max(its time, the clock)`` with a fresh increasing
    id, so it sees a valid strict stream: every feature must equal, bit for bit, except the
    calendar ones, which must be those of the event's own time."""
    strict = OnlineFeatureEngine(FS, customers=customers_table())
    clock = None
    for n, e in enumerate(events):
        ev, t = to_event(e), e["timestamp"]
        if live[n]:
            ev = {k: v for k, v in ev.items() if k not in LABELS}
        got = call(engine.update, ev)
        as_of = t if clock is None else max(t, clock[0])
        want = strict.update(ev | {"timestamp": as_of, "transaction_id": n})
        if live[n]:
            label = (e["is_fraud"], e["label_available_at"])
            assert call(engine.add_label, e["transaction_id"], *label) == strict.add_label(
                n, *label
            )
        for name in FS.names:
            x = got[name]
            y = calendar_value(CALENDAR[name], t) if name in CALENDAR else want[name]
            assert x == y or (math.isnan(x) and math.isnan(y)), (n, name, x, y)
        clock = max(clock or (t, e["transaction_id"]), (t, e["transaction_id"]))
        assert engine.clock == clock  # never goes back
        assert engine.last_event == (t, e["transaction_id"]) and engine.last_as_of == as_of


@settings(max_examples=80, deadline=None)
@given(stream=late_streams())
def test_a_late_event_has_the_features_of_the_event_retimed_to_the_clock(stream) -> None:
    events, live = stream
    engine = OnlineFeatureEngine(FS, customers=customers_table(), allowed_lateness=LATENESS_MS)
    check_late_stream(engine, events, live, lambda fn, *a: fn(*a))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream=late_streams())
def test_late_events_over_redis_as_in_memory(redis_server, stream) -> None:  # noqa: F811
    events, live = stream
    state = RedisState.from_url(redis_server.url, namespace=fresh_namespace(), timeout_s=2.0)
    try:
        engine = OnlineFeatureEngine(
            FS,
            state=state,
            customers=customers_table(),
            allowed_lateness=dt.timedelta(milliseconds=LATENESS_MS),
        )
        check_late_stream(engine, events, live, state.atomic)
        too_late = to_event(events[0]) | {"transaction_id": 10**6, "timestamp": T0 - 1}
        if engine.clock[0] - LATENESS_MS > T0 - 1:
            with pytest.raises(DataError, match="allowed lateness is 7200000 ms"):
                state.atomic(engine.update, too_late)
    finally:
        state.clear()
        state.close()
