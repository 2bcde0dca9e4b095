"""Vertex AI Pipelines: `compile` writes the pipeline spec with KubeflowV2DagRunner, `submit` runs or schedules it.

Nothing here reaches Google Cloud until `submit` (without --dry-run) sends its request.
"""

from __future__ import annotations

import posixpath
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.config import PipelineConfig, check_vertex
from runners.errors import EXIT_USAGE, RunError
from runners.home.fastpath import code_fingerprint
from runners.pipeline_args import common_arguments, vertex_serving_of, vertex_training_of

CONSOLE = "https://console.cloud.google.com/vertex-ai"


def beam_args(config: PipelineConfig) -> list[str]:
    """Returns the Beam options of the data components: Dataflow's when `dataflow` is on.

    Args:
        config: the run's configuration; its own beam_args come last, so they can override.

    Returns:
        Beam command-line options.
    """
    args: list[str] = []
    if config.dataflow:
        args = [
            "--runner=DataflowRunner",
            f"--project={config.gcp_project}",
            f"--region={config.region}",
            f"--temp_location={config.temp_dir}",
            f"--machine_type={config.dataflow_machine_type}",
            f"--max_num_workers={config.dataflow_max_workers}",
            # Workers run the pipeline image: the Python, Beam, TFX and model code of the step itself,
            # so nothing is pickled across versions and no wheel has to be staged.
            f"--sdk_container_image={config.image}",
            "--sdk_location=container",
            "--experiments=use_runner_v2",
        ]
        if config.service_account:
            args.append(f"--service_account_email={config.service_account}")
        args += _dataflow_network_and_key(config)
    elif config.bigquery_query:
        # BigQueryExampleGen exports through GCS and bills the query to a project, even on DirectRunner.
        args = [f"--project={config.gcp_project}", f"--temp_location={config.temp_dir}"]
    return args + list(config.beam_args)


def _dataflow_network_and_key(config: PipelineConfig) -> list[str]:
    """Dataflow's options for the configured VPC, private worker IPs and encryption key."""
    args = []
    if config.dataflow_subnetwork:
        args.append(f"--subnetwork={config.dataflow_subnetwork}")
    elif config.network:
        args.append(f"--network={config.network.rsplit('/', 1)[-1]}")  # Dataflow takes the bare name
    if not config.dataflow_public_ips:
        args.append("--no_use_public_ips")
    if config.encryption_key:
        args.append(f"--dataflow_kms_key={config.encryption_key}")
    return args


def build_pipeline(config: PipelineConfig) -> Any:
    """Builds the pipeline object for Vertex from the configuration.

    KubeflowV2DagRunner compiles only TFX's own latest-artifact and latest-blessed-model resolvers, so
    the training window and the drift baseline come from the record of accepted spans the data gate
    keeps under the pipeline root (pipeline.span_record) instead of ML Metadata: the same spans, by the
    same rule, as a local run.

    Args:
        config: a configuration that passed check_vertex.

    Returns:
        A tfx Pipeline.
    """
    from pipeline import pipeline as taxi_pipeline

    return taxi_pipeline.create_pipeline(
        **common_arguments(config, code_fingerprint()),
        # gs:// paths as they are: the Vertex steps read and write them.
        pipeline_root=config.pipeline_root,
        data_root=config.data_root,
        schema_path=config.schema_path,
        serving_dir=config.serving_dir,
        span=config.span,
        window_spans=config.window_spans,
        # Vertex AI keeps its own ML Metadata.
        metadata_connection_config=None,
        beam_pipeline_args=beam_args(config),
        bigquery_query=config.bigquery_query,
        spans_from_record=True,
        runtime_parameters=True,
        vertex_training=vertex_training_of(config),
        vertex_serving=vertex_serving_of(config),
    )


def parameter_defaults(pipeline_obj: Any) -> dict[str, Any]:
    """Returns name -> default of every runtime parameter in the pipeline's components."""
    from tfx.orchestration import data_types

    return {
        value.name: value.default
        for component in pipeline_obj.components
        for value in component.exec_properties.values()
        if isinstance(value, data_types.RuntimeParameter)
    }


