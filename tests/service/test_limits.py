"""The token bucket: bursts, refill, Retry-After, one bucket per key."""

from __future__ import annotations

import pytest

from fintwin.exceptions import ParameterError
from fintwin.service.limits import BodySizeLimitMiddleware, RateLimiter


def test_bucket_refills_at_the_rate() -> None:
    now = [100.0]
    lim = RateLimiter(rate=10.0, burst=5, clock=lambda: now[0])
    assert [lim.acquire("a") for _ in range(5)] == [0.0] * 5
    assert lim.acquire("a") == pytest.approx(0.1)
    assert lim.acquire("b") == 0.0  # another key, another bucket
    now[0] += 0.35  # 3.5 tokens back
    assert [lim.acquire("a") == 0.0 for _ in range(4)] == [True, True, True, False]
    now[0] += 1000  # a long pause refills only up to the burst
    assert sum(lim.acquire("a") == 0.0 for _ in range(10)) == 5


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert RateLimiter.retry_after(0.01) == "1"
    assert RateLimiter.retry_after(2.0) == "2"
    assert RateLimiter.retry_after(2.01) == "3"


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="rate must be positive"):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ParameterError, match="max_bytes must be positive"):
        BodySizeLimitMiddleware(app=None, max_bytes=0)
