"""`taxi-pipeline drift` and `taxi-pipeline schema diff|validate`: check span data without running the pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import validation
from pipeline.config import PipelineConfig
from runners.errors import EXIT_GATE, EXIT_INPUT, EXIT_OK, EXIT_USAGE, RunError
from runners.home.progress import read_only_console
from runners.pipeline_args import policy_of
from runners.preflight import check_span

_DESCRIPTION_DRIFT = """\
Measures the drift of every feature of span A against span B, with each feature's measure and limit
from the curated schema (Jensen-Shannon divergence for numbers, L-infinity distance for categories).
Numeric features also get the quantile shift (the change of the trimmed mean in units of the baseline's
magnitude or spread; limits in the schema's "quantile_shift_limit" annotation tags) and show their mean,
median and 99th percentile before and after. Exits 4 when a feature is over its limit. Values use all
rows of both spans; the pipeline's drift check uses their train splits, so its numbers differ a little.
Writes nothing into the home."""


_DESCRIPTION_DIFF = """\
Shows, as a diff of the curated schema, what TFDV would change for the schema to accept a span:
new categories, wider ranges, relaxed presence, changed types. Review it, then edit the schema file
by hand (the diff shows canonical pbtxt without the file's comments). Exits 0 when the schema already
accepts the span and 4 when it must change (as a data gate would stop it). Writes nothing into the home."""


_DESCRIPTION_VALIDATE = """\
Checks a span's CSV files against the curated schema, as the pipeline's pre-flight check and data gate
would, without running the pipeline. Exits 3 when the files cannot be ingested, 4 when an anomaly
would stop the run. Writes nothing into the home."""


def configure_drift(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds the flags of `drift`."""
    parser.description = _DESCRIPTION_DRIFT
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_config_flags(parser)
    parser.add_argument("--span", type=int, required=True, metavar="A", help="the new span")
    parser.add_argument("--against", type=int, required=True, metavar="B", help="the span to compare with")
    parser.add_argument("--data-root", help="folder of span-<N>/ folders of CSV files (default: bundled data/taxi)")
    parser.add_argument("--json", action="store_true", help="print the drift rows as JSON on stdout")
    parser.set_defaults(handler=_cmd_drift)


def configure_schema(
    parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Adds `schema diff` and `schema validate`."""
    formatter = argparse.RawDescriptionHelpFormatter
    schema_commands = parser.add_subparsers(dest="schema_command", required=True, metavar="SUBCOMMAND")
    diff = schema_commands.add_parser(
        "diff",
        help="show how the curated schema would change to accept a span",
        description=_DESCRIPTION_DIFF,
        formatter_class=formatter,
    )
    add_config_flags(diff)
    diff.add_argument("--span", type=int, help="the span to accept (default: the newest span folder)")
    diff.add_argument("--data-root", help="folder of span-<N>/ folders of CSV files (default: bundled data/taxi)")
    diff.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    diff.set_defaults(handler=_cmd_schema_diff)

    check = schema_commands.add_parser(
        "validate",
        help="check a span against the curated schema without running the pipeline",
        description=_DESCRIPTION_VALIDATE,
        formatter_class=formatter,
    )
    add_config_flags(check)
    check.add_argument("--span", type=int, required=True, help="the span to check")
    check.add_argument("--data-root", help="folder of span-<N>/ folders of CSV files (default: bundled data/taxi)")
    check.add_argument("--json", action="store_true", help="print the anomalies as JSON on stdout")
    check.set_defaults(handler=_cmd_schema_validate)


def _span_folder(config: PipelineConfig, span: int | None) -> tuple[int, Path]:
    from runners.local import discover_spans

    spans = discover_spans(config.data_root)
    number = max(spans) if span is None else span
    if number not in spans:
        raise RunError(
            f"span {number} is not in the data root {config.data_root} (spans there: {', '.join(map(str, spans))})",
            EXIT_USAGE,
        )
    return number, spans[number]


def _schema(config: PipelineConfig) -> Any:
    try:
        return validation.load_schema(config.schema_path)
    except ValueError as err:
        raise RunError(str(err), EXIT_USAGE) from None


def _readable(span: int, folder: Path, schema: Any, config: PipelineConfig, schema_checks: bool = True) -> None:
    problems = check_span(folder, schema, schema_checks=schema_checks)
    if problems:
        raise RunError(
            f"span {span} cannot be read (checked against {config.schema_path}):\n  - " + "\n  - ".join(problems),
            EXIT_INPUT,
        )


def _measure_name(measure: str) -> str:
    return validation.MEASURE_NAMES.get(measure, measure)


def _cmd_drift(args: argparse.Namespace, config: PipelineConfig) -> int:
    # Everything inside: TensorFlow logs to stderr as soon as it is imported.
    with read_only_console(config, "drift") as console:
        schema = _schema(config)
        span, folder = _span_folder(config, args.span)
        against, against_folder = _span_folder(config, args.against)
        _readable(span, folder, schema, config)
        _readable(against, against_folder, schema, config)
        console.status(f"computing TFDV statistics of span {span} with Beam")
        current = validation.csv_statistics(folder, schema, config.beam_args)
        console.status(f"computing TFDV statistics of span {against} with Beam")
        previous = validation.csv_statistics(against_folder, schema, config.beam_args)
        console.status("measuring drift")
        rows = validation.measure_drift(current, previous, schema)
        by = config.label_shift_features
        rows += validation.measure_label_shift(
            validation.csv_label_counts(folder, by),
            validation.csv_label_counts(against_folder, by),
            by,
            config.label_shift_limit,
        )
        if args.json:
            document = {
                **validation.drift_report(span, against, rows),
                "split": "all rows",
                "features": [{**row.to_dict(), "status": row.status} for row in rows],
            }
            console.write(json.dumps(document, indent=2) + "\n")
        else:
            console.write(
                f"Drift of span {span} against span {against} (all rows; limits from {config.schema_path}, "
                "the label's from label_shift_limit):\n"
            )
            console.write(validation.drift_table(rows) + "\n")
    over = [row for row in rows if row.over_limit and row.value is not None]
    if over:
        print(
            f"taxi-pipeline: {len(over)} feature(s) over the drift limit: "
            + "; ".join(
                f"{row.feature} {row.value:.3f} > {row.limit:g} ({_measure_name(row.measure)})"
                for row in over
                if row.value is not None
            ),
            file=sys.stderr,
        )
        return EXIT_GATE
    return EXIT_OK


def _cmd_schema_diff(args: argparse.Namespace, config: PipelineConfig) -> int:
    with read_only_console(config, "schema diff") as console:
        schema = _schema(config)
        span, folder = _span_folder(config, config.span)
        # Missing columns and changed types are what the diff is for, so only unreadable files stop it.
        _readable(span, folder, schema, config, schema_checks=False)
        console.status(f"computing TFDV statistics of span {span} with Beam")
        updated = validation.accepting_schema(schema, validation.csv_statistics(folder, schema, config.beam_args))
        diff = validation.schema_diff(
            schema, updated, f"{config.schema_path} (curated)", f"{config.schema_path} (accepting span {span})"
        )
        if args.json:
            document = {"span": span, "schema": str(config.schema_path), "must_change": bool(diff), "diff": diff}
            console.write(json.dumps(document, indent=2) + "\n")
        elif diff:
            console.write(diff + "\n")
            console.write(
                f"To accept span {span}, make these changes in {config.schema_path} (keep its comments) and "
                "have them reviewed.\n"
            )
        else:
            console.write(f"The curated schema already accepts span {span}: no change needed.\n")
    if diff:
        print(f"taxi-pipeline: the curated schema must change to accept span {span} (exit 4)", file=sys.stderr)
        return EXIT_GATE
    return EXIT_OK


def _cmd_schema_validate(args: argparse.Namespace, config: PipelineConfig) -> int:
    with read_only_console(config, "schema validate") as console:
        schema = _schema(config)
        span, folder = _span_folder(config, config.span)
        _readable(span, folder, schema, config)
        console.status(f"computing TFDV statistics of span {span} with Beam")
        anomalies = validation.validate(validation.csv_statistics(folder, schema, config.beam_args), schema)
        verdict = validation.judge({"all rows": anomalies}, [], policy_of(config))
        if args.json:
            document = {
                "span": span,
                "schema": str(config.schema_path),
                "stopped": verdict.stopped,
                "anomalies": [dataclasses.asdict(row) for row in verdict.anomalies],
                "reasons": verdict.reasons(),
            }
            console.write(json.dumps(document, indent=2) + "\n")
        elif verdict.anomalies:
            console.write(f"Anomalies in span {span} (see {validation.ANOMALIES_REFERENCE}):\n")
            console.write(validation.anomaly_table(verdict.anomalies) + "\n")
        else:
            console.write(f"Span {span} matches the curated schema {config.schema_path}: no anomalies.\n")
    if verdict.stopped:
        print(
            f"taxi-pipeline: span {span} would be stopped by the data gate:\n  " + "\n  ".join(verdict.reasons()),
            file=sys.stderr,
        )
        return EXIT_GATE
    return EXIT_OK
