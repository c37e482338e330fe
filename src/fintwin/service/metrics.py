"""Prometheus metrics of the decision service, in a registry of their own.

Each :class:`ServiceMetrics` owns a :class:`prometheus_client.CollectorRegistry`, not the
process-global one, so several apps in one process (tests, several models) never share or
double-register series. ``GET /metrics`` serves :meth:`ServiceMetrics.exposition`.

Series
------
``fintwin_http_requests_total{method, route, status}``
    Requests answered; ``route`` is the route template (``/v1/decisions/{decision_id}``), never
    the raw path, so identifiers do not become label values.
``fintwin_http_request_seconds{route}``
    Latency histogram, buckets from 0.5 ms to 5 s (the decision target is p99 <= 20 ms).
``fintwin_decisions_total{action}``
    Decisions made, by action (approve, review, step_up, decline).
``fintwin_degraded_decisions_total{reason}``
    Decisions made in degraded mode, by reason (state store unavailable, ...).
``fintwin_spooled_decisions``
    Decisions waiting in the local spool for the database to return.

Examples
--------
>>> m = ServiceMetrics()
>>> m.observe_request("POST", "/v1/decisions", 200, 0.004)
>>> m.count_decision("review", degraded_reason=None)
>>> body, content_type = m.exposition()
>>> b'fintwin_decisions_total{action="review"} 1.0' in body
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["LATENCY_BUCKETS_S", "ServiceMetrics"]

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Histogram buckets in seconds: fine below the 20 ms target, coarse above it."""


class ServiceMetrics:
    """The service's counters, histograms and gauges (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "fintwin_http_requests",
            "HTTP requests answered.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "fintwin_http_request_seconds",
            "HTTP request latency in seconds.",
            ("route",),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._decisions = Counter(
            "fintwin_decisions", "Decisions made, by action.", ("action",), registry=self.registry
        )
        self._degraded = Counter(
            "fintwin_degraded_decisions",
            "Decisions made in degraded mode, by reason.",
            ("reason",),
            registry=self.registry,
        )
        self._spooled = Gauge(
            "fintwin_spooled_decisions",
            "Decisions in the local spool, waiting for the database.",
            registry=self.registry,
        )
        self._audit_backlog = Gauge(
            "fintwin_audit_backlog",
            "Records stored but not yet chained into the audit ledger.",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and record its latency.

        Parameters
        ----------
        method : str
            HTTP method.
        route : str
            The route template, not the raw path.
        status : int
            HTTP status code sent.
        seconds : float
            Time from receiving the request to sending the response head, in seconds.
        """
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def count_decision(self, action: str, *, degraded_reason: str | None) -> None:
        """Count one decision by its action; a degraded one also by its reason."""
        self._decisions.labels(action).inc()
        if degraded_reason is not None:
            self._degraded.labels(degraded_reason).inc()

    def set_spooled(self, count: int) -> None:
        """Set the number of decisions waiting in the spool."""
        self._spooled.set(count)

    def set_audit_backlog(self, count: int) -> None:
        """Set the number of records waiting for the audit feed."""
        self._audit_backlog.set(count)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every series and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
