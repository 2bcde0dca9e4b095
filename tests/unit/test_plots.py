"""TFMA's plots and the Trainer's history read back without TensorFlow: the curves, buckets and class counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runners.store import plots, tfma_files
from tests.tfrecord_files import write_tfrecords

ROOT = Path(__file__).resolve().parents[2]


def _write_records(path: Path, records: list[bytes]) -> None:
    write_tfrecords(path, records)


def _plots_for_slice(hour: int | None, positives: float, negatives: float) -> bytes:
    pb2 = tfma_files.metrics_proto()
    record = pb2.PlotsForSlice()
    if hour is not None:
        key = record.slice_key.single_slice_keys.add()
        key.column, key.int64_value = "trip_start_hour", hour
    item = record.plot_keys_and_values.add()
    matrix = item.value.confusion_matrix_at_thresholds.matrices.add()
    matrix.threshold, matrix.recall, matrix.false_positive_rate, matrix.precision = 0.5, 0.75, 0.1, 0.8
    matrix.true_positives, matrix.false_negatives = positives, 0.0
    matrix.true_negatives, matrix.false_positives = negatives, 0.0
    bucket = item.value.calibration_histogram_buckets.buckets.add()
    bucket.lower_threshold_inclusive, bucket.upper_threshold_exclusive = 0.2, 0.3
    bucket.num_weighted_examples.value = 4.0
    bucket.total_weighted_label.value = 1.0
    bucket.total_weighted_refined_prediction.value = 1.0
    return record.SerializeToString()


def test_plots_are_read_per_slice_with_their_class_counts(tmp_path: Path) -> None:
    _write_records(
        tmp_path / "plots-00000-of-00001.tfrecord", [_plots_for_slice(None, 3, 5), _plots_for_slice(4, 0, 2)]
    )

    found = plots.read_plots(str(tmp_path))

    assert set(found) == {"overall", "trip_start_hour=4"}
    overall = found["overall"]
    assert overall.curve == [plots.CurvePoint(0.5, 0.75, 0.1, 0.8)]
    assert overall.calibration == [plots.CalibrationBucket(0.2, 0.3, 4.0, 0.25, 0.25)]
    assert not overall.single_class and found["trip_start_hour=4"].single_class
    assert plots.read_plots(str(tmp_path / "nothing")) == {}


def test_reading_plots_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from runners.store import plots; plots.tfma_files.metrics_proto(); "
        "print('tensorflow' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


def test_the_history_is_read_or_is_none(tmp_path: Path) -> None:
    (tmp_path / plots.HISTORY_FILE).write_text(json.dumps({"loss": [0.6, 0.5], "val_loss": [0.55, 0.52]}))
    assert plots.read_history(str(tmp_path)) == {"loss": [0.6, 0.5], "val_loss": [0.55, 0.52]}
    assert plots.read_history(str(tmp_path / "missing")) is None
