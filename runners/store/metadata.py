"""Read-only questions to ML Metadata: which run, which executions, which artifacts, which spans.

Every command that reports on runs answers from here, so the answers come from ML Metadata itself
rather than from guessed paths.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from ml_metadata.proto.metadata_store_pb2 import Artifact, Context, Event, Execution

from pipeline.config import PipelineConfig
from runners.errors import EXIT_USAGE, RunError
from runners.store import metadata_db

__all__ = ["Artifact", "Event", "Execution"]

STATE_NAMES = {
    Execution.NEW: "new",
    Execution.RUNNING: "running",
    Execution.COMPLETE: "executed",
    Execution.FAILED: "failed",
    Execution.CACHED: "cached",
    Execution.CANCELED: "canceled",
}


def connect(metadata_path: str | Path, create: bool = False, writable: bool = False) -> metadata_store.MetadataStore:
    """Opens the SQLite ML Metadata store of a home folder, read-only unless asked otherwise.

    Readers get a read-only connection, so a question about runs can never change the record of them.

    Args:
        metadata_path: the home's metadata.db.
        create: create the store if it does not exist, and open it for writing (the run itself).
        writable: open an existing store for writing (recovery after a crash, a rollback).

    Raises:
        FileNotFoundError: the store does not exist and create is False.
        metadata_db.MetadataDbError: the file is damaged, locked or from a newer ML Metadata (a RunError).
    """
    path = Path(metadata_path)
    if not create and not path.exists():
        raise FileNotFoundError(f"no ML Metadata store at {path}: run `taxi-pipeline run` first")
    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    if create:
        config.sqlite.connection_mode = modes.READWRITE_OPENCREATE
    elif writable:
        config.sqlite.connection_mode = modes.READWRITE
    else:
        config.sqlite.connection_mode = modes.READONLY
    try:
        return _Store(config, path)
    except Exception as err:  # ML Metadata's RuntimeError quoting its SQL: name the file if it is the cause
        found = metadata_db.diagnose(path, err) if path.is_file() else None
        if found is None:
            raise
        raise found from None


def _not_mlmd_internal_error(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("mlmd client ")


class _Store(metadata_store.MetadataStore):
    """ML Metadata over a home's metadata.db; a query that fails on a damaged or locked file names it.

    ML Metadata finds a damaged page only when a query reads it, and says so as an InternalError quoting
    the SQL; metadata_db.diagnose turns that into a MetadataDbError. Other errors (NotFoundError for
    an unknown type, ...) pass through as they are.
    """

    def __init__(self, config: metadata_store_pb2.ConnectionConfig, path: Path) -> None:
        super().__init__(config)
        self.path = path
        # ML Metadata logs each InternalError as a warning before raising it: on a damaged file that
        # is the SQL it ran, printed above the one line this store raises instead.
        absl_logger = logging.getLogger("absl")
        if _not_mlmd_internal_error not in absl_logger.filters:
            absl_logger.addFilter(_not_mlmd_internal_error)

    # Every query of ml-metadata 1.16's MetadataStore goes through _call (after its retries).
    def _call(self, method_name: Any, request: Any, response: Any, extra_options: Any = None) -> Any:
        from ml_metadata import errors

        try:
            return super()._call(method_name, request, response, extra_options)
        except errors.StatusError as err:
            found = metadata_db.diagnose(self.path, err, opening=False)
            if found is None:
                raise
            raise found from None


def node_context_name(pipeline_name: str, node_id: str) -> str:
    """TFX names a node's context `<pipeline>.<node id>`."""
    return f"{pipeline_name}.{node_id}"


