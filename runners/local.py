"""Runs the pipeline on this machine with LocalDagRunner, Beam's DirectRunner and SQLite metadata.

A run ingests the chosen span (the newest by default), first ingesting and validating, one by
one, any older span of the training window that this home has not seen yet, then trains on the
window. Progress goes to the console, full logs to <home>/logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from pipeline import ids
from pipeline import pipeline as taxi_pipeline
from pipeline.components import DataGateError
from pipeline.config import ENV_PREFIX, PipelineConfig
from pipeline.validation import LABEL_RATE, load_schema
from runners import preflight
from runners.errors import EXIT_COMPONENT, EXIT_GATE, EXIT_INPUT, EXIT_STORAGE, EXIT_USAGE, RunError
from runners.files import write_atomically
from runners.home import fastpath, recovery, storage
from runners.home import lock as home_lock
from runners.home.progress import ProgressHandler
from runners.pipeline_args import common_arguments, policy_of
from runners.reports.console import format_gate_report
from runners.store import gates
from runners.store import metadata as md
from runners.store.gates import GateReport, read_gate_report
from runners.store.summary import RunSummary, summarize
from runners.text import format_duration

SPAN_DIR = re.compile(r"^span-(\d+)$")


@dataclasses.dataclass(frozen=True)
class SpanPlan:
    """Which spans a run touches."""

    target: int
    window: tuple[int, ...]
    backfill: tuple[int, ...]


def discover_spans(data_root: str | Path) -> dict[int, Path]:
    """Returns span number -> folder for every `span-<N>/` folder under data_root.

    Raises:
        RunError: the data root is missing or holds no span folders.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise RunError(f"data root {root} does not exist or is not a folder", EXIT_INPUT)
    spans = {}
    for child in root.iterdir():
        match = SPAN_DIR.match(child.name)
        if match and child.is_dir():
            spans[int(match.group(1))] = child
    if not spans:
        raise RunError(
            f"data root {root} has no span folders: expected folders named span-<N> (span-1, span-2, ...) "
            "holding CSV files",
            EXIT_INPUT,
        )
    return dict(sorted(spans.items()))


def plan_spans(available: list[int], ingested: set[int], requested: int | None, window_spans: int) -> SpanPlan:
    """Decides the span to ingest, the training window, and which window spans still need ingesting.

    Args:
        available: span numbers present under the data root.
        ingested: span numbers already ingested into this home's ML Metadata and accepted by the
            data gate; a span the gate stopped is ingested and validated again.
        requested: the span asked for, or None for the newest.
        window_spans: the window size.

    Raises:
        RunError: the requested span is not under the data root.
    """
    available = sorted(available)
    target = available[-1] if requested is None else requested
    if target not in available:
        raise RunError(
            f"span {target} is not in the data root (spans there: {', '.join(map(str, available))})", EXIT_USAGE
        )
    window = tuple(s for s in available if s <= target)[-window_spans:]
    backfill = tuple(s for s in window if s != target and s not in ingested)
    return SpanPlan(target=target, window=window, backfill=backfill)


# Input size from which Beam's DirectRunner runs in one worker process per core instead of in this
# process. Below it, starting workers and shipping every stage to them costs more than the work
# (see BENCHMARKS.md, "Data plane at scale").
MULTI_PROCESSING_BYTES = 64 * 1024 * 1024
_DIRECT_RUNNER_OPTIONS = ("--direct_running_mode", "--direct_num_workers", "--runner")


def beam_args_for(configured: tuple[str, ...], input_bytes: int, cpus: int | None) -> tuple[str, ...]:
    """The Beam options of a local run: the configured ones, plus a DirectRunner mode chosen by input size.

    Args:
        configured: the config's beam_args; naming a running mode, a worker count or a runner
            turns the automatic choice off.
        input_bytes: size of the CSV files the run reads (the spans it ingests and trains on).
        cpus: cores of this machine (os.cpu_count()); None counts as one.

    Returns:
        in_memory with one worker below MULTI_PROCESSING_BYTES, multi_processing with one worker
        per core from there on.
    """
    if any(arg.split("=", 1)[0] in _DIRECT_RUNNER_OPTIONS for arg in configured):
        return configured
    workers = max(1, cpus or 1)
    if input_bytes < MULTI_PROCESSING_BYTES or workers == 1:
        chosen = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    else:
        chosen = ("--direct_running_mode=multi_processing", f"--direct_num_workers={workers}")
    return (*chosen, *configured)


# Names Beam resolves to its local DirectRunner (case and a "Runner" suffix aside).
_LOCAL_RUNNERS = frozenset({"direct", "switchingdirect", "bundlebaseddirect"})


