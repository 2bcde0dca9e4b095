"""The taxi pipeline as a pure builder: arguments in, a tfx Pipeline out, no I/O and no globals.

Model code is referred to by dotted strings only, so this module never imports it.

TFX classes are imported from the modules that define them, not through `tfx.v1`: importing `tfx.v1`
imports every extension, Vertex AI's client library included, which adds about 5 s to every local
run. The Vertex-only classes are imported where they are used.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from tfx.components import (
    CsvExampleGen,
    ExampleValidator,
    Pusher,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.data_types import RuntimeParameter
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2, transform_pb2, tuner_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from pipeline.atomic_pusher import AtomicFilesystemPusher
from pipeline.cloud import VertexServing, VertexTraining
from pipeline.components import (
    DataGate,
    DriftCheck,
    FeatureImportanceComponent,
    ServingModelPerformanceComponent,
    WindowExamples,
)
from pipeline.eval_config import create_eval_config
from pipeline.ids import (
    BASELINE_RESOLVER,
    DATA_GATE,
    DRIFT_CHECK,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLE_VALIDATOR,
    FEATURE_IMPORTANCE,
    PREVIOUS_STATISTICS,
    PUSHER,
    SCHEMA_IMPORTER,
    SERVING_PERFORMANCE,
    SPAN_WINDOW,
    SPAN_WINDOW_EXAMPLES,
    STATISTICS_GEN,
    TRAINER,
    TRANSFORM,
    TUNER,
)
from pipeline.settings import BlessingThresholds, LabelShift, PerformanceFloor, Tuning
from pipeline.span_record import record_folder
from pipeline.span_resolvers import AcceptedSpanWindowStrategy, PreviousSpanStrategy
from pipeline.trusted_evaluator import TrustedEvaluator
from pipeline.validation import GatePolicy, stats_options
from pipeline.vertex_pusher import VertexModelRegistryPusher

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
TUNER_FN = "models.tuning.tuner_fn"
SPAN_PATTERN = "span-{SPAN}/*.csv"

# Pipeline parameters a Vertex run can override at submit time (see `runtime_parameters`).
DATA_ROOT_PARAMETER = "data_root"
TRAIN_ARGS_PARAMETER = "train_args"

# create_pipeline's defaults for its grouped arguments: frozen values, so one shared instance is safe.
DEFAULT_BLESSING = BlessingThresholds()
DEFAULT_GATE_POLICY = GatePolicy()
DEFAULT_LABEL_SHIFT = LabelShift()
DEFAULT_PERFORMANCE_FLOOR = PerformanceFloor()


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_path: str,
    serving_dir: str,
    span: int | None = None,
    window_spans: int = 4,
    train_steps: int = 300,
    eval_steps: int = 20,
    hyperparameters: dict[str, Any] | None = None,
    tuning: Tuning | None = None,
    importance_rows: int = 2000,
    code_fingerprint: str = "",
    blessing: BlessingThresholds = DEFAULT_BLESSING,
    gate_policy: GatePolicy = DEFAULT_GATE_POLICY,
    label_shift: LabelShift = DEFAULT_LABEL_SHIFT,
    performance_floor: PerformanceFloor = DEFAULT_PERFORMANCE_FLOOR,
    ingest_only: bool = False,
    enable_cache: bool = True,
    metadata_connection_config: Any = None,
    beam_pipeline_args: Sequence[str] = (),
    bigquery_query: str = "",
    use_span_window: bool = True,
    spans_from_record: bool = False,
    runtime_parameters: bool = False,
    vertex_training: VertexTraining | None = None,
    vertex_serving: VertexServing | None = None,
) -> Pipeline:
    """Builds the pipeline.

    Args:
        pipeline_name: name recorded in ML Metadata; runs with the same name share history.
        pipeline_root: where artifacts are written.
        data_root: folder holding `span-<N>/` folders of CSV files.
        schema_path: the curated schema (schema.pbtxt).
        serving_dir: Pusher destination; versions are integer-named subfolders, each pushed atomically
            when the folder is local (see pipeline.atomic_pusher).
        span: span to ingest; None ingests the newest span under data_root.
        window_spans: how many of the most recent ingested spans (up to `span`) Transform and
            Trainer see.
        train_steps: the most Trainer steps (it stops early when validation loss stops improving).
        eval_steps: Trainer (and Tuner) validation steps, each time validation runs.
        hyperparameters: passed to run_fn through custom_config.
        tuning: add the Tuner with this search, whose best hyperparameters win over `hyperparameters`
            in run_fn; None trains on `hyperparameters` as they are.
        importance_rows: eval rows (a seeded sample) the feature importance is computed on.
        code_fingerprint: digest of the model code; recorded so a code change re-runs
            Transform and Trainer instead of reusing the cache.
        blessing: what the Evaluator requires of a candidate to bless it.
        gate_policy: which anomaly types and drift stop the run before Transform (the data gate).
        label_shift: the features the label's relationship is checked with against the previous span, and
            the limit; recorded with the drift and judged by the gate like it.
        performance_floor: when the serving model's accuracy on the new span (scored before training)
            counts as decay; recorded with its metrics, never a stop.
        ingest_only: build only the nodes that ingest and validate one span (up to the data gate),
            to ingest a span without training.
        enable_cache: reuse results of identical executions.
        metadata_connection_config: ML Metadata connection (None on Vertex).
        beam_pipeline_args: Beam options for the data components.
        bigquery_query: when set, ExampleGen reads the rows of this BigQuery query instead of the CSV
            span folders under data_root (`span` does not apply).
        use_span_window: train on the `window_spans` window of accepted spans, and measure drift
            against the previous one; False trains on what this run's ExampleGen ingested and
            measures no drift.
        spans_from_record: take the window and the drift baseline from the record of accepted spans the
            data gate keeps under pipeline_root (pipeline.span_record) instead of ML Metadata resolvers, for
            orchestrators that cannot run custom resolver strategies (KubeflowV2DagRunner): the same spans
            by the same rule, the window copied into one Examples artifact by a step (WindowExamples).
        runtime_parameters: expose data_root (CSV only) and the Trainer's train_args (TrainArgs JSON) as
            pipeline parameters named DATA_ROOT_PARAMETER and TRAIN_ARGS_PARAMETER, which a Vertex run
            can override when submitted; their defaults are the values given here.
        vertex_training: run the Trainer (and the Tuner's trials) as Vertex AI custom training jobs;
            None trains in the step.
        vertex_serving: register blessed models in the Vertex AI Model Registry instead of copying
            them under serving_dir.

    Returns:
        The pipeline.
    """
    accepted_record = record_folder(pipeline_root) if use_span_window and spans_from_record else ""
    ingested = _ingest_and_validate_span(
        pipeline_name=pipeline_name,
        accepted_record=accepted_record,
        data_root=data_root,
        schema_path=schema_path,
        span=span,
        bigquery_query=bigquery_query,
        gate_policy=gate_policy,
        label_shift=label_shift,
        use_span_window=use_span_window,
        runtime_parameters=runtime_parameters,
    )
    components = list(ingested.nodes)
    if not ingest_only:
        span_window = None
        training_examples = ingested.examples
        if accepted_record:
            span_window = _window_examples(ingested, accepted_record, window_spans)
            training_examples = span_window.outputs["window"]
        elif use_span_window:
            span_window = _span_window(pipeline_name, span, window_spans, ingested.data_gate)
            training_examples = span_window.outputs["examples"]
        baseline_resolver = _baseline_resolver()
        serving_performance = _serving_performance(ingested, baseline_resolver, performance_floor)
        # Recorded in the steps that run model code, so a code change re-runs them instead of reusing the cache.
        custom_config = {"code_fingerprint": code_fingerprint}
        transform = _transform(training_examples, ingested, custom_config)
        # Scored before training, so the record exists even if training fails.
        transform.add_upstream_node(serving_performance)
        model_config = {**custom_config, "hyperparameters": dict(hyperparameters or {})}
        tuner = None
        if tuning is not None:
            tuner = _tuner(
                tuning,
                transform,
                ingested.schema,
                eval_steps=eval_steps,
                model_config=model_config,
                vertex_training=vertex_training,
                pipeline_root=pipeline_root,
            )
        trainer = _trainer(
            transform,
            ingested.schema,
            train_steps=train_steps,
            eval_steps=eval_steps,
            model_config=model_config,
            best_hyperparameters=None if tuner is None else tuner.outputs["best_hyperparameters"],
            runtime_parameters=runtime_parameters,
            vertex_training=vertex_training,
        )
        evaluator = _evaluator(training_examples, trainer, baseline_resolver, ingested.schema, blessing)
        components += [
            baseline_resolver,
            serving_performance,
            *([span_window] if span_window is not None else []),
            transform,
            *([tuner] if tuner is not None else []),
            trainer,
            _feature_importance(trainer, ingested, importance_rows),
            evaluator,
            _pusher(trainer, evaluator, serving_dir, vertex_serving),
        ]
    return Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )


@dataclasses.dataclass(frozen=True)
class _IngestedSpan:
    """The nodes that ingest and validate one span, in pipeline order, and what later stages read of them."""

    nodes: tuple[Any, ...]
    examples: Any
    statistics: Any
    schema: Any
    data_gate: Any


def _ingest_and_validate_span(
    *,
    pipeline_name: str,
    data_root: str,
    schema_path: str,
    span: int | None,
    bigquery_query: str,
    gate_policy: GatePolicy,
    label_shift: LabelShift,
    use_span_window: bool,
    runtime_parameters: bool,
    accepted_record: str,
) -> _IngestedSpan:
    """ExampleGen, StatisticsGen, schema import, ExampleValidator, drift check and data gate of one span."""
    example_gen = _example_gen(data_root, span, bigquery_query, runtime_parameters)

    # The curated, reviewed schema from git rather than one inferred from whatever arrived.
    schema_importer = ImportSchemaGen(schema_file=schema_path).with_id(SCHEMA_IMPORTER)

    # Statistics of the new span alone, so it is validated on its own. The schema makes the integer
    # codes it marks categorical get category statistics, which their L-infinity drift needs; the
    # finer quantiles give the drift check its quantile shift and the tables their p99.
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"],
        schema=schema_importer.outputs["schema"],
        stats_options=stats_options(),
    ).with_id(STATISTICS_GEN)

    # Checks the new span against the schema.
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"],
    ).with_id(EXAMPLE_VALIDATOR)

    previous_statistics = None
    if use_span_window and not accepted_record:
        previous_statistics = _previous_statistics(pipeline_name, span, statistics_gen)
    # Where the baseline comes from the gate's record, the drift check reads it there (and the gate writes it).
    record_parameter = {"accepted_record": accepted_record} if accepted_record else {}

    # Per-feature drift against the previous span, always recorded, over the limit or not.
    drift_check = DriftCheck(
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"],
        baseline_examples=None if previous_statistics is None else previous_statistics.outputs["examples"],
        baseline_statistics=None if previous_statistics is None else previous_statistics.outputs["statistics"],
        label_shift=label_shift.to_json(),
        **record_parameter,
    ).with_id(DRIFT_CHECK)

    # Fails the run on blocking anomalies or too much drift; its success marks the span as usable.
    data_gate = DataGate(
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        anomalies=example_validator.outputs["anomalies"],
        drift_report=drift_check.outputs["drift_report"],
        policy=gate_policy.to_json(),
        **record_parameter,
    ).with_id(DATA_GATE)

    return _IngestedSpan(
        nodes=(
            example_gen,
            schema_importer,
            statistics_gen,
            example_validator,
            *([previous_statistics] if previous_statistics is not None else []),
            drift_check,
            data_gate,
        ),
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"],
        data_gate=data_gate,
    )


def _example_gen(data_root: str, span: int | None, bigquery_query: str, runtime_parameters: bool) -> Any:
    """ExampleGen: one CSV span folder under data_root, or the rows of a BigQuery query."""
    output_config = split_output_config()
    if bigquery_query:
        # Reads the rows the query returns, with the CSV's column names; the query picks the time range.
        from tfx.extensions.google_cloud_big_query.example_gen.component import BigQueryExampleGen

        return BigQueryExampleGen(query=bigquery_query, output_config=output_config).with_id(EXAMPLE_GEN)
    range_config = None
    if span is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
    # Reads one span; span-to-span history is assembled by the window resolver.
    return CsvExampleGen(
        input_base=_parameter(DATA_ROOT_PARAMETER, data_root) if runtime_parameters else data_root,
        input_config=span_input_config(),
        output_config=output_config,
        range_config=range_config,
    ).with_id(EXAMPLE_GEN)


def _previous_statistics(pipeline_name: str, span: int | None, statistics_gen: Any) -> Any:
    """The drift baseline: Examples and statistics of the newest earlier span that passed the data gate."""
    # A custom resolver strategy, which KubeflowV2DagRunner cannot compile (see use_span_window).
    previous_statistics = Resolver(
        strategy_class=PreviousSpanStrategy,
        config={"gate_context": f"{pipeline_name}.{DATA_GATE}", "span": -1 if span is None else span},
        examples=Channel(type=standard_artifacts.Examples, producer_component_id=EXAMPLE_GEN),
        statistics=Channel(type=standard_artifacts.ExampleStatistics, producer_component_id=STATISTICS_GEN),
    ).with_id(PREVIOUS_STATISTICS)
    # With no fixed span, "previous" is relative to this run's span, which ExampleGen publishes first.
    previous_statistics.add_upstream_node(statistics_gen)
    return previous_statistics


def _span_window(pipeline_name: str, span: int | None, window_spans: int, data_gate: Any) -> Any:
    """The training window: the newest Examples of each of the `window_spans` most recent spans up to `span`."""
    span_window = Resolver(
        strategy_class=AcceptedSpanWindowStrategy,
        config={
            "num_spans": window_spans,
            "end_span": -1 if span is None else span,
            "gate_context": f"{pipeline_name}.{DATA_GATE}",
        },
        examples=Channel(type=standard_artifacts.Examples, producer_component_id=EXAMPLE_GEN),
    ).with_id(SPAN_WINDOW)
    # The window holds spans that passed the data gate, this run's span included once it has.
    span_window.add_upstream_node(data_gate)
    return span_window


def _window_examples(ingested: _IngestedSpan, accepted_record: str, window_spans: int) -> Any:
    """The training window copied from the gate's record of accepted spans, this run's span included."""
    window = WindowExamples(
        examples=ingested.examples, accepted_record=accepted_record, num_spans=window_spans
    ).with_id(SPAN_WINDOW_EXAMPLES)
    # The gate records this run's span when it passes; a stopped span never reaches the window.
    window.add_upstream_node(ingested.data_gate)
    return window


def _transform(training_examples: Any, ingested: _IngestedSpan, custom_config: dict[str, Any]) -> Transform:
    """Feature engineering over the training examples; its graph ships inside the model."""
    transform = make_transform(training_examples, ingested.schema, custom_config)
    # A span stopped by the data gate must not reach feature engineering.
    transform.add_upstream_node(ingested.data_gate)
    return transform


def _tuner(
    tuning: Tuning,
    transform: Transform,
    schema: Any,
    *,
    eval_steps: int,
    model_config: dict[str, Any],
    vertex_training: VertexTraining | None,
    pipeline_root: str,
) -> Any:
    """The Tuner: searches the space in models/tuning.py with short trials; cached like any component."""
    tuner_config: dict[str, Any] = {
        **model_config,
        "tuner_trials": tuning.trials,
        "tuner_time_budget_s": tuning.time_budget_s,
    }
    tuner_class: Any = Tuner
    tune_args = None
    if vertex_training is not None:
        # Trials run as Vertex AI jobs, `parallel_trials` at a time, sharing one oracle.
        from tfx.extensions.google_cloud_ai_platform.tuner.component import Tuner as VertexTuner

        tuner_class = VertexTuner
        tuner_config.update(vertex_training.tuner_custom_config(f"{pipeline_root.rstrip('/')}/tuner-trials"))
        tune_args = tuner_pb2.TuneArgs(num_parallel_trials=tuning.parallel_trials)
    return tuner_class(
        tuner_fn=TUNER_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=trainer_pb2.TrainArgs(num_steps=tuning.trial_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=eval_steps),
        tune_args=tune_args,
        custom_config=tuner_config,
    ).with_id(TUNER)


def _trainer(
    transform: Transform,
    schema: Any,
    *,
    train_steps: int,
    eval_steps: int,
    model_config: dict[str, Any],
    best_hyperparameters: Any,
    runtime_parameters: bool,
    vertex_training: VertexTraining | None,
) -> Any:
    """The Trainer: trains the Keras model and exports it with its serving signatures."""
    trainer_class: Any = Trainer
    trainer_config = dict(model_config)
    if vertex_training is not None:
        # The same run_fn, launched by the step as a Vertex AI custom job on its own machine.
        from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer as VertexTrainer

        trainer_class = VertexTrainer
        trainer_config.update(vertex_training.trainer_custom_config())
    return trainer_class(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        # A parameter must be the whole exec property: one nested inside a proto compiles, without an
        # error, into a constant that no submit can change.
        train_args=(
            _parameter(TRAIN_ARGS_PARAMETER, json.dumps({"num_steps": train_steps}))
            if runtime_parameters
            else trainer_pb2.TrainArgs(num_steps=train_steps)
        ),
        eval_args=trainer_pb2.EvalArgs(num_steps=eval_steps),
        # The Tuner's best values, when it runs, win over `hyperparameters` in run_fn.
        hyperparameters=best_hyperparameters,
        custom_config=trainer_config,
    ).with_id(TRAINER)


def _feature_importance(trainer: Any, ingested: _IngestedSpan, importance_rows: int) -> Any:
    """Permutation importance in raw feature names on the eval split of this run's span.

    Also the baseline row that per-prediction explanations ablate towards.
    """
    return FeatureImportanceComponent(
        model=trainer.outputs["model"],
        examples=ingested.examples,
        statistics=ingested.statistics,
        max_rows=importance_rows,
    ).with_id(FEATURE_IMPORTANCE)


def _serving_performance(ingested: _IngestedSpan, baseline_resolver: Any, floor: PerformanceFloor) -> Any:
    """The model serving now (the latest blessed one), scored on the whole new span once it passed the gate."""
    performance = ServingModelPerformanceComponent(
        examples=ingested.examples,
        schema=ingested.schema,
        model=baseline_resolver.outputs["model"],
        model_blessing=baseline_resolver.outputs["model_blessing"],
        min_binary_accuracy=floor.min_binary_accuracy,
        max_accuracy_drop=floor.max_accuracy_drop,
    ).with_id(SERVING_PERFORMANCE)
    # A span the gate stopped is not production data the model would have served.
    performance.add_upstream_node(ingested.data_gate)
    return performance


def _baseline_resolver() -> Any:
    """The model serving now, if any: the baseline a candidate must not fall behind."""
    return Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(BASELINE_RESOLVER)


def _evaluator(
    training_examples: Any, trainer: Any, baseline_resolver: Any, schema: Any, blessing: BlessingThresholds
) -> Any:
    """TFMA on the training window's eval split, overall and per slice; blesses or not.

    Then, against a baseline, the candidate's accuracy on the earlier spans' eval splits alone, which a
    new span with bad labels cannot move: worse there than the trusted threshold withdraws the blessing.
    """
    return TrustedEvaluator(
        examples=training_examples,
        example_splits=["eval"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        schema=schema,
        eval_config=create_eval_config(
            blessing.min_binary_accuracy, blessing.max_accuracy_drop, blessing.min_slice_binary_accuracy
        ),
        trusted_max_accuracy_drop=blessing.trusted_drop,
        trusted_significance=blessing.trusted_significance,
    ).with_id(EVALUATOR)


def _pusher(trainer: Any, evaluator: Any, serving_dir: str, vertex_serving: VertexServing | None) -> Any:
    """The Pusher: publishes a blessed model (to the Model Registry or serving_dir); skips otherwise."""
    model, blessing = trainer.outputs["model"], evaluator.outputs["blessing"]
    if vertex_serving is not None:
        # Registers a blessed model as the parent model's new default version.
        return VertexModelRegistryPusher(model=model, model_blessing=blessing, settings=vertex_serving).with_id(PUSHER)
    if "://" not in serving_dir:
        # Copies a blessed model into the local serving dir as a new integer version, atomically (a
        # killed push leaves no partial version for TF Serving to load).
        return AtomicFilesystemPusher(model=model, model_blessing=blessing, serving_dir=serving_dir).with_id(PUSHER)
    # Copies a blessed model into the serving dir as a new integer version. A bucket has no atomic
    # folder rename: TFX writes saved_model.pb last, the file TF Serving waits for.
    return Pusher(
        model=model,
        model_blessing=blessing,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)
        ),
    ).with_id(PUSHER)


def span_input_config() -> example_gen_pb2.Input:
    """CsvExampleGen's input: the CSV files of `span-<N>/` folders, read as one split and re-split on output."""
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=SPAN_PATTERN)])


