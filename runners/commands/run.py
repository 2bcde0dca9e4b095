"""`taxi-pipeline run`: the local pipeline under the home's lock, with the fast path, logs, summary and report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from runners.errors import EXIT_CODES_HELP, EXIT_GATE, EXIT_INTERNAL, EXIT_OK, RunError
from runners.home import fastpath
from runners.home import lock as home_lock
from runners.home.progress import new_log_file, quiet_and_logged
from runners.monitoring import outcome

# The exit status runners.cli gives a run interrupted by Ctrl-C, as the textfile records it.
_INTERRUPTED = 130


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `run`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES_HELP
    add_config_flags(parser)
    parser.add_argument("--data-root", help="folder of span-<N>/ folders of CSV files (default: bundled data/taxi)")
    parser.add_argument("--span", type=int, help="span to ingest (default: the newest span folder)")
    parser.add_argument("--window-spans", type=int, help="how many recent spans to train on (default: 4)")
    parser.add_argument(
        "--train-steps",
        type=int,
        help="the most training steps (default: 300; training stops early when validation loss stops improving)",
    )
    parser.add_argument(
        "--min-accuracy",
        dest="min_binary_accuracy",
        type=float,
        help="eval binary accuracy a model needs to be blessed (default: 0.7)",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        default=None,
        help="search hyperparameters (models/tuning.py) before training; the best ones train the model",
    )
    parser.add_argument(
        "--no-cache",
        dest="enable_cache",
        action="store_false",
        default=None,
        help="re-execute every component instead of reusing cached results",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=None, help="show TensorFlow, Beam and TFX logs on the console"
    )
    parser.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace, config: PipelineConfig) -> int:
    out = sys.stderr if args.json else sys.stdout
    # Locked before TensorFlow is imported, so a second run on this home is refused in a second, and
    # before the log file is opened, so the refused run writes nothing into the home.
    with home_lock.hold(config.home):
        # Decided before TensorFlow and TFX are imported: that import alone costs more than a whole
        # unchanged run needs.
        inputs = fastpath.fingerprint(config)
        unchanged = fastpath.unchanged_since_last_run(config, inputs)
        if unchanged is not None:
            out.write(fastpath.describe(unchanged, config))
            outcome.record_run_outcome(config, EXIT_OK, unchanged.summary, outcome.REPEATED)
            if args.json:
                print(json.dumps(unchanged.summary, indent=2, default=str))
            return EXIT_OK
        # A run that stops must not leave the manifest of an earlier one claiming to be current.
        fastpath.forget(config)
        log_file = new_log_file(config, "run")
        # Quiet before TensorFlow and TFX are imported: they log on import.
        with quiet_and_logged(log_file, config.verbose, out) as console:
            from runners import local
            from runners.reports.console import format_summary

            runs_before = outcome.run_count(config)
            try:
                summary = local.run(config, out=console, log_file=log_file)
            except RunError as err:
                if err.exit_code == EXIT_GATE:  # the report shows what stopped the span
                    _write_run_report(config, None, console, log_file)
                outcome.record_run_outcome(config, err.exit_code, None, runs_before)
                raise
            except BaseException as err:  # a bug or Ctrl-C: the alerts still learn the run did not complete
                code = _INTERRUPTED if isinstance(err, KeyboardInterrupt) else EXIT_INTERNAL
                outcome.record_run_outcome(config, code, None, runs_before)
                raise
            text = format_summary(summary)
            console.write(text + "\n")
            summary.report = _write_run_report(config, summary.run_id, console, log_file)
            # Where `watch` writes it, so monitoring/alerts.yml works without `watch`.
            outcome.record_run_outcome(config, EXIT_OK, summary.to_dict(), runs_before)
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
        from runners.reports.run_report import write_report
        from runners.store import metadata as md

        store = md.connect(config.metadata_path)
        path = write_report(store, config, run_id or md.run_ids(store, config.pipeline_name)[-1])
    except Exception:
        logging.getLogger(__name__).exception("writing the report of run %s failed", run_id)
        console.write(f"taxi-pipeline: warning: the run report could not be written (the traceback is in {log_file})\n")
        return None
    console.write(f"Report: {path}\n")
    return str(path)
