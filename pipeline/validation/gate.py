"""The data gate's policy: which anomaly types and which drift stop a run, and its verdict on a span."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.validation.distance import LABEL_RATE, MEASURE_NAMES
from pipeline.validation.drift import DRIFT_SPLIT, DriftRow

ALL_ANOMALIES = "*"
DRIFT_ACTIONS = ("stop", "warn")
# Where TFDV documents each anomaly type; printed with every anomaly table.
ANOMALIES_REFERENCE = "https://www.tensorflow.org/tfx/data_validation/anomalies"


def anomaly_type_names() -> list[str]:
    """Returns the names of TFDV's anomaly types (AnomalyInfo.Type), e.g. SCHEMA_NEW_COLUMN."""
    return sorted(v.name for v in anomalies_pb2.AnomalyInfo.Type.DESCRIPTOR.values if v.name != "UNKNOWN_TYPE")


def check_anomaly_names(names: Iterable[str]) -> list[str]:
    """Returns the names that are neither "*" nor a TFDV anomaly type."""
    known = set(anomaly_type_names())
    return [name for name in names if name != ALL_ANOMALIES and name not in known]


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """Which findings stop a run and which are only reported.

    Attributes:
        blocking_anomalies: anomaly types that stop the run; "*" stands for every type that TFDV
            reports with ERROR severity.
        warning_anomalies: anomaly types that are only reported; they win over blocking_anomalies.
        drift_action: "stop" or "warn" when a feature drifts over its schema limit.
    """

    blocking_anomalies: tuple[str, ...] = (ALL_ANOMALIES,)
    warning_anomalies: tuple[str, ...] = ()
    drift_action: str = "stop"

    def __post_init__(self) -> None:
        unknown = check_anomaly_names((*self.blocking_anomalies, *self.warning_anomalies))
        if unknown:
            raise ValueError(
                f"unknown anomaly type(s) {', '.join(unknown)}; expected '*' or TFDV anomaly type names "
                f"such as SCHEMA_NEW_COLUMN (see {ANOMALIES_REFERENCE})"
            )
        if self.drift_action not in DRIFT_ACTIONS:
            raise ValueError(f"drift action {self.drift_action!r}; expected one of {', '.join(DRIFT_ACTIONS)}")

    def blocks(self, kind: str, severity: int) -> bool:
        """Whether an anomaly of this type and TFDV severity stops the run."""
        if kind in self.warning_anomalies:
            return False
        if kind in self.blocking_anomalies:
            return True
        return ALL_ANOMALIES in self.blocking_anomalies and severity == anomalies_pb2.AnomalyInfo.ERROR

    def to_json(self) -> str:
        """Serialises the policy for a component parameter."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GatePolicy:
        """Reads `to_json`'s output."""
        values = json.loads(text)
        return cls(
            blocking_anomalies=tuple(values.get("blocking_anomalies", (ALL_ANOMALIES,))),
            warning_anomalies=tuple(values.get("warning_anomalies", ())),
            drift_action=str(values.get("drift_action", "stop")),
        )


@dataclasses.dataclass(frozen=True)
class AnomalyRow:
    """One anomaly type of one feature, merged over the splits it was found in."""

    feature: str
    kind: str
    description: str
    severity: str
    splits: tuple[str, ...]
    blocking: bool


def anomaly_rows(anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies], policy: GatePolicy) -> list[AnomalyRow]:
    """Lists every anomaly found by ExampleValidator, judged by the policy.

    Args:
        anomalies_by_split: split name -> the Anomalies proto of that split.
        policy: which anomaly types stop the run.

    Returns:
        One row per (feature, anomaly type), sorted, with the splits it was found in; the
        description is the train split's when it has one (the others differ in percentages only).
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    ordered = sorted(anomalies_by_split.items(), key=lambda item: (item[0] != DRIFT_SPLIT, item[0]))
    for split, anomalies in ordered:
        infos: list[tuple[str, anomalies_pb2.AnomalyInfo]] = list(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(("(dataset)", anomalies.dataset_anomaly_info))
        for feature, info in infos:
            for reason in info.reason:
                kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
                row = merged.setdefault(
                    (feature, kind),
                    {
                        "description": reason.description or reason.short_description or info.description,
                        "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                        "blocking": policy.blocks(kind, info.severity),
                        "splits": [],
                    },
                )
                if split not in row["splits"]:
                    row["splits"].append(split)
    return [
        AnomalyRow(feature, kind, row["description"], row["severity"], tuple(sorted(row["splits"])), row["blocking"])
        for (feature, kind), row in sorted(merged.items())
    ]


@dataclasses.dataclass(frozen=True)
class GateVerdict:
    """What the data gate decided about one span, and why."""

    anomalies: tuple[AnomalyRow, ...]
    drift: tuple[DriftRow, ...]
    policy: GatePolicy

    @property
    def blocking_anomalies(self) -> list[AnomalyRow]:
        """The anomalies that stop the run."""
        return [row for row in self.anomalies if row.blocking]

    @property
    def drift_over_limit(self) -> list[DriftRow]:
        """The features whose drift exceeds their schema limit."""
        return [row for row in self.drift if row.over_limit]

    @property
    def stopped(self) -> bool:
        """True when the span must not be trained on."""
        return bool(self.blocking_anomalies) or (self.policy.drift_action == "stop" and bool(self.drift_over_limit))

    def reasons(self) -> list[str]:
        """One line per finding that stops the run."""
        lines = [f"{row.feature}: {row.kind} ({row.description.strip()})" for row in self.blocking_anomalies]
        if self.policy.drift_action == "stop":
            lines += [_drift_sentence(row) for row in self.drift_over_limit]
        return lines

    def warnings(self) -> list[str]:
        """One line per finding that is only reported."""
        lines = [f"{row.feature}: {row.kind} ({row.description.strip()})" for row in self.anomalies if not row.blocking]
        if self.policy.drift_action == "warn":
            lines += [_drift_sentence(row) for row in self.drift_over_limit]
        return lines


def _drift_sentence(row: DriftRow) -> str:
    if row.measure == LABEL_RATE:
        return (
            f"{row.feature}: the label rate within its categories changed by {row.value:.3f} on average, over the "
            f"limit {row.limit:g}; the label may no longer relate to the features as it did (a scrambled or "
            "shifted label column)"
        )
    return f"{row.feature}: {MEASURE_NAMES[row.measure]} drift {row.value:.3f} is over the limit {row.limit:g}"


def judge(
    anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies], drift: Sequence[DriftRow], policy: GatePolicy
) -> GateVerdict:
    """Applies the policy to a span's anomalies and drift.

    Args:
        anomalies_by_split: split name -> ExampleValidator's Anomalies proto.
        drift: the span's drift rows (empty when there is no earlier span).
        policy: what stops the run.

    Returns:
        The verdict.
    """
    return GateVerdict(tuple(anomaly_rows(anomalies_by_split, policy)), tuple(drift), policy)
