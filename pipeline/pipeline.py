"""The taxi pipeline as a pure builder: arguments in, a tfx Pipeline out, no I/O and no globals.

Model code is referred to by dotted strings only, so this module never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from pipeline.eval_config import create_eval_config
from pipeline.span_window import SpanWindowStrategy

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
SPAN_PATTERN = "span-{SPAN}/*.csv"

# Stable component ids: ML Metadata, the CLI and the tests find nodes by them.
EXAMPLE_GEN = "example_gen"
STATISTICS_GEN = "statistics_gen"
SCHEMA_IMPORTER = "schema_importer"
EXAMPLE_VALIDATOR = "example_validator"
SPAN_WINDOW = "span_window_resolver"
TRANSFORM = "transform"
TRAINER = "trainer"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "evaluator"
PUSHER = "pusher"

# The part of the pipeline that ingests and validates a single span.
INGEST_COMPONENTS = (EXAMPLE_GEN, STATISTICS_GEN, SCHEMA_IMPORTER, EXAMPLE_VALIDATOR)
COMPONENTS = (*INGEST_COMPONENTS, TRANSFORM, TRAINER, EVALUATOR, PUSHER)
RESOLVERS = (SPAN_WINDOW, BASELINE_RESOLVER)


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_path: str,
    serving_dir: str,
    span: int | None = None,
    window_spans: int = 4,
    train_steps: int = 2000,
    eval_steps: int = 200,
    hyperparameters: dict[str, Any] | None = None,
    code_fingerprint: str = "",
    min_binary_accuracy: float = 0.7,
    max_accuracy_drop: float = 1e-10,
    ingest_only: bool = False,
    enable_cache: bool = True,
    metadata_connection_config: Any = None,
    beam_pipeline_args: Sequence[str] = (),
) -> tfx.dsl.Pipeline:
    """Builds the pipeline.

    Args:
        pipeline_name: name recorded in ML Metadata; runs with the same name share history.
        pipeline_root: where artifacts are written.
        data_root: folder holding `span-<N>/` folders of CSV files.
        schema_path: the curated schema (schema.pbtxt).
        serving_dir: Pusher destination; versions are integer-named subfolders.
        span: span to ingest; None ingests the newest span under data_root.
        window_spans: how many of the most recent ingested spans (up to `span`) Transform and
            Trainer see.
        train_steps: Trainer steps.
        eval_steps: Trainer validation steps.
        hyperparameters: passed to run_fn through custom_config.
        code_fingerprint: digest of the model code; recorded so a code change re-runs
            Transform and Trainer instead of reusing the cache.
        min_binary_accuracy: the blessing's absolute threshold.
        max_accuracy_drop: the blessing's allowed drop against the baseline.
        ingest_only: build only ExampleGen, StatisticsGen, schema import and ExampleValidator,
            to ingest and validate one span without training.
        enable_cache: reuse results of identical executions.
        metadata_connection_config: ML Metadata connection (None on Vertex).
        beam_pipeline_args: Beam options for the data components.

    Returns:
        The pipeline.
    """
    range_config = None
    if span is not None:
        range_config = tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=span, end_span_number=span)
        )
    # Reads one span; span-to-span history is assembled by the window resolver below.
    example_gen = tfx.components.CsvExampleGen(
        input_base=data_root,
        input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split", pattern=SPAN_PATTERN)]),
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name="train", hash_buckets=2),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1),
                ]
            )
        ),
        range_config=range_config,
    ).with_id(EXAMPLE_GEN)

    # Statistics of the new span alone, so it is validated on its own.
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN)

    # The curated, reviewed schema from git rather than one inferred from whatever arrived.
    schema_importer = tfx.components.ImportSchemaGen(schema_file=schema_path).with_id(SCHEMA_IMPORTER)

    # Checks the new span against the schema.
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"],
    ).with_id(EXAMPLE_VALIDATOR)

    components: list[Any] = [example_gen, statistics_gen, schema_importer, example_validator]
    if ingest_only:
        return _pipeline(pipeline_name, pipeline_root, components, enable_cache, metadata_connection_config,
                         beam_pipeline_args)

    # The training window: the newest Examples of each of the `window_spans` most recent spans
    # up to this run's span.
    span_window = tfx.dsl.Resolver(
        strategy_class=SpanWindowStrategy,
        config={"num_spans": window_spans, "end_span": -1 if span is None else span},
        examples=tfx.dsl.Channel(type=standard_artifacts.Examples, producer_component_id=EXAMPLE_GEN),
    ).with_id(SPAN_WINDOW)
    # The window must see this run's span, which ExampleGen publishes first.
    span_window.add_upstream_node(example_gen)

    custom_config = {"code_fingerprint": code_fingerprint}
    # Feature engineering over the window; its graph ships inside the model.
    transform = tfx.components.Transform(
        examples=span_window.outputs["examples"],
        schema=schema_importer.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(analyze=["train"], transform=["train", "eval"]),
        custom_config=custom_config,
    ).with_id(TRANSFORM)
    # A span with anomalies must not reach feature engineering.
    transform.add_upstream_node(example_validator)

    # Trains the Keras model and exports it with its serving signatures.
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_importer.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
        custom_config={**custom_config, "hyperparameters": dict(hyperparameters or {})},
    ).with_id(TRAINER)

    # The model serving now, if any: the baseline a candidate must not fall behind.
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(BASELINE_RESOLVER)

    # TFMA on the window's eval split, overall and per slice; blesses or not.
    evaluator = tfx.components.Evaluator(
        examples=span_window.outputs["examples"],
        example_splits=["eval"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        schema=schema_importer.outputs["schema"],
        eval_config=create_eval_config(min_binary_accuracy, max_accuracy_drop),
    ).with_id(EVALUATOR)

    # Copies a blessed model into the serving dir as a new integer version; skips otherwise.
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)
        ),
    ).with_id(PUSHER)

    components += [span_window, transform, trainer, baseline_resolver, evaluator, pusher]
    return _pipeline(pipeline_name, pipeline_root, components, enable_cache, metadata_connection_config,
                     beam_pipeline_args)


def _pipeline(
    name: str,
    root: str,
    components: list[Any],
    enable_cache: bool,
    metadata_connection_config: Any,
    beam_pipeline_args: Sequence[str],
) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
