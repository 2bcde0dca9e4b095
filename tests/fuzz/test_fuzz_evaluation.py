"""Fuzzing the Evaluator's output as the report, model card, `models` and `kpis` read it back.

An evaluation folder holds TFMA's metrics, plots and validations TFRecord files and eval_config.json;
the Trainer's model_run holds history.json. Cut short, flipped, replaced by random bytes or by another
file's records, each read gives the values it holds or CorruptArtifactError naming the file (exit 3):
never TFMA's own DataLossError, AssertionError or ParseError, which name no file.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from runners.errors import EXIT_INPUT
from runners.store import evaluations, plots, tfma_files
from runners.store.artifacts import CorruptArtifactError
from tests.fuzz.test_fuzz_artifacts import damaged, json_values
from tests.tfrecord_files import tfrecord_bytes

pytestmark = pytest.mark.fuzz

METRICS_FILE = "metrics-00000-of-00001.tfrecord"
PLOTS_FILE = "plots-00000-of-00001.tfrecord"
VALIDATIONS_FILE = "validations.tfrecord"
EVAL_CONFIG = {
    "version": "0.47.0",
    "evalConfig": {
        "modelSpecs": [{"name": "candidate", "labelKey": "big_tipper"}, {"name": "baseline", "isBaseline": True}],
        "slicingSpecs": [{}, {"featureKeys": ["trip_start_hour"]}],
    },
}


def tfrecord(records: list[bytes]) -> bytes:
    """A TFRecord file TensorFlow itself reads: every length and record with its checksum."""
    return tfrecord_bytes(records)


def _metrics() -> bytes:
    proto = tfma_files.metrics_proto()
    overall = proto.MetricsForSlice()
    for model, name, is_diff, value in (
        ("candidate", "binary_accuracy", False, 0.88),
        ("baseline", "binary_accuracy", False, 0.87),
        ("candidate", "binary_accuracy", True, 0.01),
        ("candidate", "auc", False, 0.9),
    ):
        item = overall.metric_keys_and_values.add()
        item.key.name, item.key.model_name, item.key.is_diff = name, model, is_diff
        item.value.double_value.value = value
    sliced = proto.MetricsForSlice()
    sliced.slice_key.single_slice_keys.add(column="trip_start_hour", int64_value=3)
    item = sliced.metric_keys_and_values.add()
    item.key.name, item.key.model_name = "binary_accuracy", "candidate"
    item.value.double_value.value = 0.5
    return tfrecord([overall.SerializeToString(), sliced.SerializeToString()])


def _plots() -> bytes:
    record = tfma_files.metrics_proto().PlotsForSlice()
    item = record.plot_keys_and_values.add()
    matrix = item.value.confusion_matrix_at_thresholds.matrices.add()
    matrix.threshold, matrix.recall, matrix.false_positive_rate, matrix.precision = 0.5, 0.75, 0.1, 0.8
    matrix.true_positives, matrix.false_negatives, matrix.true_negatives, matrix.false_positives = 3, 1, 9, 1
    bucket = item.value.calibration_histogram_buckets.buckets.add()
    bucket.lower_threshold_inclusive, bucket.upper_threshold_exclusive = 0.2, 0.3
    bucket.num_weighted_examples.value = 4.0
    bucket.total_weighted_label.value = 1.0
    bucket.total_weighted_refined_prediction.value = 1.0
    return tfrecord([record.SerializeToString()])


def _validations() -> bytes:
    # Imported when first drawn: the proto module's package imports TensorFlow.
    from tensorflow_model_analysis.proto import validation_result_pb2

    result = validation_result_pb2.ValidationResult(validation_ok=False)
    failure = result.metric_validations_per_slice.add().failures.add()
    failure.metric_key.name = "binary_accuracy"
    failure.metric_value.double_value.value = 0.4
    failure.metric_threshold.value_threshold.lower_bound.value = 0.7
    return tfrecord([result.SerializeToString()])


METRICS = _metrics()
PLOTS = _plots()
HISTORY = {"loss": [0.6, 0.5], "val_loss": [0.55, float("nan")]}


@contextmanager
def evaluation(**files: bytes) -> Iterator[str]:
    """An evaluation folder with the healthy files, each one given replaced by its bytes."""
    healthy = {
        METRICS_FILE: METRICS,
        PLOTS_FILE: PLOTS,
        VALIDATIONS_FILE: None,
        tfma_files.EVAL_CONFIG_FILE: json.dumps(EVAL_CONFIG).encode(),
    }
    with tempfile.TemporaryDirectory() as uri:
        for name, data in healthy.items():
            data = files.get(name, data)
            if data is None:
                data = _validations()
            (Path(uri) / name).write_bytes(data)
        yield uri


def names_a_file_of(uri: str, err: CorruptArtifactError) -> None:
    """The error is the one-line, exit-3 message that starts with the damaged file's path."""
    assert err.exit_code == EXIT_INPUT
    assert err.path.startswith(uri + "/") and str(err).startswith(err.path), err
    assert "\n" not in str(err)


