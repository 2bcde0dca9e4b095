"""FeatureImportance: permutation importance of every trained model, in raw feature names, on eval rows.

It runs the exported model through its `serving_default` signature, so the importances speak in the
names a client sends. The computation is pipeline.explanations.permutation_importance.
"""

# No `from __future__ import annotations` here: TFX reads a component function's type hints from
# __annotations__ and needs the classes themselves, not their names as strings. mypy cannot read
# TFX's InputArtifact[...] hints (they are not typing generics), hence the narrow disable below.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,assignment,arg-type"

import json
import logging

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts
from tfx.utils import path_utils

from pipeline import explanations


class FeatureImportance(artifact.Artifact):
    """Global feature importance of one model: feature_importance.json and the baseline row (baseline.json).

    feature_importance.json: {"metric", "baseline_score", "rows", "repeats", "features": [{"feature",
    "importance", "std"}, ...]} sorted by importance, largest first. baseline.json: the typical row
    (training medians and most frequent values) that per-prediction explanations ablate towards.
    Custom properties `metric`, `baseline_score` and `top_features` (JSON of the five largest).
    """

    # `<module>.<Class>`: KubeflowV2DagRunner only compiles custom types named so (see DriftReport).
    TYPE_NAME = "pipeline.FeatureImportance"


@component
def FeatureImportanceComponent(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    feature_importance: OutputArtifact[FeatureImportance],
    max_rows: Parameter[int] = 2000,
    repeats: Parameter[int] = 3,
    seed: Parameter[int] = 0,
    metric: Parameter[str] = "auc",
) -> None:
    """Computes permutation importance on the eval split of `examples`.

    Args:
        model: the Trainer's model.
        examples: raw Examples whose eval split the model was not trained on (this run's span).
        statistics: their StatisticsGen output, for the baseline row (train split).
        feature_importance: where the results go.
        max_rows: eval rows used at most (a seeded sample): the cost grows with rows x features x repeats.
        repeats: shuffles per feature.
        seed: seeds the sample and the shuffles.
        metric: "auc" or "log_loss".
    """
    loaded = explanations.load_model(path_utils.serving_model_path(model.uri))
    kinds = explanations.raw_input_spec(loaded)
    serialized = explanations.read_examples(examples.uri, "eval", max_rows, seed)
    columns = explanations.examples_to_columns(serialized, kinds)
    labels = explanations.labels_of(loaded, serialized)
    result = explanations.permutation_importance(
        explanations.raw_predictor(loaded), columns, labels, metric=metric, repeats=repeats, seed=seed
    )
    explanations.write_json(feature_importance.uri, explanations.IMPORTANCE_FILE, result)
    explanations.write_json(
        feature_importance.uri, explanations.BASELINE_FILE, explanations.baseline_row(statistics.uri, kinds)
    )
    top = {f["feature"]: round(f["importance"], 6) for f in result["features"][:5]}
    feature_importance.set_string_custom_property("metric", metric)
    feature_importance.set_float_custom_property("baseline_score", result["baseline_score"])
    feature_importance.set_string_custom_property("top_features", json.dumps(top))
    logging.info("Permutation importance (%s drop, %d rows): %s", metric, result["rows"], top)
