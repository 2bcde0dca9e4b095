"""The end-of-run summary, read back from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import pipeline as taxi_pipeline
from runners import metadata as md
from runners.explain import read_feature_importance

IMPORTANCES_SHOWN = 5
HEADLINE_METRICS = ("binary_accuracy", "auc", "precision", "recall", "calibration", "example_count")


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

    def to_dict(self) -> dict[str, Any]:
        """Returns the summary as plain JSON-able values."""
        return dataclasses.asdict(self)


def _split_rows(statistics_uri: str) -> dict[str, int]:
    """Reads example counts per split from a StatisticsGen artifact."""
    from tensorflow_data_validation import load_stats_binary

    rows: dict[str, int] = {}
    for split_dir in sorted(Path(statistics_uri).glob("Split-*")):
        stats_file = split_dir / "FeatureStats.pb"
        if stats_file.exists():
            stats = load_stats_binary(str(stats_file))
            rows[split_dir.name.removeprefix("Split-")] = sum(d.num_examples for d in stats.datasets)
    return rows


def _metric_values(metrics: dict[str, Any]) -> dict[str, float]:
    """Flattens TFMA's {output: {sub_key: {metric: {"doubleValue": x}}}} for the default output."""
    values: dict[str, float] = {}
    for by_sub_key in metrics.values():
        for metric_map in by_sub_key.values():
            for name, value in metric_map.items():
                raw: Any = value.get("doubleValue") if isinstance(value, dict) else None
                try:
                    number = float(raw)  # TFMA writes undefined values as the string "NaN"
                except (TypeError, ValueError):
                    continue
                if not math.isnan(number):
                    values[name] = number
    return values


def slice_name(slice_key: Any) -> str:
    """Returns "overall" or "feature=value" for a TFMA slice key."""
    if not slice_key:
        return "overall"
    return ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key)


