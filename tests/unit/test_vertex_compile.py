"""The Vertex pipeline spec, compiled offline and read back as Vertex AI will.

It holds our components under our ids, one image everywhere, Dataflow and Vertex Training settings
where they belong, parameters that really are pipeline inputs, and google-cloud-aiplatform builds a
PipelineJob from it that carries our pipeline root, service account and parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline import ids
from pipeline import pipeline as taxi_pipeline
from pipeline.config import ConfigError, PipelineConfig, check_vertex, load_config
from runners import vertex
from runners.cli import main
from runners.errors import RunError
from tests.unit.vertex_fixtures import (
    CLI_FLAGS,
    DATA_ROOT,
    HOME,
    IMAGE,
    PROJECT,
    build_job,
    compile_spec,
    vertex_config,
)

pytestmark = pytest.mark.usefixtures("no_network")

SERVICE_ACCOUNT = "taxi-pipeline@test-project.iam.gserviceaccount.com"
BEAM_COMPONENTS = (
    ids.EXAMPLE_GEN,
    ids.STATISTICS_GEN,
    ids.TRANSFORM,
    ids.EVALUATOR,
)
# KubeflowV2DagRunner splits the latest-blessed-model resolver into these two tasks.
BASELINE_TASKS = (
    f"{ids.BASELINE_RESOLVER}-model-blessing-resolver",
    f"{ids.BASELINE_RESOLVER}-model-resolver",
)
# Every task of the spec: our components, the window step (in place of the resolver) and the baseline.
TASKS = {*ids.COMPONENTS, ids.SPAN_WINDOW_EXAMPLES, *BASELINE_TASKS}
# What the spec tests compile with beyond the shared values: the settings they look for in it.
SPEC_SETTINGS: dict[str, Any] = {
    "service_account": SERVICE_ACCOUNT,
    "training_accelerator_type": "NVIDIA_TESLA_T4",
    "training_accelerator_count": 1,
    "endpoint_name": "taxi-endpoint",
    "traffic_percentage": 20,
}


def _config(**overrides: Any) -> PipelineConfig:
    return vertex_config(**{**SPEC_SETTINGS, **overrides})


def _compile(path: Path, **overrides: Any) -> dict[str, Any]:
    return compile_spec(_config(**overrides), path)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vertex") / "pipeline.json"
    _compile(path)
    return path


@pytest.fixture(scope="module")
def spec(spec_file: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(spec_file.read_text())
    return loaded


def _tasks(spec: dict[str, Any]) -> dict[str, Any]:
    tasks: dict[str, Any] = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    return tasks


def _container(spec: dict[str, Any], task: str) -> dict[str, Any]:
    container: dict[str, Any] = spec["pipelineSpec"]["deploymentSpec"]["executors"][f"{task}_executor"]["container"]
    return container


def _executor_class(spec: dict[str, Any], task: str) -> str:
    args = _container(spec, task)["args"]
    return str(args[args.index("--executor_class_path") + 1])


def _constant(spec: dict[str, Any], task: str, parameter: str) -> Any:
    value = _tasks(spec)[task]["inputs"]["parameters"][parameter]["runtimeValue"]["constantValue"]
    return value.get("stringValue", value.get("intValue"))


def test_every_component_appears_under_our_ids(spec: dict[str, Any]) -> None:
    # The V2 compiler cannot build the span-window resolver; the window is a step of ours instead.
    assert set(_tasks(spec)) == TASKS
    assert ids.SPAN_WINDOW not in _tasks(spec)
    for consumer in (ids.TRANSFORM, ids.EVALUATOR):
        assert _tasks(spec)[consumer]["inputs"]["artifacts"]["examples"]["taskOutputArtifact"] == {
            "producerTask": ids.SPAN_WINDOW_EXAMPLES,
            "outputArtifactKey": "window",
        }


def test_window_gate_policy_and_drift_baseline_reach_the_spec(tmp_path: Path) -> None:
    # Parity with a local run: the configured window, the configured gate policy, and a drift baseline
    # looked up in the record the gate keeps under the pipeline root (the one place both read and write).
    spec = _compile(
        tmp_path / "pipeline.json",
        window_spans=3,
        blocking_anomalies=["SCHEMA_NEW_COLUMN"],
        warning_anomalies=["ENUM_TYPE_UNEXPECTED_STRING_VALUES"],
        drift_action="warn",
    )
    record = f"{HOME}/pipeline_root/accepted-spans"
    tasks = _tasks(spec)
    assert _constant(spec, ids.SPAN_WINDOW_EXAMPLES, "num_spans") == "3"
    assert _constant(spec, ids.SPAN_WINDOW_EXAMPLES, "accepted_record") == record
    assert ids.DATA_GATE in tasks[ids.SPAN_WINDOW_EXAMPLES]["dependentTasks"]
    assert json.loads(_constant(spec, ids.DATA_GATE, "policy")) == {
        "blocking_anomalies": ["SCHEMA_NEW_COLUMN"],
        "warning_anomalies": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"],
        "drift_action": "warn",
    }
    assert _constant(spec, ids.DATA_GATE, "accepted_record") == record
    assert _constant(spec, ids.DRIFT_CHECK, "accepted_record") == record
    assert _executor_class(spec, ids.SPAN_WINDOW_EXAMPLES) == (
        "pipeline.components.window_examples.WindowExamples_Executor"
    )


def test_every_container_runs_the_configured_image(spec: dict[str, Any]) -> None:
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = {name: e["container"] for name, e in executors.items() if "container" in e}
    assert len(containers) == len(ids.COMPONENTS) + 1  # and the window step
    assert {c["image"] for c in containers.values()} == {IMAGE}


def test_beam_components_run_on_dataflow_with_the_same_image(spec: dict[str, Any]) -> None:
    expected = {
        "--runner=DataflowRunner",
        f"--project={PROJECT}",
        "--region=us-central1",
        f"--temp_location={HOME}/tmp",
        "--machine_type=n1-standard-4",
        "--max_num_workers=4",
        f"--sdk_container_image={IMAGE}",
        "--sdk_location=container",
        f"--service_account_email={SERVICE_ACCOUNT}",
    }
    for task in BEAM_COMPONENTS:
        assert expected <= set(_container(spec, task)["args"]), task


def test_trainer_runs_as_a_vertex_training_job_in_the_pipeline_image(spec: dict[str, Any]) -> None:
    assert _executor_class(spec, ids.TRAINER) == (
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    )
    custom_config = json.loads(_constant(spec, ids.TRAINER, "custom_config"))
    assert custom_config["ai_platform_enable_vertex"] is True
    assert custom_config["ai_platform_vertex_region"] == "us-central1"
    training = custom_config["ai_platform_training_args"]
    assert training["project"] == PROJECT
    assert training["job_spec"]["service_account"] == SERVICE_ACCOUNT
    (pool,) = training["job_spec"]["worker_pool_specs"]
    assert pool["container_spec"] == {"image_uri": IMAGE}
    assert pool["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
    }
    # run_fn still gets its hyperparameters and is still named by its dotted path.
    assert custom_config["hyperparameters"]["hidden_units"] == [64, 32]
    assert _constant(spec, ids.TRAINER, "run_fn") == taxi_pipeline.RUN_FN


def test_trainer_trains_inside_its_step_when_vertex_training_is_off(tmp_path: Path) -> None:
    spec = _compile(tmp_path / "pipeline.json", vertex_training=False)
    assert _executor_class(spec, ids.TRAINER) == "tfx.components.trainer.executor.GenericExecutor"
    assert "ai_platform_training_args" not in json.loads(_constant(spec, ids.TRAINER, "custom_config"))


def test_pusher_registers_blessed_models_as_versions_of_one_model(spec: dict[str, Any]) -> None:
    assert _executor_class(spec, ids.PUSHER) == "pipeline.vertex_pusher.Executor"
    registry = json.loads(_constant(spec, ids.PUSHER, "custom_config"))["vertex_model_registry"]
    assert registry["model_id"] == "taxi_big_tipper"
    assert registry["endpoint_name"] == "taxi-endpoint"
    assert registry["traffic_percentage"] == 20
    blessing = _tasks(spec)[ids.PUSHER]["inputs"]["artifacts"]["model_blessing"]
    assert blessing["taskOutputArtifact"]["producerTask"] == ids.EVALUATOR


def test_pusher_copies_to_gcs_when_push_target_is_filesystem(tmp_path: Path) -> None:
    spec = _compile(tmp_path / "pipeline.json", push_target="filesystem")
    assert _executor_class(spec, ids.PUSHER) == "tfx.components.pusher.executor.Executor"
    destination = json.loads(_constant(spec, ids.PUSHER, "push_destination"))
    assert destination["filesystem"]["base_directory"] == f"{HOME}/serving/taxi_big_tipper"


def test_exposed_parameters_compile_into_pipeline_inputs(spec: dict[str, Any], spec_file: Path) -> None:
    root_inputs = spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert root_inputs == {"data_root": {"type": "STRING"}, "train_args": {"type": "STRING"}}
    example_gen_inputs = _tasks(spec)[ids.EXAMPLE_GEN]["inputs"]["parameters"]
    assert example_gen_inputs["input_base"] == {"componentInputParameter": "data_root"}
    trainer_inputs = _tasks(spec)[ids.TRAINER]["inputs"]["parameters"]
    assert trainer_inputs["train_args"] == {"componentInputParameter": "train_args"}
    assert spec["runtimeConfig"]["parameters"] == {
        "data_root": {"stringValue": DATA_ROOT},
        "train_args": {"stringValue": json.dumps({"num_steps": PipelineConfig().train_steps})},
    }
    # A RuntimeParameter nested inside a proto compiles without error into a JSON constant that no
    # submit can change (see tensorflow/tfx#7733): none may be left in the spec.
    assert "RuntimeParameter" not in spec_file.read_text()


def test_bigquery_source_replaces_the_csv_folders(tmp_path: Path) -> None:
    query = "SELECT * FROM `test-project.taxi.trips` WHERE trip_start_timestamp >= 1451606400"
    spec = _compile(tmp_path / "pipeline.json", bigquery_query=query, data_root="")
    assert _executor_class(spec, ids.EXAMPLE_GEN) == (
        "tfx.extensions.google_cloud_big_query.example_gen.executor.Executor"
    )
    assert query in _constant(spec, ids.EXAMPLE_GEN, "input_config")
    assert "data_root" not in spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert f"--sdk_container_image={IMAGE}" in _container(spec, ids.EXAMPLE_GEN)["args"]


def test_shipped_vertex_profile_names_each_missing_field_and_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as error:
        check_vertex(load_config("vertex", environ={}))
    message = str(error.value)
    assert "config field 'gcp_project' is ''" in message
    assert "TAXI_PIPELINE_GCP_PROJECT" in message
    assert "config field 'image' is ''" in message
    assert "gs://YOUR_BUCKET/taxi-pipeline" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"image": "us-docker.pkg.dev/p/r/taxi-pipeline:latest"}, "'image'.*immutable tag"),
        ({"image": "us-docker.pkg.dev/p/r/taxi-pipeline"}, "'image'.*immutable tag"),
        ({"home": "outputs"}, "'home' is 'outputs'.*gs://"),
        ({"pipeline_name": "Taxi_Pipeline"}, "'pipeline_name'"),
        ({"model_name": "9taxi"}, "'model_name'.*Model Registry"),
        ({"bigquery_query": "SELECT 1", "span": 3}, "'span' is 3"),
    ],
)
def test_vertex_check_rejects_what_vertex_cannot_run(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        check_vertex(_config(**overrides))


def test_cloud_values_are_validated_when_the_config_is_built() -> None:
    with pytest.raises(ConfigError, match="traffic_percentage"):
        _config(traffic_percentage=120)
    with pytest.raises(ConfigError, match="training_accelerator_count"):
        _config(training_accelerator_type="NVIDIA_TESLA_T4", training_accelerator_count=0)
    with pytest.raises(ConfigError, match="push_target"):
        _config(push_target="s3")
    with pytest.raises(ConfigError, match="labels"):
        _config(labels=["Team=ML"])


def test_aiplatform_builds_the_job_with_our_root_account_and_parameters(spec_file: Path) -> None:
    config = _config(labels=["app=taxi-pipeline", "team=ml"])
    job = build_job(config, spec_file, {"train_args": '{"num_steps": 50}'})
    request = vertex.create_request(config, job)
    assert request.parent == f"projects/{PROJECT}/locations/us-central1"
    assert request.pipeline_job_id == job.job_id
    assert job.job_id.startswith("taxi-")
    sent = request.pipeline_job
    assert sent.display_name == "taxi"
    assert sent.service_account == SERVICE_ACCOUNT
    assert sent.runtime_config.gcs_output_directory == f"{HOME}/pipeline_root"
    assert sent.runtime_config.parameters["train_args"].string_value == '{"num_steps": 50}'
    assert sent.runtime_config.parameters["data_root"].string_value == DATA_ROOT
    assert dict(sent.labels) == {"app": "taxi-pipeline", "team": "ml"}
    assert set(sent.pipeline_spec["root"]["dag"]["tasks"]) == TASKS


def test_caching_flag_reaches_every_task_of_the_job(spec_file: Path) -> None:
    job = build_job(_config(enable_cache=False), spec_file)
    tasks = vertex.create_request(_config(), job).pipeline_job.pipeline_spec["root"]["dag"]["tasks"]
    assert {name: task["cachingOptions"]["enableCache"] for name, task in tasks.items()} == dict.fromkeys(tasks, False)


def test_aiplatform_rejects_a_parameter_the_spec_does_not_declare(spec_file: Path) -> None:
    with pytest.raises(RunError, match="window_spans"):
        build_job(_config(), spec_file, {"window_spans": "4"})


@pytest.mark.usefixtures("clean_env")
def test_cli_compile_uses_the_vertex_profile_and_reports_missing_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "pipeline.json"
    assert main(["compile", "--output", str(output), *CLI_FLAGS]) == 0
    assert _executor_class(json.loads(output.read_text()), ids.TRAINER).startswith(
        "tfx.extensions.google_cloud_ai_platform"
    )
    assert main(["compile", "--output", str(tmp_path / "other.json")]) == 2
    assert "gcp_project" in capsys.readouterr().err
    assert not (tmp_path / "other.json").exists()


@pytest.mark.usefixtures("clean_env")
def test_cli_submit_dry_run_prints_the_request_without_credentials(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["submit", "--template", str(spec_file), "--param", "train_args={}", "--dry-run"]
    assert main([*argv, *CLI_FLAGS, "--service-account", SERVICE_ACCOUNT]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["service_account"] == SERVICE_ACCOUNT
    assert request["pipeline_root"] == f"{HOME}/pipeline_root"
    assert request["parameters"] == {"data_root": DATA_ROOT, "train_args": "{}"}
    assert main(["submit", "--template", str(spec_file), "--param", "oops", "--dry-run", *CLI_FLAGS]) == 2


def test_tuning_on_vertex_runs_parallel_trials_as_vertex_jobs(tmp_path: Path) -> None:
    spec = _compile(tmp_path / "pipeline.json", tune=True, tuner_trials=6, tuner_parallel_trials=3)
    assert _executor_class(spec, ids.TUNER) == "tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor"
    assert _constant(spec, ids.TUNER, "tuner_fn") == taxi_pipeline.TUNER_FN
    assert json.loads(_constant(spec, ids.TUNER, "tune_args")) == {"num_parallel_trials": 3}
    custom_config = json.loads(_constant(spec, ids.TUNER, "custom_config"))
    assert custom_config["tuner_trials"] == 6
    assert custom_config["ai_platform_enable_vertex"] is True
    tuning = custom_config["ai_platform_tuning_args"]
    assert tuning["project"] == PROJECT
    assert tuning["job_spec"]["worker_pool_specs"][0]["container_spec"] == {"image_uri": IMAGE}
    assert custom_config["remote_trials_working_dir"] == f"{HOME}/pipeline_root/tuner-trials"
    # The Trainer trains on the search's best values.
    hyperparameters = _tasks(spec)[ids.TRAINER]["inputs"]["artifacts"]["hyperparameters"]
    assert hyperparameters["taskOutputArtifact"] == {
        "producerTask": ids.TUNER,
        "outputArtifactKey": "best_hyperparameters",
    }
