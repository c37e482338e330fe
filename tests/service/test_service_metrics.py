"""Prometheus metrics of the service: series, labels, isolation between instances."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fintwin.service.metrics import LATENCY_BUCKETS_S, ServiceMetrics


def _samples(m: ServiceMetrics) -> dict[tuple[str, tuple], float]:
    body, content_type = m.exposition()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_latency_decisions_and_spool() -> None:
    m = ServiceMetrics()
    for seconds in (0.0004, 0.003, 0.003, 0.03):
        m.observe_request("POST", "/v1/decisions", 200, seconds)
    m.observe_request("GET", "/v1/decisions/{decision_id}", 404, 0.001)
    m.count_decision("approve", degraded_reason=None)
    m.count_decision("approve", degraded_reason="state_unavailable")
    m.count_decision("decline", degraded_reason=None)
    m.set_spooled(7)
    s = _samples(m)
    route = ("route", "/v1/decisions")
    key = (("method", "POST"), route, ("status", "200"))
    assert s[("fintwin_http_requests_total", key)] == 4
    # cumulative buckets: 1 request <= 0.5 ms, 3 <= 5 ms, 4 <= 50 ms
    assert s[("fintwin_http_request_seconds_bucket", (("le", "0.0005"), route))] == 1
    assert s[("fintwin_http_request_seconds_bucket", (("le", "0.005"), route))] == 3
    assert s[("fintwin_http_request_seconds_bucket", (("le", "0.05"), route))] == 4
    assert s[("fintwin_http_request_seconds_count", (route,))] == 4
    assert s[("fintwin_decisions_total", (("action", "approve"),))] == 2
    assert s[("fintwin_decisions_total", (("action", "decline"),))] == 1
    assert s[("fintwin_degraded_decisions_total", (("reason", "state_unavailable"),))] == 1
    assert s[("fintwin_spooled_decisions", ())] == 7
    assert list(LATENCY_BUCKETS_S) == sorted(LATENCY_BUCKETS_S)


def test_instances_do_not_share_series() -> None:
    a, b = ServiceMetrics(), ServiceMetrics()  # a second instance must not raise "Duplicated"
    a.count_decision("review", degraded_reason=None)
    assert ("fintwin_decisions_total", (("action", "review"),)) not in _samples(b)