def read_evaluation(uri: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Loads TFMA metrics: (overall metrics, slice name -> metrics)."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(uri)
    overall: dict[str, float] = {}
    per_slice: dict[str, dict[str, float]] = {}
    for slice_key, metrics in result.slicing_metrics:
        values = _metric_values(metrics)
        per_slice[slice_name(slice_key)] = values
        if not slice_key:
            overall = values
    return overall, per_slice


def read_blessing_reasons(uri: str) -> list[str]:
    """Explains TFMA's validation result in words, one line per failed threshold."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    result = tfma.load_validation_result(uri)
    if result.validation_ok:
        return []
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(slicer_lib.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            metric = failure.metric_key.name
            if failure.metric_key.is_diff:
                metric += " (change vs baseline)"
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if threshold.HasField("value_threshold"):
                bound = threshold.value_threshold.lower_bound.value
                reasons.append(f"{where}: {metric} = {value:.4f}, below the required {bound:.4f}")
            else:
                bound = threshold.change_threshold.absolute.value
                reasons.append(f"{where}: {metric} = {value:+.4f}, beyond the allowed change {bound:+.4g}")
    for spec in result.missing_slices:
        keys = ", ".join(spec.feature_keys) or "overall"
        reasons.append(f"slice {keys}: no examples to evaluate, so its thresholds could not be checked")
    # A bool in TFMA 0.47's proto3 (no presence to test): a threshold whose metric was not computed.
    if result.missing_thresholds:
        reasons.append("a threshold names a metric the evaluation did not compute (see the eval config)")
    if not reasons:
        reasons.append("TFMA's validation did not pass (see the evaluation output for details)")
    return reasons


def summarize(store: metadata_store.MetadataStore, run_id: str) -> RunSummary:
    """Builds the summary of one pipeline run from ML Metadata."""
    summary = RunSummary(run_id=run_id)
    executions = md.run_executions(store, run_id)
    summary.component_states = {node: md.state_name(e) for node, e in executions.items()}

    example_gen = executions.get(taxi_pipeline.EXAMPLE_GEN)
    if example_gen is not None:
        for examples in md.outputs(store, example_gen, "examples"):
            span = md.prop(examples, "span")
            summary.span = span if isinstance(span, int) else None
            statistics = md.statistics_of(store, examples, taxi_pipeline.STATISTICS_GEN)
            if statistics is not None:
                summary.rows = _split_rows(statistics.uri)

    transform = executions.get(taxi_pipeline.TRANSFORM)
    if transform is not None:
        window = md.inputs(store, transform, "examples")
        summary.window_spans = sorted(s for s in (md.prop(a, "span") for a in window) if isinstance(s, int))
        total = 0
        for examples in window:
            statistics = md.statistics_of(store, examples, taxi_pipeline.STATISTICS_GEN)
            if statistics is None:
                break
            total += sum(_split_rows(statistics.uri).values())
        else:
            summary.window_rows = total

    _read_training_outputs(store, executions, summary)

    evaluator = executions.get(taxi_pipeline.EVALUATOR)
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

    pusher = executions.get(taxi_pipeline.PUSHER)
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
    import json

    trainer = executions.get(taxi_pipeline.TRAINER)
    if trainer is not None:
        model_run = md.outputs(store, trainer, "model_run")
        if model_run:
            summary.tensorboard_dir = model_run[0].uri
    tuner = executions.get(taxi_pipeline.TUNER)
    if tuner is not None:
        for best in md.outputs(store, tuner, "best_hyperparameters"):
            path = Path(best.uri) / "best_hyperparameters.txt"
            if path.is_file():
                summary.tuned_hyperparameters = json.loads(path.read_text()).get("values", {})
    importance = executions.get(taxi_pipeline.FEATURE_IMPORTANCE)
    if importance is not None:
        for artifact in md.outputs(store, importance, "feature_importance"):
            document = read_feature_importance(artifact.uri)
            if document is not None:
                summary.feature_importance_uri = artifact.uri
                summary.feature_importance = document["features"][:IMPORTANCES_SHOWN]
                summary.feature_importance_metric = document["metric"]


def format_summary(summary: RunSummary) -> str:
    """Renders the summary for the console."""
    lines = [f"Run {summary.run_id}"]
    if summary.span is not None:
        split_rows = ", ".join(f"{k} {v:,}" for k, v in summary.rows.items())
        lines.append(f"  span ingested : {summary.span} ({sum(summary.rows.values()):,} rows: {split_rows})")
    if summary.window_spans:
        rows = f", {summary.window_rows:,} rows" if summary.window_rows is not None else ""
        lines.append(f"  training on   : spans {', '.join(map(str, summary.window_spans))}{rows}")
    if summary.metrics:
        shown = "  ".join(
            f"{name}={summary.metrics[name]:.4f}" if name != "example_count" else f"{name}={int(summary.metrics[name])}"
            for name in HEADLINE_METRICS
            if name in summary.metrics
        )
        lines.append(f"  eval metrics  : {shown}")
    if summary.blessed is not None:
        if summary.blessed:
            lines.append("  blessed       : yes, every threshold passed")
        else:
            lines.append("  blessed       : NO")
            lines.extend(f"                  - {reason}" for reason in summary.blessing_reasons)
    if summary.tuned_hyperparameters is not None:
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(summary.tuned_hyperparameters.items())
        )
        lines.append(f"  tuned         : {shown}")
    if summary.feature_importance:
        shown = ", ".join(f"{f['feature']} {f['importance']:+.3f}" for f in summary.feature_importance)
        lines.append(f"  top features  : {shown} ({summary.feature_importance_metric} drop when shuffled)")
    if summary.tensorboard_dir:
        lines.append(f"  tensorboard   : tensorboard --logdir {summary.tensorboard_dir}")
    if summary.pushed:
        lines.append(f"  pushed        : version {summary.pushed_version} -> {summary.pushed_path}")
    elif summary.blessed is not None:
        lines.append("  pushed        : nothing (the model was not blessed)")
    if summary.model_card_path:
        lines.append(f"  model card    : {summary.model_card_path}")
    return "\n".join(lines)
