"""The not-blessed summary reads TFMA's own ValidationResult proto, as the Evaluator writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2, validation_result_pb2

from pipeline.trusted_set import TRUSTED_FILE
from runners.store.artifacts import CorruptArtifactError
from runners.store.evaluations import read_blessing_reasons


def _failure(
    value: float, threshold: config_pb2.MetricThreshold, is_diff: bool = False
) -> validation_result_pb2.ValidationFailure:
    failure = validation_result_pb2.ValidationFailure(metric_threshold=threshold)
    failure.metric_key.name = "binary_accuracy"
    failure.metric_key.is_diff = is_diff
    failure.metric_value.double_value.value = value
    return failure


def _write(folder: Path, result: validation_result_pb2.ValidationResult) -> str:
    with tf.io.TFRecordWriter(str(folder / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    return str(folder)


def test_every_failed_threshold_is_named_with_its_value_and_bound(tmp_path: Path) -> None:
    absolute = config_pb2.MetricThreshold()
    absolute.value_threshold.lower_bound.value = 0.7
    change = config_pb2.MetricThreshold()
    change.change_threshold.absolute.value = -0.01
    overall = validation_result_pb2.MetricsValidationForSlice(
        failures=[_failure(0.61, absolute), _failure(-0.05, change, is_diff=True)]
    )
    hour = validation_result_pb2.MetricsValidationForSlice(failures=[_failure(0.5, absolute)])
    hour.slice_key.single_slice_keys.append(
        metrics_for_slice_pb2.SingleSliceKey(column="trip_start_hour", int64_value=3)
    )
    payment = validation_result_pb2.MetricsValidationForSlice(failures=[_failure(0.4, absolute)])
    payment.slice_key.single_slice_keys.append(
        metrics_for_slice_pb2.SingleSliceKey(column="payment_type", bytes_value=b"Cash")
    )
    result = validation_result_pb2.ValidationResult(
        validation_ok=False, metric_validations_per_slice=[overall, hour, payment], missing_thresholds=True
    )
    assert read_blessing_reasons(_write(tmp_path, result)) == [
        "overall: binary_accuracy = 0.6100, below the required 0.7000",
        "overall: binary_accuracy (change vs baseline) = -0.0500, beyond the allowed change -0.01",
        "trip_start_hour=3: binary_accuracy = 0.5000, below the required 0.7000",
        "payment_type=Cash: binary_accuracy = 0.4000, below the required 0.7000",
        "a threshold names a metric the evaluation did not compute (see the eval config)",
    ]


def test_a_passing_validation_has_no_reasons(tmp_path: Path) -> None:
    assert read_blessing_reasons(_write(tmp_path, validation_result_pb2.ValidationResult(validation_ok=True))) == []


def test_a_failed_validation_without_failures_still_says_it_failed(tmp_path: Path) -> None:
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    result.missing_slices.append(config_pb2.SlicingSpec(feature_keys=["trip_start_hour"]))
    assert read_blessing_reasons(_write(tmp_path, result)) == [
        "slice trip_start_hour: no examples to evaluate, so its thresholds could not be checked"
    ]


def _write_trusted(folder: Path, **fields: object) -> None:
    document = {"spans": [1, 2], "rows": 312, "candidate": 0.80, "baseline": 0.85, "change": -0.05}
    (folder / TRUSTED_FILE).write_text(json.dumps({**document, "max_drop": 0.01, "passed": False, **fields}))


def test_a_failed_trusted_set_comparison_is_a_reason_with_its_numbers(tmp_path: Path) -> None:
    # TFMA blessed on the whole window; the comparison on the earlier spans withdrew it.
    _write(tmp_path, validation_result_pb2.ValidationResult(validation_ok=True))
    _write_trusted(tmp_path)
    assert read_blessing_reasons(str(tmp_path)) == [
        "earlier spans 1, 2 (312 rows): binary_accuracy (change vs baseline) = -0.0500, beyond the allowed change "
        "-0.01 (the new span may have bad labels)"
    ]
    _write_trusted(tmp_path, spans=[1])
    assert read_blessing_reasons(str(tmp_path))[0].startswith("earlier span 1 (312 rows): ")
    _write_trusted(tmp_path, p_value=0.00042)
    assert read_blessing_reasons(str(tmp_path)) == [
        "earlier spans 1, 2 (312 rows): binary_accuracy (change vs baseline) = -0.0500, beyond the allowed change "
        "-0.01, p = 0.00042 that the models are equal (the new span may have bad labels)"
    ]


def test_a_passed_or_absent_trusted_set_comparison_adds_nothing(tmp_path: Path) -> None:
    _write(tmp_path, validation_result_pb2.ValidationResult(validation_ok=True))
    _write_trusted(tmp_path, change=0.0, passed=True)
    assert read_blessing_reasons(str(tmp_path)) == []
    (tmp_path / TRUSTED_FILE).unlink()
    assert read_blessing_reasons(str(tmp_path)) == []


def test_a_damaged_trusted_set_file_is_an_error_naming_it(tmp_path: Path) -> None:
    _write(tmp_path, validation_result_pb2.ValidationResult(validation_ok=True))
    (tmp_path / TRUSTED_FILE).write_text('{"spans": [1], "rows"')
    with pytest.raises(CorruptArtifactError, match=TRUSTED_FILE) as error:
        read_blessing_reasons(str(tmp_path))
    assert error.value.path == str(tmp_path / TRUSTED_FILE)
