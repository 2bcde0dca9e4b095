"""What a run report shows, gathered from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from pipeline.config import PipelineConfig
from runners.store import lineage as ln
from runners.store import metadata as md
from runners.store.evaluations import ModelEvaluation, read_model_evaluation
from runners.store.statistics import FeatureStatistics, read_schema, read_split_statistics


@dataclasses.dataclass
class ComponentRun:
    """One component's execution in the run."""

    node: str
    state: str
    started: float
    seconds: float


@dataclasses.dataclass
class ReportData:
    """Everything a run report shows."""

    run_id: str
    pipeline_name: str
    home: str
    started: float | None
    ended: float | None
    components: list[ComponentRun]
    summary: Any  # runners.store.summary.RunSummary
    statistics: dict[str, list[FeatureStatistics]]
    statistics_uri: str | None
    gate: Any  # runners.store.gates.GateReport | None
    gate_passed: bool | None
    evaluation: ModelEvaluation | None
    baseline_model: dict[str, Any] | None
    lineage: dict[str, Any] | None
    generated: float
    # The run's feature_importance.json (see runners.store.importance.read_feature_importance), if it has one.
    importance: dict[str, Any] | None = None
    # The pushed version's model card (runners/reports/model_card.py), if one was written.
    model_card: str | None = None
    # The DAG as this run executed it: (producer node, consumer node) for each artifact handed on.
    edges: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # TFMA's plots of the candidate, by slice name (runners.store.plots.read_plots).
    plots: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The Trainer's loss and metrics per epoch (runners.store.plots.read_history), if it wrote them.
    history: dict[str, list[float]] | None = None

    @property
    def trained(self) -> bool:
        """Whether the run got as far as a Trainer."""
        return any(c.node == ids.TRAINER for c in self.components)


def _run_started(store: metadata_store.MetadataStore, run_id: str) -> float | None:
    context = md.run_context(store, run_id)
    return ln.seconds(context.create_time_since_epoch) if context is not None else None


def run_edges(store: metadata_store.MetadataStore, executions: dict[str, Any]) -> list[tuple[str, str]]:
    """(producer, consumer) node pairs of the run: an artifact one execution output and another took as input."""
    by_id = {execution.id: node for node, execution in executions.items()}
    events = store.get_events_by_execution_ids(list(by_id))
    outputs = {e.artifact_id: by_id[e.execution_id] for e in events if e.type in (e.OUTPUT, e.DECLARED_OUTPUT)}
    pairs = {
        (outputs[e.artifact_id], by_id[e.execution_id])
        for e in events
        if e.type in (e.INPUT, e.DECLARED_INPUT) and e.artifact_id in outputs
    }
    return sorted(pairs)


