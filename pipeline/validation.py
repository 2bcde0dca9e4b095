"""Data-validation logic shared by the gate components, the CLI and the drift notebook.

Plain functions over TFDV protos: read the curated schema, measure drift between two spans, sort
anomalies into blocking and warning ones by policy, and print both as plain-text tables.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from models.features import LABEL_SOURCE_FEATURES

# Drift compares the train split of two spans: it holds two thirds of a span's rows, and comparing
# like with like keeps the numbers comparable from run to run.
DRIFT_SPLIT = "train"
DRIFT_REPORT_FILE = "drift.json"
ANOMALIES_FILE = "SchemaDiff.pb"
STATISTICS_FILE = "FeatureStats.pb"

L_INFINITY = "infinity_norm"
JENSEN_SHANNON = "jensen_shannon_divergence"
MEASURE_NAMES = {L_INFINITY: "L-infinity", JENSEN_SHANNON: "Jensen-Shannon"}
_MEASUREMENT_KINDS = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON,
}

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


def load_schema(path: str | Path) -> schema_pb2.Schema:
    """Reads a schema.pbtxt.

    Args:
        path: the text-format Schema file.

    Returns:
        The schema.

    Raises:
        ValueError: the file is missing or is not a text-format Schema; the message names the file.
    """
    path = Path(path)
    try:
        return text_format.Parse(path.read_text(), schema_pb2.Schema())
    except FileNotFoundError:
        raise ValueError(f"schema file {path} does not exist") from None
    except text_format.ParseError as err:
        raise ValueError(f"schema file {path} is not a valid text-format Schema: {err}") from None


def schema_text(schema: schema_pb2.Schema) -> str:
    """Returns the schema in canonical text format (comments are not part of the proto)."""
    return str(text_format.MessageToString(schema))


_INACTIVE = (schema_pb2.DEPRECATED, schema_pb2.DISABLED, schema_pb2.PLANNED)


def training_features(schema: schema_pb2.Schema) -> list[schema_pb2.Feature]:
    """Returns, in schema order, the features training data must carry.

    That is every feature except those excluded from the TRAINING environment and those whose
    lifecycle stage is deprecated, disabled or planned (TFDV does not validate them either).
    """
    return [
        feature
        for feature in schema.feature
        if feature.lifecycle_stage not in _INACTIVE
        and "TRAINING" not in feature.not_in_environment
        and (not feature.in_environment or "TRAINING" in feature.in_environment)
    ]


def training_columns(schema: schema_pb2.Schema) -> list[str]:
    """Returns, in schema order, the names of `training_features`."""
    return [feature.name for feature in training_features(schema)]


def is_categorical(feature: schema_pb2.Feature) -> bool:
    """True for strings and for integers the schema marks as categorical codes."""
    return feature.type == schema_pb2.BYTES or (feature.HasField("int_domain") and feature.int_domain.is_categorical)


def measure_kind(feature: schema_pb2.Feature) -> str:
    """Returns the drift measure of a feature: the schema's comparator, else the type's natural one.

    L-infinity distance suits categories; for numbers TFDV's L-infinity compares nothing and always
    reads 0, so they get Jensen-Shannon divergence.
    """
    comparator = feature.drift_comparator
    if comparator.HasField("jensen_shannon_divergence"):
        return JENSEN_SHANNON
    if comparator.HasField("infinity_norm"):
        return L_INFINITY
    return L_INFINITY if is_categorical(feature) else JENSEN_SHANNON


def drift_limit(feature: schema_pb2.Feature) -> float | None:
    """Returns the schema's drift threshold of a feature, or None when the schema sets none."""
    comparator = feature.drift_comparator
    if comparator.HasField("jensen_shannon_divergence"):
        return float(comparator.jensen_shannon_divergence.threshold)
    if comparator.HasField("infinity_norm"):
        return float(comparator.infinity_norm.threshold)
    return None


