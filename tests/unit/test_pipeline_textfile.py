"""The pipeline metrics textfile: each writer keeps the others' gauges; absent means unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runners.monitoring import textfile


def _values(home: Path) -> dict[str, float]:
    text = textfile.textfile_path(home).read_text()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()))
            out[key] = sample.value
    return out


def test_a_completed_run_then_a_failed_one_keep_the_last_success_time(tmp_path: Path) -> None:
    summary = {"span": 3, "pushed": True, "pushed_version": "17", "performance_decay": True}
    textfile.record_serving_score(tmp_path, 17, 0.25)
    path = textfile.record_run(tmp_path, 0, summary, drift_features_over_limit=0, now=100.0)
    assert path == tmp_path / "metrics" / "pipeline.prom"
    first = _values(tmp_path)
    assert first["taxi_pipeline_last_run_success"] == 1
    assert first["taxi_pipeline_last_success_timestamp_seconds"] == 100
    assert first["taxi_pipeline_last_run_span"] == 3
    assert first["taxi_pipeline_performance_decay"] == 1
    assert first["taxi_pipeline_drift_features_over_limit"] == 0
    assert first["taxi_pipeline_model_eval_mean_score{version=17}"] == 0.25

    textfile.record_run(tmp_path, 4, None, drift_features_over_limit=2, now=200.0)
    second = _values(tmp_path)
    assert second["taxi_pipeline_last_run_success"] == 0
    assert second["taxi_pipeline_last_run_exit_code"] == 4
    assert second["taxi_pipeline_last_run_timestamp_seconds"] == 200
    assert second["taxi_pipeline_last_success_timestamp_seconds"] == 100
    assert second["taxi_pipeline_drift_features_over_limit"] == 2
    # The pushed model still serves: its training-time score stays.
    assert second["taxi_pipeline_model_eval_mean_score{version=17}"] == 0.25
    # A stopped run says nothing about decay or which span it ingested.
    assert "taxi_pipeline_performance_decay" not in second
    assert "taxi_pipeline_last_run_span" not in second


def test_decay_is_absent_without_the_summary_field_and_zero_when_false(tmp_path: Path) -> None:
    textfile.record_run(tmp_path, 0, {"span": 1}, now=1.0)
    assert "taxi_pipeline_performance_decay" not in _values(tmp_path)
    textfile.record_run(tmp_path, 0, {"span": 2, "performance_decay": False}, now=2.0)
    assert _values(tmp_path)["taxi_pipeline_performance_decay"] == 0
    textfile.record_run(tmp_path, 0, {"span": 3, "performance_decay": {"decayed": True, "floor": 0.7}}, now=3.0)
    assert _values(tmp_path)["taxi_pipeline_performance_decay"] == 1
    textfile.record_run(tmp_path, 0, {"span": 4, "performance_decay": {"floor": 0.7}}, now=4.0)
    assert "taxi_pipeline_performance_decay" not in _values(tmp_path)


def test_the_serving_versions_score_replaces_the_previous_versions_and_unknown_drops_it(tmp_path: Path) -> None:
    textfile.record_serving_score(tmp_path, 1, 0.2)
    textfile.record_run(tmp_path, 0, {"span": 2}, now=1.0)
    textfile.record_serving_score(tmp_path, 2, 0.3)
    values = _values(tmp_path)
    assert values["taxi_pipeline_model_eval_mean_score{version=2}"] == 0.3
    assert "taxi_pipeline_model_eval_mean_score{version=1}" not in values
    assert values["taxi_pipeline_last_run_span"] == 2
    # A version serving without a known level: no level at all, not the previous version's.
    textfile.record_serving_score(tmp_path, 3, None)
    assert not any(k.startswith("taxi_pipeline_model_eval_mean_score") for k in _values(tmp_path))


def test_a_skew_check_keeps_the_run_gauges_and_unknown_skew_is_absent(tmp_path: Path) -> None:
    textfile.record_run(tmp_path, 0, {"span": 5}, now=1.0)
    textfile.record_skew(tmp_path, 3, now=2.0)
    values = _values(tmp_path)
    assert values["taxi_pipeline_skew_features_over_threshold"] == 3
    assert values["taxi_pipeline_last_skew_check_timestamp_seconds"] == 2
    assert values["taxi_pipeline_last_run_span"] == 5
    textfile.record_skew(tmp_path, None, now=3.0)
    assert "taxi_pipeline_skew_features_over_threshold" not in _values(tmp_path)
    # Nothing but the file itself is left in the folder (the temporary file was renamed over it).
    assert [p.name for p in (tmp_path / "metrics").iterdir()] == ["pipeline.prom"]


def test_an_unknown_gauge_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="taxi_pipeline_nonsense is not a pipeline gauge"):
        textfile.update_textfile(textfile.textfile_path(tmp_path), {"taxi_pipeline_nonsense": [((), 1.0)]})