def gather(store: metadata_store.MetadataStore, config: PipelineConfig, run_id: str) -> ReportData:
    """Reads what the report of one run shows from ML Metadata and the artifacts it points to.

    Args:
        store: the home's ML Metadata.
        config: the configuration (pipeline name, gate policy, home).
        run_id: the pipeline run.

    Returns:
        The report's data; parts the run did not reach (a run stopped at the data gate has no
        evaluation) are empty or None.
    """
    import time

    from runners import pipeline_args
    from runners.reports.model_card import card_path
    from runners.store import gates
    from runners.store.importance import read_feature_importance
    from runners.store.plots import read_history, read_plots
    from runners.store.summary import summarize

    executions = md.run_executions(store, run_id)
    components = [
        ComponentRun(
            node=node,
            state=md.state_name(execution),
            started=ln.seconds(execution.create_time_since_epoch),
            seconds=max(0.0, ln.seconds(execution.last_update_time_since_epoch - execution.create_time_since_epoch)),
        )
        for node, execution in sorted(executions.items(), key=lambda item: item[1].id)
        if md.execution_type_name(store, execution) != ln.RESOLVER_TYPE
    ]
    summary = summarize(store, run_id)

    statistics: dict[str, list[FeatureStatistics]] = {}
    statistics_uri = None
    example_gen = executions.get(ids.EXAMPLE_GEN)
    examples = md.outputs(store, example_gen, "examples") if example_gen is not None else []
    if examples:
        artifact = md.statistics_of(store, examples[0], ids.STATISTICS_GEN)
        if artifact is not None:
            statistics_uri = artifact.uri
            # The schema StatisticsGen was given gives the features' types (see feature_statistics).
            producer = md.producer(store, artifact)
            schemas = md.inputs(store, producer, "schema") if producer is not None else []
            schema = read_schema(schemas[0].uri) if schemas else None
            statistics = read_split_statistics(artifact.uri, schema)

    gate = gates.read_gate_report(store, run_id, pipeline_args.policy_of(config))
    gate_execution = executions.get(ids.DATA_GATE)
    gate_passed = None
    if gate_execution is not None:
        gate_passed = gate_execution.last_known_state in (md.Execution.COMPLETE, md.Execution.CACHED)

    evaluation = None
    baseline_model = None
    evaluator = executions.get(ids.EVALUATOR)
    if evaluator is not None and summary.evaluation_uri:
        configured = md.prop(evaluator, "eval_config")
        evaluation = read_model_evaluation(summary.evaluation_uri, configured if isinstance(configured, str) else None)
        baseline = md.inputs(store, evaluator, "baseline_model")
        if baseline:
            pushed = [p for p in ln.find_pushes(store, config.pipeline_name) if p.model_id == baseline[0].id]
            baseline_model = {
                "id": baseline[0].id,
                "uri": baseline[0].uri,
                "versions": sorted({p.version for p in pushed}),
            }

    lineage = None
    trainer = executions.get(ids.TRAINER)
    models = md.outputs(store, trainer, "model") if trainer is not None else []
    if models:
        lineage = ln.model_lineage(store, models[0])
    model_runs = md.outputs(store, trainer, "model_run") if trainer is not None else []
    history = read_history(model_runs[0].uri) if model_runs else None
    plots = read_plots(summary.evaluation_uri) if evaluation is not None and summary.evaluation_uri else {}

    importance = read_feature_importance(summary.feature_importance_uri) if summary.feature_importance_uri else None
    model_card = None
    if summary.pushed and summary.pushed_version is not None:
        card = card_path(config.home, summary.pushed_version)
        model_card = str(card.resolve()) if card.is_file() else None

    records = {r.run_id: r for r in ln.list_runs(store, config.pipeline_name)}
    record = records.get(run_id)
    return ReportData(
        run_id=run_id,
        pipeline_name=config.pipeline_name,
        home=str(Path(config.home).resolve()),
        started=record.started if record is not None else _run_started(store, run_id),
        ended=record.ended if record is not None else None,
        components=components,
        summary=summary,
        statistics=statistics,
        statistics_uri=statistics_uri,
        gate=gate,
        gate_passed=gate_passed,
        evaluation=evaluation,
        baseline_model=baseline_model,
        lineage=lineage,
        generated=time.time(),
        importance=importance,
        model_card=model_card,
        edges=run_edges(store, executions),
        plots=plots,
        history=history,
    )


_PLAIN = (str, int, float, bool, type(None))


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


def _jsonable(value: Any) -> Any:
    """Plain JSON values of the report's dataclasses, lists and dicts (tuple keys joined, floats kept).

    Plain values are tested first and field names cached per class: TFMA's curves make this tens of
    thousands of small records, which dominated `report --json`.
    """
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else "/".join(map(str, k)) if isinstance(k, tuple) else str(k): _jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _jsonable(getattr(value, name)) for name in _field_names(type(value))}
    return str(value)


def report_json(data: ReportData) -> dict[str, Any]:
    """What `report --json` prints: the report's data, with each feature's missing share and each split's rows.

    The statistics say per split and feature how many rows hold a value (`present`), how many do not
    (`missing`, whatever form the empty cell took) and the share; the gate its verdict and drift rows.
    """
    document: dict[str, Any] = _jsonable(data)
    document["statistics"] = {
        split: [{**_jsonable(row), "missing_share": row.missing_share} for row in rows]
        for split, rows in data.statistics.items()
    }
    if data.gate is not None:
        verdict = data.gate.verdict
        document["gate"]["verdict"] = {
            "stopped": verdict.stopped,
            "reasons": verdict.reasons(),
            "warnings": verdict.warnings(),
            "anomalies": _jsonable(verdict.anomalies),
            "drift": [row.to_dict() for row in verdict.drift],
        }
    return document
