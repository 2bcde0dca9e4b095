"""TFMA's plots (calibration, confusion matrices at thresholds) and the Trainer's loss history, read as plain records.

The plots are TFMA's PlotsForSlice protos in TFRecord files; they are read with the protobuf module alone
(loaded from TFMA's package without importing TFMA, which imports TensorFlow and Beam), so a report reads
its pictures in milliseconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from runners.store import tfma_files
from runners.store.artifacts import CorruptArtifactError, read_json

# The Trainer's per-epoch Keras history in its model_run output (models/trainer.py's HISTORY_FILE:
# runners do not import model code).
HISTORY_FILE = "history.json"


@dataclasses.dataclass
class CurvePoint:
    """One threshold of TFMA's confusion-matrix plot."""

    threshold: float
    true_positive_rate: float  # recall
    false_positive_rate: float
    precision: float


@dataclasses.dataclass
class CalibrationBucket:
    """One bucket of TFMA's calibration plot: the examples whose prediction fell in [low, high)."""

    low: float
    high: float
    examples: float
    mean_prediction: float
    mean_label: float


@dataclasses.dataclass
class SlicePlots:
    """The plots of one slice."""

    curve: list[CurvePoint] = dataclasses.field(default_factory=list)
    calibration: list[CalibrationBucket] = dataclasses.field(default_factory=list)
    positives: float | None = None
    negatives: float | None = None

    @property
    def single_class(self) -> bool:
        """Whether the slice's labels are all one class (AUC is undefined there, whatever TFMA prints)."""
        return self.positives is not None and self.negatives is not None and min(self.positives, self.negatives) == 0


def _slice_name(slice_key: Any) -> str:
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        parts.append(f"{single.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def read_plots(evaluation_uri: str) -> dict[str, SlicePlots]:
    """Reads the candidate model's plots of an Evaluator output, per slice ("overall", "feature=value").

    Returns:
        Slice name -> plots; {} when the evaluation computed no plots (older eval configs).

    Raises:
        CorruptArtifactError: a plots file is cut short or holds other records (exit 3).
    """
    files = sorted(Path(evaluation_uri).glob("plots*"))
    if not files:
        return {}
    pb2 = tfma_files.metrics_proto()
    found: dict[str, SlicePlots] = {}
    for path in files:
        for plots in tfma_files.records_of(path, pb2.PlotsForSlice):
            name = _slice_name(plots.slice_key)
            for item in plots.plot_keys_and_values:
                # The baseline model's plots carry its name; the candidate's are the ones without
                # is_baseline, which TFMA writes first. Keep the candidate's: the first of each kind.
                value = item.value
                target = found.setdefault(name, SlicePlots())
                if value.HasField("confusion_matrix_at_thresholds") and not target.curve:
                    matrices = value.confusion_matrix_at_thresholds.matrices
                    target.curve = [
                        CurvePoint(m.threshold, m.recall, m.false_positive_rate, m.precision) for m in matrices
                    ]
                    if matrices:
                        first = matrices[0]
                        target.positives = first.true_positives + first.false_negatives
                        target.negatives = first.true_negatives + first.false_positives
                if value.HasField("calibration_histogram_buckets") and not target.calibration:
                    target.calibration = [
                        CalibrationBucket(
                            b.lower_threshold_inclusive,
                            b.upper_threshold_exclusive,
                            b.num_weighted_examples.value,
                            b.total_weighted_refined_prediction.value / b.num_weighted_examples.value,
                            b.total_weighted_label.value / b.num_weighted_examples.value,
                        )
                        for b in value.calibration_histogram_buckets.buckets
                        if b.num_weighted_examples.value > 0
                    ]
    return found


def _is_float(value: Any) -> bool:
    """A JSON number that float() takes (an integer of 400 digits overflows it)."""
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**1023)


def read_history(model_run_uri: str) -> dict[str, list[float]] | None:
    """Reads the Trainer's per-epoch history (loss, val_loss, metrics), or None when it wrote none.

    Raises:
        CorruptArtifactError: history.json is there but is not {name: [number per epoch]} (exit 3).
    """
    document = read_json(model_run_uri, HISTORY_FILE)
    if document is None:
        return None
    # What models/trainer.py writes: Keras's History.history, a list of numbers per metric (NaN when
    # training diverged). Anything else is a damaged file, not "no history".
    if not isinstance(document, dict) or not all(
        isinstance(values, list) and all(_is_float(v) for v in values) for values in document.values()
    ):
        raise CorruptArtifactError(Path(model_run_uri) / HISTORY_FILE, "is not {metric: [one number per epoch]}")
    return {str(name): [float(v) for v in values] for name, values in document.items()}
