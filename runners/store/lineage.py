"""Pipeline runs, pushed model versions and their lineage, read from ML Metadata alone.

Pushes are the Pusher's PushedModel outputs; rollbacks are executions of the custom type "Rollback"
that runners/serving/rollback.py records. Both yield a `Push`, so every command treats versions alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from pipeline import serving_dir as sd
from runners.errors import EXIT_USAGE, RunError
from runners.store import lineage as ln
from runners.store import metadata as md

# Resolver nodes resolve inputs; they are not components a run executes or caches.
RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"

ROLLBACK_TYPE = "Rollback"
PUSHED_MODEL_TYPE = "PushedModel"
# The Rollback execution's event keys, named like the Pusher's so the same queries read both.
ROLLBACK_SOURCE_KEY = "pushed_model"
ROLLBACK_MODEL_KEY = "model"
ROLLBACK_OUTPUT_KEY = "pushed_model"

_UNFINISHED = {md.Execution.NEW, md.Execution.RUNNING}


def seconds(milliseconds: int) -> float:
    """Converts an ML Metadata timestamp (milliseconds since the epoch) to seconds."""
    return milliseconds / 1000.0


@dataclasses.dataclass
class Push:
    """One version published to the serving dir, by the Pusher or by a rollback."""

    version: int
    kind: str  # "push" or "rollback"
    pushed_at: float  # when the publishing execution ended, seconds since the epoch
    execution_id: int
    run_id: str  # the pipeline run of a push; "" for a rollback, which runs outside the pipeline
    pushed_model_id: int
    pushed_model_uri: str
    destination: str
    model_id: int
    model_uri: str
    blessing_id: int | None = None
    evaluation_uri: str | None = None
    rollback_of: int | None = None  # the version a rollback republished
    reason: str = ""
    window_spans: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RunRecord:
    """One pipeline run as ML Metadata recorded it."""

    run_id: str
    started: float
    ended: float | None
    status: str  # "complete", "failed" or "unfinished" (still running, or killed)
    span: int | None
    window_spans: list[int]
    components: dict[str, str]
    failed_components: list[str]
    blessed: bool | None
    pushed_version: int | None

    @property
    def duration_s(self) -> float | None:
        """Seconds from the run's start to its last execution's end; None while unfinished."""
        return None if self.ended is None else max(0.0, self.ended - self.started)


@dataclasses.dataclass
class EvaluationRecord:
    """One Evaluator execution that ran (cached ones repeat an earlier decision and are left out)."""

    run_id: str
    execution_id: int
    finished_at: float
    blessed: bool | None
    evaluation_uri: str | None
    model_id: int | None
    window_spans: list[int]
    # The model the Evaluator compared the candidate with on the same rows (the newest blessed one), if any.
    baseline_model_id: int | None = None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _first(artifacts: list[md.Artifact]) -> md.Artifact | None:
    return artifacts[0] if artifacts else None


def window_of_model(store: metadata_store.MetadataStore, model: md.Artifact) -> list[md.Artifact]:
    """Returns the raw Examples a model was trained on: model -> Trainer -> transform graph -> Transform inputs."""
    trainer = md.producer(store, model)
    if trainer is None:
        return []
    graph = _first(md.inputs(store, trainer, "transform_graph"))
    transform = md.producer(store, graph) if graph is not None else None
    if transform is None:
        return []
    return md.inputs(store, transform, "examples")


def _spans(artifacts: list[md.Artifact]) -> list[int]:
    return sorted({s for s in (md.prop(a, "span") for a in artifacts) if isinstance(s, int)})


def _evaluation_of(store: metadata_store.MetadataStore, blessing: md.Artifact | None) -> str | None:
    """Returns the URI of the TFMA evaluation written next to a blessing by the same Evaluator execution."""
    evaluator = md.producer(store, blessing) if blessing is not None else None
    evaluation = _first(md.outputs(store, evaluator, "evaluation")) if evaluator is not None else None
    return evaluation.uri if evaluation is not None else None


def find_pushes(store: metadata_store.MetadataStore, pipeline_name: str) -> list[Push]:
    """Returns every version the pipeline published, pushes and rollbacks, lowest version first.

    Args:
        store: the home's ML Metadata store.
        pipeline_name: the pipeline's name.

    Returns:
        One Push per published version. A cached Pusher reuses its earlier output and is counted once.
    """
    pushes: dict[int, Push] = {}
    for execution in md.node_executions(store, pipeline_name, ids.PUSHER):
        if execution.last_known_state != md.Execution.COMPLETE:
            continue
        model = _first(md.inputs(store, execution, "model"))
        blessing = _first(md.inputs(store, execution, "model_blessing"))
        for pushed in md.outputs(store, execution, "pushed_model"):
            version = _int(md.prop(pushed, "pushed_version"))
            if md.prop(pushed, "pushed") != 1 or version is None or pushed.id in pushes:
                continue
            pushes[pushed.id] = Push(
                version=version,
                kind="push",
                pushed_at=seconds(execution.last_update_time_since_epoch),
                execution_id=execution.id,
                run_id=md.run_id_of(store, execution),
                pushed_model_id=pushed.id,
                pushed_model_uri=pushed.uri,
                destination=str(md.prop(pushed, "pushed_destination") or ""),
                model_id=model.id if model is not None else 0,
                model_uri=model.uri if model is not None else "",
                blessing_id=blessing.id if blessing is not None else None,
                evaluation_uri=_evaluation_of(store, blessing),
                window_spans=_spans(window_of_model(store, model)) if model is not None else [],
            )
    by_artifact = {p.pushed_model_id: p for p in pushes.values()}
    for execution in md.executions_of_type(store, ROLLBACK_TYPE, pipeline_name):
        if execution.last_known_state != md.Execution.COMPLETE:
            continue
        source = by_artifact.get(getattr(_first(md.inputs(store, execution, ROLLBACK_SOURCE_KEY)), "id", -1))
        for published in md.outputs(store, execution, ROLLBACK_OUTPUT_KEY):
            version = _int(md.prop(published, "pushed_version"))
            if version is None or source is None:
                continue
            rollback = Push(
                version=version,
                kind="rollback",
                pushed_at=seconds(execution.last_update_time_since_epoch),
                execution_id=execution.id,
                run_id="",
                pushed_model_id=published.id,
                pushed_model_uri=published.uri,
                destination=str(md.prop(published, "pushed_destination") or published.uri),
                model_id=source.model_id,
                model_uri=source.model_uri,
                blessing_id=source.blessing_id,
                evaluation_uri=source.evaluation_uri,
                rollback_of=source.version,
                reason=str(md.prop(execution, "reason") or ""),
                window_spans=source.window_spans,
            )
            pushes[published.id] = rollback
            by_artifact[published.id] = rollback
    return sorted(pushes.values(), key=lambda p: (p.version, p.pushed_model_id))


def original(push: Push, pushes: list[Push]) -> Push:
    """Follows a rollback back to the Pusher's push it republished (a push is its own original)."""
    by_version = {p.version: p for p in pushes}
    seen: set[int] = set()
    while push.rollback_of is not None and push.rollback_of in by_version and push.version not in seen:
        seen.add(push.version)
        push = by_version[push.rollback_of]
    return push


