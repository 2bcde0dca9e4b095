"""The trusted-set comparison's arithmetic: two models' correctness on the same earlier-span rows.

Plain numpy and scipy, no TFX, so the runners read its file name without loading TFX; the component that
feeds it is pipeline/trusted_evaluator.py.

A refusal needs two things: the candidate's accuracy is below the baseline's by more than `max_drop`,
AND the difference is unlikely to be chance. The second is an exact one-sided McNemar test on the rows
where the two models disagree: if both were equally good, each such row is the baseline's win with
probability 1/2, so the p-value is P(Binomial(disagreements, 1/2) >= baseline's wins). On a few hundred
rows a change of two or three rows is noise (measured: see README, "Lines of defence"); the test is what
keeps such changes from refusing a good candidate, while a model trained on bad labels loses hundreds.
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
# Below this many rows the comparison is recorded but cannot refuse: too few to judge a model on.
MIN_ROWS = 100


def correct(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per row, whether the score cut at 0.5 (as TFMA's BinaryAccuracy does) matches the 0/1 label."""
    labels = np.asarray(labels).astype(bool).reshape(-1)
    predicted = np.asarray(scores, dtype=np.float64).reshape(-1) >= DECISION_THRESHOLD
    if labels.size != predicted.size:
        raise ValueError(f"{labels.size} labels but {predicted.size} scores")
    if labels.size == 0:
        raise ValueError("no rows to compute binary accuracy on")
    return np.asarray(labels == predicted)


def binary_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Share of rows whose score, cut at 0.5, matches the 0/1 label."""
    return float(np.mean(correct(labels, scores)))


def worse_p_value(baseline_wins: int, candidate_wins: int) -> float:
    """One-sided exact McNemar p-value that the candidate is worse: P(Bin(n, 1/2) >= baseline_wins).

    Args:
        baseline_wins: rows the baseline got right and the candidate wrong.
        candidate_wins: rows the candidate got right and the baseline wrong.
    """
    # Here, not at the top: scipy.stats takes most of a second to import, and the read-only commands
    # import this module for TRUSTED_FILE alone.
    from scipy import stats

    disagreements = baseline_wins + candidate_wins
    if disagreements == 0:
        return 1.0
    return float(stats.binomtest(baseline_wins, disagreements, 0.5, alternative="greater").pvalue)


@dataclasses.dataclass(frozen=True)
class TrustedComparison:
    """Candidate and baseline correctness on the earlier spans' eval rows, and the refusal rule's limits.

    Attributes:
        spans: the spans the rows come from.
        rows: how many rows both models scored.
        candidate, baseline: their binary accuracy on those rows.
        baseline_wins, candidate_wins: rows only the baseline (only the candidate) got right.
        max_drop: how far below the baseline the candidate may be.
        significance: the p-value below which a drop beyond max_drop is taken as real.
    """

    spans: tuple[int, ...]
    rows: int
    candidate: float
    baseline: float
    max_drop: float
    baseline_wins: int = 0
    candidate_wins: int = 0
    significance: float = 1.0

    @property
    def change(self) -> float:
        """Candidate minus baseline accuracy."""
        return self.candidate - self.baseline

    @property
    def p_value(self) -> float:
        """How likely a drop this large is between two equally good models (one-sided McNemar)."""
        return worse_p_value(self.baseline_wins, self.candidate_wins)

    @property
    def passed(self) -> bool:
        """False when the candidate is worse by more than max_drop, significantly, on at least MIN_ROWS rows."""
        return self.change >= -self.max_drop or self.p_value >= self.significance or self.rows < MIN_ROWS

    def to_dict(self) -> dict[str, Any]:
        """The document written as trusted.json."""
        return {
            "spans": list(self.spans),
            "rows": self.rows,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "change": self.change,
            "max_drop": self.max_drop,
            "baseline_wins": self.baseline_wins,
            "candidate_wins": self.candidate_wins,
            "p_value": self.p_value,
            "significance": self.significance,
            "min_rows": MIN_ROWS,
            "passed": self.passed,
        }


def compare_accuracy(
    labels: np.ndarray,
    candidate_scores: np.ndarray,
    baseline_scores: np.ndarray,
    spans: Sequence[int],
    max_drop: float,
    significance: float = 1.0,
) -> TrustedComparison:
    """Compares two models' correctness on the same labelled rows.

    Args:
        labels: 0/1 per row.
        candidate_scores: the candidate's probability per row.
        baseline_scores: the baseline's probability per row.
        spans: the spans the rows come from.
        max_drop: how far below the baseline the candidate may be.
        significance: the p-value a drop beyond max_drop must be below to refuse; 1.0 refuses on the
            drop alone.
    """
    candidate = correct(labels, candidate_scores)
    baseline = correct(labels, baseline_scores)
    return TrustedComparison(
        spans=tuple(sorted(spans)),
        rows=int(candidate.size),
        candidate=float(np.mean(candidate)),
        baseline=float(np.mean(baseline)),
        max_drop=float(max_drop),
        baseline_wins=int(np.sum(baseline & ~candidate)),
        candidate_wins=int(np.sum(candidate & ~baseline)),
        significance=float(significance),
    )