def compile_pipeline(config: PipelineConfig, output: str) -> dict[str, Any]:
    """Compiles the pipeline into a Vertex AI PipelineJob spec file.

    Args:
        config: the run's configuration; checked with check_vertex first.
        output: the .json file to write (a local path or gs:// URI).

    Returns:
        The spec as written: a PipelineJob with pipelineSpec and runtimeConfig (parameter defaults).

    Raises:
        ConfigError: the configuration cannot run on Vertex.
        RunError: the output is not a .json file.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    check_vertex(config)
    if not output.endswith(".json"):
        # TFX writes YAML as the bare PipelineSpec, which drops the parameter defaults.
        raise RunError(f"--output {output}: expected a .json file", EXIT_USAGE)
    pipeline_obj = build_pipeline(config)
    folder, name = posixpath.split(output)
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=config.image), output_dir=folder or ".", output_filename=name
    )
    spec: dict[str, Any] = runner.run(pipeline_obj, parameter_values=parameter_defaults(pipeline_obj))
    return spec


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """Parses repeated NAME=VALUE options.

    Raises:
        RunError: an item has no '=' or no name.
    """
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RunError(f"--param {item!r}: expected NAME=VALUE, e.g. data_root=gs://bucket/taxi-data", EXIT_USAGE)
        values[name.strip()] = value
    return values


def build_job(
    config: PipelineConfig, template: str, parameter_values: Mapping[str, Any], credentials: Any = None
) -> Any:
    """Builds the Vertex PipelineJob for a compiled spec, without sending anything.

    Args:
        config: the run's configuration (project, region, pipeline root, service account, labels, cache).
        template: the compiled spec, a local path or gs:// URI.
        parameter_values: pipeline parameters overriding the compiled defaults.
        credentials: Google credentials; None uses Application Default Credentials.

    Returns:
        A google.cloud.aiplatform.PipelineJob; create_request shows what submitting it sends.

    Raises:
        RunError: aiplatform rejects the spec or the parameters (e.g. a parameter the spec lacks).
    """
    from google.cloud import aiplatform

    try:
        job = aiplatform.PipelineJob(
            display_name=config.pipeline_name,
            template_path=template,
            pipeline_root=config.pipeline_root,
            parameter_values=dict(parameter_values),
            enable_caching=config.enable_cache,
            encryption_spec_key_name=config.encryption_key or None,
            labels=config.label_map or None,
            project=config.gcp_project,
            location=config.region,
            credentials=credentials,
        )
    except (ValueError, TypeError) as err:
        raise RunError(f"cannot prepare a Vertex job from {template}: {err}", EXIT_USAGE) from None
    _never_cache_resolvers(job, config)
    return job


def resolver_tasks(pipeline_spec: Mapping[str, Any]) -> list[str]:
    """The root tasks whose executor is a resolver (a metadata query, not a container)."""
    executors = pipeline_spec.get("deploymentSpec", {}).get("executors", {})
    components = pipeline_spec.get("components", {})
    found = []
    for name, task in pipeline_spec["root"]["dag"]["tasks"].items():
        label = components.get(task.get("componentRef", {}).get("name", ""), {}).get("executorLabel", "")
        if "resolver" in executors.get(label, {}):
            found.append(name)
    return sorted(found)


def pipeline_context(config: PipelineConfig) -> str:
    """The ML Metadata context Vertex AI Pipelines files every run of this pipeline under."""
    return (
        f"projects/{config.gcp_project}/locations/{config.region}/metadataStores/default/contexts/"
        f"{config.pipeline_name}"
    )


def _never_cache_resolvers(job: Any, config: PipelineConfig) -> None:
    """Turns caching off on the resolver tasks, and scopes their metadata queries to this pipeline.

    aiplatform stamps every task with the job's caching choice; a cached resolver would hand a later run
    the baseline an earlier run found (TFX compiles them uncached). TFX's latest-blessed-model query
    looks at the whole metadata store, so another pipeline's blessed model could become the baseline;
    `in_context` limits it to this pipeline's runs.
    """
    from google.protobuf import json_format

    spec = json_format.MessageToDict(job._gca_resource._pb.pipeline_spec)
    for name in resolver_tasks(spec):
        spec["root"]["dag"]["tasks"][name]["cachingOptions"] = {"enableCache": False}
    scope = f' AND in_context("{pipeline_context(config)}")'
    for executor in spec.get("deploymentSpec", {}).get("executors", {}).values():
        for query in executor.get("resolver", {}).get("outputArtifactQueries", {}).values():
            if "in_context(" not in query.get("filter", ""):
                query["filter"] = query.get("filter", "") + scope
    job._gca_resource.pipeline_spec = spec


def create_request(config: PipelineConfig, job: Any) -> Any:
    """Returns the CreatePipelineJobRequest that `job.submit(service_account=...)` sends, without sending it.

    Args:
        config: the run's configuration (project, region, service account).
        job: a PipelineJob from build_job.

    Returns:
        A google.cloud.aiplatform CreatePipelineJobRequest.
    """
    from google.cloud.aiplatform_v1.types import pipeline_service

    # Until the job exists, aiplatform keeps the resource it will send in _gca_resource (the public
    # gca_resource refuses to answer); submit() sets the service account on it the same way.
    pipeline_job = type(job._gca_resource)(job._gca_resource)
    if config.service_account:
        pipeline_job.service_account = config.service_account
    if config.network:
        pipeline_job.network = config.network
    return pipeline_service.CreatePipelineJobRequest(
        parent=f"projects/{config.gcp_project}/locations/{config.region}",
        pipeline_job=pipeline_job,
        pipeline_job_id=job.job_id,
    )


def run_link(config: PipelineConfig, job_id: str) -> str:
    """The Cloud console page of one pipeline run."""
    return f"{CONSOLE}/locations/{config.region}/pipelines/runs/{job_id}?project={config.gcp_project}"


def request_summary(request: Any) -> dict[str, Any]:
    job = request.pipeline_job
    runtime = type(job.runtime_config).to_dict(job.runtime_config)
    return {
        "parent": request.parent,
        "pipeline_job_id": request.pipeline_job_id,
        "display_name": job.display_name,
        "service_account": job.service_account,
        "labels": dict(job.labels),
        "pipeline_root": runtime.get("gcs_output_directory"),
        "parameters": {k: v.get("string_value", v) for k, v in runtime.get("parameters", {}).items()},
        "tasks": sorted(job.pipeline_spec["root"]["dag"]["tasks"]),
    }


# What a cron field may hold: minute, hour, day of month, month, day of week (0 and 7 are Sunday).
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()  # noqa: SIM905 - reads as written
_CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i for i, m in enumerate(_MONTHS, start=1)},
    {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},  # noqa: SIM905
)
_CRON_PART = re.compile(r"(?:\*|(\w+)(?:-(\w+))?)(?:/(\d+))?")


def _cron_part_ok(part: str, low: int, high: int, names: Mapping[str, int]) -> bool:
    """One comma-separated part of a cron field: *, N, N-M, or either with /STEP."""
    match = _CRON_PART.fullmatch(part)
    if match is None or match.group(3) == "0":
        return False
    values = []
    for given in (v for v in match.groups()[:2] if v is not None):
        if given in names:
            values.append(names[given])
        elif given.isdigit():
            values.append(int(given))
        else:
            return False
    return all(low <= v <= high for v in values) and values == sorted(values)


def check_cron(cron: str) -> str:
    """Returns `cron` if it is one Vertex AI's scheduler reads: five fields, optionally after TZ= or CRON_TZ=.

    Raises:
        RunError (usage): naming what is wrong and giving an example.
    """
    words = cron.split()
    problem = ""
    if words and re.fullmatch(r"(CRON_)?TZ=\S+", words[0]):
        zone = words.pop(0).split("=", 1)[1]
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problem = f"{zone!r} is not an IANA time zone"
    if not problem and len(words) != 5:
        problem = f"{len(words)} fields"
    if not problem:
        for word, (low, high), names in zip(words, _CRON_RANGES, _CRON_NAMES, strict=True):
            if not all(_cron_part_ok(part, low, high, names) for part in word.lower().split(",")):
                problem = f"field {word!r} is not a value, range, list or step within {low}-{high}"
                break
    if problem:
        raise RunError(
            f"--schedule {cron!r}: {problem}; expected a cron of five fields, minute hour day-of-month month "
            "day-of-week, e.g. '0 3 * * 1' (Mondays 03:00 UTC), optionally after TZ=Area/City",
            EXIT_USAGE,
        )
    return cron


def schedule_display_name(config: PipelineConfig) -> str:
    """The one schedule of this pipeline: `--schedule` updates the schedule of this name, or creates it."""
    return f"{config.pipeline_name}-schedule"


def schedule_request(config: PipelineConfig, job: Any, cron: str, existing: str | None = None) -> Any:
    """The request that creates this pipeline's schedule, or updates `existing` (a schedule's resource name).

    An update replaces the cron and the pipeline job each scheduled run creates (its spec, parameters,
    account, network, labels and key), so the schedule runs what was submitted last.

    Returns:
        A google.cloud.aiplatform CreateScheduleRequest or UpdateScheduleRequest.
    """
    from google.cloud.aiplatform_v1.types import pipeline_service, schedule_service
    from google.cloud.aiplatform_v1.types import schedule as gca_schedule
    from google.protobuf import field_mask_pb2

    one_run = create_request(config, job)
    schedule = gca_schedule.Schedule(
        display_name=schedule_display_name(config),
        cron=check_cron(cron),
        # Runs of one pipeline share its home; two at once would race for the same outputs.
        max_concurrent_run_count=1,
        # The scheduler names each run itself, so no pipeline_job_id.
        create_pipeline_job_request=pipeline_service.CreatePipelineJobRequest(
            parent=one_run.parent, pipeline_job=one_run.pipeline_job
        ),
    )
    if existing:
        schedule.name = existing
        return schedule_service.UpdateScheduleRequest(
            schedule=schedule,
            update_mask=field_mask_pb2.FieldMask(
                paths=["cron", "max_concurrent_run_count", "create_pipeline_job_request"]
            ),
        )
    return schedule_service.CreateScheduleRequest(parent=one_run.parent, schedule=schedule)


def schedule_summary(request: Any) -> dict[str, Any]:
    """What a schedule request would create or change, for --dry-run."""
    schedule = request.schedule
    inner = schedule.create_pipeline_job_request
    return {
        "action": "update" if schedule.name else "create, or update the schedule of this name if there is one",
        "schedule": schedule.name or None,
        "display_name": schedule.display_name,
        "cron": schedule.cron,
        "max_concurrent_run_count": schedule.max_concurrent_run_count,
        "update_mask": list(request.update_mask.paths) if schedule.name else None,
        "each_run": request_summary(inner),
    }


def send_schedule(client: Any, config: PipelineConfig, job: Any, cron: str) -> tuple[str, bool]:
    """Creates this pipeline's schedule, or updates the one of the same display name.

    Args:
        client: an aiplatform_v1 ScheduleServiceClient for the config's region.

    Returns:
        (the schedule's resource name, whether an existing one was updated).
    """
    from google.cloud.aiplatform_v1.types import schedule_service

    parent = f"projects/{config.gcp_project}/locations/{config.region}"
    listed = client.list_schedules(
        request=schedule_service.ListSchedulesRequest(
            parent=parent, filter=f'display_name="{schedule_display_name(config)}"'
        )
    )
    existing = sorted(s.name for s in listed)
    request = schedule_request(config, job, cron, existing[0] if existing else None)
    if existing:
        client.update_schedule(request=request)
        return existing[0], True
    created = client.create_schedule(request=request)
    return str(created.name), False


def schedule_client(config: PipelineConfig, credentials: Any = None) -> Any:
    """The regional ScheduleServiceClient (nothing is sent until a method is called)."""
    from google.cloud import aiplatform_v1

    return aiplatform_v1.ScheduleServiceClient(
        credentials=credentials, client_options={"api_endpoint": f"{config.region}-aiplatform.googleapis.com"}
    )


def check_bucket(config: PipelineConfig, storage_client: Any) -> None:
    """Fails unless the bucket of the pipeline root exists; never creates it (aiplatform's submit would).

    Raises:
        RunError (usage): naming the bucket and the command that creates it.
    """
    bucket = config.pipeline_root.removeprefix("gs://").split("/", 1)[0]
    if storage_client.bucket(bucket).exists():
        return
    key = f" --default-encryption-key={config.encryption_key}" if config.encryption_key else ""
    raise RunError(
        f"bucket gs://{bucket} (of home {config.home}) does not exist; nothing was created or submitted. "
        f"Create it with: gcloud storage buckets create gs://{bucket} --project={config.gcp_project} "
        f"--location={config.region} --uniform-bucket-level-access{key}",
        EXIT_USAGE,
    )
