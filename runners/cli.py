"""The `taxi-pipeline` command line: parses flags, builds the config once, and dispatches.

Errors a user can cause (bad config, missing data, a stopped run) print one clear line on
stderr and a documented exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, PipelineConfig, load_config
from runners.errors import EXIT_GATE, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, RunError

# Modules adding subcommands: each has register(commands, add_config_flags), and its parsers set
# `handler(args, config) -> exit code`.
COMMAND_MODULES: tuple[str, ...] = (
    "runners.vertex",
    "runners.data_commands",
    "runners.ops",
    "runners.serve",
    "runners.skew",
    "runners.report",
    "runners.explain",
    "runners.model_card",
)

EXIT_CODES_HELP = """exit codes:
  0  the run completed (a model was pushed, or it was not blessed: the summary says which)
  1  unexpected internal error (a bug: please report it with the log file)
  2  bad usage or configuration
  3  unreadable or missing input data
  4  stopped by a data gate (anomalies or drift)
  5  a pipeline component failed
  6  another run holds this home folder
  7  cannot write to the home folder: not a folder, not writable, or its disk is full
"""


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="config profile (default: $TAXI_PIPELINE_PROFILE or 'local')")
    parser.add_argument("--config", dest="profiles_file", help="profiles YAML file (default: pipeline/profiles.yaml)")
    parser.add_argument("--home", help="folder for every output (default: $TAXI_PIPELINE_HOME or ./outputs)")


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="taxi-pipeline",
        description="Chicago-taxi TFX pipeline: run locally, inspect runs, ship to Vertex AI.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the pipeline locally on a data root of span folders",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    _add_config_flags(run)
    run.add_argument("--data-root", help="folder of span-<N>/ folders of CSV files (default: bundled data/taxi)")
    run.add_argument("--span", type=int, help="span to ingest (default: the newest span folder)")
    run.add_argument("--window-spans", type=int, help="how many recent spans to train on (default: 4)")
    run.add_argument("--train-steps", type=int, help="training steps (default: 2000)")
    run.add_argument(
        "--min-accuracy",
        dest="min_binary_accuracy",
        type=float,
        help="eval binary accuracy a model needs to be blessed (default: 0.7)",
    )
    run.add_argument(
        "--tune",
        action="store_true",
        default=None,
        help="search hyperparameters (models/tuning.py) before training; the best ones train the model",
    )
    run.add_argument(
        "--no-cache",
        dest="enable_cache",
        action="store_false",
        default=None,
        help="re-execute every component instead of reusing cached results",
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    run.add_argument(
        "-v", "--verbose", action="store_true", default=None, help="show TensorFlow, Beam and TFX logs on the console"
    )
    run.set_defaults(handler=_cmd_run)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands, _add_config_flags)
    return parser


# Config fields that a subcommand may expose as a flag of the same name.
FLAG_FIELDS = (
    "home",
    "data_root",
    "span",
    "window_spans",
    "train_steps",
    "min_binary_accuracy",
    "tune",
    "enable_cache",
    "verbose",
    "gcp_project",
    "region",
    "image",
    "service_account",
    "serve_host",
    "serve_port",
    "serve_max_request_bytes",
    "serve_log_sampling",
)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """Builds the one config object of this invocation from the parsed flags."""
    overrides: dict[str, Any] = {}
    for name in FLAG_FIELDS:
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return load_config(
        profile=getattr(args, "profile", None),
        profiles_file=getattr(args, "profiles_file", None),
        overrides=overrides,
        # A subcommand may name its own default (compile and submit use the vertex profile).
        default_profile=getattr(args, "default_profile", "local"),
    )


def _cmd_run(args: argparse.Namespace, config: PipelineConfig) -> int:
    from runners import home_lock
    from runners.progress import quiet_and_logged
    from runners.storage import unwritable_home

    out = sys.stderr if args.json else sys.stdout
    # Locked before TensorFlow is imported, so a second run on this home is refused in a second, and
    # before the log file is opened, so the refused run writes nothing into the home.
    with home_lock.hold(config.home) as home:
        from runners import fastpath

        # Decided before TensorFlow and TFX are imported: that import alone costs more than a whole
        # unchanged run needs.
        inputs = fastpath.fingerprint(config)
        unchanged = fastpath.unchanged_since_last_run(config, inputs)
        if unchanged is not None:
            out.write(fastpath.describe(unchanged, config))
            if args.json:
                print(json.dumps(unchanged.summary, indent=2, default=str))
            return EXIT_OK
        # A run that stops must not leave the manifest of an earlier one claiming to be current.
        fastpath.forget(config)
        log_file = Path(config.logs_dir).resolve() / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise unwritable_home(home, err) from None
        # Quiet before TensorFlow and TFX are imported: they log on import.
        with quiet_and_logged(log_file, config.verbose, out) as console:
            from runners import local
            from runners.summary import format_summary

            try:
                summary = local.run(config, out=console, log_file=log_file)
            except RunError as err:
                if err.exit_code == EXIT_GATE:  # the report shows what stopped the span
                    _write_run_report(config, None, console, log_file)
                raise
            text = format_summary(summary)
            console.write(text + "\n")
            summary.report = _write_run_report(config, summary.run_id, console, log_file)
        try:
            fastpath.record(config, inputs, summary.to_dict(), text)
        except OSError:  # the run itself succeeded; without a manifest the next run just takes the full path
            fastpath.forget(config)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    return EXIT_OK


def _write_run_report(config: PipelineConfig, run_id: str | None, console: Any, log_file: Path) -> str | None:
    """Writes a run's HTML report (default: the newest run) and prints its path.

    A failure only warns, with the traceback in the log: the run itself completed or stopped for its own reason.
    """
    import logging

    try:
        from runners import metadata as md
        from runners.report import write_report

        store = md.connect(config.metadata_path)
        path = write_report(store, config, run_id or md.run_ids(store, config.pipeline_name)[-1])
    except Exception:
        logging.getLogger(__name__).exception("writing the report of run %s failed", run_id)
        console.write(f"taxi-pipeline: warning: the run report could not be written (the traceback is in {log_file})\n")
        return None
    console.write(f"Report: {path}\n")
    return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `taxi-pipeline` and `python -m runners`; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as err:
        print(f"taxi-pipeline: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args, config))
    except ConfigError as err:  # a check a subcommand makes beyond parsing, e.g. what Vertex needs
        print(f"taxi-pipeline: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RunError as err:
        print(f"taxi-pipeline: stopped: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("taxi-pipeline: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not a user error: say so, keep the traceback for the report
        import traceback

        traceback.print_exc()
        print(f"taxi-pipeline: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_INTERNAL


def entry_point() -> None:
    """`taxi-pipeline` and `python -m runners`: runs main() and exits with its code.

    Once TensorFlow is loaded, the interpreter's own teardown (freeing every module and TensorFlow's
    C++ state) takes about 3 s of a run and writes nothing. So after main() the exit handlers run as
    usual (logs flushed and closed, temporary files removed) and only that teardown is skipped.
    """
    code = main()
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