def split_output_config() -> example_gen_pb2.Output:
    """ExampleGen's split: two thirds train, one third eval, by a hash of each row."""
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
            ]
        )
    )


def make_transform(examples: Any, schema: Any, custom_config: dict[str, Any] | None = None) -> Transform:
    """The Transform step: analyses the train split, transforms both (bench/data_plane.py runs it too)."""
    return Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=transform_pb2.SplitsConfig(analyze=["train"], transform=["train", "eval"]),
        custom_config=custom_config,
        # StatisticsGen already profiles the raw data; Transform's own pre/post statistics would
        # double the Beam work of every run.
        disable_statistics=True,
        # Nothing feeds the analyzer cache back into a later Transform, so writing it (one file per
        # analyzer and span, and a per-span analysis graph) is pure cost: about a tenth of the step.
        disable_analyzer_cache=True,
        # Builds the graph with tf.compat.v1 instead of tracing tf.functions: the same transformation
        # (models/preprocessing.py is graph code either way) in half the time on the bundled data,
        # most of it saved tracing and saving. The Trainer and serving load it as they load a TF2 one.
        force_tf_compat_v1=True,
    ).with_id(TRANSFORM)


def _parameter(name: str, default: str) -> Any:
    """A string pipeline parameter; KubeflowV2DagRunner lists it in the spec's inputs."""
    return RuntimeParameter(name=name, ptype=str, default=default)
