"""The serving model's score on a new span: its metrics, the decay rule, and how `monitor` and the summary show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma

from pipeline import ids
from pipeline.config import ConfigError, load_config
from pipeline.eval_config import create_eval_config, create_scoring_config
from pipeline.pipeline import create_pipeline
from pipeline.serving_performance import EXTRA_METRICS, MIN_SLICE_ROWS, decay_reasons, span_metrics
from runners.monitoring.performance import format_monitor, monitor_document
from runners.reports.console import format_summary
from runners.store.performance import SpanPerformance
from runners.store.summary import RunSummary


def _tfma(rows: float, accuracy: float, auc: float) -> dict[str, float]:
    return {
        "example_count": rows,
        "binary_accuracy": accuracy,
        "auc": auc,
        "mean_label": 0.4,
        "mean_prediction": 0.45,
        "precision": 0.8,
        "recall": 0.7,
        "calibration": 1.125,
    }


def test_tfmas_metrics_become_performance_fields_overall_and_per_slice_value_with_enough_rows() -> None:
    by_slice = {
        "overall": _tfma(65.0, 60 / 65, 0.93),
        "trip_start_hour=10": _tfma(30.0, 0.9, 0.9),
        "trip_start_hour=2": _tfma(35.0, 0.8, 0.85),
        # Fewer rows than MIN_SLICE_ROWS: left out rather than shown with a meaningless accuracy.
        "payment_type=Cash": _tfma(5.0, 1.0, float("nan")),
    }
    scored = span_metrics(by_slice)
    overall = scored["overall"]
    assert overall == {
        "rows": 65,
        "binary_accuracy": pytest.approx(60 / 65),
        "auc": 0.93,
        "label_rate": 0.4,
        "mean_prediction": 0.45,
        "precision": 0.8,
        "recall": 0.7,
        "calibration": 1.125,
    }
    assert isinstance(overall["rows"], int)
    assert 5 < MIN_SLICE_ROWS <= 30
    # Hours in numeric order, as the report sorts slices.
    assert list(scored["slices"]) == ["trip_start_hour=2", "trip_start_hour=10"]
    assert scored["slices"]["trip_start_hour=2"]["binary_accuracy"] == 0.8


def test_an_undefined_tfma_metric_is_null_not_nan() -> None:
    # TFMA's AUC of a span with one class is NaN; JSON has no NaN.
    scored = span_metrics({"overall": {**_tfma(30.0, 0.7, float("nan")), "precision": float("nan")}})
    assert scored["overall"]["auc"] is None and scored["overall"]["precision"] is None
    assert json.loads(json.dumps(scored, allow_nan=False))["overall"]["binary_accuracy"] == 0.7


def test_the_scoring_config_is_the_evaluators_without_thresholds() -> None:
    evaluator = create_eval_config(0.7, 0.05, min_slice_binary_accuracy=0.5)
    scoring = create_scoring_config(EXTRA_METRICS)
    assert scoring.model_specs == evaluator.model_specs and not scoring.model_specs[0].is_baseline
    assert scoring.slicing_specs == evaluator.slicing_specs
    names = [m.class_name for spec in scoring.metrics_specs for m in spec.metrics]
    evaluator_names = [m.class_name for spec in evaluator.metrics_specs for m in spec.metrics]
    assert names == evaluator_names + list(EXTRA_METRICS)
    # One model judged by nothing: TFMA needs no baseline and validates no threshold.
    assert not tfma.metrics.metric_thresholds_from_metrics_specs(scoring.metrics_specs, eval_config=scoring)
    assert tfma.metrics.metric_thresholds_from_metrics_specs(evaluator.metrics_specs, eval_config=evaluator)


def test_the_scoring_step_reads_the_new_span_with_the_schema_and_gets_the_pipelines_beam_args(tmp_path: Path) -> None:
    built = create_pipeline(
        pipeline_name="taxi",
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        schema_path=str(tmp_path / "schema.pbtxt"),
        serving_dir=str(tmp_path / "serving"),
        beam_pipeline_args=["--runner=DataflowRunner", "--region=europe-west4"],
    )
    nodes = {c.id: c for c in built.components}
    scoring = nodes[ids.SERVING_PERFORMANCE]
    # A Beam component: TFMA runs where the pipeline's Beam args say (Dataflow on Vertex), as the Evaluator does.
    assert scoring.executor_spec.beam_pipeline_args == ["--runner=DataflowRunner", "--region=europe-west4"]
    assert scoring.inputs["examples"].producer_component_id == ids.EXAMPLE_GEN
    assert scoring.inputs["schema"].producer_component_id == ids.SCHEMA_IMPORTER
    assert scoring.inputs["model"].producer_component_id == ids.BASELINE_RESOLVER


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