@dataclasses.dataclass(frozen=True)
class DriftRow:
    """The drift of one feature between two spans."""

    feature: str
    measure: str
    value: float | None
    limit: float | None

    @property
    def over_limit(self) -> bool:
        """True when the value exceeds the schema's limit (as TFDV judges it: strictly greater)."""
        return self.value is not None and self.limit is not None and self.value > self.limit

    @property
    def status(self) -> str:
        """A word for the table: OVER LIMIT, ok, no limit or not measured."""
        if self.value is None:
            return "not measured"
        if self.limit is None:
            return "no limit"
        return "OVER LIMIT" if self.over_limit else "ok"

    def to_dict(self) -> dict[str, Any]:
        """Returns the row as JSON-able values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DriftRow:
        """Builds a row from `to_dict`'s output."""
        value, limit = values.get("value"), values.get("limit")
        return cls(
            feature=str(values["feature"]),
            measure=str(values["measure"]),
            value=None if value is None else float(value),
            limit=None if limit is None else float(limit),
        )


def _probe_schema(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """A copy of the schema with every feature's drift threshold at 0.

    TFDV reports a drift value only when it crosses the threshold, so a zero threshold makes it
    report the value of every feature; the real limits are applied afterwards.
    """
    probe = copy.deepcopy(schema)
    for feature in probe.feature:
        kind = measure_kind(feature)
        feature.ClearField("drift_comparator")
        getattr(feature.drift_comparator, kind).threshold = 0.0
    return probe


def measure_drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> list[DriftRow]:
    """Measures the drift of every schema feature from `previous` to `current`.

    Features with a drift comparator in the schema use it and its threshold as the limit; the
    others are measured too (L-infinity for categories, Jensen-Shannon for numbers) with no limit,
    so every run records a value for every feature.

    Args:
        current: statistics of the new span.
        previous: statistics of the span it is compared with.
        schema: the curated schema.

    Returns:
        One row per schema feature, in schema order; `value` is None when a side has no values.
    """
    import tensorflow_data_validation as tfdv

    anomalies = tfdv.validate_statistics(current, _probe_schema(schema), previous_statistics=previous)
    measured: dict[str, float] = {}
    for info in anomalies.drift_skew_info:
        for measurement in info.drift_measurements:
            if measurement.type in _MEASUREMENT_KINDS:
                measured[".".join(info.path.step)] = float(measurement.value)
    return [
        DriftRow(
            feature=feature.name,
            measure=measure_kind(feature),
            value=measured.get(feature.name),
            limit=drift_limit(feature),
        )
        for feature in schema.feature
    ]


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


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Formats rows as a plain-text table with a header line, for consoles and logs.

    Args:
        headers: column titles.
        rows: cell values; each is printed with str().

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


def drift_table(rows: Sequence[DriftRow], label_sources: Sequence[str] = LABEL_SOURCE_FEATURES) -> str:
    """Formats drift rows: feature, measure, value, limit, status.

    Args:
        rows: the drift rows.
        label_sources: features to mark as the raw inputs of the label (by default tips and fare).

    Returns:
        The table.
    """
    return format_table(
        ("feature", "measure", "value", "limit", "status"),
        (
            (
                row.feature + (" (label source)" if row.feature in label_sources else ""),
                MEASURE_NAMES.get(row.measure, row.measure),
                _number(row.value),
                "-" if row.limit is None else f"{row.limit:g}",
                row.status,
            )
            for row in rows
        ),
    )


def anomaly_table(rows: Sequence[AnomalyRow]) -> str:
    """Formats anomaly rows: feature, anomaly, description, and whether it stops the run."""
    return format_table(
        ("feature", "anomaly", "description", "action"),
        (
            (row.feature, row.kind, " ".join(row.description.split()), "stop" if row.blocking else "warn")
            for row in rows
        ),
    )


def drift_report(span: int | None, baseline_span: int | None, rows: Sequence[DriftRow]) -> dict[str, Any]:
    """Builds the JSON document a drift check records.

    Args:
        span: the span measured.
        baseline_span: the span it was compared with; None when there was none.
        rows: the drift rows.

    Returns:
        A JSON-able dict.
    """
    return {
        "span": span,
        "baseline_span": baseline_span,
        "split": DRIFT_SPLIT,
        "features": [row.to_dict() for row in rows],
        "over_limit": [row.feature for row in rows if row.over_limit],
    }


def drift_rows(report: Mapping[str, Any]) -> list[DriftRow]:
    """Reads the rows of a drift report written by `drift_report`."""
    return [DriftRow.from_dict(values) for values in report.get("features", [])]


def _read_bytes(path: str) -> bytes:
    from tfx.dsl.io import fileio

    with fileio.open(path, "rb") as handle:
        return bytes(handle.read())


def _split_dirs(uri: str) -> dict[str, str]:
    from tfx.dsl.io import fileio

    found = {}
    for entry in fileio.listdir(uri):
        name = os.fsdecode(entry).rstrip("/")
        if name.startswith("Split-"):
            found[name.removeprefix("Split-")] = f"{uri.rstrip('/')}/{name}"
    return found


def load_statistics(uri: str, split: str = DRIFT_SPLIT) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Reads one split of a StatisticsGen artifact.

    Args:
        uri: the ExampleStatistics artifact's URI.
        split: the split to read.

    Returns:
        The statistics.

    Raises:
        FileNotFoundError: the artifact has no such split.
    """
    splits = _split_dirs(uri)
    if split not in splits:
        raise FileNotFoundError(f"statistics at {uri} have no split '{split}' (splits: {', '.join(sorted(splits))})")
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(_read_bytes(f"{splits[split]}/{STATISTICS_FILE}"))


def load_anomalies(uri: str) -> dict[str, anomalies_pb2.Anomalies]:
    """Reads every split of an ExampleValidator (ExampleAnomalies) artifact: split name -> Anomalies."""
    return {
        split: anomalies_pb2.Anomalies.FromString(_read_bytes(f"{path}/{ANOMALIES_FILE}"))
        for split, path in sorted(_split_dirs(uri).items())
    }


def load_drift_report(uri: str) -> dict[str, Any]:
    """Reads the drift report a DriftCheck artifact holds."""
    loaded: dict[str, Any] = json.loads(_read_bytes(f"{uri.rstrip('/')}/{DRIFT_REPORT_FILE}").decode())
    return loaded


def _write_text(path: str, text: str) -> None:
    from tfx.dsl.io import fileio

    with fileio.open(path, "w") as handle:
        handle.write(text)


def read_schema_artifact(uri: str) -> schema_pb2.Schema:
    """Reads the schema file inside a Schema artifact (ImportSchemaGen writes one file there)."""
    from tfx.utils import io_utils

    schema: schema_pb2.Schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(uri))
    return schema


def check_drift(
    span: int,
    statistics_uri: str,
    schema_uri: str,
    baseline_span: int | None,
    baseline_uri: str | None,
    report_uri: str,
) -> dict[str, Any]:
    """The drift check's work: measures drift against the baseline span and writes the report.

    Args:
        span: the new span.
        statistics_uri: its ExampleStatistics artifact.
        schema_uri: the Schema artifact; its drift comparators give each feature's measure and limit.
        baseline_span: the previous span, or None for the first span.
        baseline_uri: the previous span's ExampleStatistics artifact, or None.
        report_uri: the DriftReport artifact's folder.

    Returns:
        The report written to `report_uri`/drift.json.
    """
    rows: list[DriftRow] = []
    if baseline_uri is not None:
        rows = measure_drift(
            load_statistics(statistics_uri), load_statistics(baseline_uri), read_schema_artifact(schema_uri)
        )
    report = drift_report(span, baseline_span, rows)
    _write_text(f"{report_uri.rstrip('/')}/{DRIFT_REPORT_FILE}", json.dumps(report, indent=2))
    return report


def judge_span(anomalies_uri: str, drift_report_uri: str, policy_json: str) -> GateVerdict:
    """The data gate's work: judges ExampleValidator's and DriftCheck's findings by the policy.

    Args:
        anomalies_uri: the ExampleAnomalies artifact.
        drift_report_uri: the DriftReport artifact.
        policy_json: a GatePolicy as JSON.

    Returns:
        The verdict.
    """
    return judge(
        load_anomalies(anomalies_uri),
        drift_rows(load_drift_report(drift_report_uri)),
        GatePolicy.from_json(policy_json),
    )


def _empty_cells_as_empty_lists(batch: Any) -> Any:
    """Turns null cells into empty lists, as CsvExampleGen writes an empty CSV cell into a tf.Example.

    TFDV's own CSV reader reports an empty cell as a missing value, so without this its statistics
    would disagree with the pipeline's on presence and value counts. A column with no value at all
    has no type and stays missing, as in the pipeline.
    """
    import pyarrow as pa

    columns = []
    for column in batch.columns:
        if column.null_count and not pa.types.is_null(column.type):
            column = pa.array([[] if cell is None else cell for cell in column.to_pylist()], type=column.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def csv_statistics(
    folder: str | Path, schema: schema_pb2.Schema, beam_args: Sequence[str] = ()
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Computes TFDV statistics of every row of a span folder's CSV files, outside the pipeline.

    Types are inferred from the data and empty cells count as features with no value, as in the
    Examples CsvExampleGen writes; the schema marks which integers are categories, as StatisticsGen's
    schema input does.

    Args:
        folder: the `span-<N>` folder; its CSV files must share one header.
        schema: the curated schema.
        beam_args: Beam options (the profile's beam_args).

    Returns:
        The statistics (one dataset holding all rows).
    """
    import csv
    import tempfile

    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_data_validation.coders import csv_decoder

    files = sorted(Path(folder).glob("*.csv"))
    with files[0].open(newline="") as handle:
        header = next(csv.reader(handle))
    options = tfdv.StatsOptions(schema=schema)
    with tempfile.TemporaryDirectory(prefix="taxi-stats-") as scratch:
        output = str(Path(scratch) / "stats.tfrecord")
        with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
            _ = (
                pipeline
                | "Read" >> beam.io.ReadFromText(str(Path(folder) / "*.csv"), skip_header_lines=1)
                | "Decode" >> csv_decoder.DecodeCSV(column_names=header)
                | "LikeExampleGen" >> beam.Map(_empty_cells_as_empty_lists)
                | "Statistics" >> tfdv.GenerateStatistics(options)
                | "Write" >> tfdv.WriteStatisticsToTFRecord(output)
            )
        statistics: statistics_pb2.DatasetFeatureStatisticsList = tfdv.load_statistics(output)
    return statistics


def validate(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, schema: schema_pb2.Schema
) -> anomalies_pb2.Anomalies:
    """Checks statistics against the schema, as ExampleValidator does."""
    import tensorflow_data_validation as tfdv

    anomalies: anomalies_pb2.Anomalies = tfdv.validate_statistics(statistics, schema)
    return anomalies


def accepting_schema(
    schema: schema_pb2.Schema, statistics: statistics_pb2.DatasetFeatureStatisticsList
) -> schema_pb2.Schema:
    """Returns the schema changed just enough to accept the statistics (TFDV's update_schema)."""
    import tensorflow_data_validation as tfdv

    updated: schema_pb2.Schema = tfdv.update_schema(schema, statistics)
    return updated


def _schema_sections(schema: schema_pb2.Schema) -> dict[str, list[str]]:
    """Splits a schema into reviewable pbtxt blocks: one per feature, per string domain, and the rest."""

    def block(kind: str, message: Any) -> list[str]:
        body = str(text_format.MessageToString(message)).splitlines()
        return [f"{kind} {{", *(f"  {line}" for line in body), "}"]

    sections = {f"feature {f.name}": block("feature", f) for f in schema.feature}
    sections.update({f"string_domain {d.name}": block("string_domain", d) for d in schema.string_domain})
    rest = copy.deepcopy(schema)
    rest.ClearField("feature")
    rest.ClearField("string_domain")
    sections["schema-level fields"] = str(text_format.MessageToString(rest)).splitlines()
    return sections


def schema_diff(before: schema_pb2.Schema, after: schema_pb2.Schema, before_name: str, after_name: str) -> str:
    """A unified diff of two schemas, one hunk per changed feature or domain, whole blocks shown.

    Comments are not part of the proto, so the blocks are canonical pbtxt: copy the changed lines
    into the curated file by hand.

    Args:
        before: the curated schema.
        after: the changed schema.
        before_name: the first header's name.
        after_name: the second header's name.

    Returns:
        The diff, or "" when the schemas are equal.
    """
    import difflib

    old, new = _schema_sections(before), _schema_sections(after)
    hunks: list[str] = []
    for name in [*old, *(n for n in new if n not in old)]:
        old_lines, new_lines = old.get(name, []), new.get(name, [])
        if old_lines == new_lines:
            continue
        lines = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=max(len(old_lines), len(new_lines))))
        hunks.append(f"@@ {name} @@")
        hunks += lines[3:]  # drop difflib's own ---/+++/@@ lines: one header per hunk is enough
    if not hunks:
        return ""
    return "\n".join([f"--- {before_name}", f"+++ {after_name}", *hunks])
