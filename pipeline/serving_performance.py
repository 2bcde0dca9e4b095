"""How the model serving now does on a newly arrived span: its metrics there, and when they mean decay.

Plain numpy, no TFX, so the runners (summary, `monitor`) read the file and judge decay without loading
TFX; the component that scores the span is pipeline/components/serving_performance.py. The metrics are
the Evaluator's (binary accuracy at 0.5 and AUC, overall and per slice of models/features.SLICE_FEATURES)
computed with the trusted set's and the feature importance's helpers on the serving_default (raw) signature,
not by a second TFMA run: one pass over the span with the exported model, no Beam job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipeline.explanations import auc
from pipeline.trusted_set import binary_accuracy

PERFORMANCE_FILE = "performance.json"
ACCURACY = "binary_accuracy"
AUC = "auc"
# Slices with fewer rows are left out: an accuracy over a handful of trips says nothing.
MIN_SLICE_ROWS = 20


def _metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    value = auc(labels, scores)
    return {
        "rows": int(labels.size),
        ACCURACY: binary_accuracy(labels, scores),
        # None, not NaN, when one class is missing: JSON has no NaN.
        AUC: None if math.isnan(value) else value,
        "label_rate": float(np.mean(labels)),
        "mean_prediction": float(np.mean(scores)),
    }


def score_span(labels: np.ndarray, scores: np.ndarray, slices: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The metrics of one model on one span, overall and per value of each slice feature.

    Args:
        labels: 0/1 per row.
        scores: the model's probability per row.
        slices: slice feature name -> its raw value per row.

    Returns:
        {"overall": metrics, "slices": {"feature=value": metrics}} with metrics {"rows",
        "binary_accuracy", "auc", "label_rate", "mean_prediction"}.
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    per_slice: dict[str, Any] = {}
    for name, values in slices.items():
        values = np.asarray(values).reshape(-1)
        for value in sorted({str(v) for v in values.tolist()}):
            mask = np.asarray([str(v) == value for v in values.tolist()])
            if int(mask.sum()) >= MIN_SLICE_ROWS:
                per_slice[f"{name}={value}"] = _metrics(labels[mask], scores[mask])
    return {"overall": _metrics(labels, scores), "slices": per_slice}


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
