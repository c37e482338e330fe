"""RedisState against a real redis-server: the pickle-free codec round-trips every state class,
engines over Redis (one or several clients) equal engines in memory bit for bit, optimistic
transactions lose no update, expiry bounds the keys, a dead or hung server raises
StateUnavailableError quickly, and decisions are the same with either backend."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

import lightgbm as lgb
import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from _feature_streams import customers_table, event_streams, every_family, in_order, to_event
from _redis import fresh_namespace, redis_server, start_redis  # noqa: F401  (fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fintwin.exceptions import DataError, ParameterError, StateUnavailableError
from fintwin.features import (
    DAY,
    HOUR,
    ComponentSize,
    Entity,
    FeatureSet,
    FraudDistance,
    InMemoryState,
    OnlineFeatureEngine,
    RedisState,
    ShortCycle,
    StateBackend,
    Velocity,
    compute_offline,
    handbook_feature_set,
    iter_events,
)
from fintwin.features._online_state import Clock, ProfileKey
from fintwin.features._state_codec import FORMAT, STATE_TAGS, decode_state, encode_state
from fintwin.features.graph_engine import Edges

_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def all_families() -> FeatureSet:
    """Every family of the feature tests plus the graph families (card-device, transfers)."""
    graph = [
        FraudDistance(window_seconds=DAY, max_hops=3, fraud_horizon_seconds=2 * DAY),
        ComponentSize(window_seconds=6 * HOUR, max_size=4),
        ShortCycle(DAY, max_length=4, max_degree=4),
    ]
    return FeatureSet([*every_family(), *graph])


FS = all_families()
LABELS = ("is_fraud", "label_available_at")


@st.composite
def streams(draw) -> tuple[list[dict], list[bool]]:
    """Events of every family's keys plus transfer accounts; per event whether its label
    comes live (through add_label) instead of with the event."""
    events = in_order(draw(event_streams(max_events=40)))
    accounts = draw(st.integers(1, 4))
    for e in events:
        e["src_account_id"] = draw(st.one_of(st.none(), st.integers(1, accounts)))
        e["dst_account_id"] = draw(st.integers(1, accounts))
    live = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    return events, live


def run(engines: list[OnlineFeatureEngine], events, live, pick=None, atomic=True) -> list:
    """Feed the events (engine ``pick[i]`` takes event i); live labels right after their
    event. Returns every feature dict and add_label result, in order."""
    out: list[Any] = []
    for i, e in enumerate(events):
        eng = engines[0 if pick is None else pick[i]]
        ev = to_event(e)
        if live[i]:
            ev = {k: v for k, v in ev.items() if k not in LABELS}
        call = eng.state.atomic if atomic and isinstance(eng.state, RedisState) else _direct
        out.append(call(eng.update, ev))
        if live[i]:
            label = (e["transaction_id"], e["is_fraud"], e["label_available_at"])
            out.append(call(eng.add_label, *label))
    return out


def _direct(fn, *args):
    return fn(*args)


def assert_same(a: list, b: list) -> None:
    """Same feature dicts (NaN equal to NaN, every other value bit-identical) and results."""
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if isinstance(x, dict):
            assert list(x) == list(y)
            for name in x:
                same = x[name] == y[name] or (math.isnan(x[name]) and math.isnan(y[name]))
                assert same, f"output {k}, {name}: {x[name]!r} != {y[name]!r}"
        else:
            assert x == y, f"output {k}: {x!r} != {y!r}"


def connect(url: str, namespace: str) -> RedisState:
    # these tests check values, not timing: a generous timeout keeps a busy shared machine
    # from failing them (the failure tests below use the default 50 ms)
    return RedisState.from_url(url, namespace=namespace, timeout_s=2.0)


@pytest.fixture
def state(redis_server) -> RedisState:  # noqa: F811
    s = connect(redis_server.url, fresh_namespace())
    yield s
    s.clear()
    s.close()


# -- codec ---------------------------------------------------------------------------------------


def same_state(a: Any, b: Any) -> bool:
    """Deep equality that also requires equal types (a tuple is not a list) and equal order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same_state(ka, kb) and same_state(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list | tuple | deque):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(type(a), "__slots__"):
        return all(same_state(getattr(a, s), getattr(b, s)) for s in type(a).__slots__)
    return a == b or (a != a and b != b)


