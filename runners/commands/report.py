"""`taxi-pipeline report`: writes the HTML report of a run (default: the newest)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.home.storage import home_write_error
from runners.quiet import quiet_libraries
from runners.reports import run_data
from runners.reports.run_report import write_report
from runners.store import metadata as md


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `report`."""
    add_config_flags(parser)
    parser.add_argument("--run", dest="run_id", metavar="RUN_ID", help="the run (see `taxi-pipeline runs`)")
    parser.add_argument(
        "--output", metavar="FILE.html", help="where to write it (default: <home>/reports/run-<id>.html)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report's data as JSON on stdout instead of writing the HTML file (writes nothing)",
    )
    parser.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = md.open_store(config)
    runs = md.run_ids(store, config.pipeline_name)
    if not runs:
        raise RunError(f"ML Metadata at {config.metadata_path} records no run yet; run the pipeline first", EXIT_USAGE)
    run_id = args.run_id or runs[-1]
    if run_id not in runs:
        shown = ", ".join(runs[-5:])
        raise RunError(
            f"run {run_id!r} is not a run of pipeline '{config.pipeline_name}' in {config.metadata_path} "
            f"(newest runs: {shown}); `taxi-pipeline runs` lists them all",
            EXIT_USAGE,
        )
    # Usually a second; an evaluation the proto reader does not interpret is read by TFMA (TensorFlow, longer).
    print(
        f"taxi-pipeline: reading run {run_id} from ML Metadata and its TFMA evaluation...",
        file=sys.stderr,
        flush=True,
    )
    if args.json:
        with quiet_libraries():
            document = run_data.report_json(run_data.gather(store, config, run_id))
        print(json.dumps(document, indent=2, default=str))
        return EXIT_OK
    # TensorFlow's and TFMA's start-up chatter stays off the console while the report reads the evaluation.
    with quiet_libraries():
        try:
            path = write_report(store, config, run_id, args.output)
        except OSError as err:
            # Into the home, as every command that cannot write there; elsewhere (--output), the flag names it.
            failure = home_write_error(err, Path(config.home), "No report was written.")
            if failure is not None:
                raise failure from None
            target = args.output or config.reports_dir
            raise RunError(f"cannot write the report to {target}: {err.strerror or err}", EXIT_USAGE) from None
    print(path)
    return EXIT_OK
