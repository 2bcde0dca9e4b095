"""The serving model's performance on each newly arrived span, read back from ML Metadata.

The ServingModelPerformance component (pipeline/components/serving_performance.py) scores the latest
blessed model on the whole new span before training; this module finds those records, ties each to
its span, its model and the version that model was published as, and judges decay against the
floors recorded with it (pipeline/serving_performance.py holds the rule).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ml_metadata.metadata_store import metadata_store

from pipeline import ids
from pipeline.serving_performance import ACCURACY, AUC, PERFORMANCE_FILE, decay_reasons
from runners.store import metadata as md
from runners.store.artifacts import CorruptArtifactError, read_json_object
from runners.store.evaluations import read_evaluation
from runners.store.lineage import find_pushes, seconds

_REQUIRED = ("span", "scored")


@dataclasses.dataclass
class SpanPerformance:
    """One model scored on one span it had not seen, and whether that is decay."""

    run_id: str
    execution_id: int
    scored_at: float  # seconds since the epoch
    span: int
    model_id: int | None
    model_uri: str | None
    version: int | None  # the version the model was first published as, when it was
    rows: int | None
    binary_accuracy: float | None
    auc: float | None
    # The model's own evaluation (the Evaluator's, when it was blessed).
    reference_accuracy: float | None
    reference_auc: float | None
    min_binary_accuracy: float
    max_accuracy_drop: float
    slices: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    reasons: list[str] = dataclasses.field(default_factory=list)
    performance_uri: str = ""

    @property
    def scored(self) -> bool:
        """False when no model was serving yet."""
        return self.binary_accuracy is not None

    @property
    def decayed(self) -> bool:
        """Whether the accuracy on the span fell below a floor."""
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, with `decayed`."""
        return {**dataclasses.asdict(self), "decayed": self.decayed}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _checked(document: dict[str, Any], uri: str) -> dict[str, Any]:
    """performance.json as ServingModelPerformance writes it, else CorruptArtifactError naming the file.

    The fields this module turns into numbers: a span that is an integer, floats that are numbers,
    overall metrics and slices that are objects of numbers.
    """
    problem = ""
    overall = document.get("overall")
    slices = document.get("slices")
    if not isinstance(document["span"], int) or isinstance(document["span"], bool):
        problem = f"holds span {document['span']!r:.40}, not an integer"
    elif not isinstance(document["scored"], bool):
        problem = f"holds scored {document['scored']!r:.40}, not true or false"
    elif any(not _is_number(document.get(key, 0)) for key in ("min_binary_accuracy", "max_accuracy_drop")):
        problem = "holds a min_binary_accuracy or max_accuracy_drop that is not a number"
    elif overall is not None and not (
        isinstance(overall, dict) and all(_is_number(overall.get(k, 0)) for k in ("rows", ACCURACY, AUC))
    ):
        problem = f"holds overall metrics that are not {{rows, {ACCURACY}, {AUC}: number}}"
    elif slices is not None and not (isinstance(slices, dict) and all(isinstance(v, dict) for v in slices.values())):
        problem = "holds slices that are not {slice: {metric: number}}"
    if problem:
        raise CorruptArtifactError(f"{uri.rstrip('/')}/{PERFORMANCE_FILE}", problem)
    return document


def _reference(store: metadata_store.MetadataStore, blessing: md.Artifact | None) -> dict[str, float]:
    """The overall metrics of the evaluation the model was blessed on (same Evaluator execution)."""
    evaluator = md.producer(store, blessing) if blessing is not None else None
    evaluation = md.outputs(store, evaluator, "evaluation") if evaluator is not None else []
    return read_evaluation(evaluation[0].uri)[0] if evaluation else {}


def _record(
    store: metadata_store.MetadataStore, execution: md.Execution, versions: dict[int, int]
) -> SpanPerformance | None:
    outputs = md.outputs(store, execution, "performance")
    document = read_json_object(outputs[0].uri, PERFORMANCE_FILE, required=_REQUIRED) if outputs else None
    if document is None:
        return None
    document = _checked(document, outputs[0].uri)
    models = md.inputs(store, execution, "model")
    blessings = md.inputs(store, execution, "model_blessing")
    model = models[0] if models else None
    overall = document.get("overall") or {} if document["scored"] else {}
    reference = _reference(store, blessings[0] if blessings else None) if model is not None else {}
    record = SpanPerformance(
        run_id=md.run_id_of(store, execution),
        execution_id=execution.id,
        scored_at=seconds(execution.last_update_time_since_epoch),
        span=int(document["span"]),
        model_id=model.id if model is not None else None,
        model_uri=model.uri if model is not None else None,
        version=versions.get(model.id) if model is not None else None,
        rows=overall.get("rows"),
        binary_accuracy=overall.get(ACCURACY),
        auc=overall.get(AUC),
        reference_accuracy=reference.get(ACCURACY),
        reference_auc=reference.get(AUC),
        min_binary_accuracy=float(document.get("min_binary_accuracy", 0.0)),
        max_accuracy_drop=float(document.get("max_accuracy_drop", 1.0)),
        slices=dict(document.get("slices") or {}),
        performance_uri=outputs[0].uri,
    )
    if record.binary_accuracy is not None:
        record.reasons = decay_reasons(
            record.binary_accuracy, record.reference_accuracy, record.min_binary_accuracy, record.max_accuracy_drop
        )
    return record


def _first_versions(store: metadata_store.MetadataStore, pipeline_name: str) -> dict[int, int]:
    """Model artifact id -> the version it was first published as (a rollback republishes under a new one)."""
    versions: dict[int, int] = {}
    for push in find_pushes(store, pipeline_name):
        versions.setdefault(push.model_id, push.version)
    return versions


def performance_of_execution(store: metadata_store.MetadataStore, execution: md.Execution) -> SpanPerformance | None:
    """The record one ServingModelPerformance execution left (a cached one repeats its earlier record)."""
    suffix = "." + ids.SERVING_PERFORMANCE
    # The execution's node context is `<pipeline>.<node id>` (md.node_context_name).
    names = [c.name for c in store.get_contexts_by_execution(execution.id) if c.name.endswith(suffix)]
    pipeline_name = names[0][: -len(suffix)] if names else ""
    return _record(store, execution, _first_versions(store, pipeline_name) if pipeline_name else {})


def list_performance(store: metadata_store.MetadataStore, pipeline_name: str) -> list[SpanPerformance]:
    """Every span a serving model was scored on, oldest first; cached executions are counted once.

    Records without a model (the first span of a home) are left out.
    """
    versions = _first_versions(store, pipeline_name)
    found: dict[int, SpanPerformance] = {}
    for execution in md.node_executions(store, pipeline_name, ids.SERVING_PERFORMANCE):
        if execution.last_known_state not in (md.Execution.COMPLETE, md.Execution.CACHED):
            continue
        record = _record(store, execution, versions)
        outputs = md.outputs(store, execution, "performance")
        if record is None or not record.scored or not outputs or outputs[0].id in found:
            continue
        found[outputs[0].id] = record
    return sorted(found.values(), key=lambda r: (r.scored_at, r.execution_id))
