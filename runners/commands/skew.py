"""`taxi-pipeline skew`: logged serving traffic against the training statistics of the served model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import serving_dir as sd
from pipeline import validation
from pipeline.config import PipelineConfig
from runners.errors import EXIT_GATE, EXIT_OK, EXIT_USAGE, RunError
from runners.home.progress import command_console
from runners.monitoring.skew import log_statistics, measure_skew, read_request_log, skew_table
from runners.serving.requests import SERVING_ENVIRONMENT, serving_features
from runners.store import lineage as ln
from runners.store.lineage import resolve_version
from runners.store.metadata import open_store
from runners.store.statistics import read_statistics

_DESCRIPTION = """\
Compares the requests `taxi-pipeline serve` logged (<home>/serving-logs/MODEL/*.tfrecord) with the
training statistics of the served model: ML Metadata leads from the served version to the
StatisticsGen output of the newest span it was trained on (train split; --span picks another).
Each SERVING feature is measured with TFDV's skew comparator: L-infinity distance for categories,
Jensen-Shannon divergence for numbers. Thresholds: --threshold, else the schema's skew_comparator,
else its drift limit. Exits 4 when a feature is over its threshold."""


def read_training_statistics(statistics_uri: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The train split of a StatisticsGen artifact.

    Raises:
        RunError: the split is missing (exit 2) or its file is damaged (exit 3, naming it).
    """
    found = read_statistics(statistics_uri)
    if validation.DRIFT_SPLIT not in found:
        raise RunError(
            f"the training statistics at {statistics_uri} have no '{validation.DRIFT_SPLIT}' split; run the "
            "pipeline again so StatisticsGen writes them",
            EXIT_USAGE,
        )
    return found[validation.DRIFT_SPLIT]


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


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `skew`."""
    parser.description = _DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
    schema_path = ln.trained_schema_file(store, push) or Path(config.schema_path)
    statistics_uri = spans[span]["statistics"]["uri"]

    # TensorFlow and TFDV log as they load: into <home>/logs, as for `drift`.
    with command_console(config, "skew"):
        try:
            schema = validation.load_schema(schema_path)
        except ValueError as err:  # the message names the file
            raise RunError(str(err), EXIT_USAGE) from None
        thresholds = _parse_thresholds(args.threshold, {f.name for f in serving_features(schema)})
        records, files, warnings = read_request_log(folder)
        if not records:
            raise RunError(f"the request log in {folder} holds no complete record yet", EXIT_USAGE)
        training = read_training_statistics(statistics_uri)
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
