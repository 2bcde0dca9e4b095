"""TFDV statistics read into plain records: per split, feature by feature, and row counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from runners.store.artifacts import CorruptArtifactError

TOP_VALUES = 8


@dataclasses.dataclass
class FeatureStatistics:
    """TFDV's statistics of one feature in one split.

    `present` counts the rows with a value and `missing` those without, whatever form the empty cell
    took: TFDV's own num_missing leaves out the empty features CsvExampleGen writes for empty CSV
    cells, so both are derived from the value counts (see _rows_with_a_value).
    """

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


# The schema's type names as the statistics spell them.
_SCHEMA_TYPES = {schema_pb2.INT: "INT", schema_pb2.FLOAT: "FLOAT", schema_pb2.BYTES: "STRING"}


def _rows_with_a_value(common: statistics_pb2.CommonStatistics, rows: int) -> int:
    """How many of `rows` examples hold at least one value of a feature.

    An empty CSV cell reaches TFDV either as no feature (num_missing) or as a feature with no values
    (counted in num_non_missing); with at most one value per row, as the schema requires, the total
    number of values is the number of rows with one. Features with lists fall back to num_non_missing,
    which still counts empty lists as present: the statistics do not say how many rows hold one.
    """
    if common.max_num_values <= 1:
        return min(int(common.tot_num_values), rows)
    return int(common.num_non_missing)


def feature_statistics(statistics: Any, schema: schema_pb2.Schema | None = None) -> list[FeatureStatistics]:
    """Turns a DatasetFeatureStatisticsList (one split) into rows, one per feature, sorted by name.

    Args:
        statistics: a tensorflow_metadata DatasetFeatureStatisticsList.
        schema: the run's schema; its types win over those TFDV inferred (a column empty throughout
            is a STRING to TFDV whatever the schema says).

    Returns:
        One row per feature of the first dataset; `present` + `missing` is the dataset's row count.
    """
    if not statistics.datasets:
        return []
    dataset = statistics.datasets[0]
    schema_types = {f.name: _SCHEMA_TYPES[f.type] for f in schema.feature if f.type in _SCHEMA_TYPES} if schema else {}
    rows = []
    for feature in dataset.features:
        name = ".".join(map(_text, feature.path.step)) or _text(feature.name)
        types = statistics_pb2.FeatureNameStatistics.Type
        # A value no TFDV writes (a damaged file that still parses) is shown as its number.
        kind = schema_types.get(name) or (
            types.Name(feature.type) if feature.type in types.values() else f"type {feature.type}"
        )
        which = feature.WhichOneof("stats")
        common = getattr(feature, which).common_stats if which in ("num_stats", "string_stats") else None
        total = int(dataset.num_examples)
        present = _rows_with_a_value(common, total) if common is not None else 0
        missing = total - present
        if feature.HasField("num_stats"):
            numeric = feature.num_stats
            standard = [
                hist for hist in numeric.histograms if hist.type == statistics_pb2.Histogram.HistogramType.STANDARD
            ]
            rows.append(
                FeatureStatistics(
                    name=name,
                    type=kind,
                    present=present,
                    missing=missing,
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
                    present=present,
                    missing=missing,
                    unique=int(strings.unique),
                    top_values=[(_text(v.value), v.frequency) for v in strings.top_values[:TOP_VALUES]],
                )
            )
        else:
            rows.append(FeatureStatistics(name=name, type=kind, present=0, missing=total))
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


def read_split_statistics(
    statistics_uri: str, schema: schema_pb2.Schema | None = None
) -> dict[str, list[FeatureStatistics]]:
    """Reads every split of a StatisticsGen artifact: split name -> feature rows (see read_statistics).

    Args:
        statistics_uri: the ExampleStatistics artifact's folder.
        schema: the run's schema, for the features' types (see feature_statistics).
    """
    return {split: feature_statistics(stats, schema) for split, stats in read_statistics(statistics_uri).items()}


def read_schema(schema_uri: str) -> schema_pb2.Schema | None:
    """Reads the schema file of a local Schema artifact (ImportSchemaGen copies one pbtxt there), without TFX.

    Returns:
        The schema, or None when the folder holds no readable schema file.
    """
    from google.protobuf import text_format

    files = sorted(p for p in Path(schema_uri).glob("*") if p.is_file()) if Path(schema_uri).is_dir() else []
    for path in files:
        try:
            return text_format.Parse(path.read_text(), schema_pb2.Schema())
        except (text_format.ParseError, UnicodeDecodeError):
            continue
    return None


def split_rows(statistics_uri: str) -> dict[str, int]:
    """Reads example counts per split from a StatisticsGen artifact (see read_statistics)."""
    return {
        split: sum(d.num_examples for d in stats.datasets) for split, stats in read_statistics(statistics_uri).items()
    }
