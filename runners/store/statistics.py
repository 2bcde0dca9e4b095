"""TFDV statistics read into plain records: per split, feature by feature, and row counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

from runners.store.artifacts import CorruptArtifactError

TOP_VALUES = 8


@dataclasses.dataclass
class FeatureStatistics:
    """TFDV's statistics of one feature in one split."""

    name: str
    type: str
    present: int
    missing: int
    mean: float | None = None
    std_dev: float | None = None
    minimum: float | None = None
    median: float | None = None
    maximum: float | None = None
    zeros: int | None = None
    unique: int | None = None
    top_values: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    histogram: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)
    # TFDV's quantiles histogram: buckets of about equal row counts (for skewed features' charts).
    quantiles: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    @property
    def missing_share(self) -> float:
        """Share of examples without a value."""
        total = self.present + self.missing
        return self.missing / total if total else 0.0


def _text(value: str | bytes) -> str:
    """A proto string field: protobuf hands back bytes when a damaged file's string is not UTF-8."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def feature_statistics(statistics: Any) -> list[FeatureStatistics]:
    """Turns a DatasetFeatureStatisticsList (one split) into rows, one per feature, sorted by name.

    Args:
        statistics: a tensorflow_metadata DatasetFeatureStatisticsList.

    Returns:
        One row per feature of the first dataset.
    """
    if not statistics.datasets:
        return []
    rows = []
    for feature in statistics.datasets[0].features:
        name = ".".join(map(_text, feature.path.step)) or _text(feature.name)
        types = statistics_pb2.FeatureNameStatistics.Type
        # A value no TFDV writes (a damaged file that still parses) is shown as its number.
        kind = types.Name(feature.type) if feature.type in types.values() else f"type {feature.type}"
        if feature.HasField("num_stats"):
            numeric = feature.num_stats
            standard = [
                hist for hist in numeric.histograms if hist.type == statistics_pb2.Histogram.HistogramType.STANDARD
            ]
            rows.append(
                FeatureStatistics(
                    name=name,
                    type=kind,
                    present=int(numeric.common_stats.num_non_missing),
                    missing=int(numeric.common_stats.num_missing),
                    mean=numeric.mean,
                    std_dev=numeric.std_dev,
                    minimum=numeric.min,
                    median=numeric.median,
                    maximum=numeric.max,
                    zeros=int(numeric.num_zeros),
                    histogram=[(b.low_value, b.high_value, b.sample_count) for b in standard[0].buckets]
                    if standard
                    else [],
                    quantiles=[
                        (b.low_value, b.high_value, b.sample_count)
                        for hist in numeric.histograms
                        if hist.type == statistics_pb2.Histogram.HistogramType.QUANTILES
                        for b in hist.buckets
                    ],
                )
            )
        elif feature.HasField("string_stats"):
            strings = feature.string_stats
            rows.append(
                FeatureStatistics(
                    name=name,
                    type=kind,
                    present=int(strings.common_stats.num_non_missing),
                    missing=int(strings.common_stats.num_missing),
                    unique=int(strings.unique),
                    top_values=[(_text(v.value), v.frequency) for v in strings.top_values[:TOP_VALUES]],
                )
            )
        else:
            rows.append(FeatureStatistics(name=name, type=kind, present=0, missing=0))
    return sorted(rows, key=lambda r: r.name)


def read_statistics(statistics_uri: str) -> dict[str, statistics_pb2.DatasetFeatureStatisticsList]:
    """Reads every split of a StatisticsGen artifact: the one reader the summary, report and card derive from.

    Args:
        statistics_uri: the ExampleStatistics artifact's folder.

    Returns:
        Split name -> its statistics, in name order; a split folder without its statistics file is left out.

    Raises:
        runners.store.artifacts.CorruptArtifactError: a statistics file is there but is not TFDV's proto.
    """
    from google.protobuf.message import DecodeError

    from pipeline import validation

    found: dict[str, statistics_pb2.DatasetFeatureStatisticsList] = {}
    for split_dir in sorted(Path(statistics_uri).glob("Split-*")):
        stats_file = split_dir / validation.STATISTICS_FILE
        if not stats_file.is_file():
            continue
        split = split_dir.name.removeprefix("Split-")
        try:
            found[split] = validation.load_statistics(statistics_uri, split)
        except DecodeError as err:
            raise CorruptArtifactError(stats_file, f"is not a TFDV DatasetFeatureStatisticsList ({err})") from None
    return found


def read_split_statistics(statistics_uri: str) -> dict[str, list[FeatureStatistics]]:
    """Reads every split of a StatisticsGen artifact: split name -> feature rows (see read_statistics)."""
    return {split: feature_statistics(stats) for split, stats in read_statistics(statistics_uri).items()}


def split_rows(statistics_uri: str) -> dict[str, int]:
    """Reads example counts per split from a StatisticsGen artifact (see read_statistics)."""
    return {
        split: sum(d.num_examples for d in stats.datasets) for split, stats in read_statistics(statistics_uri).items()
    }