def records_with_other_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    return draw(damaged(seed) | st.binary(max_size=64) | st.sampled_from([METRICS, PLOTS, b""]))


@st.composite
def metrics_files(draw: st.DrawFn) -> bytes:
    return records_with_other_bytes(draw, METRICS)


@given(metrics_files())
@example(METRICS[: len(METRICS) // 2])  # TFMA: DataLossError "truncated record at 0"
@example(b"\xff" * 8 + b"\0" * 8)  # a length of 2**64 - 1: read() tried to allocate it
@example(METRICS[:40] + bytes([METRICS[40] ^ 0x55]) + METRICS[41:])  # TFMA: DataLossError "corrupted record at 0"
def test_a_damaged_metrics_file_gives_metrics_or_names_it(data: bytes) -> None:
    with evaluation(**{METRICS_FILE: data}) as uri:
        for read in (tfma_files.overall_metrics, lambda uri: evaluations.read_evaluation(uri)[0]):
            try:
                overall = read(uri)
            except CorruptArtifactError as err:
                names_a_file_of(uri, err)
                continue
            assert all(isinstance(name, str) and isinstance(value, float) for name, value in overall.items())


@st.composite
def plots_files(draw: st.DrawFn) -> bytes:
    return records_with_other_bytes(draw, PLOTS)


@given(plots_files())
@example(PLOTS[:-3])
@example(tfrecord([b"\x0a\x05\x12\x03\x0a\x01\xff"]))  # framing intact, the record is not a PlotsForSlice
def test_damaged_plots_give_curves_or_name_the_file(data: bytes) -> None:
    with evaluation(**{PLOTS_FILE: data}) as uri:
        try:
            found = plots.read_plots(uri)
        except CorruptArtifactError as err:
            names_a_file_of(uri, err)
            return
    for slice_plots in found.values():
        assert all(isinstance(point.threshold, float) for point in slice_plots.curve)
        assert all(bucket.examples > 0 for bucket in slice_plots.calibration)


@st.composite
def validations_files(draw: st.DrawFn) -> bytes:
    return records_with_other_bytes(draw, _validations())


@given(validations_files())
@example(b"")  # TFMA: AssertionError (no record)
@example(METRICS)  # TFMA: AssertionError (two records)
def test_a_damaged_validation_result_gives_reasons_or_names_the_file(data: bytes) -> None:
    with evaluation(**{VALIDATIONS_FILE: data}) as uri:
        try:
            reasons = evaluations.read_blessing_reasons(uri)
        except CorruptArtifactError as err:
            names_a_file_of(uri, err)
            return
    assert all(isinstance(reason, str) and "\n" not in reason for reason in reasons)


def test_the_healthy_evaluation_reads_whole() -> None:
    # What the fuzzed tests compare against: the seed files are read as written.
    with evaluation() as uri:
        assert tfma_files.overall_metrics(uri) == {"binary_accuracy": 0.88, "binary_accuracy_diff": 0.01, "auc": 0.9}
        overall, per_slice = evaluations.read_evaluation(uri)
        assert overall == tfma_files.overall_metrics(uri) and per_slice["trip_start_hour=3"] == {"binary_accuracy": 0.5}
        assert evaluations.read_blessing_reasons(uri) == [
            "overall: binary_accuracy = 0.4000, below the required 0.7000"
        ]
        assert plots.read_plots(uri)["overall"].positives == 4


@given(
    damaged(json.dumps(EVAL_CONFIG).encode())
    | st.builds(lambda v: json.dumps({**EVAL_CONFIG, "evalConfig": v}).encode(), json_values)
    | st.builds(lambda v: json.dumps({**EVAL_CONFIG, "version": v}).encode(), json_values)
)
@example(b"[" * 100_000)  # TFMA's json_format: RecursionError
@example(json.dumps({"evalConfig": {}}).encode())  # TFMA: ValueError "could not find TFMA version"
@example(json.dumps({**EVAL_CONFIG, "evalConfig": {"modelSpecs": "x"}}).encode())  # TFMA: ParseError
def test_a_damaged_eval_config_is_read_or_named(data: bytes) -> None:
    with evaluation(**{tfma_files.EVAL_CONFIG_FILE: data}) as uri:
        for read in (tfma_files.overall_metrics, lambda uri: evaluations.read_evaluation(uri)[0]):
            try:
                overall = read(uri)
            except CorruptArtifactError as err:
                names_a_file_of(uri, err)
                continue
            assert all(isinstance(value, float) for value in overall.values())


@given(
    damaged(json.dumps(HISTORY).encode())
    | st.builds(lambda k, v: json.dumps({**HISTORY, k: v}).encode(), st.sampled_from(sorted(HISTORY)), json_values)
)
@example(json.dumps({"loss": ["0.5"]}).encode())  # float() of a string raised ValueError past the reader
@example(json.dumps({"loss": [10**400]}).encode())  # float() of it overflows
@example(json.dumps({"loss": [[0.5]]}).encode())
def test_a_damaged_history_is_curves_or_named(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / plots.HISTORY_FILE).write_bytes(data)
        try:
            history = plots.read_history(uri)
        except CorruptArtifactError as err:
            names_a_file_of(uri, err)
            return
    assert history is not None
    for values in history.values():  # what the report's charts draw
        assert all(isinstance(v, float) and (math.isfinite(v) or math.isnan(v) or math.isinf(v)) for v in values)


def test_a_history_with_a_nan_epoch_is_read() -> None:
    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / plots.HISTORY_FILE).write_text(json.dumps(HISTORY))
        history = plots.read_history(uri)
    assert history is not None and history["loss"] == [0.6, 0.5] and math.isnan(history["val_loss"][1])


TRUSTED = {"spans": [1, 2], "rows": 80, "change": -0.1, "max_drop": 0.05, "passed": False, "p_value": 0.01}


@given(
    damaged(json.dumps(TRUSTED).encode())
    | st.builds(lambda k, v: json.dumps({**TRUSTED, k: v}).encode(), st.sampled_from(sorted(TRUSTED)), json_values)
)
@example(json.dumps({**TRUSTED, "change": "-0.1"}).encode())  # the reason formatted it with {:+.4f}
@example(json.dumps({**TRUSTED, "spans": 3}).encode())  # and joined the spans
def test_a_damaged_trusted_set_comparison_is_a_reason_or_named(data: bytes) -> None:
    from pipeline.trusted_set import TRUSTED_FILE

    with tempfile.TemporaryDirectory() as uri:
        (Path(uri) / TRUSTED_FILE).write_bytes(data)
        try:
            reason = evaluations.read_trusted_reason(uri)
        except CorruptArtifactError as err:
            names_a_file_of(uri, err)
            return
    assert reason is None or (isinstance(reason, str) and "\n" not in reason)


def test_read_metrics_names_the_damaged_file_and_keeps_the_others() -> None:
    # `models` and `kpis` print the reason next to the version: the file and what to do, not an exception's name.
    with evaluation(**{METRICS_FILE: METRICS[:20]}) as broken, evaluation() as healthy:
        found, unreadable = evaluations.read_metrics([broken, healthy])
    assert found[broken] == {} and found[healthy]["binary_accuracy"] == 0.88
    assert unreadable[broken].startswith(f"{broken}/{METRICS_FILE} is not a whole TFRecord file")


def _performance_store(document: Any) -> tuple[Any, Any, str]:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.serving_performance import PERFORMANCE_FILE

    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)
    folder = tempfile.mkdtemp()
    (Path(folder) / PERFORMANCE_FILE).write_bytes(document)
    artifact = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name="ServingPerformance")), uri=folder)
    execution = pb.Execution(
        type_id=store.put_execution_type(pb.ExecutionType(name="Scoring")), last_known_state=pb.Execution.COMPLETE
    )
    event = pb.Event(type=pb.Event.OUTPUT)
    event.path.steps.add().key = "performance"
    node = pb.Context(
        type_id=store.put_context_type(pb.ContextType(name="node")), name="taxi.serving_model_performance"
    )
    execution.id, _, _ = store.put_execution(execution, [(artifact, event)], [node])
    return store, execution, folder


