"""`submit` and `--schedule`, offline: the requests are aiplatform's own types, built with anonymous credentials.

A missing bucket stops the submit with the command that creates it, a schedule's dry run shows what
would be created, a bad cron is a usage error, a second `--schedule` updates the first, resolver tasks
are never cached, and network, encryption key and labels reach the requests. Where a test needs a
server's answer, a recording stand-in for the client plays it; what is checked is what we send.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud.aiplatform_v1.types import schedule as gca_schedule
from google.cloud.aiplatform_v1.types import schedule_service

from pipeline.config import ConfigError, PipelineConfig, load_config
from runners import vertex
from runners.cli import main
from runners.commands import vertex as vertex_command
from runners.errors import EXIT_COMPONENT, EXIT_USAGE, RunError
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

NETWORK = "projects/123456789/global/networks/taxi-vpc"
SUBNETWORK = "regions/us-central1/subnetworks/taxi-subnet"
KEY = "projects/test-project/locations/us-central1/keyRings/taxi/cryptoKeys/pipeline"
_config = vertex_config


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vertex-submit") / "pipeline.json"
    compile_spec(_config(), path)
    return path


def _job(spec_file: Path, config: PipelineConfig) -> Any:
    return build_job(config, spec_file)


class _Buckets:
    """A storage client that knows which buckets exist and records every other call (there must be none)."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.asked: list[str] = []

    def bucket(self, name: str) -> Any:
        self.asked.append(name)
        outer = self

        class _Bucket:
            def exists(self) -> bool:
                return name in outer.existing

            def create(self, *args: Any, **kwargs: Any) -> None:  # what aiplatform's submit would call
                raise AssertionError("a bucket was created")

        return _Bucket()


