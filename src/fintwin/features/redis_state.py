"""Online feature state in Redis, shared by several service processes on several machines.

:class:`RedisState` implements :class:`~fintwin.features.StateBackend`, so an
:class:`~fintwin.features.OnlineFeatureEngine` (or a :class:`~fintwin.risk.DecisionEngine`) over
it computes the same features as over :class:`~fintwin.features.InMemoryState`; two processes
sharing a namespace and taking turns compute what one process would.

Layout
------
One Redis string per ``(slot, key)``: ``fintwin:{<namespace>}:<slot>:<key>`` where ``<key>`` is
the key value with its type (``i42``, ``sNL``, ``n`` for None), since 42 and "42" are different
keys. The value is an 8-byte version token, the event-time expiry (ms, big-endian int64) and
the pickle-free encoding of :mod:`fintwin.features._state_codec`. One sorted set per namespace,
``fintwin:{<namespace>}:~expiry``, scores each expiring key by its expiry. The braces make the
namespace a Redis Cluster hash tag: a namespace lives in one hash slot, so one Lua script can
commit all of an event's keys.

Expiry
------
Expiry is in event time. :meth:`RedisState.expire` drops what is due by reading the sorted set
(``ZRANGEBYSCORE -inf now``, in batches, inside a Lua script so that a key another process has
just extended is not dropped), not by scanning. Independently of that clean-up, a value read
back whose recorded expiry is at or before the latest ``now`` this instance was given is treated
as absent, exactly as the in-memory backend would already have dropped it; so features never
depend on when the clean-up ran. An optional wall-clock TTL (``ttl_ms``) is a safety net for a
namespace nobody advances any more; it must exceed the longest window in wall-clock terms.

Transactions and concurrency
----------------------------
Used directly, every call is one round trip and the last writer wins: two processes updating
the same key at once lose one of the updates. :meth:`RedisState.atomic` runs a function (one
``engine.update(event)`` or ``decision_engine.decide(event)``) as an optimistic transaction:
reads are cached for the call (each key is fetched once; the engine's global keys are fetched
together with the first read), writes are buffered, and one Lua script commits them only if no
key read has changed version since; otherwise the function is run again on fresh state (the
engines keep all their state in the backend, so re-running is safe). Committed transactions
are therefore serialisable. Note that the engine's clock (``("engine", "clock")``) is read
and written by every event, so concurrent events of one namespace always conflict: N processes
over one namespace process events one at a time, in a single global order, and an event older
than the last committed one (beyond the engine's allowed lateness) is refused as out of order.
See ``docs/risk.md`` ("Shared state in Redis") for the production layout.

Failures
--------
Any Redis failure (refused connection, a socket timeout, 50 ms by default, an error reply)
raises :class:`~fintwin.exceptions.StateUnavailableError` within the timeout, so the caller
can answer in degraded mode. A commit that timed out may or may not have been applied; the
engine's clock makes replaying the same event afterwards a refused out-of-order event, not a
double count.

Examples
--------
Needs a Redis server, so not run as a doctest::

    state = RedisState.from_url("redis://localhost:6379/0", namespace="fraud")
    engine = OnlineFeatureEngine(feature_set, state=state)
    features = state.atomic(engine.update, event)
"""

from __future__ import annotations

import os
import random
import re
import struct
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import numpy as np

from fintwin.exceptions import ParameterError, StateUnavailableError
from fintwin.features._state_codec import decode_state, encode_state

__all__ = ["DEFAULT_TIMEOUT_S", "RedisState"]

T = TypeVar("T")

#: Default socket (and connect) timeout, seconds: a decision must not wait longer on its state.
DEFAULT_TIMEOUT_S = 0.05
_NEVER = (1 << 63) - 1  # expiry recorded for values that never expire
_HEAD = struct.Struct(">8sq")  # version token, expiry ms
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
#: Keys every event of the engines reads: fetched with the first read of a transaction.
_HOT = (("engine", "clock"), ("labels/pending", 0), ("graph/pending", 0))
_DELETE = object()

