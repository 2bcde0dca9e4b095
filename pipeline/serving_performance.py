"""How the model serving now does on a newly arrived span: its metrics there, and when they mean decay.

Plain Python, no TFX, so the runners (summary, `monitor`) read the file and judge decay without loading
TFX. The component that scores the span (pipeline/components/serving_performance.py) runs TFMA with the
Evaluator's model spec, metrics and slices (pipeline/eval_config.py, without thresholds) over the whole
span; this module turns TFMA's numbers into performance.json's metrics and holds the decay rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

PERFORMANCE_FILE = "performance.json"
ACCURACY = "binary_accuracy"
AUC = "auc"
# The overall slice's name; the others are "feature=value", as the console summary names slices.
OVERALL = "overall"
# Slices with fewer rows are left out: an accuracy over a handful of trips says nothing.
MIN_SLICE_ROWS = 20
# Metrics TFMA computes beyond the Evaluator's, for the label rate and mean score performance.json holds.
EXTRA_METRICS = ("MeanLabel", "MeanPrediction")
# performance.json's metric fields, from TFMA's metric names. The first five are the ones readers know
# (runners/store/performance.py); precision, recall and calibration are the Evaluator's others.
FIELDS = {
    "example_count": "rows",
    "binary_accuracy": ACCURACY,
    "auc": AUC,
    "mean_label": "label_rate",
    "mean_prediction": "mean_prediction",
    "precision": "precision",
    "recall": "recall",
    "calibration": "calibration",
}


def _number(value: Any) -> float | None:
    # None, not NaN, when a metric is undefined (AUC of one class): JSON has no NaN.
    return None if value is None or math.isnan(float(value)) else float(value)


def _fields(metrics: Mapping[str, float]) -> dict[str, Any]:
    found = {field: _number(metrics.get(name)) for name, field in FIELDS.items()}
    found["rows"] = int(found["rows"] or 0)
    return found


def _natural(name: str) -> tuple[Any, ...]:
    """ "feature=value" sorted by feature, then numerically when the value is a number (hour 2 before 10)."""
    feature, _, value = name.partition("=")
    number = re.fullmatch(r"-?\d+(\.\d+)?", value)
    return (feature, 0, float(value), "") if number else (feature, 1, 0.0, value)


def span_metrics(by_slice: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """performance.json's metrics of one model on one span, from TFMA's, overall and per slice value.

    Args:
        by_slice: slice name (OVERALL or "feature=value") -> TFMA metric name -> value, as TFMA wrote them
            (NaN when undefined).

    Returns:
        {"overall": metrics, "slices": {"feature=value": metrics}} with metrics {"rows", "binary_accuracy",
        "auc", "label_rate", "mean_prediction", "precision", "recall", "calibration"}; slices of fewer than
        MIN_SLICE_ROWS rows are left out.
    """
    slices = {name: _fields(metrics) for name, metrics in by_slice.items() if name != OVERALL}
    kept = {name: slices[name] for name in sorted(slices, key=_natural) if slices[name]["rows"] >= MIN_SLICE_ROWS}
    return {"overall": _fields(by_slice.get(OVERALL, {})), "slices": kept}


def decay_reasons(
    accuracy: float, reference_accuracy: float | None, min_binary_accuracy: float, max_accuracy_drop: float
) -> list[str]:
    """Why the serving model's accuracy on a new span counts as decay; [] when it does not.

    Args:
        accuracy: its binary accuracy on the new span.
        reference_accuracy: its accuracy in its own evaluation (the Evaluator's, when it was blessed);
            None when unknown, which checks only the absolute floor.
        min_binary_accuracy: the absolute floor.
        max_accuracy_drop: how far below its own evaluation it may fall.
    """
    reasons = []
    if accuracy < min_binary_accuracy:
        reasons.append(f"binary_accuracy {accuracy:.4f} is below the floor {min_binary_accuracy:g}")
    if reference_accuracy is not None and accuracy < reference_accuracy - max_accuracy_drop:
        reasons.append(
            f"binary_accuracy {accuracy:.4f} is {reference_accuracy - accuracy:.4f} below its own evaluation "
            f"({reference_accuracy:.4f}), more than the allowed {max_accuracy_drop:g}"
        )
    return reasons
