"""`taxi-pipeline skew`: logged serving traffic against the training statistics of the served model.

The served version is traced through ML Metadata to the StatisticsGen output of a span it was trained
on; TFDV's skew comparators (L-infinity distance for categories, Jensen-Shannon divergence for
numbers) measure every SERVING feature of the request log against it.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import validation
from pipeline.config import PipelineConfig
from runners.errors import EXIT_GATE, EXIT_OK, EXIT_USAGE, RunError
from runners.serving_requests import SERVING_ENVIRONMENT, serving_features

_DESCRIPTION = """\
Compares the requests `taxi-pipeline serve` logged (<home>/serving-logs/MODEL/*.tfrecord) with the
training statistics of the served model: ML Metadata leads from the served version to the
StatisticsGen output of the newest span it was trained on (train split; --span picks another).
Each SERVING feature is measured with TFDV's skew comparator: L-infinity distance for categories,
Jensen-Shannon divergence for numbers. Thresholds: --threshold, else the schema's skew_comparator,
else its drift limit. Exits 4 when a feature is over its threshold."""


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


def _parse_thresholds(items: Sequence[str], known: set[str]) -> dict[str, float]:
    thresholds = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in known:
            raise RunError(
                f"--threshold {item}: '{name}' is not a SERVING feature ({', '.join(sorted(known))})", EXIT_USAGE
            )
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise RunError(f"--threshold {item}: expected FEATURE=NUMBER, e.g. trip_miles=0.3", EXIT_USAGE) from None
    return thresholds


def register(commands: Any, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the `skew` subcommand.

    Args:
        commands: the CLI's subparsers.
        add_config_flags: adds --profile, --config and --home to a parser.
    """
    parser = commands.add_parser(
        "skew",
        help="compare logged serving requests with the served model's training statistics",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(parser)
    parser.add_argument("--version", type=int, metavar="V", help="the model version to compare with (default: serving)")
    parser.add_argument("--span", type=int, help="the training span whose statistics to use (default: the newest)")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="FEATURE=VALUE",
        help="a feature's threshold, over the schema's (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout instead")
    parser.set_defaults(handler=_cmd_skew)


def _cmd_skew(args: argparse.Namespace, config: PipelineConfig) -> int:
    from runners import lineage as ln
    from runners import serving_dir as sd
    from runners.data_commands import _quiet
    from runners.ops import open_store, resolve_version

    store = open_store(config)
    pushes = ln.find_pushes(store, config.pipeline_name)
    push = resolve_version(pushes, config.serving_dir, args.version)
    trace = ln.lineage(store, push, pushes)
    with_statistics = [e for e in trace.get("examples", []) if e.get("statistics") and isinstance(e.get("span"), int)]
    if not with_statistics:
        raise RunError(f"ML Metadata records no training statistics for version {push.version}", EXIT_USAGE)
    spans = {e["span"]: e for e in with_statistics}
    span = max(spans) if args.span is None else args.span
    if span not in spans:
        raise RunError(
            f"version {push.version} was not trained on span {span} (its spans: {', '.join(map(str, sorted(spans)))})",
            EXIT_USAGE,
        )
    folder = Path(config.serving_logs_dir)
    if not sorted(folder.glob("*.tfrecord")):
        raise RunError(
            f"no request log in {folder}: serve with `taxi-pipeline serve` (--log-sampling above 0, config field "
            "serve_log_sampling) and send it traffic first",
            EXIT_USAGE,
        )
    schema_ref = trace.get("schema")
    schema_files = sorted(Path(schema_ref["uri"]).glob("*.pbtxt")) if schema_ref else []
    schema_path = schema_files[0] if schema_files else Path(config.schema_path)
    statistics_uri = spans[span]["statistics"]["uri"]

    # TensorFlow and TFDV log as they load: into <home>/logs, as for `drift`.
    with _quiet(config, "skew"):
        schema = validation.load_schema(schema_path)
        thresholds = _parse_thresholds(args.threshold, {f.name for f in serving_features(schema)})
        records, files, warnings = read_request_log(folder)
        if not records:
            raise RunError(f"the request log in {folder} holds no complete record yet", EXIT_USAGE)
        training = validation.load_statistics(statistics_uri, validation.DRIFT_SPLIT)
        rows = measure_skew(training, log_statistics(records, schema), schema, thresholds)
    training_rows = training.datasets[0].num_examples if training.datasets else 0
    skewed = [row for row in rows if row.skewed]
    document = {
        "model_version": push.version,
        "serving_version": sd.serving_version(config.serving_dir),
        "training_span": span,
        "training_split": validation.DRIFT_SPLIT,
        "training_statistics": statistics_uri,
        "training_rows": training_rows,
        "schema": str(schema_path),
        "environment": SERVING_ENVIRONMENT,
        "request_log": str(folder.resolve()),
        "log_files": len(files),
        "logged_rows": len(records),
        "warnings": warnings,
        "features": [row.to_dict() for row in rows],
        "skewed": [row.feature for row in skewed],
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        for warning in warnings:
            sys.stdout.write(f"warning: {warning}\n")
        sys.stdout.write(
            f"Skew of {len(records)} logged request rows ({len(files)} file(s) in {folder}) against the training\n"
            f"statistics of version {push.version}: span {span}, {validation.DRIFT_SPLIT} split, {training_rows} rows "
            f"({statistics_uri})\n\n"
        )
        sys.stdout.write(skew_table(rows) + "\n")
    if skewed:
        print(
            f"taxi-pipeline: {len(skewed)} feature(s) skewed: "
            + "; ".join(f"{row.feature} {row.value:.3f} > {row.threshold:g}" for row in skewed),
            file=sys.stderr,
        )
        return EXIT_GATE
    return EXIT_OK