# Commit: check the version of every key read, drop due keys, apply deletes and writes.
# KEYS: zset, checked keys (nc), deleted keys (nd), written keys (nw).
# ARGV: nc, nd, nw, gc_now ('' for none), gc_limit, ttl_ms ('' for none), then nc expected
# tokens ('' for absent), then per written key its value and expiry score ('' for never).
# Returns the number of keys dropped as due, or -1 when a checked key changed.
_COMMIT = """
local nc, nd, nw = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local zset, a = KEYS[1], 7
for i = 1, nc do
  if redis.call('GETRANGE', KEYS[1 + i], 0, 7) ~= ARGV[a] then return -1 end
  a = a + 1
end
local dropped = 0
if ARGV[4] ~= '' then
  local due = redis.call('ZRANGEBYSCORE', zset, '-inf', ARGV[4], 'LIMIT', 0, ARGV[5])
  dropped = #due
  if dropped > 0 then
    redis.call('DEL', unpack(due))
    redis.call('ZREM', zset, unpack(due))
  end
end
local k = 1 + nc
for i = 1, nd do
  redis.call('DEL', KEYS[k + i])
  redis.call('ZREM', zset, KEYS[k + i])
end
k = k + nd
for i = 1, nw do
  local key, score = KEYS[k + i], ARGV[a + 1]
  if score == '' then
    redis.call('SET', key, ARGV[a])
    redis.call('ZREM', zset, key)
  else
    if ARGV[6] == '' then redis.call('SET', key, ARGV[a])
    else redis.call('SET', key, ARGV[a], 'PX', ARGV[6]) end
    redis.call('ZADD', zset, score, key)
  end
  a = a + 2
end
return dropped
"""


class _Transaction:
    """What one :meth:`RedisState.atomic` call has read and written."""

    __slots__ = ("cache", "gc_now", "prefetched", "tokens", "writes")

    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}  # redis key -> value (None: absent or deleted)
        self.tokens: dict[str, bytes] = {}  # redis key -> version read (b"": absent)
        self.writes: dict[str, Any] = {}  # redis key -> expiry (int or None) or _DELETE
        self.prefetched: dict[str, bytes | None] | None = None
        self.gc_now: int | None = None


