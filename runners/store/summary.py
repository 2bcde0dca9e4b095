"""The end-of-run summary, read back from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import dataclasses
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from runners.store import artifacts
from runners.store import metadata as md
from runners.store.evaluations import read_blessing_reasons, read_evaluation
from runners.store.importance import read_feature_importance
from runners.store.performance import performance_of_execution
from runners.store.statistics import split_rows

IMPORTANCES_SHOWN = 5


# What TFX's Tuner writes into its best_hyperparameters artifact (keras_tuner's HyperParameters config).
TUNER_BEST_FILE = "best_hyperparameters.txt"


@dataclasses.dataclass
class RunSummary:
    """What a user wants to know when a run ends."""

    run_id: str
    span: int | None = None
    window_spans: list[int] = dataclasses.field(default_factory=list)
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    window_rows: int | None = None
    component_states: dict[str, str] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    slice_metrics: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    blessing_reasons: list[str] = dataclasses.field(default_factory=list)
    pushed: bool = False
    pushed_version: str | None = None
    pushed_path: str | None = None
    evaluation_uri: str | None = None
    report: str | None = None  # the run's HTML report, once written
    # The Trainer's TensorBoard logs (its model_run output): `tensorboard --logdir <this>`.
    tensorboard_dir: str | None = None
    # The Tuner's best values when tuning ran (keras_tuner names), else None.
    tuned_hyperparameters: dict[str, Any] | None = None
    # The largest permutation importances: [{"feature", "importance", "std"}, ...].
    feature_importance: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    feature_importance_metric: str | None = None
    # The FeatureImportance artifact's folder, whose feature_importance.json lists every feature.
    feature_importance_uri: str | None = None
    model_card_path: str | None = None
    # The model serving before this run, scored on this run's span before training
    # (runners.store.performance.SpanPerformance.to_dict); None when no model was serving yet.
    serving_performance: dict[str, Any] | None = None
    # Whether that score fell below a decay floor (decay_min_binary_accuracy / decay_max_accuracy_drop);
    # None when nothing was scored. Printed and exported, never a change of exit status.
    performance_decay: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Returns the summary as plain JSON-able values."""
        return dataclasses.asdict(self)


def summarize(store: metadata_store.MetadataStore, run_id: str) -> RunSummary:
    """Builds the summary of one pipeline run from ML Metadata."""
    summary = RunSummary(run_id=run_id)
    executions = md.run_executions(store, run_id)
    summary.component_states = {node: md.state_name(e) for node, e in executions.items()}

    example_gen = executions.get(ids.EXAMPLE_GEN)
    if example_gen is not None:
        for examples in md.outputs(store, example_gen, "examples"):
            span = md.prop(examples, "span")
            summary.span = span if isinstance(span, int) else None
            statistics = md.statistics_of(store, examples, ids.STATISTICS_GEN)
            if statistics is not None:
                summary.rows = split_rows(statistics.uri)

    transform = executions.get(ids.TRANSFORM)
    if transform is not None:
        window = md.inputs(store, transform, "examples")
        summary.window_spans = sorted(s for s in (md.prop(a, "span") for a in window) if isinstance(s, int))
        total = 0
        for examples in window:
            statistics = md.statistics_of(store, examples, ids.STATISTICS_GEN)
            if statistics is None:
                break
            total += sum(split_rows(statistics.uri).values())
        else:
            summary.window_rows = total

    _read_training_outputs(store, executions, summary)

    scoring = executions.get(ids.SERVING_PERFORMANCE)
    performance = performance_of_execution(store, scoring) if scoring is not None else None
    if performance is not None and performance.scored:
        summary.serving_performance = performance.to_dict()
        summary.performance_decay = performance.decayed

    evaluator = executions.get(ids.EVALUATOR)
    if evaluator is not None:
        evaluation = md.outputs(store, evaluator, "evaluation")
        if evaluation:
            summary.evaluation_uri = evaluation[0].uri
            summary.metrics, summary.slice_metrics = read_evaluation(evaluation[0].uri)
        blessing = md.outputs(store, evaluator, "blessing")
        if blessing:
            summary.blessed = md.prop(blessing[0], "blessed") == 1
            if not summary.blessed and evaluation:
                summary.blessing_reasons = read_blessing_reasons(evaluation[0].uri)

    pusher = executions.get(ids.PUSHER)
    if pusher is not None:
        pushed = md.outputs(store, pusher, "pushed_model")
        if pushed and md.prop(pushed[0], "pushed") == 1:
            summary.pushed = True
            version = md.prop(pushed[0], "pushed_version")
            summary.pushed_version = str(version) if version is not None else None
            destination = md.prop(pushed[0], "pushed_destination")
            summary.pushed_path = str(destination) if destination is not None else None
    return summary


def _read_training_outputs(
    store: metadata_store.MetadataStore, executions: dict[str, md.Execution], summary: RunSummary
) -> None:
    """Fills in the TensorBoard folder, the tuner's best values and the top feature importances."""
    trainer = executions.get(ids.TRAINER)
    if trainer is not None:
        model_run = md.outputs(store, trainer, "model_run")
        if model_run:
            summary.tensorboard_dir = model_run[0].uri
    tuner = executions.get(ids.TUNER)
    if tuner is not None:
        for best in md.outputs(store, tuner, "best_hyperparameters"):
            document = artifacts.read_json_object(best.uri, TUNER_BEST_FILE)
            if document is not None:
                summary.tuned_hyperparameters = document.get("values", {})
    importance = executions.get(ids.FEATURE_IMPORTANCE)
    if importance is not None:
        for artifact in md.outputs(store, importance, "feature_importance"):
            document = read_feature_importance(artifact.uri)
            if document is not None:
                summary.feature_importance_uri = artifact.uri
                summary.feature_importance = document["features"][:IMPORTANCES_SHOWN]
                summary.feature_importance_metric = document["metric"]
