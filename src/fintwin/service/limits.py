"""Per-key rate limits (token buckets) and the request body size limit (ASGI middleware).

The rate limiter lives in the process: with N service workers a key may make up to N times its
limit in total. Set ``FINTWIN_RATE_LIMIT_PER_SECOND`` to the per-worker share, or (follow-up)
back the buckets by Redis with one atomic Lua script per request when the limit must be global.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fintwin._validation import check_positive

__all__ = ["BodySizeLimitMiddleware", "RateLimiter"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``rate`` per second.

    Memory grows with the number of distinct keys, so only authenticated key ids should be used
    as keys.

    Parameters
    ----------
    rate : float
        Tokens added per second (> 0).
    burst : int
        Bucket size (>= 1): requests allowed at once after a pause.
    clock : callable, optional
        Seconds, monotonic (tests pass a fake one).

    Examples
    --------
    >>> now = [0.0]
    >>> limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    >>> [limiter.acquire("k") for _ in range(3)]
    [0.0, 0.0, 0.5]
    >>> now[0] = 0.5
    >>> limiter.acquire("k")
    0.0
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_positive("rate", rate)
        check_positive("burst", burst)
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, list[float]] = {}

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is due."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = [float(self.burst), now]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header value for a wait: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait)))


class BodySizeLimitMiddleware:
    """Answer 413 to a request whose body exceeds ``max_bytes``, without reading the rest of it.

    A declared ``Content-Length`` above the limit is refused before any of the body is read; a
    body without one (chunked) is counted as the application reads it, and refused at the
    chunk that crosses the limit: the application then sees the client as gone, and whatever
    it tries to send is dropped.

    Parameters
    ----------
    app : ASGI application
    max_bytes : int
        Largest body accepted, bytes.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        check_positive("max_bytes", max_bytes)
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _error(send, 400, "Content-Length is not a non-negative integer")
            return
        if declared is not None and declared > self.max_bytes:
            await _error(send, 413, self._too_large())
            return
        state = {"read": 0, "refused": False, "started": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_bytes:
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await _error(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _error(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
