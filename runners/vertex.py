"""Vertex AI Pipelines: `compile` writes the pipeline spec with KubeflowV2DagRunner, `submit` runs or schedules it.

Nothing here reaches Google Cloud until `submit` (without --dry-run) sends its request.
"""

from __future__ import annotations

import posixpath
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
    elif config.bigquery_query:
        # BigQueryExampleGen exports through GCS and bills the query to a project, even on DirectRunner.
        args = [f"--project={config.gcp_project}", f"--temp_location={config.temp_dir}"]
    return args + list(config.beam_args)


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
            labels=config.label_map or None,
            project=config.gcp_project,
            location=config.region,
            credentials=credentials,
        )
    except (ValueError, TypeError) as err:
        raise RunError(f"cannot prepare a Vertex job from {template}: {err}", EXIT_USAGE) from None
    return job


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