class Recording(InMemoryState):
    """An in-memory state that checks every value it is given survives the codec."""

    def __init__(self) -> None:
        super().__init__()
        self.types: set[type] = set()

    def put(self, slot, key, value, expires_at) -> None:
        self.types.add(type(value))
        back = decode_state(encode_state(value))
        assert same_state(value, back), (slot, key, type(value).__name__)
        super().put(slot, key, value, expires_at)


@_SETTINGS
@given(streams())
def test_every_value_the_engine_stores_round_trips(stream) -> None:
    events, live = stream
    rec = Recording()
    run([OnlineFeatureEngine(FS, state=rec, customers=customers_table())], events, live)
    # whatever the engine stores is a registered state class
    assert rec.types <= set(STATE_TAGS), rec.types - set(STATE_TAGS)


def test_the_codec_knows_every_state_class_and_the_streams_reach_them() -> None:
    rng = np.random.default_rng(4)
    rec = Recording()
    events = _fixed_stream(rng)
    live = [bool(b) for b in rng.random(len(events)) < 0.5]
    run([OnlineFeatureEngine(FS, state=rec, customers=customers_table())], events, live)
    from fintwin.features._online_state import LabelWindow

    # LabelWindow is stored inside LabelKey only; it has a tag and round-trips on its own too
    assert rec.types | {LabelWindow} == set(STATE_TAGS)
    assert len(set(STATE_TAGS.values())) == len(STATE_TAGS)  # tags are distinct


def _fixed_stream(rng: np.random.Generator, n: int = 400) -> list[dict]:
    """A dense stream over 3 days on small pools: every family has state to keep."""
    t0 = 1_704_067_200_000
    times = np.sort(rng.integers(0, 3 * DAY * 1000, n))
    out = []
    for i in range(n):
        t = int(t0 + times[i])
        out.append(
            {
                "transaction_id": i + 1,
                "timestamp": t,
                "customer_id": int(rng.integers(0, 3)),
                "card_id": int(rng.integers(0, 4)),
                "terminal_id": int(rng.integers(0, 4)),
                "device_id": [None, 1, 2][int(rng.integers(0, 3))],
                "ip_prefix": [None, "10.0.1", "10.0.2"][int(rng.integers(0, 3))],
                "country": ["NL", "FR"][int(rng.integers(0, 2))],
                "channel": ["pos", "ecom"][int(rng.integers(0, 2))],
                "location_x": float(rng.integers(0, 400)) / 4,
                "location_y": float(rng.integers(0, 400)) / 4,
                "amount_cents": int(rng.integers(0, 50_000)),
                "is_fraud": bool(rng.random() < 0.3),
                "label_available_at": t + int(rng.integers(0, 2 * DAY * 1000)),
                "src_account_id": [None, 1, 2, 3][int(rng.integers(0, 4))],
                "dst_account_id": int(rng.integers(1, 4)),
            }
        )
    return out


keys = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.floats(allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(keys, st.integers(-(2**62), 2**62), max_size=8), st.integers(-(2**200), 2**200)
)
def test_edges_and_big_integers_round_trip(edges, big) -> None:
    e = Edges(edges)
    assert same_state(decode_state(encode_state(e)), e)
    p = ProfileKey(1)
    p.s2 = [big]  # sums of squared cents can outgrow 64 bits
    assert decode_state(encode_state(p)).s2 == [big]


def test_unknown_tags_other_formats_and_garbage_are_data_errors() -> None:
    with pytest.raises(DataError, match="unknown state type tag 'pickle'"):
        decode_state(msgpack.packb([FORMAT, "pickle", b"cos\nsystem\n"]))
    with pytest.raises(DataError, match="format 99"):
        decode_state(msgpack.packb([99, "clock", 1, 2]))
    with pytest.raises(DataError, match="malformed"):
        decode_state(msgpack.packb([FORMAT, "clock", 1]))
    with pytest.raises(DataError, match="not valid MessagePack"):
        decode_state(b"\xc1")
    with pytest.raises(DataError, match="extension 7"):
        decode_state(msgpack.packb([FORMAT, "clock", msgpack.ExtType(7, b"x"), 1]))
    with pytest.raises(ParameterError, match="cannot store a dict"):
        encode_state({"a": 1})
    c = Clock(1, 2)
    c.t = object()
    with pytest.raises(ParameterError, match="cannot encode 'clock'"):
        encode_state(c)


