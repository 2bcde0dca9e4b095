"""`taxi-pipeline compare [RUN_A] [RUN_B]`: two runs side by side (default: the last two training runs)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK, EXIT_USAGE, RunError
from runners.quiet import quiet_libraries
from runners.reports import compare
from runners.store import metadata as md


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the arguments of `compare`."""
    add_config_flags(parser)
    parser.add_argument(
        "run_a", nargs="?", metavar="RUN_A", help="the earlier run (default: the last training run but one)"
    )
    parser.add_argument("run_b", nargs="?", metavar="RUN_B", help="the later run (default: the last training run)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON on stdout")
    parser.add_argument("--html", metavar="FILE.html", help="also write the comparison as a self-contained HTML page")
    parser.set_defaults(handler=_cmd_compare)


def _cmd_compare(args: argparse.Namespace, config: PipelineConfig) -> int:
    store = md.open_store(config)
    run_a, run_b = compare.pick_runs(store, config.pipeline_name, args.run_a, args.run_b)
    print(f"comparing run {run_a} with run {run_b} ...", file=sys.stderr)
    with quiet_libraries():  # in case an evaluation is one only TFMA itself reads (TensorFlow's chatter)
        result = compare.compare(store, config, run_a, run_b)
    if args.html:
        try:
            written = compare.write_html(result, Path(args.html))
        except OSError as err:
            raise RunError(f"cannot write the comparison to {args.html}: {err.strerror or err}", EXIT_USAGE) from None
        print(f"comparison page: {written}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        sys.stdout.write(compare.format_text(result))
    return EXIT_OK