def runs_beam_locally(beam_args: tuple[str, ...] | list[str]) -> bool:
    """True when the Beam components run on this machine: no runner named, or a DirectRunner.

    The options are read by Beam's own parser, so `--runner=X` and `--runner X` (as a space-separated
    TAXI_PIPELINE_BEAM_ARGS gives it) count alike, the last one winning.
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(list(beam_args)).view_as(StandardOptions).runner
    return runner is None or str(runner).lower().removesuffix("runner") in _LOCAL_RUNNERS


@contextlib.contextmanager
def no_tfx_package_staging() -> Iterator[None]:
    """Stops TFX from building a source package of itself for every Beam component of this process.

    TFX's Beam executors run `setup.py sdist` on the installed tfx (about 2 s each: ExampleGen,
    StatisticsGen, Transform, Evaluator) so that remote workers can install it. Beam's DirectRunner
    runs in this environment, in-process or in local worker processes, and never installs it. Only
    for runs whose Beam options name no remote runner (see runs_beam_locally).
    """
    from tfx.utils import dependency_utils

    original = dependency_utils.make_beam_dependency_flags

    def unchanged(beam_pipeline_args: list[str]) -> list[str]:
        return beam_pipeline_args

    dependency_utils.make_beam_dependency_flags = unchanged
    try:
        yield
    finally:
        dependency_utils.make_beam_dependency_flags = original


def span_bytes(folders: list[Path]) -> int:
    """Total size of the files in the given span folders."""
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


def snapshot_schema(schema_path: str, home: Path) -> str:
    """Copies the curated schema to a content-addressed file under home.

    ImportSchemaGen caches on the file path, not its content; a path that changes with the content
    makes an edited schema take effect on the next run.
    """
    source = Path(schema_path)
    if not source.is_file():
        raise RunError(f"schema file {source} does not exist", EXIT_USAGE)
    content = source.read_bytes()
    target = home / "schemas" / f"schema-{hashlib.sha256(content).hexdigest()[:12]}" / "schema.pbtxt"
    if not target.exists():
        write_atomically(target, content)
    return str(target)


def build(
    config: PipelineConfig,
    span: int,
    window: tuple[int, ...],
    schema_path: str,
    ingest_only: bool,
    fingerprint: str,
    beam_args: tuple[str, ...] | None = None,
) -> Any:
    """Builds the pipeline object for one LocalDagRunner invocation (beam_args default: the config's)."""
    from tfx.orchestration.metadata import sqlite_metadata_connection_config

    return taxi_pipeline.create_pipeline(
        **common_arguments(config, fingerprint),
        pipeline_root=str(Path(config.pipeline_root).resolve()),
        data_root=str(Path(config.data_root).resolve()),
        schema_path=schema_path,
        serving_dir=str(Path(config.serving_dir).resolve()),
        span=span,
        window_spans=len(window),
        ingest_only=ingest_only,
        metadata_connection_config=sqlite_metadata_connection_config(str(Path(config.metadata_path).resolve())),
        beam_pipeline_args=config.beam_args if beam_args is None else beam_args,
    )


def _state_reader(config: PipelineConfig) -> Callable[[str], str]:
    def state_of(node_id: str) -> str:
        if node_id in ids.RESOLVERS:
            return "resolved"
        store = md.connect(config.metadata_path)
        executions = md.node_executions(store, config.pipeline_name, node_id)
        return md.state_name(executions[-1]) if executions else "finished"

    return state_of


def _previous_seconds(config: PipelineConfig) -> Callable[[str], float | None]:
    """How long a node's last completed execution took, for the progress heartbeat (None if it never ran)."""

    def previous(node_id: str) -> float | None:
        if node_id in ids.RESOLVERS:
            return None
        store = md.connect(config.metadata_path)
        done = [
            e
            for e in md.node_executions(store, config.pipeline_name, node_id)
            if e.last_known_state == md.Execution.COMPLETE
        ]
        if not done:
            return None
        return (done[-1].last_update_time_since_epoch - done[-1].create_time_since_epoch) / 1000.0

    return previous


def _run_one(pipeline_obj: Any, config: PipelineConfig, out: TextIO) -> tuple[str, ProgressHandler]:
    """Runs one LocalDagRunner invocation and returns (its run id, the progress record)."""
    import logging

    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    store = md.connect(config.metadata_path, create=True)
    before = set(md.run_ids(store, config.pipeline_name))
    handler = ProgressHandler(out, _state_reader(config), _previous_seconds(config))
    # LocalDagRunner's start/finish records come through absl's logger.
    logging.getLogger("absl").addHandler(handler)
    handler.start_heartbeat()
    try:
        local_beam = runs_beam_locally(pipeline_obj.beam_pipeline_args)
        with no_tfx_package_staging() if local_beam else contextlib.nullcontext():
            LocalDagRunner().run(pipeline_obj)
    except Exception as err:
        failed = handler.current or "the pipeline"
        if failed == ids.DATA_GATE or isinstance(err, DataGateError):
            # A stop, not a crash: print the gate's findings from ML Metadata instead of a traceback.
            stopped = [r for r in md.run_ids(md.connect(config.metadata_path), config.pipeline_name) if r not in before]
            raise gate_stop(config, stopped[-1] if stopped else "", out, str(err)) from err
        no_space = storage.storage_failure(err, failed, Path(config.home).resolve())
        if no_space is not None:
            raise no_space from err
        raise RunError(f"{failed} failed: {type(err).__name__}: {err}", EXIT_COMPONENT) from err
    finally:
        handler.stop_heartbeat()
        logging.getLogger("absl").removeHandler(handler)
    new_runs = [r for r in md.run_ids(md.connect(config.metadata_path), config.pipeline_name) if r not in before]
    return (new_runs[-1] if new_runs else ""), handler


def run(config: PipelineConfig, out: TextIO = sys.stdout, log_file: Path | None = None) -> RunSummary:
    """Runs the pipeline locally, one run at a time per home folder, and returns the run's summary.

    Holds the home's lock for the whole run. Executions that a dead run (killed, crashed) left
    RUNNING in ML Metadata are marked failed and their partial outputs removed first, and the
    console says so; a run that stops does the same for itself.

    Args:
        config: the run's configuration.
        out: where progress lines go.
        log_file: the log file the caller set up (see runners.home.progress.quiet_and_logged); named
            in the progress header only.

    Raises:
        RunError: another run holds the home (EXIT_LOCKED), the home cannot be written or its disk
            is full (EXIT_STORAGE), or the run could not start or stopped; the message says why.
    """
    with home_lock.hold(config.home) as home:
        try:
            store = md.connect(config.metadata_path, create=True)
            recovered = recovery.recover_interrupted(store, config.pipeline_name, config.pipeline_root, home)
            first_execution = recovery.last_execution_id(store)
        except Exception as err:
            no_space = storage.storage_failure(err, "opening ML Metadata", home)
            if no_space is not None:
                raise no_space from err
            raise
        if recovered:
            out.write(f"taxi-pipeline: an earlier run on {home} stopped without finishing:\n")
            out.write(recovery.describe(recovered))
        try:
            return _run_holding_lock(config, out, log_file)
        except BaseException as err:
            no_space = None if isinstance(err, RunError) else storage.storage_failure(err, "the runner", home)
            out_of_space = no_space is not None or (isinstance(err, RunError) and err.exit_code == EXIT_STORAGE)
            _clean_up_after_stop(config, home, first_execution, out_of_space, out)
            if no_space is not None:
                raise no_space from err
            raise


def _clean_up_after_stop(
    config: PipelineConfig, home: Path, first_execution: int, out_of_space: bool, out: TextIO
) -> None:
    """Marks what this stopped run left unfinished as failed; on a full disk, frees what its failed step wrote."""
    import logging

    # This process's LocalDagRunner has returned, so nothing can still own a RUNNING execution.
    try:
        store = md.connect(config.metadata_path, writable=True)
        removed = [
            p
            for r in recovery.recover_interrupted(store, config.pipeline_name, config.pipeline_root, home)
            for p in r.removed
        ]
        if out_of_space:
            removed += recovery.remove_failed_outputs(
                store, config.pipeline_name, config.pipeline_root, first_execution
            )
        if removed:
            out.write(f"  removed {len(removed)} unrecorded, partial output folder(s) of the stopped step\n")
    except Exception:  # the cleanup must never hide why the run stopped; the next run retries it
        logging.getLogger(__name__).exception("cleaning up after the stopped run failed")


def _run_holding_lock(config: PipelineConfig, out: TextIO, log_file: Path | None) -> RunSummary:
    """Runs the pipeline locally and returns the run's summary; the caller holds the home's lock.

    Args:
        config: the run's configuration.
        out: where progress lines go.
        log_file: the log file the caller set up (see runners.home.progress.quiet_and_logged); named
            in the progress header only.

    Raises:
        RunError: the run could not start or stopped; the message says why.
    """
    home = Path(config.home).resolve()  # created, and checked writable, by taking its lock
    spans = discover_spans(config.data_root)
    store = md.connect(config.metadata_path, create=True)
    accepted = gates.accepted_spans(store, config.pipeline_name)
    plan = plan_spans(list(spans), accepted, config.span, config.window_spans)
    schema_path = snapshot_schema(config.schema_path, home)
    try:
        schema = load_schema(schema_path)
    except ValueError as err:
        raise RunError(f"{err} (copied from {config.schema_path})", EXIT_USAGE) from None
    # Unreadable files fail here in a second, with the file and line, rather than deep inside Beam.
    preflight.require_readable([(s, spans[s]) for s in (*plan.backfill, plan.target)], schema, config.schema_path)
    fingerprint = fastpath.code_fingerprint()
    input_bytes = span_bytes([spans[s] for s in plan.window])
    beam_args = beam_args_for(config.beam_args, input_bytes, os.cpu_count())
    out.write(
        f"taxi-pipeline: home {home}\n"
        f"  data root {Path(config.data_root).resolve()} (spans {', '.join(map(str, spans))}); "
        f"ingesting span {plan.target}, training window {', '.join(map(str, plan.window))}\n"
        f"  Beam: {' '.join(beam_args) or 'defaults'} ({input_bytes / 1e6:.1f} MB of input)\n"
        + (f"  full log: {log_file}\n" if log_file else "")
    )
    started = time.monotonic()
    for span in plan.backfill:
        out.write(f"Ingesting and validating earlier span {span} (not yet accepted by this home)\n")
        backfill = build(config, span, (span,), schema_path, True, fingerprint, beam_args)
        backfill_run, _ = _run_one(backfill, config, out)
        print_gate_report(config, backfill_run, out)
    out.write(f"Running the pipeline on span {plan.target}\n")
    main_run = build(config, plan.target, plan.window, schema_path, False, fingerprint, beam_args)
    run_id, _ = _run_one(main_run, config, out)
    print_gate_report(config, run_id, out)
    summary = summarize(md.connect(config.metadata_path), run_id)
    if summary.pushed and summary.pushed_version is not None:
        summary.model_card_path = _write_model_card(config, int(summary.pushed_version), out)
    out.write(f"Finished in {format_duration(time.monotonic() - started)}\n")
    return summary


def _write_model_card(config: PipelineConfig, version: int, out: TextIO) -> str | None:
    """Writes the pushed version's model card; a failure is reported, never fails the finished run."""
    import logging

    from runners.reports import model_card

    try:
        path, _ = model_card.generate(config, version)
    except Exception as err:  # the model is pushed either way; `taxi-pipeline model-card` can retry
        logging.getLogger(__name__).exception("writing the model card failed")
        out.write(f"  model card not written ({type(err).__name__}: {err}); retry: taxi-pipeline model-card\n")
        return None
    return str(path)


def clear_home(home: str | Path) -> None:
    """Deletes a home folder: pipeline root, metadata, serving dir, logs and reports."""
    shutil.rmtree(home, ignore_errors=True)


def print_gate_report(config: PipelineConfig, run_id: str, out: TextIO) -> GateReport | None:
    """Prints the data gate's findings of a run that passed it; returns them."""
    report = read_gate_report(md.connect(config.metadata_path), run_id, policy_of(config))
    if report is not None:
        out.write(format_gate_report(report) + "\n")
    return report


def gate_stop(config: PipelineConfig, run_id: str, out: TextIO, fallback: str) -> RunError:
    """Prints what stopped a run at the data gate and returns the error to raise.

    Args:
        config: the run's configuration.
        run_id: the stopped run.
        out: the console.
        fallback: the gate's own message, used when ML Metadata has no report.

    Returns:
        A RunError with EXIT_GATE naming every feature that stopped the run.
    """
    report = read_gate_report(md.connect(config.metadata_path), run_id, policy_of(config)) if run_id else None
    if report is not None:
        out.write(format_gate_report(report) + "\n")
    # Without a report, the gate's own message already says "span N did not pass the data gate: ...".
    headline = fallback
    if report is not None and report.verdict.reasons():
        headline = f"span {report.span} did not pass the data gate:\n  " + "\n  ".join(report.verdict.reasons())
    span_flag = f" --span {report.span}" if report is not None and report.span is not None else ""
    label_rows = [] if report is None else [r for r in report.verdict.drift_over_limit if r.measure == LABEL_RATE]
    label_hint = (
        "If the labels are right (the relationship really changed), raise label_shift_limit "
        f"({ENV_PREFIX}LABEL_SHIFT_LIMIT) above {max(r.value or 0.0 for r in label_rows):.3f} or drop the feature "
        "from label_shift_features; "
        if label_rows
        else ""
    )
    return RunError(
        f"{headline}\n"
        "Nothing was transformed, trained or pushed; the anomalies and drift values are recorded in ML Metadata"
        f"{f' (run {run_id})' if run_id else ''}.\n"
        f"{label_hint}If the data is right, see how the schema would change with `taxi-pipeline schema diff{span_flag} "
        f"--data-root {config.data_root}` and edit {config.schema_path}; to let such findings only warn, set "
        "warning_anomalies or drift_action in the profile.",
        EXIT_GATE,
    )
