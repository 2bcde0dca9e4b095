"""Quantile shift: how far the bulk of a numeric feature moved, read from TFDV's quantile histograms.

TFDV's Jensen-Shannon divergence compares ten equal-width buckets spanning each span's own range,
so a feature whose values are all multiplied by 3 can read "ok": both histograms have the same
shape. The quantile shift sees location and scale: it is the change of the feature's trimmed mean
(the mean of its 1 %..99 % quantiles, which one extreme value cannot move; of the non-zero values
for a feature that is never negative, see numeric_summary) divided by the baseline's scale, the
smaller of its trimmed mean's magnitude and its 10 %..90 % spread.

- Multiplying every value by c moves the trimmed mean by exactly |c - 1| of its magnitude, so the
  measure reads at least 0.5 for c >= 1.5 (or c <= 0.5), whatever the feature.
- A shift of location reads in units of the baseline's spread, so latitudes moving by a tenth of
  their usual range read 0.1 although they hardly change relative to 41.9.

Limits live in the curated schema, one per feature, as an annotation tag
`quantile_shift_limit: <number>` (the schema proto has no comparator for it). The same quantiles give
the before/after mean, median and 99th percentile the drift tables show.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

QUANTILE_SHIFT = "quantile_shift"
# The schema annotation tag that holds a feature's limit: `annotation { tag: "quantile_shift_limit: 0.4" }`.
SHIFT_LIMIT_TAG = "quantile_shift_limit"
# TFDV's quantile histograms have 10 buckets by default; 100 give the 1 % and 99 % points. StatisticsGen
# and the CLI's statistics both ask for this many (see stats_options).
QUANTILE_BUCKETS = 100
_TRIM = (0.01, 0.99)
_SPREAD = (0.1, 0.9)


@dataclasses.dataclass(frozen=True)
class NumericSummary:
    """A numeric feature's values in one statistics, as the drift tables show them and the measure uses."""

    mean: float
    median: float
    p99: float | None
    trimmed_mean: float
    spread: float

    def to_dict(self) -> dict[str, float | None]:
        """The values shown to a reviewer, as JSON."""
        return {"mean": self.mean, "median": self.median, "p99": self.p99}


def stats_options(schema: schema_pb2.Schema | None = None) -> Any:
    """TFDV's StatsOptions for every statistics the project computes: quantile histograms of QUANTILE_BUCKETS."""
    import tensorflow_data_validation as tfdv

    return tfdv.StatsOptions(schema=schema, num_quantiles_histogram_buckets=QUANTILE_BUCKETS)


def _quantile_points(numeric: statistics_pb2.NumericStatistics) -> list[tuple[float, float]]:
    """(cumulative share, value) points of the quantile histogram: its bucket boundaries."""
    for histogram in numeric.histograms:
        if histogram.type != statistics_pb2.Histogram.HistogramType.QUANTILES or not histogram.buckets:
            continue
        total = sum(b.sample_count for b in histogram.buckets)
        if total <= 0:
            return []
        points = [(0.0, histogram.buckets[0].low_value)]
        seen = 0.0
        for bucket in histogram.buckets:
            seen += bucket.sample_count
            points.append((seen / total, bucket.high_value))
        return points
    return []


def _quantile(points: list[tuple[float, float]], share: float) -> float:
    for (p0, v0), (p1, v1) in itertools.pairwise(points):
        if p1 >= share:
            return v0 if p1 == p0 else v0 + (v1 - v0) * (share - p0) / (p1 - p0)
    return points[-1][1]


def numeric_summary(numeric: statistics_pb2.NumericStatistics) -> NumericSummary | None:
    """Summarises one feature's NumericStatistics; None when it has no quantile histogram (no values).

    For a feature without negative values the trimmed mean and spread are those of its non-zero
    values: multiplying by a constant leaves zeros at zero, while the share of zeros (cash trips
    without a tip, trips whose miles were not recorded) moves from year to year on its own, and
    TFDV's comparators already watch the histogram that shows it.
    """
    points = _quantile_points(numeric)
    if len(points) < 2:
        return None
    buckets = len(points) - 1
    # The 99th percentile only when the histogram resolves it (statistics of the default 10 buckets do not).
    p99 = _quantile(points, 0.99) if buckets >= 100 else None
    low, high = _TRIM if buckets >= 100 else _SPREAD
    values = float(numeric.common_stats.tot_num_values) or 0.0
    zeros = numeric.num_zeros / values if values and numeric.min >= 0 and numeric.num_zeros < values else 0.0

    def bulk(share: float) -> float:
        # Kept inside the histogram's resolved points: its outer buckets reach out to the extremes.
        return _quantile(points, min(high, max(low, zeros + share * (1.0 - zeros))))

    steps = max(1, round((high - low) * buckets))
    trimmed = [bulk(low + (high - low) * i / steps) for i in range(steps + 1)]
    return NumericSummary(
        mean=float(numeric.mean),
        median=_quantile(points, 0.5),
        p99=p99,
        trimmed_mean=math.fsum(trimmed) / len(trimmed),
        spread=bulk(_SPREAD[1]) - bulk(_SPREAD[0]),
    )


def numeric_summaries(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, NumericSummary]:
    """Feature name -> summary, for every numeric feature with values in the first dataset."""
    found: dict[str, NumericSummary] = {}
    for feature in statistics.datasets[0].features if statistics.datasets else []:
        if feature.HasField("num_stats"):
            summary = numeric_summary(feature.num_stats)
            if summary is not None:
                found[".".join(feature.path.step) or feature.name] = summary
    return found


def quantile_shift(current: NumericSummary, baseline: NumericSummary) -> float | None:
    """The change of the trimmed mean in units of the baseline's scale; None when the baseline has no scale."""
    magnitude, spread = abs(baseline.trimmed_mean), baseline.spread
    scale = min(magnitude, spread) if min(magnitude, spread) > 0 else max(magnitude, spread)
    if scale <= 0:
        return None if current.trimmed_mean == baseline.trimmed_mean else math.inf
    return abs(current.trimmed_mean - baseline.trimmed_mean) / scale


def shift_limit(feature: schema_pb2.Feature) -> float | None:
    """The schema's quantile-shift limit of a feature (its `quantile_shift_limit: X` annotation tag), or None.

    Raises:
        ValueError: the tag's value is not a positive number.
    """
    for annotation in feature.annotation.tag if feature.HasField("annotation") else []:
        key, _, value = annotation.partition(":")
        if key.strip() != SHIFT_LIMIT_TAG:
            continue
        try:
            limit = float(value)
        except ValueError:
            limit = math.nan
        if not limit > 0 or math.isinf(limit):
            raise ValueError(
                f"schema feature {feature.name!r}: annotation tag {annotation!r} needs a positive number, "
                f'as in "{SHIFT_LIMIT_TAG}: 0.4"'
            )
        return limit
    return None


def shift_values(
    current: Mapping[str, NumericSummary], baseline: Mapping[str, NumericSummary], feature: str
) -> float | None:
    """The quantile shift of one feature between two summaries maps; None when a side has no values."""
    if feature not in current or feature not in baseline:
        return None
    return quantile_shift(current[feature], baseline[feature])
