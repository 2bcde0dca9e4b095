"""Recovery after a dead run: executions left RUNNING are marked failed, their partial outputs removed.

The store is written with TFX's own launcher helpers, so it looks exactly like one a killed
LocalDagRunner leaves: a RUNNING execution with no outputs recorded, and its folders on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.orchestration.portable import execution_publish_utils
from tfx.orchestration.portable.mlmd import context_lib, execution_lib
from tfx.proto.orchestration import pipeline_pb2
from tfx.types import standard_artifacts

from runners.home import lock as home_lock
from runners.home import recovery
from runners.store import metadata as md
from runners.store.metadata import Execution


def _contexts(handle: metadata.Metadata, node_id: str, run_id: str) -> list[Any]:
    node_contexts = pipeline_pb2.NodeContexts()
    for type_name, name in (("pipeline", "taxi"), ("pipeline_run", run_id), ("node", f"taxi.{node_id}")):
        context = node_contexts.contexts.add()
        context.type.name = type_name
        context.name.field_value.string_value = name
    return context_lib.prepare_contexts(handle, node_contexts)


def _output_dir(root: Path, node_id: str, key: str, execution_id: int) -> Path:
    folder = root / node_id / key / str(execution_id)
    folder.mkdir(parents=True)
    (folder / "part-00000").write_text("half written")
    return folder


@pytest.fixture
def killed_run(tmp_path: Path) -> dict[str, Any]:
    """A home whose run finished Transform, then was killed while the Trainer ran."""
    root = tmp_path / "pipeline_root"
    handle = metadata.Metadata(metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.db")))
    with handle as m:
        contexts = _contexts(m, "transform", "run-1")
        transform = execution_publish_utils.register_execution(
            m, metadata_store_pb2.ExecutionType(name="Transform"), contexts
        )
        graph = standard_artifacts.TransformGraph()
        graph.uri = str(_output_dir(root, "transform", "transform_graph", transform.id))
        execution_publish_utils.publish_succeeded_execution(m, transform.id, contexts, {"transform_graph": [graph]})

        trainer_contexts = _contexts(m, "trainer", "run-1")
        trainer = execution_publish_utils.register_execution(
            m, metadata_store_pb2.ExecutionType(name="Trainer"), trainer_contexts
        )
    model = _output_dir(root, "trainer", "model", trainer.id)
    model_run = _output_dir(root, "trainer", "model_run", trainer.id)
    scratch = root / "trainer" / ".system" / "executor_execution" / str(trainer.id) / ".temp"
    scratch.mkdir(parents=True)
    return {
        "home": tmp_path,
        "root": root,
        "store": md.connect(tmp_path / "metadata.db", writable=True),
        "transform": transform.id,
        "trainer": trainer.id,
        "graph": Path(graph.uri),
        "partial": [model, model_run, scratch.parent],
    }


def test_a_killed_execution_is_marked_failed_and_its_partial_outputs_removed(killed_run: dict[str, Any]) -> None:
    store = killed_run["store"]
    assert [e.id for e in recovery.unfinished_executions(store, "taxi")] == [killed_run["trainer"]]
    with home_lock.hold(killed_run["home"]) as home:
        (recovered,) = recovery.recover_interrupted(store, "taxi", killed_run["root"], home)
    assert recovered.node_id == "trainer" and recovered.execution_id == killed_run["trainer"]
    assert sorted(recovered.removed) == sorted(killed_run["partial"])
    assert not any(p.exists() for p in killed_run["partial"])

    (trainer,) = store.get_executions_by_id([killed_run["trainer"]])
    assert trainer.last_known_state == Execution.FAILED
    result = execution_lib.get_execution_result(trainer)
    assert result is not None and "stopped before it finished" in result.result_message
    assert recovery.unfinished_executions(store, "taxi") == []
    # What finished is untouched: the state, and the folder an artifact records.
    (transform,) = store.get_executions_by_id([killed_run["transform"]])
    assert transform.last_known_state == Execution.COMPLETE
    assert killed_run["graph"].is_dir()
    assert "trainer" in recovery.describe([recovered]) and "marked failed" in recovery.describe([recovered])


def test_recovery_is_idempotent(killed_run: dict[str, Any]) -> None:
    with home_lock.hold(killed_run["home"]) as home:
        recovery.recover_interrupted(killed_run["store"], "taxi", killed_run["root"], home)
        assert recovery.recover_interrupted(killed_run["store"], "taxi", killed_run["root"], home) == []


def test_recovery_refuses_without_the_home_lock(killed_run: dict[str, Any]) -> None:
    # Without the lock, a RUNNING execution may belong to a live run.
    with pytest.raises(RuntimeError, match="needs its lock"):
        recovery.recover_interrupted(killed_run["store"], "taxi", killed_run["root"], killed_run["home"])
    assert len(recovery.unfinished_executions(killed_run["store"], "taxi")) == 1


def test_a_folder_an_artifact_records_is_never_removed(killed_run: dict[str, Any]) -> None:
    store = killed_run["store"]
    assert recovery.remove_unrecorded_outputs(store, killed_run["root"], "transform", killed_run["transform"]) == []
    assert killed_run["graph"].is_dir()


def test_failed_outputs_are_removed_only_for_the_run_that_stopped(killed_run: dict[str, Any]) -> None:
    store, root, trainer = killed_run["store"], killed_run["root"], killed_run["trainer"]
    with home_lock.hold(killed_run["home"]) as home:
        recovery.recover_interrupted(store, "taxi", root, home)
    # A FAILED execution's leftovers, as a step that failed on a full disk leaves them.
    leftover = _output_dir(root, "trainer", "model", trainer)
    # Not newer than after_id: an earlier run's failure, kept (its files may help to debug it).
    assert recovery.remove_failed_outputs(store, "taxi", root, after_id=trainer) == []
    assert leftover.is_dir()
    assert recovery.remove_failed_outputs(store, "taxi", root, after_id=trainer - 1) == [leftover]
    assert not leftover.exists()
    assert recovery.last_execution_id(store) == trainer
