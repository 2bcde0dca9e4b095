"""create_pipeline wiring: component ids and order, inputs between components, Pusher gated on blessing."""

from __future__ import annotations

from pathlib import Path

import pytest
from tfx.dsl.compiler import compiler

from pipeline import ids
from pipeline import pipeline as taxi_pipeline
from pipeline.settings import BlessingThresholds, Tuning
from pipeline.trusted_evaluator import TrustedEvaluator


def _build(tmp_path: Path, **kwargs):
    defaults = dict(
        pipeline_name="taxi",
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        schema_path=str(tmp_path / "schema.pbtxt"),
        serving_dir=str(tmp_path / "serving"),
        span=3,
        window_spans=2,
        train_steps=7,
        eval_steps=3,
        hyperparameters={"batch_size": 16},
        code_fingerprint="abc",
    )
    defaults.update(kwargs)
    return taxi_pipeline.create_pipeline(**defaults)


@pytest.fixture
def nodes(tmp_path: Path) -> dict:
    return {c.id: c for c in _build(tmp_path).components}


def test_full_pipeline_has_every_component_under_its_id(nodes: dict) -> None:
    assert set(nodes) == set(ids.COMPONENTS) | set(ids.RESOLVERS)


def test_compiled_order_puts_validation_before_transform_and_push_last(tmp_path: Path) -> None:
    ir = compiler.Compiler().compile(_build(tmp_path))
    order = [n.pipeline_node.node_info.id for n in ir.nodes]
    assert order.index("example_validator") < order.index("transform")
    assert order.index("example_gen") < order.index("span_window_resolver")
    assert order.index("trainer") < order.index("evaluator") < order.index("pusher")


def test_model_code_is_named_by_dotted_path_and_gets_the_hyperparameters(nodes: dict) -> None:
    transform, trainer = nodes["transform"], nodes["trainer"]
    assert transform.exec_properties["preprocessing_fn"] == "models.preprocessing.preprocessing_fn"
    assert trainer.exec_properties["run_fn"] == "models.trainer.run_fn"
    assert '"batch_size": 16' in trainer.exec_properties["custom_config"]
    assert '"code_fingerprint": "abc"' in trainer.exec_properties["custom_config"]
    assert '"code_fingerprint": "abc"' in transform.exec_properties["custom_config"]


def test_training_reads_the_window_and_evaluation_its_eval_split(nodes: dict) -> None:
    window = nodes["span_window_resolver"]
    # Only spans that passed the data gate are trained on.
    assert window.exec_properties["resolver_class"].__name__ == "AcceptedSpanWindowStrategy"
    # TFX stores a resolver's config under this (misleading) key.
    assert window.exec_properties["source_uri"] == {"num_spans": 2, "end_span": 3, "gate_context": "taxi.data_gate"}
    assert nodes["transform"].inputs["examples"].producer_component_id == "span_window_resolver"
    assert nodes["evaluator"].inputs["examples"].producer_component_id == "span_window_resolver"
    assert nodes["statistics_gen"].inputs["examples"].producer_component_id == "example_gen"


def test_pusher_is_gated_on_the_evaluators_blessing(nodes: dict) -> None:
    pusher = nodes["pusher"]
    assert pusher.inputs["model_blessing"].producer_component_id == "evaluator"
    assert pusher.inputs["model"].producer_component_id == "trainer"
    assert nodes["evaluator"].inputs["baseline_model"].producer_component_id == "latest_blessed_model_resolver"


def test_ingest_only_pipeline_stops_at_validation(tmp_path: Path) -> None:
    ingest = _build(tmp_path, ingest_only=True)
    # The drift check's baseline resolver is part of ingesting a span too.
    expected = (*ids.INGEST_COMPONENTS, ids.PREVIOUS_STATISTICS)
    assert sorted(c.id for c in ingest.components) == sorted(expected)


def test_span_pins_example_gen_to_one_span(tmp_path: Path) -> None:
    example_gen = {c.id: c for c in _build(tmp_path, span=5).components}["example_gen"]
    assert '"start_span_number": 5' in example_gen.exec_properties["range_config"]
    assert '"end_span_number": 5' in example_gen.exec_properties["range_config"]
    assert "span-{SPAN}/*.csv" in example_gen.exec_properties["input_config"]


def test_feature_importance_reads_the_model_and_this_spans_raw_examples(nodes: dict) -> None:
    importance = nodes[ids.FEATURE_IMPORTANCE]
    assert importance.inputs["model"].producer_component_id == ids.TRAINER
    assert importance.inputs["examples"].producer_component_id == ids.EXAMPLE_GEN
    assert importance.inputs["statistics"].producer_component_id == ids.STATISTICS_GEN
    assert importance.outputs["feature_importance"].type_name == "pipeline.FeatureImportance"


def test_tuning_is_off_by_default_and_feeds_the_trainer_when_on(tmp_path: Path, nodes: dict) -> None:
    assert ids.TUNER not in nodes
    assert "hyperparameters" not in nodes[ids.TRAINER].inputs
    search = Tuning(trials=4, time_budget_s=60, trial_steps=5)
    tuned = {c.id: c for c in _build(tmp_path, tuning=search).components}
    tuner = tuned[ids.TUNER]
    assert tuner.exec_properties["tuner_fn"] == "models.tuning.tuner_fn"
    assert tuner.inputs["examples"].producer_component_id == ids.TRANSFORM
    assert '"num_steps": 5' in tuner.exec_properties["train_args"]
    assert '"tuner_trials": 4' in tuner.exec_properties["custom_config"]
    assert '"tuner_time_budget_s": 60' in tuner.exec_properties["custom_config"]
    assert tuned[ids.TRAINER].inputs["hyperparameters"].producer_component_id == ids.TUNER


def test_the_evaluator_carries_the_trusted_set_threshold(tmp_path: Path, nodes: dict) -> None:
    assert nodes["evaluator"].exec_properties["trusted_max_accuracy_drop"] == 0.02
    assert nodes["evaluator"].exec_properties["trusted_significance"] == 0.01
    # None: the same as the window's max_accuracy_drop.
    unset = BlessingThresholds(max_accuracy_drop=0.3, trusted_max_accuracy_drop=None)
    assert {c.id: c for c in _build(tmp_path, blessing=unset).components}["evaluator"].exec_properties[
        "trusted_max_accuracy_drop"
    ] == 0.3
    blessing = BlessingThresholds(max_accuracy_drop=1.0, trusted_max_accuracy_drop=0.01)
    evaluator = {c.id: c for c in _build(tmp_path, blessing=blessing).components}["evaluator"]
    assert isinstance(evaluator, TrustedEvaluator)
    assert evaluator.exec_properties["trusted_max_accuracy_drop"] == 0.01
    assert evaluator.exec_properties["example_splits"] == '["eval"]'
