"""What a pipeline run or a rollback leaves in the metrics textfile, read back from ML Metadata.

`run` records itself when it ends (completed, stopped by the gate, or failed) and `watch` records each
child run it started (again, so a child that was killed still leaves its exit code); `rollback` records
the training-time score level of the version it puts to serving. runners/monitoring/textfile.py writes
the file; this module decides what goes in it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline import serving_dir as sd
from pipeline.config import PipelineConfig
from runners.monitoring import textfile
from runners.monitoring.scores import eval_mean_score
from runners.pipeline_args import policy_of
from runners.quiet import quiet_libraries
from runners.store import gates
from runners.store import lineage as ln
from runners.store import metadata as md

_log = logging.getLogger(__name__)

# `runs_before` of a run that repeats the last one (the fast path): its drift is the recorded one.
REPEATED = -1


def store_if_any(config: PipelineConfig) -> Any:
    """The home's ML Metadata, or None before its first run."""
    try:
        return md.connect(config.metadata_path)
    except FileNotFoundError:
        return None


def run_count(config: PipelineConfig) -> int:
    """How many runs the home's ML Metadata holds (0 without one): the `runs_before` of a run about to start.

    Never raises: a store that cannot be read is the run's own business to report.
    """
    try:
        store = store_if_any(config)
        return len(md.run_ids(store, config.pipeline_name)) if store is not None else 0
    except Exception:
        _log.exception("counting the runs in ML Metadata failed")
        return 0


def _drift(config: PipelineConfig, runs_before: int) -> int | None:
    """Features over their drift limit in the newest run's data gate, when that run is the one that just ended."""
    if runs_before == REPEATED:
        recorded = textfile.read_textfile(textfile.textfile_path(config.home)).get(
            "taxi_pipeline_drift_features_over_limit"
        )
        return int(recorded[0][1]) if recorded else None
    store = store_if_any(config)
    run_ids = md.run_ids(store, config.pipeline_name) if store is not None else []
    # A run that stopped before it started (preflight, unreadable files) registered no run of its own.
    if len(run_ids) <= runs_before:
        return None
    report = gates.read_gate_report(store, run_ids[-1], policy_of(config))
    return len(report.verdict.drift_over_limit) if report is not None else None


def serving_score_level(config: PipelineConfig) -> tuple[int | None, float | None]:
    """The version serving now (the highest folder) and its mean predicted score on its evaluation split.

    A rollback republishes an older model as a new version: its level is the level of the evaluation
    that model was blessed on (ML Metadata's push record of the version says which).
    """
    version = sd.serving_version(config.serving_dir)
    store = store_if_any(config) if version is not None else None
    if version is None or store is None:
        return version, None
    push = ln.push_of_version(ln.find_pushes(store, config.pipeline_name), version)
    if push is None or not push.evaluation_uri:
        return version, None
    with quiet_libraries():  # TensorFlow and TFMA log as they load
        return version, eval_mean_score(push.evaluation_uri)


def record_serving_score(config: PipelineConfig, only_if_changed: bool = False) -> tuple[int | None, float | None]:
    """Writes the serving version's training-time score level (taxi_pipeline_model_eval_mean_score).

    Never raises (a failure is logged): the caller's own work (a run, a rollback) is done already.

    Args:
        config: the home's configuration.
        only_if_changed: skip reading the evaluation when the file already holds this version's level.

    Returns:
        The version and the level written (a version without a recorded evaluation drops the gauge).
    """
    try:
        if only_if_changed:
            version = sd.serving_version(config.serving_dir)
            path = textfile.textfile_path(config.home)
            held = textfile.read_textfile(path).get("taxi_pipeline_model_eval_mean_score")
            if version is not None and held and dict(held[0][0]).get("version") == str(version):
                return version, held[0][1]
        version, level = serving_score_level(config)
        textfile.record_serving_score(config.home, version, level)
        return version, level
    except Exception:
        _log.exception("writing the serving version's score level to the metrics textfile failed")
        return None, None


def record_run_outcome(
    config: PipelineConfig, exit_code: int, summary: Mapping[str, Any] | None, runs_before: int
) -> tuple[Path, int | None]:
    """Records how a run ended in the textfile: outcome, drift over limit, decay, the serving score level.

    Never raises: what cannot be read from ML Metadata is left out (unknown), and the outcome itself is
    still written; a file that cannot be written is logged.

    Args:
        config: the run's configuration.
        exit_code: the run's exit code (runners.errors).
        summary: the run summary (`run --json`) when it completed.
        runs_before: run_count() before the run started, or REPEATED for the fast path's repeat.

    Returns:
        The textfile's path, and the drift count written (None: unknown).
    """
    drift: int | None = None
    try:
        drift = _drift(config, runs_before)
    except Exception:  # the run's own outcome is still recorded below
        _log.exception("reading the run's drift back from ML Metadata for the metrics textfile failed")
    # The fast path changed nothing that serves; a real run may have pushed.
    if runs_before != REPEATED:
        record_serving_score(config, only_if_changed=True)
    path = textfile.textfile_path(config.home)
    try:
        textfile.record_run(config.home, exit_code, summary, drift)
    except OSError:
        _log.exception("writing the metrics textfile %s failed", path)
    return path, drift