def node_executions(store: metadata_store.MetadataStore, pipeline_name: str, node_id: str) -> list[Execution]:
    """Returns every execution of one node, oldest first."""
    context = store.get_context_by_type_and_name("node", node_context_name(pipeline_name, node_id))
    if context is None:
        return []
    return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def run_ids(store: metadata_store.MetadataStore, pipeline_name: str) -> list[str]:
    """Returns the pipeline's run ids, oldest first."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if _type_name(store, c) == "pipeline_run"]
    if not runs:
        runs = list(store.get_contexts_by_type("pipeline_run"))
    return [c.name for c in sorted(runs, key=lambda c: c.id)]


# Context type id -> name, per store: ids are only unique within one database, and a process may open
# several (tests, a run and the home it reads). Weak keys let a closed store's entry go with it.
_TYPE_NAMES: weakref.WeakKeyDictionary[metadata_store.MetadataStore, dict[int, str]] = weakref.WeakKeyDictionary()


def _type_name(store: metadata_store.MetadataStore, context: Context) -> str:
    names = _TYPE_NAMES.setdefault(store, {})
    if context.type_id not in names:  # a type registered since the last look, e.g. by a run in progress
        names.update((t.id, t.name) for t in store.get_context_types())
    return names.get(context.type_id, "")


def run_executions(store: metadata_store.MetadataStore, run_id: str) -> dict[str, Execution]:
    """Returns node id -> the execution of that node in one pipeline run."""
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return {}
    result: dict[str, Execution] = {}
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        node_id = node_id_of(store, execution)
        if node_id:
            result[node_id] = execution
    return result


def node_id_of(store: metadata_store.MetadataStore, execution: Execution) -> str:
    """Returns the id of the pipeline node an execution belongs to."""
    for context in store.get_contexts_by_execution(execution.id):
        if _type_name(store, context) == "node":
            return context.name.split(".", 1)[-1]
    return ""


def state_name(execution: Execution) -> str:
    """Returns "executed", "cached", "failed", ... for an execution."""
    return STATE_NAMES.get(execution.last_known_state, "unknown")


def _artifacts(
    store: metadata_store.MetadataStore, execution_id: int, kinds: Iterable[int], key: str | None
) -> list[Artifact]:
    wanted = set(kinds)
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution_id])
        if e.type in wanted and (key is None or (e.path.steps and e.path.steps[0].key == key))
    ]
    return sorted(store.get_artifacts_by_id(ids), key=lambda a: a.id) if ids else []


def outputs(store: metadata_store.MetadataStore, execution: Execution, key: str | None = None) -> list[Artifact]:
    """Returns the artifacts an execution produced (or reused from the cache), optionally one output key."""
    return _artifacts(store, execution.id, (Event.OUTPUT, Event.DECLARED_OUTPUT, Event.INTERNAL_OUTPUT), key)


def inputs(store: metadata_store.MetadataStore, execution: Execution, key: str | None = None) -> list[Artifact]:
    """Returns the artifacts an execution consumed, optionally one input key."""
    return _artifacts(store, execution.id, (Event.INPUT, Event.DECLARED_INPUT, Event.INTERNAL_INPUT), key)


def producer(store: metadata_store.MetadataStore, artifact: Artifact) -> Execution | None:
    """Returns the execution that first produced an artifact."""
    output_kinds = {Event.OUTPUT, Event.DECLARED_OUTPUT}
    ids = sorted(e.execution_id for e in store.get_events_by_artifact_ids([artifact.id]) if e.type in output_kinds)
    return store.get_executions_by_id(ids[:1])[0] if ids else None


def prop(artifact_or_execution: Artifact | Execution, name: str) -> Any:
    """Returns a property or custom property value, or None."""
    for properties in (artifact_or_execution.properties, artifact_or_execution.custom_properties):
        if name in properties:
            value = properties[name]
            kind = value.WhichOneof("value")
            if kind == "proto_value":
                return None
            return getattr(value, kind) if kind else None
    return None


# Questions the operations commands (runs, lineage, models, rollback, kpis) ask; see runners/commands/ops.py.


def pipeline_context(store: metadata_store.MetadataStore, pipeline_name: str) -> Context | None:
    """Returns the context TFX groups every execution of a pipeline under, or None before its first run."""
    return store.get_context_by_type_and_name("pipeline", pipeline_name)


def run_context(store: metadata_store.MetadataStore, run_id: str) -> Context | None:
    """Returns the context of one pipeline run, or None."""
    return store.get_context_by_type_and_name("pipeline_run", run_id)


def run_id_of(store: metadata_store.MetadataStore, execution: Execution) -> str:
    """Returns the id of the pipeline run an execution belongs to ("" for one outside any run)."""
    for context in store.get_contexts_by_execution(execution.id):
        if _type_name(store, context) == "pipeline_run":
            return context.name
    return ""


def execution_type_name(store: metadata_store.MetadataStore, execution: Execution) -> str:
    """Returns an execution's type name, e.g. "tfx.components.pusher.component.Pusher"."""
    found = store.get_execution_types_by_id([execution.type_id])
    return found[0].name if found else ""


