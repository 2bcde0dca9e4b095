"""The config -> create_pipeline mapping: every setting reaches both builds, the local one and the Vertex spec.

A setting that one build forgets silently falls back to create_pipeline's default; these tests make
that a failure, for the data gate's policy and the blessing thresholds end to end, and for every
config field create_pipeline takes.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from pipeline import ids
from pipeline import pipeline as taxi_pipeline
from pipeline.config import PipelineConfig, load_config
from pipeline.settings import BlessingThresholds, PerformanceFloor
from pipeline.validation import GatePolicy
from runners import local, vertex

POLICY = GatePolicy(
    blocking_anomalies=("SCHEMA_NEW_COLUMN",),
    warning_anomalies=("ENUM_TYPE_UNEXPECTED_STRING_VALUES",),
    drift_action="warn",
)
BLESSING = BlessingThresholds(
    min_binary_accuracy=0.8,
    max_accuracy_drop=0.05,
    min_slice_binary_accuracy=0.6,
    trusted_max_accuracy_drop=0.03,
    trusted_significance=0.05,
)
GATES = {**dataclasses.asdict(POLICY), **dataclasses.asdict(BLESSING)}
VERTEX = {
    "gcp_project": "test-project",
    "image": "us-central1-docker.pkg.dev/test-project/taxi/taxi-pipeline:3f2a9c1",
    "home": "gs://test-bucket/taxi-pipeline",
    "data_root": "gs://test-bucket/taxi-data",
}


def _blessing(
    eval_config_json: str, trusted_max_accuracy_drop: float, trusted_significance: float
) -> BlessingThresholds:
    """Reads the blessing thresholds back out of the Evaluator's eval_config, as TFMA will read them.

    The trusted-set thresholds are the Evaluator's own execution parameters, passed in as read.
    """
    eval_config = json_format.Parse(eval_config_json, tfma.EvalConfig())
    (accuracy,) = [m for spec in eval_config.metrics_specs for m in spec.metrics if m.class_name == "BinaryAccuracy"]
    overall, *per_slice = accuracy.per_slice_thresholds
    return BlessingThresholds(
        min_binary_accuracy=overall.threshold.value_threshold.lower_bound.value,
        max_accuracy_drop=-overall.threshold.change_threshold.absolute.value,
        # No per-slice threshold is how create_eval_config gates no slice.
        min_slice_binary_accuracy=per_slice[0].threshold.value_threshold.lower_bound.value if per_slice else 0.0,
        trusted_max_accuracy_drop=trusted_max_accuracy_drop,
        trusted_significance=trusted_significance,
    )


def test_gate_policy_and_blessing_reach_the_local_build(tmp_path: Path) -> None:
    config = PipelineConfig(home=str(tmp_path / "home"), **GATES)
    built = local.build(config, 1, (1,), "schema/schema.pbtxt", False, "fingerprint")
    nodes = {c.id: c for c in built.components}
    assert GatePolicy.from_json(nodes[ids.DATA_GATE].exec_properties["policy"]) == POLICY
    evaluator = nodes[ids.EVALUATOR].exec_properties
    trusted = (evaluator["trusted_max_accuracy_drop"], evaluator["trusted_significance"])
    assert _blessing(evaluator["eval_config"], *trusted) == BLESSING


def test_gate_policy_and_blessing_reach_the_compiled_vertex_spec(tmp_path: Path) -> None:
    output = tmp_path / "pipeline.json"
    vertex.compile_pipeline(load_config("vertex", overrides={**VERTEX, **GATES}, environ={}), str(output))
    tasks = json.loads(output.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]

    def constant(task: str, parameter: str) -> str:
        return str(tasks[task]["inputs"]["parameters"][parameter]["runtimeValue"]["constantValue"]["stringValue"])

    assert GatePolicy.from_json(constant(ids.DATA_GATE, "policy")) == POLICY

    def number(task: str, parameter: str) -> float:
        return float(tasks[task]["inputs"]["parameters"][parameter]["runtimeValue"]["constantValue"]["doubleValue"])

    trusted = (number(ids.EVALUATOR, "trusted_max_accuracy_drop"), number(ids.EVALUATOR, "trusted_significance"))
    assert _blessing(constant(ids.EVALUATOR, "eval_config"), *trusted) == BLESSING
    # The serving model's score on the new span compiles too, fed by TFX's latest-blessed-model resolver.
    assert number(ids.SERVING_PERFORMANCE, "min_binary_accuracy") == PerformanceFloor().min_binary_accuracy
    assert set(tasks[ids.SERVING_PERFORMANCE]["inputs"]["artifacts"]) == {
        "examples",
        "schema",
        "model",
        "model_blessing",
    }


# Every config field create_pipeline takes, and the settings behind the switches (tune, vertex_training,
# push_target) that turn its optional stages on, set away from their defaults.
NON_DEFAULT: dict[str, Any] = {
    **GATES,
    "pipeline_name": "taxi-other",
    "home": "/elsewhere/home",
    "data_root": "/elsewhere/data",
    "schema_path": "/elsewhere/schema.pbtxt",
    "model_name": "taxi_other",
    "span": 5,
    "window_spans": 1,
    "label_shift_features": ("company", "payment_type"),
    "label_shift_limit": 0.3,
    "train_steps": 11,
    "eval_steps": 3,
    "batch_size": 8,
    "tune": True,
    "tuner_trials": 4,
    "tuner_time_budget_s": 60,
    "tuner_trial_steps": 5,
    "tuner_parallel_trials": 2,
    "importance_rows": 100,
    "decay_min_binary_accuracy": 0.6,
    "decay_max_accuracy_drop": 0.1,
    "enable_cache": False,
    "bigquery_query": "SELECT 1",
    "gcp_project": "test-project",
    "region": "europe-west4",
    "image": VERTEX["image"],
    "service_account": "taxi@test-project.iam.gserviceaccount.com",
    "vertex_training": True,
    "training_machine_type": "n1-highmem-8",
    "training_accelerator_type": "NVIDIA_TESLA_T4",
    "training_accelerator_count": 1,
    "push_target": "vertex",
    "endpoint_name": "taxi-endpoint",
    "traffic_percentage": 20,
    "serving_image": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest",
    "serving_machine_type": "n1-standard-4",
    "network": "projects/123/global/networks/taxi-vpc",
    "encryption_key": "projects/test-project/locations/europe-west4/keyRings/taxi/cryptoKeys/k",
    "labels": ("app=taxi-pipeline", "env=test"),
}
# create_pipeline arguments (`value.field` inside a grouped one) that carry a config field of another name.
RENAMED = {
    "tuning.trials": "tuner_trials",
    "tuning.time_budget_s": "tuner_time_budget_s",
    "tuning.trial_steps": "tuner_trial_steps",
    "tuning.parallel_trials": "tuner_parallel_trials",
    "label_shift.features": "label_shift_features",
    "label_shift.limit": "label_shift_limit",
    "performance_floor.min_binary_accuracy": "decay_min_binary_accuracy",
    "performance_floor.max_accuracy_drop": "decay_max_accuracy_drop",
    "vertex_training.project": "gcp_project",
    "vertex_training.machine_type": "training_machine_type",
    "vertex_training.accelerator_type": "training_accelerator_type",
    "vertex_training.accelerator_count": "training_accelerator_count",
    "vertex_serving.project": "gcp_project",
    "vertex_serving.model_id": "model_name",
    "vertex_serving.machine_type": "serving_machine_type",
}
# Arguments that carry a config property rather than a field.
PROPERTIES = {"hyperparameters", "pipeline_root", "serving_dir"}
# Arguments the runner works out from where it runs, not from one config value.
FROM_THE_RUNNER = {
    "beam_pipeline_args",
    "code_fingerprint",
    "ingest_only",
    "metadata_connection_config",
    "runtime_parameters",
    "use_span_window",
    "spans_from_record",
}
# Arguments no config field sets: create_pipeline's (or the grouped value's) default is the product's choice.
NOT_CONFIGURABLE = {"vertex_serving.min_replicas", "vertex_serving.max_replicas"}
# What a runner deliberately does not copy from the config, and why.
NOT_PASSED: dict[str, dict[str, str]] = {
    "local": {
        "span": "span planning picks it (the newest span unless the config names one) and backfills the window",
        "window_spans": "the planned window's length: fewer spans while a home has not seen enough",
        "schema_path": "the run reads its own snapshot of the schema (local.snapshot_schema)",
        "bigquery_query": "local runs read CSV spans; BigQuery is a Vertex source (docs/vertex.md)",
        "vertex_training": "Vertex only: local runs train in the step",
        "vertex_serving": "Vertex only: local runs push to the serving dir",
    },
    "vertex": {},
}


def _arguments() -> list[str]:
    """create_pipeline's arguments as leaves: `name`, or `name.field` for each field of a grouped (dataclass) one."""
    leaves = []
    for name, hint in typing.get_type_hints(taxi_pipeline.create_pipeline).items():
        # `X | None`: Python 3.10 reads one with a None default as typing.Optional, others as types.UnionType.
        options = typing.get_args(hint) or (hint,)
        grouped = [t for t in options if dataclasses.is_dataclass(t)]
        if grouped:
            leaves += [f"{name}.{f.name}" for f in dataclasses.fields(grouped[0])]
        elif name != "return":
            leaves.append(name)
    return leaves