# -- the backend on its own ----------------------------------------------------------------------


def test_redis_state_satisfies_the_protocol_and_expires_like_memory(state) -> None:
    assert isinstance(state, StateBackend)
    mem = InMemoryState()
    for s in (state, mem):
        s.put("a", 1, Clock(1, 1), 100)
        s.put("a", "1", Clock(2, 2), 200)  # 1 and "1" are different keys
        s.put("b", None, Clock(3, 3), None)  # never expires
        s.put("b", 2.0, Clock(4, 4), 150)  # 2.0 is the key 2
        assert s.get("b", 2).t == 4
        assert s.expire(99) == 0
        assert s.expire(100) == 1 and s.get("a", 1) is None and s.get("a", "1").t == 2
        s.put("a", 1, Clock(5, 5), 90)  # written already due: visible until the next expire
        assert s.get("a", 1).t == 5
        assert s.expire(100) == 1 and s.get("a", 1) is None
        s.delete("a", "1")
        s.delete("a", "1")
        assert s.get("a", "1") is None
        assert s.size() == 2
    assert state.keys() == mem.keys() == 2
    assert state.expire(10**13) == 1 and state.keys() == 1


def test_namespaces_are_separate_and_checked(redis_server) -> None:  # noqa: F811
    a = connect(redis_server.url, fresh_namespace())
    b = connect(redis_server.url, fresh_namespace())
    a.put("s", 1, Clock(1, 1), None)
    assert b.get("s", 1) is None and a.get("s", 1).t == 1
    assert a.clear() == 1 and a.get("s", 1) is None
    with pytest.raises(ParameterError, match="namespace"):
        RedisState.from_url(redis_server.url, namespace="a:b")
    with pytest.raises(ParameterError, match="timeout_s"):
        RedisState.from_url(redis_server.url, timeout_s=0)
    with pytest.raises(ParameterError, match="key"):
        a.put("s", (1, 2), Clock(1, 1), None)
    assert "secret" not in repr(RedisState.from_url("redis://:secret@localhost:1/0"))


def test_stored_bytes_decode_only_to_registered_classes(state, redis_server) -> None:  # noqa: F811
    state.put("s", 1, Clock(1, 1), None)
    raw = redis.Redis.from_url(redis_server.url)
    key = f"fintwin:{{{state.namespace}}}:s:i1"
    head = raw.get(key)[:16]
    raw.set(key, head + msgpack.packb([FORMAT, "os.system", "echo hi"]))
    with pytest.raises(DataError, match=r"unknown state type tag 'os\.system'"):
        state.get("s", 1)
    raw.close()


# -- engines: Redis equals memory ----------------------------------------------------------------


@_SETTINGS
@given(stream=streams())
def test_engine_over_redis_equals_engine_in_memory(redis_server, stream) -> None:  # noqa: F811
    events, live = stream
    expected = run([OnlineFeatureEngine(FS, customers=customers_table())], events, live)
    for atomic in (True, False):
        s = connect(redis_server.url, fresh_namespace())
        try:
            got = run([OnlineFeatureEngine(FS, state=s, customers=customers_table())], events, live,
                      atomic=atomic)  # fmt: skip
        finally:
            s.clear()
        assert_same(got, expected)


@_SETTINGS
@given(stream=streams(), data=st.data())
def test_two_clients_taking_turns_equal_one_engine_in_memory(redis_server, stream, data) -> None:  # noqa: F811
    events, live = stream
    pick = data.draw(st.lists(st.integers(0, 1), min_size=len(events), max_size=len(events)))
    expected = run([OnlineFeatureEngine(FS, customers=customers_table())], events, live)
    ns = fresh_namespace()
    states = [connect(redis_server.url, ns) for _ in range(2)]
    try:
        engines = [OnlineFeatureEngine(FS, state=s, customers=customers_table()) for s in states]
        got = run(engines, events, live, pick)
    finally:
        states[0].clear()
    assert_same(got, expected)


