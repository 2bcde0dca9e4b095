"""The `taxi-pipeline` command line: parses flags, builds the config once, and dispatches.

Only the module of the command being run is imported (as kedro's LazyGroup does): the table below
names each command's module and one-line help, so listing the commands costs no import, and an
unchanged `run` or a `runs` never loads the server, the reports or TensorFlow. Errors a user can cause
(bad config, missing data, a stopped run) print one clear line on stderr and a documented exit code,
never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from pipeline.config import ConfigError, PipelineConfig, load_config
from runners.errors import EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_USAGE, RunError

# command -> ("module:function", one-line help). The function adds the command's flags to its parser
# and sets `handler(args, config) -> exit code`; the parser's description defaults to the help line.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("runners.commands.run:configure", "run the pipeline locally on a data root of span folders"),
    "compile": (
        "runners.commands.vertex:configure_compile",
        "compile the pipeline for Vertex AI Pipelines into a JSON spec (no cloud access)",
    ),
    "submit": ("runners.commands.vertex:configure_submit", "run (or schedule) the pipeline on Vertex AI Pipelines"),
    "rehearse": (
        "runners.commands.rehearse:configure",
        "run the compiled Vertex spec on this machine, task by task through TFX's Vertex entrypoint",
    ),
    "drift": ("runners.commands.data:configure_drift", "print per-feature drift of one span against another"),
    "schema": ("runners.commands.data:configure_schema", "review the curated schema against span data"),
    "runs": (
        "runners.commands.ops:configure_runs",
        "list pipeline runs: start, spans, status, duration, cached components, pushed version",
    ),
    "lineage": (
        "runners.commands.ops:configure_lineage",
        "trace a pushed model back to the data, schema and code that made it",
    ),
    "models": (
        "runners.commands.ops:configure_models",
        "list published model versions, their evaluation metrics and which one serves",
    ),
    "rollback": (
        "runners.commands.ops:configure_rollback",
        "serve the model before the newest push again (or --to VERSION), as a new version",
    ),
    "kpis": (
        "runners.commands.ops:configure_kpis",
        "deployment frequency, lead time, blessing rate, run duration and the metric's trend",
    ),
    "serve": (
        "runners.commands.serve:configure",
        "serve the pushed model with TF Serving's REST API, metrics and request logs",
    ),
    "skew": (
        "runners.commands.skew:configure",
        "compare logged serving requests with the served model's training statistics",
    ),
    "watch": (
        "runners.commands.watch:configure",
        "run the pipeline when a complete new span folder arrives; check skew at an interval; export metrics",
    ),
    "monitor": (
        "runners.commands.monitor:configure",
        "accuracy and AUC of the serving model and its predecessors on each new span, before training on it",
    ),
    "report": (
        "runners.commands.report:configure",
        "write a self-contained HTML report of a run (default: the newest) and print its path",
    ),
    "explain": (
        "runners.commands.explain:configure",
        "explain predictions of a pushed model: which raw features pushed each probability up or down",
    ),
    "compare": (
        "runners.commands.compare:configure",
        "compare two runs (default: the last two training runs): data, drift, metrics, importance, config",
    ),
    "model-card": (
        "runners.commands.model_card:configure",
        "write the model card (HTML and Markdown) of a published version",
    ),
}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds the flags every command shares: --profile, --config and --home."""
    parser.add_argument("--profile", help="config profile (default: $TAXI_PIPELINE_PROFILE or 'local')")
    parser.add_argument("--config", dest="profiles_file", help="profiles YAML file (default: pipeline/profiles.yaml)")
    parser.add_argument("--home", help="folder for every output (default: $TAXI_PIPELINE_HOME or ./outputs)")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Returns the parser: every command listed, and the flags of the one argv names (default: all).

    Args:
        argv: the arguments about to be parsed; only the command they name has its module imported.
            None configures every command (for documentation and tests).
    """
    parser = argparse.ArgumentParser(
        prog="taxi-pipeline",
        description="Chicago-taxi TFX pipeline: run locally, inspect runs, ship to Vertex AI.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = argv[0] if argv else None
    for name, (target, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if argv is None or name == wanted:
            module_name, function = target.split(":")
            getattr(importlib.import_module(module_name), function)(command, add_config_flags)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `taxi-pipeline` and `python -m runners`; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
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