def _config_name(leaf: str) -> str | None:
    """The config field or property an argument carries; None for one the runner works out."""
    if leaf in FROM_THE_RUNNER:
        return None
    if leaf in RENAMED:
        return RENAMED[leaf]
    name = leaf.rpartition(".")[2]
    return name if name in PROPERTIES or name in {f.name for f in dataclasses.fields(PipelineConfig)} else None


def _passed(kwargs: dict[str, Any], leaf: str) -> tuple[bool, Any]:
    """Whether a runner passed this argument (inside its grouped value, if any), and its value."""
    name, _, field = leaf.partition(".")
    if name not in kwargs:
        return False, None
    if not field:
        return True, kwargs[name]
    value = kwargs[name]
    return (value is not None), getattr(value, field, None)


def _captured(monkeypatch: pytest.MonkeyPatch, build: Any) -> dict[str, Any]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(taxi_pipeline, "create_pipeline", lambda **kwargs: calls.append(kwargs))
    build()
    (kwargs,) = calls
    assert kwargs, "the build passed create_pipeline nothing"
    return kwargs


def test_every_create_pipeline_argument_is_a_config_value_or_the_runners_own() -> None:
    unknown = [
        leaf
        for leaf in _arguments()
        if _config_name(leaf) is None and leaf not in FROM_THE_RUNNER and leaf not in NOT_CONFIGURABLE
    ]
    assert unknown == [], (
        f"create_pipeline arguments {unknown} carry no config field of their name: add them to RENAMED "
        "(and runners/pipeline_args.py), to FROM_THE_RUNNER if each runner works them out itself, or to "
        "NOT_CONFIGURABLE if no config field is meant to set them"
    )
    config, default = PipelineConfig(**NON_DEFAULT), PipelineConfig()
    same = sorted(
        {
            name
            for leaf in _arguments()
            if (name := _config_name(leaf)) and getattr(config, name) == getattr(default, name)
        }
    )
    assert same == [], f"give {same} a non-default value in NON_DEFAULT, or a dropped one goes unnoticed"


