"""The serving model's score on a new span: its metrics, the decay rule, and how `monitor` and the summary show it."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.serving_performance import MIN_SLICE_ROWS, decay_reasons, score_span
from runners.monitoring.performance import format_monitor, monitor_document
from runners.reports.console import format_summary
from runners.store.performance import SpanPerformance
from runners.store.summary import RunSummary


def test_a_span_is_scored_overall_and_per_slice_value_with_enough_rows() -> None:
    labels = np.array([1, 0] * 30 + [1] * 5)
    scores = np.array([0.9, 0.2] * 30 + [0.1] * 5)
    payment = np.array(["Card"] * 60 + ["Cash"] * 5, dtype=object)
    scored = score_span(labels, scores, {"payment_type": payment})
    overall = scored["overall"]
    assert overall["rows"] == 65
    assert overall["binary_accuracy"] == pytest.approx(60 / 65)
    assert overall["label_rate"] == pytest.approx(35 / 65)
    assert 0.5 < overall["auc"] < 1.0
    # Cash has fewer rows than MIN_SLICE_ROWS: left out rather than shown with a meaningless accuracy.
    assert 5 < MIN_SLICE_ROWS <= 60
    assert list(scored["slices"]) == ["payment_type=Card"]
    assert scored["slices"]["payment_type=Card"]["binary_accuracy"] == 1.0


def test_a_span_of_one_class_has_no_auc() -> None:
    assert score_span(np.ones(30), np.full(30, 0.7), {})["overall"]["auc"] is None


def test_decay_is_below_the_floor_or_too_far_below_the_models_own_evaluation() -> None:
    assert decay_reasons(0.85, 0.88, min_binary_accuracy=0.7, max_accuracy_drop=0.05) == []
    (drop,) = decay_reasons(0.80, 0.88, min_binary_accuracy=0.7, max_accuracy_drop=0.05)
    assert drop == "binary_accuracy 0.8000 is 0.0800 below its own evaluation (0.8800), more than the allowed 0.05"
    both = decay_reasons(0.40, 0.88, min_binary_accuracy=0.7, max_accuracy_drop=0.05)
    assert both[0] == "binary_accuracy 0.4000 is below the floor 0.7" and len(both) == 2
    # Without its own evaluation only the floor applies.
    assert decay_reasons(0.75, None, min_binary_accuracy=0.7, max_accuracy_drop=0.0) == []


def _record(span: int, version: int, accuracy: float, reasons: list[str]) -> SpanPerformance:
    return SpanPerformance(
        run_id=f"run-{span}",
        execution_id=span,
        scored_at=1_700_000_000.0 + span,
        span=span,
        model_id=version,
        model_uri=f"/m/{version}",
        version=version,
        rows=300,
        binary_accuracy=accuracy,
        auc=0.9,
        reference_accuracy=0.88,
        reference_auc=0.93,
        min_binary_accuracy=0.7,
        max_accuracy_drop=0.05,
        reasons=reasons,
    )


def test_monitor_shows_each_model_on_each_span_and_marks_decay() -> None:
    records = [_record(2, 1, 0.87, []), _record(3, 2, 0.31, ["binary_accuracy 0.3100 is below the floor 0.7"])]
    document = monitor_document("taxi", records, serving_version=2)
    assert document["decayed"] is True
    assert [r["change"] for r in document["records"]] == [pytest.approx(-0.01), pytest.approx(-0.57)]
    text = format_monitor(document)
    (first,) = [line for line in text.splitlines() if line.rstrip().endswith(" no")]
    assert first.split()[2:6] == ["2", "1", "300", "0.8700"] and "-0.0100" in first
    (second,) = [line for line in text.splitlines() if " 2* " in line]
    assert second.split()[2:6] == ["3", "2*", "300", "0.3100"] and second.rstrip().endswith("DECAY")
    assert "span 3, version 2: binary_accuracy 0.3100 is below the floor 0.7" in text
    assert monitor_document("taxi", [], None)["decayed"] is False
    assert "Nothing scored yet" in format_monitor(monitor_document("taxi", [], None))


def test_the_run_summary_prints_the_serving_models_score_and_decay() -> None:
    record = _record(3, 2, 0.31, ["binary_accuracy 0.3100 is below the floor 0.7"])
    summary = RunSummary(run_id="r", serving_performance=record.to_dict(), performance_decay=True)
    text = format_summary(summary)
    assert "serving model : version 2 on span 3, before training: binary_accuracy=0.3100  auc=0.9000" in text
    assert "(its own evaluation: 0.8800)" in text
    assert "DECAY" in text and "- binary_accuracy 0.3100 is below the floor 0.7" in text
    calm = RunSummary(run_id="r", serving_performance=_record(2, 1, 0.87, []).to_dict(), performance_decay=False)
    assert "DECAY" not in format_summary(calm)
    assert "serving model" not in format_summary(RunSummary(run_id="r"))


def test_the_decay_floors_are_checked() -> None:
    config = load_config("local", environ={"TAXI_PIPELINE_DECAY_MAX_ACCURACY_DROP": "0.1"})
    assert (config.decay_min_binary_accuracy, config.decay_max_accuracy_drop) == (0.7, 0.1)
    with pytest.raises(ConfigError, match=r"'decay_min_binary_accuracy' is 1\.5; expected a number between 0 and 1"):
        load_config("local", overrides={"decay_min_binary_accuracy": 1.5}, environ={})
