"""ServingModelPerformance: the model serving now, scored on the whole newly arrived span before training.

Each span carries the true labels of trips the serving model would have scored: its accuracy there is
production accuracy with delayed labels, the signal of concept drift. TFMA scores it with the Evaluator's
model spec (the serving_tf_example signature), metrics and slices (pipeline/eval_config.py, no
thresholds) in a Beam pipeline built from the pipeline's beam_pipeline_args, so it runs where the
Evaluator runs (DirectRunner locally, Dataflow on Vertex when the args say so). TFMA's output stays in
the artifact folder (tfma.load_eval_result reads it as an Evaluator's); performance.json holds the
numbers the runners read (pipeline/serving_performance.py, which also holds the decay rule).
"""

# No `from __future__ import annotations`: TFX reads the component function's type hints themselves
# (see feature_importance.py), and mypy cannot read TFX's InputArtifact[...] hints.
# mypy: disable-error-code="type-arg,attr-defined,call-overload,assignment,arg-type,valid-type"

import logging
from typing import Any

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.slicer import slicer_lib
from tfx.components.util import tfxio_utils
from tfx.dsl.component.experimental.annotations import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, artifact_utils, standard_artifacts
from tfx.utils import io_utils, path_utils
from tfx_bsl.tfxio import tensor_adapter

from pipeline import explanations
from pipeline.accepted_spans import examples_span
from pipeline.eval_config import create_scoring_config
from pipeline.serving_performance import ACCURACY, AUC, EXTRA_METRICS, OVERALL, PERFORMANCE_FILE, span_metrics

_TELEMETRY = ["ServingModelPerformance"]


class ServingModelPerformance(artifact.Artifact):
    """One model's metrics on one span it was not trained on: TFMA's output and performance.json.

    performance.json: {"scored", "span", "model_uri", "min_binary_accuracy", "max_accuracy_drop",
    "splits", "overall": metrics, "slices": {...}} (see pipeline.serving_performance.span_metrics);
    "scored" is false, with a "reason", when no model was serving yet. Beside it TFMA's own files
    (metrics, plots, eval config) of the same evaluation. Custom properties `span`, `scored`,
    `binary_accuracy`, `auc` and `rows`. The execution that made it links it to the span (its
    `examples` input) and to the model (its `model` input).
    """

    # `<module>.<Class>`: KubeflowV2DagRunner only compiles custom types named so (see DriftReport).
    TYPE_NAME = "pipeline.ServingModelPerformance"


def _slice_name(slice_key: Any) -> str:
    """OVERALL, or "feature=value" as pipeline.serving_performance names slices."""
    key = slicer_lib.deserialize_slice_key(slice_key)
    parts = [f"{column}={value.decode() if isinstance(value, bytes) else value}" for column, value in key]
    return ", ".join(parts) or OVERALL


def read_tfma_metrics(output_path: str) -> dict[str, dict[str, float]]:
    """TFMA's plain metrics of one model (tfma.load_metrics): slice name -> metric name -> value."""
    by_slice: dict[str, dict[str, float]] = {}
    for record in tfma.load_metrics(output_path):
        values = by_slice.setdefault(_slice_name(record.slice_key), {})
        for item in record.metric_keys_and_values:
            if item.value.WhichOneof("type") == "double_value" and not item.key.sub_key.ByteSize():
                values[item.key.name] = item.value.double_value.value
    return by_slice


def run_tfma(
    beam_pipeline: Any, examples: Any, schema_uri: str, model_uri: str, splits: list[str], output_path: str
) -> None:
    """Scores the model on the given splits of `examples` with TFMA, as the Evaluator reads and scores them."""
    eval_config = create_scoring_config(EXTRA_METRICS)
    eval_shared_model = tfma.default_eval_shared_model(
        eval_saved_model_path=path_utils.serving_model_path(model_uri), eval_config=eval_config
    )
    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
    factory = tfxio_utils.get_tfxio_factory_from_artifact(
        examples=[examples],
        telemetry_descriptors=_TELEMETRY,
        schema=schema,
        raw_record_column_name=tfma.ARROW_INPUT_COLUMN,
    )
    with beam_pipeline as pipeline:
        reads = []
        for split in splits:
            tfxio = factory(io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split)))
            reads.append(pipeline | f"Read[{split}]" >> tfxio.BeamSource())
        _ = (
            reads
            | "Flatten" >> beam.Flatten()
            | "ExtractEvaluateAndWriteResults"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=eval_shared_model,
                eval_config=eval_config,
                output_path=output_path,
                tensor_adapter_config=tensor_adapter.TensorAdapterConfig(
                    arrow_schema=tfxio.ArrowSchema(), tensor_representations=tfxio.TensorRepresentations()
                ),
            )
        )


@component(use_beam=True)
def ServingModelPerformanceComponent(
    examples: InputArtifact[standard_artifacts.Examples],
    schema: InputArtifact[standard_artifacts.Schema],
    performance: OutputArtifact[ServingModelPerformance],
    model: InputArtifact[standard_artifacts.Model] = None,
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing] = None,
    min_binary_accuracy: Parameter[float] = 0.0,
    max_accuracy_drop: Parameter[float] = 1.0,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Scores the latest blessed model with TFMA on every split of the new span's Examples.

    Args:
        examples: the span that just arrived (ExampleGen's output, past the data gate).
        schema: the curated schema, which TFMA reads the examples with (as the Evaluator does).
        performance: where the metrics go.
        model: the latest blessed model (the resolver's; absent before the first blessing).
        model_blessing: its blessing, which links to the evaluation it was blessed on.
        min_binary_accuracy: the decay floor, recorded with the metrics for the runners to judge.
        max_accuracy_drop: the allowed drop below the model's own evaluation, recorded likewise.
        beam_pipeline: a Beam pipeline with the pipeline's beam_pipeline_args (TFX passes it).
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
    # Every split: the whole span is new to the serving model, train and eval alike.
    splits = sorted(artifact_utils.decode_split_names(examples.split_names))
    run_tfma(beam_pipeline, examples, schema.uri, model.uri, splits, performance.uri)
    metrics = span_metrics(read_tfma_metrics(performance.uri))
    document.update(scored=True, splits=splits, **metrics)
    explanations.write_json(performance.uri, PERFORMANCE_FILE, document)
    overall = metrics["overall"]
    performance.set_int_custom_property("scored", 1)
    performance.set_int_custom_property("rows", overall["rows"])
    if overall[ACCURACY] is not None:
        performance.set_float_custom_property(ACCURACY, overall[ACCURACY])
    if overall[AUC] is not None:
        performance.set_float_custom_property(AUC, overall[AUC])
    logging.info("Serving model performance on span %d: %s", span, overall)
