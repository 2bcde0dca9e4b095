"""Rollback: serve an earlier blessed model again by republishing it as a new, higher version.

TF Serving's default version policy, and any server that loads the highest integer folder, then
serves it with no configuration change. The serving dir's rollbacks.jsonl and a "Rollback" execution
in ML Metadata record what was done, so `models` and `lineage` follow it back to the original push.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import serving_dir as sd
from runners.store import metadata as md
from runners.store.lineage import (
    PUSHED_MODEL_TYPE,
    ROLLBACK_MODEL_KEY,
    ROLLBACK_OUTPUT_KEY,
    ROLLBACK_SOURCE_KEY,
    ROLLBACK_TYPE,
    Push,
    find_pushes,
    original,
)


class RollbackError(Exception):
    """A rollback cannot be done as asked; the message says why and what to do instead."""


@dataclasses.dataclass
class RollbackResult:
    """What a rollback did."""

    changed: bool
    target_version: int  # the original push whose model serves now
    model_id: int
    serving_before: int | None
    serving_now: int
    published_version: int | None  # the new version folder; None when nothing had to change
    execution_id: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Returns the result as plain JSON-able values."""
        return dataclasses.asdict(self)


def choose_target(pushes: list[Push], to: int | None) -> Push:
    """Picks the push whose model should serve.

    Without `to`, the target is the newest push of a different model than the newest push: a
    rollback undoes the latest push, so running it again picks the same target (and does nothing).

    Args:
        pushes: every published version (from lineage.find_pushes).
        to: a version to restore; a rollback version stands for the push it republished.

    Returns:
        The original push (never a rollback) to serve.

    Raises:
        RollbackError: nothing was pushed, `to` is unknown, or there is no earlier model.
    """
    originals = [p for p in pushes if p.kind == "push"]
    if not originals:
        raise RollbackError(
            "nothing to roll back to: ML Metadata records no blessed, pushed model in this home; "
            "run `taxi-pipeline run` until a model is blessed and pushed"
        )
    if to is not None:
        by_version = {p.version: p for p in pushes}
        if to not in by_version:
            known = ", ".join(str(p.version) for p in pushes)
            raise RollbackError(
                f"version {to} is not a version this home published (published versions: {known}); "
                "`taxi-pipeline models` lists them"
            )
        return original(by_version[to], pushes)
    newest = originals[-1]
    earlier = [p for p in originals if p.version < newest.version and p.model_id != newest.model_id]
    if not earlier:
        raise RollbackError(
            f"nothing blessed to roll back to: version {newest.version} is the only model this home pushed; "
            "roll back after a later push, or name a version with --to"
        )
    return earlier[-1]


def _source_folder(serving_dir: Path, target: Push) -> Path:
    """Returns a folder holding the target's SavedModel: its serving folder, or the Pusher's archived copy."""
    for candidate in (serving_dir / str(target.version), Path(target.pushed_model_uri)):
        if (candidate / "saved_model.pb").is_file():
            return candidate
    raise RollbackError(
        f"cannot find the model of version {target.version}: neither {serving_dir / str(target.version)} nor "
        f"the Pusher's archived copy {target.pushed_model_uri} holds a saved_model.pb; "
        "pick another version with --to"
    )


def _rollback_type_id(store: metadata_store.MetadataStore) -> int:
    execution_type = metadata_store_pb2.ExecutionType(name=ROLLBACK_TYPE)
    for name, kind in (("rollback_of", metadata_store_pb2.INT), ("reason", metadata_store_pb2.STRING)):
        execution_type.properties[name] = kind
    return int(store.put_execution_type(execution_type, can_add_fields=True))


def _pushed_model_type_id(store: metadata_store.MetadataStore) -> int:
    from ml_metadata import errors

    try:
        return int(store.get_artifact_type(PUSHED_MODEL_TYPE).id)
    except errors.NotFoundError:
        return int(store.put_artifact_type(metadata_store_pb2.ArtifactType(name=PUSHED_MODEL_TYPE)))


