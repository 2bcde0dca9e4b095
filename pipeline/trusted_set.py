"""The trusted-set comparison's arithmetic: two models' binary accuracy on the same earlier-span rows.

Plain numpy, no TFX, so the runners read its file name without loading TFX; the component that feeds it
is pipeline/trusted_evaluator.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

# Written into the Evaluator's evaluation folder when the comparison ran (TrustedComparison.to_dict).
TRUSTED_FILE = "trusted.json"
# TFMA's BinaryAccuracy threshold on the score.
DECISION_THRESHOLD = 0.5


def binary_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Share of rows whose score, cut at 0.5 (as TFMA's BinaryAccuracy does), matches the 0/1 label."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    predicted = np.asarray(scores, dtype=np.float64).reshape(-1) >= DECISION_THRESHOLD
    if labels.size != predicted.size:
        raise ValueError(f"{labels.size} labels but {predicted.size} scores")
    if labels.size == 0:
        raise ValueError("no rows to compute binary accuracy on")
    return float(np.mean(labels == predicted))


@dataclasses.dataclass(frozen=True)
class TrustedComparison:
    """Candidate and baseline binary accuracy on the earlier spans' eval rows, and the allowed drop."""

    spans: tuple[int, ...]
    rows: int
    candidate: float
    baseline: float
    max_drop: float

    @property
    def change(self) -> float:
        """Candidate minus baseline accuracy."""
        return self.candidate - self.baseline

    @property
    def passed(self) -> bool:
        """False when the candidate is worse than the baseline by more than max_drop."""
        return self.change >= -self.max_drop

    def to_dict(self) -> dict[str, Any]:
        """The document written as trusted.json."""
        return {
            "spans": list(self.spans),
            "rows": self.rows,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "change": self.change,
            "max_drop": self.max_drop,
            "passed": self.passed,
        }


def compare_accuracy(
    labels: np.ndarray,
    candidate_scores: np.ndarray,
    baseline_scores: np.ndarray,
    spans: Sequence[int],
    max_drop: float,
) -> TrustedComparison:
    """Compares two models' binary accuracy on the same labelled rows.

    Args:
        labels: 0/1 per row.
        candidate_scores: the candidate's probability per row.
        baseline_scores: the baseline's probability per row.
        spans: the spans the rows come from.
        max_drop: how far below the baseline the candidate may be.
    """
    return TrustedComparison(
        spans=tuple(sorted(spans)),
        rows=int(np.asarray(labels).size),
        candidate=binary_accuracy(labels, candidate_scores),
        baseline=binary_accuracy(labels, baseline_scores),
        max_drop=float(max_drop),
    )