def test_a_state_of_another_feature_set_is_refused(state) -> None:
    OnlineFeatureEngine(FeatureSet([Velocity(Entity.CARD, DAY)]), state=state)
    with pytest.raises(ParameterError, match="use a fresh state"):
        OnlineFeatureEngine(FeatureSet([Velocity(Entity.CARD, HOUR)]), state=state)


def test_expiry_bounds_the_keys_like_memory(state) -> None:
    """Over 60 days of events on ever new cards, Redis holds exactly the keys memory holds."""
    fs = FeatureSet([Velocity(Entity.CARD, HOUR), Velocity(Entity.TERMINAL, DAY)])
    mem = OnlineFeatureEngine(fs)
    red = OnlineFeatureEngine(fs, state=state)
    rng = np.random.default_rng(2)
    t0, most = 1_704_067_200_000, 0
    for i in range(3000):
        t = t0 + i * 30 * 60_000  # one event every 30 minutes
        ev = {"transaction_id": i, "timestamp": t, "card_id": i // 3,
              "terminal_id": int(rng.integers(0, 5)), "amount": 1}  # fmt: skip
        assert state.atomic(red.update, ev) == mem.update(ev)
        if i % 250 == 0:
            assert state.keys() == mem.state.keys()
            most = max(most, state.keys())
    # a card lives an hour, so a couple of cards, 5 terminals, the clock and the stamp
    assert most <= 2 + 5 + 2
    zset = state._client.zcard(state._zset)  # only expiring keys are scored
    assert zset == state.keys() - 2


# -- concurrency ---------------------------------------------------------------------------------


def test_a_conflicting_commit_is_rerun_not_lost(redis_server) -> None:  # noqa: F811
    ns = fresh_namespace()
    a = connect(redis_server.url, ns)
    b = connect(redis_server.url, ns)
    a.put("n", 0, Clock(0, 0), None)
    runs = []

    def bump_with_interference() -> int:
        c = a.get("n", 0)
        if not runs:  # another process commits in between, the first time only
            b.atomic(lambda: b.put("n", 0, Clock(b.get("n", 0).t + 10, 0), None))
        runs.append(c.t)
        c.t += 1
        a.put("n", 0, c, None)
        return c.t

    assert a.atomic(bump_with_interference) == 11
    assert runs == [0, 10] and a.conflicts == 1 and a.get("n", 0).t == 11
    # without a transaction the same interleaving loses b's update (last writer wins)
    c = a.get("n", 0)
    b.put("n", 0, Clock(b.get("n", 0).t + 10, 0), None)
    c.t += 1
    a.put("n", 0, c, None)
    assert a.get("n", 0).t == 12
    a.clear()


def test_threads_incrementing_through_atomic_lose_nothing(redis_server) -> None:  # noqa: F811
    ns = fresh_namespace()
    connect(redis_server.url, ns).put("n", 0, Clock(0, 0), None)
    errors: list[BaseException] = []

    def worker() -> None:
        s = connect(redis_server.url, ns)

        def bump() -> None:
            c = s.get("n", 0)
            c.t += 1
            s.put("n", 0, c, None)

        try:
            for _ in range(150):
                s.atomic(bump)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    s = connect(redis_server.url, ns)
    assert s.get("n", 0).t == 450
    s.clear()


