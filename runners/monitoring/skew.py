"""Training/serving skew: logged serving rows against the training statistics of the served model."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import validation
from runners.serving.requests import serving_features


@dataclasses.dataclass(frozen=True)
class SkewRow:
    """The skew of one feature between training and serving data."""

    feature: str
    measure: str
    value: float | None
    threshold: float | None

    @property
    def skewed(self) -> bool:
        """True when the value exceeds the threshold (strictly, as TFDV judges)."""
        return self.value is not None and self.threshold is not None and self.value > self.threshold

    @property
    def status(self) -> str:
        """SKEWED, ok, no threshold or not measured."""
        if self.value is None:
            return "not measured"
        if self.threshold is None:
            return "no threshold"
        return "SKEWED" if self.skewed else "ok"

    def to_dict(self) -> dict[str, Any]:
        """Returns the row as JSON-able values, its status included."""
        return {**dataclasses.asdict(self), "status": self.status}


def skew_kind(feature: Any) -> str:
    """The schema's skew comparator of a feature, else its drift measure (see validation.measure_kind)."""
    comparator = feature.skew_comparator
    if comparator.HasField("jensen_shannon_divergence"):
        return validation.JENSEN_SHANNON
    if comparator.HasField("infinity_norm"):
        return validation.L_INFINITY
    return validation.measure_kind(feature)


def skew_threshold(feature: Any) -> float | None:
    """The schema's skew threshold of a feature, else its drift limit, else None."""
    comparator = feature.skew_comparator
    if comparator.HasField("jensen_shannon_divergence"):
        return float(comparator.jensen_shannon_divergence.threshold)
    if comparator.HasField("infinity_norm"):
        return float(comparator.infinity_norm.threshold)
    return validation.drift_limit(feature)


def measure_skew(
    training: Any, serving: Any, schema: Any, thresholds: Mapping[str, float] | None = None
) -> list[SkewRow]:
    """Measures the skew of every SERVING feature between training and serving statistics.

    Args:
        training: DatasetFeatureStatisticsList of the training data.
        serving: DatasetFeatureStatisticsList of the logged requests.
        schema: the schema the model was trained with.
        thresholds: feature -> threshold, over the schema's.

    Returns:
        One row per SERVING feature, in schema order; `value` is None when a side has no values.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kinds = {
        anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: validation.L_INFINITY,
        anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: validation.JENSEN_SHANNON,
    }
    names = {f.name for f in serving_features(schema)}
    # TFDV reports a value only when it crosses the threshold: with 0 it reports every feature, and
    # the real thresholds are applied below.
    probe = copy.deepcopy(schema)
    for feature in probe.feature:
        kind = skew_kind(feature)
        feature.ClearField("skew_comparator")
        feature.ClearField("drift_comparator")
        if feature.name in names:
            getattr(feature.skew_comparator, kind).threshold = 0.0
    anomalies = tfdv.validate_statistics(training, probe, serving_statistics=serving)
    measured: dict[str, float] = {}
    for info in anomalies.drift_skew_info:
        for measurement in info.skew_measurements:
            if measurement.type in kinds:
                measured[".".join(info.path.step)] = float(measurement.value)
    overrides = thresholds or {}
    return [
        SkewRow(
            feature=f.name,
            measure=skew_kind(f),
            value=measured.get(f.name),
            threshold=overrides.get(f.name, skew_threshold(f)),
        )
        for f in schema.feature
        if f.name in names
    ]


def skew_table(rows: Sequence[SkewRow]) -> str:
    """Formats rows: feature, comparator, value, threshold, status."""
    return validation.format_table(
        ("feature", "comparator", "value", "threshold", "status"),
        (
            (
                row.feature,
                validation.MEASURE_NAMES.get(row.measure, row.measure),
                "-" if row.value is None else f"{row.value:.3f}",
                "-" if row.threshold is None else f"{row.threshold:g}",
                row.status,
            )
            for row in rows
        ),
    )


def read_request_log(folder: Path) -> tuple[list[bytes], list[Path], list[str]]:
    """Reads every record of the request log's TFRecord files.

    Returns:
        The serialized tf.Examples, the files read, and warnings (a file whose last record was cut
        short when the server was killed mid-write still gives its complete records).
    """
    import tensorflow as tf

    records: list[bytes] = []
    warnings: list[str] = []
    files = sorted(folder.glob("*.tfrecord"))
    for path in files:
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                records.append(bytes(record.numpy()))
        except tf.errors.DataLossError:
            warnings.append(f"{path} ends with an incomplete record (the server stopped mid-write); the rest is used")
    return records, files, warnings


def log_statistics(records: Sequence[bytes], schema: Any) -> Any:
    """Computes TFDV statistics of logged tf.Examples in memory, typed by the schema's SERVING features."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    names = {f.name for f in serving_features(schema)}
    serving_schema = copy.deepcopy(schema)
    del serving_schema.feature[:]
    serving_schema.feature.extend(f for f in schema.feature if f.name in names)
    batch = example_coder.ExamplesToRecordBatchDecoder(serving_schema.SerializeToString()).DecodeBatch(list(records))
    # The in-memory generator of TFDV 1.16 (not re-exported at the top level): the same statistics
    # generators as StatisticsGen, without starting a Beam pipeline for a few thousand rows.
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions(schema=serving_schema))