def executions_of_type(store: metadata_store.MetadataStore, type_name: str, pipeline_name: str) -> list[Execution]:
    """Returns a pipeline's executions of one type, oldest first (none if the type was never registered)."""
    context = pipeline_context(store, pipeline_name)
    if context is None:
        return []
    from ml_metadata import errors

    try:
        wanted = store.get_execution_type(type_name).id
    except errors.NotFoundError:  # nothing of this type was ever recorded
        return []
    return sorted((e for e in store.get_executions_by_context(context.id) if e.type_id == wanted), key=lambda e: e.id)


def consumers(store: metadata_store.MetadataStore, artifact: Artifact) -> list[Execution]:
    """Returns the executions that took an artifact as an input, oldest first."""
    input_kinds = {Event.INPUT, Event.DECLARED_INPUT}
    ids = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact.id]) if e.type in input_kinds})
    return list(store.get_executions_by_id(ids)) if ids else []


def statistics_of(store: metadata_store.MetadataStore, examples: Artifact, statistics_gen_id: str) -> Artifact | None:
    """Returns the statistics that the node `statistics_gen_id` computed from an Examples artifact, if any."""
    for execution in consumers(store, examples):
        if node_id_of(store, execution) == statistics_gen_id:
            found = outputs(store, execution, "statistics")
            if found:
                return found[0]
    return None


def json_prop(artifact_or_execution: Artifact | Execution, name: str) -> Any:
    """Returns a property holding JSON text (how TFX stores exec properties such as custom_config), parsed."""
    import json

    text = prop(artifact_or_execution, name)
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def open_store(config: PipelineConfig, writable: bool = False) -> metadata_store.MetadataStore:
    """Opens the home's ML Metadata for the operations commands, read-only unless `writable` (a rollback).

    Raises:
        RunError (exit 2): the home is remote, has no metadata.db, or records no run of this pipeline.
    """
    if "://" in config.home:
        raise RunError(
            f"home {config.home} is a cloud folder: these commands read the SQLite ML Metadata of a local home; "
            "runs on Vertex AI are recorded in Vertex ML Metadata (see the Vertex AI console)",
            EXIT_USAGE,
        )
    path = Path(config.metadata_path)
    if not path.is_file():
        raise RunError(
            f"no ML Metadata at {path}: expected the metadata.db of a home where `taxi-pipeline run` has run; "
            "pass --home (or set TAXI_PIPELINE_HOME) to that folder, or run the pipeline first",
            EXIT_USAGE,
        )
    damaged = metadata_db.unreadable_values(path)
    if damaged is not None:
        raise damaged
    try:
        store = connect(path, writable=writable)
    except RunError:
        raise
    except Exception as err:  # a file that is not an ML Metadata database, or a newer schema
        found = metadata_db.diagnose(path, err)
        raise found or RunError(f"cannot open ML Metadata at {path}: {str(err).splitlines()[0]}", EXIT_USAGE) from None
    if pipeline_context(store, config.pipeline_name) is None:
        raise RunError(
            f"ML Metadata at {path} records no run of pipeline '{config.pipeline_name}' (pipeline_name in the "
            "profile); check --home and --profile, or run the pipeline first",
            EXIT_USAGE,
        )
    return store