def test_an_exception_keeps_what_was_written_and_propagates(state) -> None:
    eng = OnlineFeatureEngine(FeatureSet([Velocity(Entity.CARD, DAY)]), state=state)
    ev = {"transaction_id": 2, "timestamp": 1000, "card_id": 1, "amount": 1}
    state.atomic(eng.update, ev)
    with pytest.raises(DataError, match="out of order"):
        state.atomic(eng.update, ev | {"transaction_id": 1})
    assert eng.clock == (1000, 2)


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill", "pause"])
def test_a_dead_or_hung_server_raises_quickly(tmp_path_factory, how: str) -> None:
    server = start_redis(tmp_path_factory)
    fs = FeatureSet([Velocity(Entity.CARD, DAY)])
    try:
        slow = connect(server.url, "f")
        warm = OnlineFeatureEngine(fs, state=slow)
        for i in range(20):
            slow.atomic(warm.update, {"transaction_id": i, "timestamp": i, "card_id": 1,
                                      "amount": 1})  # fmt: skip
        state = RedisState.from_url(server.url, namespace="f")  # the default 50 ms timeout
        eng = OnlineFeatureEngine(fs, state=state)
        server.kill() if how == "kill" else server.pause()
        for i in range(20, 25):  # every call fails fast, none hangs
            start = time.perf_counter()
            with pytest.raises(StateUnavailableError, match=r"Redis state 'f' at redis://"):
                state.atomic(eng.update, {"transaction_id": i, "timestamp": i, "card_id": 1,
                                          "amount": 1})  # fmt: skip
            # the 50 ms socket timeout plus scheduling on a busy 2-core machine
            assert time.perf_counter() - start < 0.5
        assert not state.ping()
        if how == "pause":  # the server comes back: so does the state, nothing lost
            server.resume()
            assert slow.ping()
            feats = slow.atomic(warm.update, {"transaction_id": 99, "timestamp": 99,
                                              "card_id": 1, "amount": 1})  # fmt: skip
            assert feats["card_count_1d"] == 21.0
    finally:
        server.stop()


def test_an_unreachable_server_raises_at_once() -> None:
    state = RedisState.from_url("redis://127.0.0.1:1/0", namespace="x")
    start = time.perf_counter()
    with pytest.raises(StateUnavailableError, match="GET failed"):
        state.get("s", 1)
    assert time.perf_counter() - start < 0.5
    assert isinstance(StateUnavailableError("x"), ConnectionError)


# -- decisions -----------------------------------------------------------------------------------


def test_decisions_are_identical_with_both_backends(handbook_world, state, tmp_path) -> None:
    """A small model and the handbook policy over the first 9 days of a handbook world.

    Events carry every fraud label and a tenth of the genuine ones (the rest come unlabelled,
    as in live use): the 7-day-delayed terminal features still fire on days 7 and 8, and the
    pending-label heap, which every event rewrites, stays small enough for a quick test."""
    from fintwin.governance import ModelMetadata, ModelRegistry
    from fintwin.risk import DecisionEngine, builtin_policy_path, load_policy

    fs = handbook_feature_set()
    tx = handbook_world.arrow("transactions")
    t = tx.column("timestamp").cast(pa.int64()).to_numpy()
    day = (t - (t.min() - t.min() % 86_400_000)) // 86_400_000
    tx = tx.filter(pa.array(day < 9))
    tx = tx.take(pc.sort_indices(tx, [("timestamp", "ascending"), ("transaction_id", "ascending")]))
    feats = compute_offline(fs, tx)
    x = np.column_stack([feats.column(n).to_numpy() for n in fs.names])
    y = tx.column("is_fraud").to_numpy(zero_copy_only=False).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbosity": -1, "seed": 3,
              "deterministic": True, "num_threads": 1}  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=fs.names), num_boost_round=10)
    import datetime as dt

    meta = ModelMetadata("redis-test", tuple(fs.names), fs.definitions_hash(),
                         dt.datetime(2018, 4, 1), dt.datetime(2018, 4, 10),
                         dt.datetime(2018, 4, 10), "test")  # fmt: skip
    registry = ModelRegistry(tmp_path / "registry")
    model = registry.load(registry.register("redis-test", booster, meta).model_id)
    policy = load_policy(builtin_policy_path("handbook"), fs.names)
    mem = DecisionEngine(fs, model, policy)
    red = DecisionEngine(fs, model, policy, state=state)
    n = actions = 0
    keep = np.random.default_rng(8).random(tx.num_rows) < 0.1
    for i, event in enumerate(iter_events(tx)):
        if not (event["is_fraud"] or keep[i]):
            del event["is_fraud"], event["label_available_at"]
        a, b = mem.decide(event), state.atomic(red.decide, event)
        assert (a.action, a.score, a.reasons, a.rules, a.band) == (
            b.action, b.score, b.reasons, b.rules, b.band
        )  # fmt: skip
        assert all(
            a.features[k] == b.features[k] or (a.features[k] != a.features[k] and
                                               b.features[k] != b.features[k])
            for k in fs.names
        )  # fmt: skip
        n += 1
        actions += a.action.value != "approve"
    assert n > 1000 and actions > 0  # the comparison covered alerts, not only approvals