def list_runs(store: metadata_store.MetadataStore, pipeline_name: str) -> list[RunRecord]:
    """Returns the pipeline's runs, oldest first, with per-component states and what each run pushed.

    Args:
        store: the home's ML Metadata store.
        pipeline_name: the pipeline's name.

    Returns:
        One record per pipeline run; resolver nodes are left out of the component states.
    """
    records = []
    for run_id in md.run_ids(store, pipeline_name):
        context = md.run_context(store, run_id)
        if context is None:
            continue
        executions = md.run_executions(store, run_id)
        nodes = {n: e for n, e in executions.items() if md.execution_type_name(store, e) != RESOLVER_TYPE}
        states = {node: md.state_name(e) for node, e in nodes.items()}
        failed = [n for n, e in nodes.items() if e.last_known_state == md.Execution.FAILED]
        unfinished = any(e.last_known_state in _UNFINISHED for e in executions.values())
        if failed:
            status = "failed"
        elif unfinished or not executions:
            status = "unfinished"
        else:
            status = "complete"
        ended = max((e.last_update_time_since_epoch for e in executions.values()), default=0)

        span = None
        example_gen = nodes.get(ids.EXAMPLE_GEN)
        if example_gen is not None:
            ingested = _spans(md.outputs(store, example_gen, "examples"))
            span = ingested[-1] if ingested else None
        transform = nodes.get(ids.TRANSFORM)
        window = _spans(md.inputs(store, transform, "examples")) if transform is not None else []

        blessed = None
        evaluator = nodes.get(ids.EVALUATOR)
        blessing = _first(md.outputs(store, evaluator, "blessing")) if evaluator is not None else None
        if blessing is not None:
            blessed = md.prop(blessing, "blessed") == 1

        pushed_version = None
        pusher = nodes.get(ids.PUSHER)
        # Only a Pusher that executed in this run published something; a cached one reused an old push.
        if pusher is not None and pusher.last_known_state == md.Execution.COMPLETE:
            pushed = _first(md.outputs(store, pusher, "pushed_model"))
            if pushed is not None and md.prop(pushed, "pushed") == 1:
                pushed_version = _int(md.prop(pushed, "pushed_version"))

        records.append(
            RunRecord(
                run_id=run_id,
                started=seconds(context.create_time_since_epoch),
                ended=None if status == "unfinished" else seconds(ended),
                status=status,
                span=span,
                window_spans=window,
                components=states,
                failed_components=failed,
                blessed=blessed,
                pushed_version=pushed_version,
            )
        )
    return records


