"""The model server's metrics, exported with prometheus_client."""

from __future__ import annotations

from runners.serving.metrics import ServingMetrics


def test_every_metric_renders_under_its_name_with_process_metrics_beside() -> None:
    metrics = ServingMetrics()
    metrics.requests.labels(code="200", endpoint="predict").inc(2)
    metrics.scores.labels(version="7").observe(0.05)
    metrics.scores.labels(version="7").observe(0.95)
    metrics.out_of_domain.labels(feature="trip_start_hour").inc()
    metrics.models_loaded.set(2)
    lines = metrics.render().decode().splitlines()
    assert 'taxi_serving_requests_total{code="200",endpoint="predict"} 2.0' in lines
    assert 'taxi_serving_prediction_score_bucket{le="0.1",version="7"} 1.0' in lines
    assert 'taxi_serving_prediction_score_bucket{le="+Inf",version="7"} 2.0' in lines
    assert 'taxi_serving_out_of_domain_values_total{feature="trip_start_hour"} 1.0' in lines
    assert "taxi_serving_models_loaded 2.0" in lines
    assert "# TYPE taxi_serving_model_load_failures_total counter" in lines
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
