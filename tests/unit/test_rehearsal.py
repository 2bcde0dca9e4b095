"""The Vertex rehearsal's pieces that need no step to run: the path mapping, the task order, the resolver queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import load_config
from runners.errors import RunError
from runners.rehearsal.image import Image
from runners.rehearsal.job import PathMap, rehearsal_config, task_order
from runners.rehearsal.metadata import ArtifactStore

BLESSING = {"instanceSchema": "title: tfx.ModelBlessing\ntype: object\n"}
MODEL = {"instanceSchema": "title: tfx.Model\ntype: object\n"}
# The two queries KubeflowV2DagRunner writes for TFX's latest-blessed-model resolver.
BLESSED = 'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1'


def test_bucket_and_image_paths_map_to_local_folders_but_bucket_paths_named_pipeline_stay_whole(tmp_path: Path) -> None:
    paths = PathMap(tmp_path / "gcs", Image(site=tmp_path / "site", root=tmp_path / "image"))
    text = json.dumps(
        {
            "a": "gs://b/pipeline/x",
            "schema": "/pipeline/schema/schema.pbtxt",
            "nested": json.dumps({"p": "/pipeline/s"}),
        }
    )
    mapped = json.loads(paths.text(text))
    assert mapped["a"] == f"{tmp_path}/gcs/b/pipeline/x"
    assert mapped["schema"] == f"{tmp_path}/image/schema/schema.pbtxt"
    assert json.loads(mapped["nested"]) == {"p": f"{tmp_path}/image/s"}
    assert paths.path("gs://b/data") == f"{tmp_path}/gcs/b/data"


def test_tasks_run_after_everything_they_depend_on() -> None:
    tasks = {
        "c": {"dependentTasks": ["b"]},
        "b": {"inputs": {"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "a", "outputArtifactKey": "x"}}}}},
        "a": {},
    }
    assert task_order(tasks) == ["a", "b", "c"]
    with pytest.raises(RunError, match="cycle"):
        task_order({"a": {"dependentTasks": ["b"]}, "b": {"dependentTasks": ["a"]}})


def test_resolver_queries_answer_with_the_newest_match_as_vertex_does(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts.jsonl")
    assert store.query(BLESSED) == []
    store.add([{"name": "m1", "type": MODEL, "uri": "/m1", "metadata": {}}], job="j1", task="trainer")
    store.add(
        [{"name": "b1", "type": BLESSING, "uri": "/b1", "metadata": {"blessed": 1.0, "current_model_id": "m1"}}],
        job="j1",
        task="evaluator",
    )
    store.add(
        [{"name": "b2", "type": BLESSING, "uri": "/b2", "metadata": {"blessed": 0.0}}], job="j2", task="evaluator"
    )
    (blessing,) = store.query(BLESSED)
    assert blessing["name"] == "b1" and "job" not in blessing
    (model,) = store.query('schema_title="tfx.Model" AND state=LIVE AND name="m1"')
    assert model["uri"] == "/m1"
    with pytest.raises(RunError, match="cannot answer the resolver filter clause 'create_time>1'"):
        store.query('schema_title="tfx.Model" AND create_time>1')


def test_a_rehearsal_compiles_the_vertex_profile_with_the_cloud_services_off() -> None:
    config = rehearsal_config(load_config("vertex", environ={}))
    assert (config.dataflow, config.vertex_training, config.push_target) == (False, False, "filesystem")
    assert config.home.startswith("gs://") and config.data_root.startswith("gs://")
    assert config.window_spans == 4  # the shipped profile's window, as on Vertex