PERFORMANCE = {
    "span": 3,
    "scored": True,
    "overall": {"rows": 40, "binary_accuracy": 0.8, "auc": 0.85},
    "slices": {"trip_start_hour=3": {"rows": 20, "binary_accuracy": 0.75}},
    "min_binary_accuracy": 0.7,
    "max_accuracy_drop": 0.05,
}


@given(
    damaged(json.dumps(PERFORMANCE).encode())
    | st.builds(
        lambda k, v: json.dumps({**PERFORMANCE, k: v}).encode(), st.sampled_from(sorted(PERFORMANCE)), json_values
    )
)
@example(json.dumps({**PERFORMANCE, "span": "x"}).encode())  # int('x'): ValueError in models, kpis, monitor
@example(json.dumps({**PERFORMANCE, "overall": [1]}).encode())  # list.get: AttributeError
@example(json.dumps({**PERFORMANCE, "min_binary_accuracy": None}).encode())  # float(None): TypeError
def test_a_damaged_performance_record_is_read_or_named(data: bytes) -> None:
    import shutil

    from runners.store.performance import performance_of_execution

    store, execution, folder = _performance_store(data)
    try:
        record = performance_of_execution(store, execution)
    except CorruptArtifactError as err:
        names_a_file_of(folder, err)
        return
    finally:
        shutil.rmtree(folder)
    assert record is not None and isinstance(record.span, int)
    assert all(isinstance(v, int | float) for v in (record.min_binary_accuracy, record.max_accuracy_drop))
    assert record.binary_accuracy is None or isinstance(record.binary_accuracy, int | float)
    assert isinstance(record.to_dict()["decayed"], bool)