@pytest.mark.parametrize("runner", ["local", "vertex"])
def test_every_config_field_create_pipeline_takes_reaches_it_from_each_runner(
    runner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = _arguments()  # before _captured replaces create_pipeline
    assert {"gate_policy.drift_action", "blessing.min_binary_accuracy", "tuning.trials"} <= set(arguments)
    if runner == "local":
        # Absolute folders, so the local build's resolved paths are the config's own.
        config = PipelineConfig(**{**NON_DEFAULT, "home": str(tmp_path / "home"), "data_root": str(tmp_path / "data")})
        kwargs = _captured(monkeypatch, lambda: local.build(config, 5, (5,), "snapshot.pbtxt", False, "fp"))
    else:
        config = PipelineConfig(**{**NON_DEFAULT, "profile": "vertex", "home": VERTEX["home"]})
        kwargs = _captured(monkeypatch, lambda: vertex.build_pipeline(config))
    exempt = NOT_PASSED[runner]
    dropped, wrong = [], []
    for leaf in arguments:
        name = _config_name(leaf)
        if name is None or leaf.partition(".")[0] in exempt or leaf in exempt:
            continue
        passed, value = _passed(kwargs, leaf)
        if not passed:
            dropped.append(leaf)
        elif value != getattr(config, name):
            wrong.append(f"{leaf}={value!r} (config {name}={getattr(config, name)!r})")
    assert (dropped, wrong) == ([], []), (
        f"{runner} build leaves {dropped} at create_pipeline's default and passes {wrong} instead of the config's"
    )
