"""Settings create_pipeline takes as one value each: the blessing's thresholds, the label check, the tuning search.

Plain frozen values (standard library only), like pipeline.cloud's, so runners build them without importing TFX.
"""

from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class BlessingThresholds:
    """What a candidate model must reach on the eval split for the Evaluator to bless it.

    Attributes:
        min_binary_accuracy: the absolute threshold on overall binary accuracy.
        max_accuracy_drop: how far below the blessed baseline's accuracy a candidate may be; applied only
            when a baseline exists.
        min_slice_binary_accuracy: the absolute threshold on every slice; 0 gates no slice.
        trusted_max_accuracy_drop: how far below the baseline's accuracy a candidate may be on the eval
            splits of the window's earlier spans (pipeline/trusted_evaluator.py); None: max_accuracy_drop.
        trusted_significance: the p-value below which such a drop is taken as real (pipeline/trusted_set.py).
    """

    min_binary_accuracy: float = 0.7
    max_accuracy_drop: float = 1e-10
    min_slice_binary_accuracy: float = 0.0
    trusted_max_accuracy_drop: float | None = 0.02
    trusted_significance: float = 0.01

    @property
    def trusted_drop(self) -> float:
        """The trusted-set threshold in force: trusted_max_accuracy_drop, or max_accuracy_drop when unset."""
        return self.max_accuracy_drop if self.trusted_max_accuracy_drop is None else self.trusted_max_accuracy_drop


@dataclasses.dataclass(frozen=True)
class PerformanceFloor:
    """When the serving model's accuracy on a newly arrived span counts as decay (it never stops the run).

    Attributes:
        min_binary_accuracy: the absolute floor.
        max_accuracy_drop: how far below its own evaluation (the one it was blessed on) it may fall.
    """

    min_binary_accuracy: float = 0.7
    max_accuracy_drop: float = 0.05


@dataclasses.dataclass(frozen=True)
class LabelShift:
    """The check that the label still relates to key features as it did in the previous accepted span.

    Attributes:
        features: categorical features within whose categories the label rate is compared; empty checks none.
        limit: the largest row-weighted mean change of that rate the data gate lets through (as drift).
    """

    features: tuple[str, ...] = ("payment_type",)
    limit: float = 0.15

    def to_json(self) -> str:
        """The check as one JSON string, the form a component parameter carries it in."""
        return json.dumps({"features": list(self.features), "limit": self.limit})

    @classmethod
    def from_json(cls, text: str) -> LabelShift:
        """Reads `to_json`'s output."""
        values = json.loads(text)
        return cls(features=tuple(values["features"]), limit=float(values["limit"]))


@dataclasses.dataclass(frozen=True)
class Tuning:
    """The Tuner's search (the space itself is models/tuning.py's).

    Attributes:
        trials: the most trials the search runs.
        time_budget_s: no trial starts after the search has run this long.
        trial_steps: training steps of each trial.
        parallel_trials: with Vertex training, trials run this many at a time as Vertex AI jobs.
    """

    trials: int = 10
    time_budget_s: int = 600
    trial_steps: int = 200
    parallel_trials: int = 1
