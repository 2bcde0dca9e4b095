"""Cleans up after a run that died: executions it left RUNNING in ML Metadata, and their partial outputs.

A killed LocalDagRunner leaves its current execution RUNNING forever and its half-written output
folders on disk. TFX 1.16 neither reuses nor cleans them (the cache takes only COMPLETE or CACHED
executions, and each run has its own run context), so the next run, holding the home's lock, does.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
from pathlib import Path

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto.metadata_store_pb2 import Execution

from runners.home import lock as home_lock
from runners.store import metadata as md

# The code TFX would record for an execution stopped from outside (google.rpc.Code.ABORTED).
_ABORTED = 10
# TFX's node folder layout: <pipeline root>/<node id>/<output key>/<execution id> for outputs, and
# .system/executor_execution/<execution id> for the executor's scratch space and output record.
_SYSTEM_DIR = ".system"
_EXECUTOR_DIR = "executor_execution"


@dataclasses.dataclass(frozen=True)
class Interrupted:
    """An execution a dead run left unfinished, now marked failed."""

    execution_id: int
    node_id: str
    started: str
    removed: tuple[Path, ...]


def unfinished_executions(store: metadata_store.MetadataStore, pipeline_name: str) -> list[Execution]:
    """Returns the pipeline's executions still NEW or RUNNING, oldest first."""
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        return []
    active = (Execution.NEW, Execution.RUNNING)
    return sorted(
        (e for e in store.get_executions_by_context(context.id) if e.last_known_state in active), key=lambda e: e.id
    )


def recover_interrupted(
    store: metadata_store.MetadataStore, pipeline_name: str, pipeline_root: str | Path, home: str | Path
) -> list[Interrupted]:
    """Marks every unfinished execution of the pipeline FAILED and removes the outputs it did not record.

    Only safe while no run can own those executions: the caller must hold the home's lock, and its
    own LocalDagRunner must not be running.

    Args:
        store: the home's ML Metadata store.
        pipeline_name: the pipeline whose executions to check.
        pipeline_root: the pipeline root the executions wrote under.
        home: the home folder whose lock this process holds.

    Returns:
        What was recovered, oldest first; empty when the last run ended normally.

    Raises:
        RuntimeError: this process does not hold the home's lock (a bug in the caller).
    """
    if not home_lock.is_held_here(home):
        raise RuntimeError(f"recovering executions of {home} needs its lock, which this process does not hold")
    recovered = []
    for execution in unfinished_executions(store, pipeline_name):
        node_id = md.node_id_of(store, execution)
        # Space first: on a full disk the metadata write below needs room too.
        removed = remove_unrecorded_outputs(store, pipeline_root, node_id, execution.id) if node_id else []
        _mark_failed(execution)
        store.put_executions([execution])
        recovered.append(Interrupted(execution.id, node_id or "?", _started(execution), tuple(removed)))
    return recovered


def last_execution_id(store: metadata_store.MetadataStore) -> int:
    """Returns the highest execution id in the store (0 when empty), to tell a run's executions apart."""
    return max((e.id for e in store.get_executions()), default=0)


def remove_failed_outputs(
    store: metadata_store.MetadataStore, pipeline_name: str, pipeline_root: str | Path, after_id: int
) -> list[Path]:
    """Removes the unrecorded outputs of the pipeline's FAILED executions newer than after_id.

    Used when a run stops because the disk is full: what the failed step wrote is of no use and
    holds space the next run needs.

    Args:
        store: the home's ML Metadata store.
        pipeline_name: the pipeline.
        pipeline_root: the pipeline root.
        after_id: only executions with a larger id (those of the run that just stopped).

    Returns:
        The folders removed.
    """
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        return []
    removed: list[Path] = []
    for execution in store.get_executions_by_context(context.id):
        if execution.id > after_id and execution.last_known_state == Execution.FAILED:
            node_id = md.node_id_of(store, execution)
            if node_id:
                removed += remove_unrecorded_outputs(store, pipeline_root, node_id, execution.id)
    return removed


def remove_unrecorded_outputs(
    store: metadata_store.MetadataStore, pipeline_root: str | Path, node_id: str, execution_id: int
) -> list[Path]:
    """Removes an unsuccessful execution's output folders that ML Metadata does not record as artifacts.

    Args:
        store: the home's ML Metadata store.
        pipeline_root: the pipeline root.
        node_id: the execution's node.
        execution_id: the execution.

    Returns:
        The folders removed.
    """
    node_dir = Path(pipeline_root) / node_id
    if not node_dir.is_dir():
        return []
    candidates = [key_dir / str(execution_id) for key_dir in node_dir.iterdir() if not key_dir.name.startswith(".")]
    candidates.append(node_dir / _SYSTEM_DIR / _EXECUTOR_DIR / str(execution_id))
    removed = []
    for folder in candidates:
        # A folder some artifact points at is a result, whatever state its producer is in: keep it.
        if folder.is_dir() and not store.get_artifacts_by_uri(str(folder)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _mark_failed(execution: Execution) -> None:
    from tfx.orchestration.portable.mlmd import execution_lib
    from tfx.proto.orchestration import execution_result_pb2

    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    execution.last_known_state = Execution.FAILED
    execution_lib.set_execution_result(
        execution_result_pb2.ExecutionResult(
            code=_ABORTED,
            result_message=(
                "the run executing this stopped before it finished (killed, crashed or interrupted); marked "
                f"failed and its partial outputs removed at {now}"
            ),
        ),
        execution,
    )


def _started(execution: Execution) -> str:
    if not execution.create_time_since_epoch:
        return "?"
    started = datetime.datetime.fromtimestamp(execution.create_time_since_epoch / 1000).astimezone()
    return started.isoformat(timespec="seconds")


def describe(recovered: list[Interrupted]) -> str:
    """Returns one progress line per recovered execution, for the console."""
    lines = []
    for item in recovered:
        removed = f", removed {len(item.removed)} partial output folder(s)" if item.removed else ""
        lines.append(
            f"  recovered: {item.node_id} (execution {item.execution_id}, started {item.started}) was left "
            f"running; marked failed in ML Metadata{removed}\n"
        )
    return "".join(lines)