def list_evaluations(store: metadata_store.MetadataStore, pipeline_name: str) -> list[EvaluationRecord]:
    """Returns the Evaluator executions that ran, oldest first, with their blessing decision."""
    records = []
    for execution in md.node_executions(store, pipeline_name, ids.EVALUATOR):
        if execution.last_known_state != md.Execution.COMPLETE:
            continue
        blessing = _first(md.outputs(store, execution, "blessing"))
        evaluation = _first(md.outputs(store, execution, "evaluation"))
        model = _first(md.inputs(store, execution, "model"))
        baseline = _first(md.inputs(store, execution, "baseline_model"))
        records.append(
            EvaluationRecord(
                run_id=md.run_id_of(store, execution),
                execution_id=execution.id,
                finished_at=seconds(execution.last_update_time_since_epoch),
                blessed=None if blessing is None else md.prop(blessing, "blessed") == 1,
                evaluation_uri=evaluation.uri if evaluation is not None else None,
                model_id=model.id if model is not None else None,
                window_spans=_spans(md.inputs(store, execution, "examples")),
                baseline_model_id=baseline.id if baseline is not None else None,
            )
        )
    return records


def span_arrivals(store: metadata_store.MetadataStore, pipeline_name: str) -> dict[int, float]:
    """Returns span -> when ML Metadata first recorded Examples of it (the ExampleGen output's creation).

    Args:
        store: the home's ML Metadata store.
        pipeline_name: the pipeline's name.

    Returns:
        The earliest creation time, in seconds since the epoch, of each span's Examples.
    """
    arrivals: dict[int, float] = {}
    for execution in md.node_executions(store, pipeline_name, ids.EXAMPLE_GEN):
        for examples in md.outputs(store, execution, "examples"):
            span = md.prop(examples, "span")
            if isinstance(span, int):
                created = seconds(examples.create_time_since_epoch)
                arrivals[span] = min(created, arrivals.get(span, created))
    return arrivals