class RedisState:
    """A :class:`~fintwin.features.StateBackend` in Redis.

    Parameters
    ----------
    client : redis.Redis
        A client with ``decode_responses=False``; :meth:`from_url` builds one with bounded
        timeouts and no retries, which is what a decision path needs.
    namespace : str
        Separates feature sets, models or tests sharing a server: 1 to 64 of
        ``A-Z a-z 0-9 _ . -``. A state belongs to one feature set (the engine refuses
        another), so the feature set's ``definitions_hash()[:16]`` is a good choice.
    ttl_ms : int, optional
        Wall-clock TTL (ms) set on every expiring value, a safety net only (see the module
        notes); None (default) sets none.
    gc_batch : int
        At most this many due keys are dropped per commit (and per script call of
        :meth:`expire`), so one call never blocks the server long.
    max_conflicts : int
        :meth:`atomic` re-runs a conflicting call at most this many times.
    url : str, optional
        Shown in error messages (the password removed).

    Attributes
    ----------
    conflicts : int
        Conflicting commits :meth:`atomic` has re-run so far.
    commits : int
        Successful commits of :meth:`atomic`.

    Notes
    -----
    Not thread-safe (nor is the engine): use one instance per thread or process.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "default",
        ttl_ms: int | None = None,
        gc_batch: int = 1000,
        max_conflicts: int = 50,
        url: str | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ParameterError(
                f"namespace must be 1 to 64 of A-Z a-z 0-9 _ . - (got {namespace!r})"
            )
        if ttl_ms is not None and (isinstance(ttl_ms, bool) or int(ttl_ms) <= 0):
            raise ParameterError(f"ttl_ms must be a positive number of ms or None (got {ttl_ms!r})")
        if isinstance(gc_batch, bool) or not isinstance(gc_batch, int) or not 1 <= gc_batch <= 5000:
            raise ParameterError(f"gc_batch must be an integer in [1, 5000] (got {gc_batch!r})")
        if (
            isinstance(max_conflicts, bool)
            or not isinstance(max_conflicts, int)
            or max_conflicts < 0
        ):
            raise ParameterError(f"max_conflicts must be an integer >= 0 (got {max_conflicts!r})")
        self._client = client
        self.namespace = namespace
        self.url = url or "redis"
        self.ttl_ms = None if ttl_ms is None else int(ttl_ms)
        self.gc_batch = gc_batch
        self.max_conflicts = max_conflicts
        self._prefix = f"fintwin:{{{namespace}}}:"
        self._zset = self._prefix + "~expiry"
        self._script = client.register_script(_COMMIT)
        self._hot = tuple(self._rkey(s, k) for s, k in _HOT)
        self._now: int | None = None  # latest clock given to expire()
        # keys written with an expiry already due: visible until the next expire(), as in memory
        self._fresh: set[str] = set()
        self._tx: _Transaction | None = None
        self._rng = random.Random()  # jitter only; never part of a result
        self.conflicts = 0
        self.commits = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "default",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float | None = None,
        **kwargs: Any,
    ) -> RedisState:
        """A state on the Redis server at ``url`` (``redis://[:password@]host:port/db``,
        ``rediss://`` for TLS, ``unix:///path.sock``); the service passes ``FINTWIN_REDIS_URL``.

        Parameters
        ----------
        url : str
            Where the server is. Nothing is sent until the first call.
        namespace : str
            See :class:`RedisState`.
        timeout_s : float
            Socket timeout (s) of every command: a call waits at most about this long before
            raising StateUnavailableError (default 50 ms).
        connect_timeout_s : float, optional
            Timeout (s) of opening a connection (default: ``timeout_s``).
        **kwargs
            ``ttl_ms``, ``gc_batch``, ``max_conflicts`` as for :class:`RedisState`.

        Raises
        ------
        ParameterError
            The URL or a timeout is invalid, or the ``redis`` package is missing.
        """
        for name, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s)):
            if value is not None and (isinstance(value, bool) or not 0 < float(value) <= 60):
                raise ParameterError(f"{name} must be in (0, 60] seconds (got {value!r})")
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - the service extra installs it
            raise ParameterError(
                "RedisState needs the redis package: pip install 'fintwin[service]'"
            ) from None
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=connect_timeout_s or timeout_s,
                # a retried commit could apply twice; the caller decides what to do instead
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as err:
            raise ParameterError(f"invalid Redis URL {_redact(url)!r}: {err}") from None
        return cls(client, namespace=namespace, url=_redact(url), **kwargs)

    # ----------------------------------------------------------------- StateBackend
    def get(self, slot: str, key: Hashable) -> Any | None:
        rk = self._rkey(slot, key)
        tx = self._tx
        if tx is None:
            raw = self._call("GET", self._client.get, rk)
            return self._load(rk, raw)
        try:
            return tx.cache[rk]
        except KeyError:
            pass
        pre = tx.prefetched
        if pre is None:  # first read of the transaction: fetch the global keys with it
            names = [rk, *(h for h in self._hot if h != rk)]
            raws = self._call("MGET", self._client.mget, names)
            tx.prefetched = pre = dict(zip(names[1:], raws[1:], strict=True))
            raw = raws[0]
        elif rk in pre:
            raw = pre.pop(rk)
        else:
            raw = self._call("GET", self._client.get, rk)
        tx.tokens[rk] = b"" if raw is None else raw[:8]
        value = tx.cache[rk] = self._load(rk, raw)
        return value

    def put(self, slot: str, key: Hashable, value: Any, expires_at: int | None) -> None:
        rk = self._rkey(slot, key)
        tx = self._tx
        if tx is None:
            self._commit({}, {rk: expires_at}, {rk: value}, None)
            return
        tx.cache[rk] = value
        tx.writes[rk] = expires_at

    def delete(self, slot: str, key: Hashable) -> None:
        rk = self._rkey(slot, key)
        tx = self._tx
        if tx is None:
            self._commit({}, {rk: _DELETE}, {}, None)
            self._fresh.discard(rk)
            return
        tx.cache[rk] = None
        tx.writes[rk] = _DELETE

    def expire(self, now: int) -> int:
        """Drop every value whose expiry is ``<= now``; return how many were dropped.

        Inside :meth:`atomic` the drop happens with the commit (at most ``gc_batch`` keys,
        the rest at later commits) and 0 is returned; values due are treated as absent at
        once either way.
        """
        now = int(now)
        if self._now is None or now > self._now:
            self._now = now
        self._fresh.clear()
        tx = self._tx
        if tx is not None:
            tx.gc_now = self._now
            return 0
        dropped = 0
        while True:
            n = self._commit({}, {}, {}, self._now)
            dropped += n
            if n < self.gc_batch:
                return dropped

    def size(self) -> int:
        """Entries held (the sum of ``len(value)``); reads the whole namespace: for tests and
        diagnostics, not for the decision path."""
        total = 0
        for batch in self._batches(self._value_keys(), 500):
            for rk, raw in zip(batch, self._call("MGET", self._client.mget, batch), strict=True):
                value = self._load(rk, raw)
                if value is not None:
                    total += len(value)
        return total

    def keys(self) -> int:
        """Number of ``(slot, key)`` values stored in the namespace (a SCAN)."""
        return sum(1 for _ in self._value_keys())

    # ----------------------------------------------------------------- transactions
    def atomic(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` as one optimistic transaction on this state.

        Reads are cached for the call and writes buffered; the commit applies them only if
        no key read changed meanwhile, else ``fn`` runs again on fresh state. If ``fn``
        raises, what it wrote is still committed (as the in-memory backend would keep it) and
        the exception propagates. Nested calls join the outer transaction.

        Raises
        ------
        StateUnavailableError
            Redis failed or timed out, or ``max_conflicts`` re-runs all conflicted.
        """
        if self._tx is not None:
            return fn(*args, **kwargs)
        for attempt in range(self.max_conflicts + 1):
            tx = self._tx = _Transaction()
            try:
                try:
                    result = fn(*args, **kwargs)
                except StateUnavailableError:
                    raise
                except Exception:
                    if self._finish(tx):
                        raise
                else:
                    if self._finish(tx):
                        return result
            finally:
                self._tx = None
            self.conflicts += 1
            # jittered backoff: processes that conflicted do not collide again in lockstep
            time.sleep(self._rng.uniform(0, min(0.004, 0.0001 * (1 << min(attempt, 6)))))
        raise StateUnavailableError(
            f"Redis state {self.namespace!r} at {self.url}: gave up after "
            f"{self.max_conflicts + 1} conflicting commits"
        )

    def _finish(self, tx: _Transaction) -> bool:
        """Commit a transaction; False on a conflict."""
        if not tx.writes and tx.gc_now is None:
            return True  # read only: nothing to apply
        values = {rk: tx.cache[rk] for rk, exp in tx.writes.items() if exp is not _DELETE}
        if self._commit(tx.tokens, tx.writes, values, tx.gc_now) < 0:
            return False
        self.commits += 1
        return True

    # ----------------------------------------------------------------- management
    def ping(self) -> bool:
        """True if the server answers (within the timeout); for readiness probes."""
        try:
            return bool(self._call("PING", self._client.ping))
        except StateUnavailableError:
            return False

    def clear(self) -> int:
        """Delete every key of the namespace; return how many values were deleted."""
        n = 0
        for batch in self._batches(self._value_keys(), 500):
            n += self._call("DEL", self._client.delete, *batch)
        self._call("DEL", self._client.delete, self._zset)
        self._fresh.clear()
        return n

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisState({self.url!r}, namespace={self.namespace!r})"

    # ----------------------------------------------------------------- internals
    def _rkey(self, slot: str, key: Hashable) -> str:
        return self._prefix + slot + ":" + _key_text(key)

    def _load(self, rk: str, raw: bytes | None) -> Any | None:
        if raw is None:
            return None
        _, exp = _HEAD.unpack_from(raw)
        if self._now is not None and exp <= self._now and rk not in self._fresh:
            return None  # due: the in-memory backend has dropped it already
        return decode_state(memoryview(raw)[_HEAD.size :])

    def _commit(
        self,
        checks: dict[str, bytes],
        writes: dict[str, Any],
        values: dict[str, Any],
        gc_now: int | None,
    ) -> int:
        token = os.urandom(8)
        dels = [rk for rk, exp in writes.items() if exp is _DELETE]
        sets = [rk for rk, exp in writes.items() if exp is not _DELETE]
        args: list[Any] = [
            len(checks),
            len(dels),
            len(sets),
            "" if gc_now is None else gc_now,
            self.gc_batch,
            "" if self.ttl_ms is None else self.ttl_ms,
            *checks.values(),
        ]
        now = self._now
        for rk in sets:
            exp = writes[rk]
            head = _HEAD.pack(token, _NEVER if exp is None else exp)
            args.append(head + encode_state(values[rk]))
            args.append("" if exp is None else exp)
            if exp is not None and now is not None and exp <= now:
                self._fresh.add(rk)
        keys = [self._zset, *checks, *dels, *sets]
        return self._call("commit", self._script, keys=keys, args=args)

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (OSError, _redis_errors()) as err:
            raise StateUnavailableError(
                f"Redis state {self.namespace!r} at {self.url}: {what} failed: "
                f"{type(err).__name__}: {err}"
            ) from err

    def _value_keys(self) -> Iterable[bytes]:
        it = self._client.scan_iter(match=self._prefix + "*", count=1000)
        zset = self._zset.encode()
        while True:
            try:
                rk = self._call("SCAN", next, it)
            except StopIteration:
                return
            if rk != zset:
                yield rk

    @staticmethod
    def _batches(items: Iterable[Any], n: int) -> Iterable[list[Any]]:
        batch: list[Any] = []
        for item in items:
            batch.append(item)
            if len(batch) == n:
                yield batch
                batch = []
        if batch:
            yield batch


def _key_text(key: Hashable) -> str:
    """A key value as text keeping its type: keys equal in a dict get the same text."""
    t = type(key)
    if t is int:
        return "i" + str(key)
    if t is str:
        return "s" + key
    if key is None:
        return "n"
    if isinstance(key, bool | np.bool_ | int | np.integer):
        return "i" + str(int(key))
    if isinstance(key, float | np.floating):
        f = float(key)
        # 2.0 and 2 are one dictionary key, so one Redis key
        return "i" + str(int(f)) if f.is_integer() else "f" + f.hex()
    if isinstance(key, bytes):
        return "b" + key.hex()
    raise ParameterError(
        f"a shared state key must be None, int, float, str or bytes (got {type(key).__name__})"
    )


def _redis_errors() -> type[Exception]:
    import redis

    return redis.RedisError


def _redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)
