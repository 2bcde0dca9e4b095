"""`taxi-pipeline watch`: retrain when a complete new span arrives, check skew at an interval, export what happened."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.home.progress import new_log_file
from runners.monitoring import outcome, textfile
from runners.monitoring.watch import Watcher, WatchOptions, span_folders
from runners.quiet import quiet_libraries
from runners.store import gates

_DESCRIPTION = """\
Polls the data root and runs the pipeline (`taxi-pipeline run --span N`, as a child process) when a
complete span folder newer than every span this home accepted appears. Complete: the folder holds the
marker file (--marker, default _SUCCESS), or its files stayed unchanged for --settle-seconds. A run
that fails does not stop the watcher: a crash or failed component is retried after a backoff that
doubles up to --backoff-max-seconds; a span stopped by the data gate or unreadable is retried when its
files change. Every --skew-seconds it runs `taxi-pipeline skew` on the request log. Each step's outcome
goes to <home>/logs/watch-*.log and to the metrics textfile <home>/metrics/pipeline.prom that
monitoring/alerts.yml reads. SIGTERM or Ctrl-C stops it after the current step (a second one ends
that step too)."""


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `watch`."""
    parser.description = _DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_config_flags(parser)
    parser.add_argument("--data-root", help="folder of span-<N>/ folders to watch (default: the config's data_root)")
    parser.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between looks (default: 30)")
    parser.add_argument(
        "--marker", default="_SUCCESS", help="file that marks a span folder complete (default: _SUCCESS)"
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=120.0,
        help="a folder without the marker is complete once its files are unchanged this long (default: 120)",
    )
    parser.add_argument(
        "--skew-seconds",
        type=float,
        default=3600.0,
        help="seconds between skew checks of the request log; 0 turns them off (default: 3600)",
    )
    parser.add_argument(
        "--backoff-seconds", type=float, default=60.0, help="first wait after a failed run (default: 60)"
    )
    parser.add_argument(
        "--backoff-max-seconds", type=float, default=3600.0, help="longest wait after failed runs (default: 3600)"
    )
    parser.add_argument("--once", action="store_true", help="look once, run what is ready (one run at most), and exit")
    parser.add_argument("--max-runs", type=int, metavar="N", help="exit after N pipeline runs, failed ones included")
    # Passed on to each run, as `run` takes them.
    parser.add_argument("--window-spans", type=int, help="how many recent spans each run trains on")
    parser.add_argument("--train-steps", type=int, help="the most training steps of each run")
    parser.add_argument("--min-accuracy", dest="min_binary_accuracy", type=float, help="blessing threshold of each run")
    parser.set_defaults(handler=_cmd_watch)


def _child(args: argparse.Namespace, config: PipelineConfig, command: str, *extra: str) -> list[str]:
    """`python -m runners COMMAND` with the flags that make the child see this invocation's config."""
    argv = [sys.executable, "-m", "runners", command, "--home", str(Path(config.home).resolve())]
    if args.profile:
        argv += ["--profile", args.profile]
    if args.profiles_file:
        argv += ["--config", args.profiles_file]
    return argv + list(extra)


class _Recorder:
    """Turns each step's outcome into the metrics textfile's gauges."""

    def __init__(self, config: PipelineConfig, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.known_runs = outcome.run_count(config)

    def accepted_spans(self) -> set[int]:
        store = outcome.store_if_any(self.config)
        return gates.accepted_spans(store, self.config.pipeline_name) if store is not None else set()

    def after_run(self, span: int, exit_code: int, summary: dict[str, Any] | None) -> None:
        # The child `run` recorded itself already; recorded again here so a child that was killed
        # (or crashed before it could) still leaves its exit code.
        with quiet_libraries():  # TFDV and TFMA log as they load
            path, drift = outcome.record_run_outcome(self.config, exit_code, summary, self.known_runs)
            self.known_runs = outcome.run_count(self.config)
        self.say(
            f"metrics written to {path}: exit code {exit_code}"
            + (f", {drift} feature(s) over their drift limit" if drift is not None else "")
        )

    def after_skew(self, skewed: int | None) -> None:
        textfile.record_skew(self.config.home, skewed)


def _cmd_watch(args: argparse.Namespace, config: PipelineConfig) -> int:
    if "://" in config.home or "://" in config.data_root:
        raise RunError(
            f"watch runs the local pipeline: home {config.home} and data root {config.data_root} must be local "
            "folders (on Vertex a schedule does this job: README, 'Monitoring and alerts')",
            EXIT_USAGE,
        )
    for flag, value in (("--poll-seconds", args.poll_seconds), ("--settle-seconds", args.settle_seconds)):
        if value < 0:
            raise RunError(f"{flag} {value:g}: expected 0 or more seconds", EXIT_USAGE)
    if args.max_runs is not None and args.max_runs < 1:
        raise RunError(f"--max-runs {args.max_runs}: expected 1 or more", EXIT_USAGE)
    data_root = str(Path(config.data_root).resolve())
    run_flags = ["--data-root", data_root, "--json", "--train-steps", str(config.train_steps)]
    run_flags += ["--min-accuracy", str(config.min_binary_accuracy), "--window-spans", str(config.window_spans)]

    def run_command(span: int) -> list[str]:
        return _child(args, config, "run", *run_flags, "--span", str(span))

    skew_command = _child(args, config, "skew", "--json") if args.skew_seconds > 0 else None
    log_file = new_log_file(config, "watch")
    print(f"taxi-pipeline watch: data root {data_root}; log {log_file}; metrics {textfile.textfile_path(config.home)}")
    sys.stdout.flush()
    with log_file.open("a", buffering=1) as log:
        watcher: Watcher | None = None

        def say(line: str) -> None:
            if watcher is not None:
                watcher.say(line)

        recorder = _Recorder(config, say)
        watcher = Watcher(
            WatchOptions(
                run_command=run_command,
                skew_command=skew_command,
                poll_seconds=args.poll_seconds,
                skew_seconds=args.skew_seconds,
                marker=args.marker,
                settle_seconds=args.settle_seconds,
                backoff_base_seconds=args.backoff_seconds,
                backoff_max_seconds=args.backoff_max_seconds,
                max_runs=args.max_runs,
                once=args.once,
            ),
            list_spans=lambda: span_folders(data_root),
            accepted_spans=recorder.accepted_spans,
            after_run=recorder.after_run,
            after_skew=recorder.after_skew,
            log=log,
            echo=sys.stdout,
        )
        watcher.handle_signals()
        return watcher.run_forever()
