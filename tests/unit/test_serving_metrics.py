"""The model server's Prometheus text exposition."""

from __future__ import annotations

from runners.serving.metrics import Registry


def test_counters_gauges_and_histograms_render_in_prometheus_text_format() -> None:
    metrics = Registry()
    metrics.declare("requests_total", "counter", "Requests.")
    metrics.declare("version", "gauge", "Version.")
    metrics.declare("latency_seconds", "histogram", "Latency.", (0.1, 1.0))
    metrics.inc("requests_total", {"code": "200"})
    metrics.inc("requests_total", {"code": "200"})
    metrics.inc("requests_total", {"code": '4"00'})
    metrics.set("version", 1795805021, {"model": "m"})
    metrics.observe("latency_seconds", [0.05, 0.1, 0.5, 3.0])
    lines = metrics.render().splitlines()
    assert "# TYPE requests_total counter" in lines
    assert 'requests_total{code="200"} 2' in lines
    assert 'requests_total{code="4\\"00"} 1' in lines
    assert 'version{model="m"} 1795805021' in lines
    # Buckets are cumulative and inclusive of their upper bound.
    assert 'latency_seconds_bucket{le="0.1"} 2' in lines
    assert 'latency_seconds_bucket{le="1"} 3' in lines
    assert 'latency_seconds_bucket{le="+Inf"} 4' in lines
    assert "latency_seconds_count 4" in lines
    assert "latency_seconds_sum 3.65" in lines
