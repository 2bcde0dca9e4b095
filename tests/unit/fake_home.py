"""A home with a fabricated ML Metadata store shaped like TFX's, and a serving dir of fake SavedModels.

The store holds what LocalDagRunner records (pipeline, run and node contexts; executions linked to
artifacts by keyed events), so tests exercise the real queries in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from runners.store import lineage as ln

PIPELINE = "taxi"
MODEL_NAME = "taxi_big_tipper"
EXECUTION_TYPES = {
    "example_gen": "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen",
    "schema_importer": "tfx.components.schema_gen.import_schema_gen.component.ImportSchemaGen",
    "statistics_gen": "tfx.components.statistics_gen.component.StatisticsGen",
    "data_gate": "pipeline.components.data_gate.DataGate",
    "span_window_resolver": ln.RESOLVER_TYPE,
    "transform": "tfx.components.transform.component.Transform",
    "trainer": "tfx.components.trainer.component.Trainer",
    "feature_importance": "pipeline.components.feature_importance.FeatureImportanceComponent",
    "evaluator": "tfx.components.evaluator.component.Evaluator",
    "pusher": "tfx.components.pusher.component.Pusher",
}


class FakeHome:
    """A home with a fabricated ML Metadata store and serving dir; `run` records one pipeline run."""

    def __init__(self, root: Path, sqlite: bool = False) -> None:
        config = pb.ConnectionConfig()
        if sqlite:  # a real metadata.db, for the CLI to open with --home root
            config.sqlite.filename_uri = str(root / "metadata.db")
        else:
            config.fake_database.SetInParent()
        self.store = metadata_store.MetadataStore(config)
        self.root = root
        self.serving = root / "serving" / MODEL_NAME
        self.serving.mkdir(parents=True)
        # Registered in TFX's order so context type ids match a real store's.
        self.context_types = {
            n: self.store.put_context_type(pb.ContextType(name=n)) for n in ("pipeline", "pipeline_run", "node")
        }
        self.pipeline = self._context("pipeline", PIPELINE)
        self.examples: list[pb.Artifact] = []
        self.schema: pb.Artifact | None = None

    def _context(self, kind: str, name: str) -> pb.Context:
        found = self.store.get_context_by_type_and_name(kind, name)
        if found is not None:
            return found
        context = pb.Context(type_id=self.context_types[kind], name=name)
        [context.id] = self.store.put_contexts([context])
        return context

    def artifact(self, type_name: str, uri: str, **props: Any) -> pb.Artifact:
        artifact = pb.Artifact(type_id=self.store.put_artifact_type(pb.ArtifactType(name=type_name)), uri=uri)
        artifact.state = pb.Artifact.LIVE
        for key, value in props.items():
            if isinstance(value, int):
                artifact.custom_properties[key].int_value = value
            else:
                artifact.custom_properties[key].string_value = str(value)
        return artifact

    def execute(
        self,
        run: pb.Context,
        node: str,
        inputs: dict[str, list[pb.Artifact]],
        outputs: dict[str, list[pb.Artifact]],
        state: int = pb.Execution.COMPLETE,
        **props: str,
    ) -> pb.Execution:
        type_id = self.store.put_execution_type(pb.ExecutionType(name=EXECUTION_TYPES[node]))
        execution = pb.Execution(type_id=type_id, last_known_state=state)
        for key, value in props.items():
            execution.custom_properties[key].string_value = value
        pairs = []
        for kind, artifacts_by_key in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, artifacts in artifacts_by_key.items():
                for index, artifact in enumerate(artifacts):
                    event = pb.Event(type=kind)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = index
                    pairs.append((artifact, event))
        contexts = [self.pipeline, run, self._context("node", f"{PIPELINE}.{node}")]
        execution.id, artifact_ids, _ = self.store.put_execution(execution, pairs, contexts)
        for (artifact, _), artifact_id in zip(pairs, artifact_ids, strict=True):
            artifact.id = artifact_id
        return execution

    def saved_model(self, folder: Path, payload: str) -> Path:
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text(payload)
        return folder

    def run(self, run_id: str, span: int, version: int | None, blessed: bool = True) -> dict[str, Any]:
        """Records a full run on a new span; a blessed one pushes `version` into the serving dir."""
        run = self._context("pipeline_run", run_id)
        examples = self.artifact("Examples", f"{self.root}/examples/{span}", span=span, input_fingerprint=f"fp-{span}")
        self.execute(run, "example_gen", {}, {"examples": [examples]})
        self.examples.append(examples)
        statistics = self.artifact("ExampleStatistics", f"{self.root}/statistics/{span}")
        self.execute(run, "statistics_gen", {"examples": [examples]}, {"statistics": [statistics]})
        if self.schema is None:
            self.schema = self.artifact("Schema", f"{self.root}/schema")
            self.execute(run, "schema_importer", {}, {"schema": [self.schema]}, schema_file="/repo/schema.pbtxt")
        self.execute(run, "span_window_resolver", {}, {"examples": list(self.examples)})
        graph = self.artifact("TransformGraph", f"{self.root}/graph/{run_id}")
        transformed = self.artifact("Examples", f"{self.root}/transformed/{run_id}")
        self.execute(
            run,
            "transform",
            {"examples": list(self.examples), "schema": [self.schema]},
            {"transform_graph": [graph], "transformed_examples": [transformed]},
        )
        model = self.artifact("Model", f"{self.root}/model/{run_id}")
        trainer = self.execute(
            run,
            "trainer",
            {"examples": [transformed], "transform_graph": [graph], "schema": [self.schema]},
            {"model": [model]},
            custom_config=json.dumps({"code_fingerprint": f"code-{run_id}", "hyperparameters": {"batch_size": 8}}),
            train_args=json.dumps({"num_steps": 30}),
            eval_args=json.dumps({"num_steps": 5}),
        )
        evaluation = self.artifact("ModelEvaluation", f"{self.root}/evaluation/{run_id}")
        blessing = self.artifact("ModelBlessing", f"{self.root}/blessing/{run_id}", blessed=int(blessed))
        self.execute(
            run,
            "evaluator",
            {"model": [model], "examples": list(self.examples)},
            {"evaluation": [evaluation], "blessing": [blessing]},
        )
        props: dict[str, Any] = {"pushed": 0}
        archive = self.root / "pushed" / run_id
        if blessed and version is not None:
            destination = self.saved_model(self.serving / str(version), f"model-{run_id}")
            self.saved_model(archive, f"model-{run_id}")
            props = {"pushed": 1, "pushed_version": str(version), "pushed_destination": str(destination)}
        pushed = self.artifact("PushedModel", str(archive), **props)
        pusher = self.execute(
            run, "pusher", {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}
        )
        return {
            "run": run,
            "examples": examples,
            "statistics": statistics,
            "model": model,
            "pushed": pushed,
            "pusher": pusher,
            "trainer": trainer,
        }

    def gate(self, recorded: dict[str, Any], passed: bool) -> pb.Execution:
        """Records the data gate's verdict on a run's span: a completed execution, or a failed one."""
        return self.execute(
            recorded["run"],
            "data_gate",
            {"examples": [recorded["examples"]], "statistics": [recorded["statistics"]]},
            {},
            state=pb.Execution.COMPLETE if passed else pb.Execution.FAILED,
        )

    def cached_rerun(self, run_id: str, previous: dict[str, Any]) -> None:
        """Records a run whose Pusher was cached: it reuses the earlier PushedModel."""
        run = self._context("pipeline_run", run_id)
        self.execute(
            run,
            "pusher",
            {"model": [previous["model"]]},
            {"pushed_model": [previous["pushed"]]},
            state=pb.Execution.CACHED,
        )