def _ref(artifact: md.Artifact | None) -> dict[str, Any] | None:
    return None if artifact is None else {"id": artifact.id, "uri": artifact.uri}


def lineage(store: metadata_store.MetadataStore, push: Push, pushes: list[Push]) -> dict[str, Any]:
    """Traces a published version back to its data: push, blessing, model, Trainer, transform graph, schema,
    statistics and examples.

    Args:
        store: the home's ML Metadata store.
        push: the version to trace; a rollback is followed to the push it republished.
        pushes: every version (from find_pushes), to resolve rollbacks.

    Returns:
        A JSON-able mapping, one key per link of the chain, each with ML Metadata ids and artifact URIs.
    """
    source = original(push, pushes)
    result: dict[str, Any] = {"version": push.version, "rollback": None}
    if push.kind == "rollback":
        result["rollback"] = {
            "version": push.version,
            "republishes": source.version,
            "execution_id": push.execution_id,
            "at": push.pushed_at,
            "reason": push.reason,
            "artifact": {"id": push.pushed_model_id, "uri": push.pushed_model_uri},
            "destination": push.destination,
        }
    result["push"] = {
        "version": source.version,
        "run_id": source.run_id,
        "execution_id": source.execution_id,
        "at": source.pushed_at,
        "destination": source.destination,
        "artifact": {"id": source.pushed_model_id, "uri": source.pushed_model_uri},
    }

    blessing = _first(store.get_artifacts_by_id([source.blessing_id])) if source.blessing_id else None
    result["blessing"] = None
    if blessing is not None:
        result["blessing"] = {
            **(_ref(blessing) or {}),
            "blessed": md.prop(blessing, "blessed") == 1,
            "evaluation_uri": source.evaluation_uri,
        }

    model = _first(store.get_artifacts_by_id([source.model_id])) if source.model_id else None
    result.update(model_lineage(store, model))
    return result


def model_lineage(store: metadata_store.MetadataStore, model: md.Artifact | None) -> dict[str, Any]:
    """Traces a trained model back to its data: model, Trainer, transform graph, schema, statistics, examples.

    Args:
        store: the home's ML Metadata store.
        model: the Trainer's Model artifact, or None.

    Returns:
        A JSON-able mapping with the keys model, trainer, transform_graph, schema and examples (each None
        or empty when the link is missing), with ML Metadata ids and artifact URIs.
    """
    result: dict[str, Any] = {}
    result["model"] = _ref(model)
    trainer = md.producer(store, model) if model is not None else None
    result["trainer"] = None
    transform = None
    schema = None
    if trainer is not None:
        custom_config = md.json_prop(trainer, "custom_config") or {}
        train_args = md.json_prop(trainer, "train_args") or {}
        eval_args = md.json_prop(trainer, "eval_args") or {}
        result["trainer"] = {
            "execution_id": trainer.id,
            "run_id": md.run_id_of(store, trainer),
            "hyperparameters": custom_config.get("hyperparameters", {}),
            "train_steps": _int(train_args.get("num_steps", train_args.get("numSteps"))),
            "eval_steps": _int(eval_args.get("num_steps", eval_args.get("numSteps"))),
            "code_fingerprint": custom_config.get("code_fingerprint", ""),
            "steps_run": steps_run(_first(md.outputs(store, trainer, "model_run"))),
        }
        graph = _first(md.inputs(store, trainer, "transform_graph"))
        transform = md.producer(store, graph) if graph is not None else None
        result["transform_graph"] = {
            **(_ref(graph) or {}),
            "execution_id": transform.id if transform is not None else None,
            "run_id": md.run_id_of(store, transform) if transform is not None else "",
        }
        schema = _first(md.inputs(store, trainer, "schema"))
    else:
        result["transform_graph"] = None

    result["schema"] = None
    if schema is not None:
        importer = md.producer(store, schema)
        result["schema"] = {
            **(_ref(schema) or {}),
            "source_file": str(md.prop(importer, "schema_file") or "") if importer is not None else "",
        }

    examples_links = []
    for examples in md.inputs(store, transform, "examples") if transform is not None else []:
        example_gen = md.producer(store, examples)
        examples_links.append(
            {
                **(_ref(examples) or {}),
                "span": md.prop(examples, "span"),
                "input_fingerprint": str(md.prop(examples, "input_fingerprint") or ""),
                "run_id": md.run_id_of(store, example_gen) if example_gen is not None else "",
                "statistics": _ref(md.statistics_of(store, examples, ids.STATISTICS_GEN)),
            }
        )
    result["examples"] = sorted(examples_links, key=lambda e: e["span"] if isinstance(e["span"], int) else -1)
    return result