def _event(kind: int, key: str, artifact_id: int = 0, execution_id: int = 0) -> md.Event:
    event = md.Event(type=kind)
    if artifact_id:
        event.artifact_id = artifact_id
    if execution_id:
        event.execution_id = execution_id
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def rollback(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    serving_dir: str | Path,
    to: int | None = None,
    reason: str = "",
    now: float | None = None,
) -> RollbackResult:
    """Makes an earlier blessed model the serving one, atomically; does nothing if it already serves.

    Call it holding the home lock (runners.home.lock), so that no run's Pusher publishes meanwhile.

    Args:
        store: the home's ML Metadata store (written to: one Rollback execution).
        pipeline_name: the pipeline whose context records the rollback.
        serving_dir: the model's base path (<home>/serving/<model_name>).
        to: the version to restore; None restores the push before the newest one.
        reason: free text kept with the record.
        now: the current time in seconds since the epoch (default: the clock).

    Returns:
        What changed.

    Raises:
        RollbackError: there is nothing to roll back to, or the version is unknown or gone.
    """
    root = Path(serving_dir)
    pushes = find_pushes(store, pipeline_name)
    target = choose_target(pushes, to)
    serving_before = sd.serving_version(root)
    by_version = {p.version: p for p in pushes}
    current = by_version.get(serving_before) if serving_before is not None else None
    if serving_before is not None and current is not None and original(current, pushes).model_id == target.model_id:
        return RollbackResult(
            changed=False,
            target_version=target.version,
            model_id=target.model_id,
            serving_before=serving_before,
            serving_now=serving_before,
            published_version=None,
            execution_id=None,
            message=(
                f"nothing to do: version {serving_before} already serves the model of version {target.version} "
                f"(model artifact {target.model_id})"
            ),
        )
    # Under the home lock (see runners/commands/ops.py) no other publication is in progress: leftovers are dead.
    sd.remove_staging(root)
    source = _source_folder(root, target)
    context = md.pipeline_context(store, pipeline_name)
    if context is None:  # find_pushes found pushes, so the pipeline context exists
        raise RollbackError(f"ML Metadata has no context for pipeline '{pipeline_name}'")
    clock = time.time() if now is None else now
    version = sd.next_version([*sd.versions(root), *by_version], clock)

    # Recorded as running before the copy, so a crash midway leaves a trace in ML Metadata.
    execution = md.Execution(type_id=_rollback_type_id(store), last_known_state=md.Execution.RUNNING)
    execution.properties["rollback_of"].int_value = target.version
    execution.properties["reason"].string_value = reason
    execution.custom_properties["replaced_version"].int_value = serving_before if serving_before is not None else -1
    execution_id, _, _ = store.put_execution(execution, [], [context], force_reuse_context=True)
    execution.id = execution_id
    store.put_events(
        [
            _event(md.Event.INPUT, ROLLBACK_SOURCE_KEY, target.pushed_model_id, execution_id),
            _event(md.Event.INPUT, ROLLBACK_MODEL_KEY, target.model_id, execution_id),
        ]
    )
    try:
        folder = sd.publish(root, source, version)
    except OSError as err:
        execution.last_known_state = md.Execution.FAILED
        store.put_execution(execution, [], [context], force_reuse_context=True)
        raise RollbackError(
            f"could not publish version {version} in {root}: {err}; if another run or rollback published "
            "meanwhile, run the rollback again"
        ) from None

    published = md.Artifact(type_id=_pushed_model_type_id(store), uri=str(folder), state=md.Artifact.LIVE)
    published.custom_properties["pushed"].int_value = 1
    published.custom_properties["pushed_version"].string_value = str(version)
    published.custom_properties["pushed_destination"].string_value = str(folder)
    published.custom_properties["rollback_of"].int_value = target.version
    execution.last_known_state = md.Execution.COMPLETE
    store.put_execution(
        execution, [(published, _event(md.Event.OUTPUT, ROLLBACK_OUTPUT_KEY))], [context], force_reuse_context=True
    )
    sd.append_rollback(
        root,
        {
            "version": version,
            "rollback_of": target.version,
            "replaced_version": serving_before,
            "model_artifact_id": target.model_id,
            "pushed_model_artifact_id": target.pushed_model_id,
            "rollback_execution_id": execution_id,
            "at": datetime.fromtimestamp(clock, timezone.utc).isoformat(timespec="seconds"),
            "reason": reason,
        },
    )
    return RollbackResult(
        changed=True,
        target_version=target.version,
        model_id=target.model_id,
        serving_before=serving_before,
        serving_now=version,
        published_version=version,
        execution_id=execution_id,
        message=(
            f"version {version} now serves the model of version {target.version} (model artifact "
            f"{target.model_id}); it replaced version {serving_before} as the highest version in {root}"
        ),
    )
