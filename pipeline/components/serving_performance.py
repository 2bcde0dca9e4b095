"""ServingModelPerformance: the model serving now, scored on the whole newly arrived span before training.

Each span carries the true labels of trips the serving model would have scored: its accuracy there is
production accuracy with delayed labels, the signal of concept drift. The arithmetic (and the decay
rule the runners apply) is pipeline/serving_performance.py.
"""

# No `from __future__ import annotations`: TFX reads the component function's type hints themselves
# (see feature_importance.py), and mypy cannot read TFX's InputArtifact[...] hints.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,assignment,arg-type"

import logging

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import path_utils

from models.features import SLICE_FEATURES
from pipeline import explanations
from pipeline.accepted_spans import examples_span
from pipeline.serving_performance import ACCURACY, AUC, PERFORMANCE_FILE, score_span

# ExampleGen's splits: the whole span is new to the serving model, train and eval alike.
SPLITS = ("train", "eval")
# Rows scored at most (a seeded sample beyond): one pass of one model.
MAX_ROWS = 200_000


class ServingModelPerformance(artifact.Artifact):
    """One model's metrics on one span it was not trained on: performance.json.

    performance.json: {"scored", "span", "model_uri", "min_binary_accuracy", "max_accuracy_drop",
    "overall": metrics, "slices": {...}} (see pipeline.serving_performance.score_span); "scored" is
    false, with a "reason", when no model was serving yet. Custom properties `span`, `scored`,
    `binary_accuracy`, `auc` and `rows`. The execution that made it links it to the span (its
    `examples` input) and to the model (its `model` input).
    """

    # `<module>.<Class>`: KubeflowV2DagRunner only compiles custom types named so (see DriftReport).
    TYPE_NAME = "pipeline.ServingModelPerformance"


@component
def ServingModelPerformanceComponent(
    examples: InputArtifact[standard_artifacts.Examples],
    performance: OutputArtifact[ServingModelPerformance],
    model: InputArtifact[standard_artifacts.Model] = None,
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing] = None,
    min_binary_accuracy: Parameter[float] = 0.0,
    max_accuracy_drop: Parameter[float] = 1.0,
) -> None:
    """Scores the latest blessed model on every split of the new span's Examples.

    Args:
        examples: the span that just arrived (ExampleGen's output, past the data gate).
        performance: where the metrics go.
        model: the latest blessed model (the resolver's; absent before the first blessing).
        model_blessing: its blessing, which links to the evaluation it was blessed on.
        min_binary_accuracy: the decay floor, recorded with the metrics for the runners to judge.
        max_accuracy_drop: the allowed drop below the model's own evaluation, recorded likewise.
    """
    span = examples_span(examples)
    document = {
        "span": span,
        "min_binary_accuracy": min_binary_accuracy,
        "max_accuracy_drop": max_accuracy_drop,
        "model_uri": model.uri if model is not None else None,
        "blessing_uri": model_blessing.uri if model_blessing is not None else None,
    }
    performance.set_int_custom_property("span", span)
    if model is None:
        document.update(scored=False, reason="no blessed model yet")
        performance.set_int_custom_property("scored", 0)
        explanations.write_json(performance.uri, PERFORMANCE_FILE, document)
        logging.info("Serving model performance on span %d: no blessed model yet.", span)
        return
    loaded = explanations.load_model(path_utils.serving_model_path(model.uri))
    kinds = explanations.raw_input_spec(loaded)
    serialized: list[bytes] = []
    for split in SPLITS:
        serialized += explanations.read_examples(examples.uri, split, MAX_ROWS, seed=0)
    columns = explanations.examples_to_columns(serialized, kinds)
    labels = explanations.labels_of(loaded, serialized)
    scores = explanations.raw_predictor(loaded)(columns)
    metrics = score_span(labels, scores, {name: columns[name] for name in SLICE_FEATURES if name in columns})
    document.update(scored=True, **metrics)
    explanations.write_json(performance.uri, PERFORMANCE_FILE, document)
    overall = metrics["overall"]
    performance.set_int_custom_property("scored", 1)
    performance.set_int_custom_property("rows", overall["rows"])
    performance.set_float_custom_property(ACCURACY, overall[ACCURACY])
    if overall[AUC] is not None:
        performance.set_float_custom_property(AUC, overall[AUC])
    logging.info("Serving model performance on span %d: %s", span, overall)