def test_a_missing_bucket_stops_the_submit_naming_the_command_and_nothing_is_sent(
    spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(encryption_key=KEY)
    job = _job(spec_file, config)
    buckets = _Buckets(existing=set())
    sent: list[Any] = []
    monkeypatch.setattr("google.cloud.storage.Client", lambda **kwargs: buckets)
    monkeypatch.setattr(job.api_client, "create_pipeline_job", lambda **kwargs: sent.append(kwargs))

    with pytest.raises(RunError) as raised:
        vertex_command._send(job, config, None, wait=False)

    assert raised.value.exit_code == EXIT_USAGE
    message = str(raised.value)
    assert "gs://test-bucket" in message and "does not exist" in message
    assert (
        "gcloud storage buckets create gs://test-bucket --project=test-project --location=us-central1 "
        f"--uniform-bucket-level-access --default-encryption-key={KEY}"
    ) in message
    assert buckets.asked == ["test-bucket"] and sent == []


def test_an_existing_bucket_lets_the_request_through_and_wait_turns_a_failed_run_into_exit_5(
    spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config()
    job = _job(spec_file, config)
    sent: list[Any] = []

    def create_pipeline_job(request: Any) -> Any:
        sent.append(request)
        return request.pipeline_job

    def failed() -> None:
        raise RuntimeError("Job failed with: trainer exited 1")  # how aiplatform's wait() reports a failed run

    monkeypatch.setattr("google.cloud.storage.Client", lambda **kwargs: _Buckets(existing={"test-bucket"}))
    monkeypatch.setattr(job.api_client, "create_pipeline_job", create_pipeline_job)
    monkeypatch.setattr(job, "wait", failed)

    with pytest.raises(RunError, match="did not succeed: Job failed with: trainer exited 1") as raised:
        vertex_command._send(job, config, None, wait=True)

    assert raised.value.exit_code == EXIT_COMPONENT
    assert [type(r).__name__ for r in sent] == ["CreatePipelineJobRequest"]
    assert sent[0].pipeline_job_id == job.job_id


@pytest.mark.parametrize(
    "cron", ["0 3 * * 1", "*/15 * * * *", "0 0 1,15 * *", "30 2 * jan-mar mon-fri", "TZ=Europe/Paris 0 6 * * *"]
)
def test_crons_vertex_reads_pass(cron: str) -> None:
    assert vertex.check_cron(cron) == cron


@pytest.mark.parametrize(
    "cron",
    [
        "not a cron",
        "0 3 * *",
        "61 * * * *",
        "0 25 * * *",
        "* * * 13 *",
        "5-1 * * * *",
        "*/0 * * * *",
        "TZ=Mars/Olympus 0 3 * * *",
        "0 3 * * 1 2",
    ],
)
def test_a_bad_cron_is_a_usage_error(cron: str) -> None:
    with pytest.raises(RunError, match="expected a cron of five fields") as raised:
        vertex.check_cron(cron)
    assert raised.value.exit_code == EXIT_USAGE


@pytest.mark.usefixtures("clean_env")
def test_cli_a_bad_cron_exits_2_before_anything_is_compiled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No --template: a valid cron would compile first; a bad one stops before that.
    assert main(["submit", "--schedule", "not a cron", "--dry-run", *CLI_FLAGS]) == 2
    assert "'not a cron'" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_cli_dry_run_of_a_schedule_shows_the_schedule_and_each_run(
    spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["submit", "--template", str(spec_file), "--schedule", "0 3 * * 1", "--dry-run", *CLI_FLAGS]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["display_name"] == "taxi-schedule" and shown["cron"] == "0 3 * * 1"
    assert shown["max_concurrent_run_count"] == 1
    assert shown["action"].startswith("create, or update")
    assert shown["each_run"]["pipeline_root"] == f"{HOME}/pipeline_root"
    assert shown["each_run"]["parameters"]["data_root"] == DATA_ROOT
    assert shown["each_run"]["pipeline_job_id"] == ""  # the scheduler names each run


class _Schedules:
    """A ScheduleServiceClient stand-in that keeps schedules in memory and records the requests sent."""

    def __init__(self) -> None:
        self.schedules: dict[str, Any] = {}
        self.requests: list[Any] = []

    def list_schedules(self, request: Any) -> list[Any]:
        self.requests.append(request)
        wanted = request.filter.split('"')[1]
        return [s for s in self.schedules.values() if s.display_name == wanted]

    def create_schedule(self, request: Any) -> Any:
        self.requests.append(request)
        created = gca_schedule.Schedule(request.schedule)
        created.name = f"{request.parent}/schedules/{len(self.schedules) + 1}"
        self.schedules[created.name] = created
        return created

    def update_schedule(self, request: Any) -> Any:
        self.requests.append(request)
        self.schedules[request.schedule.name] = request.schedule
        return request.schedule


def test_a_second_schedule_updates_the_first_instead_of_adding_one(spec_file: Path) -> None:
    config = _config(labels=["app=taxi-pipeline", "env=dev"])
    client = _Schedules()

    first, updated_first = vertex.send_schedule(client, config, _job(spec_file, config), "0 3 * * 1")
    second, updated_second = vertex.send_schedule(client, config, _job(spec_file, config), "0 4 * * *")

    assert (updated_first, updated_second) == (False, True) and first == second
    assert list(client.schedules) == [first]
    kinds = [type(r) for r in client.requests]
    assert kinds == [
        schedule_service.ListSchedulesRequest,
        schedule_service.CreateScheduleRequest,
        schedule_service.ListSchedulesRequest,
        schedule_service.UpdateScheduleRequest,
    ]
    assert client.requests[0].filter == 'display_name="taxi-schedule"'
    update = client.requests[3]
    assert update.schedule.name == first and update.schedule.cron == "0 4 * * *"
    assert set(update.update_mask.paths) == {"cron", "max_concurrent_run_count", "create_pipeline_job_request"}
    assert dict(update.schedule.create_pipeline_job_request.pipeline_job.labels) == {
        "app": "taxi-pipeline",
        "env": "dev",
    }


def test_resolver_tasks_are_never_cached_whatever_the_job_caching(spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text())["pipelineSpec"]
    resolvers = vertex.resolver_tasks(spec)
    assert resolvers and all("resolver" in name for name in resolvers)

    job = _job(spec_file, _config(enable_cache=True))
    for request in (
        vertex.create_request(_config(), job),
        vertex.schedule_request(_config(), job, "0 3 * * 1").schedule.create_pipeline_job_request,
    ):
        tasks = request.pipeline_job.pipeline_spec["root"]["dag"]["tasks"]
        caching = {name: task["cachingOptions"]["enableCache"] for name, task in tasks.items()}
        assert {n for n, on in caching.items() if not on} == set(resolvers)
        assert all(caching[n] for n in tasks if n not in resolvers)


def test_network_key_and_labels_reach_the_run_the_schedule_and_dataflow(spec_file: Path) -> None:
    config = _config(
        network=NETWORK,
        dataflow_subnetwork=SUBNETWORK,
        dataflow_public_ips=False,
        encryption_key=KEY,
        labels=["app=taxi-pipeline", "env=prod"],
    )
    job = _job(spec_file, config)
    run = vertex.create_request(config, job).pipeline_job
    scheduled = vertex.schedule_request(config, job, "0 3 * * 1").schedule.create_pipeline_job_request.pipeline_job
    for pipeline_job in (run, scheduled):
        assert pipeline_job.network == NETWORK
        assert pipeline_job.encryption_spec.kms_key_name == KEY
        assert dict(pipeline_job.labels) == {"app": "taxi-pipeline", "env": "prod"}

    dataflow = vertex.beam_args(config)
    assert {f"--subnetwork={SUBNETWORK}", "--no_use_public_ips", f"--dataflow_kms_key={KEY}"} <= set(dataflow)
    assert vertex.beam_args(_config(network=NETWORK))[-1] == "--network=taxi-vpc"  # Dataflow takes the bare name


@pytest.mark.parametrize(
    ("field", "value"),
    [("network", "taxi-vpc"), ("dataflow_subnetwork", "taxi-subnet"), ("encryption_key", "my-key")],
)
def test_network_and_key_fields_must_be_full_resource_names(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=field):
        _config(**{field: value})


def test_network_key_and_labels_reach_the_training_custom_job() -> None:
    # TFX's own Vertex client turns the Trainer's custom_config into the CustomJob it sends; the result
    # must be an aiplatform CustomJob carrying our network, key and labels.
    from google.cloud.aiplatform_v1.types import custom_job as gca_custom_job
    from tfx.extensions.google_cloud_ai_platform import training_clients
    from tfx.v1.extensions import google_cloud_ai_platform as tfx_vertex

    from runners.pipeline_args import vertex_training_of

    config = _config(network=NETWORK, encryption_key=KEY, labels=["app=taxi-pipeline", "env=prod"])
    training = vertex_training_of(config)
    assert training is not None
    job_args = dict(training.trainer_custom_config()[tfx_vertex.TRAINING_ARGS_KEY])
    assert job_args.pop("project") == PROJECT  # TFX's runner pops it the same way
    # Without __init__: it builds a gapic client, which looks for credentials on the metadata server.
    client = object.__new__(training_clients.VertexJobClient)
    client._region = "us-central1"
    built = client.create_training_job(
        {}, {}, {}, "tfx.components.trainer.executor.GenericExecutor", job_args, None, None
    )
    job = gca_custom_job.CustomJob(**built)
    assert job.job_spec.network == NETWORK
    assert job.encryption_spec.kms_key_name == KEY
    assert {"app": "taxi-pipeline", "env": "prod"}.items() <= dict(job.labels).items()
    assert job.job_spec.worker_pool_specs[0].container_spec.image_uri == IMAGE


def test_key_and_labels_reach_the_model_upload_and_the_endpoint() -> None:
    # Through the pusher's custom_config as the compiled spec carries it (JSON), into aiplatform's calls;
    # a recording stand-in for aiplatform answers (the upload itself needs a project).
    from google.api_core import exceptions

    from pipeline.cloud import VertexServing
    from pipeline.vertex_pusher import push_to_registry
    from runners.pipeline_args import vertex_serving_of

    config = _config(endpoint_name="taxi-endpoint", encryption_key=KEY, labels=["app=taxi-pipeline", "env=prod"])
    serving = vertex_serving_of(config)
    assert serving is not None
    settings = VertexServing.from_custom_config(json.loads(json.dumps(serving.to_custom_config())))
    calls: dict[str, dict[str, Any]] = {}

    class Version:
        version_id = "1"
        versioned_resource_name = "projects/p/locations/l/models/taxi_big_tipper@1"

        def deploy(self, **kwargs: Any) -> None:
            calls["deploy"] = kwargs

    class Endpoint:
        resource_name = "projects/p/locations/l/endpoints/1"

        def __init__(self, name: str = "") -> None:
            self.traffic_split: dict[str, int] = {}

        @staticmethod
        def list(**kwargs: Any) -> list[Any]:
            return []

        @staticmethod
        def create(**kwargs: Any) -> Endpoint:
            calls["endpoint"] = kwargs
            return Endpoint()

    class Model:
        def __init__(self, model_name: str) -> None:
            raise exceptions.NotFound(model_name)

        @staticmethod
        def upload(**kwargs: Any) -> Version:
            calls["upload"] = kwargs
            return Version()

    class Aiplatform:
        def init(self, **kwargs: Any) -> None:
            pass

    fake = Aiplatform()
    fake.Model, fake.Endpoint = Model, Endpoint  # type: ignore[attr-defined]
    push_to_registry("gs://test-bucket/push/1", settings, fake)

    for call in ("upload", "endpoint"):
        assert calls[call]["encryption_spec_key_name"] == KEY
        assert calls[call]["labels"] == {"app": "taxi-pipeline", "env": "prod"}


def test_google_cloud_project_names_the_project_when_nothing_else_does() -> None:
    assert load_config("vertex", environ={"GOOGLE_CLOUD_PROJECT": "from-google"}).gcp_project == "from-google"
    both = {"GOOGLE_CLOUD_PROJECT": "from-google", "TAXI_PIPELINE_GCP_PROJECT": "ours"}
    assert load_config("vertex", environ=both).gcp_project == "ours"
    assert load_config("vertex", overrides={"gcp_project": "flag"}, environ=both).gcp_project == "flag"


def test_resolver_queries_are_scoped_to_this_pipeline(spec_file: Path) -> None:
    compiled = json.loads(spec_file.read_text())["pipelineSpec"]["deploymentSpec"]["executors"]
    before = [
        q["filter"] for e in compiled.values() for q in e.get("resolver", {}).get("outputArtifactQueries", {}).values()
    ]
    assert before and not any("in_context" in f for f in before)  # TFX queries the whole metadata store

    config = _config()
    sent = vertex.create_request(config, _job(spec_file, config)).pipeline_job.pipeline_spec["deploymentSpec"]
    after = [
        q["filter"]
        for e in sent["executors"].values()
        for q in e.get("resolver", {}).get("outputArtifactQueries", {}).values()
    ]
    context = "projects/test-project/locations/us-central1/metadataStores/default/contexts/taxi"
    assert sorted(after) == sorted(f'{f} AND in_context("{context}")' for f in before)
