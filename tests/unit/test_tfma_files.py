"""TFMA's metrics read as protos: the overall candidate metrics and changes, without importing TensorFlow."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from runners.store import tfma_files

ROOT = Path(__file__).resolve().parents[2]


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
    with (folder / "metrics-00000-of-00001.tfrecord").open("wb") as handle:
        for record in records:
            data = record.SerializeToString()
            handle.write(struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4)
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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
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
    with (tmp_path / "validation" / "events.out.tfevents.1.host.1.v2").open("wb") as handle:
        for step, tag in (
            (0, "epoch_loss"),
            (100, "evaluation_loss_vs_iterations"),
            (200, "evaluation_loss_vs_iterations"),
        ):
            event = event_pb2.Event(step=step)
            event.summary.value.add(tag=tag)
            data = event.SerializeToString()
            handle.write(struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4)
    # Early stopping after two epochs of 100: 200 steps run, whatever train_steps said.
    assert steps_run(SimpleNamespace(uri=str(tmp_path))) == 200
    assert steps_run(SimpleNamespace(uri=str(tmp_path / "gone"))) is None
    assert steps_run(None) is None