def push_of_version(pushes: Sequence[Push], version: int) -> Push | None:
    """Returns the push or rollback that published `version`, or None when ML Metadata does not record it."""
    return next((p for p in pushes if p.version == version), None)


def trained_schema_file(store: metadata_store.MetadataStore, push: Push) -> Path | None:
    """Returns the schema file a published version's model was trained with, or None when not recorded.

    Followed through ML Metadata: push (or rollback) -> model -> Trainer -> its schema input, the
    folder ImportSchemaGen copied the curated schema into. The model server checks requests with it,
    and `skew` compares traffic under it.
    """
    model = _first(store.get_artifacts_by_id([push.model_id])) if push.model_id else None
    trainer = md.producer(store, model) if model is not None else None
    schema = _first(md.inputs(store, trainer, "schema")) if trainer is not None else None
    files = sorted(Path(schema.uri).glob("*.pbtxt")) if schema is not None else []
    return files[0] if files else None


def resolve_version(pushes: Sequence[ln.Push], serving_dir: str, version: int | None) -> ln.Push:
    """Returns the published version asked for, or the serving one.

    Raises:
        RunError (exit 2): the version is unknown, or nothing serves.
    """
    by_version = {p.version: p for p in pushes}
    known = ", ".join(str(v) for v in by_version) or "none"
    if version is None:
        serving = sd.serving_version(serving_dir)
        if serving is None:
            raise RunError(
                f"nothing serves: {serving_dir} has no integer version folder; run the pipeline until a model is "
                "pushed, or name a version with --version",
                EXIT_USAGE,
            )
        if serving not in by_version:
            raise RunError(
                f"version {serving} serves from {serving_dir}, but ML Metadata records no push or rollback of it "
                f"(it was copied there by something else); versions it knows: {known}",
                EXIT_USAGE,
            )
        return by_version[serving]
    if version not in by_version:
        raise RunError(
            f"version {version} is not a version this home published (published versions: {known}); "
            "`taxi-pipeline models` lists them",
            EXIT_USAGE,
        )
    return by_version[version]


# Keras's TensorBoard callback logs each epoch's validation under this tag, at the optimizer's step.
_STEP_TAG = "evaluation_loss_vs_iterations"


def steps_run(model_run: Any) -> int | None:
    """The training steps the Trainer actually ran (early stopping may end it before train_steps).

    Read from the TensorBoard log Keras wrote into the Trainer's model_run artifact: the step of its
    last validation; None when there is no such log (a run without validation, a removed artifact).
    """
    if model_run is None:
        return None
    from tensorboard.compat.proto import event_pb2

    from runners.store.tfma_files import tfrecords

    last: int | None = None
    try:
        for path in sorted(Path(model_run.uri).glob("validation/events.out.tfevents.*")):
            for record in tfrecords(path):
                event = event_pb2.Event.FromString(record)
                if any(value.tag == _STEP_TAG for value in event.summary.value):
                    last = max(last or 0, int(event.step))
    except (OSError, ValueError):
        return None
    return last
