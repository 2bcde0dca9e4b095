"""TFMA's metrics read as protos: the overall candidate metrics and changes, without importing TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runners.store import tfma_files
from tests.tfrecord_files import write_tfrecords

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter (its own sys.modules) from the repository root."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)


def _write_evaluation(folder: Path) -> None:
    proto = tfma_files.metrics_proto()
    records = []
    overall = proto.MetricsForSlice()
    for model, name, is_diff, value in (
        ("candidate", "binary_accuracy", False, 0.88),
        ("baseline", "binary_accuracy", False, 0.87),
        ("candidate", "binary_accuracy", True, 0.01),
        ("candidate", "auc", False, float("nan")),
    ):
        item = overall.metric_keys_and_values.add()
        item.key.name, item.key.model_name, item.key.is_diff = name, model, is_diff
        item.value.double_value.value = value
    records.append(overall)
    sliced = proto.MetricsForSlice()
    sliced.slice_key.single_slice_keys.add(column="trip_start_hour", int64_value=3)
    item = sliced.metric_keys_and_values.add()
    item.key.name, item.key.model_name = "binary_accuracy", "candidate"
    item.value.double_value.value = 0.5
    records.append(sliced)
    write_tfrecords(folder / "metrics-00000-of-00001.tfrecord", [record.SerializeToString() for record in records])
    config = {"evalConfig": {"modelSpecs": [{"name": "candidate"}, {"name": "baseline", "isBaseline": True}]}}
    (folder / "eval_config.json").write_text(json.dumps(config))


def test_overall_metrics_are_the_candidate_s_and_its_change(tmp_path: Path) -> None:
    _write_evaluation(tmp_path)
    assert tfma_files.overall_metrics(str(tmp_path)) == {"binary_accuracy": 0.88, "binary_accuracy_diff": 0.01}


def test_reading_them_imports_no_tensorflow(tmp_path: Path) -> None:
    _write_evaluation(tmp_path)
    code = (
        "import sys; from runners.store import tfma_files; "
        f"print(tfma_files.overall_metrics({str(tmp_path)!r}), 'tensorflow' in sys.modules)"
    )
    done = _python(code)
    assert done.stdout.split("} ")[-1].strip() == "False", done.stdout


def test_a_truncated_file_or_an_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tfma_files.overall_metrics(str(tmp_path))
    _write_evaluation(tmp_path)
    path = tmp_path / "metrics-00000-of-00001.tfrecord"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        tfma_files.overall_metrics(str(tmp_path))


def test_steps_run_are_the_step_of_the_last_validation_in_the_tensorboard_log(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tensorboard.compat.proto import event_pb2

    from runners.store.lineage import steps_run

    (tmp_path / "validation").mkdir()
    events = []
    for step, tag in (
        (0, "epoch_loss"),
        (100, "evaluation_loss_vs_iterations"),
        (200, "evaluation_loss_vs_iterations"),
    ):
        event = event_pb2.Event(step=step)
        event.summary.value.add(tag=tag)
        events.append(event.SerializeToString())
    write_tfrecords(tmp_path / "validation" / "events.out.tfevents.1.host.1.v2", events)
    # Early stopping after two epochs of 100: 200 steps run, whatever train_steps said.
    assert steps_run(SimpleNamespace(uri=str(tmp_path))) == 200
    assert steps_run(SimpleNamespace(uri=str(tmp_path / "gone"))) is None
    assert steps_run(None) is None


def _write_judged_evaluation(folder: Path, with_baseline: bool = True) -> str:
    """An Evaluator output as TFMA writes it for the pipeline's own eval config: per-slice thresholds, a
    baseline with diffs (or none), a string and an int slice, failures in the validation result."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2, validation_result_pb2

    from pipeline.eval_config import create_eval_config

    eval_config = create_eval_config(0.7, 0.01, min_slice_binary_accuracy=0.6)
    # As TFX's Evaluator writes it: the models named in each metrics spec, "" when there is no baseline.
    if with_baseline:
        eval_config.model_specs[0].name = "candidate"
        eval_config.model_specs.add().CopyFrom(config_pb2.ModelSpec(name="baseline", is_baseline=True))
        eval_config.metrics_specs[0].model_names.extend(["candidate", "baseline"])
    else:
        eval_config.metrics_specs[0].model_names.append("")
    run = config_pb2.EvalRun(eval_config=eval_config, version=tfma.version.VERSION)
    (folder / "eval_config.json").write_text(json_format.MessageToJson(run))
    slices: list[tuple[tuple[str, object], ...]] = [(), (("trip_start_hour", 3),), (("payment_type", "Cash"),)]
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        for index, key in enumerate(slices):
            record = metrics_for_slice_pb2.MetricsForSlice()
            for column, value in key:
                kind = "int64_value" if isinstance(value, int) else "bytes_value"
                record.slice_key.single_slice_keys.add(
                    column=column, **{kind: value if isinstance(value, int) else str(value).encode()}
                )
            candidate = "candidate" if with_baseline else ""
            values = [(candidate, "binary_accuracy", 0.8 - 0.15 * index, False), ("", "example_count", 40.0, False)]
            values += [(candidate, "auc", float("nan") if index == 2 else 0.9, False)]
            if with_baseline:
                values += [("baseline", "binary_accuracy", 0.78, False), ("candidate", "binary_accuracy", 0.02, True)]
            for model, name, number, is_diff in values:
                item = record.metric_keys_and_values.add()
                item.key.name, item.key.model_name, item.key.is_diff = name, model, is_diff
                item.value.double_value.value = number
            writer.write(record.SerializeToString())
    failure = validation_result_pb2.ValidationFailure()
    failure.metric_key.name = "binary_accuracy"
    failure.metric_value.double_value.value = 0.5
    failure.metric_threshold.value_threshold.lower_bound.value = 0.6
    per_slice = validation_result_pb2.MetricsValidationForSlice(failures=[failure])
    per_slice.slice_key.single_slice_keys.add(column="payment_type", bytes_value=b"Cash")
    result = validation_result_pb2.ValidationResult(validation_ok=False, metric_validations_per_slice=[per_slice])
    with tf.io.TFRecordWriter(str(folder / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    return json_format.MessageToJson(create_eval_config(0.7, 0.01, min_slice_binary_accuracy=0.6))


@pytest.mark.parametrize("with_baseline", [True, False])
def test_the_proto_reader_reads_what_tfma_s_own_readers_read(tmp_path: Path, with_baseline: bool) -> None:
    from runners.store import evaluations

    configured = _write_judged_evaluation(tmp_path, with_baseline)
    uri = str(tmp_path)
    for config in (configured, None):
        fast = evaluations._model_evaluation(uri, config, evaluations._FILES)
        assert fast == evaluations._model_evaluation(uri, config, evaluations._TFMA)
    statuses = {(c.slice, c.kind): c.status for c in fast.thresholds}
    assert statuses[("payment_type=Cash", "absolute")] == "failed threshold"
    assert statuses[("trip_start_hour=3", "absolute")] == "passed"
    assert statuses[("overall", "change vs baseline")] == ("passed" if with_baseline else "not applied")
    result = evaluations._FILES.validation(uri)
    assert evaluations._validation_reasons(result, evaluations._FILES) == evaluations._validation_reasons(
        evaluations._TFMA.validation(uri), evaluations._TFMA
    )
    assert evaluations.read_blessing_reasons(uri) == [
        "payment_type=Cash: binary_accuracy = 0.5000, below the required 0.6000"
    ]


def test_a_config_the_proto_reader_does_not_interpret_is_read_by_tfma(tmp_path: Path) -> None:
    from google.protobuf import json_format

    from runners.store import evaluations

    _write_judged_evaluation(tmp_path)
    document = json.loads((tmp_path / "eval_config.json").read_text())
    document["evalConfig"]["metricsSpecs"][0]["binarize"] = {"topKList": {"values": [1]}}
    (tmp_path / "eval_config.json").write_text(json.dumps(document))
    config = tfma_files.load_eval_config(str(tmp_path))
    with pytest.raises(tfma_files.UnsupportedConfig):
        tfma_files.metric_thresholds(config)
    # TFMA reads it instead (binarized keys carry a sub key, so the plain thresholds have no value).
    evaluation = evaluations.read_model_evaluation(str(tmp_path))
    assert evaluation == evaluations._model_evaluation(str(tmp_path), None, evaluations._TFMA)
    assert json_format.MessageToDict(config)["metricsSpecs"][0]["binarize"]


def test_an_evaluation_is_read_without_importing_tensorflow(tmp_path: Path) -> None:
    _write_judged_evaluation(tmp_path)
    code = (
        "import sys; from runners.store import evaluations as e; "
        f"m = e.read_model_evaluation({str(tmp_path)!r}); r = e.read_blessing_reasons({str(tmp_path)!r}); "
        "print(len(m.slices), len(m.thresholds), len(r), sorted(k for k in sys.modules "
        "if k.split('.')[0] in ('tensorflow', 'tensorflow_model_analysis', 'apache_beam')))"
    )
    done = _python(code)
    assert done.stdout.split(" [")[0] == "3 4 1", done.stdout
    assert done.stdout.split(" [")[1].strip("]\n") == (
        "'tensorflow_model_analysis.proto.config_pb2', 'tensorflow_model_analysis.proto.metrics_for_slice_pb2', "
        "'tensorflow_model_analysis.proto.validation_result_pb2'"
    )


def test_a_changed_byte_inside_a_record_is_a_checksum_error_not_another_number(tmp_path: Path) -> None:
    folder = tmp_path / "evaluation"
    folder.mkdir()
    _write_evaluation(folder)
    path = folder / "metrics-00000-of-00001.tfrecord"
    assert tfma_files.overall_metrics(str(folder))  # read whole before the damage
    data = bytearray(path.read_bytes())
    data[-6] ^= 0x01  # inside the last record's data (its 4-byte checksum follows)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        list(tfma_files.tfrecords(path))


def test_a_damaged_metrics_file_is_named_without_loading_tensorflow(tmp_path: Path) -> None:
    # A failed checksum is damage TFMA's readers stop on too: named at once, not after TensorFlow loads.
    _write_evaluation(tmp_path)
    config = {"version": "0.47.0", "evalConfig": {"modelSpecs": [{"name": "candidate", "labelKey": "big_tipper"}]}}
    (tmp_path / "eval_config.json").write_text(json.dumps(config))  # one the proto reader takes whole
    path = tmp_path / "metrics-00000-of-00001.tfrecord"
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01  # inside the first record's bytes: its checksum no longer matches
    path.write_bytes(bytes(data))
    code = (
        "import sys\nfrom runners.store import evaluations\ntry:\n"
        f"    evaluations.read_evaluation({str(tmp_path)!r})\n"
        "except Exception as err:\n    print(type(err).__name__, '|', err)\n"
        "print('tensorflow' in sys.modules)"
    )
    done = _python(code)
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("DamagedRecordsError |") and str(path) in lines[0], done.stdout
    assert lines[-1] == "False", done.stdout
